"""What an adversary tried against the live service (api/live) and the REST
rate limit, each as the user it would hurt sees it, against a real ambientd
and kubesim (apiharness.py):

  - a reused project or session name reads nothing of the old transcript,
    and a session that does not exist is 404 (reads, posts, streams);
  - revoked access ends open streams within the review TTL;
  - a runner cannot post events typed as users' or the platform's;
  - forty readers scanning a big transcript do not slow anyone else;
  - the event store has a total cap (507), freed when sessions go;
  - random tokens hit the rate limit, and cost few reviews."""
import asyncio
import base64
import json
import os
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiharness as H  # noqa: E402
import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

TTL = 2      # api.auth_ttl: how stale an access answer may be
SLACK = 4    # the recheck tick, a cached answer renewed just before, a slow machine


def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def sess_path(ns, name, tail):
    return f"/api/projects/{ns}/agentic-sessions/{name}/{tail}"


class LiveAbuseBase(H.ApiTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.addr = cls.cluster.daemon.wait_for(lambda r: r.get("msg") == "live listening")["address"]
        cls.cluster.live_address = cls.addr

    def req(self, method, path, **kw):
        return H.http_request(self.addr, method, path, **kw)

    def runner_post(self, ns, name, events):
        tok = self.cluster.service_account_token(ns, "ambient-session-" + name)
        raw = "".join(json.dumps(e) + "\n" for e in events).encode()
        return self.req("POST", sess_path(ns, name, "events"), token=tok, raw=raw,
                        ctype="application/x-ndjson")

    def log_files(self, ns):
        try:  # the server may remove the directory while we look
            return sorted(os.listdir(os.path.join(self.cluster.live_dir, ns)))
        except FileNotFoundError:
            return []

    def rolebinding(self, ns, user, role):
        """A RoleBinding of ambient-project-<role> to user; returns its path."""
        name = H.uniq("rb")
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
        self.cluster.ok(self.cluster.kube.post(path, {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "ambient-project-" + role},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}),
            201)
        return f"{path}/{name}"


class LiveAbuseTest(LiveAbuseBase):
    cluster_args = {"api_conf": f"auth_ttl = {TTL};"}

    def test_reused_names_read_nothing_old(self):
        c = self.cluster
        k = c.kube
        ns = c.make_project(admins=["alice"], viewers=())
        c.make_session(ns, "d1")
        r = self.runner_post(ns, "d1", [{"type": "assistant", "text": "alice's private output"}])
        self.assertEqual(r.status, 201, r)
        first = self.log_files(ns)
        self.assertEqual(len(first), 1, first)

        # a session name used again inside the project
        base = f"/apis/vteam.ambient-code/v1alpha1/namespaces/{ns}/agenticsessions"
        c.make_session(ns, "d2")
        self.assertEqual(self.runner_post(ns, "d2", [{"type": "assistant", "text": "old d2"}]).status, 201)
        c.ok(k.delete(f"{base}/d2"), 200, 202)
        H.wait_until(lambda: self.req("GET", sess_path(ns, "d2", "messages"),
                                      token=H.ALICE).status == 404, H.WAIT, 0.05, "d2 gone")
        self.assertEqual(self.req("POST", sess_path(ns, "d2", "messages"), token=H.ALICE,
                                  body={"content": "x"}).status, 404)
        self.assertEqual(self.runner_post(ns, "d2", [{"type": "x"}]).status, 404)
        c.make_session(ns, "d2")
        page = self.req("GET", sess_path(ns, "d2", "messages"), token=H.ALICE)
        self.assertEqual(page.status, 200, page)
        self.assertEqual(page.body["items"], [])

        # the whole project deleted, and made again by someone else
        c.ok(k.delete(f"/api/v1/namespaces/{ns}"), 200, 202)
        H.wait_until(lambda: k.get(f"/api/v1/namespaces/{ns}").status == 404, H.WAIT, 0.1,
                     "the namespace gone")
        H.wait_until(lambda: not self.log_files(ns), H.WAIT, 0.05, "its logs removed")
        c.ensure_namespace(ns, {"ambient-code.io/managed": "true"})
        c.bind(ns, "carol", "admin")
        for tail in ("messages", "events"):  # no session d1 yet: 404, not the old one
            r = self.req("GET", sess_path(ns, "d1", tail), token=H.CAROL)
            self.assertEqual(r.status, 404, r)
        self.assertEqual(self.ws_status(ns, "d1", H.CAROL), 404)
        c.make_session(ns, "d1")
        page = self.req("GET", sess_path(ns, "d1", "messages"), token=H.CAROL)
        self.assertEqual(page.status, 200, page)
        self.assertEqual(page.body["items"], [])
        sse = H.CurlStream("-i", "-H", "Authorization: Bearer " + H.CAROL,
                           f"http://{self.addr}{sess_path(ns, 'd1', 'events')}", max_time=2)
        out, _ = sse.proc.communicate(timeout=H.WAIT)
        sse.close()
        self.assertIn(" 200 ", out.splitlines()[0])
        self.assertNotIn("private", out)

    def ws_status(self, ns, name, token):
        async def go():
            try:
                async with websockets.connect(
                        f"ws://{self.addr}{sess_path(ns, name, 'ws')}",
                        subprotocols=["ambient.v1", "bearer." + b64url(token)]):
                    return 101
            except websockets.exceptions.InvalidStatusCode as e:
                return e.status_code
        return asyncio.run(go())

    def test_revoked_access_ends_open_streams(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        name = c.make_session(ns)["name"]
        self.assertEqual(self.runner_post(ns, name, [{"type": "assistant", "i": 1}]).status, 201)
        bob_view = self.rolebinding(ns, "bob", "view")
        carol_edit = self.rolebinding(ns, "carol", "edit")
        sse = H.CurlStream("-H", "Authorization: Bearer " + H.BOB,
                           f"http://{self.addr}{sess_path(ns, name, 'events')}", max_time=60)
        self.addCleanup(sse.close)
        sse.read_until(lambda line: line == "id: 1")

        async def go():
            async with websockets.connect(
                    f"ws://{self.addr}{sess_path(ns, name, 'ws')}",
                    subprotocols=["ambient.v1", "bearer." + b64url(H.CAROL)]) as ws:
                await ws.send(json.dumps({"content": "while an editor"}))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), H.WAIT))
                    if m.get("type") == "user_message":
                        break
                # both rights go: bob's view, carol's edit (she may still view)
                c.ok(c.kube.delete(bob_view), 200)
                c.ok(c.kube.delete(carol_edit), 200)
                self.rolebinding(ns, "carol", "view")
                t0 = time.monotonic()
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), TTL * 2 + SLACK))
                    if m.get("type") == "error":
                        break
                took = time.monotonic() - t0
                self.assertIn("read-only", m["error"])
                await ws.send(json.dumps({"content": "after the revocation"}))
                m = json.loads(await asyncio.wait_for(ws.recv(), H.WAIT))
                self.assertEqual(m["type"], "error")
                self.assertIn("forbidden", m["error"])
                return t0, took
        t0, ws_took = asyncio.run(go())
        sse.proc.wait(timeout=TTL * 2 + SLACK)  # the server ended bob's stream
        sse_took = time.monotonic() - t0
        self.assertLess(sse_took, TTL * 2 + SLACK)
        self.assertLess(ws_took, TTL * 2 + SLACK)
        page = self.req("GET", sess_path(ns, name, "messages"), token=H.ALICE).body
        self.assertEqual([e.get("content") for e in page["items"] if e["type"] == "user_message"],
                         ["while an editor"])
        sys.stderr.write("revocation: SSE ended %.1fs, WebSocket read-only %.1fs after it "
                         "(auth_ttl %ds)\n" % (sse_took, ws_took, TTL))

    def test_runner_cannot_forge_users_or_status(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        name = c.make_session(ns)["name"]
        for forged in ({"type": "user_message", "user": "alice", "content": "rm -rf"},
                       {"type": "end_session", "user": "alice"},
                       {"type": "status", "phase": "Completed"}):
            r = self.runner_post(ns, name, [{"type": "assistant"}, forged])
            self.assertEqual(r.status, 422, r)
            self.assertIn('"%s"' % forged["type"], r.body["error"])
        # what the runner sends is stored, marked as the runner's whatever it claims
        r = self.runner_post(ns, name, [{"type": "assistant", "source": "user"},
                                        {"type": "runner", "subtype": "finished"}])
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", sess_path(ns, name, "messages"), token=H.ALICE, body={"content": "hi"})
        self.assertEqual(r.status, 201, r)
        items = self.req("GET", sess_path(ns, name, "messages"), token=H.ALICE).body["items"]
        self.assertEqual([(e["type"], e["source"]) for e in items],
                         [("assistant", "runner"), ("runner", "runner"), ("user_message", "user")])
        self.assertEqual(items[2]["user"], "alice")

    def test_scans_do_not_slow_others(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=["carol"])
        big = c.make_session(ns)["name"]
        small = c.make_session(ns)["name"]
        line = {"type": "assistant", "pad": "x" * 60}
        batch = [line] * 9000  # ~0.9 MiB of NDJSON per post
        for _ in range(32):
            r = self.runner_post(ns, big, batch)
            self.assertEqual(r.status, 201, r)
        self.assertEqual(self.runner_post(ns, small, [{"type": "assistant"}]).status, 201)
        size = sum(os.path.getsize(os.path.join(c.live_dir, ns, f)) for f in self.log_files(ns))
        stop = time.monotonic() + 6
        errors = []

        def scan():
            while time.monotonic() < stop:
                r = self.req("GET", sess_path(ns, big, "messages") + "?after=1000000000",
                             token=H.ALICE, timeout=60)
                if r.status != 200 or r.body["items"]:
                    errors.append(r)
                    return
        threads = [threading.Thread(target=scan) for _ in range(40)]
        for t in threads:
            t.start()
        time.sleep(1)
        slowest = 0
        while time.monotonic() < stop - 0.5:
            t0 = time.monotonic()
            r = self.req("GET", sess_path(ns, small, "messages"), token=H.CAROL, timeout=60)
            slowest = max(slowest, time.monotonic() - t0)
            self.assertEqual(r.status, 200, r)
            time.sleep(0.1)
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        sys.stderr.write("scans: 40 readers past the end of a %.1f MiB log; another user's "
                         "slowest read took %.3fs\n" % (size / 1048576, slowest))
        self.assertLess(slowest, 0.5)


MAX_STORE = 2 << 20
MAX_EVENT = 64 * 1024


class LiveStoreFullTest(LiveAbuseBase):
    """A small api.live.max_store, and a REST rate limit to flood."""
    cluster_args = {"api_conf": "rate_limit = { requests_per_second = 1; burst = 20; }; "
                                "live = { listen = \"127.0.0.1:0\"; dir = \"%s\"; max_event = %d; "
                                "max_store = %d; };"}

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.store_dir = tempfile.mkdtemp(prefix="live-full-")
        cls.cluster_args = {"live": False,
                            "api_conf": cls.cluster_args["api_conf"] % (cls.store_dir, MAX_EVENT,
                                                                        MAX_STORE)}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        import shutil
        shutil.rmtree(cls.store_dir, ignore_errors=True)

    def test_no_log_for_made_up_sessions_and_a_total_cap(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        big = {"content": "m" * (MAX_EVENT - 200)}
        for i in range(5):  # made-up names: nothing stored
            r = self.req("POST", sess_path(ns, H.uniq("made-up"), "messages"), token=H.ALICE,
                         body=big)
            self.assertEqual(r.status, 404)
        self.assertEqual(self.runner_post(ns, H.uniq("made-up"), [{"type": "x"}]).status, 404)
        self.assertFalse(os.path.isdir(os.path.join(self.store_dir, ns)))

        first = c.make_session(ns)["name"]
        for _ in range(MAX_STORE // (MAX_EVENT - 200) + 5):
            r = self.req("POST", sess_path(ns, first, "messages"), token=H.ALICE, body=big)
            if r.status != 201:
                break
        self.assertEqual(r.status, 507, r)
        self.assertIn("max_store", r.body["error"])
        used = sum(os.path.getsize(os.path.join(self.store_dir, ns, f))
                   for f in os.listdir(os.path.join(self.store_dir, ns)))
        self.assertLessEqual(used, MAX_STORE)
        second = c.make_session(ns)["name"]
        self.assertEqual(self.req("POST", sess_path(ns, second, "messages"), token=H.ALICE,
                                  body=big).status, 507)
        # deleting a session frees its space
        c.ok(c.kube.delete(f"/apis/vteam.ambient-code/v1alpha1/namespaces/{ns}/agenticsessions/{first}"),
             200, 202)
        H.wait_until(lambda: self.req("POST", sess_path(ns, second, "messages"), token=H.ALICE,
                                      body={"content": "fits again"}).status == 201,
                     H.WAIT, 0.1, "room again")

    def test_random_tokens_are_rate_limited(self):
        c = self.cluster
        k = c.kube
        ok = H.http_request(c.rest_address, "GET", "/api/projects", token=H.ALICE)
        self.assertEqual(ok.status, 200, ok)  # alice is known (and cached) now
        self.assertEqual(k.delete("/kubesim/requests").status, 200)
        codes = {}
        for _ in range(300):
            r = H.http_request(c.rest_address, "GET", "/api/projects", token=uuid.uuid4().hex)
            codes[r.status] = codes.get(r.status, 0) + 1
        reviews = len(c.ok(k.get("/kubesim/requests?path=selfsubjectreviews"), 200)["requests"])
        sys.stderr.write("300 random tokens: %r, %d SelfSubjectReviews\n" % (codes, reviews))
        self.assertGreaterEqual(codes.get(429, 0), 250, codes)
        self.assertLessEqual(reviews, 40)
        # a known user is not held back by the flood from her address
        ok = H.http_request(c.rest_address, "GET", "/api/projects", token=H.ALICE)
        self.assertEqual(ok.status, 200, ok)

    def test_random_tokens_on_the_live_port_are_rate_limited(self):
        """The live listener charges missing and rejected tokens to their
        address too: random tokens cannot each cost an access review."""
        c = self.cluster
        k = c.kube
        ns = c.make_project(admins=["alice"])
        name = c.make_session(ns)["name"]
        self.assertEqual(self.req("GET", sess_path(ns, name, "messages"), token=H.ALICE).status,
                         200)
        self.assertEqual(k.delete("/kubesim/requests").status, 200)
        codes = {}
        for _ in range(300):
            r = self.req("GET", sess_path(ns, name, "messages"), token=uuid.uuid4().hex)
            codes[r.status] = codes.get(r.status, 0) + 1
        reviews = len(c.ok(k.get("/kubesim/requests?path=review"), 200)["requests"])
        sys.stderr.write("300 random tokens on live: %r, %d reviews\n" % (codes, reviews))
        self.assertGreaterEqual(codes.get(429, 0), 250, codes)
        self.assertLessEqual(reviews, 40)
        self.assertEqual(self.req("GET", sess_path(ns, name, "messages"), token=H.ALICE).status,
                         200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
