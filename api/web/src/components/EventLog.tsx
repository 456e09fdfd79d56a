import { memo, useLayoutEffect, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { Item } from '@/lib/events';
import { formatCost } from '@/lib/format';
import { cn } from '@/lib/cn';
import { PhaseBadge } from './PhaseBadge';

const Row = memo(function Row({ item }: { item: Item }) {
  switch (item.kind) {
    case 'text':
      return <p className="whitespace-pre-wrap break-words text-sm">{item.text}</p>;
    case 'thinking':
      return <p className="whitespace-pre-wrap break-words text-sm italic text-muted-foreground">{item.text}</p>;
    case 'user':
      return (
        <div className="rounded-md bg-blue-50 p-2 text-sm">
          <span className="text-xs font-semibold text-blue-900">{item.user ?? 'you'}</span>
          <p className="whitespace-pre-wrap break-words">{item.text}</p>
        </div>
      );
    case 'tool':
      return (
        <details className={cn('rounded-md border p-2 text-sm', item.isError ? 'border-red-300' : 'border-border')}>
          <summary className="cursor-pointer">
            <span className="font-mono font-semibold">{item.name}</span>{' '}
            <span className="text-xs text-muted-foreground">
              {item.result === undefined ? 'running…' : item.isError ? 'failed' : 'done'}
            </span>
          </summary>
          <pre className="mt-2 max-h-64 overflow-auto whitespace-pre-wrap break-words rounded bg-muted p-2 text-xs">{item.input}</pre>
          {item.result !== undefined && (
            <pre className="mt-2 max-h-64 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-900 p-2 text-xs text-slate-100">
              {item.result || '(no output)'}
            </pre>
          )}
        </details>
      );
    case 'status':
      return (
        <p className="flex flex-wrap items-center gap-2 text-xs text-muted-foreground">
          status <PhaseBadge phase={item.phase} /> {item.message}
        </p>
      );
    case 'result':
      return (
        <div className={cn('rounded-md border p-2 text-sm', item.isError ? 'border-red-300 bg-red-50' : 'border-green-300 bg-green-50')}>
          <p className="text-xs font-semibold">
            {item.isError ? 'Run failed' : 'Run finished'}
            {item.costUSD !== undefined && ` · ${formatCost(item.costUSD)}`}
            {item.turns !== undefined && ` · ${item.turns} turns`}
          </p>
          <p className="whitespace-pre-wrap break-words">{item.text}</p>
        </div>
      );
    default:
      return <p className="text-xs text-muted-foreground">{item.text}</p>;
  }
});

/** The event log, virtualised: only the rows in view are in the DOM, so
 * 10,000 events render as fast as 20. It follows the end while the user is
 * there, and stays put when they scroll up. */
export function EventLog({ items, count }: { items: Item[]; count: number }) {
  const parent = useRef<HTMLDivElement>(null);
  const atEnd = useRef(true);
  // Follows the end while the user is there: after new rows, and after rows
  // in view were measured taller than estimated.
  const follow = () => {
    const el = parent.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  };
  const v = useVirtualizer({
    count: items.length,
    getScrollElement: () => parent.current,
    estimateSize: () => 40,
    overscan: 8,
    getItemKey: (i) => `${items[i].seq}-${i}`,
    onChange: (instance) => {
      if (!instance.isScrolling) follow();
    },
  });

  useLayoutEffect(follow, [count, items.length]);

  return (
    <div
      ref={parent}
      onScroll={(e) => {
        const el = e.currentTarget;
        atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
      className="h-[60vh] overflow-auto rounded-lg border border-border bg-white"
      role="log"
      aria-label="Session events"
      aria-live="polite"
      tabIndex={0}
      data-events={count}
      data-items={items.length}
    >
      <div className="relative w-full" style={{ height: v.getTotalSize() }}>
        {v.getVirtualItems().map((row) => (
          <div
            key={row.key}
            data-index={row.index}
            ref={v.measureElement}
            className="absolute left-0 top-0 w-full px-3 py-1.5"
            style={{ transform: `translateY(${row.start}px)` }}
          >
            <Row item={items[row.index]} />
          </div>
        ))}
      </div>
    </div>
  );
}
