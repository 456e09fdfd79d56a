#!/usr/bin/python3
"""Controller benchmark: ambientd against kubesim with many Widgets created
before it starts. Prints figures; never fails on time.

Measures
  - time from ambientd's start to "cache synced" for widgets;
  - RSS (VmRSS) after sync, against the objects' compact JSON size (goal:
    RSS <= 2 x compact JSON + 8 MiB), next to an idle ambientd's RSS;
  - reconciles per second: the first reconcile of every object (child
    Secret, status and Event writes), a drain of no-op reconciles queued by
    the initial list (queue -> worker), and no-op reconciles fed through the
    watch (annotation touches -> watch -> queue -> worker);
  - API calls per reconcile (ambient_kube_requests_total deltas);
  - baseline: kubesim's own list latency for the same objects (urllib).

ambientd is kept a standby while it syncs (a bench-owned Lease holder), so
sync and RSS are measured without reconciles running; releasing that Lease
lets it lead. kube.qps = 0 (no client-side rate limit), so the figures are
ambientd's and kubesim's, not the limiter's.

Use a Release build for RSS figures:
  cmake -S . -B /tmp/bench-build -DCMAKE_BUILD_TYPE=Release -DAMBIENT_TESTS=ON
  cmake --build /tmp/bench-build -j2
  AMBIENTD=/tmp/bench-build/bin/ambientd tests/bench/controller_bench.py [--objects N]

Environment: AMBIENTD (default /tmp/bench-build/bin/ambientd if built, else
build/bin/ambientd), AMB_TEST_PLUGIN_DIR (default: <ambientd>/../../tests/plugins),
KUBESIM and CRD_DIR (default: the source tree's)."""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def default_ambientd():
    for cand in ("/tmp/bench-build/bin/ambientd", os.path.join(SRC, "build", "bin", "ambientd")):
        if os.path.exists(cand):
            return cand
    sys.exit("controller_bench: set AMBIENTD")


# The environment wins (ctest gives the build under test); the default
# folders are searched only without it.
if "AMBIENTD" not in os.environ:
    os.environ["AMBIENTD"] = default_ambientd()
os.environ.setdefault("AMB_TEST_PLUGIN_DIR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.realpath(os.environ["AMBIENTD"]))), "tests", "plugins"))
sys.path.insert(0, os.path.join(SRC, "tests", "controller"))

from benchenv import run_bench  # noqa: E402
from ctlharness import ADMIN, WIDGETS, Ambient, Kube, wait_until  # noqa: E402

LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/ambient-controller"
MiB = 1024 * 1024


def micro_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="ambbench-")
        self.kube = Kube("--history-size", str(max(50000, args.objects * 6)))
        self.rows = []
        self.ambients = []

    def row(self, what, value, note=""):
        self.rows.append((what, value, note))
        print("  %-48s %s %s" % (what, value, note), flush=True)

    def start(self, **kw):
        amb = Ambient(self.kube, self.tmp, **kw)
        self.ambients.append(amb)
        return amb

    # ---- lease: keep ambientd a standby until released ----
    def hold_lease(self):
        k = self.kube
        spec = {"holderIdentity": "bench-holder", "leaseDurationSeconds": 3600,
                "acquireTime": micro_now(), "renewTime": micro_now(), "leaseTransitions": 0}
        r = k.c.get(LEASE)
        if r.status == 404:
            k.ok(k.c.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "ambient-controller", "namespace": "default"},
                "spec": spec}), 201)
        else:
            lease = r.body
            lease["spec"] = spec
            k.ok(k.c.put(LEASE, lease), 200)

    def release_lease(self):
        lease = self.kube.ok(self.kube.c.get(LEASE), 200)
        lease["spec"]["holderIdentity"] = ""
        lease["spec"]["leaseDurationSeconds"] = 1
        self.kube.ok(self.kube.c.put(LEASE, lease), 200)

    # ---- objects ----
    def create_objects(self):
        n, size = self.args.objects, self.args.size
        k = self.kube
        nss = [k.make_ns("bench-%02d" % i) for i in range(self.args.namespaces)]
        self.nss = nss
        # ~size bytes of compact JSON per object, most of it in the spec.
        pad = "x" * max(0, size - 420)
        objs = [(nss[i % len(nss)], "w%05d" % i, {"size": i, "payload": pad}) for i in range(n)]
        t0 = time.monotonic()
        k.create_many(objs, threads=self.args.threads)
        dt = time.monotonic() - t0
        self.row("create %d widgets in kubesim" % n, "%.1f s" % dt, "(%.0f/s, %d threads)" %
                 (n / dt, self.args.threads))
        return objs

    def list_baseline(self):
        """kubesim's own list of all widgets with urllib: paged as the
        informer does (limit=500) and in one go."""
        def fetch(url):
            req = urllib.request.Request(url, headers={"Authorization": "Bearer " + ADMIN})
            with urllib.request.urlopen(req, timeout=300) as r:
                return json.loads(r.read())
        base = self.kube.url + WIDGETS + "/widgets"
        t0 = time.monotonic()
        items, cont = [], None
        for _ in range(100000):
            page = fetch(base + "?limit=500" + ("&continue=" + cont if cont else ""))
            items += page["items"]
            cont = page["metadata"].get("continue")
            if not cont:
                break
        paged = time.monotonic() - t0
        t0 = time.monotonic()
        whole = fetch(base)
        single = time.monotonic() - t0
        compact = sum(len(json.dumps(o, separators=(",", ":")).encode()) for o in whole["items"])
        self.row("baseline: kubesim list, pages of 500", "%.2f s" % paged,
                 "(%d objects)" % len(items))
        self.row("baseline: kubesim list, one request", "%.2f s" % single)
        return compact

    def reconciles(self, amb):
        return amb.metric("ambient_reconcile_total", kind="Widget", result="success")

    def run(self):
        a = self.args
        print("ambientd: %s" % os.environ["AMBIENTD"])
        print("objects: %d x ~%d B in %d namespaces; workers %d" %
              (a.objects, a.size, a.namespaces, a.workers), flush=True)
        cfg = dict(workers=a.workers, wait_leader=False, lease=(4, 3, 1), kube_extra="qps = 0; ")

        # Idle ambientd (no objects), a standby like the others.
        self.hold_lease()
        idle = self.start(**cfg)
        wait_until(lambda: idle.get("/readyz")[0] == 200, what="idle ready")
        time.sleep(0.5)
        idle_rss = rss_kib(idle.pid)
        idle_anon = rss_kib(idle.pid, "RssAnon")
        idle.d.stop()
        self.row("baseline: RSS of an idle ambientd (no objects)", "%.1f MiB" % (idle_rss / 1024),
                 "(anonymous %.1f MiB; the rest is mapped libraries)" % (idle_anon / 1024))

        self.create_objects()
        compact = self.list_baseline()

        # 1. Cold start to synced, as a standby (no reconciles).
        t0 = time.monotonic()
        amb = self.start(wait_synced=False, **cfg)
        amb.wait_msg("cache synced", resource="widgets", timeout=600)
        sync = time.monotonic() - t0
        amb.wait_msg("cache synced", resource="secrets", timeout=60)
        wait_until(lambda: amb.metric("ambient_cache_objects", resource="widgets") == a.objects,
                   60, 0.1, "all widgets cached")
        time.sleep(0.5)
        rss = rss_kib(amb.pid)
        hwm = rss_kib(amb.pid, "VmHWM")
        goal = 2 * compact + 8 * MiB
        self.row("start -> cache synced (widgets)", "%.2f s" % sync)
        self.row("objects' compact JSON", "%.1f MiB" % (compact / MiB))
        anon = rss_kib(amb.pid, "RssAnon")
        self.row("RSS after sync (peak; anonymous)", "%.1f MiB (%.1f; %.1f)" %
                 (rss / 1024, hwm / 1024, anon / 1024),
                 "goal <= 2 x JSON + 8 MiB = %.1f MiB: %.2f of goal; RSS-idle = %.2f x JSON" %
                 (goal / MiB, rss * 1024 / goal, (rss - idle_rss) * 1024 / compact))

        # 2. First reconcile of everything: writes a Secret, the status and an Event each.
        r0, q0 = self.reconciles(amb), amb.requests_total()
        t0 = time.monotonic()
        self.release_lease()
        amb.wait_msg("became the leader")

        def all_done():
            return (amb.metric("ambient_reconcile_total", kind="Widget", result="success") >=
                    a.objects and amb.metric("ambient_workqueue_depth") == 0)
        wait_until(all_done, 1800, 0.2, "first reconciles")
        dt = time.monotonic() - t0
        r1, q1 = self.reconciles(amb), amb.requests_total()
        self.row("objects first reconciled (Secret+status+Event)", "%.0f/s" % (a.objects / dt),
                 "(%d objects, %d reconciles in %.1f s)" % (a.objects, r1 - r0, dt))
        self.row("API calls per object's first reconcile", "%.2f" % ((q1 - q0) / a.objects),
                 "(%.2f per reconcile: each object's own writes wake it once more)" %
                 ((q1 - q0) / max(1, r1 - r0)))
        self.row("RSS after first reconciles (peak)", "%.1f MiB (%.1f)" %
                 (rss_kib(amb.pid) / 1024, rss_kib(amb.pid, "VmHWM") / 1024),
                 "(+%d child Secrets cached)" % amb.metric("ambient_cache_objects",
                                                           resource="secrets"))

        # 3. No-op reconciles through watch -> queue -> worker: touch an
        # annotation on M objects (no generation change: nothing to write).
        m = min(a.objects, a.touch)
        r0, q0 = self.reconciles(amb), amb.requests_total()
        k = self.kube
        batch = [(self.nss[i % len(self.nss)], "w%05d" % i) for i in range(m)]

        def touch(o):
            k.ok(k.c.patch("%s/namespaces/%s/widgets/%s" % (WIDGETS, o[0], o[1]),
                           {"metadata": {"annotations": {"bench/touch": str(time.time())}}}), 200)
        t0 = time.monotonic()
        with ThreadPoolExecutor(a.threads) as ex:
            list(ex.map(touch, batch))
        t_touched = time.monotonic()
        wait_until(lambda: self.reconciles(amb) >= r0 + m, 600, 0.02, "touch reconciles")
        t_done = time.monotonic()
        r1, q1 = self.reconciles(amb), amb.requests_total()
        self.row("no-op reconciles fed by the watch", "%.0f/s" % (m / (t_done - t0)),
                 "(%d touches at %.0f/s by kubesim; last reconciled %.0f ms after last touch)" %
                 (m, m / (t_touched - t0), (t_done - t_touched) * 1000))
        self.row("API calls per no-op reconcile", "%.2f" % ((q1 - q0) / max(1, r1 - r0)))
        self.row("RSS after the no-op reconciles (peak)", "%.1f MiB (%.1f)" %
                 (rss_kib(amb.pid) / 1024, rss_kib(amb.pid, "VmHWM") / 1024))
        amb.d.stop()

        # 4. Queue -> worker drain with no API in the way: a fresh standby
        # lists everything (each key queued once), then leads; every
        # reconcile is a no-op.
        self.hold_lease()
        t0 = time.monotonic()
        amb = self.start(wait_synced=False, **cfg)
        amb.wait_msg("cache synced", resource="widgets", timeout=600)
        amb.wait_msg("cache synced", resource="secrets", timeout=600)
        self.row("start -> synced, widgets + child Secrets", "%.2f s" % (time.monotonic() - t0))
        wait_until(lambda: amb.metric("ambient_workqueue_depth") >= a.objects, 60, 0.05,
                   "queued keys")
        r0, q0 = self.reconciles(amb), amb.requests_total()
        t0 = time.monotonic()
        self.release_lease()
        amb.wait_msg("became the leader")
        t_lead = time.monotonic()
        wait_until(lambda: self.reconciles(amb) >= r0 + a.objects, 600, 0.01, "drain")
        t_done = time.monotonic()
        r1, q1 = self.reconciles(amb), amb.requests_total()
        self.row("no-op reconciles draining the queue", "%.0f/s" % (a.objects / (t_done - t_lead)),
                 "(%d in %.2f s after leading)" % (a.objects, t_done - t_lead))
        self.row("API calls per queued no-op reconcile", "%.3f" % ((q1 - q0) / max(1, r1 - r0)),
                 "(lease traffic included)")
        amb.d.stop()

    def report(self):
        print("\n| figure | value | note |\n|---|---|---|")
        for what, value, note in self.rows:
            print("| %s | %s | %s |" % (what, value, note.strip("()")))

    def close(self):
        for amb in self.ambients:
            if amb.alive():
                amb.kill()
        self.kube.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=10000)
    p.add_argument("--size", type=int, default=2048, help="bytes of compact JSON per object")
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--threads", type=int, default=16, help="client threads creating objects")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--touch", type=int, default=2000, help="objects touched for the watch figure")
    args = p.parse_args()
    return run_bench(Bench(args))


if __name__ == "__main__":
    sys.exit(main())
