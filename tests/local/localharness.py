"""`ambientd --local` as a user runs it, for laptop mode's end-to-end tests:
the real binary on a data directory, with the local Kubernetes API, the
executor and the runtime in one process; REST, live and Kubernetes calls
over loopback with the admin token it printed.

    with Laptop(data_dir, conf='agenticsession = { model_api_url = "..."; };') as lp:
        lp.rest("POST", "/api/projects", {"name": "demo"})
        lp.kube("GET", "/api/v1/namespaces")
        lp.stop()              # SIGTERM: exit status
        lp.kill9()             # as a crash

Environment (set by CMake): AMBIENTD, CLAUDE_CLI, FAKE_CLAUDE. Debian's
/usr/bin/python3, standard library only."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kubesim", "tests"))

import harness  # noqa: E402  (tests/kubesim/tests/harness.py: wait_for)
from servers import ServerProcess, http_json  # noqa: E402  (tests/common/servers.py)

AMBIENTD = os.environ["AMBIENTD"]
FAKE_CLAUDE = os.environ.get("FAKE_CLAUDE", "")
START_TIMEOUT = 60  # seconds; sanitizer builds on a loaded machine are slow
TERMINAL = ("Completed", "Failed", "Stopped")


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def wait_until(check, timeout, what, interval=0.1):
    """check()'s first truthy answer, polling; AssertionError after timeout."""
    return harness.wait_for(check, timeout, interval, what)


def call(url, method, path, body=None, token=None, content_type=None):
    """(status, parsed JSON or raw bytes) of one request to url's host."""
    u = urllib.parse.urlsplit(url)
    headers = {"Authorization": "Bearer " + token} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    return http_json(u.hostname, u.port, method, path, body, headers)


def runner_processes(data_dir):
    """pids of processes working under data_dir/sessions (runners, their CLIs)."""
    root = os.path.join(os.path.realpath(data_dir), "sessions") + "/"
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if (os.readlink("/proc/%s/cwd" % p) + "/").startswith(root):
                pids.append(int(p))
        except OSError:
            pass
    return pids


def kill_runners(data_dir):
    """SIGKILLs what a killed ambientd left running under data_dir."""
    for pid in runner_processes(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def real_cli_config(test, mock_url):
    """--config text running sessions with the real Claude Code CLI against
    the mock Anthropic API at mock_url; fails test when the CLI is missing."""
    from claudecli import claude_cli
    cli = claude_cli()
    test.assertTrue(cli, "the Claude Code CLI is missing (deploy/dev/install-deps.sh)")
    return ('local = { runner_env = [ "AMBIENT_CLAUDE=%s", "CLAUDE_CODE_MAX_RETRIES=0" ]; };\n'
            'agenticsession = { model_api_url = "%s"; };\n' % (cli, mock_url))


class Laptop(ServerProcess):
    """ambientd --local on data_dir, started; its five printed lines parsed
    into api, live, kube (URLs), token_file and kubeconfig. conf: text of a --config."""

    name = "ambientd --local"

    def __init__(self, data_dir, conf=None, listen="127.0.0.1:0", start_timeout=START_TIMEOUT):
        self.data_dir = data_dir
        # Beside the data directory, so the test's temporary folder takes
        # it away with the data (a restart on the same data appends).
        self.log_path = os.path.normpath(data_dir) + ".ambientd.log"
        cmd = [AMBIENTD, "--local", "--data-dir", data_dir, "--listen", listen]
        self.conf_path = None
        if conf is not None:
            fd, self.conf_path = tempfile.mkstemp(suffix=".conf")
            with os.fdopen(fd, "w") as f:
                f.write(conf)
            cmd += ["--config", self.conf_path]
        self.cmd = cmd
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log)
        try:
            lines = self._read_lines(5, start_timeout)
        except BaseException as e:
            self.stop()
            raise RuntimeError("%s\n%s" % (e, self.log()[-4000:]))
        got = dict(line.split(" ", 1) for line in lines)
        if sorted(got) != ["api", "kube", "kubeconfig", "live", "token"]:
            self.stop()
            raise AssertionError("ambientd --local printed %r" % lines)
        self.api, self.live, self.kube_url, self.token_file, self.kubeconfig = (
            got["api"], got["live"], got["kube"], got["token"], got["kubeconfig"])
        with open(self.token_file) as f:
            self.token = f.read().strip()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill9(self):
        self.proc.kill()
        self.proc.wait(30)
        self.stop()

    def stop(self, timeout=60):
        rc = super().stop(timeout)
        if self.conf_path and os.path.exists(self.conf_path):
            os.unlink(self.conf_path)
        return rc

    # ---- calls with the admin token ----
    def rest(self, method, path, body=None, token=None):
        return call(self.api, method, path, body, token or self.token)

    def kube(self, method, path, body=None, content_type=None):
        return call(self.kube_url, method, path, body, self.token, content_type=content_type)

    def ok(self, answer, *codes):
        status, body = answer
        if status not in codes:
            raise AssertionError("expected %s, got %d: %s\n%s"
                                 % (codes, status, body, self.log()[-3000:]))
        return body

    # ---- the REST path a user takes ----
    def project(self, secrets):
        """A project made over REST, its runner Secret holding secrets."""
        ns = uniq("lp")
        self.ok(self.rest("POST", "/api/projects", {"name": ns}), 201)
        self.ok(self.rest("PUT", "/api/projects/%s/runner-secrets" % ns, {"data": secrets}), 200)
        return ns

    def create_session(self, ns, name, spec):
        body = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
                "metadata": {"name": name}, "spec": spec}
        return self.ok(self.rest("POST", "/api/projects/%s/agentic-sessions" % ns, body), 201)

    def session(self, ns, name):
        return self.ok(self.rest("GET", "/api/projects/%s/agentic-sessions/%s" % (ns, name)), 200)

    def wait_phase(self, ns, name, phases=TERMINAL, timeout=120):
        last = {}

        def reached():
            nonlocal last
            last = self.session(ns, name)
            return last if last.get("status", {}).get("phase") in phases else None
        try:
            return wait_until(reached, timeout, "session %s/%s %s" % (ns, name, phases), 0.2)
        except AssertionError:
            raise AssertionError("session %s/%s never reached %s; status %s\n%s"
                                 % (ns, name, phases, json.dumps(last.get("status")),
                                    self.runner_log(ns, name)[-4000:]))

    def runner_log(self, ns, name):
        d = os.path.join(self.data_dir, "sessions", ns, name + "-runner")
        for root, _, files in os.walk(d):
            if "runner.log" in files:
                with open(os.path.join(root, "runner.log"), errors="replace") as f:
                    return f.read()
        return "(no runner.log under %s)" % d


class SSE:
    """A session's event stream from the live service (GET .../events),
    read on a thread: events holds each parsed `data:` line."""

    def __init__(self, laptop, ns, name, timeout=120):
        import threading
        u = urllib.parse.urlsplit(laptop.live)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        self.conn.request("GET", "/api/projects/%s/agentic-sessions/%s/events" % (ns, name),
                          headers={"Authorization": "Bearer " + laptop.token,
                                   "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        self.events = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for raw in self.response:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("data: "):
                    self.events.append(json.loads(line[len("data: "):]))
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by close(), or the server stopped

    def close(self):
        self.conn.close()
