import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, enc, fieldErrors } from '@/lib/api';
import { projectPath, sessionsPath } from '@/lib/queries';
import type { ProjectSettings, Repo, Session } from '@/lib/types';
import { Button } from '@/components/ui/button';
import { FormActions, FormCard, FormErrors } from '@/components/FormCard';
import { Checkbox } from '@/components/ui/checkbox';
import { Field, Input, Label, Select, Textarea } from '@/components/ui/input';
import { useProjectName } from './ProjectLayout';

interface RepoRow {
  url: string;
  branch: string;
  pushTo: 'none' | 'same' | 'fork';
  targetBranch: string;
}

const emptyRepo: RepoRow = { url: '', branch: '', pushTo: 'none', targetBranch: '' };

/** The bare spec the api takes (api/session_create.c). */
export function sessionBody(f: {
  prompt: string;
  displayName: string;
  model: string;
  timeout: string;
  interactive: boolean;
  repos: RepoRow[];
}) {
  const repos: Repo[] = f.repos
    .filter((r) => r.url.trim())
    .map((r) => ({
      input: { url: r.url.trim(), ...(r.branch.trim() && { branch: r.branch.trim() }) },
      ...(r.pushTo !== 'none' && {
        output: { pushTo: r.pushTo, ...(r.targetBranch.trim() && { targetBranch: r.targetBranch.trim() }) },
      }),
    }));
  return {
    ...(f.prompt.trim() && { prompt: f.prompt }),
    ...(f.displayName.trim() && { displayName: f.displayName.trim() }),
    ...(f.model.trim() && { model: f.model.trim() }),
    ...(f.timeout.trim() && { timeout: Number(f.timeout) }),
    ...(f.interactive && { interactive: true }),
    ...(repos.length && { repos }),
  };
}

export function NewSession() {
  const project = useProjectName();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const settings = useQuery({
    queryKey: ['settings', project],
    queryFn: () => api.get<ProjectSettings>(`${projectPath(project)}/project-settings`),
    retry: false,
  });
  const [prompt, setPrompt] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [model, setModel] = useState('');
  const [timeout, setTimeoutValue] = useState('');
  const [interactive, setInteractive] = useState(false);
  const [repos, setRepos] = useState<RepoRow[]>([]);
  const [localError, setLocalError] = useState<string>();

  const create = useMutation({
    mutationFn: () =>
      api.post<Session>(sessionsPath(project), sessionBody({ prompt, displayName, model, timeout, interactive, repos })),
    onSuccess: (s) => {
      qc.invalidateQueries({ queryKey: ['sessions', project] });
      navigate(`/projects/${enc(project)}/sessions/${enc(s.metadata.name)}`);
    },
  });
  const errors = fieldErrors(create.error);
  const err = (f: string) => errors.find((e) => e.field === f || e.field.startsWith(`${f}.`) || e.field.startsWith(`${f}[`))?.message;
  const allowed = settings.data?.spec.allowedModels ?? [];

  function setRepo(i: number, patch: Partial<RepoRow>) {
    setRepos(repos.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  }

  function submit() {
    if (!interactive && !prompt.trim()) {
      setLocalError('A prompt is required unless the session is interactive.');
      return;
    }
    if (timeout.trim() && !(Number(timeout) > 0)) {
      setLocalError('The timeout is a number of seconds above 0.');
      return;
    }
    setLocalError(undefined);
    create.mutate();
  }

  return (
    <FormCard title="New session" onSubmit={submit}>
          <Field id="prompt" label="Prompt" hint="The task for the agent." error={err('prompt')}>
            <Textarea id="prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} className="min-h-32" />
          </Field>
          <div className="grid gap-4 md:grid-cols-3">
            <Field id="display-name" label="Display name" error={err('displayName')}>
              <Input id="display-name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
            </Field>
            <Field
              id="model"
              label="Model"
              hint={settings.data?.spec.defaultModel ? `Default: ${settings.data.spec.defaultModel}` : 'Empty: the project default.'}
              error={err('model')}
            >
              <Input id="model" list="models" value={model} onChange={(e) => setModel(e.target.value)} placeholder="claude-sonnet-4-5" />
              <datalist id="models">
                {allowed.map((m) => (
                  <option key={m} value={m} />
                ))}
              </datalist>
            </Field>
            <Field id="timeout" label="Timeout (seconds)" error={err('timeout')}>
              <Input id="timeout" inputMode="numeric" value={timeout} onChange={(e) => setTimeoutValue(e.target.value)} />
            </Field>
          </div>
          <div className="flex items-center gap-2">
            <Checkbox id="interactive" checked={interactive} onCheckedChange={(v) => setInteractive(v === true)} />
            <Label htmlFor="interactive">Interactive: keep the agent waiting for messages</Label>
          </div>
          <fieldset className="space-y-3">
            <legend className="text-sm font-medium">Repositories</legend>
            {err('repos') && (
              <p role="alert" className="text-xs text-destructive">
                {err('repos')}
              </p>
            )}
            {repos.map((r, i) => (
              <div key={i} className="grid gap-2 rounded-md border border-border p-3 md:grid-cols-[2fr_1fr_1fr_1fr_auto]">
                <Field id={`repo-${i}-url`} label={`Repository ${i + 1} URL`}>
                  <Input id={`repo-${i}-url`} value={r.url} onChange={(e) => setRepo(i, { url: e.target.value })} placeholder="https://github.com/org/repo" />
                </Field>
                <Field id={`repo-${i}-branch`} label="Branch">
                  <Input id={`repo-${i}-branch`} value={r.branch} onChange={(e) => setRepo(i, { branch: e.target.value })} placeholder="default" />
                </Field>
                <Field id={`repo-${i}-push`} label="Output">
                  <Select id={`repo-${i}-push`} value={r.pushTo} onChange={(e) => setRepo(i, { pushTo: e.target.value as RepoRow['pushTo'] })}>
                    <option value="none">Not pushed</option>
                    <option value="same">Push to this repository</option>
                    <option value="fork">Push to a fork</option>
                  </Select>
                </Field>
                <Field id={`repo-${i}-target`} label="Output branch">
                  <Input
                    id={`repo-${i}-target`}
                    value={r.targetBranch}
                    disabled={r.pushTo === 'none'}
                    onChange={(e) => setRepo(i, { targetBranch: e.target.value })}
                    placeholder="ambient/<session>"
                  />
                </Field>
                <div className="flex items-end">
                  <Button type="button" variant="ghost" size="sm" onClick={() => setRepos(repos.filter((_, j) => j !== i))} aria-label={`Remove repository ${i + 1}`}>
                    Remove
                  </Button>
                </div>
              </div>
            ))}
            <Button type="button" variant="outline" size="sm" onClick={() => setRepos([...repos, { ...emptyRepo }])}>
              Add repository
            </Button>
          </fieldset>
          {localError && (
            <p role="alert" className="text-sm text-destructive">
              {localError}
            </p>
          )}
          <FormErrors error={create.error} className="list-disc" />
          <FormActions label="Start session" busyLabel="Starting…" busy={create.isPending} onCancel={() => navigate('..', { relative: 'path' })} />
    </FormCard>
  );
}
