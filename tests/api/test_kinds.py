"""The generic REST routes every registered kind gets (api/routes_kinds.c):
list with limit/continue, create (defaults applied, validation as 422 with
field names), get, PUT with resourceVersion, merge patch, delete; the
access answers 401/403/404/409; malformed bodies and bad path names. Users:
alice is the project's admin, bob a viewer, carol has no rights. Run with
/usr/bin/python3."""
import re
import unittest

from apiharness import ADMIN, ALICE, BOB, CAROL, ApiTest, uniq  # noqa: F401

GROUP = "/apis/vteam.ambient-code/v1alpha1"
AV = "vteam.ambient-code/v1alpha1"


class Kinds(ApiTest):
    cluster_args = {"live": False}  # REST only

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ns = cls.cluster.make_project(admins=["alice"], viewers=["bob"])

    # ---- helpers ----
    def path(self, name="", ns=None, plural="agentic-sessions"):
        p = f"/api/projects/{ns or self.ns}/{plural}"
        return p + "/" + name if name else p

    def rest(self, method, path, token=ALICE, **kw):
        return self.cluster.rest(method, path, token=token, **kw)

    def create(self, name=None, spec=None, ns=None, token=ALICE, **meta):
        body = {"metadata": dict(meta, **({"name": name} if name else {})),
                "spec": spec if spec is not None else {"prompt": "say hi"}}
        return self.rest("POST", self.path(ns=ns), token=token, body=body)

    def created(self, spec=None, ns=None, **meta):
        name = uniq("s")
        return self.assertStatus(self.create(name, spec, ns, **meta), 201)

    def fields(self, reply):
        return [d.get("field") for d in reply.body.get("details") or []]

    # ---- create ----
    def test_create_fills_identity_and_keeps_no_status(self):
        name = uniq("s")
        body = {"metadata": {"name": name + "x"}, "spec": {"prompt": "hi"},
                "status": {"phase": "Completed"}}
        r = self.rest("POST", self.path(), body=body)
        obj = self.assertStatus(r, 201)
        self.assertEqual(obj["apiVersion"], AV)
        self.assertEqual(obj["kind"], "AgenticSession")
        self.assertEqual(obj["metadata"]["namespace"], self.ns)
        self.assertEqual(obj["metadata"]["name"], name + "x")
        self.assertNotEqual((obj.get("status") or {}).get("phase"), "Completed")

    def test_create_full_object(self):
        name = uniq("s")
        body = {"apiVersion": AV, "kind": "AgenticSession",
                "metadata": {"name": name, "namespace": self.ns, "labels": {"team": "a"}},
                "spec": {"prompt": "hi", "interactive": False}}
        obj = self.assertStatus(self.rest("POST", self.path(), body=body), 201)
        self.assertEqual(obj["metadata"]["labels"], {"team": "a"})
        got = self.assertStatus(self.rest("GET", self.path(name)), 200)
        self.assertEqual(got["spec"]["prompt"], "hi")
        self.assertEqual(got["metadata"]["uid"], obj["metadata"]["uid"])

    def test_create_refuses_other_identity(self):
        for body, field in (
                ({"kind": "Job", "metadata": {"name": uniq("s")}, "spec": {"prompt": "x"}},
                 "kind"),
                ({"apiVersion": "v1", "metadata": {"name": uniq("s")}, "spec": {"prompt": "x"}},
                 "apiVersion"),
                ({"metadata": {"name": uniq("s"), "namespace": "elsewhere"},
                  "spec": {"prompt": "x"}}, "metadata.namespace"),
                ({"spec": {"prompt": "x"}}, "metadata.name"),
                ({"metadata": {"name": "Bad_Name"}, "spec": {"prompt": "x"}}, "metadata.name"),
                ({"metadata": "x", "spec": {"prompt": "x"}}, "metadata")):
            with self.subTest(field=field):
                r = self.rest("POST", self.path(), body=body)
                self.assertError(r, 400)
                self.assertIn(field, self.fields(r))

    def test_create_with_generate_name(self):
        body = {"metadata": {"generateName": "gen-"}, "spec": {"prompt": "hi"}}
        obj = self.assertStatus(self.rest("POST", self.path(), body=body), 201)
        self.assertTrue(obj["metadata"]["name"].startswith("gen-"), obj)

    def test_create_applies_project_defaults(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        ps = {"metadata": {"name": "projectsettings"},
              "spec": {"defaultModel": "claude-test-default", "defaultTimeout": 1234}}
        self.assertStatus(self.rest("POST", self.path(ns=ns, plural="projectsettings"),
                                    body=ps), 201)
        obj = self.created(ns=ns)
        self.assertEqual(obj["spec"]["model"], "claude-test-default")
        self.assertEqual(obj["spec"]["timeout"], 1234)
        # An explicit choice is kept.
        obj = self.created(spec={"prompt": "x", "model": "claude-other", "timeout": 60}, ns=ns)
        self.assertEqual(obj["spec"]["model"], "claude-other")
        self.assertEqual(obj["spec"]["timeout"], 60)
        # Defaults run on every write: a patch that clears the model gets
        # the project's default back.
        new = self.assertStatus(self.rest("PATCH", self.path(obj["metadata"]["name"], ns=ns),
                                          body={"spec": {"model": None}}), 200)
        self.assertEqual(new["spec"]["model"], "claude-test-default")

    def test_validation_failure_is_422_with_fields(self):
        r = self.create(uniq("s"), spec={"repos": [{"input": {"url": "file:///etc"}}],
                                         "timeout": -3})
        body = self.assertError(r, 422)
        fields = self.fields(r)
        self.assertIn("spec.prompt", fields)
        self.assertIn("spec.repos[0].input.url", fields)
        self.assertIn("is invalid", body["error"])
        # Only violations: no leftovers of lookups a callback made (this
        # project has no ProjectSettings, and that is not an error).
        for d in body["details"]:
            self.assertTrue(d["message"], d)
            self.assertTrue(d.get("field"), d)

    def test_create_existing_is_409(self):
        name = uniq("s")
        self.assertStatus(self.create(name), 201)
        self.assertError(self.create(name), 409)

    # ---- who may ----
    def test_no_token_is_401(self):
        for method, path in (("GET", self.path()), ("POST", self.path()),
                             ("GET", self.path("x")), ("DELETE", self.path("x"))):
            with self.subTest(method=method, path=path):
                r = self.cluster.rest(method, path, body={} if method == "POST" else None)
                self.assertError(r, 401)

    def test_viewer_reads_but_cannot_write(self):
        obj = self.created()
        name = obj["metadata"]["name"]
        self.assertStatus(self.rest("GET", self.path(), token=BOB), 200)
        self.assertStatus(self.rest("GET", self.path(name), token=BOB), 200)
        self.assertError(self.create(uniq("s"), token=BOB), 403)
        obj["spec"]["prompt"] = "bob was here"
        self.assertError(self.rest("PUT", self.path(name), token=BOB, body=obj), 403)
        self.assertError(self.rest("PATCH", self.path(name), token=BOB,
                                   body={"spec": {"prompt": "bob"}},
                                   ctype="application/merge-patch+json"), 403)
        self.assertError(self.rest("DELETE", self.path(name), token=BOB), 403)
        self.assertStatus(self.rest("GET", self.path(name)), 200)

    def test_stranger_gets_403(self):
        obj = self.created()
        name = obj["metadata"]["name"]
        self.assertError(self.rest("GET", self.path(), token=CAROL), 403)
        self.assertError(self.rest("GET", self.path(name), token=CAROL), 403)
        self.assertError(self.create(uniq("s"), token=CAROL), 403)
        self.assertError(self.rest("DELETE", self.path(name), token=CAROL), 403)

    def test_editor_may_write(self):
        ns = self.cluster.make_project(admins=[], editors=["alice"], viewers=["bob"])
        obj = self.created(ns=ns)
        name = obj["metadata"]["name"]
        self.assertStatus(self.rest("PATCH", self.path(name, ns=ns),
                                    body={"spec": {"prompt": "again"}}), 200)
        self.assertStatus(self.rest("DELETE", self.path(name, ns=ns)), 200)

    def test_missing_is_404(self):
        missing = uniq("none")
        self.assertError(self.rest("GET", self.path(missing)), 404)
        self.assertError(self.rest("DELETE", self.path(missing)), 404)
        self.assertError(self.rest("PATCH", self.path(missing), body={"spec": {}}), 404)
        self.assertError(self.rest("PUT", self.path(missing), body={
            "metadata": {"resourceVersion": "1"}, "spec": {"prompt": "x"}}), 404)

    # ---- list ----
    def test_list_pages_with_limit_and_continue(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        names = sorted(self.created(ns=ns)["metadata"]["name"] for _ in range(5))
        seen, cont, pages = [], None, 0
        while True:
            q = "?limit=2" + ("&continue=" + cont if cont else "")
            page = self.assertStatus(self.rest("GET", self.path(ns=ns) + q, token=BOB), 200)
            pages += 1
            self.assertEqual(page["limit"], 2)
            self.assertLessEqual(len(page["items"]), 2)
            for it in page["items"]:
                self.assertEqual(it["kind"], "AgenticSession")
                self.assertEqual(it["apiVersion"], AV)
            seen += [it["metadata"]["name"] for it in page["items"]]
            if not page["hasMore"]:
                self.assertNotIn("continue", page)
                break
            cont = page["continue"]
            self.assertTrue(cont)
            self.assertLess(pages, 10)
        self.assertEqual(sorted(seen), names)
        self.assertEqual(pages, 3)

    def test_list_default_and_bounds(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        page = self.assertStatus(self.rest("GET", self.path(ns=ns)), 200)
        self.assertEqual(page, {"items": [], "limit": 100, "hasMore": False})
        page = self.assertStatus(self.rest("GET", self.path(ns=ns) + "?limit=100000"), 200)
        self.assertEqual(page["limit"], 500)
        for bad in ("0", "-1", "abc", "2x"):
            with self.subTest(limit=bad):
                r = self.rest("GET", self.path(ns=ns) + "?limit=" + bad)
                self.assertError(r, 400)
                self.assertIn("limit", self.fields(r))

    def test_list_bad_continue_is_an_error_not_a_crash(self):
        r = self.rest("GET", self.path() + "?limit=1&continue=not%20a%26token%3D")
        self.assertIn(r.status, (400, 410), r)

    # ---- PUT ----
    def test_put_needs_the_resource_version_and_detects_conflicts(self):
        obj = self.created()
        name = obj["metadata"]["name"]
        stale = dict(obj, metadata=dict(obj["metadata"]))
        obj["spec"]["prompt"] = "second"
        new = self.assertStatus(self.rest("PUT", self.path(name), body=obj), 200)
        self.assertEqual(new["spec"]["prompt"], "second")
        self.assertNotEqual(new["metadata"]["resourceVersion"],
                            stale["metadata"]["resourceVersion"])
        stale["spec"] = {"prompt": "lost update"}
        self.assertError(self.rest("PUT", self.path(name), body=stale), 409)
        self.assertEqual(self.rest("GET", self.path(name)).body["spec"]["prompt"], "second")
        no_rv = {"metadata": {"name": name}, "spec": {"prompt": "x"}}
        r = self.rest("PUT", self.path(name), body=no_rv)
        self.assertError(r, 400)
        self.assertIn("metadata.resourceVersion", self.fields(r))
        other = dict(new, metadata=dict(new["metadata"], name="other-name"))
        r = self.rest("PUT", self.path(name), body=other)
        self.assertError(r, 400)
        self.assertIn("metadata.name", self.fields(r))

    def test_put_is_validated(self):
        obj = self.created()
        name = obj["metadata"]["name"]
        obj["spec"] = {"repos": [{"input": {"url": "ext::sh -c touch% /tmp/x"}}]}
        r = self.rest("PUT", self.path(name), body=obj)
        self.assertError(r, 422)
        self.assertIn("spec.repos[0].input.url", self.fields(r))

    # ---- PATCH ----
    def test_merge_patch(self):
        obj = self.created(spec={"prompt": "one", "displayName": "First"}, labels={"a": "1"})
        name = obj["metadata"]["name"]
        patch = {"spec": {"prompt": "two", "displayName": None},
                 "metadata": {"labels": {"b": "2"}}, "status": {"phase": "Completed"}}
        new = self.assertStatus(self.rest("PATCH", self.path(name), body=patch,
                                          ctype="application/merge-patch+json"), 200)
        self.assertEqual(new["spec"]["prompt"], "two")
        self.assertNotIn("displayName", new["spec"])
        self.assertEqual(new["metadata"]["labels"], {"a": "1", "b": "2"})
        self.assertNotEqual((new.get("status") or {}).get("phase"), "Completed")
        # application/json is accepted too; other types are not.
        self.assertStatus(self.rest("PATCH", self.path(name), body={"spec": {"prompt": "3"}}), 200)
        self.assertError(self.rest("PATCH", self.path(name), raw=b'{"spec":{}}',
                                   ctype="text/plain"), 415)

    def test_patch_with_stale_resource_version_is_409(self):
        obj = self.created()
        name = obj["metadata"]["name"]
        self.assertStatus(self.rest("PATCH", self.path(name), body={"spec": {"prompt": "b"}}), 200)
        stale = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                 "spec": {"prompt": "c"}}
        self.assertError(self.rest("PATCH", self.path(name), body=stale), 409)

    def test_patch_is_validated_and_cannot_rename(self):
        obj = self.created()
        name = obj["metadata"]["name"]
        r = self.rest("PATCH", self.path(name), body={"spec": {"prompt": None}})
        self.assertError(r, 422)
        self.assertIn("spec.prompt", self.fields(r))
        r = self.rest("PATCH", self.path(name), body={"metadata": {"name": "renamed"}})
        self.assertError(r, 400)
        r = self.rest("PATCH", self.path(name), body={"metadata": {"namespace": "other"}})
        self.assertError(r, 400)

    # ---- DELETE ----
    def test_delete(self):
        name = self.created()["metadata"]["name"]
        body = self.assertStatus(self.rest("DELETE", self.path(name)), 200)
        self.assertIn(name, body["message"])
        self.assertError(self.rest("GET", self.path(name)), 404)
        self.assertError(self.rest("DELETE", self.path(name)), 404)

    # ---- bad input ----
    def test_malformed_bodies(self):
        for raw, status in ((b'{"spec":', 400), (b'[]', 400), (b'"x"', 400), (b'', 400)):
            with self.subTest(raw=raw):
                self.assertError(self.rest("POST", self.path(), raw=raw), status)
        self.assertError(self.rest("POST", self.path(), raw=b'{}', ctype="text/plain"), 415)
        name = self.created()["metadata"]["name"]
        self.assertError(self.rest("PUT", self.path(name), raw=b'{"metadata":'), 400)
        self.assertError(self.rest("PATCH", self.path(name), raw=b'{x}',
                                   ctype="application/merge-patch+json"), 400)

    def test_bad_names_never_reach_kubernetes(self):
        # Refused by the server's path check or by the route, but refused.
        for name in ("..", "%2e%2e", "a%2Fb", "%2F", "..%2F..%2Fsecrets", "a..b"):
            with self.subTest(name=name):
                self.assertError(self.rest("GET", self.path(name)), 400)
                self.assertError(self.rest("DELETE", self.path(name)), 400)
        for name in ("UPPER", "a_b", "-lead", "x" * 254, "a.-b"):
            with self.subTest(name=name):
                r = self.rest("GET", self.path(name))
                self.assertError(r, 400)
                self.assertIn("name", self.fields(r))
                r = self.rest("PATCH", self.path(name), body={"spec": {}})
                self.assertError(r, 400)
        for project in ("Bad_Project", "a.b", "x" * 64):
            with self.subTest(project=project):
                r = self.rest("GET", f"/api/projects/{project}/agentic-sessions")
                self.assertError(r, 400)
                self.assertIn("project", self.fields(r))
                r = self.rest("POST", f"/api/projects/{project}/agentic-sessions",
                              body={"metadata": {"name": "x"}, "spec": {"prompt": "x"}})
                self.assertError(r, 400)

    def test_every_namespaced_kind_is_served(self):
        page = self.assertStatus(self.rest("GET", self.path(plural="projectsettings")), 200)
        self.assertIn("items", page)
        r = self.rest("GET", self.path(plural="no-such-kind"))
        self.assertError(r, 404)

    def test_error_reply_shape(self):
        r = self.rest("GET", self.path(uniq("none")))
        body = self.assertError(r, 404)
        self.assertTrue(re.search("not found", body["error"]), body)


if __name__ == "__main__":
    unittest.main()
