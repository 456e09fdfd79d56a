"""The whole session path on one machine, for ambient-runner's end-to-end
tests and its benchmark: kubesim with users of different rights, ambientd
running the controller (agenticsession, projectsettings) and the api role
(REST and the live service), the scripted Anthropic mock, git over HTTP with
a token check, and podsim starting the real ambient-runner from each Job
the plugin writes. Everything binds 127.0.0.1.

    with Stack() as st:
        ns = st.project()
        url = st.repo(ns, "one")                  # a repository whose HEAD is trunk
        st.create_session(ns, "s1", {"prompt": "add notes", "repos": [...]})
        obj = st.wait_phase(ns, "s1", "Completed")
        run = st.pods.run_for(ns, "s1")          # the runner's process, log, workspace

Environment (set by CMake): AMBIENTD, AMB_TEST_PLUGIN_DIR, KUBESIM, CRD_DIR,
RBAC_DIR, API_PLUGIN, AS_PLUGIN, PS_PLUGIN, RUNNER, CLAUDE_CLI. Debian's
/usr/bin/python3."""
import base64
import json
import os
import socket
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "api"))
sys.path.insert(0, os.path.join(TESTS, "common"))

import apiharness  # noqa: E402  (tests/api/apiharness.py)
import harness  # noqa: E402  (tests/kubesim/tests/harness.py)
from claudecli import claude_cli  # noqa: E402
from daemon import Daemon  # noqa: E402  (tests/integration/daemon.py)
from podsim import JobRunner  # noqa: E402
from servers import GitHttp, MockAnthropic  # noqa: E402

RUNNER = os.environ["RUNNER"]
FAKE_CLAUDE = os.path.join(HERE, "fake_claude.py")
ANTHROPIC_KEY = "sk-ant-test-" + uuid.uuid4().hex          # what the project's Secret holds
GIT_TOKEN = "git-token-" + uuid.uuid4().hex
SESSIONS = "/apis/vteam.ambient-code/v1alpha1/namespaces/%s/agenticsessions"
TERMINAL = ("Completed", "Failed", "Stopped")


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


class Stack:
    """api_plugins(stack) -> (plugin paths, config text), called once the
    git server runs: more plugins for the api role (a forge's webhook
    route) and their config. git_tokens: more tokens the git server takes.
    pods(stack, env, api_url) -> what runs the Jobs in podsim's place (the
    local executor: tests/local/localexec.py), given the runner's extra env
    and the live service's URL. api_env, controller_env: more environment
    for the two ambientd processes; leader_election: the controller takes
    its Lease (ambient/ambient-controller) as deployed; empty_dir=False: each
    session's workspace is a PersistentVolumeClaim, as deployed (podsim
    gives every volume a directory); controller_plugins: more plugins for
    the controller (paths, loaded after the others)."""

    def __init__(self, mock_scenario="write", runner_env=None, api_plugins=None, git_tokens=(),
                 pods=None, api_env=None, controller_env=None, leader_election=False,
                 empty_dir=True, controller_plugins=()):
        self.mock = MockAnthropic(scenario=mock_scenario)
        self.git = None
        self.cluster = None
        self.pods = None
        try:
            self.git = GitHttp(tokens=[GIT_TOKEN] + list(git_tokens))
            conf = 'agenticsession = { model_api_url = "%s"; workspace = { empty_dir = %s; }; };' % (
                self.mock.url, "true" if empty_dir else "false")
            plugins, api_conf = api_plugins(self) if api_plugins else ((), "")
            # As deployed: the api role with its identity, the controller
            # with its own (deploy/rbac), two processes.
            self.cluster = apiharness.Cluster(controller=False, live=True,
                                              extra_conf=conf + api_conf, extra_plugins=plugins,
                                              daemon_env=api_env)
            self.kube = self.cluster.kube
            self._controller_args = (conf, controller_env, leader_election,
                                     tuple(controller_plugins))
            self.controller = self._start_controller(*self._controller_args)
            env = {"AMBIENT_CLAUDE": claude_cli() or "claude", "CLAUDE_CODE_MAX_RETRIES": "0"}
            env.update(runner_env or {})
            # The Job names the live service by its cluster address; here it
            # is the port ambientd bound.
            api_url = "http://" + self.cluster.live_address
            if pods:
                self.pods = pods(self, env, api_url)
            else:
                self.pods = JobRunner(lambda: harness.Client(self.cluster.ks.port, harness.ADMIN),
                                      self.cluster.ks.url, RUNNER,
                                      os.path.join(self.cluster.tmp, "pods"), env=env,
                                      api_url=api_url)
        except BaseException:
            self.close()
            raise

    def _start_controller(self, conf, env, leader_election, plugins):
        c = self.cluster
        token = os.path.join(c.tmp, "controller-token")
        with open(token, "w") as f:
            f.write(apiharness.CONTROLLER_TOKEN + "\n")
        path = os.path.join(c.tmp, "controller.conf")
        with open(path, "w") as f:
            f.write("""
log = { level = "info"; format = "json"; };
plugins = [ %s ];
kube = { server = "%s"; token_file = "%s"; qps = 0.0; };
controller = { enabled = true; listen = "127.0.0.1:0"; leader_election = %s;
               lease = { name = "ambient-controller"; namespace = "ambient"; }; };
%s
""" % (", ".join('"%s"' % p for p in (apiharness.PLUGINS["projectsettings"],
                                         apiharness.PLUGINS["agenticsession"]) + plugins),
       c.ks.url, token, "true" if leader_election else "false", conf))
        d = Daemon(path, env=env)
        d.wait_for(lambda r: r.get("msg") == "ambientd running", timeout=30)
        return d

    def restart_controller(self):
        """Stops the controller (SIGTERM) and starts it again, as a rollout
        or a crash would."""
        self.controller.stop()
        self.controller = self._start_controller(*self._controller_args)

    # ---- setup ----
    def project(self, secrets=None, managed=True):
        """A managed namespace with alice as admin, bob as viewer, and the
        runner Secret holding the model key and the git token (managed=False:
        a plain namespace, not an Ambient project)."""
        if managed:
            ns = self.cluster.make_project("run")
        else:
            ns = uniq("plain")
            self.cluster.ensure_namespace(ns)
        data = {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "GIT_TOKEN": GIT_TOKEN}
        data.update(secrets or {})
        self.cluster.ok(self.kube.post("/api/v1/namespaces/%s/secrets" % ns, {
            "metadata": {"name": "ambient-runner-secrets"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}), 201)
        return ns

    def repo(self, ns, name, **kw):
        """A repository on the git server (default branch trunk); its URL."""
        path = "%s/%s.git" % (ns, name)
        self.git.create_repo(path, **kw)
        return self.git.repo_url(path)

    def runner_config(self, text):
        """Every runner started from now on loads this config
        (AMBIENT_RUNNER_CONFIG): forge plugins and their groups."""
        path = os.path.join(self.cluster.tmp, "runner-%s.conf" % uuid.uuid4().hex[:8])
        with open(path, "w") as f:
            f.write(text)
        self.pods.extra_env["AMBIENT_RUNNER_CONFIG"] = path
        return path

    def create_session(self, ns, name, spec, annotations=None):
        body = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
                "metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}
        return self.cluster.ok(self.kube.post(SESSIONS % ns, body), 201)

    # ---- observing ----
    def session(self, ns, name):
        return self.cluster.ok(self.kube.get(SESSIONS % ns + "/" + name), 200)

    def wait_phase(self, ns, name, *phases, timeout=180):
        """Waits until the session's phase is one of phases (or any terminal
        phase when none are given, failing on an unexpected one)."""
        want = phases or TERMINAL
        last = {}

        def reached():
            nonlocal last
            last = self.session(ns, name)
            phase = last.get("status", {}).get("phase")
            if phase in want:
                return last
            if phase in TERMINAL and phase not in want:
                raise AssertionError("session ended %s, not %s: %s"
                                     % (phase, want, json.dumps(last.get("status"), indent=1)))
            return None
        try:
            return apiharness.wait_until(reached, timeout=timeout, interval=0.1,
                                         what="session %s/%s %s" % (ns, name, want))
        except AssertionError:
            run = self.pods.runs and [r for r in self.pods.runs.values() if r.ns == ns]
            log = run[-1].log()[-6000:] if run and os.path.exists(run[-1].log_path) else ""
            raise AssertionError("session %s/%s never reached %s; status %s\nrunner log:\n%s"
                                 % (ns, name, want, json.dumps(last.get("status")), log))

    def events(self, ns, name, token=apiharness.ADMIN):
        """The session's whole stored log, through the live service."""
        items, after = [], 0
        for _ in range(1000):
            r = self.cluster.live("GET", "/api/projects/%s/agentic-sessions/%s/messages"
                                  "?after=%d&limit=500" % (ns, name, after), token=token)
            if r.status != 200:
                raise AssertionError("messages: %r" % (r,))
            items += r.body["items"]
            if r.body["next"] is None or not r.body["items"]:
                return items
            after = r.body["next"]
        return items

    def post_message(self, ns, name, body, token=apiharness.ALICE):
        return self.cluster.live("POST", "/api/projects/%s/agentic-sessions/%s/messages"
                                 % (ns, name), token=token, body=body)

    def close(self):
        for closer in (self.pods and self.pods.stop,
                       getattr(self, "controller", None) and self.controller.stop,
                       self.cluster and self.cluster.close,
                       self.git and self.git.stop, self.mock and self.mock.stop):
            if closer:
                try:
                    closer()
                except Exception:  # noqa: BLE001 - close what else is open
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_runners_clean(test, pods):
    """Every runner that ran exited cleanly for the sanitizers too."""
    for run in list(pods.runs.values()):
        if run.rc is not None and os.path.exists(run.log_path):
            for mark in apiharness.SANITIZER_MARKS:
                test.assertNotIn(mark, run.log(), "runner %s/%s" % (run.ns, run.job))


def processes_in(directory):
    """Pids of live processes whose working directory is inside directory:
    what the agent (or anything it started) left running there."""
    directory = os.path.realpath(directory)
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == directory or cwd.startswith(directory + "/")):
            out.append(int(pid))
    return out


class FlakyProxy:
    """A TCP proxy on loopback to target ("host:port") that can be taken
    down: while down, connections are accepted and closed at once, as a
    service that is restarting would. Bounded: it serves until close()."""

    def __init__(self, target):
        self.target = target.rsplit(":", 1)
        self.down = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.down.is_set():
                self.refused += 1
                c.close()
                continue
            threading.Thread(target=self._pipe, args=(c,), daemon=True).start()

    def _pipe(self, c):
        try:
            up = socket.create_connection((self.target[0], int(self.target[1])), timeout=5)
        except OSError:
            c.close()
            return
        up.settimeout(None)
        c.settimeout(None)

        def copy(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        t = threading.Thread(target=copy, args=(up, c), daemon=True)
        t.start()
        copy(c, up)
        t.join(5)
        c.close()
        up.close()

    def close(self):
        self._stop.set()
        self.sock.close()
        self._thread.join(5)


def wait_until(fn, timeout=60, interval=0.1, what="condition"):
    return apiharness.wait_until(fn, timeout=timeout, interval=interval, what=what)


def now():
    return time.monotonic()
