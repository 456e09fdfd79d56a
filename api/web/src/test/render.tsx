import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { ConfigContext, type LoadedConfig } from '@/lib/config';

/** Renders element at path (matched by route) with a fresh query client,
 * and fetch answering from routes: {"GET /api/x": body | [status, body]}. */
export function renderAt(
  element: React.ReactElement,
  { path, route, api, config }: { path: string; route: string; api: Record<string, unknown>; config?: Partial<LoadedConfig> },
) {
  const calls: string[] = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const key = `${init?.method ?? 'GET'} ${url}`;
    calls.push(key);
    const hit = Object.entries(api).find(([k]) => key === k || key.startsWith(`${k}?`));
    const [status, body] = hit ? (Array.isArray(hit[1]) ? hit[1] : [200, hit[1]]) : [404, { error: 'not found' }];
    return new Response(JSON.stringify(body), { status: status as number, headers: { 'Content-Type': 'application/json' } });
  }) as typeof fetch;
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const cfg: LoadedConfig = { liveUrl: '', features: { rfeWorkflows: false }, loaded: true, ...config };
  const view = render(
    <QueryClientProvider client={client}>
      <ConfigContext.Provider value={cfg}>
        <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
          <Routes>
            <Route path={route} element={element} />
            <Route path="*" element={<p>another page</p>} />
          </Routes>
        </MemoryRouter>
      </ConfigContext.Provider>
    </QueryClientProvider>,
  );
  return { ...view, calls };
}
