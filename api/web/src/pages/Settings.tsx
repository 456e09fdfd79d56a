import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, enc, fieldErrors } from '@/lib/api';
import { projectPath, useAccess } from '@/lib/queries';
import type { ProjectSettings, RunnerSecrets } from '@/lib/types';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Field, Input, Select } from '@/components/ui/input';
import { Badge } from '@/components/ui/badge';
import { Empty, ErrorView, Loading } from '@/components/States';
import { useProjectName } from './ProjectLayout';

// The credentials the runner and the forge plugins read from the project's
// runner Secret (plugins/agenticsession/runner).
export const KNOWN_SECRETS = [
  { key: 'ANTHROPIC_API_KEY', label: 'Anthropic API key' },
  { key: 'GITHUB_TOKEN', label: 'GitHub token' },
  { key: 'GITLAB_TOKEN', label: 'GitLab token' },
];

function Defaults({ project, canWrite }: { project: string; canWrite: boolean }) {
  const qc = useQueryClient();
  const path = `${projectPath(project)}/project-settings`;
  const q = useQuery({
    queryKey: ['settings', project],
    queryFn: async () => {
      try {
        return await api.get<ProjectSettings>(path);
      } catch (e) {
        // A project without ProjectSettings has the platform's defaults.
        if (e instanceof ApiError && e.status === 404) return { spec: {} } as ProjectSettings;
        throw e;
      }
    },
  });
  const [form, setForm] = useState({ defaultModel: '', defaultTimeout: '', maxTimeout: '', allowedModels: '' });
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    const s = q.data?.spec;
    if (s)
      setForm({
        defaultModel: s.defaultModel ?? '',
        defaultTimeout: s.defaultTimeout ? String(s.defaultTimeout) : '',
        maxTimeout: s.maxTimeout ? String(s.maxTimeout) : '',
        allowedModels: (s.allowedModels ?? []).join(', '),
      });
  }, [q.data]);
  const save = useMutation({
    mutationFn: () => {
      const spec: ProjectSettings['spec'] = { ...(q.data?.spec ?? {}) };
      const set = (k: string, v: unknown, keep: boolean) => (keep ? (spec[k] = v) : delete spec[k]);
      set('defaultModel', form.defaultModel.trim(), !!form.defaultModel.trim());
      set('defaultTimeout', Number(form.defaultTimeout), !!form.defaultTimeout.trim());
      set('maxTimeout', Number(form.maxTimeout), !!form.maxTimeout.trim());
      const models = form.allowedModels.split(',').map((m) => m.trim()).filter(Boolean);
      set('allowedModels', models, models.length > 0);
      return api.put<ProjectSettings>(path, { ...(q.data?.metadata && { metadata: q.data.metadata }), spec });
    },
    onSuccess: (data) => {
      qc.setQueryData(['settings', project], data);
      setSaved(true);
    },
  });
  const errs = fieldErrors(save.error);
  const err = (f: string) => errs.find((e) => e.field.endsWith(f))?.message;
  if (q.isPending) return <Loading what="Loading settings" />;
  if (q.error) return <ErrorView error={q.error} onRetry={() => q.refetch()} />;
  const input = (k: keyof typeof form) => ({
    value: form[k],
    disabled: !canWrite,
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => {
      setSaved(false);
      setForm({ ...form, [k]: e.target.value });
    },
  });
  return (
    <form
      className="grid gap-4 md:grid-cols-2"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <Field id="default-model" label="Default model" error={err('defaultModel')}>
        <Input id="default-model" {...input('defaultModel')} />
      </Field>
      <Field id="allowed-models" label="Allowed models" hint="Comma-separated; empty allows any." error={err('allowedModels')}>
        <Input id="allowed-models" {...input('allowedModels')} />
      </Field>
      <Field id="default-timeout" label="Default timeout (seconds)" error={err('defaultTimeout')}>
        <Input id="default-timeout" inputMode="numeric" {...input('defaultTimeout')} />
      </Field>
      <Field id="max-timeout" label="Largest timeout (seconds)" error={err('maxTimeout')}>
        <Input id="max-timeout" inputMode="numeric" {...input('maxTimeout')} />
      </Field>
      {save.error && !errs.length && (
        <p role="alert" className="text-sm text-destructive md:col-span-2">
          {(save.error as Error).message}
        </p>
      )}
      {canWrite && (
        <div className="flex items-center gap-3 md:col-span-2">
          <Button type="submit" disabled={save.isPending}>
            Save defaults
          </Button>
          {saved && <span role="status" className="text-sm text-green-800">Saved.</span>}
        </div>
      )}
    </form>
  );
}

function Secrets({ project, canWrite }: { project: string; canWrite: boolean }) {
  const qc = useQueryClient();
  const path = `${projectPath(project)}/runner-secrets`;
  const q = useQuery({ queryKey: ['secrets', project], queryFn: () => api.get<RunnerSecrets>(path) });
  const [values, setValues] = useState<Record<string, string>>({});
  const [extraKey, setExtraKey] = useState('');
  const [extraValue, setExtraValue] = useState('');
  const [saved, setSaved] = useState(false);
  const save = useMutation({
    mutationFn: () => {
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(values)) if (v) data[k] = v;
      if (extraKey.trim() && extraValue) data[extraKey.trim()] = extraValue;
      // A merge: the keys not entered keep their stored values.
      return api.patch<RunnerSecrets>(path, { data });
    },
    onSuccess: (data) => {
      // Values are write-only: forget them as soon as they are stored.
      setValues({});
      setExtraKey('');
      setExtraValue('');
      setSaved(true);
      qc.setQueryData(['secrets', project], data);
    },
  });
  const drop = useMutation({
    mutationFn: (key: string) => api.patch<RunnerSecrets>(path, { data: { [key]: null } }),
    onSuccess: (data) => qc.setQueryData(['secrets', project], data),
  });
  if (q.isPending) return <Loading what="Loading secrets" />;
  if (q.error) return <ErrorView error={q.error} onRetry={() => q.refetch()} />;
  const stored = q.data.keys ?? [];
  const entered = new Set([...Object.keys(values).filter((k) => values[k]), ...(extraKey.trim() && extraValue ? [extraKey.trim()] : [])]);
  return (
    <div className="space-y-4">
      <div>
        <h3 className="text-sm font-medium">Stored keys</h3>
        {stored.length === 0 ? (
          <p className="text-sm text-muted-foreground">None yet.</p>
        ) : (
          <ul className="mt-1 flex flex-wrap gap-2" aria-label="Stored keys">
            {stored.map((k) => (
              <li key={k} className="flex items-center gap-1">
                <Badge>{k}</Badge>
                {canWrite && (
                  <Button variant="ghost" size="sm" disabled={drop.isPending} onClick={() => drop.mutate(k)} aria-label={`Remove ${k}`}>
                    ×
                  </Button>
                )}
              </li>
            ))}
          </ul>
        )}
        <p className="mt-1 text-xs text-muted-foreground">Values are never shown again once saved.</p>
      </div>
      {canWrite && (
        <form
          className="space-y-3"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <div className="grid gap-3 md:grid-cols-3">
            {KNOWN_SECRETS.map(({ key, label }) => (
              <Field key={key} id={`secret-${key}`} label={label} hint={key}>
                <Input
                  id={`secret-${key}`}
                  type="password"
                  autoComplete="new-password"
                  value={values[key] ?? ''}
                  placeholder={stored.includes(key) ? 'stored — enter to replace' : ''}
                  onChange={(e) => {
                    setSaved(false);
                    setValues({ ...values, [key]: e.target.value });
                  }}
                />
              </Field>
            ))}
          </div>
          <div className="grid gap-3 md:grid-cols-2">
            <Field id="secret-extra-key" label="Other key">
              <Input id="secret-extra-key" value={extraKey} onChange={(e) => setExtraKey(e.target.value)} placeholder="NAME" />
            </Field>
            <Field id="secret-extra-value" label="Its value">
              <Input id="secret-extra-value" type="password" autoComplete="new-password" value={extraValue} onChange={(e) => setExtraValue(e.target.value)} />
            </Field>
          </div>
          {(save.error || drop.error) && (
            <p role="alert" className="text-sm text-destructive">
              {((save.error || drop.error) as Error).message}
            </p>
          )}
          <div className="flex items-center gap-3">
            <Button type="submit" disabled={save.isPending || entered.size === 0}>
              Save secrets
            </Button>
            {saved && <span role="status" className="text-sm text-green-800">Saved.</span>}
          </div>
        </form>
      )}
    </div>
  );
}

interface Permission {
  subjectType: 'user' | 'group';
  subjectName: string;
  role: string;
}

function Permissions({ project, canWrite }: { project: string; canWrite: boolean }) {
  const qc = useQueryClient();
  const path = `${projectPath(project)}/permissions`;
  const q = useQuery({ queryKey: ['permissions', project], queryFn: () => api.get<{ items: Permission[] }>(path) });
  const [form, setForm] = useState<Permission>({ subjectType: 'user', subjectName: '', role: 'view' });
  const invalidate = () => qc.invalidateQueries({ queryKey: ['permissions', project] });
  const add = useMutation({ mutationFn: () => api.post(path, form), onSuccess: () => { setForm({ ...form, subjectName: '' }); invalidate(); } });
  const remove = useMutation({
    mutationFn: (p: Permission) => api.del(`${path}/${p.subjectType}/${enc(p.subjectName)}`),
    onSuccess: invalidate,
  });
  if (q.isPending) return <Loading what="Loading access" />;
  if (q.error) return <ErrorView error={q.error} onRetry={() => q.refetch()} />;
  return (
    <div className="space-y-3">
      {q.data.items.length === 0 ? (
        <Empty title="Only the project's creator and cluster admins have access" />
      ) : (
        <ul className="divide-y divide-border rounded-md border border-border" aria-label="Who has access">
          {q.data.items.map((p) => (
            <li key={`${p.subjectType}/${p.subjectName}/${p.role}`} className="flex items-center gap-3 px-3 py-2 text-sm">
              <Badge>{p.subjectType}</Badge>
              <span className="flex-1 break-all font-mono">{p.subjectName}</span>
              <Badge tone="blue">{p.role}</Badge>
              {canWrite && (
                <Button variant="ghost" size="sm" onClick={() => remove.mutate(p)} aria-label={`Remove ${p.subjectType} ${p.subjectName}`}>
                  Remove
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {canWrite && (
        <form
          className="grid gap-3 md:grid-cols-[auto_1fr_auto_auto]"
          onSubmit={(e) => {
            e.preventDefault();
            if (form.subjectName.trim()) add.mutate();
          }}
        >
          <Field id="perm-type" label="Kind">
            <Select id="perm-type" value={form.subjectType} onChange={(e) => setForm({ ...form, subjectType: e.target.value as Permission['subjectType'] })}>
              <option value="user">User</option>
              <option value="group">Group</option>
            </Select>
          </Field>
          <Field id="perm-name" label="Name" error={add.error ? (add.error as Error).message : undefined}>
            <Input id="perm-name" value={form.subjectName} onChange={(e) => setForm({ ...form, subjectName: e.target.value })} />
          </Field>
          <Field id="perm-role" label="Role">
            <Select id="perm-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              <option value="view">view</option>
              <option value="edit">edit</option>
              <option value="admin">admin</option>
            </Select>
          </Field>
          <div className="flex items-end">
            <Button type="submit" disabled={add.isPending}>
              Grant
            </Button>
          </div>
        </form>
      )}
    </div>
  );
}

export function Settings() {
  const project = useProjectName();
  const access = useAccess(project);
  if (access.isPending) return <Loading what="Checking your access" />;
  if (access.error) return <ErrorView error={access.error} />;
  const admin = access.data.userRole === 'admin';
  return (
    <div className="space-y-4">
      <Card>
        <CardHeader>
          <CardTitle>Session defaults</CardTitle>
        </CardHeader>
        <CardContent>
          <Defaults project={project} canWrite={admin} />
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Runner secrets</CardTitle>
          <p className="text-sm text-muted-foreground">The model key and forge tokens sessions of this project run with.</p>
        </CardHeader>
        <CardContent>
          <Secrets project={project} canWrite={admin} />
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Access</CardTitle>
        </CardHeader>
        <CardContent>
          <Permissions project={project} canWrite={admin} />
        </CardContent>
      </Card>
    </div>
  );
}
