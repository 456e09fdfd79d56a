"""Shared helpers for the controller suites: a kubesim (tests/kubesim's own
harness), ambientd processes with the widget test kind (tests/integration's
Daemon), /metrics scraping, bounded waits, and the clean-stop check (exit 0,
no sanitizer report).

Environment (set by CMake): AMBIENTD, AMB_TEST_PLUGIN_DIR, KUBESIM, CRD_DIR.
Runs on Debian's /usr/bin/python3 with the standard library only."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "kubesim", "tests"))

import harness  # noqa: E402  (tests/kubesim/tests/harness.py)
from daemon import Daemon  # noqa: E402  (tests/integration/daemon.py)

if os.environ.get("KUBESIM"):
    harness.KUBESIM = os.environ["KUBESIM"]
if os.environ.get("CRD_DIR"):
    harness.CRD_DIR = os.environ["CRD_DIR"]

PLUGIN_DIR = os.environ["AMB_TEST_PLUGIN_DIR"]
ADMIN = harness.ADMIN
WIDGETS = harness.WIDGETS
SANITIZER_MARKS = ("LeakSanitizer", "AddressSanitizer", "runtime error:", "ThreadSanitizer")
wpath = harness.wpath
WAIT = harness.WAIT


def uniq(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def wait_until(fn, timeout=WAIT, interval=0.05, what="condition"):
    """Calls fn until it returns something truthy (returned); bounded in time."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
        except (OSError, http.client.HTTPException) as exc:  # kubesim busy: try again
            v, last = None, exc
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s%s" %
                                 (timeout, what, " (last error: %r)" % last if last else ""))
        time.sleep(interval)


# ---- /metrics ----

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("bad metrics line: %r" % line)
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def http_get(address, path, timeout=WAIT):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


# ---- kubesim ----

class Kube:
    """A kubesim and thread-local admin clients for it."""

    def __init__(self, *args):
        self.ks = harness.Kubesim(*args)
        self.port = self.ks.port
        self.url = self.ks.url
        self._local = threading.local()
        self._clients = []
        self._lock = threading.Lock()

    @property
    def c(self):
        cl = getattr(self._local, "client", None)
        if cl is None:
            cl = harness.Client(self.port, ADMIN)
            self._local.client = cl
            with self._lock:
                self._clients.append(cl)
        return cl

    def stop(self):
        with self._lock:
            for cl in self._clients:
                cl.close()
        self.ks.stop()

    def ok(self, reply, *codes):
        if reply.status not in codes:
            raise AssertionError("unexpected answer %r" % (reply,))
        return reply.body

    # controls
    def faults_add(self, **spec):
        return self.ok(self.c.post("/kubesim/faults", spec), 201)

    def faults_clear(self):
        return self.ok(self.c.delete("/kubesim/faults"), 200)

    def faults(self):
        return self.ok(self.c.get("/kubesim/faults"), 200)["faults"]

    def watches(self):
        return self.ok(self.c.get("/kubesim/watches"), 200)["watches"]

    def requests(self, path=""):
        """kubesim's log of the API requests received (arrival times)."""
        q = "?path=" + urllib.parse.quote(path) if path else ""
        return self.ok(self.c.get("/kubesim/requests" + q), 200)["requests"]

    def forget_requests(self):
        return self.ok(self.c.delete("/kubesim/requests"), 200)

    def drop_watches(self, path=""):
        return self.ok(self.c.post("/kubesim/watches/drop", {"path": path}), 200)["dropped"]

    def compact(self):
        return self.ok(self.c.post("/kubesim/compact", {}), 200)

    def wait_watching(self, resources=("widgets.test.ambient-code", "secrets"), timeout=WAIT):
        """Until ambientd has a watch open on each resource (group-resource names)."""
        def have():
            got = {w["resource"] for w in self.watches()}
            return all(r in got for r in resources)
        return wait_until(have, timeout, 0.05, "watches on %s" % (resources,))

    # objects
    def make_ns(self, name=None):
        name = name or uniq("ns")
        self.ok(self.c.post("/api/v1/namespaces", {"metadata": {"name": name}}), 201)
        return name

    def create_widget(self, ns, name, spec=None):
        return self.ok(self.c.post(wpath(ns), harness.widget(name, spec=spec)), 201)

    def get_widget(self, ns, name):
        r = self.c.get(wpath(ns, name))
        return r.body if r.status == 200 else None

    def list_widgets(self):
        return self.ok(self.c.get(WIDGETS + "/widgets"), 200)["items"]

    def get_secret(self, ns, name):
        r = self.c.get("/api/v1/namespaces/%s/secrets/%s" % (ns, name))
        return r.body if r.status == 200 else None

    def create_many(self, objs, threads=8):
        """objs: [(ns, name, spec)]; created in parallel, each on its own
        keep-alive connection."""
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(lambda o: self.create_widget(*o), objs))


def reconciled(w):
    """The widget's status shows its current generation reconciled."""
    if not w:
        return False
    st = w.get("status") or {}
    gen = w["metadata"].get("generation")
    ready = [c for c in st.get("conditions") or [] if c.get("type") == "Ready"]
    return (gen is not None and st.get("observedGeneration") == gen and
            st.get("child") == w["metadata"]["name"] + "-child" and
            len(ready) == 1 and ready[0].get("status") == "True")


# ---- ambientd ----

class Ambient:
    """ambientd with the controller against a kubesim, and its metrics port."""

    def __init__(self, kube, workdir, plugins=("widget",), slow_ms=0, workers=4,
                 leader_election=True, lease=(4, 3, 1), token=ADMIN, token_file=None,
                 extra="", kube_extra="", wait_leader=True, wait_synced=True, widget_extra="",
                 controller_extra=""):
        self.workdir = workdir
        if token_file is None:
            token_file = os.path.join(workdir, "token-%s" % uuid.uuid4().hex[:6])
            with open(token_file, "w") as f:
                f.write(token + "\n")
        self.token_file = token_file
        plist = ", ".join('"%s"' % p for p in plugins)
        text = (
            'plugin_dir = "%s";\n'
            'plugins = (%s);\n'
            'widget = { slow_ms = %d; finalizer = false; %s};\n'
            'kube = { server = "%s"; token_file = "%s"; %s};\n'
            'controller = { listen = "127.0.0.1:0"; workers = %d; leader_election = %s; %s\n'
            '  lease = { namespace = "default"; duration = %d; renew_deadline = %d; retry_period = %d; }; };\n'
            'log = { level = "debug"; format = "json"; };\n%s'
        ) % (PLUGIN_DIR, plist, slow_ms, widget_extra, kube.url, token_file, kube_extra, workers,
             "true" if leader_election else "false", controller_extra, lease[0], lease[1],
             lease[2], extra)
        if "widget" not in plugins:
            text = text.replace('widget = { slow_ms = %d; finalizer = false; %s};\n'
                                % (slow_ms, widget_extra), "")
        self.config = os.path.join(workdir, "ambient-%s.conf" % uuid.uuid4().hex[:6])
        with open(self.config, "w") as f:
            f.write(text)
        self.signalled = False
        self.d = Daemon(self.config)
        self.pid = self.d.proc.pid
        self.address = self.wait_msg("serving metrics and probes")["address"]
        if wait_synced and "widget" in plugins:
            self.wait_msg("cache synced", resource="widgets")
            self.wait_msg("cache synced", resource="secrets")
        if wait_leader and leader_election:
            self.wait_msg("became the leader")

    # log
    def wait_msg(self, msg, timeout=WAIT, **fields):
        def pred(r):
            return r.get("msg") == msg and all(r.get(k) == v for k, v in fields.items())
        return self.d.wait_for(pred, timeout)

    def has_msg(self, msg, **fields):
        return [r for r in self.d.records()
                if r.get("msg") == msg and all(r.get(k) == v for k, v in fields.items())]

    def log_text(self):
        return "\n".join(self.d.lines)

    # http
    def get(self, path):
        return http_get(self.address, path)

    def metrics(self):
        code, text = self.get("/metrics")
        if code != 200:
            raise AssertionError("/metrics answered %d" % code)
        return parse_metrics(text)

    def metric(self, name, **labels):
        """Sum of the series of name whose labels include `labels`."""
        return sum(v for n, ls, v in self.metrics()
                   if n == name and all(ls.get(k) == x for k, x in labels.items()))

    def requests_total(self):
        return self.metric("ambient_kube_requests_total")

    # lifecycle
    def stop_clean(self, test, timeout=WAIT, want=0, send=True):
        """SIGTERM (if send, unless terminate() sent it already); waits for
        the exit and asserts its status (0) and no sanitizer report."""
        if send and not self.signalled and self.alive():
            self.terminate()
        code = self.wait_exit(timeout)
        test.assertEqual(code, want, "ambientd exited %s:\n%s" % (code, self.log_text()[-6000:]))
        self.assert_no_sanitizer(test)

    def wait_exit(self, timeout=WAIT):
        try:
            code = self.d.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("ambientd did not exit within %ss:\n%s" %
                                 (timeout, self.log_text()[-6000:]))
        self._close()
        return code

    def _close(self):
        self.d._reader.join(5)
        for f in (self.d.proc.stdout, self.d.proc.stderr):
            if f and not f.closed:
                f.close()

    def terminate(self):
        """Sends SIGTERM and returns at once (stop_clean collects the exit)."""
        self.signalled = True
        self.d.proc.send_signal(signal.SIGTERM)

    def assert_no_sanitizer(self, test):
        text = self.log_text()
        for mark in SANITIZER_MARKS:
            test.assertNotIn(mark, text, "sanitizer report in ambientd's stderr:\n" + text[-8000:])

    def kill(self):
        if self.d.proc.poll() is None:
            self.d.proc.kill()
        self.d.proc.wait(10)
        self._close()

    def alive(self):
        return self.d.proc.poll() is None


class ControllerTest(unittest.TestCase):
    """One kubesim per class; ambientd processes started with start() are
    SIGKILLed at the end if a test left them running (the tests themselves
    stop them with stop_clean)."""
    kubesim_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ambctl-")
        cls.kube = Kube(*cls.kubesim_args)

    @classmethod
    def tearDownClass(cls):
        cls.kube.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self._ambients = []
        self.addCleanup(self._kill_leftovers)

    def _kill_leftovers(self):
        try:
            self.kube.faults_clear()
        except Exception:  # noqa: BLE001 - best effort in cleanup
            pass
        for a in self._ambients:
            if a.alive():
                a.kill()

    def start(self, **kw):
        a = Ambient(self.kube, self.tmp, **kw)
        self._ambients.append(a)
        return a

    def wait_reconciled(self, ns, name, timeout=WAIT):
        def done():
            w = self.kube.get_widget(ns, name)
            return w if reconciled(w) else None
        return wait_until(done, timeout, 0.05, "widget %s/%s reconciled" % (ns, name))


def main():
    unittest.main(verbosity=2)

