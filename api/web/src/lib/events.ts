// A session's events folded for people: the agent's text, each tool call
// with its result folded in, the user's messages, status changes, and the
// run's result with cost and usage. Events are the Claude Code CLI's
// stream-json lines, the runner's own ({"type":"runner"}) and the live
// service's ({"type":"status"}, {"type":"user_message"}).
import type { LiveEvent } from './live';

export type Item =
  | { kind: 'text'; seq: number; text: string }
  | { kind: 'thinking'; seq: number; text: string }
  | {
      kind: 'tool';
      seq: number;
      id: string;
      name: string;
      input: string;
      result?: string;
      isError?: boolean;
    }
  | { kind: 'user'; seq: number; text: string; user?: string }
  | { kind: 'status'; seq: number; phase: string; message?: string }
  | { kind: 'result'; seq: number; text: string; isError: boolean; costUSD?: number; turns?: number }
  | { kind: 'note'; seq: number; text: string };

export interface Totals {
  costUSD?: number;
  inputTokens: number;
  outputTokens: number;
  turns?: number;
}

const MAX_SHOWN = 4000; // characters of one tool input or result kept for display

function clip(s: string): string {
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}… [${s.length - MAX_SHOWN} more characters]` : s;
}

function asText(x: unknown): string {
  if (typeof x === 'string') return x;
  if (Array.isArray(x))
    return x
      .map((p) => (typeof p?.text === 'string' ? p.text : JSON.stringify(p)))
      .join('\n');
  return x === undefined ? '' : JSON.stringify(x, null, 2);
}

type Block = { type?: string; text?: string; thinking?: string; id?: string; name?: string; input?: unknown; tool_use_id?: string; content?: unknown; is_error?: boolean };

/** Folds events in order; append() is incremental, so 10,000 events cost
 * one pass. */
export class EventFold {
  readonly items: Item[] = [];
  readonly totals: Totals = { inputTokens: 0, outputTokens: 0 };
  statusSeq = 0; // seq of the last status change seen
  private tools = new Map<string, number>(); // tool_use id -> index in items

  append(events: LiveEvent[]): void {
    for (const ev of events) this.one(ev);
  }

  private one(ev: LiveEvent): void {
    const seq = ev.seq ?? 0;
    const message = ev.message as { content?: Block[] | string; usage?: Record<string, number> } | undefined;
    switch (ev.type) {
      case 'assistant': {
        const blocks = Array.isArray(message?.content) ? message.content : [];
        for (const b of blocks) {
          if (b.type === 'text' && b.text) this.items.push({ kind: 'text', seq, text: b.text });
          else if (b.type === 'thinking' && b.thinking)
            this.items.push({ kind: 'thinking', seq, text: b.thinking });
          else if (b.type === 'tool_use') {
            this.tools.set(String(b.id), this.items.length);
            this.items.push({
              kind: 'tool',
              seq,
              id: String(b.id),
              name: String(b.name ?? 'tool'),
              input: clip(asText(b.input)),
            });
          }
        }
        const u = message?.usage;
        if (u) {
          this.totals.inputTokens += u.input_tokens ?? 0;
          this.totals.outputTokens += u.output_tokens ?? 0;
        }
        return;
      }
      case 'user': {
        const blocks = Array.isArray(message?.content) ? message.content : [];
        for (const b of blocks) {
          if (b.type !== 'tool_result') continue;
          const at = this.tools.get(String(b.tool_use_id));
          const item = at === undefined ? undefined : this.items[at];
          if (item?.kind === 'tool') {
            // A new object, so a memoised row re-renders.
            this.items[at!] = { ...item, result: clip(asText(b.content)), isError: !!b.is_error };
          }
        }
        return;
      }
      case 'user_message':
        this.items.push({ kind: 'user', seq, text: String(ev.content ?? ''), user: ev.user as string });
        return;
      case 'status': {
        this.statusSeq = seq;
        const st = ev.status as { message?: string; error?: string } | undefined;
        this.items.push({
          kind: 'status',
          seq,
          phase: String(ev.phase ?? 'unknown'),
          message: st?.error || st?.message,
        });
        return;
      }
      case 'result': {
        const cost = typeof ev.total_cost_usd === 'number' ? ev.total_cost_usd : undefined;
        if (cost !== undefined) this.totals.costUSD = cost;
        if (typeof ev.num_turns === 'number') this.totals.turns = ev.num_turns;
        const u = ev.usage as Record<string, number> | undefined;
        if (u) {
          this.totals.inputTokens = u.input_tokens ?? this.totals.inputTokens;
          this.totals.outputTokens = u.output_tokens ?? this.totals.outputTokens;
        }
        this.items.push({
          kind: 'result',
          seq,
          text: String(ev.result ?? ev.subtype ?? ''),
          isError: !!ev.is_error,
          costUSD: cost,
          turns: this.totals.turns,
        });
        return;
      }
      case 'system':
        if (ev.subtype === 'init')
          this.items.push({ kind: 'note', seq, text: `agent started${ev.model ? ` (${ev.model})` : ''}` });
        return;
      case 'runner':
        this.items.push({ kind: 'note', seq, text: runnerNote(ev) });
        return;
      default:
        this.items.push({ kind: 'note', seq, text: `${ev.type ?? 'event'}` });
    }
  }
}

function runnerNote(ev: LiveEvent): string {
  switch (ev.subtype) {
    case 'started':
      return 'runner started';
    case 'clone':
      return `cloned repository ${ev.repoIndex ?? ''} into ${ev.dir ?? ''}`.trim();
    case 'finished':
      return `runner finished: ${ev.phase ?? ''}${ev.error ? ` — ${ev.error}` : ''}`;
    case 'events_dropped':
      return `${ev.count ?? 'some'} events were dropped`;
    case 'repo':
      return 'repository delivered';
    default:
      return `runner: ${String(ev.subtype ?? 'event')}`;
  }
}
