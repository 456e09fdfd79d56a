import { screen } from '@testing-library/react';
import { renderAt } from '@/test/render';
import { RfeWorkflowDetail, RfeWorkflows } from './RfeWorkflows';

const workflow = {
  metadata: { name: 'dark-mode', creationTimestamp: '2026-01-02T10:00:00Z' },
  spec: {
    title: 'Dark mode',
    description: 'Users want a dark theme.',
    steps: [
      { name: 'ideate', agent: 'Ideation' },
      { name: 'pm', agent: 'Product manager', dependsOn: ['ideate'] },
      { name: 'architect', agent: 'Architect', dependsOn: ['ideate'] },
      { name: 'review', agent: 'Reviewer', dependsOn: ['pm', 'architect'] },
    ],
  },
  status: {
    phase: 'Running',
    steps: [
      { name: 'ideate', phase: 'Completed', sessionName: 'dark-mode-ideate' },
      { name: 'pm', phase: 'Running', sessionName: 'dark-mode-pm' },
      { name: 'architect', phase: 'Running', sessionName: 'dark-mode-architect' },
    ],
  },
};

const access = { project: 'p', allowed: true, userRole: 'edit', canWrite: true };

describe('RFE workflows', () => {
  it('lists workflows with their phase', async () => {
    renderAt(<RfeWorkflows />, {
      path: '/projects/p/rfe-workflows',
      route: '/projects/:project/rfe-workflows',
      api: { 'GET /api/projects/p/rfe-workflows': { items: [workflow] }, 'GET /api/projects/p/access': access },
    });
    expect(await screen.findByText('Dark mode')).toBeInTheDocument();
    expect(screen.getByText('Running')).toHaveAttribute('data-phase', 'Running');
    expect(screen.getByText(/4 steps/)).toBeInTheDocument();
  });

  it('draws the DAG in stages, each step with its session', async () => {
    renderAt(<RfeWorkflowDetail />, {
      path: '/projects/p/rfe-workflows/dark-mode',
      route: '/projects/:project/rfe-workflows/:name',
      api: { 'GET /api/projects/p/rfe-workflows/dark-mode': workflow, 'GET /api/projects/p/access': access },
    });
    await screen.findByText('Stage 3');
    const stage2 = screen.getByText('Stage 2').parentElement!;
    expect(stage2).toHaveTextContent('pm');
    expect(stage2).toHaveTextContent('architect');
    expect(screen.getByRole('link', { name: 'session dark-mode-pm' })).toHaveAttribute('href', '/projects/p/sessions/dark-mode-pm');
    expect(screen.getByText('after pm, architect')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument();
  });

  it('shows a 404 clearly', async () => {
    renderAt(<RfeWorkflowDetail />, {
      path: '/projects/p/rfe-workflows/gone',
      route: '/projects/:project/rfe-workflows/:name',
      api: { 'GET /api/projects/p/access': access },
    });
    expect(await screen.findByRole('heading', { name: 'Not found' })).toBeInTheDocument();
  });
});
