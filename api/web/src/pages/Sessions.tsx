import { useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, enc } from '@/lib/api';
import { formatAge, formatDate } from '@/lib/format';
import { sessionsPath, useAccess } from '@/lib/queries';
import type { List, Session } from '@/lib/types';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { PhaseBadge } from '@/components/PhaseBadge';
import { Empty, ErrorView, Loading } from '@/components/States';
import { Pager } from '@/components/Pager';
import { useProjectName } from './ProjectLayout';

const PAGE = 25;

export function sessionTitle(s: Session): string {
  return s.spec.displayName || s.metadata.name;
}

/** Matches a session by name, display name, prompt or model. */
export function matches(s: Session, q: string): boolean {
  const needle = q.toLowerCase();
  return [s.metadata.name, s.spec.displayName, s.spec.prompt, s.spec.model].some((v) =>
    v?.toLowerCase().includes(needle),
  );
}

export function Sessions() {
  const project = useProjectName();
  const access = useAccess(project);
  const [search, setSearch] = useState('');
  // Kubernetes pages with continue tokens: keep the ones that led here.
  const [tokens, setTokens] = useState<string[]>(['']);
  const cont = tokens[tokens.length - 1];
  const list = useQuery({
    queryKey: ['sessions', project, cont],
    queryFn: () =>
      api.get<List<Session>>(`${sessionsPath(project)}?limit=${PAGE}${cont ? `&continue=${enc(cont)}` : ''}`),
    placeholderData: keepPreviousData,
    refetchInterval: 5000, // phases move
  });
  const items = useMemo(() => {
    const all = [...(list.data?.items ?? [])].sort((a, b) =>
      (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
    );
    const q = search.trim();
    return q ? all.filter((s) => matches(s, q)) : all;
  }, [list.data, search]);
  const next = list.data?.metadata?.continue;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div className="w-full max-w-sm">
          <label htmlFor="session-search" className="sr-only">
            Search sessions
          </label>
          <Input
            id="session-search"
            type="search"
            placeholder="Search by name, prompt or model"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </div>
        {access.data?.canWrite && (
          <Button asChild>
            <Link to="new">New session</Link>
          </Button>
        )}
      </div>
      {list.isPending ? (
        <Loading what="Loading sessions" />
      ) : list.error ? (
        <ErrorView error={list.error} onRetry={() => list.refetch()} />
      ) : items.length === 0 ? (
        <Empty title={search ? `No session matches “${search}”` : 'No sessions yet'}>
          {!search && access.data?.canWrite && 'Start one with “New session”.'}
        </Empty>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-border bg-white">
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Sessions of {project}</caption>
            <thead className="bg-muted text-xs uppercase text-muted-foreground">
              <tr>
                <th scope="col" className="px-3 py-2">Session</th>
                <th scope="col" className="px-3 py-2">Phase</th>
                <th scope="col" className="hidden px-3 py-2 md:table-cell">Model</th>
                <th scope="col" className="px-3 py-2">Age</th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.metadata.name} className="border-t border-border">
                  <td className="max-w-[14rem] px-3 py-2">
                    <Link to={enc(s.metadata.name)} className="font-medium text-blue-800 hover:underline">
                      {sessionTitle(s)}
                    </Link>
                    <p className="truncate text-xs text-muted-foreground">{s.spec.prompt}</p>
                  </td>
                  <td className="px-3 py-2">
                    <PhaseBadge phase={s.status?.phase} />
                  </td>
                  <td className="hidden px-3 py-2 font-mono text-xs md:table-cell">{s.spec.model ?? 'default'}</td>
                  <td className="whitespace-nowrap px-3 py-2">
                    <time dateTime={s.metadata.creationTimestamp} title={formatDate(s.metadata.creationTimestamp)}>
                      {formatAge(s.metadata.creationTimestamp)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        page={tokens.length}
        hasPrev={tokens.length > 1}
        hasNext={!!next}
        onPrev={() => setTokens(tokens.slice(0, -1))}
        onNext={() => next && setTokens([...tokens, next])}
      />
    </div>
  );
}
