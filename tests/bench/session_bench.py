#!/usr/bin/python3
"""AgenticSession benchmark and scale check: ambientd with the agenticsession
plugin against kubesim; N sessions created across M namespaces as fast as
kubesim takes them. Prints figures; never fails on time.

Measures
  - sessions per second from create to Job created (first create to the
    last session's Job existing), next to kubesim's own create rate for the
    same number of sessions (the baseline: the client side alone);
  - API calls per session (ambient_kube_requests_total delta, lease traffic
    subtracted), next to the minimum: the five child creates (ServiceAccount,
    Role, RoleBinding, PVC, Job), one status write and the Pending Event;
  - that every session has exactly one Job (no duplicates) and reached Pending;
  - with --lifecycle: API calls per session over a whole lifecycle, created
    -> Pending -> Running (Job started) -> Completed (Job succeeded), each
    call attributed by verb and resource from kubesim's request log (the
    bench's own calls left out), next to the minimum: the five child
    creates, three status writes (Pending, Running, Completed), the one
    pod list of the API (the terminal phase is decided on the API's pods)
    and the Events of the three phase changes.

  cmake -S . -B /tmp/bench-build -DCMAKE_BUILD_TYPE=Release -DAMBIENT_TESTS=ON
  cmake --build /tmp/bench-build -j2
  AMBIENTD=/tmp/bench-build/bin/ambientd tests/bench/session_bench.py [--sessions N --namespaces M]

ambientd loads projectsettings and agenticsession, as the sample config does
(ProjectSettings then come from the controller's cache).

Environment: AMBIENTD, AMB_TEST_PLUGIN_DIR, AS_PLUGIN (agenticsession.so),
PS_PLUGIN (projectsettings.so), KUBESIM; defaults follow AMBIENTD's build
tree."""
import argparse
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
os.environ.setdefault("AMBIENTD", "/tmp/bench-build/bin/ambientd"
                      if os.path.exists("/tmp/bench-build/bin/ambientd")
                      else os.path.join(SRC, "build", "bin", "ambientd"))
BUILD = os.path.dirname(os.path.dirname(os.environ["AMBIENTD"]))
os.environ.setdefault("AMB_TEST_PLUGIN_DIR", os.path.join(BUILD, "tests", "plugins"))
os.environ.setdefault("AS_PLUGIN", os.path.join(BUILD, "lib", "ambient", "plugins", "agenticsession.so"))
os.environ.setdefault("PS_PLUGIN", os.path.join(os.path.dirname(os.environ["AS_PLUGIN"]),
                                                "projectsettings.so"))
os.environ.setdefault("KUBESIM", os.path.join(SRC, "tests", "kubesim", "kubesim"))
sys.path.insert(0, os.path.join(SRC, "tests", "controller"))

from ctlharness import Ambient, Kube, wait_until  # noqa: E402

GROUP = "/apis/vteam.ambient-code/v1alpha1"
SESSION_LABEL = "ambient-code.io/session"
MIN_CALLS = 7  # 5 child creates + 1 status write + the Pending Event
# 5 child creates + 3 status writes + 1 pod list + 3 Events
MIN_LIFECYCLE_CALLS = 12
PLUGINS = (os.environ["PS_PLUGIN"], os.environ["AS_PLUGIN"])
CONF = ('agenticsession = { runner_image = "registry.test/runner:1"; '
        'api_url = "https://ambient-api.test:8080"; };\n')


def session(name):
    return {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
            "metadata": {"name": name},
            "spec": {"prompt": "bench", "timeout": 600,
                     "repos": [{"input": {"url": "https://github.com/example/repo.git"},
                                "output": {"pushTo": "none"}}]}}


def create_all(kube, targets, threads=8):
    def one(t):
        ns, name = t
        r = kube.c.post("%s/namespaces/%s/agenticsessions" % (GROUP, ns), session(name))
        if r.status != 201:
            raise AssertionError("create %s/%s: %s" % (ns, name, r))
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, targets))


def jobs_by_session(kube):
    sel = urllib.parse.quote(SESSION_LABEL)
    r = kube.c.get("/apis/batch/v1/jobs?labelSelector=%s" % sel)
    if r.status != 200:
        raise AssertionError("list jobs: %s" % r)
    out = {}
    for j in r.body["items"]:
        key = (j["metadata"]["namespace"], j["metadata"]["labels"][SESSION_LABEL])
        out.setdefault(key, []).append(j["metadata"]["name"])
    return out


def measure(kube, amb, sessions, namespaces, threads=8):
    """Creates the sessions and returns the figures; raises AssertionError
    when a session lacks its Job, has two, or did not reach Pending."""
    nss = [kube.make_ns() for _ in range(namespaces)]
    targets = [(nss[i % namespaces], "s%05d" % i) for i in range(sessions)]
    calls0 = amb.requests_total()
    leases0 = amb.metric("ambient_kube_requests_total", verb="UPDATE")
    t0 = time.monotonic()
    create_all(kube, targets, threads)
    t_created = time.monotonic() - t0
    jobs = wait_until(lambda: (lambda j: j if len(j) >= sessions else None)(jobs_by_session(kube)),
                      300, 0.2, "a Job for each of %d sessions" % sessions)
    t_jobs = time.monotonic() - t0
    dups = {k: v for k, v in jobs.items() if len(v) != 1}
    if dups:
        raise AssertionError("sessions with more than one Job: %r" % list(dups.items())[:5])

    def all_pending():
        r = kube.c.get("%s/agenticsessions" % GROUP)
        mine = [s for s in r.body["items"] if s["metadata"]["namespace"] in nss]
        ok = [s for s in mine if (s.get("status") or {}).get("phase") == "Pending"]
        return ok if len(ok) == sessions else None
    wait_until(all_pending, 300, 0.2, "all sessions Pending")
    # Let trailing no-op reconciles drain before counting calls.
    wait_until(lambda: amb.metric("ambient_workqueue_depth") == 0, 60, 0.1, "an empty queue")
    leases = amb.metric("ambient_kube_requests_total", verb="UPDATE") - leases0
    calls = amb.requests_total() - calls0 - leases
    return {"sessions": sessions, "namespaces": namespaces, "create_s": t_created,
            "jobs_s": t_jobs, "calls_per_session": calls / sessions}


def call_name(req):
    """'VERB resource[/subresource]' of a request in kubesim's log."""
    parts = req["path"].split("?")[0].strip("/").split("/")
    if "namespaces" in parts and len(parts) > parts.index("namespaces") + 2:
        rest = parts[parts.index("namespaces") + 2:]
    else:
        rest = parts[2:] if parts[0] == "api" else parts[3:]
    resource = rest[0] if rest else "?"
    if len(rest) >= 3:
        resource += "/" + rest[2]
    return "%s %s" % (req["verb"], resource)


def lifecycle(kube, amb, sessions, namespaces):
    """Runs the sessions through Pending, Running and Completed; returns
    the API calls per session, in total and by 'VERB resource'."""
    nss = [kube.make_ns() for _ in range(namespaces)]
    targets = [(nss[i % namespaces], "l%05d" % i) for i in range(sessions)]

    def phases():
        r = kube.c.get("%s/agenticsessions" % GROUP)
        return [((s.get("status") or {}).get("phase")) for s in r.body["items"]
                if s["metadata"]["namespace"] in nss]

    def all_in(phase):
        return wait_until(lambda: (lambda p: p if p.count(phase) == sessions else None)(phases()),
                          300, 0.2, "all sessions %s" % phase)

    def quiet():
        wait_until(lambda: amb.metric("ambient_workqueue_depth") == 0, 60, 0.1, "an empty queue")

    kube.forget_requests()
    calls0 = amb.requests_total()
    leases0 = amb.metric("ambient_kube_requests_total", verb="UPDATE")
    create_all(kube, targets)
    all_in("Pending")
    for action, phase in (("start", "Running"), ("succeed", "Completed")):
        for ns, name in targets:
            kube.ok(kube.c.post("/kubesim/jobs/%s/%s-runner/%s" % (ns, name, action), {}), 200)
        all_in(phase)
    quiet()
    leases = amb.metric("ambient_kube_requests_total", verb="UPDATE") - leases0
    total = (amb.requests_total() - calls0 - leases) / sessions
    by = {}
    for req in kube.requests(""):
        name = call_name(req)
        # The bench's own: the creates, and its polls (lists of all namespaces).
        if name == "create agenticsessions" or (req["verb"] == "list" and "/namespaces/" not in
                                                req["path"]) or name.endswith(" leases"):
            continue
        by[name] = by.get(name, 0) + 1
    return total, {k: v / sessions for k, v in sorted(by.items())}


def with_ambientd(work):
    """work(kube, amb) with a kubesim and an ambientd loading the plugins,
    synced; both stopped after. Returns what work returns."""
    tmp = tempfile.mkdtemp(prefix="sessbench-")
    kube = Kube("--crd-dir", os.path.join(SRC, "deploy", "crds"))
    try:
        amb = Ambient(kube, tmp, plugins=PLUGINS, extra=CONF, wait_synced=False,
                      kube_extra="qps = 0.0; ")
        amb.wait_msg("cache synced", resource="agenticsessions")
        out = work(kube, amb)
        amb.terminate()
        amb.wait_exit()
        return out
    finally:
        kube.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--lifecycle", action="store_true",
                    help="API calls per session through a whole lifecycle, by call")
    args = ap.parse_args()
    if args.lifecycle:
        return main_lifecycle(args)
    f = with_ambientd(lambda kube, amb: measure(kube, amb, args.sessions, args.namespaces))
    rows = [
        ("sessions / namespaces", "%d / %d" % (f["sessions"], f["namespaces"]), ""),
        ("baseline: kubesim takes the creates", "%.0f/s" % (f["sessions"] / f["create_s"]),
         "%.2f s for all, 8 client threads" % f["create_s"]),
        ("create -> Job created", "%.0f sessions/s" % (f["sessions"] / f["jobs_s"]),
         "last Job %.2f s after the first create" % f["jobs_s"]),
        ("API calls per session", "%.2f" % f["calls_per_session"],
         "minimum %d (5 child creates, 1 status write, 1 Event): %.2fx" %
         (MIN_CALLS, f["calls_per_session"] / MIN_CALLS)),
        ("duplicate Jobs", "0", "every session has exactly one Job"),
    ]
    print("| figure | value | note |\n|---|---|---|")
    for r in rows:
        print("| %s | %s | %s |" % r)


def main_lifecycle(args):
    total, by = with_ambientd(lambda kube, amb: lifecycle(kube, amb, args.sessions,
                                                          args.namespaces))
    print("| call | per session |\n|---|---|")
    for name, n in by.items():
        print("| %s | %.2f |" % (name, n))
    print("| **all (ambient_kube_requests_total, leases left out)** | **%.2f** (minimum %d) |"
          % (total, MIN_LIFECYCLE_CALLS))


if __name__ == "__main__":
    main()
