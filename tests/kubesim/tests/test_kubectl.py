#!/usr/bin/python3
"""kubectl against kubesim over https with a bearer token: apply a CRD and
a custom resource from YAML, get (table and -o json), get -w seeing ADDED
then MODIFIED, patch, apply again, delete (including a namespace).
Without kubectl on PATH the test says so and exits 77 (ctest: Skipped)."""

import json
import os
import shutil
import subprocess
import tempfile
import threading

from harness import WAIT, KubesimTest, kubectl_or_skip, main, uniq, wait_for

KUBECTL = kubectl_or_skip("kubesim.kubectl")

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.kubectl.test
spec:
  group: kubectl.test
  scope: Namespaced
  names:
    kind: Gizmo
    plural: gizmos
    singular: gizmo
    shortNames: [gz]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""

OBJECTS = """apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: kubectl.test/v1
kind: Gizmo
metadata:
  name: g1
  namespace: {ns}
  labels:
    app: demo
spec:
  size: {size}
"""


class KubectlTest(KubesimTest):
    tls = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kubesim-kubectl-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")
        open(self.kubeconfig, "w").close()
        self.env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.tmp)

    def args(self, *args):
        return [KUBECTL, f"--server={self.ks.tls_url}", "--insecure-skip-tls-verify",
                "--token=kubesim-admin", f"--cache-dir={self.tmp}/cache", *args]

    def kubectl(self, *args, stdin=None, ok=True):
        p = subprocess.run(self.args(*args), input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=60)
        if ok:
            self.assertEqual(p.returncode, 0, f"kubectl {args}: {p.stderr}")
        return p

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_apply_get_watch_patch_delete(self):
        ns = uniq("kc")
        out = self.kubectl("apply", "-f", self.write("crd.yaml", CRD)).stdout
        self.assertIn("customresourcedefinition.apiextensions.k8s.io/gizmos.kubectl.test created",
                      out)
        objs = self.write("objs.yaml", OBJECTS.format(ns=ns, size=1))
        out = self.kubectl("apply", "-f", objs).stdout
        self.assertIn(f"namespace/{ns} created", out)
        self.assertIn("gizmo.kubectl.test/g1 created", out)

        out = self.kubectl("get", "gizmos", "-n", ns).stdout
        self.assertRegex(out, r"NAME\s+AGE")
        self.assertRegex(out, r"\ng1\s+\d+s")
        obj = json.loads(self.kubectl("get", "gz", "g1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["spec"], {"size": 1})
        self.assertEqual(obj["metadata"]["labels"], {"app": "demo"})
        lst = json.loads(self.kubectl("get", "gizmos", "-A", "-l", "app=demo", "-o",
                                      "json").stdout)
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["g1"])

        # get -w: the initial ADDED, then our change as MODIFIED.
        before = self.c.get("/kubesim/watches").body["count"]
        proc = subprocess.Popen(self.args("get", "gizmos", "-n", ns, "-w",
                                          "--output-watch-events", "-o", "json",
                                          f"--request-timeout={WAIT}s"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)
        def stop_watch():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(stop_watch)
        events = []
        got_modified = threading.Event()

        def reader():
            dec = json.JSONDecoder()
            buf = ""
            for line in proc.stdout:
                buf += line
                while buf.strip():
                    try:
                        ev, end = dec.raw_decode(buf.lstrip())
                    except ValueError:
                        break
                    buf = buf.lstrip()[end:]
                    events.append((ev["type"], ev["object"]["spec"].get("size")))
                    if ev["type"] == "MODIFIED":
                        got_modified.set()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        wait_for(lambda: self.c.get("/kubesim/watches").body["count"] > before,
                 what="kubectl watch registered")
        self.kubectl("patch", "gizmo", "g1", "-n", ns, "--type", "merge",
                     "-p", '{"spec":{"size":2}}')
        self.assertTrue(got_modified.wait(WAIT), f"events: {events}")
        proc.kill()
        t.join(10)
        self.assertEqual(events[:2], [("ADDED", 1), ("MODIFIED", 2)])

        # Re-apply with a change: kubectl computes a merge patch for CRs.
        out = self.kubectl("apply", "-f", self.write("objs2.yaml",
                                                     OBJECTS.format(ns=ns, size=3))).stdout
        self.assertIn("gizmo.kubectl.test/g1 configured", out)
        obj = json.loads(self.kubectl("get", "gizmo", "g1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["spec"], {"size": 3})
        self.assertEqual(obj["metadata"]["generation"], 3)

        # JSON patch and the status subresource.
        self.kubectl("patch", "gizmo", "g1", "-n", ns, "--type", "json",
                     "-p", '[{"op":"add","path":"/metadata/labels/extra","value":"1"}]')
        self.kubectl("patch", "gizmo", "g1", "-n", ns, "--subresource", "status",
                     "--type", "merge", "-p", '{"status":{"phase":"Done"}}')
        obj = json.loads(self.kubectl("get", "gizmo", "g1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["status"], {"phase": "Done"})
        self.assertEqual(obj["metadata"]["labels"]["extra"], "1")

        # Errors come back with the server's message.
        p = self.kubectl("get", "gizmo", "nope", "-n", ns, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('gizmos.kubectl.test "nope" not found', p.stderr)

        # Delete waits for the object to be gone (kubectl polls/watches).
        out = self.kubectl("delete", "gizmo", "g1", "-n", ns).stdout
        self.assertIn('gizmo.kubectl.test "g1" deleted', out)
        self.assertEqual(self.c.get(f"/apis/kubectl.test/v1/namespaces/{ns}/gizmos/g1").status,
                         404)
        out = self.kubectl("delete", "namespace", ns, "--timeout=30s").stdout
        self.assertIn(f'namespace "{ns}" deleted', out)
        self.assertEqual(self.c.get(f"/api/v1/namespaces/{ns}").status, 404)
        out = self.kubectl("delete", "-f", self.write("crd2.yaml", CRD)).stdout
        self.assertIn("deleted", out)
        p = self.kubectl("get", "gizmos", "-A", ok=False)
        self.assertNotEqual(p.returncode, 0)

    def test_builtin_kinds_and_discovery(self):
        ns = uniq("kc")
        manifest = f"""apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: {ns}}}
data: {{a: "1"}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: r, namespace: {ns}}}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: j, namespace: {ns}}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
"""
        self.kubectl("apply", "-f", self.write("m.yaml", manifest))
        self.kubectl("apply", "-f", self.write("m.yaml", manifest.replace('a: "1"', 'a: "2"')))
        out = self.kubectl("get", "configmap", "cfg", "-n", ns, "-o",
                           "jsonpath={.data.a}").stdout
        self.assertEqual(out, "2")
        out = self.kubectl("api-resources").stdout
        for name in ("widgets", "jobs", "leases", "customresourcedefinitions", "roles"):
            self.assertIn(name, out)
        out = self.kubectl("auth", "can-i", "create", "jobs", "-n", ns).stdout
        self.assertEqual(out.strip(), "yes")
        self.kubectl("delete", "job", "j", "-n", ns)

    def test_typed_create_commands(self):
        """kubectl's typed commands send protobuf bodies."""
        ns = uniq("kc")
        self.kubectl("create", "namespace", ns)
        self.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=k=v")
        out = self.kubectl("get", "secret", "s", "-n", ns, "-o", "jsonpath={.data.k}").stdout
        self.assertEqual(out, "dg==")
        self.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=x=y")
        self.kubectl("create", "serviceaccount", "runner", "-n", ns)
        self.kubectl("create", "role", "pods", "-n", ns, "--verb=get", "--resource=pods")
        self.kubectl("create", "rolebinding", "pods", "-n", ns, "--role=pods",
                     f"--serviceaccount={ns}:runner")
        token = self.kubectl("create", "token", "runner", "-n", ns,
                             "--duration=20m").stdout.strip()
        self.assertEqual(token.count("."), 2, "JWT-shaped")

        def can_i(*args):
            p = subprocess.run([KUBECTL, f"--server={self.ks.tls_url}",
                                "--insecure-skip-tls-verify", f"--token={token}",
                                f"--cache-dir={self.tmp}/cache", "auth", "can-i", *args,
                                "-n", ns], capture_output=True, text=True, env=self.env,
                               timeout=60)
            return p.stdout.strip()
        self.assertEqual(can_i("get", "pods"), "yes")
        self.assertEqual(can_i("list", "pods"), "no")
        self.assertEqual(can_i("get", "secrets"), "no")


if __name__ == "__main__":
    main()
