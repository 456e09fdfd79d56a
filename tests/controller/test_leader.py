#!/usr/bin/python3
"""Leader election between two ambientd: exactly one leads and reconciles;
after kill -9 of the leader the standby takes over within the lease
duration and reconciles; a leader stopped with SIGTERM releases the lease so
a standby takes over at once; a leader that cannot renew exits with 1; a
lease request throttled with Retry-After is not made again sooner."""
import time

from ctlharness import WAIT, ControllerTest, harness, main, wait_until

LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/default/leases/ambient-controller"


def identity(amb):
    return amb.has_msg("controller started")[0]["identity"]


class Failover(ControllerTest):
    def lease_reads(self, amb):
        # A standby's only successful GETs are its reads of the lease.
        return amb.metric("ambient_kube_requests_total", verb="GET", code="200")

    def assert_standby(self, amb, polls=3):
        """amb has read the lease `polls` more times and still does not lead."""
        n0 = self.lease_reads(amb)
        wait_until(lambda: self.lease_reads(amb) >= n0 + polls, WAIT, 0.1,
                   "%d lease polls by the standby" % polls)
        self.assertEqual(amb.has_msg("became the leader"), [])
        self.assertEqual(amb.metric("ambient_leader"), 0)

    def test_failover(self):
        k = self.kube
        a = self.start(wait_leader=False)
        b = self.start(wait_leader=False)
        self.assertNotEqual(a.address, b.address)
        wait_until(lambda: a.has_msg("became the leader") or b.has_msg("became the leader"),
                   WAIT, 0.05, "a leader")
        leader, standby = (a, b) if a.has_msg("became the leader") else (b, a)
        self.assert_standby(standby)
        self.assertEqual(leader.metric("ambient_leader"), 1)
        self.assertEqual(len(leader.has_msg("became the leader")), 1)
        lease = k.ok(k.c.get(LEASE_PATH), 200)
        self.assertEqual(lease["spec"]["holderIdentity"], identity(leader))

        # Only the leader reconciles.
        ns = k.make_ns()
        k.create_widget(ns, "first")
        self.wait_reconciled(ns, "first")
        leader.wait_msg("reconciled", key="%s/first" % ns)
        self.assertEqual(standby.has_msg("reconciled"), [])

        # kill -9: the lease is left held; the standby waits it out.
        leader.kill()
        t_kill = time.monotonic()
        k.create_widget(ns, "second")
        standby.wait_msg("became the leader")
        took = time.monotonic() - t_kill
        self.assertLess(took, 10, "takeover after kill -9 took %.1f s" % took)
        self.wait_reconciled(ns, "second")
        standby.wait_msg("reconciled", key="%s/second" % ns)
        self.assertEqual(standby.metric("ambient_leader"), 1)

        # A third replica; the current leader stops with SIGTERM and
        # releases the lease: the newcomer takes over quickly.
        c = self.start(wait_leader=False)
        self.assert_standby(c, polls=2)
        t_term = time.monotonic()
        standby.terminate()
        c.wait_msg("became the leader")
        took = time.monotonic() - t_term
        standby.stop_clean(self)
        self.assertTrue(standby.has_msg("released the lease"))
        self.assertLess(took, 3, "takeover after SIGTERM took %.1f s" % took)
        k.create_widget(ns, "third")
        self.wait_reconciled(ns, "third")
        c.wait_msg("reconciled", key="%s/third" % ns)
        lease = k.ok(k.c.get(LEASE_PATH), 200)
        self.assertEqual(lease["spec"]["holderIdentity"], identity(c))
        c.stop_clean(self)


class LostLease(ControllerTest):
    def test_leader_that_cannot_renew_exits_1(self):
        amb = self.start()
        self.kube.faults_add(status=503, path="/leases/ambient-controller")
        t0 = time.monotonic()
        amb.wait_msg("leadership lost; exiting so a fresh process can compete")
        amb.stop_clean(self, want=1, send=False)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertTrue(amb.has_msg("could not renew the lease in time; leadership lost"))


class ThrottledLease(ControllerTest):
    def test_lease_requests_wait_their_retry_after(self):
        # A 2 s retry period; the server asks for 4 s, once on a read of
        # the lease and once (503) on its renewal, well within the 10 s
        # renew deadline.
        amb = self.start(lease=(15, 10, 2))
        k = self.kube
        k.forget_requests()
        k.faults_add(status=429, retryAfterSeconds=4, count=1, plainText=True, method="GET",
                     path=LEASE_PATH)
        wait_until(lambda: not k.faults(), WAIT, 0.05, "the lease read throttled")
        k.faults_add(status=503, retryAfterSeconds=4, count=1, method="PUT", path=LEASE_PATH)
        wait_until(lambda: not k.faults(), WAIT, 0.05, "the lease renewal throttled")
        # Renewals go on afterwards (two more rounds of GET and PUT).
        wait_until(lambda: len([q for q in k.requests(LEASE_PATH)
                                if q["method"] == "PUT" and not q["fault"]]) >= 2, WAIT, 0.1,
                   "renewals after the throttles")
        pairs = harness.throttled_retries(k.requests(LEASE_PATH))
        self.assertEqual(sorted((f["method"], f["fault"]) for f, _ in pairs),
                         [("GET", 429), ("PUT", 503)])
        for fault, again in pairs:
            self.assertIsNotNone(again, fault)
            # The next round of lease requests, whichever it begins with.
            nxt = min(q["at"] for q in k.requests(LEASE_PATH) if q["at"] > fault["at"])
            self.assertGreaterEqual(nxt - fault["at"], 4, (fault, nxt))
        self.assertEqual(amb.metric("ambient_leader"), 1)
        self.assertEqual(amb.has_msg("could not renew the lease in time; leadership lost"), [])
        amb.stop_clean(self)


if __name__ == "__main__":
    main()
