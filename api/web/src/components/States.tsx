import { Link, useLocation } from 'react-router-dom';
import { ApiError } from '@/lib/api';
import { Button } from './ui/button';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div role="status" aria-live="polite" className="flex items-center gap-2 p-6 text-sm text-muted-foreground">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-slate-700" aria-hidden="true" />
      {what}…
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: React.ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-border p-8 text-center">
      <p className="font-medium">{title}</p>
      {children && <div className="mt-2 text-sm text-muted-foreground">{children}</div>}
    </div>
  );
}

const views: Record<string, { title: string; text: string }> = {
  '401': { title: 'Sign in to continue', text: 'Ambient did not accept your credentials, or you have not signed in yet.' },
  '403': { title: 'You do not have access', text: 'Your account is not allowed to do this. Ask a project admin for a role.' },
  '404': { title: 'Not found', text: 'There is nothing here: it may have been deleted, or the address is wrong.' },
  '5xx': { title: 'Ambient had a problem', text: 'The server could not answer. Try again in a moment.' },
  '0': { title: 'Ambient cannot be reached', text: 'Check your connection, or whether ambientd is running.' },
  other: { title: 'Something went wrong', text: '' },
};

/** A clear view for 401, 403, 404 and 5xx. */
export function ErrorView({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const location = useLocation();
  const status = error instanceof ApiError ? error.status : -1;
  const key = status >= 500 ? '5xx' : String(status) in views ? String(status) : 'other';
  const view = views[key];
  const message = error instanceof Error ? error.message : String(error);
  const next = encodeURIComponent(location.pathname + location.search);
  return (
    <section role="alert" data-status={status} className="mx-auto max-w-xl rounded-lg border border-border bg-white p-6">
      <h2 className="text-lg font-semibold">{view.title}</h2>
      {view.text && <p className="mt-1 text-sm text-muted-foreground">{view.text}</p>}
      <p className="mt-3 break-words rounded bg-muted p-2 font-mono text-xs">{message}</p>
      <div className="mt-4 flex flex-wrap gap-2">
        {status === 401 && (
          <Button asChild>
            <Link to={`/sign-in?next=${next}`}>Sign in</Link>
          </Button>
        )}
        {(status >= 500 || status === 0) && onRetry && <Button onClick={onRetry}>Try again</Button>}
        <Button variant="outline" asChild>
          <Link to="/projects">All projects</Link>
        </Button>
      </div>
    </section>
  );
}
