// The live stream of one session: the WebSocket of the live service
// (api/live/README.md), with the token in the subprotocol — browsers cannot
// set headers on a WebSocket, and a token never goes into a URL. History
// is replayed from ?after=<last seq seen>, so a reconnect neither misses
// nor repeats an event.
export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface LiveEvent {
  seq?: number;
  type?: string;
  [key: string]: unknown;
}

export interface LiveOptions {
  liveUrl: string; // '' = this page's origin
  project: string;
  session: string;
  token: string | null;
  onEvents: (events: LiveEvent[]) => void;
  onState: (state: LiveState, detail?: string) => void;
  onNotice?: (message: string) => void;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const POLICY_CLOSE = 1008; // access revoked: reconnecting would not help

export function base64url(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function subprotocols(token: string | null): string[] {
  return token ? ['ambient.v1', `bearer.${base64url(token)}`] : ['ambient.v1'];
}

export function streamUrl(liveUrl: string, project: string, session: string, after: number): string {
  const base = (liveUrl || window.location.origin).replace(/^http/, 'ws');
  const path = `/api/projects/${encodeURIComponent(project)}/agentic-sessions/${encodeURIComponent(session)}/ws`;
  return after > 0 ? `${base}${path}?after=${after}` : `${base}${path}`;
}

export class LiveStream {
  private ws: WebSocket | null = null;
  private lastSeq = 0;
  private backoff = BACKOFF_MIN_MS;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private batch: LiveEvent[] = [];
  private flushScheduled = false;

  constructor(private readonly o: LiveOptions) {}

  start(): void {
    this.stopped = false;
    this.connect('connecting');
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000);
    this.ws = null;
  }

  /** Sends a user message (or end_session); false when not connected. */
  send(message: object): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  private connect(state: LiveState): void {
    this.o.onState(state);
    const ws = new WebSocket(
      streamUrl(this.o.liveUrl, this.o.project, this.o.session, this.lastSeq),
      subprotocols(this.o.token),
    );
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = BACKOFF_MIN_MS;
      this.o.onState('open');
    };
    ws.onmessage = (m) => this.receive(m.data);
    ws.onclose = (e) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      if (e.code === POLICY_CLOSE) {
        this.o.onState('closed', e.reason || 'access to this session ended');
        return;
      }
      this.o.onState('reconnecting', e.reason || undefined);
      this.timer = setTimeout(() => this.connect('reconnecting'), this.backoff);
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let ev: LiveEvent;
    try {
      ev = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof ev.seq !== 'number') {
      // The service's own frames (a refused message) carry no seq.
      if (ev.type === 'error' && typeof ev.error === 'string') this.o.onNotice?.(ev.error);
      return;
    }
    if (ev.seq <= this.lastSeq) return;
    this.lastSeq = ev.seq;
    // A replay delivers thousands of frames at once: hand them over per frame.
    this.batch.push(ev);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const events = this.batch;
    this.batch = [];
    if (events.length && !this.stopped) this.o.onEvents(events);
  }
}
