import type { RfeStep } from './types';

/** Steps in columns: a step's column is one past the deepest of the steps
 * it depends on. Unknown dependencies are ignored; a cycle (the api refuses
 * them) puts its steps in the last column rather than looping. */
export function layers(steps: RfeStep[]): RfeStep[][] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  function d(name: string): number {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return steps.length;
    visiting.add(name);
    const deps = (byName.get(name)?.dependsOn ?? []).filter((x) => byName.has(x));
    const v = deps.length ? Math.min(steps.length, Math.max(...deps.map(d)) + 1) : 0;
    visiting.delete(name);
    depth.set(name, v);
    return v;
  }
  const cols: RfeStep[][] = [];
  for (const s of steps) (cols[d(s.name)] ??= []).push(s);
  return cols.filter(Boolean);
}
