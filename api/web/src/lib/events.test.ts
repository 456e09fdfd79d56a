import { EventFold } from './events';

describe('EventFold', () => {
  it('folds a tool result into its call and keeps the order', () => {
    const f = new EventFold();
    f.append([
      { seq: 1, type: 'system', subtype: 'init', model: 'm' },
      { seq: 2, type: 'assistant', message: { content: [{ type: 'text', text: 'hello' }, { type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] } },
      { seq: 3, type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'a.c' }], is_error: true }] } },
      { seq: 4, type: 'user_message', content: 'more', user: 'alice' },
    ]);
    expect(f.items.map((i) => i.kind)).toEqual(['note', 'text', 'tool', 'user']);
    const tool = f.items[2];
    expect(tool.kind === 'tool' && [tool.name, tool.result, tool.isError]).toEqual(['Bash', 'a.c', true]);
  });

  it('takes cost and usage from the result, status changes as items', () => {
    const f = new EventFold();
    f.append([
      { seq: 1, type: 'assistant', message: { content: [], usage: { input_tokens: 5, output_tokens: 2 } } },
      { seq: 2, type: 'status', phase: 'Failed', status: { error: 'Timeout' } },
      { seq: 3, type: 'result', is_error: false, result: 'done', total_cost_usd: 0.5, num_turns: 4, usage: { input_tokens: 50, output_tokens: 20 } },
    ]);
    expect(f.totals).toEqual({ inputTokens: 50, outputTokens: 20, costUSD: 0.5, turns: 4 });
    expect(f.items[0]).toMatchObject({ kind: 'status', phase: 'Failed', message: 'Timeout' });
    expect(f.statusSeq).toBe(2);
  });

  it('folds 10,000 events in one pass quickly', () => {
    const f = new EventFold();
    const events = Array.from({ length: 10000 }, (_, i) => ({ seq: i + 1, type: 'assistant', message: { content: [{ type: 'text', text: `e${i}` }] } }));
    const t = performance.now();
    f.append(events);
    expect(f.items).toHaveLength(10000);
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('clips huge tool output', () => {
    const f = new EventFold();
    f.append([{ seq: 1, type: 'assistant', message: { content: [{ type: 'tool_use', id: 'x', name: 'Read', input: 'y'.repeat(10000) }] } }]);
    const tool = f.items[0];
    expect(tool.kind === 'tool' && tool.input.length).toBeLessThan(4100);
  });
});
