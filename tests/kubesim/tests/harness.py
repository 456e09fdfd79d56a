"""Shared helpers for kubesim's fidelity tests: start a kubesim on port 0,
talk to it over raw HTTP (keep-alive http.client), read watch streams, and
wait for conditions with a bound instead of sleeping.
"""

import http.client
import json
import os
import shutil
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM_DIR = os.path.dirname(HERE)
KUBESIM = os.path.join(KUBESIM_DIR, "kubesim")
KUBESIMCTL = os.path.join(KUBESIM_DIR, "kubesimctl")
DATA = os.path.join(os.path.dirname(KUBESIM_DIR), "data", "kubesim")
CRD_DIR = os.path.join(DATA, "crds")
ADMIN = "kubesim-admin"
WIDGETS = "/apis/test.ambient-code/v1alpha1"
PYTHON = "/usr/bin/python3"
# How long a test waits for a condition before it fails: generous, so a
# loaded machine (sanitizers, two cores shared by parallel tests) is slow but
# never a failure; a wait that succeeds returns as soon as its condition holds.
WAIT = 60
# The exit status ctest reports as "Skipped" (the tests' SKIP_RETURN_CODE).
SKIP = 77


def find_kubectl(what):
    """kubectl's path, or None after printing that `what` is skipped: kubectl
    is not on PATH (Debian's archive does not ship it). tests/run.sh prints
    these lines after ctest, which shows no output of skipped tests."""
    path = shutil.which("kubectl")
    if not path:
        print(f"{what} skipped: kubectl is not installed (not on PATH; Debian's archive "
              "does not ship it)", flush=True)
    return path


def kubectl_or_skip(test):
    """kubectl's path; without one, says so and exits with SKIP."""
    return find_kubectl(test) or sys.exit(SKIP)

sys.path.insert(0, os.path.join(os.path.dirname(KUBESIM_DIR), "common"))
from servers import ServerProcess  # noqa: E402  (tests/common/servers.py)


class Kubesim(ServerProcess):
    """A kubesim process (tests/common/servers.py starts it); stop() kills it."""

    name = "kubesim"

    def __init__(self, *args, tls=False, crds=True, start_timeout=WAIT):
        cmd = [PYTHON, KUBESIM, "--port", "0"]
        if tls:
            cmd += ["--tls-port", "0"]
        if crds:
            cmd += ["--crd-dir", CRD_DIR]
        cmd += list(args)
        super().__init__(cmd, want=2 if tls else 1, start_timeout=start_timeout)
        tls_urls = [u for u in self.urls if u.startswith("https://")]
        self.tls_url = tls_urls[0] if tls_urls else None
        self.tls_port = int(self.tls_url.rsplit(":", 1)[1]) if self.tls_url else None

    def client(self, token=ADMIN):
        return Client(self.port, token)


class Reply:
    def __init__(self, status, body, headers):
        self.status, self.body, self.headers = status, body, headers

    def __repr__(self):
        return f"Reply({self.status}, {self.body!r})"


class Client:
    """Raw HTTP client with one keep-alive connection."""

    def __init__(self, port, token=ADMIN, timeout=30):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn = None

    def _connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def request(self, method, path, body=None, ctype="application/json", token=None,
                headers=None, raw=False):
        hdrs = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = ctype
        for attempt in range(2):
            conn = self._connect()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        if raw:
            return Reply(resp.status, payload, dict(resp.getheaders()))
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return Reply(resp.status, parsed, dict(resp.getheaders()))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body, ctype="application/merge-patch+json", **kw):
        return self.request("PATCH", path, body, ctype=ctype, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Watch:
    """A watch stream; next() returns one decoded event or raises TimeoutError."""

    def __init__(self, port, path, token=ADMIN, timeout=WAIT, headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=dict(headers or {},
                                                    Authorization="Bearer " + token))
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict(self.resp.getheaders())

    def next(self, timeout=WAIT):
        self.conn.sock.settimeout(timeout)
        try:
            line = self.resp.readline()
        except (TimeoutError, OSError) as exc:
            if "timed out" in str(exc) or isinstance(exc, TimeoutError):
                raise TimeoutError("no watch event in time") from exc
            raise
        if not line:
            return None          # stream ended
        return json.loads(line)

    def events_until(self, pred, timeout=WAIT, skip_bookmarks=True):
        """Read events until pred(event) is true; return all read."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met; events: {got!r}")
            ev = self.next(left)
            if ev is None:
                raise AssertionError(f"stream ended; events: {got!r}")
            if skip_bookmarks and ev["type"] == "BOOKMARK":
                continue
            got.append(ev)
            if pred(ev):
                return got

    def close(self):
        self.conn.close()


def wait_for(fn, timeout=WAIT, interval=0.02, what="condition"):
    """Poll fn() until it returns a truthy value; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def uniq(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def widget(name, ns=None, spec=None, labels=None, **meta):
    m = {"name": name}
    if ns:
        m["namespace"] = ns
    if labels:
        m["labels"] = labels
    m.update(meta)
    return {"apiVersion": "test.ambient-code/v1alpha1", "kind": "Widget", "metadata": m,
            "spec": spec if spec is not None else {"size": 1}}


def wpath(ns, name=""):
    return f"{WIDGETS}/namespaces/{ns}/widgets" + (f"/{name}" if name else "")


class KubesimTest(unittest.TestCase):
    """Starts one kubesim per test class."""
    server_args = ()
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.ks = Kubesim(*cls.server_args, tls=cls.tls)
        cls.c = cls.ks.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.ks.stop()

    def make_ns(self, prefix="ns"):
        name = uniq(prefix)
        r = self.c.post("/api/v1/namespaces", {"metadata": {"name": name}})
        self.assertEqual(r.status, 201, r)
        return name

    def create_widget(self, ns, name, **kw):
        r = self.c.post(wpath(ns), widget(name, **kw))
        self.assertEqual(r.status, 201, r)
        return r.body

    def watch(self, path, **kw):
        w = Watch(self.ks.port, path, **kw)
        self.addCleanup(w.close)
        return w

    def assertStatus(self, reply, code, reason=None, message=None):
        self.assertEqual(reply.status, code, reply)
        body = reply.body
        self.assertEqual(body["kind"], "Status")
        self.assertEqual(body["apiVersion"], "v1")
        self.assertEqual(body["metadata"], {})
        self.assertEqual(body["status"], "Failure")
        self.assertEqual(body["code"], code)
        if reason:
            self.assertEqual(body["reason"], reason)
        if message is not None:
            self.assertEqual(body["message"], message)
        return body


def throttled_retries(requests):
    """From kubesim's request log (GET /kubesim/requests): for every request
    a fault answered with a Retry-After, (that entry, the next request with
    the same method, verb and path, or None if it never came again)."""
    out = []
    for i, q in enumerate(requests):
        if not q.get("fault") or q.get("retryAfterSeconds") is None:
            continue
        same = (q["method"], q["verb"], q["path"])
        nxt = next((r for r in requests[i + 1:]
                    if (r["method"], r["verb"], r["path"]) == same), None)
        out.append((q, nxt))
    return out


def main():
    unittest.main(verbosity=2)


if __name__ == "__main__":
    sys.exit("harness.py is a library")
