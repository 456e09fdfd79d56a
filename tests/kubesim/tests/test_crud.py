#!/usr/bin/python3
"""Writes and reads over raw HTTP: create/409/generateName, namespace must
exist, update conflicts and 422, patches, the status subresource,
generation, finalizers and deletionTimestamp, delete bodies, built-in kind
rules (Jobs, Secrets, Leases, Namespaces)."""

import re

from harness import KubesimTest, main, widget, wpath

OPT_LOCK = ("the object has been modified; please apply your changes to the latest "
            "version and try again")


class CreateTest(KubesimTest):
    def test_create_sets_server_fields(self):
        ns = self.make_ns()
        body = widget("w1", spec={"size": 2})
        body["status"] = {"phase": "Bogus"}
        body["metadata"]["resourceVersion"] = "999"
        r = self.c.post(wpath(ns), body)
        self.assertEqual(r.status, 201)
        meta = r.body["metadata"]
        self.assertEqual(meta["namespace"], ns)
        self.assertEqual(meta["generation"], 1)
        self.assertRegex(meta["uid"], r"^[0-9a-f-]{36}$")
        self.assertRegex(meta["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertNotEqual(meta["resourceVersion"], "999")
        self.assertNotIn("status", r.body, "status subresource: status dropped on create")
        got = self.c.get(wpath(ns, "w1"))
        self.assertEqual(got.status, 200)
        self.assertEqual(got.body, r.body)

    def test_already_exists(self):
        ns = self.make_ns()
        self.create_widget(ns, "dup")
        r = self.c.post(wpath(ns), widget("dup"))
        body = self.assertStatus(r, 409, "AlreadyExists",
                                 'widgets.test.ambient-code "dup" already exists')
        self.assertEqual(body["details"], {"name": "dup", "group": "test.ambient-code",
                                           "kind": "widgets"})

    def test_generate_name(self):
        ns = self.make_ns()
        names = set()
        for _ in range(20):
            r = self.c.post(wpath(ns), {"metadata": {"generateName": "gen-"}, "spec": {}})
            self.assertEqual(r.status, 201, r)
            names.add(r.body["metadata"]["name"])
        self.assertEqual(len(names), 20)
        for n in names:
            self.assertRegex(n, r"^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$")
        long = "x" * 70
        r = self.c.post(wpath(ns), {"metadata": {"generateName": long}, "spec": {}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(len(r.body["metadata"]["name"]), 63)

    def test_name_required_and_validated(self):
        ns = self.make_ns()
        r = self.c.post(wpath(ns), {"metadata": {}, "spec": {}})
        self.assertStatus(r, 422, "Invalid")
        self.assertIn("metadata.name: Required value: name or generateName is required",
                      r.body["message"])
        r = self.c.post(wpath(ns), widget("Bad_Name"))
        body = self.assertStatus(r, 422, "Invalid")
        self.assertTrue(body["message"].startswith(
            'Widget.test.ambient-code "Bad_Name" is invalid: metadata.name: Invalid value: '
            '"Bad_Name": a lowercase RFC 1123 subdomain'), body["message"])

    def test_namespace_must_exist(self):
        r = self.c.post(wpath("no-such-ns"), widget("w"))
        body = self.assertStatus(r, 404, "NotFound", 'namespaces "no-such-ns" not found')
        self.assertEqual(body["details"], {"name": "no-such-ns", "kind": "namespaces"})

    def test_namespace_mismatch_is_bad_request(self):
        ns = self.make_ns()
        r = self.c.post(wpath(ns), widget("w", ns="other"))
        self.assertStatus(r, 400, "BadRequest")

    def test_get_missing(self):
        ns = self.make_ns()
        r = self.c.get(wpath(ns, "nope"))
        body = self.assertStatus(r, 404, "NotFound", 'widgets.test.ambient-code "nope" not found')
        self.assertEqual(body["details"], {"name": "nope", "group": "test.ambient-code",
                                           "kind": "widgets"})

    def test_unknown_path(self):
        r = self.c.get("/apis/nope.example.com/v1/things")
        self.assertStatus(r, 404, "NotFound", "the server could not find the requested resource")


class UpdateTest(KubesimTest):
    def test_put_conflict_and_success(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w")
        stale = dict(w)
        w["spec"] = {"size": 5}
        r = self.c.put(wpath(ns, "w"), w)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["metadata"]["generation"], 2)
        self.assertNotEqual(r.body["metadata"]["resourceVersion"], w["metadata"]["resourceVersion"])
        stale["spec"] = {"size": 6}
        r = self.c.put(wpath(ns, "w"), stale)
        body = self.assertStatus(r, 409, "Conflict")
        self.assertEqual(body["message"],
                         f'Operation cannot be fulfilled on widgets.test.ambient-code "w": {OPT_LOCK}')

    def test_put_without_resource_version_is_invalid_for_crs(self):
        ns = self.make_ns()
        self.create_widget(ns, "w")
        r = self.c.put(wpath(ns, "w"), widget("w", spec={"size": 9}))
        body = self.assertStatus(r, 422, "Invalid")
        self.assertEqual(body["message"], 'Widget.test.ambient-code "w" is invalid: '
                         'metadata.resourceVersion: Invalid value: 0x0: must be specified for '
                         'an update')
        self.assertEqual(body["details"]["causes"], [{
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 0x0: must be specified for an update",
            "field": "metadata.resourceVersion"}])
        self.assertEqual(body["details"]["kind"], "Widget")

    def test_put_missing_cr_is_not_found(self):
        ns = self.make_ns()
        w = widget("ghost")
        w["metadata"]["resourceVersion"] = "1"
        r = self.c.put(wpath(ns, "ghost"), w)
        self.assertStatus(r, 404, "NotFound", 'widgets.test.ambient-code "ghost" not found')

    def test_put_name_mismatch(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "a")
        w["metadata"]["name"] = "b"
        r = self.c.put(wpath(ns, "a"), w)
        self.assertStatus(r, 400, "BadRequest",
                          "the name of the object (b) does not match the name on the URL (a)")

    def test_noop_update_keeps_resource_version(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w")
        r = self.c.put(wpath(ns, "w"), w)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["metadata"]["resourceVersion"], w["metadata"]["resourceVersion"])

    def test_server_fields_cannot_be_changed(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w")
        w["metadata"]["uid"] = "x"
        w["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z"
        w["metadata"]["generation"] = 42
        w["metadata"]["labels"] = {"a": "b"}
        r = self.c.put(wpath(ns, "w"), w)
        self.assertEqual(r.status, 200, r)
        got = self.c.get(wpath(ns, "w")).body["metadata"]
        self.assertNotEqual(got["uid"], "x")
        self.assertNotEqual(got["creationTimestamp"], "2000-01-01T00:00:00Z")
        self.assertEqual(got["generation"], 1, "metadata-only change keeps generation")
        self.assertEqual(got["labels"], {"a": "b"})


class PatchTest(KubesimTest):
    def test_merge_patch(self):
        ns = self.make_ns()
        self.create_widget(ns, "w", spec={"size": 1, "color": "red", "tags": ["a"]},
                           labels={"x": "1", "y": "2"})
        r = self.c.patch(wpath(ns, "w"), {"metadata": {"labels": {"x": None, "z": "3"}},
                                          "spec": {"color": None, "tags": ["b", "c"]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["metadata"]["labels"], {"y": "2", "z": "3"})
        self.assertEqual(r.body["spec"], {"size": 1, "tags": ["b", "c"]})
        self.assertEqual(r.body["metadata"]["generation"], 2)

    def test_merge_patch_resource_version_precondition(self):
        ns = self.make_ns()
        self.create_widget(ns, "w")
        r = self.c.patch(wpath(ns, "w"), {"metadata": {"resourceVersion": "1"},
                                          "spec": {"size": 3}})
        self.assertStatus(r, 409, "Conflict")
        cur = self.c.get(wpath(ns, "w")).body
        r = self.c.patch(wpath(ns, "w"), {"metadata": {"resourceVersion":
                                                       cur["metadata"]["resourceVersion"]},
                                          "spec": {"size": 3}})
        self.assertEqual(r.status, 200, r)

    def test_json_patch(self):
        ns = self.make_ns()
        self.create_widget(ns, "w", spec={"size": 1, "tags": ["a"]})
        ops = [{"op": "add", "path": "/spec/tags/-", "value": "b"},
               {"op": "replace", "path": "/spec/size", "value": 7},
               {"op": "test", "path": "/spec/size", "value": 7},
               {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}}]
        r = self.c.patch(wpath(ns, "w"), ops, ctype="application/json-patch+json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["spec"], {"size": 7, "tags": ["a", "b"]})
        self.assertEqual(r.body["metadata"]["annotations"], {"a/b": "c"})
        r = self.c.patch(wpath(ns, "w"), [{"op": "test", "path": "/spec/size", "value": 1}],
                         ctype="application/json-patch+json")
        self.assertStatus(r, 422)

    def test_strategic_merge_patch_rejected_for_crs(self):
        ns = self.make_ns()
        self.create_widget(ns, "w")
        r = self.c.patch(wpath(ns, "w"), {"spec": {"size": 2}},
                         ctype="application/strategic-merge-patch+json")
        self.assertStatus(r, 415, "UnsupportedMediaType")

    def test_strategic_merge_patch_for_builtins(self):
        ns = self.make_ns()
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}
        self.assertEqual(self.c.post(f"/api/v1/namespaces/{ns}/pods", pod).status, 201)
        r = self.c.patch(f"/api/v1/namespaces/{ns}/pods/p",
                         {"spec": {"containers": [{"name": "b", "image": "b:2"}]},
                          "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]},
                         ctype="application/strategic-merge-patch+json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(c["name"], c["image"]) for c in r.body["spec"]["containers"]],
                         [("a", "a:1"), ("b", "b:2")])

    def test_patch_missing(self):
        ns = self.make_ns()
        r = self.c.patch(wpath(ns, "none"), {"spec": {}})
        self.assertStatus(r, 404, "NotFound")


class StatusSubresourceTest(KubesimTest):
    def test_main_resource_ignores_status(self):
        ns = self.make_ns()
        self.create_widget(ns, "w")
        r = self.c.patch(wpath(ns, "w"), {"status": {"phase": "Running"}})
        self.assertEqual(r.status, 200)
        self.assertNotIn("status", r.body)
        self.c.patch(wpath(ns, "w") + "/status", {"status": {"phase": "Ready"}})
        r = self.c.patch(wpath(ns, "w"), {"status": {"phase": "Hacked"}, "spec": {"size": 2}})
        self.assertEqual(r.body["status"], {"phase": "Ready"})
        self.assertEqual(r.body["spec"], {"size": 2})
        w = r.body
        w["status"] = {"phase": "Hacked"}
        r = self.c.put(wpath(ns, "w"), w)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["status"], {"phase": "Ready"})
        del w["status"]
        w["metadata"]["resourceVersion"] = r.body["metadata"]["resourceVersion"]
        r = self.c.put(wpath(ns, "w"), w)
        self.assertEqual(r.body["status"], {"phase": "Ready"}, "omitting status keeps it too")

    def test_status_ignores_everything_else(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w", spec={"size": 1})
        w["status"] = {"phase": "Running", "observedGeneration": 1}
        w["spec"] = {"size": 100}
        w["metadata"]["labels"] = {"ignored": "yes"}
        r = self.c.put(wpath(ns, "w") + "/status", w)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["status"], {"phase": "Running", "observedGeneration": 1})
        self.assertEqual(r.body["spec"], {"size": 1})
        self.assertNotIn("labels", r.body["metadata"])
        self.assertEqual(r.body["metadata"]["generation"], 1, "status change keeps generation")
        # merge patch on /status
        r = self.c.patch(wpath(ns, "w") + "/status", {"status": {"phase": "Done"},
                                                      "spec": {"size": 5}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["status"]["phase"], "Done")
        self.assertEqual(r.body["spec"], {"size": 1})
        got = self.c.get(wpath(ns, "w") + "/status")
        self.assertEqual(got.status, 200)
        self.assertEqual(got.body["status"]["phase"], "Done")

    def test_status_put_needs_fresh_resource_version(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w")
        self.c.patch(wpath(ns, "w"), {"spec": {"size": 3}})
        w["status"] = {"phase": "X"}
        r = self.c.put(wpath(ns, "w") + "/status", w)
        self.assertStatus(r, 409, "Conflict")

    def test_generation_only_on_spec_change(self):
        ns = self.make_ns()
        self.create_widget(ns, "w")
        gens = []
        for patch in ({"metadata": {"annotations": {"a": "b"}}},
                      {"metadata": {"finalizers": ["x/y"]}},
                      {"spec": {"size": 2}},
                      {"spec": {"size": 2}},
                      {"spec": {"size": 3}}):
            gens.append(self.c.patch(wpath(ns, "w"), patch).body["metadata"]["generation"])
        self.assertEqual(gens, [1, 1, 2, 2, 3])
        self.c.patch(wpath(ns, "w"), {"metadata": {"finalizers": None}})

    def test_status_on_kind_without_status_is_404(self):
        ns = self.make_ns()
        self.c.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}})
        r = self.c.get(f"/api/v1/namespaces/{ns}/configmaps/c/status")
        self.assertStatus(r, 404)


class DeleteTest(KubesimTest):
    def test_immediate_delete_returns_success_status(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w")
        r = self.c.delete(wpath(ns, "w"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success",
                                  "details": {"name": "w", "group": "test.ambient-code",
                                              "kind": "widgets", "uid": w["metadata"]["uid"]}})
        self.assertStatus(self.c.get(wpath(ns, "w")), 404)
        self.assertStatus(self.c.delete(wpath(ns, "w")), 404)

    def test_finalizers_hold_the_object(self):
        ns = self.make_ns()
        self.create_widget(ns, "w", finalizers=["example.com/hold"])
        w = self.watch(wpath(ns) + "?watch=1&resourceVersion=0")
        w.events_until(lambda e: e["type"] == "ADDED")
        r = self.c.delete(wpath(ns, "w"), {"kind": "DeleteOptions", "apiVersion": "v1",
                                           "gracePeriodSeconds": 30})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["kind"], "Widget")
        ts = r.body["metadata"]["deletionTimestamp"]
        self.assertEqual(r.body["metadata"]["deletionGracePeriodSeconds"], 0)
        self.assertEqual(r.body["metadata"]["generation"], 2, "deletionTimestamp bumps generation")
        ev = w.events_until(lambda e: True)[0]
        self.assertEqual(ev["type"], "MODIFIED")
        self.assertEqual(ev["object"]["metadata"]["deletionTimestamp"], ts)
        got = self.c.get(wpath(ns, "w"))
        self.assertEqual(got.status, 200)
        # No new finalizers while deleting.
        r = self.c.patch(wpath(ns, "w"), {"metadata": {"finalizers": ["example.com/hold",
                                                                      "example.com/new"]}})
        body = self.assertStatus(r, 422, "Invalid")
        self.assertIn('metadata.finalizers: Forbidden: no new finalizers can be added if the '
                      'object is being deleted', body["message"])
        # deletionTimestamp can't be removed.
        r = self.c.patch(wpath(ns, "w"), {"metadata": {"deletionTimestamp": None}})
        self.assertEqual(r.body["metadata"]["deletionTimestamp"], ts)
        # Deleting again keeps it.
        self.assertEqual(self.c.delete(wpath(ns, "w")).status, 200)
        # Removing the last finalizer deletes it.
        r = self.c.patch(wpath(ns, "w"), {"metadata": {"finalizers": None}})
        self.assertEqual(r.status, 200, r)
        ev = w.events_until(lambda e: e["type"] == "DELETED")[-1]
        self.assertEqual(ev["object"]["metadata"]["name"], "w")
        self.assertStatus(self.c.get(wpath(ns, "w")), 404)

    def test_preconditions(self):
        ns = self.make_ns()
        w = self.create_widget(ns, "w")
        r = self.c.delete(wpath(ns, "w"), {"preconditions": {"uid": "wrong"}})
        body = self.assertStatus(r, 409, "Conflict")
        self.assertIn(f"Precondition failed: UID in precondition: wrong, UID in object meta: "
                      f"{w['metadata']['uid']}", body["message"])
        r = self.c.delete(wpath(ns, "w"), {"preconditions": {"uid": w["metadata"]["uid"]}})
        self.assertEqual(r.status, 200)

    def test_delete_collection(self):
        ns = self.make_ns()
        for i in range(4):
            self.create_widget(ns, f"w{i}", labels={"group": "a" if i < 2 else "b"})
        r = self.c.delete(wpath(ns) + "?labelSelector=group%3Da")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(i["metadata"]["name"] for i in r.body["items"]), ["w0", "w1"])
        names = [i["metadata"]["name"] for i in self.c.get(wpath(ns)).body["items"]]
        self.assertEqual(names, ["w2", "w3"])

    def test_pod_delete_returns_object(self):
        ns = self.make_ns()
        self.c.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"},
                                                      "spec": {"containers": [{"name": "c"}]}})
        r = self.c.delete(f"/api/v1/namespaces/{ns}/pods/p")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["kind"], "Pod")


class SelectorTest(KubesimTest):
    def test_label_and_field_selectors(self):
        ns = self.make_ns()
        other = self.make_ns()
        self.create_widget(ns, "a", labels={"tier": "web", "env": "prod"})
        self.create_widget(ns, "b", labels={"tier": "db", "env": "prod"})
        self.create_widget(ns, "c", labels={"tier": "web"})
        self.create_widget(other, "d", labels={"tier": "web", "env": "dev"})

        def names(q, scope=None):
            path = (wpath(scope) if scope else "/apis/test.ambient-code/v1alpha1/widgets")
            r = self.c.get(path + "?" + q)
            self.assertEqual(r.status, 200, r)
            return sorted(i["metadata"]["name"] for i in r.body["items"]
                          if i["metadata"]["namespace"] in (ns, other))

        self.assertEqual(names("labelSelector=tier%3Dweb"), ["a", "c", "d"])
        self.assertEqual(names("labelSelector=tier%3D%3Dweb,env%3Dprod"), ["a"])
        self.assertEqual(names("labelSelector=tier!%3Dweb"), ["b"])
        self.assertEqual(names("labelSelector=env"), ["a", "b", "d"])
        self.assertEqual(names("labelSelector=!env"), ["c"])
        self.assertEqual(names("labelSelector=env%20in%20(prod,dev),tier%20notin%20(db)"),
                         ["a", "d"])
        self.assertEqual(names("labelSelector=tier%3Dweb", scope=ns), ["a", "c"])
        self.assertEqual(names("fieldSelector=metadata.name%3Db"), ["b"])
        self.assertEqual(names(f"fieldSelector=metadata.namespace%3D{other}"), ["d"])
        self.assertEqual(names(f"fieldSelector=metadata.namespace!%3D{other},metadata.name!%3Da"),
                         ["b", "c"])
        r = self.c.get(wpath(ns) + "?fieldSelector=spec.size%3D1")
        self.assertStatus(r, 400, "BadRequest", "field label not supported: spec.size")
        r = self.c.get(wpath(ns) + "?labelSelector=a%20in%20b")
        self.assertStatus(r, 400, "BadRequest")

    def test_pod_field_selector(self):
        ns = self.make_ns()
        for n in ("p1", "p2"):
            self.c.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": n},
                                                          "spec": {"containers": [{"name": "c"}]}})
        self.c.patch(f"/api/v1/namespaces/{ns}/pods/p2/status", {"status": {"phase": "Running"}})
        r = self.c.get(f"/api/v1/namespaces/{ns}/pods?fieldSelector=status.phase%3DRunning")
        self.assertEqual([i["metadata"]["name"] for i in r.body["items"]], ["p2"])


SESSION_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "sessions.schema.test"},
    "spec": {"group": "schema.test", "scope": "Namespaced",
             "names": {"kind": "Session", "plural": "sessions"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "prompt": {"type": "string"},
                                   "timeout": {"type": "integer", "default": 300},
                                   "labels": {"type": "object",
                                              "additionalProperties": {"type": "string"}},
                                   "repos": {"type": "array", "items": {
                                       "type": "object", "properties": {
                                           "input": {"type": "object", "properties": {
                                               "url": {"type": "string"},
                                               "branch": {"type": "string",
                                                          "default": "main"}}}}}}}},
                               "status": {"type": "object", "properties": {
                                   "phase": {"type": "string"},
                                   "usage": {"type": "object",
                                             "x-kubernetes-preserve-unknown-fields": True},
                                   "bare": {"type": "object"}}}}}}}]}}


class SchemaTest(KubesimTest):
    """Structural schema: pruning, defaults and fieldValidation."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", SESSION_CRD)
        assert r.status == 201, r

    def path(self, ns, name=""):
        return f"/apis/schema.test/v1/namespaces/{ns}/sessions" + (f"/{name}" if name else "")

    def test_prune_and_default_on_create(self):
        ns = self.make_ns()
        body = {"metadata": {"name": "s"}, "spec": {
            "prompt": "hi", "extra": 1, "labels": {"a": "b"},
            "repos": [{"input": {"url": "u", "junk": True}}, {"input": {"branch": "dev"}}]}}
        r = self.c.post(self.path(ns), body)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body["spec"], {"prompt": "hi", "timeout": 300, "labels": {"a": "b"},
                                          "repos": [{"input": {"url": "u", "branch": "main"}},
                                                    {"input": {"branch": "dev"}}]})
        self.assertEqual(r.headers.get("Warning"),
                         '299 - "unknown field \\"spec.extra\\"", '
                         '299 - "unknown field \\"spec.repos[0].input.junk\\""')
        r = self.c.post(self.path(ns) + "?fieldValidation=Ignore",
                        {"metadata": {"name": "quiet"}, "spec": {"extra": 1}})
        self.assertNotIn("Warning", r.headers)
        self.assertEqual(r.body["spec"], {"timeout": 300})

    def test_strict_field_validation(self):
        ns = self.make_ns()
        r = self.c.post(self.path(ns) + "?fieldValidation=Strict",
                        {"metadata": {"name": "s"}, "spec": {"prompt": "x", "nope": 1}})
        self.assertStatus(r, 400, "BadRequest",
                          'Session in version "v1" cannot be handled as a Session: strict '
                          'decoding error: unknown field "spec.nope"')
        r = self.c.post(self.path(ns) + "?fieldValidation=Strict",
                        {"metadata": {"name": "s"}, "spec": {"prompt": "x"}})
        self.assertEqual(r.status, 201)

    def test_status_pruning(self):
        ns = self.make_ns()
        self.c.post(self.path(ns), {"metadata": {"name": "s"}, "spec": {"prompt": "x"}})
        r = self.c.patch(self.path(ns, "s") + "/status", {"status": {
            "phase": "Running", "bogus": 1, "usage": {"tokens": 5, "deep": {"x": 1}},
            "bare": {"anything": 1}}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["status"], {"phase": "Running",
                                            "usage": {"tokens": 5, "deep": {"x": 1}},
                                            "bare": {}})
        self.assertIn('unknown field \\"status.bogus\\"', r.headers.get("Warning", ""))
        # Defaults are applied on update too, and do not bump generation twice.
        r = self.c.patch(self.path(ns, "s"), {"spec": {"timeout": None}})
        self.assertEqual(r.body["spec"]["timeout"], 300)
        self.assertEqual(r.body["metadata"]["generation"], 1)


class BuiltinKindsTest(KubesimTest):
    def test_namespace_defaults(self):
        ns = self.make_ns()
        r = self.c.get(f"/api/v1/namespaces/{ns}")
        self.assertEqual(r.body["status"], {"phase": "Active"})
        self.assertEqual(r.body["spec"], {"finalizers": ["kubernetes"]})
        self.assertEqual(r.body["metadata"]["labels"]["kubernetes.io/metadata.name"], ns)
        self.assertNotIn("generation", r.body["metadata"])
        for default in ("default", "kube-system"):
            self.assertEqual(self.c.get(f"/api/v1/namespaces/{default}").status, 200)

    def test_job_defaults_and_labels(self):
        ns = self.make_ns()
        job = {"metadata": {"name": "j"}, "spec": {"template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}
        r = self.c.post(f"/apis/batch/v1/namespaces/{ns}/jobs", job)
        self.assertEqual(r.status, 201, r)
        uid = r.body["metadata"]["uid"]
        spec = r.body["spec"]
        self.assertEqual(spec["backoffLimit"], 6)
        self.assertEqual(spec["completions"], 1)
        self.assertEqual(spec["parallelism"], 1)
        self.assertEqual(spec["selector"], {"matchLabels": {
            "batch.kubernetes.io/controller-uid": uid}})
        labels = spec["template"]["metadata"]["labels"]
        for k, v in (("job-name", "j"), ("batch.kubernetes.io/job-name", "j"),
                     ("controller-uid", uid), ("batch.kubernetes.io/controller-uid", uid),
                     ("app", "x")):
            self.assertEqual(labels[k], v)
        self.assertEqual(r.body["metadata"]["labels"], {"app": "x"})
        self.assertEqual(r.body["metadata"]["generation"], 1)
        bad = {"metadata": {"name": "bad"}, "spec": {"template": {"spec": {
            "restartPolicy": "Always", "containers": [{"name": "c"}]}}}}
        r = self.c.post(f"/apis/batch/v1/namespaces/{ns}/jobs", bad)
        body = self.assertStatus(r, 422, "Invalid")
        self.assertEqual(body["message"], 'Job.batch "bad" is invalid: '
                         'spec.template.spec.restartPolicy: Unsupported value: "Always": '
                         'supported values: "OnFailure", "Never"')

    def test_secret_string_data(self):
        ns = self.make_ns()
        r = self.c.post(f"/api/v1/namespaces/{ns}/secrets",
                        {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body["data"], {"k": "dg=="})
        self.assertEqual(r.body["type"], "Opaque")
        self.assertNotIn("stringData", r.body)

    def test_unconditional_put_allowed_for_configmaps(self):
        ns = self.make_ns()
        self.c.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"},
                                                            "data": {"a": "1"}})
        r = self.c.put(f"/api/v1/namespaces/{ns}/configmaps/c", {"metadata": {"name": "c"},
                                                                 "data": {"a": "2"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["data"], {"a": "2"})
        r = self.c.put(f"/api/v1/namespaces/{ns}/configmaps/missing",
                       {"metadata": {"name": "missing"}})
        self.assertStatus(r, 404)

    def test_lease_create_on_update_and_optimistic_lock(self):
        ns = self.make_ns()
        path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/leader"
        spec = {"holderIdentity": "a", "leaseDurationSeconds": 15,
                "renewTime": "2025-01-01T00:00:00.000000Z"}
        r = self.c.put(path, {"metadata": {"name": "leader"}, "spec": spec})
        self.assertEqual(r.status, 201, r)
        lease = r.body
        r = self.c.put(path, {"metadata": {"name": "leader"}, "spec": spec})
        self.assertStatus(r, 422, "Invalid")
        lease["spec"]["holderIdentity"] = "b"
        lease["spec"]["leaseTransitions"] = 1
        r = self.c.put(path, lease)
        self.assertEqual(r.status, 200, r)
        lease["spec"]["holderIdentity"] = "c"
        self.assertStatus(self.c.put(path, lease), 409, "Conflict")

    def test_dry_run(self):
        ns = self.make_ns()
        r = self.c.post(wpath(ns) + "?dryRun=All", widget("dry"))
        self.assertEqual(r.status, 201)
        self.assertStatus(self.c.get(wpath(ns, "dry")), 404)

    def test_resource_version_is_a_global_counter(self):
        ns = self.make_ns()
        rvs = [int(self.create_widget(ns, f"w{i}")["metadata"]["resourceVersion"])
               for i in range(5)]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(len(set(rvs)), 5)
        cm = self.c.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}})
        self.assertGreater(int(cm.body["metadata"]["resourceVersion"]), rvs[-1])
        self.assertTrue(re.match(r"^\d+$", cm.body["metadata"]["resourceVersion"]))


if __name__ == "__main__":
    main()
