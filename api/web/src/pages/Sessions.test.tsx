import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { renderAt } from '@/test/render';
import { Sessions } from './Sessions';

const session = (name: string, phase: string, prompt: string) => ({
  metadata: { name, creationTimestamp: new Date(Date.now() - 3600_000).toISOString() },
  spec: { prompt, model: 'claude-sonnet-4-5' },
  status: { phase },
});

describe('Sessions', () => {
  const api = {
    'GET /api/projects/p/agentic-sessions': { items: [session('s-1', 'Running', 'fix the bug'), session('s-2', 'Failed', 'write docs')], metadata: { continue: 'next-page' } },
    'GET /api/projects/p/access': { project: 'p', allowed: true, userRole: 'view', canWrite: false },
  };

  it('lists phases, models and ages; search narrows; a viewer cannot start one', async () => {
    renderAt(<Sessions />, { path: '/projects/p/sessions', route: '/projects/:project/sessions', api });
    expect(await screen.findByRole('link', { name: 's-1' })).toBeInTheDocument();
    expect(screen.getByText('Failed')).toHaveAttribute('data-phase', 'Failed');
    expect(screen.getAllByText('1 hour ago')).toHaveLength(2);
    expect(screen.getByRole('button', { name: 'Next' })).toBeEnabled();
    expect(screen.queryByRole('link', { name: 'New session' })).toBeNull();
    await userEvent.type(screen.getByLabelText('Search sessions'), 'docs');
    expect(screen.queryByRole('link', { name: 's-1' })).toBeNull();
    expect(screen.getByRole('link', { name: 's-2' })).toBeInTheDocument();
  });

  it('shows 403 as "no access", 5xx with a retry', async () => {
    renderAt(<Sessions />, {
      path: '/projects/p/sessions',
      route: '/projects/:project/sessions',
      api: { 'GET /api/projects/p/agentic-sessions': [403, { error: 'bob cannot list sessions' }] },
    });
    expect(await screen.findByRole('heading', { name: 'You do not have access' })).toBeInTheDocument();
    expect(screen.getByText('bob cannot list sessions')).toBeInTheDocument();
  });

  it('offers a retry on a server error', async () => {
    renderAt(<Sessions />, {
      path: '/projects/p/sessions',
      route: '/projects/:project/sessions',
      api: { 'GET /api/projects/p/agentic-sessions': [503, { error: 'Kubernetes is busy' }] },
    });
    expect(await screen.findByRole('heading', { name: 'Ambient had a problem' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });
});
