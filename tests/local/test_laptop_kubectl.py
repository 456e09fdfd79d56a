"""kubectl against laptop mode's Kubernetes API, through the kubeconfig
`ambientd --local` printed (the API over TLS with its own certificate and
the admin token: kubectl sends a token only over TLS): get, apply, watch,
delete. Skipped (exit 77) without kubectl on PATH."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from localharness import Laptop, wait_until  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "kubesim", "tests"))
import harness  # noqa: E402  (kubesim's test harness: the shared kubectl lookup)

KUBECTL = harness.find_kubectl("local.laptop_kubectl")


class KubectlTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="laptop-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.tmp = tmp
        self.lp = Laptop(os.path.join(tmp, "data"))
        self.addCleanup(self.lp.stop)
        self.env = dict(os.environ, KUBECONFIG=self.lp.kubeconfig, HOME=tmp)

    def kubectl(self, *args, stdin=None):
        p = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, timeout=60,
                           env=self.env)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, stdin=None):
        code, out, err = self.kubectl(*args, stdin=stdin)
        self.assertEqual(code, 0, "kubectl %s: %s" % (" ".join(args), err))
        return out

    def test_get_apply_watch_delete(self):
        self.assertIn("default", self.ok("get", "namespaces", "-o", "name"))
        # the CRDs are served: sessions list (empty) across namespaces
        self.ok("get", "agenticsessions", "-A")
        self.ok("create", "namespace", "demo")
        watch = subprocess.Popen([KUBECTL, "get", "configmaps", "-n", "demo", "--watch",
                                  "-o", "name"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=self.env)
        self.addCleanup(watch.kill)
        time.sleep(1)  # the watch is open before the write it should see
        manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "namespace": "demo"},
                    "data": {"colour": "blue"}}
        self.ok("apply", "-f", "-", stdin=json.dumps(manifest))
        manifest["data"]["colour"] = "green"
        self.ok("apply", "-f", "-", stdin=json.dumps(manifest))
        got = json.loads(self.ok("get", "configmap", "settings", "-n", "demo", "-o", "json"))
        self.assertEqual(got["data"], {"colour": "green"})
        self.ok("delete", "configmap", "settings", "-n", "demo")
        code, _, err = self.kubectl("get", "configmap", "settings", "-n", "demo")
        self.assertNotEqual(code, 0)
        self.assertIn("NotFound", err)
        lines = []

        def seen():
            lines.append(watch.stdout.readline().strip())
            return "configmap/settings" in lines
        wait_until(seen, 30, "the watch showing configmap/settings", interval=0)
        watch.kill()
        watch.wait(10)


if __name__ == "__main__":
    if not KUBECTL:
        sys.exit(77)
    unittest.main()
