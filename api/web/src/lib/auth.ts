// The token of laptop mode (pasted by the user; `ambientd --local` prints
// its file). Kept in sessionStorage, or localStorage when the user ticks
// "remember". In a cluster the OAuth proxy in front supplies the user and
// no token is stored at all.
const KEY = 'ambient.token';

type Listener = () => void;
const listeners = new Set<Listener>();

export function getToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function setToken(token: string, remember: boolean): void {
  clearToken(false);
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
  listeners.forEach((l) => l());
}

export function clearToken(notify = true): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  if (notify) listeners.forEach((l) => l());
}

export function onTokenChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
