"""The local executor (tests/local/executor_main.c, local/executor*.c) as a
process for tests, with what tests/runner/podsim.py's JobRunner offers them:
run_for(ns, session) gives the session's runner (its log, stdout,
workspace), stop() ends it. Tests read what it did from its data directory
(<data>/sessions/<ns>/<job>/) and from the API server, as a user would.

    ex = Executor(kube_url, token, runner, data_dir, env={...}, max_sessions=3)
    run = ex.run_for(ns, "s1")    # waits until the runner started
    ex.kill9(); ex.start()         # a crash and a restart
    peak = ex.stop()               # "peak N" as the executor counted it

EXECUTOR (set by CMake) is the driver's path. Debian's /usr/bin/python3."""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))

import apiharness  # noqa: E402  (tests/api/apiharness.py)

EXECUTOR = os.environ["EXECUTOR"]
START_WAIT = 30


class Run:
    """One Job's directory: the runner's logs and volumes."""

    def __init__(self, ns, job, root):
        self.ns, self.job, self.root = ns, job, root
        self.log_path = os.path.join(root, "runner.log")
        self.stdout_path = os.path.join(root, "runner.out")
        self.rc = None  # the exit code is the Pod's, read from the API server

    @property
    def workspace(self):
        return os.path.join(self.root, "workspace")

    def _read(self, path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log(self):
        return self._read(self.log_path)

    def stdout(self):
        return self._read(self.stdout_path)

    def pid(self):
        """The runner's pid while it runs (runner.pid), else None."""
        text = self._read(os.path.join(self.root, "runner.pid")).split()
        return int(text[0]) if text else None


class Executor:
    def __init__(self, kube_url, token, runner, data_dir, env=None, max_sessions=0,
                 stop_grace=10):
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.token_file = os.path.join(data_dir, "executor-token")
        with open(self.token_file, "w") as f:
            f.write(token + "\n")
        self.args = [EXECUTOR, "--kube-server", kube_url, "--token-file", self.token_file,
                     "--data-dir", data_dir, "--runner", runner,
                     "--max-sessions", str(max_sessions), "--stop-grace", str(stop_grace)]
        for k, v in (env or {}).items():
            self.args += ["--env", "%s=%s" % (k, v)]
        self.proc = None
        self.starts = 0
        self.start()

    @property
    def log_path(self):
        return os.path.join(self.data_dir, "executor-%d.log" % self.starts)

    def start(self):
        self.starts += 1
        err = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        line = self.proc.stdout.readline()
        if line.strip() != "executor running":
            self.proc.kill()
            raise AssertionError("the executor did not start: %r\n%s" % (line, self.log()))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def sessions(self):
        return os.path.join(self.data_dir, "sessions")

    @property
    def runs(self):
        out = {}
        base = self.sessions()
        for ns in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            for job in sorted(os.listdir(os.path.join(base, ns))):
                if not job.startswith("."):
                    out[(ns, job)] = Run(ns, job, os.path.join(base, ns, job))
        return out

    def run_for(self, ns, session, timeout=60):
        """The session's Job's run, once its runner has started."""
        job = session + "-runner"
        run = Run(ns, job, os.path.join(self.sessions(), ns, job))
        apiharness.wait_until(lambda: os.path.exists(run.log_path), timeout=timeout,
                              interval=0.05, what="the runner of %s/%s" % (ns, session))
        return run

    def kill9(self):
        """What a crash does: no stop, no cleanup."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stdout.close()

    def stop(self):
        """Stops it (SIGTERM); the peak it reports. Fails on a non-zero exit
        or a sanitizer report."""
        if self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=120)
        code = self.proc.returncode
        log = self.log()
        bad = [m for m in apiharness.SANITIZER_MARKS if m in log]
        if code != 0 or bad:
            raise AssertionError("the executor exited %s %s:\n%s" % (code, bad, log[-6000:]))
        peak = [ln for ln in out.splitlines() if ln.startswith("peak ")]
        return int(peak[0].split()[1]) if peak else None


def runners_running(runner):
    """Pids of live processes running runner (a binary, or a script through
    its interpreter)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and runner.encode() in args[:2]:
            out.append(int(pid))
    return out
