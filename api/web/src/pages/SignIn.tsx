import { useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '@/lib/api';
import { clearToken, setToken } from '@/lib/auth';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Checkbox } from '@/components/ui/checkbox';
import { Field, Input, Label } from '@/components/ui/input';

/** Where a `next` may send the user: only a path of this app. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/projects';
}

export function SignIn() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [token, setValue] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get('next'));

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(undefined);
    const t = token.trim();
    if (!t) {
      setError('Paste the token first.');
      return;
    }
    setBusy(true);
    setToken(t, remember);
    try {
      await api.get('/api/projects?limit=1');
      qc.clear();
      navigate(next, { replace: true });
    } catch (err) {
      clearToken();
      setError(err instanceof ApiError && err.status === 401 ? 'Ambient rejected this token.' : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="mx-auto max-w-md">
      <Card>
        <CardHeader>
          <CardTitle>Sign in to Ambient</CardTitle>
          <p className="text-sm text-muted-foreground">
            On a laptop, <code className="rounded bg-muted px-1">ambientd --local</code> prints the file of its admin
            token (the <code className="rounded bg-muted px-1">token</code> line): paste what it holds. In a cluster,
            your organisation&apos;s sign-in signs you in:{' '}
            <a className="text-blue-700 underline" href={next}>
              continue
            </a>
            .
          </p>
        </CardHeader>
        <CardContent>
          <form onSubmit={submit} className="space-y-4" noValidate>
            <Field id="token" label="Token" error={error}>
              <Input
                id="token"
                type="password"
                autoComplete="off"
                spellCheck={false}
                value={token}
                onChange={(e) => setValue(e.target.value)}
                aria-invalid={!!error}
                aria-describedby={error ? 'token-error' : undefined}
              />
            </Field>
            <div className="flex items-center gap-2">
              <Checkbox id="remember" checked={remember} onCheckedChange={(v) => setRemember(v === true)} />
              <Label htmlFor="remember">Remember on this browser</Label>
            </div>
            <p className="text-xs text-muted-foreground">
              Without “remember”, the token is kept for this tab only and is forgotten when it closes.
            </p>
            <Button type="submit" disabled={busy} className="w-full">
              {busy ? 'Signing in…' : 'Sign in'}
            </Button>
          </form>
        </CardContent>
      </Card>
    </div>
  );
}
