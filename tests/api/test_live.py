"""Live updates of api.so (api/live): the session event store and its
streams, against a real ambientd and kubesim (apiharness.py); the session
status feed's list and watch, throttled with Retry-After, wait that long.

Independent clients: Debian's python3-websockets (10.4, asyncio) for
WebSocket, curl -N for Server-Sent Events, raw sockets where a client must
misbehave (never read, send unmasked frames)."""
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiharness as H  # noqa: E402
import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

MAX_EVENT = 64 * 1024
MAX_SESSION = 8 << 20
CLIENT_BUF = 256 * 1024
ORIGIN = "https://ui.example"
LIVE_DIR = tempfile.mkdtemp(prefix="live-events-")
LIVE_CONF = (f'allowed_origins = ["{ORIGIN}"]; '
             f'live = {{ listen = "127.0.0.1:0"; dir = "{LIVE_DIR}"; max_event = {MAX_EVENT}; '
             f'max_session = {MAX_SESSION}; max_client_buffer = {CLIENT_BUF}; auth_threads = 3; }};')


def tearDownModule():
    shutil.rmtree(LIVE_DIR, ignore_errors=True)


def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def sess_path(ns, name, tail):
    return f"/api/projects/{ns}/agentic-sessions/{name}/{tail}"


class LiveTest(H.ApiTest):
    cluster_args = {"live": False, "api_conf": LIVE_CONF}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.addr = cls.wait_live()
        cls.ns = cls.cluster.make_project(admins=["alice"], viewers=["carol"])

    @classmethod
    def wait_live(cls):
        rec = cls.cluster.daemon.wait_for(lambda r: r.get("msg") == "live listening")
        cls.cluster.live_address = rec["address"]
        return rec["address"]

    # ---- helpers ----
    def req(self, method, path, **kw):
        return H.http_request(self.addr, method, path, **kw)

    def session(self, ns=None):
        """A new AgenticSession's name: the live service keeps logs only for
        sessions that exist."""
        return self.cluster.make_session(ns or self.ns)["name"]

    def runner_token(self, name, ns=None):
        return self.cluster.service_account_token(ns or self.ns, "ambient-session-" + name)

    def post_events(self, name, token, events, ns=None):
        raw = "".join(json.dumps(e) + "\n" for e in events).encode()
        return self.req("POST", sess_path(ns or self.ns, name, "events"), token=token, raw=raw,
                        ctype="application/x-ndjson")

    def ws_url(self, name, after=None, ns=None):
        q = "" if after is None else f"?after={after}"
        return f"ws://{self.addr}{sess_path(ns or self.ns, name, 'ws')}{q}"

    def ws_connect(self, name, token, after=None, origin=ORIGIN, **kw):
        protos = ["ambient.v1"] + (["bearer." + b64url(token)] if token else [])
        return websockets.connect(self.ws_url(name, after), subprotocols=protos,
                                  origin=origin, max_size=4 * MAX_EVENT, **kw)

    async def ws_collect(self, ws, until_seq, timeout=H.WAIT):
        got = []
        while not got or got[-1]["seq"] < until_seq:
            ev = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if "seq" in ev:
                got.append(ev)
        return got

    def ws_status(self, name, token, origin=ORIGIN, headers=None):
        """The HTTP status a refused handshake gets (101 when accepted)."""
        async def go():
            try:
                async with websockets.connect(
                        self.ws_url(name),
                        subprotocols=["ambient.v1"] + (["bearer." + b64url(token)] if token else []),
                        origin=origin, extra_headers=headers or {}):
                    return 101
            except websockets.exceptions.InvalidStatusCode as e:
                return e.status_code
        return asyncio.run(go())

    # ---- tests ----
    def test_history_then_live_no_gaps(self):
        name = self.session()
        tok = self.runner_token(name)
        r = self.post_events(name, tok, [{"type": "system", "i": i} for i in range(1, 51)])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body, {"stored": 50, "first": 1, "last": 50})
        total = 300

        def writer():
            for i in range(51, total + 1):
                rr = self.post_events(name, tok, [{"type": "assistant", "i": i}])
                assert rr.status == 201, rr

        async def go():
            async with self.ws_connect(name, H.ALICE) as ws:
                self.assertEqual(ws.subprotocol, "ambient.v1")
                t = threading.Thread(target=writer)
                t.start()
                try:
                    got = await self.ws_collect(ws, total)
                finally:
                    await asyncio.get_running_loop().run_in_executor(None, t.join)
                return got
        got = asyncio.run(go())
        self.assertEqual([e["seq"] for e in got], list(range(1, total + 1)))
        self.assertEqual([e["i"] for e in got], list(range(1, total + 1)))
        for e in got:
            self.assertRegex(e["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

        # a late joiner from ?after=: history from there on, then live
        async def late():
            async with self.ws_connect(name, H.ALICE, after=total - 5) as ws:
                first = await self.ws_collect(ws, total)
                r2 = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: self.post_events(name, tok, [{"type": "result"}]))
                self.assertEqual(r2.status, 201, r2)
                more = await self.ws_collect(ws, total + 1)
                return first + more
        got = asyncio.run(late())
        self.assertEqual([e["seq"] for e in got], list(range(total - 4, total + 2)))
        self.assertEqual(got[-1]["type"], "result")

    def test_sse_history_live_and_resume(self):
        name = self.session()
        tok = self.runner_token(name)
        self.assertEqual(self.post_events(name, tok, [{"type": "a", "n": i} for i in range(5)]).status, 201)
        url = f"http://{self.addr}{sess_path(self.ns, name, 'events')}"
        sse = H.CurlStream("-H", "Authorization: Bearer " + H.ALICE, url)
        self.addCleanup(sse.close)
        sse.read_until(lambda line: line == "id: 5")  # the history; then a live event
        self.assertEqual(self.post_events(name, tok, [{"type": "b"}]).status, 201)
        out = sse.read_until(lambda line: line.startswith("data: ") and '"seq":6' in line)
        ids = H.sse_ids(out)
        data = [json.loads(line[6:]) for line in out if line.startswith("data: ")]
        self.assertEqual(ids, [1, 2, 3, 4, 5, 6], out)
        self.assertEqual([d["seq"] for d in data], ids)
        self.assertEqual(data[-1]["type"], "b")
        # resume with Last-Event-ID, and with ?after=
        for extra, q in ((["-H", "Last-Event-ID: 4"], ""), ([], "?after=4"),
                         (["-H", "Last-Event-ID: 4"], "?after=1")):
            resumed = H.CurlStream("-H", "Authorization: Bearer " + H.ALICE, *extra, url + q)
            try:
                out = resumed.read_until(lambda line: line == "id: 6")
            finally:
                resumed.close()
            self.assertEqual(H.sse_ids(out), [5, 6], out)

    def test_auth_and_origin(self):
        name = self.session()
        self.assertEqual(self.ws_status(name, H.ALICE), 101)
        self.assertEqual(self.ws_status(name, H.ALICE, origin=None), 101)
        self.assertEqual(self.ws_status(name, H.ALICE, origin="https://evil.example"), 403)
        self.assertEqual(self.ws_status(name, None), 401)
        self.assertEqual(self.ws_status(name, "not-a-token"), 401)
        self.assertEqual(self.ws_status(name, H.BOB), 403)
        self.assertEqual(self.ws_status(name, H.CAROL), 101)  # a viewer reads
        # non-browser clients: the Authorization header
        self.assertEqual(self.ws_status(name, None, headers={"Authorization": "Bearer " + H.ALICE}), 101)
        self.assertEqual(self.ws_status(name, None, headers={"X-Forwarded-Access-Token": H.ALICE}), 101)
        # never from the URL
        r = self.req("GET", sess_path(self.ns, name, "events") + "?token=" + H.ALICE)
        self.assertError(r, 401)
        self.assertError(self.req("GET", sess_path(self.ns, name, "events"), token=H.BOB), 403)
        self.assertError(self.req("GET", sess_path(self.ns, name, "messages"), token=H.BOB), 403)
        self.assertError(self.req("GET", sess_path(self.ns, name, "messages"), token=H.ALICE,
                                  headers={"Origin": "https://evil.example"}), 403)

    def test_runner_tokens(self):
        name = self.session()
        ev = [{"type": "system"}]
        self.assertStatus(self.post_events(name, self.runner_token(name), ev), 201)
        other = self.runner_token(H.uniq("other"))
        self.assertError(self.post_events(name, other, ev), 403)
        # the same SA name in another project is another SA
        ns2 = self.cluster.make_project(admins=["alice"])
        self.assertError(self.post_events(name, self.runner_token(name, ns=ns2), ev), 403)
        self.assertError(self.post_events(name, H.ALICE, ev), 403)  # a user is not the runner
        self.assertError(self.post_events(name, None, ev), 401)
        self.assertError(self.post_events(name, "bogus", ev), 401)

    def test_post_errors(self):
        name = self.session()
        tok = self.runner_token(name)
        path = sess_path(self.ns, name, "events")
        big = {"type": "x", "pad": "a" * MAX_EVENT}
        self.assertError(self.req("POST", path, token=tok, body=big), 413)
        self.assertError(self.req("POST", path, token=tok, raw=b"{}", ctype="text/plain"), 415)
        self.assertError(self.req("POST", path, token=tok, raw=b"{bad"), 400)
        self.assertError(self.req("POST", path, token=tok, raw=b"[1]"), 400)
        self.assertError(self.req("POST", path, token=tok, raw=b"{}\n7\n",
                                  ctype="application/x-ndjson"), 400)
        self.assertError(self.req("POST", path, token=tok, raw=b"\n\n",
                                  ctype="application/x-ndjson"), 400)
        self.assertError(self.req("PUT", path, token=tok, body={}), 405)
        self.assertError(self.req("GET", sess_path(self.ns, name, "nope"), token=tok), 404)
        self.assertError(self.req("GET", sess_path(self.ns, "Bad_Name", "events"), token=tok), 404)
        self.assertError(self.req("GET", "/api/projects/../agentic-sessions/x/events", token=tok), 404)
        # a single JSON object body is one event; the server's seq/ts win
        r = self.req("POST", path, token=tok, body={"type": "x", "seq": 99, "ts": "then"})
        self.assertStatus(r, 201)
        page = self.req("GET", sess_path(self.ns, name, "messages"), token=H.ALICE).body
        self.assertEqual(page["items"][0]["seq"], 1)
        self.assertNotEqual(page["items"][0]["ts"], "then")
        # no Content-Length: 411 (raw socket, chunked body)
        host, port = self.addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=H.WAIT)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "2\r\n{}\r\n0\r\n\r\n".encode())
        self.assertIn(b" 411 ", s.recv(4096))
        s.close()
        # keep-alive: two posts on one connection
        import http.client
        c = http.client.HTTPConnection(host, int(port), timeout=H.WAIT)
        for i in range(2):
            c.request("POST", path, body=b'{"type":"k"}',
                      headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
            r = c.getresponse()
            self.assertEqual(r.status, 201)
            self.assertEqual(json.loads(r.read())["last"], 2 + i)
        c.close()

    def test_curl_post_expect_continue(self):
        # A client that sends "Expect: 100-continue" (older curls did for
        # bodies over 1 KiB, as a header here) waits a second unless the
        # server says 100 Continue (curl -v shows what was said)
        name = self.session()
        tok = self.runner_token(name)
        body = "".join(json.dumps({"type": "t", "pad": "p" * 500, "i": i}) + "\n" for i in range(8))
        p = subprocess.run(["curl", "-sS", "-v", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
                            "-H", "Expect: 100-continue", "-H", "Authorization: Bearer " + tok,
                            "-H", "Content-Type: application/x-ndjson", "--data-binary", "@-",
                            f"http://{self.addr}{sess_path(self.ns, name, 'events')}"],
                           input=body, capture_output=True, text=True, timeout=H.WAIT)
        self.assertTrue(p.stdout.endswith("\n201"), p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout.rsplit("\n", 1)[0])["stored"], 8)
        self.assertIn("> Expect: 100-continue", p.stderr)
        self.assertIn("< HTTP/1.1 100 Continue", p.stderr)

    def test_session_full(self):
        meta = self.cluster.make_session(self.ns)
        name = meta["name"]
        tok = self.runner_token(name)
        line = {"type": "fill", "pad": "b" * (MAX_EVENT // 4 - 100)}
        batch = [line] * 3  # just under MAX_EVENT of NDJSON
        stored = 0
        for _ in range(int(MAX_SESSION / (MAX_EVENT * 0.7)) + 10):
            r = self.post_events(name, tok, batch)
            if r.status == 413:
                break
            self.assertEqual(r.status, 201, r)
            stored = r.body["last"]
        else:
            self.fail("the session log never filled")
        self.assertGreater(stored, 0)
        self.assertIn("full", r.body["error"])
        size = os.path.getsize(os.path.join(LIVE_DIR, self.ns, meta["uid"] + ".ndjson"))
        self.assertLessEqual(size, MAX_SESSION)
        # a small event still fits, or is refused cleanly: never a torn log
        r = self.post_events(name, tok, [{"type": "tiny"}])
        self.assertIn(r.status, (201, 413), r)
        if r.status == 201:
            stored = r.body["last"]

        # a late joiner replays the whole log from disk, in order
        async def replay():
            t0 = time.monotonic()
            async with self.ws_connect(name, H.ALICE) as ws:
                got = await self.ws_collect(ws, stored)
            return got, time.monotonic() - t0
        got, took = asyncio.run(replay())
        self.assertEqual([e["seq"] for e in got], list(range(1, stored + 1)))
        sys.stderr.write("replay: %d events (%.1f MB) over WebSocket in %.2fs\n"
                         % (stored, size / 1e6, took))

    def test_messages(self):
        name = self.session()
        tok = self.runner_token(name)
        self.assertStatus(self.post_events(name, tok, [{"type": "t", "i": i} for i in range(7)]), 201)
        path = sess_path(self.ns, name, "messages")
        r = self.req("POST", path, token=H.ALICE, body={"content": "hello"})
        ev = self.assertStatus(r, 201)
        self.assertEqual((ev["type"], ev["content"], ev["user"], ev["seq"]),
                         ("user_message", "hello", "alice", 8))
        self.assertError(self.req("POST", path, token=H.CAROL, body={"content": "x"}), 403)
        self.assertError(self.req("POST", path, token=H.BOB, body={"content": "x"}), 403)
        self.assertError(self.req("POST", path, token=H.ALICE, body={"text": "x"}), 400)
        # pagination
        p1 = self.assertStatus(self.req("GET", path + "?limit=3", token=H.CAROL), 200)
        self.assertEqual([e["seq"] for e in p1["items"]], [1, 2, 3])
        self.assertEqual(p1["next"], 3)
        p2 = self.req("GET", f"{path}?after={p1['next']}&limit=500", token=H.CAROL).body
        self.assertEqual([e["seq"] for e in p2["items"]], [4, 5, 6, 7, 8])
        self.assertIsNone(p2["next"])
        self.assertEqual(p2["items"][-1]["content"], "hello")
        self.assertError(self.req("GET", path + "?limit=501", token=H.ALICE), 400)
        self.assertError(self.req("GET", path + "?limit=0", token=H.ALICE), 400)
        self.assertError(self.req("GET", path + "?after=x", token=H.ALICE), 400)
        empty = self.req("GET", sess_path(self.ns, self.session(), "messages"), token=H.ALICE).body
        self.assertEqual(empty, {"items": [], "next": None})
        self.assertError(self.req("GET", sess_path(self.ns, H.uniq("none"), "messages"),
                                  token=H.ALICE), 404)

    def test_status_changes_reach_the_log_and_the_streams(self):
        """What the controller writes to a session's status is streamed:
        a WebSocket subscriber sees each change once, a change elsewhere in
        the object is not news, and a watch that must relist (410) still
        delivers what changed meanwhile."""
        k = self.cluster.kube
        name = H.uniq("st")
        base = f"/apis/vteam.ambient-code/v1alpha1/namespaces/{self.ns}/agenticsessions"
        self.cluster.ok(k.post(base, {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
            "metadata": {"name": name},
            "spec": {"prompt": "p", "repos": [{"input": {"url": "https://github.com/o/r"}}]}}),
            201)

        def set_status(status):
            self.cluster.ok(k.patch(f"{base}/{name}/status", {"status": status}), 200)

        def statuses():
            r = self.req("GET", sess_path(self.ns, name, "messages"), token=H.ALICE)
            return [e for e in self.assertStatus(r, 200)["items"] if e["type"] == "status"]

        async def watch_one():
            async with self.ws_connect(name, H.ALICE, after=0) as ws:
                set_status({"phase": "Pending"})
                got = await self.ws_collect(ws, 1)
                set_status({"phase": "Running", "startTime": "2026-11-26T10:00:00Z"})
                got += await self.ws_collect(ws, 2)
                return got
        got = asyncio.run(watch_one())
        self.assertEqual([(e["seq"], e["type"], e["phase"]) for e in got],
                         [(1, "status", "Pending"), (2, "status", "Running")])
        self.assertEqual(got[1]["status"]["startTime"], "2026-11-26T10:00:00Z")
        # A label is not a status change.
        self.cluster.ok(k.patch(f"{base}/{name}", {"metadata": {"labels": {"x": "y"}}}), 200)
        # Force a relist: expire the history, cut the watch, change meanwhile.
        self.cluster.ok(k.post("/kubesim/compact", {}), 200)
        set_status({"phase": "Failed", "error": "OOMKilled"})
        self.cluster.ok(k.post("/kubesim/watches/drop", {"path": "agenticsessions"}), 200)
        H.wait_until(lambda: len(statuses()) == 3, H.WAIT, 0.1, "the Failed status")
        last = statuses()[-1]
        self.assertEqual((last["phase"], last["status"]["error"]), ("Failed", "OOMKilled"))
        time.sleep(0.5)
        self.assertEqual([e["phase"] for e in statuses()], ["Pending", "Running", "Failed"])

    def test_ws_user_message_reaches_runner(self):
        name = self.session()
        tok = self.runner_token(name)
        # the session's Role: read its own session (as the controller makes it)
        rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/" % self.ns
        self.cluster.ok(self.cluster.kube.post(rbac + "roles", {
            "metadata": {"name": "ambient-session-" + name},
            "rules": [{"apiGroups": ["vteam.ambient-code"], "resources": ["agenticsessions"],
                       "resourceNames": [name], "verbs": ["get"]}]}), 201)
        self.cluster.ok(self.cluster.kube.post(rbac + "rolebindings", {
            "metadata": {"name": "ambient-session-" + name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "ambient-session-" + name},
            "subjects": [{"kind": "ServiceAccount", "name": "ambient-session-" + name,
                          "namespace": self.ns}]}), 201)

        async def go():
            async with self.ws_connect(name, tok, origin=None) as runner, \
                    self.ws_connect(name, H.ALICE) as user, \
                    self.ws_connect(name, H.CAROL) as viewer:
                await user.send(json.dumps({"content": "please add tests"}))
                seen = await self.ws_collect(runner, 1)
                await viewer.send(json.dumps({"content": "sneaky"}))
                while True:  # the viewer sees alice's message, then its refusal
                    err = json.loads(await asyncio.wait_for(viewer.recv(), H.WAIT))
                    if "seq" not in err:
                        return seen, err
        seen, err = asyncio.run(go())
        self.assertEqual(seen[0]["type"], "user_message")
        self.assertEqual(seen[0]["content"], "please add tests")
        self.assertEqual(seen[0]["user"], "alice")
        self.assertEqual(err["type"], "error")
        self.assertIn("forbidden", err["error"])
        page = self.req("GET", sess_path(self.ns, name, "messages"), token=H.ALICE).body
        self.assertEqual(len(page["items"]), 1)

    def test_ws_protocol(self):
        name = self.session()

        async def too_big():
            async with self.ws_connect(name, H.ALICE) as ws:
                await ws.send(json.dumps({"content": "x" * (MAX_EVENT + 10)}))
                try:
                    await asyncio.wait_for(ws.recv(), H.WAIT)
                except websockets.exceptions.ConnectionClosed as e:
                    return e.code
                return None
        self.assertEqual(asyncio.run(too_big()), 1009)

        async def ping_and_close():
            async with self.ws_connect(name, H.ALICE) as ws:
                pong = await ws.ping(b"hi")
                await asyncio.wait_for(pong, H.WAIT)
                await ws.close(code=1000)
                return ws.close_code
        self.assertEqual(asyncio.run(ping_and_close()), 1000)

        # fragmented text message from a raw client, and an unmasked frame (1002)
        host, port = self.addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=H.WAIT)
        s.sendall((f"GET {sess_path(self.ns, name, 'ws')} HTTP/1.1\r\nHost: x\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {H.ALICE}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        self.assertIn(b"101", head.split(b"\r\n")[0])
        self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head)
        self.assertNotIn(b"Sec-WebSocket-Protocol", head)

        def masked(op, payload, fin=True):
            mask = b"\x01\x02\x03\x04"
            body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            return bytes([(0x80 if fin else 0) | op, 0x80 | len(payload)]) + mask + body
        msg = json.dumps({"content": "in two parts"}).encode()
        s.sendall(masked(1, msg[:7], fin=False) + masked(9, b"p") + masked(0, msg[7:]))
        buf = b""
        deadline = time.time() + 10
        while b"in two parts" not in buf and time.time() < deadline:
            buf += s.recv(65536)
        self.assertIn(b"in two parts", buf)
        self.assertIn(b"\x8a\x01p", buf)  # the pong, amid the fragments
        s.sendall(b"\x81\x02hi")  # unmasked
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        self.assertIn(b"\x88\x10\x03\xea", buf)  # close 1002 ("protocol error")
        s.close()

    def test_garbage_and_limits(self):
        import random
        rnd = random.Random(1234)
        host, port = self.addr.rsplit(":", 1)
        name = self.session()
        ws_head = (f"GET {sess_path(self.ns, name, 'ws')} HTTP/1.1\r\nHost: x\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {H.ALICE}\r\n\r\n").encode()
        for i in range(150):
            s = socket.create_connection((host, int(port)), timeout=H.WAIT)
            kind = i % 3
            if kind == 0:  # junk instead of a request
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000))) + b"\r\n\r\n")
            elif kind == 1:  # a request cut anywhere, then junk
                req = (f"POST {sess_path(self.ns, name, 'events')} HTTP/1.1\r\n"
                       "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{}").encode()
                s.sendall(req[:rnd.randint(0, len(req))] + bytes(rnd.getrandbits(8) for _ in range(50)))
            else:  # a WebSocket, then random frames
                s.sendall(ws_head)
                s.recv(4096)
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 2000))))
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
            s.close()
        # a head over api.max_headers (16 KiB): 431, connection closed
        s = socket.create_connection((host, int(port)), timeout=H.WAIT)
        s.sendall(b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertIn(b" 431 ", s.recv(4096))
        s.close()
        # still serving
        r = self.req("GET", sess_path(self.ns, name, "messages"), token=H.ALICE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ws_status(name, H.ALICE), 101)

    def test_bodies_in_flight_are_bounded(self):
        """Clients that announce big bodies and never send them hold at most
        16 x max_event between them; past that a POST gets 503 + Retry-After,
        and once they go, posts work again. A body's share is taken once
        its caller is known, which 100 Continue tells."""
        host, port = self.addr.rsplit(":", 1)
        name = self.session()
        token = self.runner_token(name)
        head = (f"POST {sess_path(self.ns, name, 'events')} HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {MAX_EVENT}\r\n\r\n{{").encode()
        holders = []
        try:
            for _ in range(16):
                s = socket.create_connection((host, int(port)), timeout=H.WAIT)
                s.sendall(head.replace(b"\r\n\r\n{", b"\r\nExpect: 100-continue\r\n\r\n"))
                holders.append(s)
            for s in holders:
                self.assertIn(b" 100 Continue", s.recv(4096))
                s.sendall(b"{")
            def refused():
                s = socket.create_connection((host, int(port)), timeout=H.WAIT)
                try:
                    s.sendall(head)
                    return s.recv(4096)
                finally:
                    s.close()
            answer = H.wait_until(lambda: refused() or None, H.WAIT, 0.05, "an answer")
            self.assertIn(b" 503 ", answer)
            self.assertIn(b"Retry-After: 1", answer)
        finally:
            for s in holders:
                s.close()
        ok = H.wait_until(lambda: self.post_events(name, token, [{"type": "x"}]).status == 201,
                          H.WAIT, 0.05, "posts accepted again")
        self.assertTrue(ok)

    def test_slow_client_cut_fast_client_not_stalled(self):
        name = self.session()
        tok = self.runner_token(name)
        host, port = self.addr.rsplit(":", 1)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect((host, int(port)))
        slow.sendall((f"GET {sess_path(self.ns, name, 'ws')} HTTP/1.1\r\nHost: x\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      f"Authorization: Bearer {H.ALICE}\r\n\r\n").encode())
        slow.settimeout(H.WAIT)
        head = b""
        while b"\r\n\r\n" not in head:  # the handshake's answer; from now on it never reads
            chunk = slow.recv(1)
            self.assertTrue(chunk, head)
            head += chunk
        self.assertIn(b" 101 ", head)
        batch = [{"type": "bulk", "pad": "c" * 16000}] * 3
        cut_msg = "live client too slow; disconnected"

        def cut():
            return any(r.get("msg") == cut_msg for r in self.cluster.daemon.records())

        async def go():
            async with self.ws_connect(name, H.ALICE) as fast:
                loop = asyncio.get_running_loop()
                t0 = time.monotonic()

                def writer():
                    # until the kernel buffers are full and the server cuts
                    # the slow client, then a few more (bounded by the log)
                    n, after_cut = 0, 0
                    while after_cut < 5 and n < 150:
                        r = self.post_events(name, tok, batch)
                        assert r.status == 201, r
                        n += 1
                        if after_cut or cut():
                            after_cut += 1
                    return n * 3
                w = loop.run_in_executor(None, writer)
                got = []
                while not (w.done() and got and got[-1]["seq"] >= w.result()):
                    try:  # cancelling recv() is safe in websockets
                        m = json.loads(await asyncio.wait_for(fast.recv(), 0.5))
                    except asyncio.TimeoutError:
                        self.assertLess(time.monotonic() - t0, 60)
                        continue
                    if "seq" in m:
                        got.append(m)
                await w
                return got, time.monotonic() - t0
        got, took = asyncio.run(go())
        posts = len(got) // 3
        self.assertEqual([e["seq"] for e in got], list(range(1, len(got) + 1)))
        self.cluster.daemon.wait_for(lambda r: r.get("msg") == "live client too slow; disconnected")
        # the slow socket was closed by the server: draining it ends in EOF/RST
        slow.settimeout(H.WAIT)
        n = 0
        try:
            while True:
                d = slow.recv(1 << 20)
                if not d:
                    break
                n += len(d)
        except ConnectionResetError:
            pass
        slow.close()
        self.assertLess(n, posts * 3 * 16000)
        sys.stderr.write("slow-client test: %d events (%.1f MB) to the fast client in %.2fs; "
                         "slow client got %d bytes before the cut\n"
                         % (posts * 3, posts * 3 * 16000 / 1e6, took, n))


class LiveRestartTest(H.ApiTest):
    """History and seq survive a restart; a stop ends streams cleanly (own
    cluster: it restarts it)."""
    cluster_args = {"live": False, "api_conf": LIVE_CONF}

    def test_stop_ends_streams(self):
        c = self.cluster
        addr = c.daemon.wait_for(lambda r: r.get("msg") == "live listening")["address"]
        ns = c.make_project(admins=["alice"])
        name = c.make_session(ns)["name"]
        url = f"ws://{addr}{sess_path(ns, name, 'ws')}"
        sse = H.CurlStream("-i", "-H", "Authorization: Bearer " + H.ALICE,
                           f"http://{addr}{sess_path(ns, name, 'events')}")
        self.addCleanup(sse.close)
        head = sse.read_until(lambda line: line in ("", "\r"))  # the stream is open
        self.assertIn(" 200 ", head[0])

        async def go():
            async with websockets.connect(url, subprotocols=["ambient.v1", "bearer." + b64url(H.ALICE)]) as ws:
                loop = asyncio.get_running_loop()
                stopped = loop.run_in_executor(None, c.stop_daemon)
                try:
                    await asyncio.wait_for(ws.recv(), H.WAIT)
                except websockets.exceptions.ConnectionClosed as e:
                    code = e.code
                await stopped
                return code
        t0 = time.monotonic()
        self.assertEqual(asyncio.run(go()), 1001)
        self.assertLess(time.monotonic() - t0, 10)
        _, err = sse.proc.communicate(timeout=H.WAIT)
        self.assertEqual(sse.proc.returncode, 0, err)  # the SSE response ended, not cut
        c.start_daemon(live=False, api_conf=LIVE_CONF)

    def test_one_daemon_per_dir(self):
        from daemon import Daemon
        c = self.cluster
        c.daemon.wait_for(lambda r: r.get("msg") == "live listening")
        second = Daemon(os.path.join(c.tmp, "ambient.conf"))
        line = second.wait_for_line(lambda l: "in use by another ambientd" in l)
        self.assertIn(LIVE_DIR, line)
        self.assertNotEqual(second.stop(), 0)

    def test_restart_keeps_history(self):
        c = self.cluster
        addr = c.daemon.wait_for(lambda r: r.get("msg") == "live listening")["address"]
        ns = c.make_project(admins=["alice"])
        meta = c.make_session(ns)
        name = meta["name"]
        tok = c.service_account_token(ns, "ambient-session-" + name)
        path = sess_path(ns, name, "events")
        raw = b"".join(json.dumps({"type": "before", "i": i}).encode() + b"\n" for i in range(10))
        r = H.http_request(addr, "POST", path, token=tok, raw=raw, ctype="application/x-ndjson")
        self.assertEqual(r.status, 201, r)
        # a torn last line (as a crash mid-write would leave) is dropped on recovery
        c.stop_daemon()
        with open(os.path.join(LIVE_DIR, ns, meta["uid"] + ".ndjson"), "ab") as f:
            f.write(b'{"seq":11,"ts":"x","type":"to')
        c.start_daemon(live=False, api_conf=LIVE_CONF)
        addr = c.daemon.wait_for(lambda r: r.get("msg") == "live listening")["address"]
        r = H.http_request(addr, "POST", path, token=tok, body={"type": "after"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body["first"], 11)
        page = H.http_request(addr, "GET", sess_path(ns, name, "messages") + "?limit=500",
                              token=H.ALICE).body
        self.assertEqual([e["seq"] for e in page["items"]], list(range(1, 12)))
        self.assertEqual(page["items"][-1]["type"], "after")


class LiveFeedThrottled(H.ApiTest):
    """The session status feed (one list-then-watch of sessions with the
    api's identity) is throttled: neither its watch nor its list is made
    again before the Retry-After it was answered with."""
    cluster_args = {"live": False, "api_conf": LIVE_CONF}
    EVERYWHERE = "/apis/vteam.ambient-code/v1alpha1/agenticsessions"

    def watching(self):
        ws = self.cluster.ok(self.cluster.kube.get("/kubesim/watches"), 200)["watches"]
        return any(w["path"] == self.EVERYWHERE for w in ws)

    def throttle(self, **fault):
        k = self.cluster.kube
        self.cluster.ok(k.post("/kubesim/faults", dict(fault, count=1, path=self.EVERYWHERE)), 201)

    def hit(self):
        k = self.cluster.kube
        H.wait_until(lambda: not self.cluster.ok(k.get("/kubesim/faults"), 200)["faults"],
                     H.WAIT, 0.02, "the throttle answered")

    def assert_waited(self, want):
        k = self.cluster.kube
        seen = self.cluster.ok(k.get("/kubesim/requests?path=" + self.EVERYWHERE), 200)
        pairs = H.harness.throttled_retries(seen["requests"])
        self.assertEqual(sorted((f["verb"], f["fault"]) for f, _ in pairs), sorted(want))
        for fault, again in pairs:
            self.assertIsNotNone(again, fault)
            self.assertGreaterEqual(again["at"] - fault["at"], fault["retryAfterSeconds"],
                                    (fault, again))

    def test_watch_then_list_wait_their_retry_after(self):
        c = self.cluster
        k = c.kube
        H.wait_until(self.watching, H.WAIT, 0.05, "the feed watching sessions")
        self.assertEqual(k.delete("/kubesim/requests").status, 200)
        # The watch is cut; re-opening it is answered 429 as API Priority
        # and Fairness does (Retry-After: 2), then 503 (Retry-After: 1).
        self.throttle(status=429, retryAfterSeconds=2, plainText=True, verb="watch")
        c.ok(k.post("/kubesim/watches/drop", {"path": self.EVERYWHERE}), 200)
        self.hit()
        self.throttle(status=503, retryAfterSeconds=1, verb="watch")
        self.hit()
        H.wait_until(self.watching, H.WAIT, 0.05, "the feed watching again")
        self.assert_waited([("watch", 429), ("watch", 503)])

        # A restarted daemon lists first: 429 (Retry-After: 2), then 503
        # (Retry-After: 1).
        c.stop_daemon()
        self.assertEqual(k.delete("/kubesim/requests").status, 200)
        self.throttle(status=429, retryAfterSeconds=2, plainText=True, verb="list")
        c.start_daemon(live=False, api_conf=LIVE_CONF)
        self.hit()
        self.throttle(status=503, retryAfterSeconds=1, verb="list")
        self.hit()

        def watched_after_listing():
            seen = c.ok(k.get("/kubesim/requests?path=" + self.EVERYWHERE), 200)["requests"]
            verbs = [q["verb"] for q in seen if not q["fault"]]
            return "list" in verbs and "watch" in verbs[verbs.index("list"):]
        H.wait_until(watched_after_listing, H.WAIT, 0.05, "the feed listed, then watching")
        self.assert_waited([("list", 429), ("list", 503)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
