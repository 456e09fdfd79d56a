#!/usr/bin/python3
"""The local Kubernetes API's store (laptop mode, local/) next to kubesim,
same machine, same run: creates per second, watch events per second, the
time to list N sessions, and the server's RSS with N sessions stored.
Prints figures; never fails on time.

  creates/s   N AgenticSessions POSTed by 4 clients (each answer waited for:
              the local store makes every write durable before it answers);
  events/s    2,000 status patches by 4 clients, counted as they arrive on
              one watch of the namespace, from the first patch to the last
              event;
  list        one GET of all N sessions (the best of 3, in ms), and its size;
  RSS         VmRSS of the server with the N sessions stored.

Use a Release build:
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && cmake --build build/release -j2
  tests/bench/local_store_bench.py --kubeapi build/release/bin/kubeapi_main [--sessions 10000]

Environment: KUBEAPI_MAIN (else --kubeapi, else build/release's), KUBESIM and
CRD_DIR (default: the source tree's)."""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CLIENTS = 4
PATCHES = 2000
AS = "/apis/vteam.ambient-code/v1alpha1/namespaces/bench/agenticsessions"


def session(i):
    return {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
            "metadata": {"name": f"s{i:05d}", "labels": {"app.kubernetes.io/part-of": "bench"}},
            "spec": {"prompt": "Refactor the parser and add tests " * 8,
                     "llmSettings": {"model": "claude-sonnet-4-5", "temperature": 0.7,
                                     "maxTokens": 4000},
                     "timeout": 3600, "displayName": f"bench session {i}",
                     "repos": [{"input": {"url": "https://github.com/example/repo.git",
                                          "branch": "main"}}]}}


def in_parallel(n, fn):
    """fn(client, i) for i in range(n) on CLIENTS clients; seconds taken."""
    def worker(k):
        c = make_client()
        try:
            for i in range(k, n, CLIENTS):
                fn(c, i)
        finally:
            c.close()
    t0 = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(worker, range(CLIENTS)))
    return time.monotonic() - t0


def measure(server, rss, n):
    global make_client
    make_client = server.client
    c = server.client()
    r = c.post("/api/v1/namespaces", {"metadata": {"name": "bench"}})
    assert r.status == 201, r

    def create(cl, i):
        r = cl.post(AS, session(i))
        assert r.status == 201, r
    t_create = in_parallel(n, create)

    rv = c.get(AS + "?limit=1").body["metadata"]["resourceVersion"]
    watch = server.watch(AS + f"?watch=1&resourceVersion={rv}")
    got, done = [0], threading.Event()

    def read():
        while got[0] < PATCHES:
            ev = watch.next(60)
            if ev is None:
                break
            got[0] += ev["type"] == "MODIFIED"
        done.set()
    reader = threading.Thread(target=read)
    reader.start()

    def patch(cl, i):
        r = cl.patch(AS + f"/s{i % n:05d}/status", {"status": {"phase": "Running",
                                                                "message": f"step {i}"}})
        assert r.status == 200, r
    t0 = time.monotonic()
    in_parallel(PATCHES, patch)
    done.wait(120)
    t_events = time.monotonic() - t0
    watch.close()
    reader.join(5)

    best, size = None, 0
    for _ in range(3):
        t0 = time.monotonic()
        r = c.get(AS, raw=True)
        took = time.monotonic() - t0
        assert r.status == 200
        size = len(r.body)
        assert len(json.loads(r.body)["items"]) == n
        best = took if best is None else min(best, took)
    c.close()
    return {"creates/s": n / t_create, "events/s": got[0] / t_events,
            "events": got[0], "list ms": best * 1000, "list MiB": size / 2**20,
            "RSS MiB": rss() / 1024}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--kubeapi", help="kubeapi_main (default: $KUBEAPI_MAIN, build/release's)")
    args = ap.parse_args()
    kubeapi = args.kubeapi or os.environ.get("KUBEAPI_MAIN") or \
        os.path.join(SRC, "build", "release", "bin", "kubeapi_main")
    if not os.path.exists(kubeapi):
        sys.exit(f"local_store_bench: no kubeapi_main at {kubeapi}; build one or pass --kubeapi")
    os.environ["KUBEAPI_MAIN"] = kubeapi
    os.environ.setdefault("KUBESIM", os.path.join(SRC, "tests", "kubesim", "kubesim"))
    os.environ.setdefault("CRD_DIR", os.path.join(SRC, "deploy", "crds"))
    os.environ.setdefault("RBAC_DIR", os.path.join(SRC, "deploy", "rbac"))
    sys.path.insert(0, os.path.join(SRC, "tests", "local"))
    from localkube import LocalKube, harness, rss_kib

    class Sim(harness.Kubesim):
        def watch(self, path):
            return harness.Watch(self.port, path)

    tmp = tempfile.mkdtemp(prefix="local-store-bench-")
    results = {}
    try:
        lk = LocalKube(os.path.join(tmp, "data"))
        try:
            results["local (SQLite)"] = measure(lk, lk.rss_kib, args.sessions)
        finally:
            lk.stop()
        sim = Sim(crds=False, *["--crd-dir", os.environ["CRD_DIR"],
                                "--history-size", str(PATCHES + args.sessions + 100)])
        try:
            results["kubesim"] = measure(sim, lambda: rss_kib(sim.proc.pid), args.sessions)
        finally:
            sim.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keys = ["creates/s", "events/s", "list ms", "list MiB", "RSS MiB"]
    print(f"{args.sessions} sessions, {CLIENTS} clients, {PATCHES} watched patches")
    print("%-16s" % "" + "".join("%12s" % k for k in keys))
    for name, r in results.items():
        print("%-16s" % name + "".join("%12.2f" % r[k] for k in keys))


if __name__ == "__main__":
    main()
