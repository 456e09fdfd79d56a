import { useQuery } from '@tanstack/react-query';
import { api, enc } from './api';
import type { Access } from './types';

export const projectPath = (p: string) => `/api/projects/${enc(p)}`;
export const sessionsPath = (p: string) => `${projectPath(p)}/agentic-sessions`;
export const sessionPath = (p: string, s: string) => `${sessionsPath(p)}/${enc(s)}`;

/** The caller's role in a project (GET .../access). */
export function useAccess(project: string) {
  return useQuery({
    queryKey: ['access', project],
    queryFn: () => api.get<Access>(`${projectPath(project)}/access`),
    staleTime: 30_000,
  });
}
