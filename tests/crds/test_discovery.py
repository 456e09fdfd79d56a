#!/usr/bin/python3
"""kubesim started with --crd-dir deploy/crds: the three CRDs load (an
invalid one stops kubesim), are Established, and discovery serves them with
their short names, the ambient category, and status subresources; the CRDs
read back from the API keep their printer columns (kubesim serves no Table,
so this is how the columns are checked against a server)."""

from crdtest import API, GROUP, VERSION, CrdTest, main

WANT = {
    "agenticsessions": ("AgenticSession", "agenticsession", ["as"],
                        ["Phase", "Model", "Age", "Display Name"]),
    "projectsettings": ("ProjectSettings", "projectsetting", ["ps"], ["Model", "Age"]),
    "rfeworkflows": ("RFEWorkflow", "rfeworkflow", ["rfe"], ["Phase", "Progress", "Age", "Title"]),
}


class DiscoveryTest(CrdTest):
    def test_group_is_served(self):
        r = self.c.get("/apis")
        self.assertEqual(r.status, 200, r)
        groups = {g["name"]: g for g in r.body["groups"]}
        self.assertIn(GROUP, groups)
        self.assertEqual(groups[GROUP]["preferredVersion"]["groupVersion"], f"{GROUP}/{VERSION}")
        self.assertEqual([v["version"] for v in groups[GROUP]["versions"]], [VERSION])

    def test_resources_short_names_and_status(self):
        r = self.c.get(API)
        self.assertEqual(r.status, 200, r)
        res = {x["name"]: x for x in r.body["resources"]}
        self.assertEqual(set(res), {p for p in WANT} | {p + "/status" for p in WANT})
        for plural, (kind, singular, short, _) in WANT.items():
            with self.subTest(plural):
                x = res[plural]
                self.assertEqual((x["kind"], x["singularName"], x["namespaced"]),
                                 (kind, singular, True))
                self.assertEqual(x["shortNames"], short)
                self.assertEqual(x["categories"], ["ambient"])
                self.assertTrue({"create", "get", "list", "watch", "update", "patch", "delete",
                                 "deletecollection"} <= set(x["verbs"]))
                self.assertEqual(sorted(res[plural + "/status"]["verbs"]),
                                 ["get", "patch", "update"])

    def test_crds_established_with_printer_columns(self):
        for plural, (kind, _, _, columns) in WANT.items():
            with self.subTest(plural):
                r = self.c.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                               f"{plural}.{GROUP}")
                self.assertEqual(r.status, 200, r)
                conds = {c["type"]: c["status"] for c in r.body["status"]["conditions"]}
                self.assertEqual(conds.get("Established"), "True")
                self.assertEqual(conds.get("NamesAccepted"), "True")
                self.assertEqual(r.body["status"]["acceptedNames"]["kind"], kind)
                v = r.body["spec"]["versions"][0]
                self.assertEqual([c["name"] for c in v["additionalPrinterColumns"]], columns)
                self.assertEqual(v["subresources"], {"status": {}})

    def test_empty_lists(self):
        ns = self.make_ns()
        for plural in WANT:
            r = self.c.get(f"{API}/namespaces/{ns}/{plural}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body["items"], [])
            self.assertEqual(r.body["kind"], WANT[plural][0] + "List")


if __name__ == "__main__":
    main()
