import { useEffect, useRef, useState } from 'react';
import { getToken } from './auth';
import { EventFold, type Item, type Totals } from './events';
import { LiveStream, type LiveState } from './live';

export interface SessionStream {
  items: Item[];
  totals: Totals;
  count: number; // events received
  statusSeq: number; // of the last status change: the session object changed
  state: LiveState;
  detail?: string;
  notice?: string;
  send: (message: object) => boolean;
}

/** The folded live stream of a session; history first, then live. */
export function useSessionStream(liveUrl: string | undefined, project: string, session: string): SessionStream {
  const fold = useRef(new EventFold());
  const stream = useRef<LiveStream | null>(null);
  const [count, setCount] = useState(0);
  const [state, setState] = useState<LiveState>('connecting');
  const [detail, setDetail] = useState<string>();
  const [notice, setNotice] = useState<string>();

  useEffect(() => {
    if (liveUrl === undefined) return;
    fold.current = new EventFold();
    setCount(0);
    let received = 0;
    const s = new LiveStream({
      liveUrl,
      project,
      session,
      token: getToken(),
      onEvents: (events) => {
        fold.current.append(events);
        received += events.length;
        setCount(received);
      },
      onState: (st, d) => {
        setState(st);
        setDetail(d);
      },
      onNotice: setNotice,
    });
    stream.current = s;
    s.start();
    return () => s.close();
  }, [liveUrl, project, session]);

  return {
    items: fold.current.items,
    totals: fold.current.totals,
    count,
    statusSeq: fold.current.statusSeq,
    state,
    detail,
    notice,
    send: (m) => stream.current?.send(m) ?? false,
  };
}
