import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, enc } from '@/lib/api';
import { layers } from '@/lib/dag';
import { formatAge, formatDate } from '@/lib/format';
import { projectPath, useAccess } from '@/lib/queries';
import type { List, RfeWorkflow } from '@/lib/types';
import { Button } from '@/components/ui/button';
import { FormActions, FormCard, FormErrors } from '@/components/FormCard';
import { Field, Input, Textarea } from '@/components/ui/input';
import { PhaseBadge } from '@/components/PhaseBadge';
import { Empty, ErrorView, Loading } from '@/components/States';
import { useProjectName } from './ProjectLayout';

// The RFEWorkflow kind's REST (plugins/rfeworkflow/README.md): the generic
// kind routes at rfe-workflows, plus start and stop.
const rfePath = (p: string) => `${projectPath(p)}/rfe-workflows`;

function CreateRfe({ project, onDone }: { project: string; onDone: () => void }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api.post<RfeWorkflow>(rfePath(project), {
        apiVersion: 'vteam.ambient-code/v1alpha1',
        kind: 'RFEWorkflow',
        metadata: { name },
        spec: { title, description },
      }),
    onSuccess: (w) => {
      qc.invalidateQueries({ queryKey: ['rfe', project] });
      onDone();
      navigate(enc(w.metadata.name));
    },
  });
  return (
    <FormCard title="New RFE workflow" description="Without steps of its own, the workflow runs the default council of agents." onSubmit={() => create.mutate()} className="space-y-3">
      <div className="grid gap-3 md:grid-cols-2">
        <Field id="rfe-name" label="Name">
          <Input id="rfe-name" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id="rfe-title" label="Title">
          <Input id="rfe-title" value={title} onChange={(e) => setTitle(e.target.value)} />
        </Field>
      </div>
      <Field id="rfe-description" label="The feature request">
        <Textarea id="rfe-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <FormErrors error={create.error} />
      <FormActions label="Create" busyLabel="Creating…" busy={create.isPending} onCancel={onDone} />
    </FormCard>
  );
}

export function RfeWorkflows() {
  const project = useProjectName();
  const access = useAccess(project);
  const [creating, setCreating] = useState(false);
  const list = useQuery({
    queryKey: ['rfe', project],
    queryFn: () => api.get<List<RfeWorkflow>>(`${rfePath(project)}?limit=100`),
    refetchInterval: 5000,
  });
  return (
    <div className="space-y-4">
      {access.data?.canWrite && !creating && <Button onClick={() => setCreating(true)}>New RFE workflow</Button>}
      {creating && <CreateRfe project={project} onDone={() => setCreating(false)} />}
      {list.isPending ? (
        <Loading what="Loading RFE workflows" />
      ) : list.error ? (
        <ErrorView error={list.error} onRetry={() => list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <Empty title="No RFE workflows yet" />
      ) : (
        <ul className="space-y-2" aria-label="RFE workflows">
          {list.data.items.map((w) => (
            <li key={w.metadata.name}>
              <Link to={enc(w.metadata.name)} className="flex flex-wrap items-center gap-3 rounded-lg border border-border bg-white p-3 hover:border-slate-400">
                <span className="font-medium">{w.spec.title || w.metadata.name}</span>
                <PhaseBadge phase={w.status?.phase} />
                <span className="text-xs text-muted-foreground">
                  {(w.spec.steps ?? w.status?.steps ?? []).length} steps · created {formatAge(w.metadata.creationTimestamp)}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function RfeWorkflowDetail() {
  const project = useProjectName();
  const name = useParams().name ?? '';
  const qc = useQueryClient();
  const access = useAccess(project);
  const path = `${rfePath(project)}/${enc(name)}`;
  const q = useQuery({ queryKey: ['rfe', project, name], queryFn: () => api.get<RfeWorkflow>(path), refetchInterval: 5000 });
  const action = useMutation({
    mutationFn: (verb: 'start' | 'stop') => api.post(`${path}/${verb}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['rfe', project, name] }),
  });
  if (q.isPending) return <Loading what="Loading the workflow" />;
  if (q.error) return <ErrorView error={q.error} onRetry={() => q.refetch()} />;
  const w = q.data;
  // Steps from the spec; a workflow on the default council lists its steps in status.
  const steps = w.spec.steps?.length ? w.spec.steps : (w.status?.steps ?? []).map((s) => ({ name: s.name }));
  const status = new Map((w.status?.steps ?? []).map((s) => [s.name, s]));
  const cols = layers(steps);
  const phase = w.status?.phase ?? 'Pending';
  const ended = ['Completed', 'Failed', 'Stopped'].includes(phase);
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <Link to=".." relative="path" className="text-sm text-blue-800 hover:underline">
          ← RFE workflows
        </Link>
        <h2 className="text-xl font-semibold">{w.spec.title || name}</h2>
        <PhaseBadge phase={phase} />
        {access.data?.canWrite && (
          <span className="ml-auto">
            <Button size="sm" variant={ended ? 'default' : 'destructive'} disabled={action.isPending} onClick={() => action.mutate(ended ? 'start' : 'stop')}>
              {ended ? 'Start again' : 'Stop'}
            </Button>
          </span>
        )}
      </div>
      {w.spec.description && <p className="whitespace-pre-wrap rounded-md bg-muted p-3 text-sm">{w.spec.description}</p>}
      {(w.status?.error || w.status?.message) && <p className="text-sm">{w.status.error || w.status.message}</p>}
      {steps.length === 0 ? (
        <Empty title="No steps yet">The controller lists the default council's steps once it starts.</Empty>
      ) : (
        <ol className="flex flex-col gap-3 md:flex-row md:overflow-x-auto" aria-label="Steps, in order of their dependencies">
          {cols.map((col, i) => (
            <li key={i} className="min-w-[13rem] space-y-2">
              <p className="text-xs font-semibold uppercase text-muted-foreground">Stage {i + 1}</p>
              <ul className="space-y-2">
                {col.map((s) => {
                  const st = status.get(s.name);
                  return (
                    <li key={s.name} className="rounded-md border border-border bg-white p-3 text-sm" data-step={s.name}>
                      <div className="flex items-center justify-between gap-2">
                        <span className="font-medium">{s.name}</span>
                        <PhaseBadge phase={st?.phase ?? 'Pending'} />
                      </div>
                      {s.agent && <p className="text-xs text-muted-foreground">{s.agent}</p>}
                      {s.dependsOn?.length ? <p className="text-xs">after {s.dependsOn.join(', ')}</p> : null}
                      {st?.sessionName && (
                        <Link className="text-xs text-blue-800 underline" to={`/projects/${enc(project)}/sessions/${enc(st.sessionName)}`}>
                          session {st.sessionName}
                        </Link>
                      )}
                      {st?.completionTime && <p className="text-xs text-muted-foreground">finished {formatDate(st.completionTime)}</p>}
                      {st?.message && <p className="text-xs">{st.message}</p>}
                    </li>
                  );
                })}
              </ul>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
