"""Laptop mode's concurrency limit: 100 sessions with local.max_sessions 4
all complete, and never more than 4 run at once — counted by the CLI each
runner starts (a wrapper around tests/runner/fake_claude.py that keeps a
count under a lock) and by sampling the runners' process sessions."""
import os
import shutil
import stat
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from localharness import FAKE_CLAUDE, Laptop, kill_runners, wait_until  # noqa: E402

SESSIONS = 100
LIMIT = 4
# The runner gives the CLI an environment built from nothing, so the
# wrapper has its count file's path written into it.
WRAPPER = """#!/usr/bin/python3
import fcntl, subprocess, sys, time
COUNT = %r

def bump(delta):
    with open(COUNT, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        now, peak = (int(x) for x in (f.read() or "0 0").split())
        now += delta
        f.seek(0)
        f.truncate()
        f.write("%%d %%d" %% (now, max(peak, now)))

bump(1)
try:
    time.sleep(0.5)  # long enough that runs overlap
    rc = subprocess.call([%r] + sys.argv[1:])
finally:
    bump(-1)
sys.exit(rc)
"""


def runners_now(data_dir):
    """Runners alive under data_dir/sessions: the executor starts each in a
    session of its own, so distinct session ids of the processes working
    there (a runner's children, mid-fork or not, share its id)."""
    root = os.path.join(os.path.realpath(data_dir), "sessions") + "/"
    sids = set()
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and (os.readlink("/proc/%s/cwd" % p) + "/").startswith(root):
                with open("/proc/%s/stat" % p) as f:
                    sids.add(f.read().rsplit(")", 1)[1].split()[3])
        except OSError:
            pass
    return len(sids)


class ConcurrencyTest(unittest.TestCase):
    def test_hundred_sessions_four_at_a_time(self):
        tmp = tempfile.mkdtemp(prefix="laptop-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, "data")
        self.addCleanup(kill_runners, data)
        count = os.path.join(tmp, "count")
        wrapper = os.path.join(tmp, "claude")
        with open(wrapper, "w") as f:
            f.write(WRAPPER % (count, FAKE_CLAUDE))
        os.chmod(wrapper, stat.S_IRWXU)
        conf = ('local = { max_sessions = %d; runner_env = [ "AMBIENT_CLAUDE=%s" ]; };\n'
                # 100 creates and the polling in a few seconds: no rate limit
                'api = { rate_limit = { requests_per_second = 0; }; };\n' % (LIMIT, wrapper))
        lp = Laptop(data, conf)
        self.addCleanup(lp.stop)
        ns = lp.project({"ANTHROPIC_API_KEY": "sk-ant-test"})

        sampled = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                sampled[0] = max(sampled[0], runners_now(data))
                stop.wait(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        self.addCleanup(stop.set)

        for i in range(SESSIONS):
            lp.create_session(ns, "s-%03d" % i, {"prompt": "quick [fake:many 2]"})

        def phases():
            items = lp.ok(lp.rest("GET", "/api/projects/%s/agentic-sessions?limit=500" % ns),
                          200)["items"]
            return [o.get("status", {}).get("phase") for o in items]

        def all_done():
            p = phases()
            return p if len(p) == SESSIONS and all(
                x in ("Completed", "Failed", "Stopped") for x in p) else None
        final = wait_until(all_done, 150, "%d sessions finished" % SESSIONS, interval=0.5)
        stop.set()
        sampler.join(5)
        failed = [i for i, p in enumerate(final) if p != "Completed"]
        self.assertEqual(failed, [], "sessions not Completed")
        with open(count) as f:
            now, peak = (int(x) for x in f.read().split())
        self.assertEqual(now, 0)
        self.assertLessEqual(peak, LIMIT)
        self.assertLessEqual(sampled[0], LIMIT)
        self.assertGreaterEqual(peak, 2, "the sessions never overlapped: is the limit used?")
        print("peak CLIs at once: %d, peak runner processes sampled: %d" % (peak, sampled[0]))
        self.assertEqual(lp.stop(), 0, lp.log()[-3000:])


if __name__ == "__main__":
    unittest.main()
