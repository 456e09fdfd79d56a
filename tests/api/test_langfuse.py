"""The LangFuse export (api.live.langfuse), against a real ambientd and
kubesim (apiharness.py) and a mock LangFuse (mock_langfuse.py): a session
whose runner posted tool calls reaches Completed, and LangFuse receives one
trace for the run with its usage, cost and tool spans, with Basic auth;
a 500 and a 429 are retried, and a run whose whole round of attempts
failed is sent in a later round; a restart that exports the run again sends
the same ids (LangFuse upserts); refused events are counted; the secret
key never reaches the log; and without the group nothing is sent."""
import base64
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiharness as H  # noqa: E402

sys.path.insert(0, os.path.join(H.TESTS, "common"))
from servers import PYTHON, ServerProcess  # noqa: E402

MOCK = os.path.join(H.HERE, "mock_langfuse.py")
PUBLIC_KEY = "pk-lf-test-public"
SECRET_KEY = "sk-lf-9Qx7Secret2KeyZ41"
SESSIONS = "/apis/vteam.ambient-code/v1alpha1/namespaces/{ns}/agenticsessions"


class MockLangfuse(ServerProcess):
    name = "mock_langfuse"

    def __init__(self):
        super().__init__([PYTHON, MOCK])

    def requests(self):
        return self.call_ok("GET", "/mock/requests")["requests"]

    def answer_next(self, *answers):
        self.call_ok("POST", "/mock/answers", list(answers))


def live_conf(live_dir, langfuse=""):
    return f'live = {{ listen = "127.0.0.1:0"; dir = "{live_dir}"; {langfuse} }};'


class LangfuseExportTest(H.ApiTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="langfuse-")
        cls.secret_file = os.path.join(cls.tmp, "secret")
        with open(cls.secret_file, "w") as f:
            f.write(SECRET_KEY + "\n")
        cls.mock = MockLangfuse()
        cls.live_dir = os.path.join(cls.tmp, "events")
        cls.conf_on = live_conf(cls.live_dir, f'''langfuse = {{ enabled = true;
            host = "{cls.mock.url}/"; public_key = "{PUBLIC_KEY}";
            secret_key_file = "{cls.secret_file}"; delay = 0; timeout = 5; retry = 1; }};''')
        cls.cluster_args = {"live": False, "api_conf": cls.conf_on}
        try:
            super().setUpClass()
        except BaseException:
            cls.mock.stop()
            raise
        cls.find_live()
        cls.ns = cls.cluster.make_project(admins=["alice"])

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.mock.stop()

    # ---- helpers ----
    @classmethod
    def find_live(cls):
        """The live listener's address (its group is in api_conf)."""
        rec = cls.cluster.daemon.wait_for(lambda r: r.get("msg") == "live listening")
        cls.cluster.live_address = rec["address"]

    def restart(self, conf):
        self.cluster.restart_daemon(live=False, api_conf=conf)
        self.find_live()
        self.wait_feed()

    def wait_feed(self):
        """Until the status feed announces changes: a change made before its
        first list is taken as the starting point, not as news. A probe
        session's status is changed until the change shows in its log."""
        probe = self.make_session()["name"]
        path = f"/api/projects/{self.ns}/agentic-sessions/{probe}/messages"
        tries = iter(range(1, 600))

        def announced():
            self.set_status(probe, {"phase": "Pending", "message": f"probe {next(tries)}"})
            r = self.cluster.live("GET", path, token=H.ALICE)
            return r.status == 200 and any(e["type"] == "status" for e in r.body["items"])
        H.wait_until(announced, H.WAIT, 0.1, "the status feed")

    def make_session(self):
        body = self.cluster.ok(self.cluster.kube.post(SESSIONS.format(ns=self.ns), {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
            "metadata": {"name": H.uniq("lf")},
            "spec": {"prompt": "fix the flaky test", "model": "claude-sonnet-4-5",
                     "repos": [{"input": {"url": "https://github.com/o/r"}}]}}), 201)
        return body["metadata"]

    def set_status(self, name, status):
        self.cluster.ok(self.cluster.kube.patch(
            f"{SESSIONS.format(ns=self.ns)}/{name}/status", {"status": status}), 200)

    def post_events(self, name, events):
        tok = self.cluster.service_account_token(self.ns, "ambient-session-" + name)
        raw = "".join(json.dumps(e) + "\n" for e in events).encode()
        r = self.cluster.live("POST", f"/api/projects/{self.ns}/agentic-sessions/{name}/events",
                              token=tok, raw=raw, ctype="application/x-ndjson")
        self.assertEqual(r.status, 201, r)

    def wait_requests(self, n, what):
        return H.wait_until(lambda: len(self.mock.requests()) >= n and self.mock.requests(),
                            H.WAIT, 0.1, what)

    def metric(self, line_start):
        text = self.cluster.rest("GET", "/metrics").body
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.split()[-1])
        self.fail(f"{line_start} not on /metrics")

    def events_of(self, request):
        return {e["type"]: e for e in request["body"]["batch"]} | {
            "spans": [e for e in request["body"]["batch"] if e["type"] == "span-create"]}

    # ---- the test: one session's run, in order ----
    def test_finished_run_is_exported_retried_and_upserted(self):
        self.wait_feed()
        md = self.make_session()
        name, uid = md["name"], md["uid"]
        self.set_status(name, {"phase": "Running", "startTime": "2026-12-01T10:00:00Z"})
        self.post_events(name, [
            {"type": "assistant", "message": {"content": [
                {"type": "text", "text": "running the tests"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash",
                 "input": {"command": "make test"}}]}},
            {"type": "user", "message": {"content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": "ok " + "x" * 100000, "is_error": False}]}},
        ])
        # LangFuse fails twice; the export is retried until it succeeds.
        self.mock.answer_next("500", "429")
        self.set_status(name, {
            "phase": "Completed", "startTime": "2026-12-01T10:00:00Z",
            "completionTime": "2026-12-01T10:05:00Z", "results": {"summary": "fixed"},
            "usage": {"inputTokens": 1200, "outputTokens": 340, "totalCostUSD": 0.0421,
                      "numTurns": 3}})
        reqs = self.wait_requests(3, "the export, after a 500 and a 429")
        self.assertEqual([r["status"] for r in reqs], [500, 429, 207])
        self.assertEqual(reqs[0]["body"], reqs[2]["body"])  # the same batch, again
        expected_auth = "Basic " + base64.b64encode(
            f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
        self.assertTrue(all(r["authorization"] == expected_auth for r in reqs))

        ev = self.events_of(reqs[2])
        trace = ev["trace-create"]["body"]
        self.assertEqual(trace["id"], f"{uid}-1")
        self.assertEqual(trace["sessionId"], f"{self.ns}/{name}")
        self.assertEqual(trace["input"], "fix the flaky test")
        self.assertEqual(trace["output"], "fixed")
        self.assertEqual(trace["metadata"]["phase"], "Completed")
        self.assertEqual(trace["metadata"]["project"], self.ns)
        gen = ev["generation-create"]["body"]
        self.assertEqual(gen["traceId"], trace["id"])
        self.assertEqual(gen["model"], "claude-sonnet-4-5")
        self.assertEqual(gen["usageDetails"], {"input": 1200, "output": 340})
        self.assertAlmostEqual(gen["costDetails"]["total"], 0.0421)
        [span] = ev["spans"]
        span = span["body"]
        self.assertEqual((span["name"], span["traceId"]), ("Bash", trace["id"]))
        self.assertEqual(json.loads(span["input"]), {"command": "make test"})
        self.assertTrue(span["output"].startswith("ok xxx"))
        self.assertLess(len(span["output"]), 4096 + 64)  # max_field, and a note
        self.assertIn("bytes cut", span["output"])
        self.assertLessEqual(span["startTime"], span["endTime"])
        H.wait_until(lambda: self.metric('ambient_langfuse_exports_total{outcome="ok"}') == 1,
                     H.WAIT, 0.1, "the ok counter")
        self.assertEqual(self.metric('ambient_langfuse_exports_total{outcome="failed"}'), 0)
        first_ids = sorted(e["id"] for e in reqs[2]["body"]["batch"])

        # A restart, then a change of the finished status: exported again
        # under the same ids (LangFuse upserts); this time LangFuse refuses
        # one event, which is counted and logged.
        log = self.cluster.log_text()
        for secret in (SECRET_KEY, expected_auth.split()[1]):
            self.assertNotIn(secret, log)
        self.restart(self.conf_on)
        self.mock.answer_next("reject")
        self.set_status(name, {
            "phase": "Completed", "startTime": "2026-12-01T10:00:00Z",
            "completionTime": "2026-12-01T10:05:00Z",
            "results": {"summary": "fixed, and a test added"},
            "usage": {"inputTokens": 1200, "outputTokens": 340, "totalCostUSD": 0.0421,
                      "numTurns": 3}})
        reqs = self.wait_requests(4, "the second export")
        again = reqs[3]["body"]["batch"]
        self.assertEqual(sorted(e["body"]["id"] for e in again),
                         sorted(e["body"]["id"] for e in reqs[2]["body"]["batch"]))
        # the unchanged generation and span keep their envelope ids
        # (deduplicated); the trace, whose output changed, does not
        self.assertEqual(len(set(first_ids) & {e["id"] for e in again}), 2)
        H.wait_until(
            lambda: self.metric("ambient_langfuse_events_rejected_total") == 1, H.WAIT, 0.1,
            "the refused event counted")
        self.cluster.daemon.wait_for(lambda r: r.get("msg") == "langfuse: events refused")
        self.assertNotIn(SECRET_KEY, self.cluster.log_text())

        # LangFuse down for a whole round of attempts (five 500s, about 8 s
        # of backoff): the run goes back in the queue and is sent in the
        # next round, api.live.langfuse.retry (here 1 s) later; nothing is
        # counted as failed.
        md = self.make_session()
        self.mock.answer_next(*["500"] * 5)
        self.set_status(md["name"], {"phase": "Failed", "message": "the tests still fail"})
        reqs = self.wait_requests(10, "five failed attempts, then the next round")
        self.assertEqual([r["status"] for r in reqs[4:]], [500] * 5 + [207])
        self.assertEqual(self.events_of(reqs[9])["trace-create"]["body"]["id"],
                         f"{md['uid']}-1")
        self.cluster.daemon.wait_for(
            lambda r: r.get("msg", "").startswith("langfuse: export failed; tried again later"))
        H.wait_until(lambda: self.metric('ambient_langfuse_exports_total{outcome="ok"}') == 2,
                     H.WAIT, 0.1, "the ok counter")
        self.assertEqual(self.metric('ambient_langfuse_exports_total{outcome="failed"}'), 0)

    def test_off_by_default(self):
        """Without api.live.langfuse no request is made and the counters
        stay at 0, though the feed sees the session finish."""
        self.restart(live_conf(self.live_dir))
        try:
            before = len(self.mock.requests())
            md = self.make_session()
            self.set_status(md["name"], {"phase": "Completed"})
            path = f"/api/projects/{self.ns}/agentic-sessions/{md['name']}/messages"
            H.wait_until(lambda: any(
                e["type"] == "status" for e in
                (self.cluster.live("GET", path, token=H.ALICE).body or {}).get("items", [])),
                H.WAIT, 0.1, "the Completed status in the log")
            with self.assertRaises(AssertionError):  # bounded: 1 s with nothing sent
                H.wait_until(lambda: len(self.mock.requests()) > before, 1, 0.1, "a request")
            self.assertEqual(self.metric('ambient_langfuse_exports_total{outcome="ok"}'), 0)
        finally:
            self.restart(self.conf_on)


if __name__ == "__main__":
    unittest.main()
