import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, enc, fieldErrors } from '@/lib/api';
import { formatAge, formatDate } from '@/lib/format';
import type { Project, ProjectList } from '@/lib/types';
import { useDebounced } from '@/lib/useDebounced';
import { Button } from '@/components/ui/button';
import { FormActions, FormCard, FormErrors } from '@/components/FormCard';
import { Field, Input, Textarea } from '@/components/ui/input';
import { Empty, ErrorView, Loading } from '@/components/States';
import { Pager } from '@/components/Pager';

const PAGE = 20;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function CreateProject({ onDone }: { onDone: () => void }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [description, setDescription] = useState('');
  const [nameError, setNameError] = useState<string>();
  const create = useMutation({
    mutationFn: () =>
      api.post<Project>('/api/projects', {
        name,
        ...(displayName && { displayName }),
        ...(description && { description }),
      }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: ['projects'] });
      onDone();
      navigate(`/projects/${enc(name)}/sessions`);
    },
  });
  const serverErrors = fieldErrors(create.error);
  const byField = (f: string) => serverErrors.find((e) => e.field === f)?.message;

  function submit() {
    if (!DNS_LABEL.test(name)) {
      setNameError('Lower-case letters, digits and “-”, at most 63, starting and ending with a letter or digit.');
      return;
    }
    setNameError(undefined);
    create.mutate();
  }

  return (
    <FormCard title="New project" onSubmit={submit} className="grid gap-4 md:grid-cols-2">
          <Field id="project-name" label="Name" hint="Becomes the project's namespace." error={nameError ?? byField('name')}>
            <Input id="project-name" value={name} onChange={(e) => setName(e.target.value)} required aria-invalid={!!nameError} />
          </Field>
          <Field id="project-display" label="Display name">
            <Input id="project-display" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </Field>
          <div className="md:col-span-2">
            <Field id="project-description" label="Description">
              <Textarea id="project-description" value={description} onChange={(e) => setDescription(e.target.value)} className="min-h-16" />
            </Field>
          </div>
          {!serverErrors.length && <FormErrors error={create.error} className="md:col-span-2" />}
          <FormActions label="Create project" busyLabel="Creating…" busy={create.isPending} onCancel={onDone} className="flex gap-2 md:col-span-2" />
    </FormCard>
  );
}

export function Projects() {
  const [search, setSearch] = useState('');
  const [offset, setOffset] = useState(0);
  const [creating, setCreating] = useState(false);
  const q = useDebounced(search.trim());
  const list = useQuery({
    queryKey: ['projects', q, offset],
    queryFn: () =>
      api.get<ProjectList & { hasMore?: boolean }>(
        `/api/projects?limit=${PAGE}&offset=${offset}${q ? `&search=${enc(q)}` : ''}`,
      ),
    placeholderData: keepPreviousData,
  });

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h1 className="text-2xl font-semibold">Projects</h1>
        {!creating && <Button onClick={() => setCreating(true)}>New project</Button>}
      </div>
      {creating && <CreateProject onDone={() => setCreating(false)} />}
      <div className="max-w-sm">
        <label htmlFor="project-search" className="sr-only">
          Search projects
        </label>
        <Input
          id="project-search"
          type="search"
          placeholder="Search projects"
          value={search}
          onChange={(e) => {
            setSearch(e.target.value);
            setOffset(0);
          }}
        />
      </div>
      {list.isPending ? (
        <Loading what="Loading projects" />
      ) : list.error ? (
        <ErrorView error={list.error} onRetry={() => list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <Empty title={q ? `No project matches “${q}”` : 'No projects yet'}>
          {!q && 'Create one to start sessions in it.'}
        </Empty>
      ) : (
        <>
          <ul className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3" aria-label="Projects">
            {list.data.items.map((p) => (
              <li key={p.name}>
                <Link
                  to={`/projects/${enc(p.name)}/sessions`}
                  className="block h-full rounded-lg border border-border bg-white p-4 shadow-sm hover:border-slate-400"
                >
                  <p className="font-medium">{p.displayName || p.name}</p>
                  <p className="font-mono text-xs text-muted-foreground">{p.name}</p>
                  {p.description && <p className="mt-2 line-clamp-2 text-sm">{p.description}</p>}
                  <p className="mt-2 text-xs text-muted-foreground">
                    created <time dateTime={p.creationTimestamp} title={formatDate(p.creationTimestamp)}>{formatAge(p.creationTimestamp)}</time>
                  </p>
                </Link>
              </li>
            ))}
          </ul>
          <Pager
            page={offset / PAGE + 1}
            hasPrev={offset > 0}
            hasNext={!!list.data.hasMore}
            onPrev={() => setOffset(Math.max(0, offset - PAGE))}
            onNext={() => setOffset(offset + PAGE)}
          />
        </>
      )}
    </div>
  );
}
