#!/usr/bin/python3
"""runner_bench: what ambient-runner adds to an agent run, measured beside
a bare `claude -p` on the same mock model API in the same process. Prints
figures; never fails on timing (only when a run fails).

  - baseline: N bare `claude -p` runs (write scenario: one Write round trip)
    in a fresh git repo each: wall time and the CLI's peak RSS;
  - runner: N sessions with the same prompt through the whole path
    (tests/runner/runnerharness.py: kubesim, ambientd's controller and live
    service, git over HTTP, podsim starting the runner from its Job): the
    runner's wall time from its start to its exit, its own peak RSS (what it
    logs at the end: getrusage of itself, the agent excluded), the time from the Job's start to the first event
    and to the CLI's first event, all as percentiles, and the overhead
    (runner wall - bare CLI wall, p50);
  - events: one session whose CLI (tests/runner/fake_claude.py) prints E
    events as fast as it can: events forwarded per second, from the CLI's
    first to the last event stored by the live service.

Use a Release build for figures (a sanitizer build is several times slower):
  cmake -S . -B /tmp/bench-build -DCMAKE_BUILD_TYPE=Release
  cmake --build /tmp/bench-build -j2
  tests/bench/runner_bench.py --build-dir /tmp/bench-build [-n 5] [--events 20000]

Debian's /usr/bin/python3, standard library only."""
import argparse
import calendar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "common"))

import benchenv  # noqa: E402
from claude_baseline import percentile  # noqa: E402
from claudecli import claude_cli, claude_env, run_claude  # noqa: E402


def ts_epoch(ts):
    """An event's "ts" (RFC 3339 UTC, milliseconds) as seconds since the epoch."""
    base, _, ms = ts.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms or 0) / 1000


def own_rss_kib(run):
    """The runner's own peak RSS, from its last log line."""
    for line in reversed(run.log().splitlines()):
        if '"session finished"' in line:
            return int(json.loads(line)["max_rss_kib"])
    sys.exit("runner_bench: the runner did not log its end:\n" + run.log()[-2000:])


def baseline(n, mock_url):
    walls, rss = [], []
    for _ in range(n):
        tmp = tempfile.mkdtemp(prefix="runner-bench-")
        try:
            repo = os.path.join(tmp, "repo")
            os.makedirs(repo)
            subprocess.run(["git", "init", "-q", repo], check=True)
            run = run_claude("add notes [mock:write file=NOTES.md content=x]", cwd=repo,
                             env=claude_env(mock_url, tmp), timeout=120,
                             permission_mode="acceptEdits")
            if run.rc != 0:
                sys.exit("runner_bench: bare claude failed: rc %s" % run.rc)
            walls.append(run.wall)
            rss.append(run.maxrss_kib)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return walls, rss


def line(name, values, unit, scale=1.0):
    return "%-34s p50 %8.1f  p90 %8.1f  max %8.1f %s" % (
        name, percentile(values, 50) * scale, percentile(values, 90) * scale,
        max(values) * scale, unit)


def main(argv):
    ap = argparse.ArgumentParser(prog="runner_bench", description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5, help="runs of each (default 5)")
    ap.add_argument("--events", type=int, default=20000, help="events of the throughput run")
    ap.add_argument("--build-dir", help="the build to measure (default: $AMBIENTD's)")
    a = ap.parse_args(argv)
    tools = {"RUNNER": os.path.join(a.build_dir or "", "bin", "ambient-runner")}
    if not a.build_dir and os.environ.get("AMBIENTD"):
        tools["RUNNER"] = os.path.join(os.path.dirname(os.environ["AMBIENTD"]), "ambient-runner")
    benchenv.setup_env("runner_bench", a.build_dir, tools)
    if not claude_cli():
        sys.exit("runner_bench: no claude CLI (deploy/dev/install-deps.sh installs it)")
    sys.path.insert(0, os.path.join(SRC, "tests", "runner"))
    import runnerharness as rh  # noqa: E402  (needs the environment above)

    with rh.Stack() as st:
        walls, rss = baseline(a.n, st.mock.url)
        r_walls, r_rss, to_first, to_init = [], [], [], []
        ns = st.project()
        for i in range(a.n):
            url = st.repo(ns, "bench%d" % i)
            name = "bench-%d" % i
            st.create_session(ns, name, {
                "prompt": "add notes [mock:write file=NOTES.md content=x]",
                "repos": [{"input": {"url": url}, "output": {"pushTo": "same"}}]})
            st.wait_phase(ns, name, "Completed")
            run = st.pods.run_for(ns, name)
            run.wait()
            r_walls.append(run.ended - run.started)
            r_rss.append(own_rss_kib(run))
            events = st.events(ns, name)
            mine = [e for e in events if e.get("type") != "status"]
            to_first.append(ts_epoch(mine[0]["ts"]) - run.started_wall)
            init = [e for e in mine if e.get("subtype") == "init"][0]
            to_init.append(ts_epoch(init["ts"]) - run.started_wall)

        name = "bench-events"
        st.pods.session_env[(ns, name)] = {"AMBIENT_CLAUDE": rh.FAKE_CLAUDE}
        st.create_session(ns, name, {"prompt": "[fake:many %d]" % a.events})
        st.wait_phase(ns, name, "Completed", timeout=600)
        run = st.pods.run_for(ns, name)
        run.wait()
        events = [e for e in st.events(ns, name) if e.get("type") == "assistant" and "n" in e]
        if len(events) != a.events:
            sys.exit("runner_bench: %d of %d events arrived" % (len(events), a.events))
        span = ts_epoch(events[-1]["ts"]) - ts_epoch(events[0]["ts"])
        ev_rss = own_rss_kib(run)

    print("runner_bench: %d runs each, one machine, the same mock model API" % a.n)
    print(line("bare claude -p: wall", walls, "ms", 1000))
    print(line("bare claude -p: peak RSS", rss, "MiB", 1 / 1024))
    print(line("session via runner: runner wall", r_walls, "ms", 1000))
    print(line("runner's own peak RSS", r_rss, "MiB", 1 / 1024))
    print(line("Job start -> first event stored", to_first, "ms", 1000))
    print(line("Job start -> CLI's init event", to_init, "ms", 1000))
    print("runner overhead (p50 runner wall - p50 bare CLI wall): %.0f ms" % (
        (percentile(r_walls, 50) - percentile(walls, 50)) * 1000))
    print("events forwarded: %d in %.2f s = %.0f events/s (runner peak RSS %.1f MiB)" % (
        a.events, span, a.events / span if span > 0 else float("inf"), ev_rss / 1024))


if __name__ == "__main__":
    main(sys.argv[1:])
