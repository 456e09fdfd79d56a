#!/usr/bin/python3
"""Live service benchmark (api/live): ingest, fan-out, replay and memory.

Runner ingest, WebSocket fan-out, history replay and memory of ambientd's
live listener, next to a reference server in pure Python (the `websockets`
library's own asyncio server) fed and read by the same client code. Prints
figures; never fails on time.

Measures (every phase bounded by counts and seconds; flags below)
  - ingest:  one runner posting N events of ~--event-size bytes as NDJSON
    batches of 1, 10 and 100 per POST on one keep-alive connection
    (http.client, the session service account's token) -> events/s,
    POSTs/s, p50/p99 per POST; the same posts to the reference server, and
    to a Python stub that answers 201 without looking (the client's ceiling);
  - fan-out: S WebSocket subscribers (1, 10, 100) on one session while the
    runner posts E events as fast as it can (batches of --fanout-batch), and
    once paced (--paced-rate) for the smallest and largest S: delivered events/s over
    all subscribers, end-to-end latency p50/p99 (each event carries the
    poster's wall clock "t"; receive time minus t), and that every
    subscriber got every event exactly once, in order. The subscribers run
    in --client-procs processes of asyncio + websockets 10.4 (default 1;
    one Python process is the bottleneck at 100 subscribers, see the
    "client ceiling" rows: a raw server writing pre-framed bytes to the same
    client code);
  - replay:  a late joiner reading a session log of --replay-events events
    of ~--replay-size bytes (default 100k x 500 B = 50 MB) from seq 0: over
    WebSocket with the same websockets client (parses every frame), over
    WebSocket with a raw socket that only counts bytes, and over SSE with
    `curl -N ... | head -c <exact SSE bytes> | tail -c 4096` (head ends
    the stream when the last event is in; tail keeps the end to check it)
    -> MB/s and events/s; the reference server replays the same file;
  - memory:  ambientd's VmRSS/VmHWM (/proc) at start, after each phase,
    with --idle-subscribers idle WebSocket subscribers, and with as many
    stalled late joiners (raw sockets that never read) on the big log, which
    the README bounds to about min(max_client_buffer/2, 256 KiB) each.
    The reference server's RSS is shown next to it.

The reference server (a separate process, one asyncio loop, like
ambientd's one live loop thread): POST .../events parses each NDJSON line,
gives it seq and ts, appends the batch to a file with one write and
broadcasts the frames with websockets.broadcast(); GET .../ws replays the
file (await send per line) then joins the live set; GET .../events is the
same for SSE, in ambient's exact framing. No auth, no fsync.

Everything runs on this machine's CPUs (ambientd, kubesim, the reference
server, the poster and the subscriber processes): read the figures as
relative, not absolute. Only 127.0.0.1 is used.

  cmake -S . -B /tmp/build-livebench -DCMAKE_BUILD_TYPE=Release -DAMBIENT_TESTS=ON
  cmake --build /tmp/build-livebench -j2
  tests/bench/live_bench.py [--build-dir /tmp/build-livebench] [--quick]

Environment: AMBIENTD (default: <build-dir>/bin/ambientd, else the first of
the BUILD_CANDIDATES that has one), API_PLUGIN, AS_PLUGIN, PS_PLUGIN
(default: AMBIENTD's build tree), AMB_TEST_PLUGIN_DIR, KUBESIM, CRD_DIR,
RBAC_DIR (default: the source tree's), CURL (/usr/bin/curl). Debian's
/usr/bin/python3 with python3-websockets (10.4) and python3-yaml."""
import argparse
import array
import asyncio
import base64
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchenv import BUILD_CANDIDATES, fmt_ratio, rss_kib, setup_env  # noqa: E402

PROTO = "ambient.v1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
REF_NS = "bench"
REF_TOKEN = "ref-token"  # the reference server checks no token; sent for symmetry
SSE_PREAMBLE = b"retry: 2000\n\n"  # what ambient's SSE body starts with (sse.c)
SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n" + SSE_PREAMBLE)


# ---- small helpers ----

def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return None


def pct(sorted_vals, p):
    """Nearest-rank percentile of a sorted list; None when empty."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def fmt_ms(v):
    if v is None:
        return "-"
    v *= 1e3
    return "%.3f ms" % v if v < 10 else "%.1f ms" % v


def fmt_rate(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def fmt_cpu(v):
    return "-" if v is None else "%.2f s" % v


def utc_ms():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def event_body(i, size, t, kind="assistant"):
    """One posted event (JSON text) so that the stored line, with ambient's
    "seq" and "ts" in front (~45 bytes), is about size bytes."""
    base = '{"type":"%s","i":%d,"t":%.6f,"pad":""}' % (kind, i, t)
    pad = max(0, size - 46 - len(str(i)) - len(base))
    return base[:-2] + "x" * pad + '"}'


def ndjson_batch(first_i, n, size, t):
    return "".join(event_body(first_i + k, size, t) + "\n" for k in range(n)).encode()


def ws_frame_len(payload_len):
    return payload_len + (2 if payload_len < 126 else 4 if payload_len < 65536 else 10)


def log_expectations(path):
    """From a stored log: (events, bytes, first seq, last seq, exact bytes a
    WebSocket replay of all of it sends, exact SSE body bytes)."""
    events = ws = 0
    sse = len(SSE_PREAMBLE)
    first = last = None
    size = 0
    with open(path, "rb") as f:
        for line in f:
            size += len(line)
            n = len(line) - 1
            seq = int(line[7:line.index(b",")])
            first = seq if first is None else first
            last = seq
            events += 1
            ws += ws_frame_len(n)
            sse += len(b"id: %d\ndata: " % seq) + n + 2
    return {"events": events, "bytes": size, "first": first, "last": last, "ws": ws, "sse": sse}


def pingpong(rounds=2000):
    """Round trip of one byte between two processes over a socketpair:
    the platform's wake-up latency (p50, p99 in seconds), which every
    figure below includes at least twice."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the echo child: no Python cleanup, just echo until EOF
        try:
            a.close()
            while True:
                d = b.recv(64)
                if not d:
                    break
                b.sendall(d)
        finally:
            os._exit(0)
    b.close()
    lat = []
    try:
        a.settimeout(5)
        for _ in range(rounds):
            t = time.perf_counter()
            a.sendall(b"x")
            a.recv(64)
            lat.append(time.perf_counter() - t)
    finally:
        a.close()
        os.waitpid(pid, 0)
    lat.sort()
    return pct(lat, 50), pct(lat, 99)


# ---- the runner: NDJSON posts on one keep-alive connection ----

class Poster:
    def __init__(self, address, timeout=30):
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.timeout = timeout
        self.conn = None
        self.reconnects = -1

    def post(self, path, body, token=None, ctype="application/x-ndjson"):
        """(status, parsed body or text, seconds)"""
        hdrs = {"Content-Type": ctype}
        if token:
            hdrs["Authorization"] = "Bearer " + token
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.connect()
                # http.client sends the head and the body in two writes: without
                # this, Nagle holds the body back until the head is acknowledged
                # (urllib3 and most HTTP clients set it too)
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.reconnects += 1
            t = time.perf_counter()
            try:
                self.conn.request("POST", path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                took = time.perf_counter() - t
                if r.will_close:
                    self.close()
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = raw[:200]
                return r.status, parsed, took
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def post_run(poster, path, token, total, batch, size, deadline, first_i=1, rate=0.0):
    """Posts up to total events in batches; stops at deadline (wall clock).
    Returns a dict of figures: events, posts, seconds, latencies (sorted),
    errors (first few non-201 answers), bytes."""
    lat, errors = [], []
    posted = nbytes = 0
    t0 = time.perf_counter()
    while posted < total and time.time() < deadline:
        n = min(batch, total - posted)
        if rate > 0:
            due = t0 + posted / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
        body = ndjson_batch(first_i + posted, n, size, time.time())
        status, reply, took = poster.post(path, body, token)
        lat.append(took)
        if status != 201 or not isinstance(reply, dict) or reply.get("stored") != n:
            if len(errors) < 5:
                errors.append("%s %r" % (status, reply))
            if status >= 400 and status != 503:
                break
            continue
        posted += n
        nbytes += len(body)
    secs = time.perf_counter() - t0
    lat.sort()
    return {"events": posted, "posts": len(lat), "seconds": secs, "lat": lat, "errors": errors,
            "bytes": nbytes}


# ---- subscriber processes (asyncio + websockets, the same code for every server) ----

def _sub_worker(pipe, spec):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_sub_main(pipe, spec))
    except BaseException as e:  # noqa: B902 - report anything to the parent
        try:
            pipe.send(("error", repr(e)))
        except (OSError, ValueError):
            pass


async def _watch_parent(ppid):
    while os.getppid() == ppid:
        await asyncio.sleep(0.5)
    os._exit(3)


async def _sub_main(pipe, spec):
    import websockets
    import websockets.exceptions
    asyncio.get_running_loop().create_task(_watch_parent(spec["ppid"]))
    first, last = spec["first"], spec["last"]
    deadline = time.time() + spec["timeout"]

    async def connect():
        t = time.time()
        try:
            ws = await websockets.connect(spec["url"], subprotocols=spec["protocols"],
                                          compression=None, ping_interval=None, close_timeout=1,
                                          max_size=1 << 22, open_timeout=30)
            return ws, t, None
        except Exception as e:  # noqa: BLE001 - counted and shown
            return None, t, repr(e)[:200]

    conns = await asyncio.gather(*(connect() for _ in range(spec["n"])))
    ok = [(ws, t) for ws, t, _ in conns if ws is not None]
    pipe.send(("ready", len(ok), [e for _, _, e in conns if e][:3]))
    if spec["mode"] == "idle":
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        await asyncio.gather(*(ws.close() for ws, _ in ok), return_exceptions=True)
        pipe.send(("done", []))
        return

    want_lat = spec["latency"]

    async def recv_all(ws, t_start):
        st = {"count": 0, "bad": None, "dups": 0, "t_start": t_start, "t_first": None,
              "t_last": None, "closed": None}
        lat = array.array("d")

        async def run():
            expect = first
            while expect <= last:
                msg = await ws.recv()
                t = time.time()
                ev = json.loads(msg)
                seq = ev.get("seq")
                if seq is None:
                    continue
                if seq != expect:
                    if st["bad"] is None:
                        st["bad"] = (expect, seq)
                    if seq < expect:
                        st["dups"] += 1
                        continue
                expect = seq + 1
                st["count"] += 1
                if st["t_first"] is None:
                    st["t_first"] = t
                st["t_last"] = t
                if want_lat:
                    lat.append(t - ev["t"])
        try:
            await asyncio.wait_for(run(), max(0.1, deadline - time.time()))
        except asyncio.TimeoutError:
            st["closed"] = "timeout"
        except websockets.exceptions.ConnectionClosed as e:
            st["closed"] = "closed %s %s" % (e.code, e.reason)
        st["lat"] = lat.tobytes()
        return st

    results = await asyncio.gather(*(recv_all(ws, t) for ws, t in ok))
    await asyncio.gather(*(ws.close() for ws, _ in ok), return_exceptions=True)
    pipe.send(("done", results))


class Subscribers:
    """n subscribers on url, spread over procs processes (spawned: no fork
    of a threaded parent). mode "recv": receive seqs first..last (or until
    timeout); "idle": stay connected until stop()."""

    def __init__(self, ctx, procs, n, url, protocols, first=1, last=0, timeout=30.0,
                 mode="recv", latency=True):
        self.procs = []
        procs = max(1, min(procs, n))
        for k in range(procs):
            share = n // procs + (1 if k < n % procs else 0)
            a, b = ctx.Pipe()
            spec = {"n": share, "url": url, "protocols": protocols, "first": first,
                    "last": last, "timeout": timeout, "mode": mode, "latency": latency,
                    "ppid": os.getpid()}
            p = ctx.Process(target=_sub_worker, args=(b, spec), daemon=True)
            p.start()
            b.close()
            self.procs.append((p, a))

    def _recv(self, pipe, proc, timeout):
        deadline = time.monotonic() + timeout
        while not pipe.poll(0.1):
            if time.monotonic() > deadline:
                raise RuntimeError("subscriber process: no answer in %.0f s" % timeout)
            if not proc.is_alive() and not pipe.poll(0):
                raise RuntimeError("subscriber process died (exit %s)" % proc.exitcode)
        return pipe.recv()

    def wait_ready(self, timeout=60):
        connected, errors = 0, []
        for p, pipe in self.procs:
            msg = self._recv(pipe, p, timeout)
            if msg[0] == "error":
                raise RuntimeError("subscriber process: %s" % msg[1])
            connected += msg[1]
            errors += msg[2]
        return connected, errors

    def results(self, timeout):
        out = []
        for p, pipe in self.procs:
            msg = self._recv(pipe, p, timeout)
            if msg[0] == "error":
                raise RuntimeError("subscriber process: %s" % msg[1])
            out += msg[1]
        return out

    def release_idle(self):
        for p, pipe in self.procs:
            try:
                pipe.send("stop")
            except (OSError, ValueError):
                pass

    def stop(self):
        for p, pipe in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
            pipe.close()
        self.procs = []


# ---- the reference server (pure Python, websockets' own asyncio server) ----

def _ref_server(pipe, directory, ppid):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_ref_main(pipe, directory, ppid))
    except BaseException as e:  # noqa: B902
        try:
            pipe.send(("error", repr(e)))
        except (OSError, ValueError):
            pass


class _RefSession:
    def __init__(self, path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size
        self.seq = 0
        if self.size:
            with open(path, "rb") as f:
                f.seek(max(0, self.size - 65536))
                tail = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
            self.seq = int(tail[7:tail.index(b",")])
        self.ws = set()
        self.sse = set()


def _route(path):
    """/api/projects/NS/agentic-sessions/NAME/TAIL -> (ns, name, tail) or None"""
    m = re.match(r"^/api/projects/([a-z0-9-]+)/agentic-sessions/([a-z0-9.-]+)/([a-z]+)$", path)
    return m.groups() if m else None


async def _ref_main(pipe, directory, ppid):
    import logging
    import websockets
    import websockets.exceptions
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # resets by stalled joiners
    sessions = {}
    blast = []
    asyncio.get_running_loop().create_task(_watch_parent(ppid))

    def session(ns, name):
        key = (ns, name)
        if key not in sessions:
            sessions[key] = _RefSession(os.path.join(directory, ns, name + ".ndjson"))
        return sessions[key]

    def append(s, body):
        ts = utc_ms()
        out = []
        seq = s.seq
        for ln in body.split(b"\n"):
            ln = ln.strip()
            if not ln:
                continue
            ev = json.loads(ln)
            if not isinstance(ev, dict):
                raise ValueError("an event must be a JSON object")
            ev.pop("seq", None)
            ev.pop("ts", None)
            seq += 1
            out.append((seq, json.dumps({"seq": seq, "ts": ts, **ev}, separators=(",", ":"),
                                        ensure_ascii=False)))
        if not out:
            raise ValueError("no events")
        data = "".join(t + "\n" for _, t in out).encode()
        done = 0
        while done < len(data):
            done += os.write(s.fd, data[done:])
        s.size += len(data)
        s.seq = seq
        for sq, t in out:
            if s.ws:
                websockets.broadcast(s.ws, t)
            if s.sse:
                frame = ("id: %d\ndata: %s\n\n" % (sq, t)).encode()
                for w in s.sse:
                    w.write(frame)
        return out[0][0], out[-1][0]

    async def history(s, after, emit):
        """Replays s's log from disk to emit(list of (seq, line bytes)) and
        returns once caught up: the caller joins the live set in the same
        step (no await in between), so nothing is lost or doubled."""
        off, rest = 0, b""
        with open(s.path, "rb") as f:
            while off < s.size:
                f.seek(off)
                data = f.read(min(65536, s.size - off))
                off += len(data)
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                batch = []
                for ln in lines:
                    seq = int(ln[7:ln.index(b",")])
                    if seq > after:
                        batch.append((seq, ln))
                if batch:
                    await emit(batch)

    async def ws_handler(ws, path=None):
        u = urllib.parse.urlsplit(ws.path)
        r = _route(u.path)
        if not r or r[2] != "ws":
            await ws.close(1008, "not found")
            return
        after = int(urllib.parse.parse_qs(u.query).get("after", ["0"])[0])
        s = session(r[0], r[1])

        async def emit(batch):
            for _, ln in batch:
                await ws.send(ln.decode())
        try:
            await history(s, after, emit)
        except websockets.exceptions.ConnectionClosed:
            return
        s.ws.add(ws)
        try:
            await ws.wait_closed()
        finally:
            s.ws.discard(ws)

    def answer(writer, status, obj, close=False):
        body = json.dumps(obj).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: %s\r\n\r\n" % (status, len(body),
                                                  b"close" if close else b"keep-alive") + body)

    async def blast_conn(reader, writer, hdrs):
        key = hdrs.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        offered = [p.strip() for p in hdrs.get("sec-websocket-protocol", "").split(",")]
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n"
                      % (accept, "Sec-WebSocket-Protocol: %s\r\n" % PROTO
                         if PROTO in offered else "")).encode())
        blast.append(writer)
        try:
            if await reader.read(4096):  # the client's close frame: answer, end
                writer.write(b"\x88\x02\x03\xe8")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            if writer in blast:
                blast.remove(writer)

    def blast_go(query):
        q = urllib.parse.parse_qs(query)
        n, size = int(q["n"][0]), int(q["size"][0])
        ts, t = utc_ms(), time.time()
        frames = []
        for i in range(1, n + 1):
            p = ('{"seq":%d,"ts":"%s",' % (i, ts) + event_body(i, size, t)[1:]).encode()
            hdr = bytes([0x81, len(p)]) if len(p) < 126 else \
                bytes([0x81, 126]) + len(p).to_bytes(2, "big")
            frames.append(hdr + p)
        data = b"".join(frames)
        for w in blast:
            w.write(data)
        return {"clients": len(blast), "bytes": len(data)}

    async def http_conn(reader, writer):
        keep = True
        try:
            while keep:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                hdrs = {}
                for ln in lines[1:]:
                    k, sep, v = ln.partition(":")
                    if sep:
                        hdrs[k.strip().lower()] = v.strip()
                n = int(hdrs.get("content-length", "0"))
                body = await reader.readexactly(n) if n else b""
                path, _, query = target.partition("?")
                if method == "POST" and path == "/null":
                    answer(writer, 201, {"stored": body.count(b"\n") or 1})
                    continue
                if method == "POST" and path == "/blast-go":
                    answer(writer, 201, blast_go(query))
                    continue
                if method == "GET" and path == "/blast":
                    keep = False
                    await blast_conn(reader, writer, hdrs)
                    return
                r = _route(path)
                if not r or r[2] != "events":
                    answer(writer, 404, {"error": "not found"})
                    continue
                s = session(r[0], r[1])
                if method == "POST":
                    try:
                        first, last = append(s, body)
                    except ValueError as e:
                        answer(writer, 400, {"error": str(e)})
                        continue
                    answer(writer, 201, {"stored": last - first + 1, "first": first,
                                         "last": last})
                    continue
                # GET .../events: SSE, history then live, until the client goes
                keep = False
                after = int(urllib.parse.parse_qs(query).get("after", ["0"])[0])
                after = int(hdrs.get("last-event-id", after))
                writer.write(SSE_HEAD)

                async def emit(batch):
                    writer.write(b"".join(b"id: %d\ndata: %s\n\n" % (sq, ln) for sq, ln in batch))
                    await writer.drain()
                await history(s, after, emit)
                s.sse.add(writer)
                try:
                    while await reader.read(4096):
                        pass
                finally:
                    s.sse.discard(writer)
        except (ConnectionError, ValueError):
            pass
        finally:
            if writer not in blast:
                writer.close()

    ws_server = await websockets.serve(ws_handler, "127.0.0.1", 0, subprotocols=[PROTO],
                                       compression=None, ping_interval=None, max_size=1 << 20)
    http_server = await asyncio.start_server(http_conn, "127.0.0.1", 0, limit=1 << 20)
    pipe.send(("ports", ws_server.sockets[0].getsockname()[1],
               http_server.sockets[0].getsockname()[1]))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # until told to stop
    ws_server.close()
    http_server.close()


class RefServer:
    def __init__(self, ctx, directory):
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_ref_server, args=(child, directory, os.getpid()),
                                daemon=True)
        self.proc.start()
        child.close()
        if not self.pipe.poll(30):
            self.stop()
            raise RuntimeError("the reference server did not start")
        msg = self.pipe.recv()
        if msg[0] != "ports":
            self.stop()
            raise RuntimeError("the reference server: %s" % (msg,))
        self.ws_port, self.http_port = msg[1], msg[2]
        self.pid = self.proc.pid

    def stop(self):
        try:
            self.pipe.send("stop")
        except (OSError, ValueError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.pipe.close()


# ---- the two servers behind one interface ----

class Target:
    label = ""
    pid = None
    ns = ""

    def path(self, name, tail):
        return "/api/projects/%s/agentic-sessions/%s/%s" % (self.ns, name, tail)


class AmbientTarget(Target):
    label = "ambient"

    def __init__(self, cl, H, live_dir):
        self.cl, self.H = cl, H
        self.pid = cl.daemon.proc.pid
        self.live_dir = live_dir
        self.post_addr = self.ws_addr = self.sse_addr = cl.live_address
        self.ns = cl.make_project(prefix="bench", admins=["alice"], viewers=[])
        self.reader_token = H.ALICE

    def session_token(self, name):
        return self.cl.service_account_token(self.ns, "ambient-session-" + name)

    def log_path(self, name):
        return os.path.join(self.live_dir, self.ns, name + ".ndjson")


class RefTarget(Target):
    label = "python ref"

    def __init__(self, ref, ref_dir):
        self.ref = ref
        self.pid = ref.pid
        self.ns = REF_NS
        self.ref_dir = ref_dir
        self.post_addr = self.sse_addr = "127.0.0.1:%d" % ref.http_port
        self.ws_addr = "127.0.0.1:%d" % ref.ws_port
        self.reader_token = REF_TOKEN

    def session_token(self, name):
        return REF_TOKEN

    def log_path(self, name):
        return os.path.join(self.ref_dir, self.ns, name + ".ndjson")


def ws_url(target, name, after=0):
    return "ws://%s%s?after=%d" % (target.ws_addr, target.path(name, "ws"), after)


def ws_protocols(target):
    return [PROTO, "bearer." + b64url(target.reader_token)]


def uniq(prefix):
    return "%s-%s" % (prefix, os.urandom(4).hex())


# ---- raw clients: byte counting and stalled readers ----

def raw_ws_open(address, path, token, timeout=30):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s, bearer.%s\r\n\r\n"
               % (path, address, key, PROTO, b64url(token))).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            s.close()
            raise RuntimeError("WebSocket handshake: connection closed: %r" % buf[:200])
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0] + b" ":
        s.close()
        raise RuntimeError("WebSocket handshake: %r" % head[:200])
    return s, rest


def raw_ws_replay(target, name, expected_bytes, last_seq, timeout):
    """Seconds until expected_bytes of frames arrived (handshake included),
    and whether the last one was the last seq."""
    t0 = time.perf_counter()
    s, rest = raw_ws_open(target.ws_addr, target.path(name, "ws") + "?after=0",
                          target.reader_token, timeout)
    got, tail = len(rest), rest[-4096:]
    try:
        s.settimeout(timeout)
        while got < expected_bytes:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
            tail = (tail + d)[-4096:]
        took = time.perf_counter() - t0
    finally:
        s.close()
    ok = got >= expected_bytes and ('"seq":%d,' % last_seq).encode() in tail
    return took, got, ok


def sse_replay(target, name, expected_bytes, last_seq, timeout):
    """curl -N | head -c expected | tail -c 4096: seconds and a check of the
    end of the stream."""
    url = "http://%s%s" % (target.sse_addr, target.path(name, "events"))
    t0 = time.perf_counter()
    curl = subprocess.Popen([os.environ["CURL"], "-sS", "-N", "--max-time", str(int(timeout)),
                             "-H", "Authorization: Bearer " + target.reader_token, url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    head = subprocess.Popen(["head", "-c", str(expected_bytes)], stdin=curl.stdout,
                            stdout=subprocess.PIPE, start_new_session=True)
    curl.stdout.close()
    tail = subprocess.Popen(["tail", "-c", "4096"], stdin=head.stdout, stdout=subprocess.PIPE,
                            start_new_session=True)
    head.stdout.close()
    try:
        out, _ = tail.communicate(timeout=timeout + 10)
        took = time.perf_counter() - t0
    finally:
        for p in (curl, head, tail):
            if p.poll() is None:
                p.kill()
            p.wait()
    ok = out.endswith(b"\n\n") and (b"id: %d\ndata: " % last_seq) in out
    return took, ok


def stalled_replayers(target, name, n, settle, timeout=30):
    """n raw WebSocket late joiners that never read; returns the sockets
    (the caller closes them) and errors."""
    socks, errors = [], []
    for _ in range(n):
        try:
            s, _ = raw_ws_open(target.ws_addr, target.path(name, "ws") + "?after=0",
                               target.reader_token, timeout)
            socks.append(s)
        except (OSError, RuntimeError) as e:
            errors.append(str(e)[:200])
    time.sleep(settle)
    return socks, errors


# ---- the phases ----

def phase_ingest(args, target, rows, notes, null=False):
    batches = [int(b) for b in args.ingest_batches.split(",") if b]
    poster = Poster(target.post_addr)
    try:
        for b in batches:
            name = uniq("ingest-b%d" % b)
            path = "/null" if null else target.path(name, "events")
            token = target.session_token(name)
            # one warm-up post (the token's review is then cached)
            warm = ndjson_batch(0, 1, args.event_size, time.time())
            st, reply, _ = poster.post(path, warm, token)
            if st != 201:
                raise RuntimeError("%s: warm-up post: %s %r" % (target.label, st, reply))
            c0 = cpu_s(target.pid)
            f = post_run(poster, path, token, args.ingest_events, b, args.event_size,
                         time.time() + args.ingest_seconds)
            c1 = cpu_s(target.pid)
            f["cpu"] = None if c0 is None or c1 is None else c1 - c0
            f["batch"] = b
            rows.append(("client ceiling (201 stub)" if null else target.label, f))
            for e in f["errors"]:
                notes.append("%s ingest batch %d: %s" % (target.label, b, e))
    finally:
        poster.close()


def phase_fanout(args, ctx, target, n_subs, events, batch, rate, timeout):
    """One fan-out run; returns a dict of figures."""
    name = uniq("fan%d" % n_subs)
    token = target.session_token(name)
    poster = Poster(target.post_addr)
    subs = None
    try:
        st, reply, _ = poster.post(target.path(name, "events"),
                                   ndjson_batch(0, 1, args.event_size, time.time()), token)
        if st != 201:
            raise RuntimeError("%s: warm-up post: %s %r" % (target.label, st, reply))
        subs = Subscribers(ctx, args.client_procs, n_subs, ws_url(target, name, after=1),
                           ws_protocols(target), first=2, last=events + 1, timeout=timeout)
        connected, errors = subs.wait_ready()
        c0 = cpu_s(target.pid)
        t0 = time.time()
        f = post_run(poster, target.path(name, "events"), token, events, batch,
                     args.event_size, t0 + timeout, first_i=1, rate=rate)
        res = subs.results(timeout + 30)
        c1 = cpu_s(target.pid)
        rss = rss_kib(target.pid)
    finally:
        poster.close()
        if subs:
            subs.stop()
    lat = array.array("d")
    for r in res:
        lat.frombytes(r["lat"])
    lat = sorted(lat)
    delivered = sum(r["count"] for r in res)
    t_end = max([r["t_last"] for r in res if r["t_last"]] or [t0])
    complete = [r for r in res if r["count"] == events and r["bad"] is None and not r["dups"]]
    problems = [r["closed"] or ("out of order %r" % (r["bad"],)) for r in res
                if r not in complete]
    return {"subs": n_subs, "connected": connected, "connect_errors": errors,
            "posted": f["events"], "post_seconds": f["seconds"], "post_errors": f["errors"],
            "delivered": delivered, "seconds": t_end - t0,
            "rate": delivered / (t_end - t0) if t_end > t0 else None,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": lat[-1] if lat else None,
            "complete": len(complete), "problems": problems,
            "cpu": None if c0 is None or c1 is None else c1 - c0, "rss": rss,
            "post_p50": pct(f["lat"], 50), "post_p99": pct(f["lat"], 99)}


def phase_blast(args, ctx, ref, n_subs, events, timeout):
    """The client's ceiling: the same subscriber code fed pre-framed bytes."""
    addr = "127.0.0.1:%d" % ref.http_port
    subs = Subscribers(ctx, args.client_procs, n_subs, "ws://%s/blast" % addr,
                       [PROTO, "bearer." + b64url(REF_TOKEN)], first=1, last=events,
                       timeout=timeout, latency=False)
    poster = Poster(addr)
    try:
        connected, errors = subs.wait_ready()
        t0 = time.time()
        st, reply, _ = poster.post("/blast-go?n=%d&size=%d" % (events, args.event_size), b"",
                                   ctype="application/octet-stream")
        if st != 201:
            raise RuntimeError("blast: %s %r" % (st, reply))
        res = subs.results(timeout + 30)
    finally:
        poster.close()
        subs.stop()
    delivered = sum(r["count"] for r in res)
    t_end = max([r["t_last"] for r in res if r["t_last"]] or [t0])
    return {"subs": n_subs, "connected": connected, "delivered": delivered,
            "rate": delivered / (t_end - t0) if t_end > t0 else None,
            "complete": sum(1 for r in res if r["count"] == events and r["bad"] is None),
            "seconds": t_end - t0, "errors": errors}


def fill_log(args, target, name, notes):
    poster = Poster(target.post_addr)
    try:
        f = post_run(poster, target.path(name, "events"), target.session_token(name),
                     args.replay_events, 100, args.replay_size,
                     time.time() + args.replay_timeout)
    finally:
        poster.close()
    for e in f["errors"]:
        notes.append("%s filling the replay log: %s" % (target.label, e))
    return f


def phase_replay(args, ctx, target, name, exp):
    """The three late joiners on the log of name; a list of rows."""
    rows = []
    timeout = args.replay_timeout
    subs = Subscribers(ctx, 1, 1, ws_url(target, name, after=0), ws_protocols(target),
                       first=exp["first"], last=exp["last"], timeout=timeout, latency=False)
    try:
        subs.wait_ready()
        res = subs.results(timeout + 30)[0]
    finally:
        subs.stop()
    took = (res["t_last"] - res["t_start"]) if res["t_last"] else None
    ok = res["count"] == exp["events"] and res["bad"] is None and not res["dups"]
    rows.append(("WebSocket, websockets client (parses each frame)", exp["bytes"], res["count"],
                 took, ok, res["closed"]))
    took, got, ok = raw_ws_replay(target, name, exp["ws"], exp["last"], timeout)
    rows.append(("WebSocket, raw socket (counts bytes)", exp["bytes"], exp["events"] if ok else 0,
                 took, ok, None if ok else "got %d of %d bytes" % (got, exp["ws"])))
    took, ok = sse_replay(target, name, exp["sse"], exp["last"], timeout)
    rows.append(("SSE, curl -N | head -c", exp["bytes"], exp["events"] if ok else 0, took, ok,
                 None if ok else "stream incomplete or wrong end"))
    return rows


def make_cluster(H, live_dir, max_session):
    conf = ('rate_limit = { requests_per_second = 0; }; '
            'live = { listen = "127.0.0.1:0"; dir = "%s"; max_session = %d; };'
            % (live_dir, max_session))
    cl = H.Cluster(live=False, api_conf=conf)
    try:
        rec = cl.daemon.wait_for(lambda r: r.get("msg") == "live listening", timeout=30)
        cl.live_address = rec["address"]
    except BaseException:
        cl.close()
        raise
    return cl


def bench(args, H, tmp, ctx):
    out = {"ingest": [], "fanout": [], "blast": [], "replay": [], "rss": [], "notes": [],
           "log": []}
    notes = out["notes"]
    live_dir = os.path.join(tmp, "ambient-events")
    ref_dir = os.path.join(tmp, "ref-events")
    os.makedirs(live_dir, mode=0o700)
    replay_bytes = args.replay_events * (args.replay_size + 16)
    max_session = max(64 << 20, int(replay_bytes * 1.5))
    out["pingpong"] = pingpong()
    cl = make_cluster(H, live_dir, max_session)
    ref = None
    try:
        ref = RefServer(ctx, ref_dir)
        amb = AmbientTarget(cl, H, live_dir)
        rt = RefTarget(ref, ref_dir)
        targets = [amb] if args.no_ref else [amb, rt]

        def snap(what):
            out["rss"].append((what, rss_kib(amb.pid), rss_kib(ref.pid)))
        snap("start")

        # 4a. idle subscribers (first: a clean delta from the start)
        if args.idle_subscribers > 0:
            for t in targets:
                name = uniq("idle")
                subs = Subscribers(ctx, args.client_procs, args.idle_subscribers,
                                   ws_url(t, name), ws_protocols(t), mode="idle")
                try:
                    connected, errors = subs.wait_ready()
                    time.sleep(0.5)
                    if t is amb:
                        snap("%d idle WebSocket subscribers (%d connected)"
                             % (args.idle_subscribers, connected))
                    else:
                        out["rss"][-1] += (rss_kib(ref.pid),)
                    if errors:
                        notes.append("%s idle subscribers: %s" % (t.label, errors))
                    subs.release_idle()
                finally:
                    subs.stop()
            time.sleep(0.3)
            snap("idle subscribers gone")

        # 1. ingest
        if args.ingest_events > 0:
            for t in targets:
                phase_ingest(args, t, out["ingest"], notes)
            if not args.no_ref:
                phase_ingest(args, rt, out["ingest"], notes, null=True)
            snap("after ingest")

        # 2. fan-out
        subs_list = [int(s) for s in args.subscribers.split(",") if s]
        if args.fanout_events > 0:
            for n in subs_list:
                for t in targets:
                    f = phase_fanout(args, ctx, t, n, args.fanout_events, args.fanout_batch, 0,
                                     args.fanout_timeout)
                    f["mode"] = "burst, batches of %d" % args.fanout_batch
                    out["fanout"].append((t.label, f))
                if not args.no_ref:
                    out["blast"].append(phase_blast(args, ctx, ref, n, args.fanout_events,
                                                    args.fanout_timeout))
            if args.paced_rate > 0 and args.paced_events > 0 and subs_list:
                for n, t in [(n, t) for n in sorted({min(subs_list), max(subs_list)})
                             for t in targets]:
                    f = phase_fanout(args, ctx, t, n, args.paced_events, 1, args.paced_rate,
                                     args.fanout_timeout)
                    f["mode"] = "paced %g events/s, 1 per POST" % args.paced_rate
                    out["fanout"].append((t.label, f))
            snap("after fan-out")

        # 3. replay
        if args.replay_events > 0:
            name = uniq("replay")
            t0 = time.perf_counter()
            fill = fill_log(args, amb, name, notes)
            fill_s = time.perf_counter() - t0
            exp = log_expectations(amb.log_path(name))
            out["replay_fill"] = (fill, fill_s, exp)
            snap("replay log written (%.1f MB)" % (exp["bytes"] / 1e6))
            if not args.no_ref:
                os.makedirs(os.path.dirname(rt.log_path(name)), mode=0o700, exist_ok=True)
                shutil.copyfile(amb.log_path(name), rt.log_path(name))
            for t in targets:
                c0 = cpu_s(t.pid)
                rows = phase_replay(args, ctx, t, name, exp)
                c1 = cpu_s(t.pid)
                out["replay"].append((t.label, rows, None if c0 is None or c1 is None
                                      else c1 - c0))
            snap("after replay")

            # 4b. stalled late joiners on the big log
            if args.idle_subscribers > 0:
                for t in targets:
                    socks, errors = stalled_replayers(t, name, args.idle_subscribers,
                                                      args.stall_settle)
                    try:
                        if t is amb:
                            snap("%d stalled late joiners on the %.0f MB log (%d connected)"
                                 % (args.idle_subscribers, exp["bytes"] / 1e6, len(socks)))
                        else:
                            out["rss"][-1] += (rss_kib(ref.pid),)
                        if errors:
                            notes.append("%s stalled joiners: %s" % (t.label, errors[:3]))
                    finally:
                        for s in socks:
                            s.close()
                time.sleep(1.0)
                snap("stalled joiners gone")
        recs = cl.daemon.records()
        out["log"] = [r for r in recs if str(r.get("level", "")).lower() not in ("info", "debug")]
    finally:
        if ref:
            ref.stop()
        try:
            cl.close()
        except AssertionError as e:  # exit code or sanitizer report: say so, keep the figures
            notes.append("ambientd did not exit cleanly: %s" % str(e)[:2000])
    return out


# ---- the report ----

def report(args, out):
    mb = 1e6
    print("## live_bench: %s; %d CPUs, load average %s" % (
        os.environ["AMBIENTD"], os.cpu_count() or 0,
        " ".join("%.2f" % x for x in os.getloadavg())))
    print()
    pp = out.get("pingpong") or (None, None)
    print("Platform: one-byte round trip between two processes (socketpair) p50 %s, p99 %s; "
          "every figure below includes such wake-ups." % (fmt_ms(pp[0]), fmt_ms(pp[1])))
    print()
    print("Events of ~%d bytes stored; subscribers: asyncio + websockets %s in %d process(es); "
          "poster: http.client, one keep-alive connection. Reference: pure Python asyncio "
          "(websockets.serve + websockets.broadcast), one process." % (
              args.event_size, _ws_version(), args.client_procs))
    if out["ingest"]:
        print()
        print("### 1. Ingest (runner POST .../events, NDJSON)")
        print()
        print("| server | events/POST | POSTs | events | events/s | POSTs/s | MB/s | p50/POST "
              "| p99/POST | server CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, f in out["ingest"]:
            s = f["seconds"] or 1e-9
            print("| %s | %d | %d | %d | %s | %s | %.1f | %s | %s | %s |" % (
                label, f["batch"], f["posts"], f["events"], fmt_rate(f["events"] / s),
                fmt_rate(f["posts"] / s), f["bytes"] / s / mb, fmt_ms(pct(f["lat"], 50)),
                fmt_ms(pct(f["lat"], 99)), fmt_cpu(f["cpu"])))
        by = {(lb, f["batch"]): f for lb, f in out["ingest"]}
        refs = [(b, f) for (lb, b), f in by.items() if lb == "python ref"]
        if refs:
            print()
            print("| ambient / python ref | events/s | p50 | p99 |")
            print("|---|---|---|---|")
            for b, rf in refs:
                af = by.get(("ambient", b))
                if af:
                    print("| %d per POST | %s | %s | %s |" % (
                        b, fmt_ratio(af["events"] / af["seconds"], rf["events"] / rf["seconds"]),
                        fmt_ratio(pct(af["lat"], 50), pct(rf["lat"], 50)),
                        fmt_ratio(pct(af["lat"], 99), pct(rf["lat"], 99))))
    if out["fanout"]:
        print()
        print("### 2. Fan-out (S WebSocket subscribers on one session, the runner posting)")
        print()
        print("| server | run | S | events | delivered | delivered events/s | e2e p50 | e2e p99 "
              "| e2e max | POST p50 | all got all, in order | server CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for label, f in out["fanout"]:
            print("| %s | %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                label, f["mode"], f["subs"], f["posted"], f["delivered"], fmt_rate(f["rate"]),
                fmt_ms(f["p50"]), fmt_ms(f["p99"]), fmt_ms(f["max"]), fmt_ms(f["post_p50"]),
                "yes" if f["complete"] == f["subs"] else "NO (%d/%d)" % (f["complete"], f["subs"]),
                fmt_cpu(f["cpu"])))
        for b in out["blast"]:
            print("| client ceiling (pre-framed bytes) | blast | %d | %d | %d | %s | - | - | - | - "
                  "| %s | - |" % (b["subs"], args.fanout_events, b["delivered"],
                                  fmt_rate(b["rate"]),
                                  "yes" if b["complete"] == b["subs"] else
                                  "NO (%d/%d)" % (b["complete"], b["subs"])))
        print()
        print("Burst runs post as fast as the server answers: where the subscribers' process is "
              "the bottleneck (compare the client ceiling), e2e latency is mostly their backlog, "
              "and a server that answers POSTs faster builds a longer one. The paced run keeps "
              "the delivery rate below the ceiling.")
        pairs = {}
        for label, f in out["fanout"]:
            pairs.setdefault((f["mode"], f["subs"]), {})[label] = f
        rows = [(k, v) for k, v in pairs.items() if "ambient" in v and "python ref" in v]
        if rows:
            print()
            print("| ambient / python ref | delivered events/s | e2e p50 | e2e p99 | server CPU |")
            print("|---|---|---|---|---|")
            for (mode, s), v in rows:
                a, r = v["ambient"], v["python ref"]
                print("| %s, S=%d | %s | %s | %s | %s |" % (
                    mode, s, fmt_ratio(a["rate"], r["rate"]), fmt_ratio(a["p50"], r["p50"]),
                    fmt_ratio(a["p99"], r["p99"]), fmt_ratio(a["cpu"], r["cpu"])))
        if out["blast"]:
            print()
            print("| share of the client ceiling (delivered events/s) | ambient | python ref |")
            print("|---|---|---|")
            for b in out["blast"]:
                v = pairs.get(("burst, batches of %d" % args.fanout_batch, b["subs"]), {})
                print("| S=%d | %s | %s |" % (
                    b["subs"],
                    "%.0f%%" % (100 * v["ambient"]["rate"] / b["rate"])
                    if v.get("ambient") and v["ambient"]["rate"] and b["rate"] else "-",
                    "%.0f%%" % (100 * v["python ref"]["rate"] / b["rate"])
                    if v.get("python ref") and v["python ref"]["rate"] and b["rate"] else "-"))
    if out["replay"]:
        fill, fill_s, exp = out["replay_fill"]
        print()
        print("### 3. Replay (a late joiner from seq 0)")
        print()
        print("Log: %d events, %.1f MB (written by the runner in %d POSTs of 100 in %.1f s: "
              "%.0f events/s, %.1f MB/s into ambient)." % (
                  exp["events"], exp["bytes"] / mb, fill["posts"], fill_s,
                  fill["events"] / fill_s, exp["bytes"] / fill_s / mb))
        print()
        print("| server | client | MB | events | seconds | MB/s | events/s | complete |")
        print("|---|---|---|---|---|---|---|---|")
        for label, rows, cpu in out["replay"]:
            for what, nbytes, nev, took, ok, why in rows:
                print("| %s | %s | %.1f | %d | %s | %s | %s | %s |" % (
                    label, what, nbytes / mb, nev, "%.2f" % took if took else "-",
                    "%.1f" % (nbytes / took / mb) if took and ok else "-",
                    fmt_rate(nev / took) if took and ok else "-",
                    "yes" if ok else "NO: %s" % why))
        if len(out["replay"]) == 2:
            print()
            print("| ambient / python ref (MB/s) | ratio |")
            print("|---|---|")
            for (what, _, _, ta, oka, _), (_, _, _, tr, okr, _) in zip(out["replay"][0][1],
                                                                     out["replay"][1][1]):
                print("| %s | %s |" % (what, fmt_ratio(tr, ta) if oka and okr else "-"))
            print()
            print("Server CPU over the three replays: ambient %s, python ref %s." % (
                fmt_cpu(out["replay"][0][2]), fmt_cpu(out["replay"][1][2])))
    print()
    print("### 4. Memory")
    print()
    print("| point | ambientd VmRSS | ambientd VmHWM | python ref VmRSS | python ref, same load |")
    print("|---|---|---|---|---|")
    for row in out["rss"]:
        what, a, r = row[0], row[1], row[2]
        same = row[3] if len(row) > 3 else {}
        print("| %s | %s KiB | %s KiB | %s KiB | %s |" % (
            what, a.get("VmRSS", "?"), a.get("VmHWM", "?"), r.get("VmRSS", "?"),
            "%s KiB" % same["VmRSS"] if same.get("VmRSS") else "-"))
    notes = list(out["notes"])
    for label, f in out["fanout"]:
        if f["connected"] != f["subs"]:
            notes.append("%s fan-out S=%d: only %d subscribers connected %s" % (
                label, f["subs"], f["connected"], f["connect_errors"]))
        if f["problems"]:
            notes.append("%s fan-out S=%d (%s): %d subscribers incomplete: %s" % (
                label, f["subs"], f["mode"], len(f["problems"]), sorted(set(f["problems"]))[:3]))
        for e in f["post_errors"]:
            notes.append("%s fan-out S=%d post: %s" % (label, f["subs"], e))
    for r in out["log"]:
        notes.append("ambientd logged [%s] %s %s" % (
            r.get("level"), r.get("msg"),
            {k: v for k, v in r.items() if k not in ("level", "msg", "ts", "time")}))
    if notes:
        print()
        for n in notes[:40]:
            print("note: " + n)
        if len(notes) > 40:
            print("note: ... %d more" % (len(notes) - 40))


def _ws_version():
    try:
        import websockets
        return websockets.__version__
    except ImportError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", help="build tree holding bin/ambientd and lib/ambient/"
                    "plugins (default: AMBIENTD, else %s)" % ", ".join(BUILD_CANDIDATES))
    ap.add_argument("--event-size", type=int, default=300,
                    help="bytes of a stored event in ingest and fan-out (300)")
    ap.add_argument("--ingest-events", type=int, default=20000,
                    help="events per ingest run, 0 to skip (20000)")
    ap.add_argument("--ingest-batches", default="1,10,100", help="events per POST (1,10,100)")
    ap.add_argument("--ingest-seconds", type=float, default=5.0,
                    help="cap on one ingest run (5)")
    ap.add_argument("--subscribers", default="1,10,100", help="fan-out sizes (1,10,100)")
    ap.add_argument("--fanout-events", type=int, default=2000,
                    help="events per fan-out run, 0 to skip (2000)")
    ap.add_argument("--fanout-batch", type=int, default=10, help="events per POST in fan-out (10)")
    ap.add_argument("--fanout-timeout", type=float, default=20.0,
                    help="cap on one fan-out run, seconds (20)")
    ap.add_argument("--paced-rate", type=float, default=200.0,
                    help="events/s of the paced fan-out runs (smallest and largest S), 0 to skip "
                    "(200)")
    ap.add_argument("--paced-events", type=int, default=600,
                    help="events of the paced run (600)")
    ap.add_argument("--replay-events", type=int, default=100000,
                    help="events in the replayed log, 0 to skip (100000)")
    ap.add_argument("--replay-size", type=int, default=500,
                    help="bytes of a replayed event (500: 100k events = 50 MB)")
    ap.add_argument("--replay-timeout", type=float, default=30.0,
                    help="cap on writing the log and on each replay, seconds (30)")
    ap.add_argument("--idle-subscribers", type=int, default=100,
                    help="idle subscribers and stalled late joiners for the RSS rows (100)")
    ap.add_argument("--stall-settle", type=float, default=2.0,
                    help="seconds the stalled joiners sit before RSS is read (2)")
    ap.add_argument("--client-procs", type=int, default=1,
                    help="processes the subscribers are spread over (1)")
    ap.add_argument("--no-ref", action="store_true", help="ambient only, no reference server")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (a smoke run of ~20 s)")
    if "--quick" in sys.argv[1:]:  # new defaults; explicit flags still win
        ap.set_defaults(ingest_events=2000, ingest_seconds=2.0, fanout_events=300,
                        paced_events=200, replay_events=10000, idle_subscribers=20,
                        stall_settle=0.5)
    args = ap.parse_args()
    if args.client_procs < 1:
        ap.error("--client-procs must be at least 1")
    setup_env("live_bench", args.build_dir, {"CURL": "/usr/bin/curl"})
    import apiharness as H  # noqa: E402  (reads the environment set above)

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)

    ctx = multiprocessing.get_context("spawn")
    tmp = tempfile.mkdtemp(prefix="livebench-")
    t0 = time.monotonic()
    try:
        out = bench(args, H, tmp, ctx)
    finally:
        for p in multiprocessing.active_children():  # anything a failure left behind
            p.terminate()
            p.join(5)
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, out)
    print()
    print("(run took %.0f s)" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
