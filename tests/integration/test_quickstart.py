#!/usr/bin/python3
"""The README's quick start as a new user runs it: deploy/dev/up.sh builds
Ambient and runs laptop mode (`ambientd --local`); it prints the api, live
and kube addresses and the token file; the README's curl commands make a
project, put the model key into its runner Secret, create a session and
watch it stream; the session runs the real Claude Code CLI (against
tests/mock-anthropic here, set with AMBIENT_CONFIG) to Completed;
the printed kube address lists the session with its phase. SIGTERM stops up.sh and ambientd.

Environment (set by CMake): UP_SH, AMBIENT_BUILD_DIR (the quick start's own
build), CLAUDE_CLI. Debian's /usr/bin/python3, standard library only."""
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
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

import harness  # noqa: E402  (tests/kubesim/tests/harness.py: WAIT, wait_for)
from claudecli import claude_cli  # noqa: E402
from servers import MockAnthropic  # noqa: E402

UP_SH = os.environ["UP_SH"]
BUILD_WAIT = 540  # the first run of up.sh builds Ambient (release) from scratch
KEY = "sk-ant-quickstart"


class Up:
    """deploy/dev/up.sh in the background, its output collected line by line."""

    def __init__(self, data_dir, config):
        env = dict(os.environ, AMBIENT_SKIP_DEPS="1", AMBIENT_LISTEN="127.0.0.1:0",
                   AMBIENT_DATA_DIR=data_dir, AMBIENT_CONFIG=config)
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
            m = re.search(pattern, self.text(), re.M)
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
        tmp = tempfile.mkdtemp(prefix="quickstart-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.mock = MockAnthropic(scenario="write")
        self.addCleanup(self.mock.stop)
        config = os.path.join(tmp, "local.conf")
        with open(config, "w") as f:
            f.write('agenticsession = { model_api_url = "%s"; };\n'
                    'local = { runner_env = [ "AMBIENT_CLAUDE=%s", "CLAUDE_CODE_MAX_RETRIES=0" ]; };\n'
                    % (self.mock.url, claude_cli() or "claude"))
        self.up = Up(os.path.join(tmp, "data"), config)
        self.addCleanup(self.stop_up)

    def stop_up(self):
        if self.up.proc.poll() is None:
            self.up.stop()

    def curl(self, *args, stdin=None):
        """curl as the README does, with the admin token; (status, JSON)."""
        p = subprocess.run(["curl", "-sS", "-H", "Authorization: Bearer " + self.token,
                            "-w", "\n%{http_code}", *args], input=stdin, capture_output=True,
                           text=True, timeout=harness.WAIT)
        out, _, code = p.stdout.rpartition("\n")
        return int(code or 0), json.loads(out) if out else None

    def phase(self, project, name):
        code, s = self.curl(f"{self.api}/api/projects/{project}/agentic-sessions/{name}")
        self.assertEqual(code, 200, s)
        return (s.get("status") or {}).get("phase")

    def test_a_session_runs_to_completed_and_streams(self):
        up = self.up
        up.find(r"up: built ambientd", timeout=BUILD_WAIT)
        self.api = up.find(r"^api (http://\S+)$").group(1)
        live = up.find(r"^live (http://\S+)$").group(1)
        kube = up.find(r"^kube (http://\S+)$").group(1)
        with open(up.find(r"^token (\S+)$").group(1)) as f:
            self.token = f.read().strip()

        json_type = ["-H", "Content-Type: application/json"]
        code, project = self.curl(*json_type, "-d", '{"name": "demo"}', self.api + "/api/projects")
        self.assertEqual((code, project["name"]), (201, "demo"), project)
        code, secret = self.curl("-X", "PUT", *json_type, "-d", "@-",
                                 self.api + "/api/projects/demo/runner-secrets",
                                 stdin='{"data": {"ANTHROPIC_API_KEY": "%s"}}' % KEY)
        self.assertEqual(code, 200, secret)
        code, created = self.curl(*json_type, "-d",
                                  '{"initialPrompt": "write a haiku about laptops into HAIKU.md"}',
                                  self.api + "/api/projects/demo/agentic-sessions")
        self.assertEqual(code, 201, created)
        name = created["name"]
        # curl -N on the events: it streams until the session is Completed
        stream = subprocess.Popen(["curl", "-sS", "-N", "-H", "Authorization: Bearer " + self.token,
                                   f"{live}/api/projects/demo/agentic-sessions/{name}/events"],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(stream.kill)
        events = []
        for line in stream.stdout:
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
                if events[-1].get("type") == "status" and events[-1].get("phase") in (
                        "Completed", "Failed"):
                    break
        stream.kill()
        stream.wait(10)
        self.assertEqual(events[-1]["phase"], "Completed", events[-1])
        self.assertIn("assistant", {e.get("type") for e in events})
        self.assertEqual(self.phase("demo", name), "Completed")
        self.assertEqual(self.mock.requests()[0]["headers"]["x-api-key"], KEY)

        # the printed kube address is the Kubernetes API the README shows
        code, sessions = self.curl(kube + "/apis/vteam.ambient-code/v1alpha1/agenticsessions")
        self.assertEqual(code, 200, sessions)
        self.assertIn((name, "Completed"), [(o["metadata"]["name"], o["status"]["phase"])
                                            for o in sessions["items"]])

        self.assertEqual(up.stop(), 0, up.text()[-6000:])
        self.assertIn('"msg":"ambientd stopped"', up.text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
