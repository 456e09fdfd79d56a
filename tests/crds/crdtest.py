"""Shared helpers for the CRD tests: a kubesim started with deploy/crds,
raw HTTP access through kubesim's own test harness, the sample objects in
tests/crds/data, and a kubectl wrapper.

AMBIENT_CRD_DIR overrides the CRD folder, so the tests can be pointed at a
deliberately broken copy to see them fail.
"""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KUBESIM_DIR = os.path.join(ROOT, "tests", "kubesim")
sys.path.insert(0, os.path.join(KUBESIM_DIR, "tests"))
sys.path.insert(0, KUBESIM_DIR)

import harness  # noqa: E402  (kubesim's test harness)
import miniyaml  # noqa: E402  (the YAML subset kubesim loads CRDs with)

CRD_DIR = os.environ.get("AMBIENT_CRD_DIR") or os.path.join(ROOT, "deploy", "crds")
DATA = os.path.join(HERE, "data")
GROUP = "vteam.ambient-code"
VERSION = "v1alpha1"
API = f"/apis/{GROUP}/{VERSION}"
KUBECTL = shutil.which("kubectl")

uniq = harness.uniq
wait_for = harness.wait_for
main = harness.main

CRD_FILES = {
    "agenticsessions": "agenticsessions.vteam.ambient-code.yaml",
    "projectsettings": "projectsettings.vteam.ambient-code.yaml",
    "rfeworkflows": "rfeworkflows.vteam.ambient-code.yaml",
}


def load_crd(plural):
    with open(os.path.join(CRD_DIR, CRD_FILES[plural])) as f:
        return miniyaml.load(f.read())


def schema_of(crd):
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def sample(name):
    """A sample object (or status document) from tests/crds/data, fresh each call."""
    with open(os.path.join(DATA, name)) as f:
        return miniyaml.load(f.read())


def path(plural, ns, name="", sub=""):
    p = f"{API}/namespaces/{ns}/{plural}"
    if name:
        p += "/" + name
    if sub:
        p += "/" + sub
    return p


class CrdTest(unittest.TestCase):
    """One kubesim per test class, serving exactly the CRDs in CRD_DIR."""
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.ks = harness.Kubesim("--crd-dir", CRD_DIR, tls=cls.tls, crds=False)
        cls.c = cls.ks.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.ks.stop()

    def make_ns(self, prefix="crd"):
        name = uniq(prefix)
        r = self.c.post("/api/v1/namespaces", {"metadata": {"name": name}})
        self.assertEqual(r.status, 201, r)
        return name

    def create(self, plural, ns, obj, query="", code=201):
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = ns
        r = self.c.post(path(plural, ns) + query, obj)
        self.assertEqual(r.status, code, r)
        return r

    def get(self, plural, ns, name):
        r = self.c.get(path(plural, ns, name))
        self.assertEqual(r.status, 200, r)
        return r.body

    def put_status(self, plural, ns, name, status):
        """Replace the whole status through /status, as the reconciler does."""
        obj = self.get(plural, ns, name)
        obj["status"] = copy.deepcopy(status)
        r = self.c.put(path(plural, ns, name, "status"), obj)
        self.assertEqual(r.status, 200, r)
        return r.body

    def patch_status(self, plural, ns, name, status):
        """Merge-patch the status through /status, as the runner does."""
        r = self.c.patch(path(plural, ns, name, "status"), {"status": status})
        self.assertEqual(r.status, 200, r)
        return r.body

    def assertPruned(self, reply, *fields):
        """The write succeeded, dropped `fields`, and said so in a Warning."""
        warning = reply.headers.get("Warning", "")
        for f in fields:
            self.assertIn(f'unknown field \\"{f}\\"', warning, reply.headers)


class KubectlMixin:
    """kubectl against the test's kubesim over https with the admin token."""

    def setUp(self):
        super().setUp()
        self.assertTrue(KUBECTL, "kubectl is not installed")
        self.tmp = tempfile.mkdtemp(prefix="crds-kubectl-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        kubeconfig = os.path.join(self.tmp, "kubeconfig")
        open(kubeconfig, "w").close()
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=self.tmp)

    def kubectl(self, *args, stdin=None, ok=True):
        cmd = [KUBECTL, f"--server={self.ks.tls_url}", "--insecure-skip-tls-verify",
               "--token=kubesim-admin", f"--cache-dir={self.tmp}/cache", *args]
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=60)
        if ok:
            self.assertEqual(p.returncode, 0, f"kubectl {args}: {p.stderr}")
        return p
