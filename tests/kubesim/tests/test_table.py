#!/usr/bin/python3
"""Table output (what `kubectl get` asks for) over raw HTTP: the Accept
header's order decides; a CR's columns come from its CRD's
additionalPrinterColumns (typed cells, missing values null, dates as ages),
or Name + Age without any; built-in kinds get Name + "Created At"; lists keep
their metadata and pages, a GET is a one-row Table; rows[].object follows
includeObject; a watch sends one-row Tables with the columns in the first."""

import datetime
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tables  # noqa: E402
from harness import KubesimTest, main  # noqa: E402

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
KUBECTL_ACCEPT = (f"{TABLE},application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                  "application/json")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GROUP = "tables.test"
API = f"/apis/{GROUP}/v1"
AGE = re.compile(r"^\d+s$")


def crd(plural, kind, columns):
    version = {"name": "v1", "served": True, "storage": True,
               "subresources": {"status": {}},
               "schema": {"openAPIV3Schema": {"type": "object",
                                              "x-kubernetes-preserve-unknown-fields": True}}}
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                     "versions": [version]}}


COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase",
     "description": "The phase."},
    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
    {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
    {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
    {"name": "First", "type": "string", "jsonPath": ".spec.repos[0].url"},
    {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"},
    {"name": "Dotted", "type": "string", "jsonPath": ".metadata.annotations['a.b/c']"},
    {"name": "Started", "type": "date", "jsonPath": ".status.startTime"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Note", "type": "string", "jsonPath": ".spec.note", "priority": 1,
     "format": "byte"},
]


class TableTest(KubesimTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for body in (crd("things", "Thing", COLUMNS), crd("plains", "Plain", None)):
            r = cls.c.post(CRDS, body)
            assert r.status == 201, r

    def table(self, path, accept=KUBECTL_ACCEPT, code=200):
        r = self.c.get(path, headers={"Accept": accept})
        self.assertEqual(r.status, code, r)
        return r.body

    def make_thing(self, ns, name, **spec):
        started = (datetime.datetime.now(datetime.timezone.utc) -
                   datetime.timedelta(minutes=3, seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = self.c.post(f"{API}/namespaces/{ns}/things", {
            "apiVersion": f"{GROUP}/v1", "kind": "Thing",
            "metadata": {"name": name, "labels": {"app": "x"},
                         "annotations": {"a.b/c": "dotted"}},
            "spec": spec})
        self.assertEqual(r.status, 201, r)
        r = self.c.patch(f"{API}/namespaces/{ns}/things/{name}/status",
                         {"status": {"phase": "Running", "ready": True, "startTime": started}},
                         ctype="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        return r.body

    def test_crd_columns_typed_cells_and_partial_metadata(self):
        ns = self.make_ns()
        obj = self.make_thing(ns, "t1", size=3, ratio=0.5, repos=[{"url": "https://g/r"}])
        t = self.table(f"{API}/namespaces/{ns}/things")
        self.assertEqual((t["kind"], t["apiVersion"]), ("Table", "meta.k8s.io/v1"))
        plain = self.c.get(f"{API}/namespaces/{ns}/things").body
        self.assertEqual(t["metadata"], plain["metadata"])
        defs = t["columnDefinitions"]
        self.assertEqual([d["name"] for d in defs], ["Name"] + [c["name"] for c in COLUMNS])
        for d in defs:
            self.assertEqual(set(d), {"name", "type", "format", "description", "priority"})
        self.assertEqual(defs[0]["format"], "name")
        self.assertEqual(defs[1]["description"], "The phase.")
        self.assertEqual(defs[2]["description"],
                         "Custom resource definition column (in JSONPath format): .spec.size")
        self.assertEqual((defs[-1]["priority"], defs[-1]["format"]), (1, "byte"))
        self.assertEqual(len(t["rows"]), 1)
        cells = t["rows"][0]["cells"]
        self.assertEqual(cells[:8], ["t1", "Running", 3, 0.5, True, "https://g/r",
                                     '{"app":"x"}', "dotted"])
        self.assertIsInstance(cells[2], int)
        self.assertRegex(cells[8], r"^3m(5|6|7|8|9|1\d)s$")   # started 3m5s ago
        self.assertRegex(cells[9], AGE)
        self.assertIsNone(cells[10], "a missing value is null (kubectl leaves it blank)")
        self.assertEqual(t["rows"][0]["object"], {
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]})

    def test_wrong_types_are_null_and_bad_dates_invalid(self):
        ns = self.make_ns()
        self.make_thing(ns, "t2", size="three", ratio=True)
        r = self.c.patch(f"{API}/namespaces/{ns}/things/t2/status",
                         {"status": {"ready": "yes", "startTime": "yesterday"}},
                         ctype="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        cells = self.table(f"{API}/namespaces/{ns}/things/t2")["rows"][0]["cells"]
        self.assertEqual(cells[2:5], [None, None, None])
        self.assertEqual(cells[8], "<invalid>")

    def test_get_is_a_one_row_table(self):
        ns = self.make_ns()
        obj = self.make_thing(ns, "one", size=1)
        t = self.table(f"{API}/namespaces/{ns}/things/one")
        self.assertEqual(t["kind"], "Table")
        self.assertEqual(t["metadata"], {"resourceVersion": obj["metadata"]["resourceVersion"]})
        self.assertEqual([r["cells"][0] for r in t["rows"]], ["one"])
        r = self.c.get(f"{API}/namespaces/{ns}/things/nope", headers={"Accept": KUBECTL_ACCEPT})
        self.assertEqual((r.status, r.body["kind"]), (404, "Status"))

    def test_crd_without_columns_prints_name_and_age(self):
        ns = self.make_ns()
        r = self.c.post(f"{API}/namespaces/{ns}/plains", {
            "apiVersion": f"{GROUP}/v1", "kind": "Plain", "metadata": {"name": "p"}})
        self.assertEqual(r.status, 201, r)
        t = self.table(f"{API}/namespaces/{ns}/plains")
        self.assertEqual([(d["name"], d["type"]) for d in t["columnDefinitions"]],
                         [("Name", "string"), ("Age", "date")])
        self.assertEqual(t["rows"][0]["cells"][0], "p")
        self.assertRegex(t["rows"][0]["cells"][1], AGE)

    def test_builtin_kinds_get_name_and_created_at(self):
        ns = self.make_ns()
        cm = self.c.post(f"/api/v1/namespaces/{ns}/configmaps",
                         {"metadata": {"name": "cfg"}, "data": {"a": "1"}}).body
        t = self.table(f"/api/v1/namespaces/{ns}/configmaps")
        self.assertEqual([(d["name"], d["type"]) for d in t["columnDefinitions"]],
                         [("Name", "string"), ("Created At", "date")])
        self.assertEqual(t["rows"][0]["cells"], ["cfg", cm["metadata"]["creationTimestamp"]])
        self.assertEqual(t["rows"][0]["object"]["metadata"]["uid"], cm["metadata"]["uid"])

    def test_include_object(self):
        ns = self.make_ns()
        self.make_thing(ns, "inc", size=2)
        path = f"{API}/namespaces/{ns}/things"
        full = self.table(path + "?includeObject=Object")["rows"][0]["object"]
        self.assertEqual((full["kind"], full["apiVersion"], full["spec"]),
                         ("Thing", f"{GROUP}/v1", {"size": 2}))
        self.assertIsNone(self.table(path + "?includeObject=None")["rows"][0]["object"])
        bad = self.table(path + "?includeObject=Everything", code=400)
        self.assertEqual(bad["reason"], "BadRequest")

    def test_accept_order_decides(self):
        ns = self.make_ns()
        self.make_thing(ns, "acc")
        path = f"{API}/namespaces/{ns}/things"
        for accept in ("application/json", "*/*", "",
                       "application/json," + TABLE,
                       "application/json;as=Table;v=v9;g=meta.k8s.io,application/json"):
            r = self.c.get(path, headers={"Accept": accept} if accept else None)
            self.assertEqual((r.status, r.body["kind"]), (200, "ThingList"), accept)
        t = self.table(path, accept="application/json;as=Table;v=v1beta1;g=meta.k8s.io")
        self.assertEqual(t["apiVersion"], "meta.k8s.io/v1beta1")
        self.assertEqual(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1")

    def test_pages_keep_their_continue(self):
        ns = self.make_ns()
        for i in range(3):
            self.make_thing(ns, f"pg{i}")
        first = self.table(f"{API}/namespaces/{ns}/things?limit=2")
        self.assertEqual([r["cells"][0] for r in first["rows"]], ["pg0", "pg1"])
        self.assertEqual(first["metadata"]["remainingItemCount"], 1)
        cont = first["metadata"]["continue"]
        rest = self.table(f"{API}/namespaces/{ns}/things?limit=2&continue={cont}")
        self.assertEqual([r["cells"][0] for r in rest["rows"]], ["pg2"])
        self.assertNotIn("continue", rest["metadata"])

    def test_watch_sends_tables(self):
        ns = self.make_ns()
        path = f"{API}/namespaces/{ns}/things"
        rv = self.c.get(path).body["metadata"]["resourceVersion"]
        w = self.watch(f"{path}?watch=1&resourceVersion={rv}", headers={"Accept": KUBECTL_ACCEPT})
        self.make_thing(ns, "w1", size=5)
        added = w.next()
        modified = w.next()
        self.assertEqual((added["type"], modified["type"]), ("ADDED", "MODIFIED"))
        for ev in (added, modified):
            self.assertEqual(ev["object"]["kind"], "Table")
            self.assertEqual(ev["object"]["rows"][0]["cells"][:3],
                             ["w1", None if ev is added else "Running", 5])
        self.assertEqual(len(added["object"]["columnDefinitions"]), 1 + len(COLUMNS))
        self.assertIsNone(modified["object"]["columnDefinitions"])


class HumanDuration(unittest.TestCase):
    def test_kubectl_age_forms(self):
        for seconds, want in ((-5, "<invalid>"), (-1, "0s"), (0, "0s"), (119, "119s"),
                              (120, "2m"), (185, "3m5s"), (600, "10m"), (179 * 60, "179m"),
                              (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"), (30 * 3600, "30h"),
                              (3 * 86400, "3d"), (3 * 86400 + 7200, "3d2h"),
                              (400 * 86400, "400d"), (3 * 365 * 86400, "3y"),
                              (3 * 365 * 86400 + 86400, "3y1d"), (9 * 365 * 86400, "9y")):
            self.assertEqual(tables.human_duration(seconds), want, seconds)


if __name__ == "__main__":
    main()
