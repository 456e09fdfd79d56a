"""Helpers to run ambientd as a real process in tests: write configs, start
it, wait for log lines, stop it. Used with Debian's /usr/bin/python3."""
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

AMBIENTD = os.environ["AMBIENTD"]
# How long a test waits for a log line or an exit before it fails: generous,
# so a loaded machine is slow but never a failure.
WAIT = 60


def write_config(text, directory=None):
    fd, path = tempfile.mkstemp(suffix=".conf", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def run(*args, timeout=WAIT):
    """Runs ambientd to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([AMBIENTD, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Daemon:
    """ambientd --config PATH running in the background; stderr (the log) is
    collected line by line so tests can wait for events."""

    def __init__(self, config_path, env=None):
        """env: variables added to this process's environment for ambientd."""
        self.proc = subprocess.Popen([AMBIENTD, "--config", config_path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **env) if env else None)
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def records(self):
        """The log lines that are JSON objects, parsed."""
        out = []
        with self._cond:
            lines = list(self.lines)
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_for_line(self, predicate, timeout=WAIT):
        """Waits until some raw log line satisfies predicate; returns it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError("no matching log line; got:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    def wait_for(self, predicate, timeout=WAIT):
        """Waits until some JSON log record satisfies predicate; returns it."""
        def matches(line):
            try:
                return predicate(json.loads(line))
            except ValueError:
                return False
        return json.loads(self.wait_for_line(matches, timeout))

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=WAIT):
        """Sends sig and returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._reader.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code
