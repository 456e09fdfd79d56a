"""Hostile clients against both listeners of api.so (REST and live), in a
real ambientd with small limits (apiharness.py): what one client without a
token may make the daemon hold — memory, connections, body budget, time —
stays bounded, and other clients are still served meanwhile.

Memory is measured as the growth of ambientd's VmRSS from just before an
attack, with generous bounds (the unbounded daemon grew by gigabytes in
the same time). Every loop is bounded in count and time; raw sockets,
because these clients misbehave on purpose."""
import base64
import itertools
import json
import os
import resource
import shutil
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiharness as H  # noqa: E402

MAX_BODY = 64 * 1024
MAX_EVENT = 64 * 1024
CLIENT_BUF = 256 * 1024
HEAD_TIMEOUT = 2
BODY_TIMEOUT = 3
MAX_CONNS = 64
PER_CLIENT = 16
BODIES_PER_CLIENT = 4 * MAX_BODY
ATTACK_S = 3.0
MIB = 1 << 20
LIVE_DIR = tempfile.mkdtemp(prefix="abuse-events-")
# AddressSanitizer (the sanitize build) keeps freed memory in a quarantine
# of 256 MiB, which served requests fill whatever the daemon holds: keep it
# small, so RSS measures what is held.
os.environ["ASAN_OPTIONS"] = ":".join(
    x for x in (os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=1") if x)
CONF = (f'max_body = {MAX_BODY}; head_timeout = {HEAD_TIMEOUT}; body_timeout = {BODY_TIMEOUT}; '
        f'max_connections = {MAX_CONNS}; max_connections_per_client = {PER_CLIENT}; '
        f'max_bodies = {4 * BODIES_PER_CLIENT}; max_bodies_per_client = {BODIES_PER_CLIENT}; '
        f'rate_limit = {{ requests_per_second = 0; }}; '
        f'live = {{ listen = "127.0.0.1:0"; dir = "{LIVE_DIR}"; max_event = {MAX_EVENT}; '
        f'max_client_buffer = {CLIENT_BUF}; max_connections = {MAX_CONNS}; '
        f'max_connections_per_client = {PER_CLIENT}; }};')


def tearDownModule():
    shutil.rmtree(LIVE_DIR, ignore_errors=True)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(address, source="127.0.0.1", timeout=5.0):
    host, port = address.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((host, int(port)))
    return s


def read_reply(s, timeout=5.0):
    """One HTTP reply head and its Content-Length body: (status, headers, body)."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    if not lines[0].startswith("HTTP/1."):
        raise AssertionError("no reply: %r" % data[:200])
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    want = int(headers.get("content-length", "0"))
    while len(body) < want and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def closed_within(s, seconds):
    """True when the server closes s (EOF or reset) within seconds; what it
    sent before that (a 408) is read and dropped."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def flood(s, payload, seconds):
    """Sends payload over and over for seconds without reading anything;
    returns the bytes the kernel took."""
    s.setblocking(False)
    sent, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent += s.send(payload)
        except BlockingIOError:
            time.sleep(0.005)
        except (ConnectionResetError, BrokenPipeError):
            break
    return sent


def ws_frame(opcode, payload=b""):
    """A masked client frame (payload < 126 bytes)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked


class AbuseTest(H.ApiTest):
    cluster_args = {"live": False, "api_conf": CONF}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rec = cls.cluster.daemon.wait_for(lambda r: r.get("msg") == "live listening")
        cls.cluster.live_address = cls.live = rec["address"]
        cls.rest = cls.cluster.rest_address
        cls.pid = cls.cluster.daemon.proc.pid
        cls.ns = cls.cluster.make_project(admins=["alice"])

    def path(self, name, tail):
        return f"/api/projects/{self.ns}/agentic-sessions/{name}/{tail}"

    def assertServed(self, address, path="/health"):
        """A well-behaved client is still answered promptly."""
        t0 = time.monotonic()
        r = H.http_request(address, "GET", path, token=H.ALICE, timeout=10)
        self.assertLess(r.status, 500, r)
        self.assertLess(time.monotonic() - t0, 5.0)

    def assertGrewLess(self, before, limit, what):
        grown = rss_bytes(self.pid) - before
        sys.stderr.write("%s: ambientd grew by %.1f MiB\n" % (what, grown / MIB))
        self.assertLess(grown, limit, "%s: ambientd grew by %.1f MiB" % (what, grown / MIB))

    # ---- REST ----
    def test_rest_pipelining_without_reading_is_bounded(self):
        before = rss_bytes(self.pid)
        s = connect(self.rest)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            flood(s, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 256, ATTACK_S)
            self.assertGrewLess(before, 64 * MIB, "REST pipelining")
        finally:
            s.close()
        self.assertServed(self.rest)

    def test_rest_body_refused_from_the_head(self):
        """No token, or over max_body: the answer comes before any body byte."""
        for token, status in ((None, 401), (H.ALICE, 413)):
            s = connect(self.rest)
            try:
                auth = f"Authorization: Bearer {token}\r\n" if token else ""
                s.sendall(("POST /api/projects HTTP/1.1\r\nHost: x\r\n" + auth +
                           "Content-Type: application/json\r\n"
                           "Content-Length: 1000000000\r\n\r\n").encode())
                st, headers, body = read_reply(s, timeout=5)
                self.assertEqual(st, status, body)
                self.assertEqual(headers.get("connection"), "close")
                self.assertIn("error", json.loads(body))
            finally:
                s.close()

    def rest_post(self, path, rest):
        """A new REST connection that sent a POST head with alice's token,
        then rest (more headers, the blank line, maybe a body)."""
        s = connect(self.rest)
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {H.ALICE}\r\n" + rest).encode())
        return s

    def test_rest_conflicting_framing_refused(self):
        heads = ("Content-Length: 2\r\nContent-Length: 20\r\n",
                 "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n")
        for framing in heads:
            # one framing gives a whole request (405), the other a 400
            s = self.rest_post("/health", "Content-Type: application/json\r\n" + framing +
                               "\r\n{}")
            try:
                st, _, body = read_reply(s)
                self.assertEqual(st, 400, (framing, body))
            finally:
                s.close()

    def test_rest_chunked_body_needs_length(self):
        s = self.rest_post("/health", "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        try:
            st, _, body = read_reply(s)
            self.assertEqual(st, 411, body)
        finally:
            s.close()

    def assertCutWhileTrickling(self, s, data, deadline):
        """Sending data a byte every 0.3 s (each well within the idle
        timeout), s is closed within deadline plus slack."""
        t0 = time.monotonic()
        try:
            for b in itertools.cycle(data):
                if time.monotonic() - t0 > deadline + 4:
                    self.fail("a client trickling for %d s was not cut" % (deadline + 4))
                try:
                    s.send(bytes([b]))
                except (ConnectionResetError, BrokenPipeError):
                    return
                if closed_within(s, 0.3):
                    return
        finally:
            s.close()

    def test_rest_slow_head_cut_on_deadline(self):
        self.assertCutWhileTrickling(connect(self.rest), b"GET /health HTTP/1.1\r\nX-Pad: " +
                                     b"a" * 100, HEAD_TIMEOUT)

    def test_rest_slow_body_cut_on_deadline(self):
        s = self.rest_post("/api/projects",
                           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        self.assertCutWhileTrickling(s, b" " * 100, BODY_TIMEOUT)

    def hold_connections(self, address, source, n):
        """n connections from source, each with a partial head; returns the
        ones the server has not closed after a moment."""
        socks = []
        for _ in range(n):
            try:
                s = connect(address, source, timeout=2)
                s.send(b"GET /health HTTP/1.1\r\n")
                socks.append(s)
            except OSError:
                break
        time.sleep(0.5)
        return [s for s in socks if not closed_within(s, 0.01)], socks

    def per_client_capped(self, address):
        held, socks = self.hold_connections(address, "127.0.0.2", PER_CLIENT * 3)
        try:
            self.assertLessEqual(len(held), PER_CLIENT)
            self.assertServed(address, "/health" if address == self.rest
                              else self.path("x", "messages"))
        finally:
            for s in socks:
                s.close()

    def test_rest_connections_per_client_capped(self):
        self.per_client_capped(self.rest)

    def test_live_connections_per_client_capped(self):
        self.per_client_capped(self.live)

    def test_rest_out_of_descriptors_backs_off(self):
        """Past the open-file limit, accept fails: the daemon sheds the
        connection instead of spinning on it, and logs it rarely."""
        pid = self.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        used = len(os.listdir(f"/proc/{pid}/fd"))
        socks = []
        log_before = len(self.cluster.daemon.lines)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 8, hard))
        try:
            for i in range(40):  # from several addresses: past the per-client cap
                try:
                    socks.append(connect(self.rest, "127.0.0.%d" % (3 + i // 10), timeout=2))
                except OSError:
                    pass
            cpu0 = cpu_seconds(pid)
            time.sleep(2.0)
            cpu = cpu_seconds(pid) - cpu0
            sys.stderr.write("out of descriptors: %.2f CPU-s in 2 s\n" % cpu)
            self.assertLess(cpu, 1.0, "ambientd spun on accept: %.2f CPU-s in 2 s" % cpu)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            for s in socks:
                s.close()
        lines = self.cluster.daemon.lines[log_before:]
        accept_lines = [x for x in lines if "accept" in x.lower()]
        self.assertLess(len(accept_lines), 20, accept_lines[:5])
        H.wait_until(lambda: len(os.listdir(f"/proc/{pid}/fd")) < used + 8, 10, 0.1,
                     "the attack's descriptors closed")
        self.assertServed(self.rest)

    # ---- live ----
    def fat_session(self):
        """A session whose transcript page is ~CLIENT_BUF/2: each GET of it
        answers a few hundred bytes of request with that much."""
        name = self.cluster.make_session(self.ns)["name"]  # live serves only sessions that exist
        runner = self.cluster.service_account_token(self.ns, "ambient-session-" + name)
        for _ in range(3):
            r = H.http_request(self.live, "POST", self.path(name, "events"), token=runner,
                               body={"type": "x", "pad": "p" * (MAX_EVENT - 200)})
            self.assertEqual(r.status, 201, r)
        return name

    def test_live_pipelining_without_reading_is_bounded(self):
        req = (f"GET {self.path(self.fat_session(), 'messages')} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {H.ALICE}\r\n\r\n").encode()
        before = rss_bytes(self.pid)
        s = connect(self.live)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            flood(s, req * 64, ATTACK_S)
            self.assertGrewLess(before, 16 * MIB, "live pipelining")
        finally:
            s.close()
        self.assertServed(self.live, self.path("x", "messages"))

    def test_live_ws_frames_without_reading_are_bounded(self):
        """Pings (answered by pongs) and bad messages (answered by error
        frames) from a client that never reads."""
        name = self.cluster.make_session(self.ns)["name"]  # live serves only sessions that exist
        before = rss_bytes(self.pid)
        s = connect(self.live)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            bearer = base64.urlsafe_b64encode(H.ALICE.encode()).decode().rstrip("=")
            s.sendall((f"GET {self.path(name, 'ws')} HTTP/1.1\r\nHost: x\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       f"Sec-WebSocket-Protocol: ambient.v1, bearer.{bearer}\r\n\r\n").encode())
            st, _, _ = read_reply(s, timeout=10)
            self.assertEqual(st, 101)
            frames = (ws_frame(0x9, b"p" * 125) + ws_frame(0x1, b"x") * 32) * 64
            flood(s, frames, ATTACK_S)
            self.assertGrewLess(before, 16 * MIB, "WebSocket pings and bad messages")
        finally:
            s.close()
        self.assertServed(self.live, self.path("x", "messages"))

    def test_live_junk_token_bodies_do_not_block_the_runner(self):
        name = self.cluster.make_session(self.ns)["name"]  # live serves only sessions that exist
        runner = self.cluster.service_account_token(self.ns, "ambient-session-" + name)
        slow = []
        try:
            for i in range(16):
                s = connect(self.live, "127.0.0.%d" % (20 + i // 8))
                s.sendall((f"POST {self.path(name, 'events')} HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer junk\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {MAX_EVENT}\r\n\r\n{{").encode())
                slow.append(s)
            time.sleep(0.5)
            r = H.http_request(self.live, "POST", self.path(name, "events"), token=runner,
                               body={"type": "hello"}, timeout=10)
            self.assertEqual(r.status, 201, r)
        finally:
            for s in slow:
                s.close()

    def test_rest_slow_bodies_with_a_junk_token_hold_only_their_share(self):
        """A body with any token is read before its review; slow ones from
        one address may hold at most max_bodies_per_client, so the next
        gets 503 at once and other clients' bodies still go through."""
        path = f"/api/projects/{self.ns}/agentic-sessions"
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer junk\r\n"
                f"Content-Type: application/json\r\nContent-Length: {MAX_BODY}\r\n\r\n{{")
        slow = []
        try:
            for _ in range(BODIES_PER_CLIENT // MAX_BODY):
                s = connect(self.rest, "127.0.0.30")
                s.sendall(head.encode())
                slow.append(s)
            time.sleep(0.3)
            s = connect(self.rest, "127.0.0.30")
            slow.append(s)
            s.sendall(head.encode())
            st, headers, body = read_reply(s)
            self.assertEqual(st, 503, body)
            self.assertEqual(headers.get("retry-after"), "1", headers)
            r = H.http_request(self.rest, "POST", path, token=H.ALICE, body={"bogus": 1},
                               timeout=10)
            self.assertIn(r.status, (400, 422), r)
        finally:
            for s in slow:
                s.close()

    def test_live_slow_head_cut_on_deadline(self):
        head = f"GET {self.path('s', 'messages')} HTTP/1.1\r\nX-Pad: {'a' * 100}".encode()
        self.assertCutWhileTrickling(connect(self.live), head, HEAD_TIMEOUT)

    def test_live_conflicting_content_length_refused(self):
        s = connect(self.live)
        try:
            s.sendall((f"POST {self.path('s', 'events')} HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer junk\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\nContent-Length: 20\r\n\r\n{}").encode())
            st, _, body = read_reply(s)
            self.assertEqual(st, 400, body)
        finally:
            s.close()


class LimitsConfigTest(unittest.TestCase):
    """Bad limits fail the load, each named by its key."""

    def test_bad_limits_are_named(self):
        from daemon import run, write_config
        conf = write_config(f"""
plugins = [ "{H.PLUGINS['api']}" ];
api = {{ listen = "127.0.0.1:0"; head_timeout = 0; max_connections = 10;
         max_connections_per_client = 11;
         live = {{ listen = "127.0.0.1:0"; dir = "{LIVE_DIR}"; max_connections = 0; }}; }};
""")
        try:
            code, out, err = run("--check-config", conf)
        finally:
            os.unlink(conf)
        self.assertEqual(code, 2, err)
        for key in ("api.head_timeout", "api.live.max_connections"):
            self.assertIn(key, err)
        conf = write_config(f"""
plugins = [ "{H.PLUGINS['api']}" ];
api = {{ listen = "127.0.0.1:0"; max_connections = 10; max_connections_per_client = 11; }};
""")
        try:
            code, out, err = run("--check-config", conf)
        finally:
            os.unlink(conf)
        self.assertEqual(code, 2, err)
        self.assertIn("api.max_connections_per_client", err)


if __name__ == "__main__":
    unittest.main()
