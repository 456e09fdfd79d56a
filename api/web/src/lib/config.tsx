import { createContext, useContext } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from './api';
import type { UiConfig, UiConfigReply } from './types';

// GET /api/ui/config (public): where the live service is, which optional
// kinds are loaded.
const fallback: UiConfig = { liveUrl: '', features: { rfeWorkflows: false } };
export type LoadedConfig = UiConfig & { loaded: boolean };
export const ConfigContext = createContext<LoadedConfig>({ ...fallback, loaded: false });

export function useUiConfig(): LoadedConfig {
  return useContext(ConfigContext);
}

export function ConfigProvider({ children }: { children: React.ReactNode }) {
  const q = useQuery({
    queryKey: ['ui-config'],
    queryFn: async (): Promise<UiConfig> => {
      const reply = await api.get<UiConfigReply>('/api/ui/config');
      return {
        liveUrl: reply.liveUrl,
        features: { rfeWorkflows: reply.kinds.includes('rfe-workflows') },
      };
    },
    staleTime: Infinity,
  });
  const value = { ...(q.data ?? fallback), loaded: !q.isPending };
  return <ConfigContext.Provider value={value}>{children}</ConfigContext.Provider>;
}
