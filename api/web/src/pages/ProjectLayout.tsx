import { NavLink, Outlet, useParams } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { api } from '@/lib/api';
import { useUiConfig } from '@/lib/config';
import { projectPath, useAccess } from '@/lib/queries';
import type { Project } from '@/lib/types';
import { cn } from '@/lib/cn';
import { Badge } from '@/components/ui/badge';
import { ErrorView, Loading } from '@/components/States';

export function useProjectName(): string {
  return useParams().project ?? '';
}

export function ProjectLayout() {
  const project = useProjectName();
  const cfg = useUiConfig();
  const info = useQuery({ queryKey: ['project', project], queryFn: () => api.get<Project>(projectPath(project)) });
  const access = useAccess(project);
  if (info.isPending) return <Loading what="Loading the project" />;
  if (info.error) return <ErrorView error={info.error} onRetry={() => info.refetch()} />;
  const tabs = [
    { to: 'sessions', label: 'Sessions' },
    ...(cfg.features.rfeWorkflows ? [{ to: 'rfe-workflows', label: 'RFE workflows' }] : []),
    { to: 'settings', label: 'Settings' },
  ];
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-semibold">{info.data.displayName || project}</h1>
        {access.data?.userRole && (
          <Badge tone={access.data.canWrite ? 'blue' : 'neutral'} aria-label={`your role: ${access.data.userRole}`}>
            {access.data.userRole}
          </Badge>
        )}
      </div>
      {info.data.description && <p className="text-sm text-muted-foreground">{info.data.description}</p>}
      <nav aria-label="Project" className="flex gap-1 border-b border-border">
        {tabs.map((t) => (
          <NavLink
            key={t.to}
            to={t.to}
            className={({ isActive }) =>
              cn('-mb-px border-b-2 px-3 py-2 text-sm', isActive ? 'border-primary font-medium' : 'border-transparent text-muted-foreground hover:text-slate-900')
            }
          >
            {t.label}
          </NavLink>
        ))}
      </nav>
      <Outlet />
    </div>
  );
}
