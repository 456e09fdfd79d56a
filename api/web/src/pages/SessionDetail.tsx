import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, enc } from '@/lib/api';
import { useUiConfig } from '@/lib/config';
import { formatCost, formatDate, formatNumber } from '@/lib/format';
import { sessionPath, useAccess } from '@/lib/queries';
import type { Session } from '@/lib/types';
import { useSessionStream } from '@/lib/useSessionStream';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent } from '@/components/ui/card';
import { Field, Input, Textarea } from '@/components/ui/input';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { EventLog } from '@/components/EventLog';
import { PhaseBadge } from '@/components/PhaseBadge';
import { Empty, ErrorView, Loading } from '@/components/States';
import { useProjectName } from './ProjectLayout';
import { sessionTitle } from './Sessions';

const ENDED = ['Completed', 'Failed', 'Stopped'];

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <dt className="text-xs text-muted-foreground">{label}</dt>
      <dd className="font-medium">{value}</dd>
    </div>
  );
}

function Composer({ send, disabled }: { send: (m: object) => boolean; disabled: boolean }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!text.trim()) return;
    if (send({ content: text })) {
      setText('');
      setError(undefined);
    } else setError('Not connected to the live service; try again in a moment.');
  }
  return (
    <form onSubmit={submit} className="space-y-2">
      <Field id="message" label="Message to the agent" error={error}>
        <Textarea
          id="message"
          value={text}
          disabled={disabled}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
          }}
          className="min-h-16"
        />
      </Field>
      <div className="flex gap-2">
        <Button type="submit" disabled={disabled || !text.trim()}>
          Send
        </Button>
        <Button type="button" variant="outline" disabled={disabled} onClick={() => send({ type: 'end_session' })}>
          End session
        </Button>
      </div>
    </form>
  );
}

function CloneForm({ project, session, onDone }: { project: string; session: string; onDone: () => void }) {
  const navigate = useNavigate();
  const [target, setTarget] = useState(project);
  const [name, setName] = useState(`${session.slice(0, 50)}-copy`);
  const clone = useMutation({
    mutationFn: () => api.post(`${sessionPath(project, session)}/clone`, { targetProject: target, newSessionName: name }),
    onSuccess: () => {
      onDone();
      navigate(`/projects/${enc(target)}/sessions/${enc(name)}`);
    },
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        clone.mutate();
      }}
      className="grid gap-3 rounded-md border border-border p-3 md:grid-cols-[1fr_1fr_auto]"
    >
      <Field id="clone-project" label="Into project">
        <Input id="clone-project" value={target} onChange={(e) => setTarget(e.target.value)} />
      </Field>
      <Field id="clone-name" label="New session name" error={clone.error ? (clone.error as Error).message : undefined}>
        <Input id="clone-name" value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <div className="flex items-end gap-2">
        <Button type="submit" disabled={clone.isPending}>
          Clone
        </Button>
        <Button type="button" variant="ghost" onClick={onDone}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

export function SessionDetail() {
  const project = useProjectName();
  const name = useParams().name ?? '';
  const cfg = useUiConfig();
  const qc = useQueryClient();
  const access = useAccess(project);
  const [cloning, setCloning] = useState(false);
  const session = useQuery({
    queryKey: ['session', project, name],
    queryFn: () => api.get<Session>(sessionPath(project, name)),
    refetchInterval: 5000,
  });
  // Open the stream once the config says where, and the session exists.
  const stream = useSessionStream(cfg.loaded && session.data ? cfg.liveUrl : undefined, project, name);
  // A status change on the stream: read the session now, not at the next poll.
  useEffect(() => {
    if (stream.statusSeq) qc.invalidateQueries({ queryKey: ['session', project, name] });
  }, [stream.statusSeq, qc, project, name]);
  const action = useMutation({
    mutationFn: (verb: 'stop' | 'start') => api.post(`${sessionPath(project, name)}/${verb}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['session', project, name] }),
  });

  if (session.isPending) return <Loading what="Loading the session" />;
  if (session.error) return <ErrorView error={session.error} onRetry={() => session.refetch()} />;
  const s = session.data;
  const phase = s.status?.phase ?? 'Pending';
  const ended = ENDED.includes(phase);
  const canWrite = !!access.data?.canWrite;
  const usage = s.status?.usage;
  const cost = stream.totals.costUSD ?? usage?.totalCostUSD;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3" data-session-phase={phase}>
        <Link to=".." relative="path" className="text-sm text-blue-800 hover:underline">
          ← Sessions
        </Link>
        <h2 className="text-xl font-semibold">{sessionTitle(s)}</h2>
        <PhaseBadge phase={phase} />
        {s.spec.interactive && <Badge tone="blue">interactive</Badge>}
        <span className="ml-auto flex flex-wrap gap-2">
          {canWrite && !ended && (
            <Button variant="destructive" size="sm" disabled={action.isPending} onClick={() => action.mutate('stop')}>
              Stop
            </Button>
          )}
          {canWrite && ended && (
            <Button size="sm" disabled={action.isPending} onClick={() => action.mutate('start')}>
              Restart
            </Button>
          )}
          {canWrite && (
            <Button variant="outline" size="sm" onClick={() => setCloning(!cloning)} aria-expanded={cloning}>
              Clone
            </Button>
          )}
        </span>
      </div>
      {action.error && (
        <p role="alert" className="text-sm text-destructive">
          {(action.error as Error).message}
        </p>
      )}
      {cloning && <CloneForm project={project} session={name} onDone={() => setCloning(false)} />}
      {s.status?.error && (
        <p role="alert" className="rounded-md border border-red-300 bg-red-50 p-2 text-sm text-red-900">
          {s.status.error}
        </p>
      )}
      <Card>
        <CardContent className="pt-4">
          <dl className="grid grid-cols-2 gap-3 text-sm md:grid-cols-6">
            <Stat label="Model" value={s.spec.model ?? 'project default'} />
            <Stat label="Created" value={formatDate(s.metadata.creationTimestamp)} />
            <Stat label="Cost" value={formatCost(cost)} />
            <Stat label="Input tokens" value={formatNumber(usage?.inputTokens ?? (stream.totals.inputTokens || undefined))} />
            <Stat label="Output tokens" value={formatNumber(usage?.outputTokens ?? (stream.totals.outputTokens || undefined))} />
            <Stat label="Turns" value={formatNumber(usage?.numTurns ?? stream.totals.turns)} />
          </dl>
        </CardContent>
      </Card>
      <Tabs defaultValue="events">
        <TabsList>
          <TabsTrigger value="events">Events</TabsTrigger>
          <TabsTrigger value="repos">Repositories</TabsTrigger>
          <TabsTrigger value="details">Details</TabsTrigger>
        </TabsList>
        <TabsContent value="events" className="space-y-3">
          <p className="text-xs text-muted-foreground" aria-live="polite" data-live-state={stream.state}>
            {stream.state === 'open'
              ? `Live · ${stream.count} events`
              : stream.state === 'reconnecting'
                ? 'Reconnecting…'
                : stream.state === 'closed'
                  ? `Stream ended${stream.detail ? `: ${stream.detail}` : ''}`
                  : 'Connecting…'}
          </p>
          {stream.notice && (
            <p role="alert" className="text-sm text-destructive">
              {stream.notice}
            </p>
          )}
          {stream.items.length === 0 && stream.state === 'open' ? (
            <Empty title="No events yet">Events appear here as the agent works.</Empty>
          ) : (
            <EventLog items={stream.items} count={stream.count} />
          )}
          {s.spec.interactive && canWrite && !ended && <Composer send={stream.send} disabled={stream.state !== 'open'} />}
        </TabsContent>
        <TabsContent value="repos">
          {(s.spec.repos ?? []).length === 0 ? (
            <Empty title="No repositories" />
          ) : (
            <ul className="space-y-2">
              {(s.spec.repos ?? []).map((r, i) => {
                const st = s.status?.repoStatuses?.find((x) => x.repoIndex === i);
                return (
                  <li key={i} className="rounded-md border border-border bg-white p-3 text-sm">
                    <p className="break-all font-mono">{r.input.url}</p>
                    <p className="text-xs text-muted-foreground">
                      branch {r.input.branch || 'default'} · output {r.output?.pushTo ?? 'none'}
                      {r.output?.targetBranch && ` → ${r.output.targetBranch}`}
                    </p>
                    {st && (
                      <div className="mt-2 flex flex-wrap items-center gap-2">
                        <Badge tone={st.status === 'pushed' ? 'green' : st.status === 'failed' ? 'red' : 'neutral'}>{st.status}</Badge>
                        {st.branch && <span className="font-mono text-xs">{st.branch}</span>}
                        {st.commitSHA && <span className="font-mono text-xs">{st.commitSHA.slice(0, 12)}</span>}
                        {st.pullRequestURL && /^https?:\/\//.test(st.pullRequestURL) && (
                          <a className="text-blue-800 underline" href={st.pullRequestURL} target="_blank" rel="noreferrer noopener">
                            Pull request
                          </a>
                        )}
                        {(st.error || st.message) && <span className="text-xs">{st.error || st.message}</span>}
                      </div>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
        </TabsContent>
        <TabsContent value="details" className="space-y-3 text-sm">
          <div>
            <h3 className="font-medium">Prompt</h3>
            <p className="whitespace-pre-wrap break-words rounded-md bg-muted p-2">{s.spec.prompt || '—'}</p>
          </div>
          {s.status?.results?.summary && (
            <div>
              <h3 className="font-medium">Summary</h3>
              <p className="whitespace-pre-wrap break-words rounded-md bg-muted p-2">{s.status.results.summary}</p>
            </div>
          )}
          <dl className="grid grid-cols-2 gap-3 md:grid-cols-4">
            <Stat label="Name" value={s.metadata.name} />
            <Stat label="Timeout" value={s.spec.timeout ? `${s.spec.timeout} s` : 'default'} />
            <Stat label="Started" value={formatDate(s.status?.startTime)} />
            <Stat label="Finished" value={formatDate(s.status?.completionTime)} />
          </dl>
        </TabsContent>
      </Tabs>
    </div>
  );
}
