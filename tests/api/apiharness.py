"""Shared harness for the api.so suites: a kubesim with four users of
different rights, the RBAC of deploy/rbac applied, and a real ambientd
running the api plugin (REST and live listeners on free loopback ports).

Users (tokens):   ADMIN  kubesim-admin   system:masters
                  ALICE  alice-token     user "alice" (group team-a)
                  BOB    bob-token       user "bob"
                  CAROL  carol-token     user "carol" (no rights anywhere)
                  the daemon itself uses API_TOKEN, the service account
                  ambient/ambient-api bound to deploy/rbac's ambient-api role.

    class T(ApiTest):            # one cluster per class
        def test_x(self):
            ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
            r = self.cluster.rest("GET", f"/api/projects/{ns}/agentic-sessions", token=ALICE)
            self.assertEqual(r.status, 200, r)

Environment (set by CMake): AMBIENTD, AMB_TEST_PLUGIN_DIR, KUBESIM, CRD_DIR,
RBAC_DIR, API_PLUGIN, AS_PLUGIN, PS_PLUGIN. Debian's /usr/bin/python3 with
python3-yaml."""
import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "kubesim", "tests"))

import harness  # noqa: E402  (tests/kubesim/tests/harness.py)
from daemon import Daemon  # noqa: E402

harness.KUBESIM = os.environ["KUBESIM"]
harness.CRD_DIR = os.environ["CRD_DIR"]
RBAC_DIR = os.environ["RBAC_DIR"]
PLUGINS = {"api": os.environ["API_PLUGIN"], "agenticsession": os.environ["AS_PLUGIN"],
           "projectsettings": os.environ["PS_PLUGIN"]}

ADMIN = harness.ADMIN
WAIT = harness.WAIT
ALICE, BOB, CAROL = "alice-token", "bob-token", "carol-token"
API_TOKEN = "ambient-api-token"
API_USER = "system:serviceaccount:ambient:ambient-api"
CONTROLLER_TOKEN = "ambient-controller-token"
CONTROLLER_USER = "system:serviceaccount:ambient:ambient-controller"
SANITIZER_MARKS = ("LeakSanitizer", "AddressSanitizer", "runtime error:")

TOKENS = f'''{ADMIN},kubesim-admin,uid-admin,"system:masters"
{ALICE},alice,uid-alice,"team-a"
{BOB},bob,uid-bob,""
{CAROL},carol,uid-carol,""
{API_TOKEN},{API_USER},uid-api,"system:serviceaccounts,system:serviceaccounts:ambient"
{CONTROLLER_TOKEN},{CONTROLLER_USER},uid-ctl,"system:serviceaccounts,system:serviceaccounts:ambient"
'''

# Where each kind of deploy/rbac lives in the API.
RBAC_PATHS = {
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Namespace": "/api/v1/namespaces",
}


def uniq(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def wait_until(fn, timeout=WAIT, interval=0.05, what="condition"):
    """Calls fn until it returns something truthy (returned); bounded in time."""
    return harness.wait_for(fn, timeout, interval, what)


class Reply:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers  # lower-case names
        self.raw = raw
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = raw.decode(errors="replace")

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body)


def http_request(address, method, path, token=None, body=None, headers=None, raw=None,
                 ctype="application/json", timeout=30, tls_context=None):
    """One request on a fresh connection. body is JSON-encoded; raw is sent
    as is. Returns a Reply."""
    host, port = address.rsplit(":", 1)
    if tls_context is not None:
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout,
                                           context=tls_context)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = "Bearer " + token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        hdrs.setdefault("Content-Type", ctype)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


class CurlStream:
    """curl -sS -N ARGS in the background, reading a stream (Server-Sent
    Events) line by line; bounded by curl's own --max-time."""

    def __init__(self, *args, max_time=WAIT):
        self.proc = subprocess.Popen(["curl", "-sS", "-N", "--max-time", str(max_time), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []

    def read_until(self, pred):
        """Reads lines until pred(line); returns every line read so far.
        AssertionError if the stream ends first."""
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if pred(self.lines[-1]):
                return self.lines
        raise AssertionError("the stream ended first: %r %s" % (self.lines,
                                                                 self.proc.stderr.read()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def sse_ids(lines):
    return [int(line[4:]) for line in lines if line.startswith("id: ")]


class Cluster:
    """kubesim + RBAC + ambientd with the api plugin."""

    def __init__(self, controller=False, live=True, api_conf="", extra_conf="", api=True,
                 daemon_token=API_TOKEN, extra_plugins=(), daemon_env=None):
        self.tmp = tempfile.mkdtemp(prefix="apitest-")
        token_file = os.path.join(self.tmp, "tokens.csv")
        with open(token_file, "w") as f:
            f.write(TOKENS)
        self.ks = harness.Kubesim("--token-auth-file", token_file)
        self.kube = harness.Client(self.ks.port, ADMIN)
        self.apply_dir(RBAC_DIR)
        self.ensure_namespace("ambient")
        self.live_dir = os.path.join(self.tmp, "events")
        self.daemon = None
        self.api = api
        self.extra_plugins = tuple(extra_plugins)  # paths, loaded after the others
        self.daemon_env = daemon_env  # more environment for ambientd
        self.token_path = os.path.join(self.tmp, "daemon-token")
        with open(self.token_path, "w") as f:
            f.write(daemon_token + "\n")
        try:
            self.start_daemon(controller, live, api_conf, extra_conf)
        except BaseException:
            self.close()
            raise

    # ---- kubesim as admin ----
    def ok(self, reply, *codes):
        if reply.status not in codes:
            raise AssertionError("unexpected kubesim answer %r" % (reply,))
        return reply.body

    def ensure_namespace(self, name, labels=None):
        r = self.kube.post("/api/v1/namespaces",
                           {"metadata": {"name": name, "labels": labels or {}}})
        self.ok(r, 201, 409)

    def apply(self, obj, ns=None):
        kind = obj["kind"]
        ns = obj.get("metadata", {}).get("namespace") or ns
        path = RBAC_PATHS[kind].format(ns=ns)
        self.ok(self.kube.post(path, obj), 201)

    def apply_dir(self, directory):
        for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    if doc:
                        if doc["kind"] == "Namespace" or doc.get("metadata", {}).get("namespace"):
                            ns = doc.get("metadata", {}).get("namespace")
                            if ns:
                                self.ensure_namespace(ns)
                        if doc["kind"] == "Namespace":
                            self.ensure_namespace(doc["metadata"]["name"])
                            continue
                        self.apply(doc)

    def bind(self, ns, user, role, kind="User"):
        """RoleBinding in ns giving user the ClusterRole ambient-project-<role>."""
        self.ok(self.kube.post(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
            {"metadata": {"name": uniq(f"test-{role}")},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "ambient-project-" + role},
             "subjects": [{"kind": kind, "name": user,
                           **({"apiGroup": "rbac.authorization.k8s.io"} if kind != "ServiceAccount" else {})}]}), 201)

    def make_project(self, prefix="proj", admins=("alice",), editors=(), viewers=("bob",)):
        """A managed namespace (as POST /api/projects makes) with the given
        users bound; returns its name."""
        ns = uniq(prefix)
        self.ensure_namespace(ns, {"ambient-code.io/managed": "true"})
        for u in admins:
            self.bind(ns, u, "admin")
        for u in editors:
            self.bind(ns, u, "edit")
        for u in viewers:
            self.bind(ns, u, "view")
        return ns

    def make_session(self, ns, name=None):
        """An AgenticSession ns/name (written as kubectl would; no controller
        acts on it); returns its metadata (name, uid)."""
        name = name or uniq("s")
        body = self.ok(self.kube.post(
            f"/apis/vteam.ambient-code/v1alpha1/namespaces/{ns}/agenticsessions",
            {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
             "metadata": {"name": name},
             "spec": {"prompt": "p", "repos": [{"input": {"url": "https://github.com/o/r"}}]}}),
            201)
        return body["metadata"]

    def service_account_token(self, ns, name):
        """Creates ServiceAccount ns/name if needed and mints a token for it."""
        self.ok(self.kube.post(f"/api/v1/namespaces/{ns}/serviceaccounts",
                               {"metadata": {"name": name}}), 201, 409)
        r = self.kube.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                           {"spec": {}})
        return self.ok(r, 201)["status"]["token"]

    # ---- ambientd ----
    def config_text(self, controller, live, api_conf, extra_conf):
        names = ("projectsettings", "agenticsession") + (("api",) if self.api else ())
        plugins = ", ".join('"%s"' % p for p in [PLUGINS[n] for n in names] +
                            list(self.extra_plugins))
        live_group = (f'live = {{ listen = "127.0.0.1:0"; dir = "{self.live_dir}"; }};'
                      if live else "")
        api_group = (f'api = {{ listen = "127.0.0.1:0"; threads = 2; {live_group} {api_conf} }};'
                     if self.api else "")
        return f"""
log = {{ level = "info"; format = "json"; }};
plugins = [ {plugins} ];
kube = {{ server = "{self.ks.url}"; token_file = "{self.token_path}"; qps = 0.0; }};
controller = {{ enabled = {"true" if controller else "false"}; listen = "127.0.0.1:0"; leader_election = false; }};
{api_group}
{extra_conf}
"""

    def start_daemon(self, controller=False, live=True, api_conf="", extra_conf=""):
        path = os.path.join(self.tmp, "ambient.conf")
        with open(path, "w") as f:
            f.write(self.config_text(controller, live, api_conf, extra_conf))
        self.daemon = Daemon(path, env=self.daemon_env)
        self.rest_address = self.live_address = None
        if not self.api:
            self.daemon.wait_for(lambda r: r.get("msg") == "ambientd running")
            return
        rec = self.daemon.wait_for(lambda r: r.get("msg") == "api listening")
        self.rest_address = rec["address"]
        if live:
            rec = self.daemon.wait_for(lambda r: r.get("msg") == "live listening")
            self.live_address = rec["address"]

    def stop_daemon(self):
        """SIGTERM; asserts a clean exit (0, no sanitizer report)."""
        if not self.daemon:
            return
        d, self.daemon = self.daemon, None
        code = d.stop(signal.SIGTERM)
        log = "\n".join(d.lines)
        bad = [m for m in SANITIZER_MARKS if m in log]
        if code != 0 or bad:
            raise AssertionError("ambientd exited %s %s:\n%s" % (code, bad, log[-6000:]))
        return log

    def restart_daemon(self, **kw):
        self.stop_daemon()
        self.start_daemon(**kw)

    def log_text(self):
        return "\n".join(self.daemon.lines) if self.daemon else ""

    # ---- requests ----
    def rest(self, method, path, **kw):
        return http_request(self.rest_address, method, path, **kw)

    def live(self, method, path, **kw):
        return http_request(self.live_address, method, path, **kw)

    def close(self):
        try:
            if self.daemon and self.daemon.proc.poll() is not None:
                d, self.daemon = self.daemon, None  # died already: nothing to stop
                d.stop()
            else:
                self.stop_daemon()
        finally:
            self.kube.close()
            self.ks.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


class ApiTest(unittest.TestCase):
    """One Cluster per test class; override cluster_args to change it."""
    cluster_args = {}

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(**cls.cluster_args)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def assertStatus(self, reply, status):
        self.assertEqual(reply.status, status, reply)
        return reply.body

    def assertError(self, reply, status):
        """An error reply: the status, and the {"error", "details"} shape."""
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.headers.get("content-type", "").split(";")[0],
                         "application/json", reply)
        self.assertIsInstance(reply.body, dict, reply)
        self.assertIn("error", reply.body, reply)
        return reply.body
