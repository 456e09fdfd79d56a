#!/usr/bin/python3
"""The kubesim command line: the exact "listening on" lines, --crd-dir with
YAML and JSON files, TLS with a self-signed certificate, clean exit on
SIGTERM and SIGINT, refusing a bad CRD file."""

import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import unittest

from harness import ADMIN, CRD_DIR, KUBESIM, PYTHON, WAIT, Kubesim


class CliTest(unittest.TestCase):
    def test_listening_lines_and_tls(self):
        ks = Kubesim(tls=True)
        try:
            self.assertEqual(len(ks.lines), 2)
            self.assertRegex(ks.lines[0], r"^listening on http://127\.0\.0\.1:\d+$")
            self.assertRegex(ks.lines[1], r"^listening on https://127\.0\.0\.1:\d+$")
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", ks.tls_port, context=ctx, timeout=WAIT)
            conn.request("GET", "/version", headers={"Authorization": "Bearer " + ADMIN})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertIn(b'"gitVersion"', resp.read())
            # The served certificate verifies against /kubesim/ca.crt for 127.0.0.1.
            conn.request("GET", "/kubesim/ca.crt", headers={"Authorization": "Bearer " + ADMIN})
            pem = conn.getresponse().read().decode()
            conn.close()
            self.assertIn("BEGIN CERTIFICATE", pem)
            strict = ssl.create_default_context(cadata=pem)
            conn = http.client.HTTPSConnection("127.0.0.1", ks.tls_port, context=strict,
                                               timeout=WAIT)
            conn.request("GET", "/healthz")
            self.assertEqual(conn.getresponse().read(), b"ok")
            conn.close()
        finally:
            ks.stop()
        self.assertEqual(ks.proc.returncode, 0, "SIGTERM exits cleanly")

    def test_sigint_exits_cleanly(self):
        ks = Kubesim(crds=False)
        self.addCleanup(ks.stop)   # kills it if it does not exit by itself
        ks.proc.send_signal(signal.SIGINT)
        self.assertEqual(ks.proc.wait(WAIT), 0)

    def test_crd_dir_loads_yaml_and_json(self):
        ks = Kubesim()
        try:
            c = ks.client()
            crds = c.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions").body
            names = sorted(i["metadata"]["name"] for i in crds["items"])
            self.assertEqual(names, ["gadgets.test.ambient-code", "widgets.test.ambient-code"])
            widget_crd = [i for i in crds["items"] if i["metadata"]["name"].startswith("w")][0]
            schema = widget_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            self.assertEqual(schema["properties"]["spec"]["description"],
                             "Desired state.\nLiteral block: line breaks are kept.\n")
            self.assertEqual(schema["properties"]["status"]["description"],
                             "Observed state, folded into one line.")
            self.assertTrue(schema["description"].startswith("Widget is a test resource. It has"))
            groups = {g["name"]: g for g in c.get("/apis").body["groups"]}
            self.assertEqual([v["version"] for v in groups["test.ambient-code"]["versions"]],
                             ["v1", "v1alpha1"], "kube-aware version priority")
            self.assertEqual(groups["test.ambient-code"]["preferredVersion"]["version"], "v1")
            res = c.get("/apis/test.ambient-code/v1alpha1").body["resources"]
            w = [r for r in res if r["name"] == "widgets"][0]
            self.assertEqual(w, {"name": "widgets", "singularName": "widget", "namespaced": True,
                                 "kind": "Widget", "verbs": ["create", "delete",
                                                             "deletecollection", "get", "list",
                                                             "patch", "update", "watch"],
                                 "shortNames": ["wd", "wdg"], "categories": ["ambient"]})
            st = [r for r in res if r["name"] == "widgets/status"][0]
            self.assertEqual(st["verbs"], ["get", "patch", "update"])
            g = c.get("/apis/test.ambient-code/v1").body["resources"]
            self.assertEqual([(r["name"], r["namespaced"]) for r in g], [("gadgets", False)])
            c.close()
            core = {r["name"] for r in c.get("/api/v1").body["resources"]}
            for name in ("namespaces", "secrets", "serviceaccounts", "serviceaccounts/token",
                         "persistentvolumeclaims", "events", "pods", "pods/status", "configmaps"):
                self.assertIn(name, core)
            api = c.get("/api").body
            self.assertEqual(api["versions"], ["v1"])
            for gv in ("coordination.k8s.io", "rbac.authorization.k8s.io", "batch",
                       "networking.k8s.io", "apiextensions.k8s.io", "authorization.k8s.io",
                       "authentication.k8s.io"):
                self.assertIn(gv, groups)
            c.close()
        finally:
            ks.stop()

    def test_bad_crd_file_fails_start(self):
        tmp = tempfile.mkdtemp()
        try:
            with open(os.path.join(tmp, "bad.yaml"), "w") as f:
                f.write("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                        "metadata: {name: wrong}\nspec:\n  group: a.b\n  scope: Namespaced\n"
                        "  names: {kind: X, plural: xs}\n  versions: []\n")
            p = subprocess.run([PYTHON, KUBESIM, "--port", "0", "--crd-dir", tmp],
                               capture_output=True, text=True, timeout=WAIT)
            self.assertNotEqual(p.returncode, 0)
            self.assertNotIn("listening on", p.stdout)
        finally:
            shutil.rmtree(tmp)

    def test_help_lists_flags(self):
        p = subprocess.run([PYTHON, KUBESIM, "--help"], capture_output=True, text=True,
                           timeout=WAIT)
        for flag in ("--port", "--tls-port", "--token-auth-file", "--crd-dir",
                     "--bookmark-interval", "--history-size", "--watch-queue-size"):
            self.assertIn(flag, p.stdout)
        with open(KUBESIM) as f:
            self.assertTrue(re.search(r"^#!/usr/bin/python3", f.read()))
        self.assertTrue(os.access(KUBESIM, os.X_OK))
        self.assertTrue(os.path.isdir(CRD_DIR))


if __name__ == "__main__":
    unittest.main(verbosity=2)
