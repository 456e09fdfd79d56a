#!/usr/bin/python3
"""Peer benchmark: ambientd's informer next to informers written with the
official clients, on one workload, against one kubesim, in one run. Prints
figures and one table with ratios; never fails on time (it fails only when
a peer breaks: exits, or misses a bounded wait).

The peers (each alone on the server, one after the other):
  - ambientd, one or more builds (--ambientd NAME=PATH; a Release build),
    with the no-op kind tests/bench/noop_kind.c and no leader election;
  - Debian's python3-kubernetes on /usr/bin/python3
    (tests/bench/peers/informer_python.py): one unpaged list, then a watch;
  - @kubernetes/client-node from npm (tests/bench/peers/informer_node.mjs,
    its makeInformer), the version pinned in tests/bench/peers/package.json
    and package-lock.json, installed with `npm ci` into the build tree.
A peer that cannot run here (package missing, npm unreachable) is skipped,
with the reason printed in its row.

The workload, the same for every peer:
  1. N Widgets (default 10,000) of ~S bytes of compact JSON (default 2 KiB)
     across M namespaces, created before any peer starts. Each carries the
     annotations bench/round = "sync" and bench/expect = N.
  2. start -> synced: from spawning the peer to its "synced" signal (the
     "cache synced" log line for widgets; the Python and Node peers print
     it once their list is cached).
  3. Every peer queues each object it lists and runs its no-op reconcile
     on it: read the object from its cache and count it when it carries
     bench/round; when a round's count reaches bench/expect the peer prints
     the time (CLOCK_MONOTONIC, the clock this script reads). "start ->
     all reconciled" is the sync round's end.
  4. RSS (VmRSS) with all N objects cached and reconciled, half a second
     after that round; VmHWM is the peak. CPU: the peer's threads' CPU time
     (/proc/PID/task/*/schedstat) at the synced signal, and per event over
     a backlog's drain (and kubesim's, sending it); on a shared machine it
     moves less than wall time.
  5. Backlog: kubesim holds the peer's watch (POST /kubesim/watches/hold),
     the bench patches B objects (default 5,000) with bench/round =
     "backlog-<peer>" and bench/expect = B, then releases the watch: the B
     events arrive at once. Drain = from the release to the B-th reconcile
     (watch -> cache -> queue -> no-op reconcile), reported in events/s.
  Each peer is started --repeat times (default 3; the last one stays for
  the backlogs) and drains as many backlogs: the medians are reported.

Run it on a Release build (and twice: the machine is noisy):
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
  cmake --build build/release -j2
  tests/bench/peer_bench.py --ambientd after=build/release/bin/ambientd

Environment: AMBIENTD (the default --ambientd), AMB_TEST_PLUGIN_DIR (where
benchnoop.so is; default <ambientd>/../../tests/plugins), KUBESIM, CRD_DIR."""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(HERE, "peers")
GROUP, VERSION, PLURAL = "test.ambient-code", "v1alpha1", "widgets"
MiB = 1024 * 1024


def default_ambientd():
    if "AMBIENTD" in os.environ:
        return os.environ["AMBIENTD"]
    for cand in ("build/release", "build"):
        path = os.path.join(SRC, cand, "bin", "ambientd")
        if os.path.exists(path):
            return path
    sys.exit("peer_bench: no ambientd found; build one, or pass --ambientd NAME=PATH")


def build_dir_of(ambientd):
    return os.path.dirname(os.path.dirname(os.path.realpath(ambientd)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=10000)
    p.add_argument("--size", type=int, default=2048, help="bytes of compact JSON per object")
    p.add_argument("--payload", choices=("repeated", "random"), default="repeated",
                   help="the spec's filler: one repeated letter (as controller_bench.py), or "
                   "random letters and digits, which compress far less (the caches' zstd)")
    p.add_argument("--backlog", type=int, default=5000, help="watch events queued by the hold")
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--workers", type=int, default=4, help="reconcile workers (ambientd, Python)")
    p.add_argument("--page-size", type=int, default=0,
                   help="ambientd's controller.list_page_size (default: its own default)")
    p.add_argument("--threads", type=int, default=16, help="client threads writing objects")
    p.add_argument("--ambientd", action="append", metavar="NAME=PATH",
                   help="an ambientd build to run (repeatable); default: $AMBIENTD")
    p.add_argument("--peers", default="python,node,floor",
                   help="which peers to run besides ambientd: python, node, and floor (a raw "
                   "watch that parses nothing: about kubesim's own pace for the backlog)")
    p.add_argument("--node-dir", help="where @kubernetes/client-node is installed "
                   "(default: <build>/peers-node, installed there with npm ci if missing)")
    p.add_argument("--repeat", type=int, default=3,
                   help="starts, and backlogs, per peer; the medians are reported")
    p.add_argument("--wait", type=float, default=600, help="bound of each wait, seconds")
    a = p.parse_args()
    a.ambientd = [x.split("=", 1) if "=" in x else ["ambientd", x]
                  for x in (a.ambientd or [default_ambientd()])]
    if a.backlog > a.objects:
        p.error("--backlog is at most --objects")
    return a


ARGS = parse_args()
os.environ.setdefault("AMBIENTD", ARGS.ambientd[0][1])
os.environ.setdefault("AMB_TEST_PLUGIN_DIR",
                      os.path.join(build_dir_of(ARGS.ambientd[0][1]), "tests", "plugins"))
sys.path.insert(0, os.path.join(SRC, "tests", "controller"))
from benchenv import cpu_ns, rss_kib, run_bench  # noqa: E402
from ctlharness import ADMIN, PLUGIN_DIR, WIDGETS, Kube, wait_until  # noqa: E402


class Peer:
    """One informer process and the JSON lines it prints (signals)."""

    def __init__(self, name, cmd, env=None, signals_on_stderr=False):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if signals_on_stderr else subprocess.PIPE,
            stderr=subprocess.PIPE if signals_on_stderr else None)  # a peer that fails says why
        self.stream = self.proc.stderr if signals_on_stderr else self.proc.stdout
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.stream:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            with self.cond:
                self.lines.append((time.monotonic(), rec))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, pred, what, timeout):
        """(arrival time, record) of the first line pred accepts."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, rec in self.lines:
                    if pred(rec):
                        return t, rec
                if self.proc.poll() is not None:
                    raise AssertionError("%s exited (%s) before %s" %
                                         (self.name, self.proc.returncode, what))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: no %s within %.0f s" % (self.name, what, timeout))
                self.cond.wait(min(left, 1.0))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class AmbientdPeer(Peer):
    def __init__(self, name, path, kube, tmp, workers):
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write(ADMIN + "\n")
        conf = os.path.join(tmp, "ambient-%s.conf" % name)
        with open(conf, "w") as f:
            f.write('plugin_dir = "%s";\nplugins = ("benchnoop");\n'
                    'kube = { server = "%s"; token_file = "%s"; qps = 0; };\n'
                    'controller = { listen = "127.0.0.1:0"; workers = %d; '
                    'leader_election = false;%s };\n'
                    'log = { level = "info"; format = "json"; };\n'
                    % (PLUGIN_DIR, kube.url, token, workers,
                       " list_page_size = %d;" % ARGS.page_size if ARGS.page_size else ""))
        super().__init__(name, [path, "--config", conf], signals_on_stderr=True)

    def synced(self, timeout):
        return self.wait(lambda r: r.get("msg") == "cache synced" and
                         r.get("resource") == PLURAL, "cache synced", timeout)[0]

    def round_done(self, name, timeout):
        _, rec = self.wait(lambda r: r.get("msg") == "bench round done" and
                           r.get("round") == name, "round " + name, timeout)
        return int(rec["monotonic_ns"]) / 1e9


class ClientPeer(Peer):
    def synced(self, timeout):
        return self.wait(lambda r: r.get("event") == "synced", "synced", timeout)[1]["t"]

    def round_done(self, name, timeout):
        return self.wait(lambda r: r.get("event") == "round" and r.get("round") == name,
                         "round " + name, timeout)[1]["t"]


def python_peer(kube, workers):
    probe = subprocess.run(["/usr/bin/python3", "-c", "import kubernetes"],
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        return None, ("Debian's python3-kubernetes is not installed "
                      "(apt-get install python3-kubernetes)")
    return (lambda: ClientPeer("python3-kubernetes", [
        "/usr/bin/python3", os.path.join(PEERS, "informer_python.py"), kube.url, ADMIN,
        GROUP, VERSION, PLURAL, str(workers)])), None


def node_peer(kube, node_dir):
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node or npm is not installed"
    modules = os.path.join(node_dir, "node_modules")
    if not os.path.isdir(os.path.join(modules, "@kubernetes", "client-node")):
        os.makedirs(node_dir, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(PEERS, f), node_dir)
        try:
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=node_dir,
                               capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return None, "npm ci did not finish within 300 s"
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            return None, "npm ci failed (is the npm registry reachable?): " + last
    # ES module resolution looks beside the script, not in NODE_PATH.
    script = shutil.copy(os.path.join(PEERS, "informer_node.mjs"), node_dir)
    return (lambda: ClientPeer("@kubernetes/client-node", [
        "node", script, kube.url, ADMIN, GROUP, VERSION, PLURAL])), None


class Bench:
    def __init__(self):
        a = ARGS
        self.kube = Kube("--history-size", str(max(20000, a.objects + 3 * a.backlog * 2)),
                         "--watch-queue-size", str(max(10000, 2 * a.backlog)))
        self.tmp = tempfile.mkdtemp(prefix="peerbench-")
        self.results = []   # (name, figures dict or None, skip reason)
        self.rng = random.Random(1)

    def body(self, ns, name):
        n = max(0, ARGS.size - 393)  # the rest of the object is 393 B
        pad = "x" * n if ARGS.payload == "repeated" else "".join(
            self.rng.choice(string.ascii_letters + string.digits) for _ in range(n))
        return {"apiVersion": GROUP + "/" + VERSION, "kind": "Widget",
                "metadata": {"name": name, "namespace": ns,
                             "labels": {"app.kubernetes.io/name": "bench", "bench/shard": ns},
                             "annotations": {"bench/round": "sync",
                                             "bench/expect": str(ARGS.objects)}},
                "spec": {"size": len(name), "payload": pad}}

    def create(self):
        k, a = self.kube, ARGS
        self.nss = [k.make_ns("peer-%02d" % i) for i in range(a.namespaces)]
        self.keys = [(self.nss[i % len(self.nss)], "w%05d" % i) for i in range(a.objects)]

        def one(key):
            k.ok(k.c.post("%s/namespaces/%s/widgets" % (WIDGETS, key[0]), self.body(*key)), 201)
        t0 = time.monotonic()
        with ThreadPoolExecutor(a.threads) as ex:
            list(ex.map(one, self.keys))
        one_json = len(json.dumps(k.ok(k.c.get("%s/namespaces/%s/widgets/%s" % (
            WIDGETS, self.keys[0][0], self.keys[0][1])), 200), separators=(",", ":")))
        print("created %d widgets of %d B (compact JSON) in %.1f s" %
              (a.objects, one_json, time.monotonic() - t0), flush=True)

    def stamp(self, keys, round_name, expect):
        k = self.kube
        patch = {"metadata": {"annotations": {"bench/round": round_name,
                                              "bench/expect": str(expect)}}}

        def one(key):
            k.ok(k.c.patch("%s/namespaces/%s/widgets/%s" % (WIDGETS, key[0], key[1]), patch), 200)
        with ThreadPoolExecutor(ARGS.threads) as ex:
            list(ex.map(one, keys))

    def server_cpu_s(self):
        """kubesim's CPU time so far (seconds, all its threads)."""
        k = self.kube
        return k.ok(k.c.get("/kubesim/cpu"), 200)["seconds"]

    def make_backlog(self, round_name, before_release=None):
        """Holds the watch, stamps ARGS.backlog objects with round_name, and
        returns the release time (before_release() runs just before it)."""
        k, a = self.kube, ARGS
        wait_until(lambda: any(w["resource"] == "widgets." + GROUP for w in k.watches()),
                   a.wait, 0.05, "the peer's watch")
        # A stopped peer's watch may linger until kubesim next writes to it:
        # holding it too is harmless.
        held = k.ok(k.c.post("/kubesim/watches/hold", {"path": "/widgets"}), 200)["held"]
        if held < 1:
            raise AssertionError("no widgets watch to hold")
        self.stamp(self.keys[:a.backlog], round_name, a.backlog)
        if before_release:
            before_release()
        t_release = time.monotonic()
        k.ok(k.c.post("/kubesim/watches/hold", {"path": "/widgets", "hold": False}), 200)
        return t_release

    def run_peer(self, name, start):
        """ARGS.repeat starts of the peer (start -> synced each), then as many
        backlogs drained by the last one; the medians are reported."""
        a = ARGS
        print("-- %s" % name, flush=True)
        syncs, alls, drains, sync_cpu, drain_cpu, server_cpu = [], [], [], [], [], []
        for i in range(a.repeat):
            peer = start()
            try:
                syncs.append(peer.synced(a.wait) - peer.t_spawn)
                sync_cpu.append(cpu_ns(peer.proc.pid) / 1e9)
                alls.append(peer.round_done("sync", a.wait) - peer.t_spawn)
                if i + 1 < a.repeat:
                    continue
                time.sleep(0.5)
                rss_sync = rss_kib(peer.proc.pid)
                cpu0 = []
                for r in range(a.repeat):
                    rnd = "backlog-%s-%d" % (name, r)
                    t_release = self.make_backlog(rnd, lambda: cpu0.extend(
                        (cpu_ns(peer.proc.pid), self.server_cpu_s())))
                    drains.append(peer.round_done(rnd, a.wait) - t_release)
                    drain_cpu.append((cpu_ns(peer.proc.pid) - cpu0[0]) / a.backlog / 1000)
                    server_cpu.append((self.server_cpu_s() - cpu0[1]) / a.backlog * 1e6)
                    cpu0.clear()
                time.sleep(0.5)
                rss_end = rss_kib(peer.proc.pid)
            finally:
                peer.stop()
        # The next peer's sync round counts every object again.
        self.stamp(self.keys[:a.backlog], "sync", a.objects)
        drain = statistics.median(drains)
        f = {"sync_s": statistics.median(syncs), "all_s": statistics.median(alls),
             "drain_s": drain, "rate": a.backlog / drain,
             "sync_cpu": statistics.median(sync_cpu), "event_us": statistics.median(drain_cpu),
             "server_us": statistics.median(server_cpu),
             "rss_sync": rss_sync.get("VmRSS", 0) / 1024, "rss_end": rss_end.get("VmRSS", 0) / 1024,
             "hwm": rss_end.get("VmHWM", 0) / 1024}
        print("   start->synced %s s (CPU %s s), all reconciled %s s, backlog drains %s ms "
              "(CPU %s us/event; kubesim's %s); medians: %.2f s, %.0f events/s; RSS %.1f MiB "
              "(after the backlogs %.1f, peak %.1f)" %
              (" ".join("%.2f" % x for x in syncs), " ".join("%.2f" % x for x in sync_cpu),
               " ".join("%.2f" % x for x in alls), " ".join("%.0f" % (x * 1000) for x in drains),
               " ".join("%.1f" % x for x in drain_cpu), " ".join("%.1f" % x for x in server_cpu),
               f["sync_s"], f["rate"], f["rss_sync"], f["rss_end"], f["hwm"]), flush=True)
        self.results.append((name, f, None))
        return f

    def run(self):
        a = ARGS
        print("peer bench: %d objects x %d B (%s filler) in %d namespaces, backlog %d, "
              "%d workers" % (a.objects, a.size, a.payload, a.namespaces, a.backlog, a.workers),
              flush=True)
        self.create()
        for name, path in a.ambientd:
            self.run_peer(name, lambda p=path, n=name: AmbientdPeer(n, p, self.kube, self.tmp,
                                                                     a.workers))
        wanted = [p.strip() for p in a.peers.split(",") if p.strip()]
        node_dir = a.node_dir or os.path.join(build_dir_of(a.ambientd[0][1]), "peers-node")
        makers = {"floor": lambda: (lambda: ClientPeer("floor: raw watch", [
                      "/usr/bin/python3", os.path.join(PEERS, "watch_floor.py"), self.kube.url,
                      ADMIN, GROUP, VERSION, PLURAL]), None),
                  "python": lambda: python_peer(self.kube, a.workers),
                  "node": lambda: node_peer(self.kube, node_dir)}
        for which in wanted:
            start, why = makers[which]()
            label = {"python": "python3-kubernetes", "node": "@kubernetes/client-node",
                     "floor": "floor: raw watch"}[which]
            if start is None:
                print("-- %s skipped: %s" % (label, why), flush=True)
                self.results.append((label, None, why))
            else:
                self.run_peer(label, start)

    def report(self):
        clients = [(n, f) for n, f, _ in self.results
                   if f and n in ("python3-kubernetes", "@kubernetes/client-node")]
        py = next((f for n, f in clients if n == "python3-kubernetes"), None)
        best_rate = max((f["rate"] for _, f in clients), default=None)
        best_cpu = min((f["event_us"] for _, f in clients), default=None)
        print("\n| peer | start -> synced (CPU) | start -> all reconciled | backlog drain "
              "(CPU per event) | RSS synced (peak) | sync vs Python | backlog vs best client "
              "| CPU per event, best client's / this |")
        print("|---|---|---|---|---|---|---|---|")
        for name, f, why in self.results:
            if f is None:
                print("| %s | skipped: %s | | | | | | |" % (name, why))
                continue
            if name.startswith("floor"):  # no list, no cache: only its drain compares
                print("| %s | - | - | %.1fk events/s (%.1f us) | - | - | %.2fx | - |" % (
                    name, f["rate"] / 1000, f["event_us"],
                    f["rate"] / best_rate if best_rate else 0))
                continue
            print("| %s | %.2f s (%.2f s) | %.2f s | %.1fk events/s (%.1f us) | %.1f MiB (%.1f) "
                  "| %s | %s | %s |" % (
                      name, f["sync_s"], f["sync_cpu"], f["all_s"], f["rate"] / 1000,
                      f["event_us"], f["rss_sync"], f["hwm"],
                      "%.2fx" % (f["sync_s"] / py["sync_s"]) if py else "-",
                      "%.2fx" % (f["rate"] / best_rate) if best_rate else "-",
                      "%.2fx" % (best_cpu / f["event_us"]) if best_cpu and f["event_us"] else "-"))

    def close(self):
        self.kube.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_bench(Bench()))
