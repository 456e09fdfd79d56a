#!/usr/bin/python3
"""The controller under API trouble: a status write that conflicts is re-read
and retried; an outage (every request 503) or a stall (seconds of latency)
is ridden out with bounded, backed-off requests, and work resumes after it;
a reconcile that keeps failing is retried with a growing delay."""
import time

from ctlharness import ControllerTest, main

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

    def test_retry_after_is_honoured(self):
        amb = self.start(lease=LONG_LEASE)
        k = self.kube
        ns = k.make_ns()
        # One 503 that asks for a retry after 1 s: the client waits and
        # retries by itself, so the reconcile does not fail.
        k.faults_add(status=503, retryAfterSeconds=1, count=1,
                     path="/api/v1/namespaces/%s/secrets" % ns)
        k.create_widget(ns, "patient")
        self.wait_reconciled(ns, "patient")
        self.assertEqual(k.faults(), [])
        self.assertEqual(amb.metric("ambient_kube_requests_total", verb="GET", code="503"), 1)
        self.assertEqual(amb.has_msg("reconcile failed; will retry"), [])
        amb.stop_clean(self)


if __name__ == "__main__":
    main()
