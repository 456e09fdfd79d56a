#!/usr/bin/python3
"""Garbage collection and cascading deletion: Background, Orphan and
Foreground propagation through ownerReferences, the batch/v1 Job default
(orphan), dangling owners, namespace termination and CRD removal."""

from harness import KubesimTest, main, wait_for, wpath

CM = "/api/v1/namespaces/{}/configmaps"


class GCTest(KubesimTest):
    def owned_cm(self, ns, name, owner, block=False, kind="Widget",
                 api="test.ambient-code/v1alpha1"):
        ref = {"apiVersion": api, "kind": kind, "name": owner["metadata"]["name"],
               "uid": owner["metadata"]["uid"], "controller": True}
        if block:
            ref["blockOwnerDeletion"] = True
        r = self.c.post(CM.format(ns), {"metadata": {"name": name, "ownerReferences": [ref]}})
        self.assertEqual(r.status, 201, r)
        return r.body

    def exists(self, path):
        return self.c.get(path).status == 200

    def settle(self):
        self.assertEqual(self.c.post("/kubesim/gc", {}).status, 200)

    def test_background_cascade(self):
        ns = self.make_ns()
        owner = self.create_widget(ns, "owner")
        self.owned_cm(ns, "child", owner)
        rv = self.c.get(CM.format(ns)).body["metadata"]["resourceVersion"]
        w = self.watch(CM.format(ns) + f"?watch=1&resourceVersion={rv}")
        self.assertEqual(self.c.delete(wpath(ns, "owner")).status, 200)
        self.assertFalse(self.exists(wpath(ns, "owner")), "owner goes at once")
        ev = w.events_until(lambda e: e["type"] == "DELETED")[-1]
        self.assertEqual(ev["object"]["metadata"]["name"], "child")

    def test_multiple_owners(self):
        ns = self.make_ns()
        a = self.create_widget(ns, "a")
        b = self.create_widget(ns, "b")
        refs = [{"apiVersion": "test.ambient-code/v1alpha1", "kind": "Widget",
                 "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]} for o in (a, b)]
        self.c.post(CM.format(ns), {"metadata": {"name": "shared", "ownerReferences": refs}})
        self.c.delete(wpath(ns, "a"))
        self.settle()
        cm = self.c.get(CM.format(ns) + "/shared")
        self.assertEqual(cm.status, 200, "still owned by b")
        self.assertEqual([r["name"] for r in cm.body["metadata"]["ownerReferences"]], ["b"],
                         "dangling reference removed")
        self.c.delete(wpath(ns, "b"))
        self.settle()
        self.assertFalse(self.exists(CM.format(ns) + "/shared"))

    def test_orphan(self):
        ns = self.make_ns()
        owner = self.create_widget(ns, "owner")
        self.owned_cm(ns, "child", owner)
        r = self.c.delete(wpath(ns, "owner") + "?propagationPolicy=Orphan")
        self.assertEqual(r.status, 200)
        self.assertIn("orphan", r.body["metadata"]["finalizers"])
        self.assertTrue(r.body["metadata"]["deletionTimestamp"])
        self.settle()
        self.assertFalse(self.exists(wpath(ns, "owner")))
        cm = self.c.get(CM.format(ns) + "/child")
        self.assertEqual(cm.status, 200)
        self.assertNotIn("ownerReferences", cm.body["metadata"])

    def test_foreground(self):
        ns = self.make_ns()
        owner = self.create_widget(ns, "owner")
        self.owned_cm(ns, "child", owner, block=True)
        # Hold the child with a finalizer so the owner must wait for it.
        self.c.patch(CM.format(ns) + "/child", {"metadata": {"finalizers": ["test/hold"]}})
        r = self.c.delete(wpath(ns, "owner"), {"propagationPolicy": "Foreground"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["metadata"]["finalizers"], ["foregroundDeletion"])
        self.settle()
        self.assertTrue(self.exists(wpath(ns, "owner")), "waits for blocking dependents")
        child = self.c.get(CM.format(ns) + "/child").body
        self.assertTrue(child["metadata"]["deletionTimestamp"])
        self.c.patch(CM.format(ns) + "/child", {"metadata": {"finalizers": None}})
        self.settle()
        self.assertFalse(self.exists(CM.format(ns) + "/child"))
        self.assertFalse(self.exists(wpath(ns, "owner")))

    def test_job_default_orphans_pods_but_background_cascades(self):
        ns = self.make_ns()
        jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
        spec = {"template": {"spec": {"restartPolicy": "Never",
                                      "containers": [{"name": "c", "image": "i"}]}}}
        for name in ("j1", "j2"):
            self.assertEqual(self.c.post(jobs, {"metadata": {"name": name}, "spec": spec}).status,
                             201)
            self.assertEqual(self.c.post(f"/kubesim/jobs/{ns}/{name}/start", {}).status, 200)
        pods = self.c.get(f"/api/v1/namespaces/{ns}/pods").body["items"]
        by_job = {p["metadata"]["labels"]["job-name"]: p["metadata"]["name"] for p in pods}
        # No propagationPolicy: batch/v1 orphans the pods.
        r = self.c.delete(f"{jobs}/j1")
        self.assertIn("orphan", r.body["metadata"]["finalizers"])
        self.settle()
        self.assertFalse(self.exists(f"{jobs}/j1"))
        pod = self.c.get(f"/api/v1/namespaces/{ns}/pods/{by_job['j1']}")
        self.assertEqual(pod.status, 200)
        self.assertNotIn("ownerReferences", pod.body["metadata"])
        # Background (what kubectl and controllers send): the pod goes too.
        self.c.delete(f"{jobs}/j2", {"propagationPolicy": "Background"})
        self.settle()
        self.assertFalse(self.exists(f"/api/v1/namespaces/{ns}/pods/{by_job['j2']}"))

    def test_dangling_owner_on_create(self):
        ns = self.make_ns()
        ref = {"apiVersion": "test.ambient-code/v1alpha1", "kind": "Widget", "name": "ghost",
               "uid": "00000000-0000-0000-0000-000000000000"}
        self.c.post(CM.format(ns), {"metadata": {"name": "orphaned", "ownerReferences": [ref]}})
        self.settle()
        self.assertFalse(self.exists(CM.format(ns) + "/orphaned"))

    def test_cross_namespace_owner_does_not_count(self):
        ns, other = self.make_ns(), self.make_ns()
        owner = self.create_widget(other, "owner")
        self.owned_cm(ns, "child", owner)
        self.settle()
        self.assertFalse(self.exists(CM.format(ns) + "/child"))

    def test_cluster_scoped_owner(self):
        ns = self.make_ns()
        g = self.c.post("/apis/test.ambient-code/v1/gadgets", {"metadata": {"name": ns}})
        self.assertEqual(g.status, 201, g)
        self.owned_cm(ns, "child", g.body, kind="Gadget", api="test.ambient-code/v1")
        self.settle()
        self.assertTrue(self.exists(CM.format(ns) + "/child"))
        self.c.delete(f"/apis/test.ambient-code/v1/gadgets/{ns}")
        self.settle()
        self.assertFalse(self.exists(CM.format(ns) + "/child"))

    def test_namespace_deletion(self):
        ns = self.make_ns()
        self.create_widget(ns, "w", finalizers=["test/hold"])
        self.c.post(CM.format(ns), {"metadata": {"name": "c"}})
        r = self.c.delete(f"/api/v1/namespaces/{ns}")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["status"]["phase"], "Terminating")
        self.settle()
        self.assertFalse(self.exists(CM.format(ns) + "/c"))
        self.assertTrue(self.exists(f"/api/v1/namespaces/{ns}"), "held by the widget finalizer")
        r = self.c.post(CM.format(ns), {"metadata": {"name": "new"}})
        body = self.assertStatus(r, 403, "Forbidden")
        self.assertEqual(body["message"], f'configmaps "new" is forbidden: unable to create new '
                         f'content in namespace {ns} because it is being terminated')
        self.c.patch(wpath(ns, "w"), {"metadata": {"finalizers": None}})
        self.settle()
        self.assertFalse(self.exists(f"/api/v1/namespaces/{ns}"))
        # It can be created again.
        self.assertEqual(self.c.post("/api/v1/namespaces", {"metadata": {"name": ns}}).status, 201)

    def test_gc_runs_without_explicit_settle(self):
        ns = self.make_ns()
        owner = self.create_widget(ns, "owner")
        self.owned_cm(ns, "child", owner)
        self.c.delete(wpath(ns, "owner"))
        wait_for(lambda: not self.exists(CM.format(ns) + "/child"), what="background GC")


class CRDLifecycleTest(KubesimTest):
    def test_crd_create_serve_and_delete(self):
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "sprockets.example.com"},
               "spec": {"group": "example.com", "scope": "Namespaced",
                        "names": {"kind": "Sprocket", "plural": "sprockets",
                                  "shortNames": ["sp"]},
                        "versions": [
                            {"name": "v1", "served": True, "storage": True,
                             "subresources": {"status": {}},
                             "schema": {"openAPIV3Schema": {"type": "object"}}},
                            {"name": "v1beta1", "served": True, "storage": False,
                             "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        r = self.c.post(path, crd)
        self.assertEqual(r.status, 201, r)
        conds = {c["type"]: c["status"] for c in r.body["status"]["conditions"]}
        self.assertEqual(conds, {"NamesAccepted": "True", "Established": "True"})
        self.assertEqual(r.body["status"]["storedVersions"], ["v1"])
        self.assertEqual(r.body["status"]["acceptedNames"]["singular"], "sprocket")
        groups = [g["name"] for g in self.c.get("/apis").body["groups"]]
        self.assertIn("example.com", groups)
        res = self.c.get("/apis/example.com/v1").body["resources"]
        self.assertEqual([x["name"] for x in res], ["sprockets", "sprockets/status"])
        self.assertEqual(res[0]["shortNames"], ["sp"])
        ns = self.make_ns()
        r = self.c.post(f"/apis/example.com/v1/namespaces/{ns}/sprockets",
                        {"apiVersion": "example.com/v1", "kind": "Sprocket",
                         "metadata": {"name": "s"}})
        self.assertEqual(r.status, 201, r)
        # Served under both versions from one storage.
        r = self.c.get(f"/apis/example.com/v1beta1/namespaces/{ns}/sprockets/s")
        self.assertEqual(r.body["apiVersion"], "example.com/v1beta1")
        # Bad CRD name.
        bad = dict(crd, metadata={"name": "wrong.example.com"})
        r = self.c.post(path, bad)
        self.assertStatus(r, 422, "Invalid")
        # Deleting the CRD deletes its instances, then the CRD, then the API.
        r = self.c.delete(f"{path}/sprockets.example.com")
        self.assertEqual(r.status, 200)
        wait_for(lambda: self.c.get(f"{path}/sprockets.example.com").status == 404,
                 what="CRD removal")
        self.assertEqual(self.c.get(f"/apis/example.com/v1/namespaces/{ns}/sprockets").status,
                         404)
        groups = [g["name"] for g in self.c.get("/apis").body["groups"]]
        self.assertNotIn("example.com", groups)


if __name__ == "__main__":
    main()
