#!/usr/bin/python3
"""The controller under API trouble: a status write that conflicts is re-read
and retried; an outage (every request 503) or a stall (seconds of latency)
is ridden out with bounded, backed-off requests, and work resumes after it;
a reconcile that keeps failing is retried with a growing delay; an API
server that throttles (429 or 503 with Retry-After) sees no request again
before the time it asked for, while other keys are reconciled meanwhile."""
import time

from ctlharness import WAIT, ControllerTest, harness, main, wait_until, wpath

# Every request ambientd makes, and none the test makes during the fault
# window (it only POSTs widgets under /apis/test.ambient-code/.../namespaces).
AMBIENTD_ONLY = ({"verb": "watch"}, {"verb": "list"}, {"method": "GET"}, {"method": "PUT"},
                 {"method": "PATCH"}, {"method": "DELETE"}, {"path": "/api/v1/"},
                 {"path": "/coordination.k8s.io/"})
# Long enough that the lease outlives the fault windows below.
LONG_LEASE = (15, 10, 2)


class Conflict(ControllerTest):
    def test_status_conflict_is_retried(self):
        amb = self.start()
        k = self.kube
        ns = k.make_ns()
        k.faults_add(status=409, method="PUT", path="/widgets/clash/status", count=2)
        k.create_widget(ns, "clash")
        w = self.wait_reconciled(ns, "clash")
        self.assertEqual(w["status"]["reconciles"], 1, w["status"])
        self.assertEqual(k.faults(), [], "the injected conflicts were not all hit")
        self.assertGreaterEqual(amb.metric("ambient_kube_requests_total", verb="UPDATE_STATUS",
                                           code="409"), 2)
        # update_status re-read and retried by itself: the reconcile did not fail.
        self.assertEqual(amb.has_msg("reconcile failed; will retry"), [])
        self.assertEqual(amb.metric("ambient_reconcile_total", kind="Widget", result="error"), 0)
        amb.stop_clean(self)


class Outage(ControllerTest):
    def fault_all(self, **what):
        for f in AMBIENTD_ONLY:
            self.kube.faults_add(**dict(f, **what))

    def test_503_everywhere_backs_off_and_recovers(self):
        amb = self.start(lease=LONG_LEASE)
        k = self.kube
        ns = k.make_ns()
        k.create_widget(ns, "before")
        self.wait_reconciled(ns, "before")
        k.wait_watching()

        self.fault_all(status=503)
        self.assertGreaterEqual(k.drop_watches(), 2)
        t0 = time.monotonic()
        n0 = amb.requests_total()
        k.create_widget(ns, "during")
        # Three seconds of outage, measured by ambientd's own request counter.
        time.sleep(3.0)
        n1 = amb.requests_total()
        elapsed = time.monotonic() - t0
        self.assertLess(n1 - n0, 60, "%d requests in %.1f s of outage" % (n1 - n0, elapsed))
        self.assertGreater(amb.metric("ambient_kube_requests_total", code="503"), 0)
        self.assertTrue(amb.alive())
        self.assertEqual(amb.has_msg("reconciled", key="%s/during" % ns), [])
        k.faults_clear()

        self.wait_reconciled(ns, "during")
        self.assertEqual(amb.has_msg("concurrent reconcile of one key"), [])
        self.assertEqual(amb.metric("ambient_leader"), 1)
        amb.stop_clean(self)

    def test_stall_then_recovery(self):
        amb = self.start(lease=LONG_LEASE)
        k = self.kube
        ns = k.make_ns()
        k.wait_watching()
        # Every new request of ambientd waits 2.5 s; its watches are cut so
        # they must be re-opened through the stall.
        self.fault_all(latencyMs=2500)
        self.assertGreaterEqual(k.drop_watches(), 2)
        n0 = amb.requests_total()
        k.create_widget(ns, "stalled")
        time.sleep(4.0)
        self.assertLess(amb.requests_total() - n0, 30)
        k.faults_clear()
        self.wait_reconciled(ns, "stalled")
        self.assertTrue(amb.alive())
        amb.stop_clean(self)

    def test_failing_reconcile_backs_off(self):
        amb = self.start(lease=LONG_LEASE)
        k = self.kube
        ns = k.make_ns()
        # The reconcile of this widget fails (its child Secret can't be read).
        k.faults_add(status=503, path="/api/v1/namespaces/%s/secrets" % ns)
        k.create_widget(ns, "sick")
        first = amb.wait_msg("reconcile failed; will retry", name="sick")
        self.assertEqual(first["attempt"], "1")
        n0 = amb.requests_total()
        t0 = time.monotonic()
        time.sleep(3.0)
        n1 = amb.requests_total()
        attempts = [int(r["attempt"]) for r in amb.has_msg("reconcile failed; will retry",
                                                            name="sick")]
        self.assertEqual(attempts, list(range(1, len(attempts) + 1)))
        # Rate-limited requeue: 5 ms doubling -> about a dozen tries in 3 s,
        # a busy loop would be thousands.
        self.assertLess(n1 - n0, 60, "%d requests in %.1f s" % (n1 - n0, time.monotonic() - t0))
        self.assertLess(len(attempts), 20, attempts)
        k.faults_clear()
        self.wait_reconciled(ns, "sick")
        attempts = amb.has_msg("reconcile failed; will retry", name="sick")
        self.assertEqual(amb.metric("ambient_reconcile_errors_total", kind="Widget"),
                         len(attempts))
        # A 503 without Retry-After is not retried by the client itself: one
        # request per failed reconcile.
        self.assertEqual(amb.metric("ambient_kube_requests_total", verb="GET", code="503"),
                         len(attempts))
        amb.stop_clean(self)


class Throttle(ControllerTest):
    def assert_waited(self, log):
        """Every request answered with a Retry-After came again (the work
        went on), and not before that many seconds, by kubesim's clock."""
        pairs = harness.throttled_retries(log)
        self.assertTrue(pairs, "no throttled request in the log")
        for fault, again in pairs:
            self.assertIsNotNone(again, "never retried: %r" % (fault,))
            waited = again["at"] - fault["at"]
            self.assertGreaterEqual(waited, fault["retryAfterSeconds"],
                                    "%s %s retried %.3f s after a %d with Retry-After: %d"
                                    % (fault["method"], fault["path"], waited, fault["fault"],
                                       fault["retryAfterSeconds"]))
        return pairs

    def test_retry_after_holds_the_key_not_the_worker(self):
        # One worker: a worker that slept out a Retry-After would stall
        # every other key behind the throttled one.
        amb = self.start(lease=LONG_LEASE, workers=1, widget_extra="job = true; ")
        k = self.kube
        ns_a, ns_b, ns_c, ns_d = (k.make_ns() for _ in range(4))
        k.wait_watching()
        k.forget_requests()
        # a: a GET then a LIST throttled as API Priority and Fairness does
        # (429, text/plain, Retry-After: 1); b: a POST of its Job answered
        # 503 with Retry-After: 2 (a Status); d: its status write 429 with
        # Retry-After: 6, the window in which c must get done.
        k.faults_add(status=429, retryAfterSeconds=1, count=1, plainText=True, method="GET",
                     path="/api/v1/namespaces/%s/secrets/a-child" % ns_a)
        k.faults_add(status=429, retryAfterSeconds=1, count=1, verb="list",
                     path="/api/v1/namespaces/%s/pods" % ns_a)
        k.faults_add(status=503, retryAfterSeconds=2, count=1, method="POST",
                     path="/apis/batch/v1/namespaces/%s/jobs" % ns_b)
        k.faults_add(status=429, retryAfterSeconds=6, count=1, method="PUT",
                     path=wpath(ns_d, "d") + "/status")
        k.create_widget(ns_d, "d")
        # c is created once d has been throttled, so it queues behind d.
        wait_until(lambda: [q for q in k.requests(wpath(ns_d, "d")) if q["fault"]], WAIT, 0.05,
                   "d's status write throttled")
        k.create_widget(ns_a, "a")
        k.create_widget(ns_b, "b")
        k.create_widget(ns_c, "c")
        for ns, name in ((ns_a, "a"), (ns_b, "b"), (ns_c, "c"), (ns_d, "d")):
            self.wait_reconciled(ns, name)
        self.assertEqual(k.faults(), [], "not every throttle was hit")

        log = k.requests()
        pairs = self.assert_waited(log)
        self.assertEqual(sorted((f["fault"], f["retryAfterSeconds"]) for f, _ in pairs),
                         [(429, 1), (429, 1), (429, 6), (503, 2)])
        # c was reconciled completely (its status written) while d waited
        # out its Retry-After: the single worker was not asleep behind d.
        d_fault, d_again = next((f, a) for f, a in pairs if f["retryAfterSeconds"] == 6)
        c_done = [q["at"] for q in log if q["method"] == "PUT" and
                  q["path"] == wpath(ns_c, "c") + "/status"]
        self.assertTrue(c_done, "c's status was never written")
        self.assertLess(d_fault["at"], c_done[0])
        self.assertLess(c_done[0], d_again["at"],
                        "c's reconcile waited behind d's Retry-After")
        # The log says why d waits, and for how long at most.
        held = amb.has_msg("reconcile failed; will retry", name="d")
        self.assertEqual(len(held), 1, held)
        self.assertIn("HTTP 429", held[0]["error"])
        self.assertTrue(0 < float(held[0]["retry_after_s"]) <= 6, held[0])
        self.assertGreaterEqual(amb.metric("ambient_kube_requests_total", code="429"), 3)
        self.assertGreaterEqual(amb.metric("ambient_kube_requests_total", code="503"), 1)
        # Each throttled answer is counted once, by the verb it refused.
        self.assertEqual([amb.metric("ambient_kube_throttled_total", verb=v)
                          for v in ("GET", "LIST", "CREATE", "UPDATE_STATUS")], [1, 1, 1, 1])
        self.assertEqual(amb.has_msg("concurrent reconcile of one key"), [])
        amb.stop_clean(self)


if __name__ == "__main__":
    main()
