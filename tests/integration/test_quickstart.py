#!/usr/bin/python3
"""The README's quick start as a new user runs it: deploy/dev/up.sh builds
Ambient, starts kubesim and ambientd with the sample config; the README's
curl commands create a project and a session, which stays Pending (nothing
runs Jobs there); the README's kubesimctl commands move it through Running to
Completed; `kubectl get agenticsessions` shows the phase (when kubectl is
installed). SIGTERM stops up.sh, ambientd and kubesim.

Environment (set by CMake): UP_SH, KUBESIMCTL, AMBIENT_BUILD_DIR (the
quick start's own build). Debian's /usr/bin/python3, standard library only."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kubesim", "tests"))

import harness  # noqa: E402  (tests/kubesim/tests/harness.py: WAIT, wait_for)

UP_SH = os.environ["UP_SH"]
KUBESIMCTL = os.environ["KUBESIMCTL"]
BUILD_WAIT = 540  # the first run of up.sh builds Ambient (release) from scratch
TOKEN = "kubesim-admin"
KUBECTL = harness.find_kubectl("integration.quickstart_up: kubectl get agenticsessions")


class Up:
    """deploy/dev/up.sh in the background, its output collected line by line."""

    def __init__(self):
        env = dict(os.environ, AMBIENT_SKIP_DEPS="1", AMBIENT_CONTROLLER_PORT="0",
                   AMBIENT_API_PORT="0", AMBIENT_LIVE_PORT="0")
        self.proc = subprocess.Popen([UP_SH], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def text(self):
        with self.lock:
            return "\n".join(self.lines)

    def find(self, pattern, timeout=harness.WAIT):
        """The first match of pattern in the output so far, waiting for it."""
        def found():
            m = re.search(pattern, self.text())
            if m is None and self.proc.poll() is not None:
                raise AssertionError("up.sh exited %s:\n%s" % (self.proc.returncode,
                                                                self.text()[-6000:]))
            return m
        return harness.wait_for(found, timeout, 0.1, "up.sh printing %r" % pattern)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(harness.WAIT)
        self.reader.join(harness.WAIT)
        self.proc.stdout.close()
        return code


class QuickStart(unittest.TestCase):
    def setUp(self):
        self.up = Up()
        self.addCleanup(self.stop_up)

    def stop_up(self):
        if self.up.proc.poll() is None:
            self.up.stop()

    def rest(self, method, path, body=None):
        """curl as the README does: the admin token, JSON bodies."""
        cmd = ["curl", "-sS", "-X", method, "-H", "Authorization: Bearer " + TOKEN,
               "-w", "\n%{http_code}"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        p = subprocess.run(cmd + [self.api + path], capture_output=True, text=True,
                           timeout=harness.WAIT)
        out, _, code = p.stdout.rpartition("\n")
        return int(code or 0), json.loads(out) if out else None

    def phase(self, project, name):
        code, s = self.rest("GET", f"/api/projects/{project}/agentic-sessions/{name}")
        self.assertEqual(code, 200, s)
        return (s.get("status") or {}).get("phase")

    def wait_phase(self, project, name, want):
        harness.wait_for(lambda: self.phase(project, name) == want, interval=0.1,
                         what=f"session {name} {want}")

    def kubesimctl(self, *args):
        p = subprocess.run([KUBESIMCTL, "--server", self.kubesim, *args], capture_output=True,
                           text=True, timeout=harness.WAIT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return json.loads(p.stdout)

    def test_a_session_goes_pending_running_completed(self):
        up = self.up
        up.find(r"up: built ambientd", timeout=BUILD_WAIT)
        self.kubesim = up.find(r"up: kubesim \(test Kubernetes API\) at (https://\S+)").group(1)
        self.api = "http://" + up.find(r'"msg":"api listening","address":"([^"]+)"').group(1)
        up.find(r'"msg":"live listening"')
        up.find(r'"msg":"became the leader"')

        code, project = self.rest("POST", "/api/projects", {"name": "demo"})
        self.assertEqual((code, project["name"]), (201, "demo"), project)
        code, created = self.rest("POST", "/api/projects/demo/agentic-sessions", {
            "initialPrompt": "fix the typo", "repos": [{"url": "https://github.com/org/repo"}]})
        self.assertEqual(code, 201, created)
        name = created["name"]
        self.wait_phase("demo", name, "Pending")
        job = self.kubesimctl("job", "start", "demo", name + "-runner")
        self.assertEqual(job["metadata"]["name"], name + "-runner")
        self.wait_phase("demo", name, "Running")
        self.kubesimctl("job", "succeed", "demo", name + "-runner")
        self.wait_phase("demo", name, "Completed")

        if KUBECTL:
            cache = tempfile.mkdtemp(prefix="quickstart-kubectl-")
            self.addCleanup(shutil.rmtree, cache, True)
            p = subprocess.run([KUBECTL, f"--server={self.kubesim}", "--insecure-skip-tls-verify",
                                f"--token={TOKEN}", f"--cache-dir={cache}", "get",
                                "agenticsessions", "-A"], capture_output=True, text=True,
                               timeout=harness.WAIT, env=dict(os.environ, KUBECONFIG=os.devnull))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"NAMESPACE\s+NAME\s+PHASE\s+MODEL\s+AGE")
            self.assertRegex(p.stdout, rf"\ndemo\s+{name}\s+Completed\s")

        self.assertEqual(up.stop(), 0, up.text()[-6000:])
        self.assertIn('"msg":"ambientd stopped"', up.text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
