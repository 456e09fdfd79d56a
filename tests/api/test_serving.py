"""The serving layer of api.so in a real ambientd against kubesim: probes,
version and metrics; 404/405 with Allow; CORS preflight; malformed JSON
(400), wrong content type (415), oversized body (413) and headers; path
traversal never reaching a handler; 401 without a token; keep-alive; the
access log (no token, no query string); TLS with a self-signed certificate;
a graceful stop that lets a slow request finish; and a caller's call that
Kubernetes throttles answered at once with 503 and Retry-After. Run with
/usr/bin/python3."""
import email.utils
import http.client
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from apiharness import WAIT, ADMIN, ALICE, ApiTest, Cluster, CurlStream, harness, http_request

API_CONF = ('max_body = 4096; max_headers = 4096; timeout = 10; '
            'allowed_origins = ["https://ui.example"];')


class Serving(ApiTest):
    cluster_args = {"live": False, "api_conf": API_CONF}

    def test_health_routes(self):
        c = self.cluster
        self.assertEqual(self.assertStatus(c.rest("GET", "/health"), 200), {"status": "healthy"})
        r = c.rest("GET", "/healthz")
        self.assertEqual((r.status, r.raw.strip()), (200, b"ok"))
        self.assertEqual(c.rest("GET", "/readyz").status, 200)
        v = self.assertStatus(c.rest("GET", "/api/version"), 200)
        self.assertEqual(v["abi"], "1.5")
        self.assertTrue(v["version"])
        r = c.rest("HEAD", "/health")
        self.assertEqual((r.status, r.raw), (200, b""))

    def test_json_replies_say_so(self):
        r = self.cluster.rest("GET", "/health")
        self.assertEqual(r.headers["content-type"], "application/json")

    def test_replies_carry_the_date(self):
        before = time.time()
        r = self.cluster.rest("GET", "/health")
        when = email.utils.parsedate_to_datetime(r.headers["date"]).timestamp()
        self.assertRegex(r.headers["date"], r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d\d:\d\d:\d\d GMT$")
        self.assertTrue(before - 2 <= when <= time.time() + 1, r.headers["date"])

    def test_metrics(self):
        c = self.cluster
        c.rest("GET", "/api/no/such/route")  # outside /api/ the web UI answers
        c.rest("GET", "/api/version")
        r = c.rest("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain"), r.headers)
        text = r.raw.decode()
        # By route: the pattern, never the path; no route matched, "unmatched".
        self.assertIn('ambient_api_requests_total{method="GET",route="unmatched",code="404"}', text)
        self.assertIn('ambient_api_requests_total{method="GET",route="/api/version",code="200"} ',
                      text)
        self.assertNotIn("/no/such/route", text)
        self.assertIn("# TYPE ambient_api_request_duration_seconds histogram", text)
        self.assertIn('ambient_api_request_duration_seconds_bucket{route="/api/version",le="+Inf"}',
                      text)
        self.assertRegex(text, r"\nambient_api_requests_in_flight [12]\n")  # this very request
        # No live service here, so none of its gauges (tests/deploy's
        # dashboard test reads them from one that runs it).
        self.assertNotIn("ambient_live_", text)

    def test_unknown_path_is_404(self):
        body = self.assertError(self.cluster.rest("GET", "/api/nothing/here"), 404)
        self.assertEqual(body["error"], "not found")

    def test_wrong_method_is_405_with_allow(self):
        r = self.cluster.rest("DELETE", "/health")
        self.assertError(r, 405)
        allow = [m.strip() for m in r.headers["allow"].split(",")]
        self.assertIn("GET", allow)
        self.assertIn("OPTIONS", allow)

    def test_options(self):
        c = self.cluster
        r = c.rest("OPTIONS", "/health", headers={"Origin": "https://ui.example",
                                                   "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.headers["access-control-allow-origin"], "https://ui.example")
        self.assertIn("GET", r.headers["access-control-allow-methods"])
        self.assertIn("Authorization", r.headers["access-control-allow-headers"])
        r = c.rest("OPTIONS", "/health", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertIn("GET", r.headers["allow"])
        self.assertEqual(c.rest("OPTIONS", "/no/such/route").status, 404)
        # An allowed Origin is echoed on ordinary replies too.
        r = c.rest("GET", "/health", headers={"Origin": "https://ui.example"})
        self.assertEqual(r.headers.get("access-control-allow-origin"), "https://ui.example")

    def test_path_traversal_never_reaches_a_handler(self):
        c = self.cluster
        for path in ("/api/projects/..%2f..%2fetc/agentic-sessions",
                     "/api/projects/../../etc/agentic-sessions",
                     "/api/projects/%2e%2e/agentic-sessions",
                     "/api//projects", "/api/projects/%zz", "/api/projects/%00/x",
                     "/api/projects/a%0ab"):
            r = c.rest("GET", path, token=ADMIN)
            self.assertIn(r.status, (400, 404), (path, r))
            self.assertIsInstance(r.body, dict, (path, r))

    def test_no_token_is_401(self):
        r = self.cluster.rest("GET", "/api/projects")
        body = self.assertError(r, 401)
        self.assertIn("token", body["error"])
        self.assertEqual(r.headers.get("www-authenticate"), "Bearer")

    def test_malformed_json_is_400(self):
        r = self.cluster.rest("POST", "/api/projects", token=ALICE, raw=b'{"name": "x",')
        body = self.assertError(r, 400)
        self.assertIn("line", body["error"])
        self.assertIn("column", body["details"])

    def test_non_object_is_400(self):
        self.assertError(self.cluster.rest("POST", "/api/projects", token=ALICE, raw=b'[1]'), 400)

    def test_wrong_content_type_is_415(self):
        r = self.cluster.rest("POST", "/api/projects", token=ALICE, raw=b'{"name": "x"}',
                              ctype="text/plain")
        self.assertError(r, 415)

    def test_oversized_body_is_413(self):
        r = self.cluster.rest("POST", "/api/projects", token=ALICE,
                              raw=b'{"name": "' + b"x" * 8192 + b'"}')
        self.assertEqual(r.status, 413, r)

    def test_oversized_headers_are_refused(self):
        try:
            r = self.cluster.rest("GET", "/health", headers={"X-Big": "a" * 8192})
        except (ConnectionError, http.client.HTTPException):
            return  # the server may just close: fine, it never served it
        self.assertIn(r.status, (400, 413, 431), r)

    def test_keep_alive(self):
        host, port = self.cluster.rest_address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        try:
            socks = []
            for path in ("/health", "/no/such/route", "/healthz", "/api/version"):
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                self.assertNotEqual((r.getheader("connection") or "").lower(), "close")
                socks.append(conn.sock)
            self.assertIsNotNone(socks[0])
            self.assertTrue(all(s is socks[0] for s in socks), "a new connection was opened")
        finally:
            conn.close()

    def test_access_log_has_no_token_or_query(self):
        c = self.cluster
        token = "serving-secret-token-0123456789"
        r = c.rest("GET", "/healthz?access_token=query-secret-42&x=1", token=token)
        self.assertEqual(r.status, 200)
        rec = c.daemon.wait_for(lambda l: l.get("msg") == "request" and l.get("path") == "/healthz")
        for key in ("method", "path", "status", "duration_ms", "user"):
            self.assertIn(key, rec)
        self.assertEqual(rec["status"], "200")
        log = c.log_text()
        self.assertNotIn("query-secret-42", log)
        self.assertNotIn(token, log)
        self.assertNotIn("access_token", log)

    def test_access_log_names_the_user_and_bad_tokens_are_401(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=[])
        path = f"/api/projects/{ns}/agentic-sessions"
        self.assertEqual(c.rest("GET", path, token=ALICE).status, 200)
        rec = c.daemon.wait_for(lambda l: l.get("msg") == "request" and l.get("path") == path)
        self.assertEqual(rec["user"], "alice")
        r = c.rest("GET", path, token="no-such-token-0123")
        self.assertEqual(r.status, 401, r)
        self.assertIn("error", r.body)
        self.assertIn("invalid_token", r.headers.get("www-authenticate", ""))


def make_cert(directory):
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="apitls-")
        cls.cert, key = make_cert(cls.tmp)
        conf = f'tls = {{ cert_file = "{cls.cert}"; key_file = "{key}"; }};'
        cls.cluster = Cluster(live=True, api_conf=conf)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_https(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        r = http_request(self.cluster.rest_address, "GET", "/health", tls_context=ctx)
        self.assertEqual((r.status, r.body), (200, {"status": "healthy"}))
        r = http_request(self.cluster.rest_address, "GET", "/api/projects", tls_context=ctx)
        self.assertEqual(r.status, 401)

    def test_plain_http_is_not_served(self):
        try:
            r = self.cluster.rest("GET", "/health", timeout=5)
        except (OSError, http.client.HTTPException):
            return
        self.assertNotEqual(r.status, 200, r)

    def test_untrusted_certificate_fails(self):
        ctx = ssl.create_default_context()  # system CAs only
        with self.assertRaises(ssl.SSLError):
            http_request(self.cluster.rest_address, "GET", "/health", tls_context=ctx)

    def test_the_live_service_speaks_tls_too(self):
        """api.tls covers the live listener: a runner posts over https, a
        WebSocket client reads over wss, curl reads SSE over https; plain
        HTTP gets nothing."""
        import asyncio
        import base64
        import json
        import subprocess
        import websockets
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        name = c.make_session(ns, "tls-session")["name"]  # logs exist only for sessions
        base = f"/api/projects/{ns}/agentic-sessions/{name}"
        ctx = ssl.create_default_context(cafile=self.cert)
        runner = c.service_account_token(ns, "ambient-session-" + name)
        r = http_request(c.live_address, "POST", base + "/events", token=runner,
                         body={"type": "hello"}, tls_context=ctx)
        self.assertEqual(r.status, 201, r)
        bearer = "bearer." + base64.urlsafe_b64encode(ALICE.encode()).decode().rstrip("=")

        async def first_event():
            async with websockets.connect(f"wss://{c.live_address}{base}/ws", ssl=ctx,
                                          subprotocols=["ambient.v1", bearer]) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        ev = asyncio.run(first_event())
        self.assertEqual((ev["seq"], ev["type"]), (1, "hello"))
        sse = CurlStream("--cacert", self.cert, "-H", "Authorization: Bearer " + ALICE,
                         f"https://{c.live_address}{base}/events")
        try:
            sse.read_until(lambda line: '"type":"hello"' in line)
        finally:
            sse.close()
        try:
            r = http_request(c.live_address, "GET", base + "/messages", token=ALICE, timeout=5)
        except (OSError, http.client.HTTPException):
            return
        self.assertNotEqual(r.status, 200, r)


# A list with a label selector: answered by Kubernetes, never by the read
# cache, so it is a request that waits on a Kubernetes call.
KUBE_LIST = "?labelSelector=app%3Dx"


def slow_get(cluster, path, token, result):
    """GET path in a thread; the reply (or the exception) lands in result."""
    def run():
        try:
            result["reply"] = cluster.rest("GET", path, token=token, timeout=WAIT)
        except Exception as e:  # noqa: BLE001 (reported by the caller)
            result["error"] = e
    t = threading.Thread(target=run)
    t.start()
    return t


class GracefulStop(unittest.TestCase):
    """SIGTERM (twice) while a request waits on a slow Kubernetes call: the
    request still completes, then ambientd exits cleanly; access lines are
    all written by then."""

    def setUp(self):
        self.cluster = Cluster(live=False)

    def tearDown(self):
        self.cluster.close()

    def test_slow_request_completes(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        path = f"/api/projects/{ns}/agentic-sessions" + KUBE_LIST
        self.assertEqual(c.rest("GET", path, token=ALICE).status, 200)  # warm the auth cache
        fault = c.kube.post("/kubesim/faults", {"latencyMs": 3000, "count": 1, "path": ns})
        self.assertEqual(fault.status, 201, fault)
        result = {}
        started = time.monotonic()
        t = slow_get(c, path, ALICE, result)
        harness.wait_for(lambda: c.kube.get("/kubesim/faults").body["faults"] == [],
                         what="the request's slow Kubernetes call under way")
        c.daemon.send(signal.SIGTERM)
        time.sleep(0.3)  # stopping now: a supervisor's second SIGTERM must not cut it short
        c.daemon.send(signal.SIGTERM)
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertNotIn("error", result, result)
        self.assertEqual(result["reply"].status, 200, result["reply"])
        self.assertGreaterEqual(time.monotonic() - started, 2.9)
        d, c.daemon = c.daemon, None
        d.proc.wait(timeout=WAIT)
        self.assertEqual(d.stop(), 0, "\n".join(d.lines[-40:]))
        log = "\n".join(d.lines)
        for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(mark, log)
        # Nothing new is accepted once stopped.
        with self.assertRaises(OSError):
            http_request(c.rest_address, "GET", "/health", timeout=2)

    def test_access_lines_are_written_soon_and_none_lost_at_a_stop(self):
        """Access lines are gathered before they are written (a write per
        request was a sixth of its cost): a lone one still shows within its
        window, and a clean stop writes every one."""
        c = self.cluster
        self.assertEqual(c.rest("GET", "/healthz?lone=1").status, 200)
        c.daemon.wait_for(lambda l: l.get("msg") == "request" and l.get("path") == "/healthz",
                          timeout=5)
        host, port = c.rest_address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        for _ in range(300):
            conn.request("GET", "/readyz")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        conn.close()
        d = c.daemon
        c.stop_daemon()
        written = [l for l in d.records() if l.get("msg") == "request" and l.get("path") == "/readyz"]
        self.assertEqual(len(written), 300)

    def test_a_slow_call_holds_only_its_thread(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        path = f"/api/projects/{ns}/agentic-sessions" + KUBE_LIST
        self.assertEqual(c.rest("GET", path, token=ALICE).status, 200)
        fault = c.kube.post("/kubesim/faults", {"latencyMs": 2000, "count": 1, "path": ns})
        self.assertEqual(fault.status, 201, fault)
        result = {}
        t = slow_get(c, path, ALICE, result)
        harness.wait_for(lambda: c.kube.get("/kubesim/faults").body["faults"] == [],
                         what="the request's slow Kubernetes call under way")
        for _ in range(5):  # new connections go to the free loop thread
            begun = time.monotonic()
            self.assertEqual(c.rest("GET", "/healthz", timeout=5).status, 200)
            self.assertLess(time.monotonic() - begun, 1.0)
        t.join(WAIT)
        self.assertIn("reply", result, result)
        self.assertEqual(result["reply"].status, 200, result)


class KubernetesThrottles(ApiTest):
    """Kubernetes throttles a call made with the caller's token (429 as API
    Priority and Fairness sends it, or 503, with Retry-After): the caller is
    answered at once with 503 and a Retry-After of its own, and Kubernetes
    is not asked again behind the caller's back."""
    cluster_args = {"live": False}

    def test_throttled_calls_answer_503_with_retry_after(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        path = f"/api/projects/{ns}/agentic-sessions" + KUBE_LIST
        self.assertEqual(c.rest("GET", path, token=ALICE).status, 200)  # warm the auth cache
        sessions = f"/apis/vteam.ambient-code/v1alpha1/namespaces/{ns}/agenticsessions"
        self.assertEqual(c.kube.delete("/kubesim/requests").status, 200)
        c.ok(c.kube.post("/kubesim/faults", {"status": 429, "retryAfterSeconds": 3, "count": 1,
                                             "plainText": True, "verb": "list",
                                             "path": sessions}), 201)
        r = c.rest("GET", path, token=ALICE)
        body = self.assertError(r, 503)
        self.assertEqual(r.headers.get("retry-after"), "3", r.headers)
        self.assertIn("retry after 3 s", body["error"])
        c.ok(c.kube.post("/kubesim/faults", {"status": 503, "retryAfterSeconds": 2, "count": 1,
                                             "method": "POST", "path": sessions}), 201)
        r = c.rest("POST", path, token=ALICE, body={"initialPrompt": "x"})
        self.assertError(r, 503)
        self.assertEqual(r.headers.get("retry-after"), "2", r.headers)
        # One request each reached Kubernetes: none was retried behind the
        # caller's back (the caller decides when to come again).
        seen = c.ok(c.kube.get("/kubesim/requests?path=" + sessions), 200)["requests"]
        self.assertEqual([(q["method"], q["fault"]) for q in seen], [("GET", 429), ("POST", 503)])
        # A call Kubernetes does not throttle has no Retry-After.
        r = c.rest("GET", path, token=ALICE)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("retry-after", r.headers)


class RateLimit(ApiTest):
    """One caller's flood is its own 429, with Retry-After; other callers
    and the probes are not held up."""
    cluster_args = {"live": False,
                    "api_conf": "rate_limit = { requests_per_second = 1; burst = 3; };"}

    def test_a_caller_past_its_burst_gets_429(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=["bob"])
        path = f"/api/projects/{ns}/agentic-sessions"
        codes = [c.rest("GET", path, token=ALICE).status for _ in range(5)]
        self.assertEqual(codes[:3], [200, 200, 200])
        self.assertEqual(codes[-1], 429)
        r = c.rest("GET", path, token=ALICE)
        body = self.assertError(r, 429)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        self.assertGreaterEqual(body["details"]["retryAfterSeconds"], 1)
        self.assertEqual(c.rest("GET", path, token="bob-token").status, 200)
        for _ in range(5):
            self.assertEqual(c.rest("GET", "/healthz").status, 200)
        time.sleep(1.2)  # one request per second refills
        self.assertEqual(c.rest("GET", path, token=ALICE).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
