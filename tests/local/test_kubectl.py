"""kubectl against the local Kubernetes API, through the kubeconfig it
writes (TLS with its own certificate and the admin token file): get,
apply (client- and server-side), patch, get -w, delete; the typed create
commands (protobuf bodies), auth can-i and whoami with a minted token.
Without kubectl on PATH it says so and exits 77 (skipped)."""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localkube import LocalKube, harness  # noqa: E402

KUBECTL = harness.find_kubectl("local.kubectl")

MANIFEST = """apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: vteam.ambient-code/v1alpha1
kind: AgenticSession
metadata:
  name: s1
  namespace: demo
spec:
  prompt: {prompt}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
  a: "{a}"
"""


class Kubectl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="localkube-kubectl-")
        cls.lk = LocalKube(os.path.join(cls.tmp, "data"))
        cls.env = dict(os.environ, KUBECONFIG=cls.lk.kubeconfig, HOME=cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.lk.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def kubectl(self, *args, stdin=None, ok=True):
        r = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=harness.WAIT)
        if ok:
            self.assertEqual(r.returncode, 0, f"kubectl {' '.join(args)}: {r.stderr}")
        return r

    def test_get_apply_patch_watch_delete(self):
        out = self.kubectl("get", "ns", "-o", "name").stdout.split()
        self.assertIn("namespace/default", out)
        self.kubectl("get", "all", "-A")  # the "all" category is served
        r = self.kubectl("apply", "-f", "-", stdin=MANIFEST.format(prompt="hello", a=1))
        self.assertIn("agenticsession.vteam.ambient-code/s1 created", r.stdout)
        r = self.kubectl("apply", "-f", "-", stdin=MANIFEST.format(prompt="changed", a=2))
        self.assertIn("agenticsession.vteam.ambient-code/s1 configured", r.stdout)
        self.assertIn("configmap/cfg configured", r.stdout)
        s = json.loads(self.kubectl("get", "agenticsession", "s1", "-n", "demo", "-o",
                                    "json").stdout)
        self.assertEqual((s["spec"]["prompt"], s["metadata"]["generation"]), ("changed", 2))
        self.assertEqual(self.kubectl("get", "cm", "cfg", "-n", "demo", "-o",
                                      "jsonpath={.data.a}").stdout, "2")
        r = self.kubectl("apply", "--server-side", "-f", "-",
                         stdin=MANIFEST.format(prompt="third", a=3))
        self.assertIn("serverside-applied", r.stdout)
        self.assertEqual(self.kubectl("get", "as", "s1", "-n", "demo", "-o",
                                      "jsonpath={.spec.prompt}").stdout, "third")
        watch = subprocess.Popen([KUBECTL, "get", "as", "-n", "demo", "-w",
                                  "--output-watch-events", "--no-headers"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        try:
            time.sleep(1)  # its list and watch are open
            self.kubectl("patch", "as", "s1", "-n", "demo", "--type", "merge", "-p",
                         '{"spec":{"prompt":"p4"}}')
            self.kubectl("delete", "as", "s1", "-n", "demo")
            deadline = time.monotonic() + harness.WAIT
            text = ""
            fd = watch.stdout.fileno()
            while time.monotonic() < deadline and "DELETED" not in text:
                if select.select([fd], [], [], 0.5)[0]:
                    chunk = os.read(fd, 4096).decode()
                    if not chunk:
                        break
                    text += chunk
            lines = [" ".join(x.split()[:2]) for x in text.splitlines()]
        finally:
            watch.kill()
            watch.communicate()
        self.assertEqual(lines[0], "ADDED s1", lines)
        self.assertIn("MODIFIED s1", lines)
        self.assertIn("DELETED s1", lines)
        r = self.kubectl("get", "as", "s1", "-n", "demo", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NotFound", r.stderr)
        self.kubectl("delete", "ns", "demo")
        self.assertNotIn("namespace/demo", self.kubectl("get", "ns", "-o", "name").stdout)

    def test_one_group_two_versions(self):
        """Two CRDs of one group in different versions (kubesim's test
        Widgets v1alpha1 and Gadgets v1): both versions are discovered."""
        crds = os.path.join(os.path.dirname(harness.KUBESIM_DIR), "data", "kubesim", "crds")
        self.kubectl("apply", "-f", crds)
        self.kubectl("create", "namespace", "widgets")
        widget = {"apiVersion": "test.ambient-code/v1alpha1", "kind": "Widget",
                  "metadata": {"name": "w1", "namespace": "widgets"}, "spec": {}}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(widget))
        self.assertEqual(self.kubectl("get", "widgets", "-n", "widgets", "-o", "name").stdout,
                         "widget.test.ambient-code/w1\n")
        self.kubectl("delete", "crd", "widgets.test.ambient-code")
        r = self.kubectl("get", "widgets", "-A", ok=False)
        self.assertNotEqual(r.returncode, 0, "widgets are still served")
        self.assertNotIn("w1", r.stdout)

    def test_typed_commands_and_auth_can_i(self):
        """kubectl's typed commands send protobuf bodies."""
        self.kubectl("create", "namespace", "cani")
        self.kubectl("create", "serviceaccount", "runner", "-n", "cani")
        self.kubectl("create", "configmap", "cfg", "-n", "cani", "--from-literal=a=1")
        self.kubectl("create", "secret", "generic", "sec", "-n", "cani", "--from-literal=k=v")
        self.assertEqual(self.kubectl("get", "secret", "sec", "-n", "cani", "-o",
                                      "jsonpath={.data.k}").stdout, "dg==")
        self.kubectl("create", "role", "reader", "-n", "cani", "--verb=get",
                     "--resource=configmaps")
        self.kubectl("create", "rolebinding", "reader", "-n", "cani", "--role=reader",
                     "--serviceaccount=cani:runner")
        token = self.kubectl("create", "token", "runner", "-n", "cani").stdout.strip()
        self.assertTrue(token)
        # The kubeconfig's tokenFile would win over --token: the runner's
        # kubectl names the server and certificate itself.
        as_runner = ("--kubeconfig=/dev/null", "--server=" + self.lk.tls_url,
                     "--certificate-authority=" + os.path.join(self.lk.data_dir, "kube-tls.crt"),
                     "--token=" + token)
        yes = self.kubectl(*as_runner, "auth", "can-i", "get", "configmaps", "-n", "cani")
        self.assertEqual(yes.stdout.strip(), "yes")
        no = self.kubectl(*as_runner, "auth", "can-i", "delete", "configmaps", "-n", "cani",
                          ok=False)
        self.assertEqual(no.stdout.strip(), "no")
        who = self.kubectl(*as_runner, "auth", "whoami", "-o",
                           "jsonpath={.status.userInfo.username}")
        self.assertEqual(who.stdout, "system:serviceaccount:cani:runner")
        # A kind whose protobuf this server does not read: a 415 that says so.
        r = self.kubectl("create", "job", "j", "-n", "cani", "--image=x", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('protobuf bodies of kind \"Job\" are not read here', r.stderr)

if __name__ == "__main__":
    if not KUBECTL:
        sys.exit(harness.SKIP)
    unittest.main(verbosity=2)
