import { useEffect, useSyncExternalStore } from 'react';
import { Link, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { clearToken, getToken, onTokenChange } from './lib/auth';
import { ConfigProvider } from './lib/config';
import { ApiError } from './lib/api';
import { Button } from './components/ui/button';
import { ErrorView } from './components/States';
import { SignIn } from './pages/SignIn';
import { Projects } from './pages/Projects';
import { ProjectLayout } from './pages/ProjectLayout';
import { Sessions } from './pages/Sessions';
import { NewSession } from './pages/NewSession';
import { SessionDetail } from './pages/SessionDetail';
import { Settings } from './pages/Settings';
import { RfeWorkflows, RfeWorkflowDetail } from './pages/RfeWorkflows';

function useToken() {
  return useSyncExternalStore(onTokenChange, getToken);
}

function Header() {
  const token = useToken();
  const navigate = useNavigate();
  const qc = useQueryClient();
  return (
    <header className="border-b border-border bg-primary text-primary-foreground">
      <div className="mx-auto flex max-w-6xl items-center gap-4 px-4 py-3">
        <Link to="/projects" className="text-lg font-semibold tracking-tight">
          Ambient
        </Link>
        <nav aria-label="Main" className="flex-1">
          <Link to="/projects" className="text-sm hover:underline">
            Projects
          </Link>
        </nav>
        {token && (
          <Button
            variant="outline"
            size="sm"
            className="text-slate-900"
            onClick={() => {
              clearToken();
              qc.clear();
              navigate('/sign-in');
            }}
          >
            Sign out
          </Button>
        )}
      </div>
    </header>
  );
}

export function App() {
  const navigate = useNavigate();
  const location = useLocation();
  useEffect(() => {
    const go = () => {
      if (location.pathname !== '/sign-in')
        navigate(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
    };
    window.addEventListener('ambient:unauthorized', go);
    return () => window.removeEventListener('ambient:unauthorized', go);
  }, [navigate, location]);

  return (
    <ConfigProvider>
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:bg-white focus:p-2">
        Skip to content
      </a>
      <Header />
      <main id="main" className="mx-auto max-w-6xl px-4 py-6">
        <Routes>
          <Route path="/" element={<Navigate to="/projects" replace />} />
          <Route path="/sign-in" element={<SignIn />} />
          <Route path="/projects" element={<Projects />} />
          <Route path="/projects/:project" element={<ProjectLayout />}>
            <Route index element={<Navigate to="sessions" replace />} />
            <Route path="sessions" element={<Sessions />} />
            <Route path="sessions/new" element={<NewSession />} />
            <Route path="sessions/:name" element={<SessionDetail />} />
            <Route path="settings" element={<Settings />} />
            <Route path="rfe-workflows" element={<RfeWorkflows />} />
            <Route path="rfe-workflows/:name" element={<RfeWorkflowDetail />} />
          </Route>
          <Route path="*" element={<ErrorView error={new ApiError(404, `no page at ${location.pathname}`)} />} />
        </Routes>
      </main>
    </ConfigProvider>
  );
}
