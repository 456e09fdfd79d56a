#!/usr/bin/python3
"""The controller reconciles what it watches: many Widgets across namespaces
(with spec updates racing the reconciles) all end with their current
generation observed, Ready and an owned child Secret, and no key is ever
reconciled by two workers at once; the probes and metrics tell the truth;
a kind whose CRD is missing says so; without any kind plugin the controller
still runs."""
import os
import time
from concurrent.futures import ThreadPoolExecutor

from ctlharness import WAIT, WIDGETS, ControllerTest, main, reconciled, wait_until, wpath

MANAGED = "app.kubernetes.io/managed-by"
SCHED_OTHER, SCHED_BATCH = os.SCHED_OTHER, os.SCHED_BATCH
N_NS, PER_NS = 10, 20


class ManyObjects(ControllerTest):
    def test_every_widget_reconciled_once_at_a_time(self):
        amb = self.start(slow_ms=20, workers=4)
        k = self.kube
        namespaces = [k.make_ns() for _ in range(N_NS)]
        objs = [(ns, "w%03d" % i, {"size": 1}) for ns in namespaces for i in range(PER_NS)]
        k.create_many(objs, threads=8)

        # Spec changes while the first reconciles are still running: each
        # object moves to generation 2 and must end up observed there.
        def bump(o):
            r = k.c.patch(wpath(o[0], o[1]), {"spec": {"size": 2}})
            self.assertEqual(r.status, 200, r)
            return r.body["metadata"]["generation"], bool(r.body.get("status"))
        with ThreadPoolExecutor(8) as ex:
            bumped = list(ex.map(bump, objs))
        self.assertTrue(all(g == 2 for g, _ in bumped), bumped[:5])
        # The updates really raced the reconciles: some objects had a
        # status already, others not yet (slow_ms keeps reconciles slow).
        self.assertTrue(any(not had for _, had in bumped),
                        "every widget was reconciled before its update: no race exercised")

        def all_done():
            items = k.list_widgets()
            mine = [w for w in items if w["metadata"]["namespace"] in namespaces]
            return mine if len(mine) == len(objs) and all(map(reconciled, mine)) else None
        items = wait_until(all_done, 120, 0.2, "all %d widgets reconciled at generation 2" % len(objs))
        for w in items:
            self.assertEqual(w["metadata"]["generation"], 2, w)
            # One status write per generation at most: nothing was written twice.
            self.assertIn(w["status"]["reconciles"], (1, 2), w)

        # Child secrets: one per widget, controller-owned and labelled.
        r = k.c.get("/api/v1/secrets?labelSelector=%s%%3Dambient" % MANAGED)
        self.assertEqual(r.status, 200, r)
        secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in r.body["items"]}
        for w in items:
            md = w["metadata"]
            s = secrets.get((md["namespace"], md["name"] + "-child"))
            self.assertIsNotNone(s, "no child secret for %s/%s" % (md["namespace"], md["name"]))
            self.assertEqual(s["metadata"]["labels"].get(MANAGED), "ambient")
            refs = [x for x in s["metadata"].get("ownerReferences", []) if x.get("controller")]
            self.assertEqual(len(refs), 1, s["metadata"])
            self.assertEqual((refs[0]["kind"], refs[0]["name"], refs[0]["uid"],
                              refs[0]["apiVersion"]),
                             ("Widget", md["name"], md["uid"], "test.ambient-code/v1alpha1"))

        self.assertEqual(amb.has_msg("concurrent reconcile of one key"), [])
        self.assertGreaterEqual(amb.metric("ambient_reconcile_total", kind="Widget",
                                           result="success"), len(objs))
        self.assertEqual(amb.metric("ambient_reconcile_total", kind="Widget", result="error"),
                         amb.metric("ambient_reconcile_errors_total", kind="Widget"))
        self.assertGreaterEqual(amb.metric("ambient_reconcile_duration_seconds_count",
                                           kind="Widget"), len(objs))
        self.assertEqual(amb.metric("ambient_cache_objects", resource="widgets"), len(objs))
        self.assertEqual(amb.metric("ambient_leader"), 1)
        wait_until(lambda: amb.metric("ambient_workqueue_depth") == 0, WAIT, 0.1,
                   "an empty work queue")
        self.assertEqual(amb.get("/readyz")[0], 200)
        self.assertEqual(amb.get("/healthz")[0], 200)
        self.assertEqual(amb.get("/nope")[0], 404)
        amb.stop_clean(self)


class HotKeys(ControllerTest):
    def test_busy_keys_never_overlap(self):
        # Few keys, more workers than keys, and a stream of updates to each
        # while it is being reconciled: idle workers are always there to
        # take a key again, so only the queue keeps them apart.
        amb = self.start(slow_ms=30, workers=8)
        k = self.kube
        ns = k.make_ns()
        names = ["hot%d" % i for i in range(4)]
        for n in names:
            k.create_widget(ns, n)

        def hammer(name):
            for i in range(25):
                r = k.c.patch(wpath(ns, name),
                              {"metadata": {"annotations": {"poke": str(i)}}})
                self.assertEqual(r.status, 200, r)
                time.sleep(0.01)
        with ThreadPoolExecutor(len(names)) as ex:
            list(ex.map(hammer, names))
        for n in names:
            self.wait_reconciled(ns, n)
        wait_until(lambda: amb.metric("ambient_workqueue_depth") == 0, WAIT, 0.05,
                   "an empty work queue")
        # Each key went through more than one reconcile while updates landed.
        self.assertGreater(amb.metric("ambient_reconcile_total", kind="Widget",
                                      result="success"), 2 * len(names))
        self.assertEqual(amb.has_msg("concurrent reconcile of one key"), [])
        amb.stop_clean(self)


class OwnerChain(ControllerTest):
    def test_pod_of_a_job_wakes_the_widget(self):
        """Pods are owned by their Job, not by the Widget: the controller
        follows Pod -> Job -> Widget through its caches."""
        k = self.kube
        amb = self.start(widget_extra="job = true; ")
        ns = k.make_ns()
        k.create_widget(ns, "chain", {"size": 1})
        w = wait_until(lambda: (lambda o: o if o.get("status", {}).get("pods") == 0 else None)(
            k.get_widget(ns, "chain")), WAIT, 0.1, "the widget reconciled with its job")
        self.assertEqual(w["status"]["pods"], 0)
        r = k.c.post("/kubesim/jobs/%s/chain-job/start" % ns, {})
        self.assertIn(r.status, (200, 201), r)
        wait_until(lambda: k.get_widget(ns, "chain").get("status", {}).get("pods") == 1, WAIT, 0.1,
                   "the pod's creation to reach the widget")
        amb.stop_clean(self)


def thread_policies(pid):
    """{tid: (comm, scheduling policy)} of a process's threads (/proc's
    stat: the policy is field 41, counted after the comm's ')')."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            stat = f.read()
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        out[int(tid)] = (comm, int(stat[stat.rindex(")") + 2:].split()[38]))
    return out


class Scheduling(ControllerTest):
    def test_workers_do_not_preempt_the_loop_thread(self):
        """The reconcile workers run SCHED_BATCH, so one the loop thread
        wakes does not take its CPU; the loop thread stays SCHED_OTHER."""
        amb = self.start(workers=3)
        def workers():
            found = [p for comm, p in thread_policies(amb.pid).values() if comm == "reconcile"]
            return found if len(found) == 3 else None
        policies = wait_until(workers, WAIT, 0.05, "three reconcile threads")
        self.assertEqual(policies, [SCHED_BATCH] * 3)
        self.assertEqual(thread_policies(amb.pid)[amb.pid][1], SCHED_OTHER)
        amb.stop_clean(self)


class Probes(ControllerTest):
    def test_readyz_waits_for_the_caches(self):
        # The widgets list stalls for a while: /readyz is 503 until it lands,
        # /healthz is 200 all along.
        self.kube.faults_add(latencyMs=3000, verb="list", path="/widgets", count=1)
        amb = self.start(wait_synced=False, wait_leader=False)
        code, body = amb.get("/readyz")
        self.assertEqual(code, 503)
        self.assertRegex(body, r"^caches not synced: widgets\.test\.ambient-code(, [a-z.]+)*\n$")
        self.assertEqual(amb.get("/healthz")[0], 200)
        amb.wait_msg("cache synced", resource="widgets")
        wait_until(lambda: amb.get("/readyz")[0] == 200, WAIT, 0.05, "/readyz 200")
        amb.stop_clean(self)


class MissingCrd(ControllerTest):
    CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.ambient-code"

    def test_the_log_and_readyz_name_a_missing_crd(self):
        """A kind whose CRD is not installed: the list answers 404, the log
        says the CRD is missing, /readyz names the cache that waits for it;
        installing the CRD heals it."""
        k = self.kube
        crd = k.ok(k.c.get(self.CRD), 200)
        k.ok(k.c.delete(self.CRD), 200, 202)
        wait_until(lambda: k.c.get(WIDGETS + "/widgets").status == 404, what="widgets not served")
        amb = self.start(wait_synced=False)
        rec = amb.wait_msg("list failed: the CustomResourceDefinition is not installed",
                           resource="widgets")
        self.assertEqual(rec["crd"], "widgets.test.ambient-code")
        self.assertEqual(amb.has_msg("cache synced", resource="widgets"), [])
        # The other caches sync; the widgets cache waits for its CRD.
        wait_until(lambda: amb.get("/readyz") == (503, "caches not synced: "
                                                  "widgets.test.ambient-code\n"),
                   what="/readyz naming only the widgets cache")

        crd["metadata"] = {"name": crd["metadata"]["name"]}
        crd.pop("status", None)
        k.ok(k.c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd), 201)
        amb.wait_msg("cache synced", resource="widgets")
        wait_until(lambda: amb.get("/readyz") == (200, "ok\n"), what="/readyz 200")
        amb.stop_clean(self)


class NoKindPlugin(ControllerTest):
    def test_controller_runs_without_kinds(self):
        t0 = time.monotonic()
        amb = self.start(plugins=())
        self.assertLess(time.monotonic() - t0, 30)
        # (The gauge follows the "became the leader" line by a moment.)
        wait_until(lambda: amb.metric("ambient_leader") == 1, WAIT, 0.02, "ambient_leader 1")
        self.assertEqual(amb.get("/healthz")[0], 200)
        self.assertEqual(amb.get("/readyz")[0], 200)
        names = {n for n, _, _ in amb.metrics()}
        for want in ("ambient_leader", "ambient_workqueue_depth"):
            self.assertIn(want, names)
        lease = self.kube.c.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/"
                                "ambient-controller")
        self.assertEqual(lease.status, 200, lease)
        ident = amb.has_msg("controller started")[0]["identity"]
        self.assertEqual(lease.body["spec"]["holderIdentity"], ident)
        amb.stop_clean(self)
        # SIGTERM released the lease.
        lease = self.kube.c.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/"
                                "ambient-controller")
        self.assertEqual(lease.body["spec"].get("holderIdentity", ""), "")


if __name__ == "__main__":
    main()
