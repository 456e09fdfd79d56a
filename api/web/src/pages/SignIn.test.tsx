import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { renderAt } from '@/test/render';
import { SignIn } from './SignIn';

describe('SignIn', () => {
  beforeEach(() => {
    sessionStorage.clear();
    localStorage.clear();
  });

  it('keeps the token in sessionStorage, or localStorage with "remember"', async () => {
    renderAt(<SignIn />, { path: '/sign-in', route: '/sign-in', api: { 'GET /api/projects': { items: [] } } });
    await userEvent.type(screen.getByLabelText('Token'), 'tok-1');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await vi.waitFor(() => expect(sessionStorage.getItem('ambient.token')).toBe('tok-1'));
    expect(localStorage.length).toBe(0);
  });

  it('remembers when asked, and forgets a rejected token', async () => {
    const { unmount } = renderAt(<SignIn />, { path: '/sign-in', route: '/sign-in', api: { 'GET /api/projects': { items: [] } } });
    await userEvent.click(screen.getByRole('checkbox', { name: /Remember/ }));
    await userEvent.type(screen.getByLabelText('Token'), 'tok-2');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await vi.waitFor(() => expect(localStorage.getItem('ambient.token')).toBe('tok-2'));
    unmount();
    renderAt(<SignIn />, { path: '/sign-in', route: '/sign-in', api: { 'GET /api/projects': [401, { error: 'the bearer token was rejected' }] } });
    await userEvent.type(screen.getByLabelText('Token'), 'bad');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Ambient rejected this token.')).toBeInTheDocument();
    expect(sessionStorage.length + localStorage.length).toBe(0);
  });
});
