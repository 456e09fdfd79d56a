#!/usr/bin/python3
"""claude_baseline: what one bare `claude -p` run costs, against the mock
Anthropic API (tests/mock-anthropic): wall time and the CLI process's peak
RSS over N sequential runs, as percentiles. Each run gets a fresh git repo
and a fresh HOME, as a session's pod would. The baseline for ambient-runner's
own overhead. A bench: it never fails on timing, only when a run fails.

    tests/bench/claude_baseline.py [-n 10] [--scenario text|write] [--cli PATH]

Debian's /usr/bin/python3, standard library only."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

from claudecli import claude_cli, claude_env, run_claude  # noqa: E402
from servers import MockAnthropic  # noqa: E402


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[int(k)]


def main(argv):
    ap = argparse.ArgumentParser(prog="claude_baseline", description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10, help="runs (default 10)")
    ap.add_argument("--scenario", default="text", choices=("text", "write"),
                    help="text: one request, no tool (default); write: a Write tool round trip")
    ap.add_argument("--cli", default=None, help="the claude CLI (default $CLAUDE_CLI or PATH)")
    a = ap.parse_args(argv)
    if a.cli:
        os.environ["CLAUDE_CLI"] = a.cli
    cli = claude_cli()
    if not cli:
        sys.exit("claude_baseline: no claude CLI (deploy/dev/install-deps.sh installs it)")
    walls, rss = [], []
    with MockAnthropic(scenario=a.scenario) as mock:
        for i in range(max(1, a.n)):
            tmp = tempfile.mkdtemp(prefix="claude-baseline-")
            try:
                repo = os.path.join(tmp, "repo")
                os.makedirs(repo)
                subprocess.run(["git", "init", "-q", repo], check=True, timeout=30)
                run = run_claude("hello", repo, claude_env(mock.url, tmp), timeout=120)
                if run.rc != 0 or not run.result or run.result.get("is_error"):
                    sys.exit("claude_baseline: run %d failed: rc=%s %s" %
                             (i + 1, run.rc, run.stderr[-500:] or run.result))
                walls.append(run.wall * 1000)
                rss.append(run.maxrss_kib / 1024)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    ver = subprocess.run([cli, "--version"], stdout=subprocess.PIPE, text=True,
                         timeout=60).stdout.strip()
    print("claude_baseline: %d runs of `claude -p` (%s, scenario %s) against the mock"
          % (len(walls), ver, a.scenario))
    for name, vals, unit in (("wall", walls, "ms"), ("peak RSS", rss, "MiB")):
        print("  %-9s p50 %6.0f %s  p90 %6.0f %s  max %6.0f %s  min %6.0f %s" % (
            name, percentile(vals, 50), unit, percentile(vals, 90), unit, max(vals), unit,
            min(vals), unit))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
