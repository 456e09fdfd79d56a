#!/usr/bin/python3
"""kubectl against kubesim serving deploy/crds, over https with a bearer
token and an empty kubeconfig: api-resources shows the short names;
kubectl apply of the samples passes kubectl's default strict field
validation (every field is declared) and an unknown field is refused;
`kubectl get as|ps|rfe` and the `ambient` category work; `kubectl get`
prints each CRD's printer columns (kubesim serves the Table kubectl asks
for), with the right values, the priority ones under -o wide only.

Without kubectl on PATH the test says so and exits 77 (ctest: Skipped)."""

import json
import os
import re

from crdtest import DATA, GROUP, CrdTest, KubectlMixin, harness, main, sample

harness.kubectl_or_skip("crds.kubectl")

def parse_table(out):
    """kubectl's aligned output with one object: {HEADER: value}, split at
    the header's column starts (so empty cells stay empty)."""
    lines = out.splitlines()
    header, row = lines[0], lines[1]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [m.group() for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = starts[1:] + [None]
    return {n: row[a:b].strip() for n, a, b in zip(names, starts, ends)}


SESSION_STATUS = sample("agenticsession-status.yaml")["status"]
RFE_STATUS = sample("rfeworkflow-status.yaml")["status"]


class KubectlTest(KubectlMixin, CrdTest):
    tls = True

    def ns(self):
        ns = self.make_ns("kc")
        return ns

    def apply(self, ns, fname):
        return self.kubectl("apply", "-n", ns, "-f", os.path.join(DATA, fname)).stdout

    def columns(self, plural, ns, name, *flags):
        """What `kubectl get plural name` prints, as {header: value}; the
        headers are checked against the CRD's additionalPrinterColumns (the
        priority ones only with -o wide) and the Age is a kubectl age."""
        crd = json.loads(self.kubectl("get", "crd", f"{plural}.{GROUP}", "-o", "json").stdout)
        wide = "wide" in flags
        cols = [c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]
                if wide or not c.get("priority")]
        out = self.kubectl("get", plural, name, "-n", ns, *flags).stdout
        table = parse_table(out)
        self.assertEqual(list(table), ["NAME"] + [c["name"].upper() for c in cols], out)
        self.assertEqual(table.pop("NAME"), name)
        self.assertRegex(table.pop("AGE"), r"^\d+s$")
        return table

    def test_api_resources_short_names(self):
        out = self.kubectl("api-resources", f"--api-group={GROUP}").stdout
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
        self.assertEqual(rows["agenticsessions"][1], "as")
        self.assertEqual(rows["projectsettings"][1], "ps")
        self.assertEqual(rows["rfeworkflows"][1], "rfe")
        for r in rows.values():
            self.assertIn("true", r, "namespaced")

    def test_session_apply_get_columns(self):
        ns = self.ns()
        out = self.apply(ns, "agenticsession-full.yaml")
        self.assertIn(f"agenticsession.{GROUP}/full created", out)
        obj = json.loads(self.kubectl("get", "as", "full", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["spec"], sample("agenticsession-full.yaml")["spec"])

        self.assertEqual(self.columns("agenticsessions", ns, "full"),
                         {"PHASE": "", "MODEL": "claude-sonnet-4-5"})
        self.kubectl("patch", "as", "full", "-n", ns, "--subresource", "status",
                     "--type", "merge", "-p", json.dumps({"status": SESSION_STATUS}))
        obj = json.loads(self.kubectl("get", "as", "full", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["status"], SESSION_STATUS)
        self.assertEqual(self.columns("agenticsessions", ns, "full"),
                         {"PHASE": "Completed", "MODEL": "claude-sonnet-4-5"})
        self.assertEqual(self.columns("agenticsessions", ns, "full", "-o", "wide"),
                         {"PHASE": "Completed", "MODEL": "claude-sonnet-4-5",
                          "DISPLAY NAME": sample("agenticsession-full.yaml")["spec"]["displayName"]})
        out = self.kubectl("get", "as", "-n", ns, "-o", "name").stdout
        self.assertEqual(out.split(), [f"agenticsession.{GROUP}/full"])

    def test_unknown_field_is_refused_by_strict_validation(self):
        ns = self.ns()
        with open(os.path.join(DATA, "agenticsession-full.yaml")) as f:
            text = f.read()
        text = text.replace("  interactive: false\n", "  interactive: false\n  bogus: 1\n")
        self.assertIn("bogus", text)
        p = self.kubectl("apply", "-n", ns, "-f", "-", stdin=text, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('unknown field "spec.bogus"', p.stderr)
        p = self.kubectl("get", "as", "full", "-n", ns, ok=False)
        self.assertNotEqual(p.returncode, 0)

    def test_projectsettings_and_workflow(self):
        ns = self.ns()
        self.assertIn(f"projectsettings.{GROUP}/projectsettings created",
                      self.apply(ns, "projectsettings.yaml"))
        self.assertIn(f"rfeworkflow.{GROUP}/oauth-login created",
                      self.apply(ns, "rfeworkflow.yaml"))
        obj = json.loads(self.kubectl("get", "ps", "projectsettings", "-n", ns, "-o",
                                      "json").stdout)
        self.assertEqual(obj["spec"], sample("projectsettings.yaml")["spec"])
        self.assertEqual(self.columns("projectsettings", ns, "projectsettings"),
                         {"MODEL": "claude-sonnet-4-5"})

        obj = json.loads(self.kubectl("get", "rfe", "oauth-login", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["spec"], sample("rfeworkflow.yaml")["spec"])
        self.kubectl("patch", "rfe", "oauth-login", "-n", ns, "--subresource", "status",
                     "--type", "merge", "-p", json.dumps({"status": RFE_STATUS}))
        self.assertEqual(self.columns("rfeworkflows", ns, "oauth-login"),
                         {"PHASE": "Running", "PROGRESS": RFE_STATUS["message"]})

        out = self.kubectl("get", "ambient", "-n", ns, "-o", "name").stdout
        self.assertEqual(sorted(out.split()), [f"projectsettings.{GROUP}/projectsettings",
                                               f"rfeworkflow.{GROUP}/oauth-login"])


if __name__ == "__main__":
    main()
