"""Projects, permissions, project settings and runner secrets of api.so
(api/routes_projects.c, routes_permissions.c, plugins/projectsettings/routes.c) in a real
ambientd against kubesim, with users of different rights: alice (project
admin), bob (viewer), carol (no rights, or editor where a test binds her),
and the cluster admin. Covers each route's success and its 400/401/403/404/
409/422 answers, names that try to leave their segment, and that runner
secret values never appear in an answer or in ambientd's log.
Run with /usr/bin/python3."""
import base64
import json
import unittest

from apiharness import ADMIN, ALICE, BOB, CAROL, ApiTest, uniq

PS = "/apis/vteam.ambient-code/v1alpha1"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def fields(body):
    return [d.get("field") for d in (body or {}).get("details") or []]


class Base(ApiTest):
    cluster_args = {"live": False}  # these routes need no event store

    def rest(self, method, path, token=ALICE, **kw):
        return self.cluster.rest(method, path, token=token, **kw)

    def create(self, token=ALICE, **body):
        body.setdefault("name", uniq("p"))
        r = self.rest("POST", "/api/projects", token=token, body=body)
        self.assertStatus(r, 201)
        return body["name"]

    def kget(self, path):
        r = self.cluster.kube.get(path)
        return r.body if r.status == 200 else None

    def gc(self):
        self.cluster.kube.post("/kubesim/gc", {})


class Projects(Base):
    # Rights change within tests: answer every review afresh.
    cluster_args = {"live": False, "api_conf": "auth_ttl = 0;"}

    # ---- create ----
    def test_create_makes_a_managed_namespace_and_an_admin_binding(self):
        name = uniq("create")
        r = self.rest("POST", "/api/projects", body={
            "name": name, "displayName": "My Project", "description": "line one\nline two"})
        body = self.assertStatus(r, 201)
        self.assertEqual(body["name"], name)
        self.assertEqual(body["displayName"], "My Project")
        self.assertEqual(body["description"], "line one\nline two")
        self.assertEqual(body["status"], "Active")
        self.assertTrue(body["creationTimestamp"])
        ns = self.kget(f"/api/v1/namespaces/{name}")
        self.assertEqual(ns["metadata"]["labels"]["ambient-code.io/managed"], "true")
        ann = ns["metadata"]["annotations"]
        self.assertEqual(ann["ambient-code.io/display-name"], "My Project")
        self.assertEqual(ann["ambient-code.io/description"], "line one\nline two")
        self.assertEqual(ann["ambient-code.io/created-by"], "alice")
        rb = self.kget(f"{RBAC}/namespaces/{name}/rolebindings/ambient-admin-alice")
        self.assertEqual(rb["roleRef"]["name"], "ambient-project-admin")
        self.assertEqual(rb["subjects"][0]["kind"], "User")
        self.assertEqual(rb["subjects"][0]["name"], "alice")
        # The creator is the admin at once; others see nothing.
        self.assertStatus(self.rest("GET", f"/api/projects/{name}"), 200)
        self.assertEqual(self.rest("GET", f"/api/projects/{name}/access").body["userRole"],
                         "admin")
        self.assertError(self.rest("GET", f"/api/projects/{name}", token=BOB), 403)

    def test_create_defaults_the_display_name(self):
        name = self.create()
        body = self.assertStatus(self.rest("GET", f"/api/projects/{name}"), 200)
        self.assertEqual(body["displayName"], name)
        self.assertEqual(body["description"], "")

    def test_any_authenticated_user_may_create(self):
        name = self.create(token=CAROL)
        self.assertEqual(self.rest("GET", f"/api/projects/{name}/access", token=CAROL)
                         .body["userRole"], "admin")
        self.assertError(self.rest("GET", f"/api/projects/{name}"), 403)

    def test_create_needs_a_valid_token(self):
        self.assertError(self.cluster.rest("POST", "/api/projects", body={"name": uniq()}), 401)
        self.assertError(self.rest("POST", "/api/projects", token="nope",
                                   body={"name": uniq()}), 401)

    def test_create_validates_each_field(self):
        cases = [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": 7}, "name"),
            ({"name": "Upper-Case"}, "name"),
            ({"name": "a_b"}, "name"),
            ({"name": "-lead"}, "name"),
            ({"name": "x" * 64}, "name"),
            ({"name": "../etc"}, "name"),
            ({"name": "kube-system"}, "name"),
            ({"name": "default"}, "name"),
            ({"name": "openshift-x"}, "name"),
            ({"name": uniq(), "displayName": 3}, "displayName"),
            ({"name": uniq(), "displayName": "x" * 257}, "displayName"),
            ({"name": uniq(), "displayName": "a\nb"}, "displayName"),
            ({"name": uniq(), "description": ["x"]}, "description"),
            ({"name": uniq(), "description": "x" * 4097}, "description"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                err = self.assertError(self.rest("POST", "/api/projects", body=body), 400)
                self.assertIn(field, fields(err))
                self.assertTrue(err["error"].startswith(field + ":"), err)
        self.assertEqual(self.rest("POST", "/api/projects", raw=b"{nope").status, 400)
        self.assertEqual(self.rest("POST", "/api/projects", raw=b"[]").status, 400)
        self.assertEqual(self.rest("POST", "/api/projects", raw=b"{}", ctype="text/plain")
                         .status, 415)

    def test_create_conflicts(self):
        name = self.create()
        err = self.assertError(self.rest("POST", "/api/projects", body={"name": name}), 409)
        self.assertIn(name, err["error"])
        # Another user's attempt conflicts too and gains nothing.
        self.assertError(self.rest("POST", "/api/projects", token=BOB, body={"name": name}), 409)
        self.assertIsNone(self.kget(f"{RBAC}/namespaces/{name}/rolebindings/ambient-admin-bob"))
        # So does an existing namespace that is not a project.
        plain = uniq("plain")
        self.cluster.ensure_namespace(plain)
        self.assertError(self.rest("POST", "/api/projects", body={"name": plain}), 409)
        ns = self.kget(f"/api/v1/namespaces/{plain}")
        self.assertNotIn("ambient-code.io/managed", ns["metadata"].get("labels") or {})

    # ---- get ----
    def test_get_by_role(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        self.assertEqual(self.assertStatus(self.rest("GET", f"/api/projects/{ns}"), 200)["name"],
                         ns)
        self.assertStatus(self.rest("GET", f"/api/projects/{ns}", token=BOB), 200)
        err = self.assertError(self.rest("GET", f"/api/projects/{ns}", token=CAROL), 403)
        self.assertIn("carol", err["error"])
        self.assertError(self.cluster.rest("GET", f"/api/projects/{ns}"), 401)
        self.assertError(self.rest("GET", f"/api/projects/{ns}", token="bad-token"), 401)

    def test_missing_and_unmanaged_namespaces_answer_alike(self):
        missing = self.assertError(self.rest("GET", "/api/projects/no-such-ns", token=ADMIN),
                                   404)
        plain = uniq("plain")
        self.cluster.ensure_namespace(plain)
        unmanaged = self.assertError(self.rest("GET", f"/api/projects/{plain}", token=ADMIN),
                                     404)
        self.assertEqual(missing["error"].replace("no-such-ns", "X"),
                         unmanaged["error"].replace(plain, "X"))
        # Without rights the caller cannot tell either from a real project.
        for name in ("no-such-ns", plain, "kube-system"):
            self.assertError(self.rest("GET", f"/api/projects/{name}"), 403)
        # Rights in an unmanaged namespace do not make it a project.
        self.cluster.bind(plain, "alice", "admin")
        self.assertError(self.rest("GET", f"/api/projects/{plain}"), 404)
        self.assertError(self.rest("DELETE", f"/api/projects/{plain}"), 404)
        self.assertIsNotNone(self.kget(f"/api/v1/namespaces/{plain}"))

    def test_names_that_leave_their_segment_are_refused(self):
        for path in ("/api/projects/..%2Fkube-system", "/api/projects/%2e%2e",
                     "/api/projects/a/../kube-system", "/api/projects/..",
                     "/api/projects/%2e%2e/access"):
            with self.subTest(path=path):
                r = self.rest("GET", path, token=ADMIN)
                self.assertIn(r.status, (400, 404), r)
                self.assertNotEqual(r.status, 200)
        for bad in ("Kube-System", "a.b", "a_b", "x" * 64, "-x", "%20x"):
            for suffix in ("", "/access", "/permissions", "/project-settings",
                           "/runner-secrets"):
                with self.subTest(name=bad, suffix=suffix):
                    err = self.assertError(self.rest("GET", f"/api/projects/{bad}{suffix}",
                                                     token=ADMIN), 400)
                    self.assertEqual(fields(err), ["project"])

    # ---- list ----
    def test_list_shows_only_projects_the_caller_may_see(self):
        tag = uniq("ls")
        mine = [self.create(name=f"{tag}-{i}", displayName=f"Alpha {i}") for i in range(3)]
        bobs = self.create(token=BOB, name=f"{tag}-bob", displayName="Bravo")
        plain = f"{tag}-plain"
        self.cluster.ensure_namespace(plain)
        self.cluster.bind(plain, "alice", "admin")

        body = self.assertStatus(self.rest("GET", f"/api/projects?search={tag}"), 200)
        self.assertEqual(sorted(p["name"] for p in body["items"]), sorted(mine))
        self.assertEqual(body["totalCount"], 3)
        self.assertFalse(body["hasMore"])
        self.assertEqual(body["limit"], 50)
        self.assertEqual(body["offset"], 0)
        item = body["items"][0]
        self.assertEqual(set(item), {"name", "displayName", "description",
                                     "creationTimestamp", "status"})
        body = self.assertStatus(self.rest("GET", f"/api/projects?search={tag}", token=BOB),
                                 200)
        self.assertEqual([p["name"] for p in body["items"]], [bobs])
        body = self.assertStatus(self.rest("GET", f"/api/projects?search={tag}",
                                           token=CAROL), 200)
        self.assertEqual(body["items"], [])
        self.assertEqual(body["totalCount"], 0)
        self.assertError(self.cluster.rest("GET", "/api/projects"), 401)
        self.assertError(self.rest("GET", "/api/projects", token="bad-token"), 401)

    def test_list_pages_and_searches(self):
        tag = uniq("pg")
        names = [self.create(name=f"{tag}-{i}", displayName=f"Zulu {tag} {i}")
                 for i in range(5)]
        first = self.assertStatus(self.rest("GET", f"/api/projects?search={tag}&limit=2"), 200)
        self.assertEqual((len(first["items"]), first["totalCount"], first["hasMore"],
                          first["nextOffset"]), (2, 5, True, 2))
        seen = [p["name"] for p in first["items"]]
        for offset in (2, 4):
            page = self.assertStatus(self.rest(
                "GET", f"/api/projects?search={tag}&limit=2&offset={offset}"), 200)
            self.assertEqual(page["offset"], offset)
            seen += [p["name"] for p in page["items"]]
        self.assertFalse(page["hasMore"])
        self.assertNotIn("nextOffset", page)
        self.assertEqual(sorted(seen), sorted(names))
        beyond = self.assertStatus(self.rest("GET", f"/api/projects?search={tag}&offset=99"),
                                   200)
        self.assertEqual((beyond["items"], beyond["totalCount"]), ([], 5))
        # Search is a case-insensitive substring of the name or the display name.
        up = tag.upper()
        self.assertEqual(self.rest("GET", f"/api/projects?search={up}").body["totalCount"], 5)
        by_display = self.rest("GET", f"/api/projects?search=zULU%20{tag}%203").body
        self.assertEqual([p["name"] for p in by_display["items"]], [names[3]])
        self.assertEqual(self.rest("GET", "/api/projects?search=" + uniq("none"))
                         .body["totalCount"], 0)
        # limit: clamped to 500, default for < 1; not a number is a 400.
        self.assertEqual(self.rest("GET", "/api/projects?limit=100000").body["limit"], 500)
        self.assertEqual(self.rest("GET", "/api/projects?limit=0").body["limit"], 50)
        for q in ("limit=abc", "offset=1x", "limit=2.5"):
            with self.subTest(q=q):
                err = self.assertError(self.rest("GET", "/api/projects?" + q), 400)
                self.assertEqual(fields(err), [q.split("=")[0]])

    # ---- update ----
    def test_update_display_name_and_description(self):
        name = self.create(displayName="Old", description="old text")
        body = self.assertStatus(self.rest("PUT", f"/api/projects/{name}", body={
            "displayName": "New", "description": "new text"}), 200)
        self.assertEqual((body["displayName"], body["description"]), ("New", "new text"))
        ann = self.kget(f"/api/v1/namespaces/{name}")["metadata"]["annotations"]
        self.assertEqual(ann["ambient-code.io/display-name"], "New")
        self.assertEqual(ann["ambient-code.io/created-by"], "alice")
        # A field left out stays; null or "" removes it.
        body = self.assertStatus(self.rest("PUT", f"/api/projects/{name}", body={
            "name": name, "description": None}), 200)
        self.assertEqual((body["displayName"], body["description"]), ("New", ""))
        body = self.assertStatus(self.rest("PUT", f"/api/projects/{name}", body={
            "displayName": ""}), 200)
        self.assertEqual(body["displayName"], name)

    def test_update_needs_update_rights_and_a_valid_body(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        self.assertError(self.rest("PUT", f"/api/projects/{ns}", token=BOB,
                                   body={"displayName": "x"}), 403)
        # Editors run sessions; only admins change the project itself.
        self.assertError(self.rest("PUT", f"/api/projects/{ns}", token=CAROL,
                                   body={"displayName": "by carol"}), 403)
        self.assertStatus(self.rest("PUT", f"/api/projects/{ns}", token=ALICE,
                                    body={"displayName": "by alice"}), 200)
        self.assertError(self.cluster.rest("PUT", f"/api/projects/{ns}",
                                           body={"displayName": "x"}), 401)
        for body, field in (({"name": "other"}, "name"), ({"displayName": 1}, "displayName"),
                            ({"description": {}}, "description")):
            with self.subTest(body=body):
                err = self.assertError(self.rest("PUT", f"/api/projects/{ns}", body=body), 400)
                self.assertEqual(fields(err), [field])
        self.assertError(self.rest("PUT", "/api/projects/no-such-ns", token=ADMIN,
                                   body={"displayName": "x"}), 404)

    # ---- delete ----
    def test_delete_needs_project_admin(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}", token=BOB), 403)
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}", token=CAROL), 403)
        self.assertError(self.cluster.rest("DELETE", f"/api/projects/{ns}"), 401)
        self.assertIsNotNone(self.kget(f"/api/v1/namespaces/{ns}"))
        r = self.rest("DELETE", f"/api/projects/{ns}")
        self.assertIn(r.status, (200, 202), r)
        self.assertIn("message", r.body)
        self.gc()
        self.assertIsNone(self.kget(f"/api/v1/namespaces/{ns}"))
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}", token=ADMIN), 404)
        self.assertError(self.rest("GET", f"/api/projects/{ns}", token=ADMIN), 404)

    def test_delete_refuses_unmanaged_namespaces(self):
        self.assertError(self.rest("DELETE", "/api/projects/default", token=ADMIN), 404)
        self.assertIsNotNone(self.kget("/api/v1/namespaces/default"))

    # ---- access ----
    def test_access_by_role(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        want = {ALICE: (True, "admin", True), CAROL: (True, "edit", True),
                BOB: (True, "view", False)}
        for token, (allowed, role, write) in want.items():
            with self.subTest(token=token):
                body = self.assertStatus(self.rest("GET", f"/api/projects/{ns}/access",
                                                   token=token), 200)
                self.assertEqual(body, {"project": ns, "allowed": allowed, "userRole": role,
                                        "canWrite": write})
        other = self.cluster.make_project(admins=[], viewers=[])
        body = self.assertStatus(self.rest("GET", f"/api/projects/{other}/access"), 200)
        self.assertEqual((body["allowed"], body["userRole"], body["canWrite"]),
                         (False, "none", False))
        self.assertError(self.cluster.rest("GET", f"/api/projects/{ns}/access"), 401)
        self.assertError(self.rest("GET", f"/api/projects/{ns}/access", token="bad"), 401)


class Permissions(Base):
    cluster_args = {"live": False, "api_conf": "auth_ttl = 0;"}

    def perms(self, ns, token=ALICE):
        body = self.assertStatus(self.rest("GET", f"/api/projects/{ns}/permissions",
                                           token=token), 200)
        return sorted((p["subjectType"], p["subjectName"], p["role"]) for p in body["items"])

    def grant(self, ns, stype, sname, role, token=ALICE):
        return self.rest("POST", f"/api/projects/{ns}/permissions", token=token,
                         body={"subjectType": stype, "subjectName": sname, "role": role})

    def test_the_creator_is_listed(self):
        ns = self.create()
        self.assertEqual(self.perms(ns), [("user", "alice", "admin")])

    def test_grant_list_and_revoke(self):
        ns = self.create()
        self.assertEqual(self.rest("GET", f"/api/projects/{ns}/access", token=BOB)
                         .body["userRole"], "none")
        body = self.assertStatus(self.grant(ns, "user", "bob", "edit"), 201)
        self.assertEqual((body["subjectType"], body["subjectName"], body["role"]),
                         ("user", "bob", "edit"))
        rb = self.kget(f"{RBAC}/namespaces/{ns}/rolebindings/ambient-permission-edit-bob-user")
        self.assertEqual(rb["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                         "kind": "ClusterRole", "name": "ambient-project-edit"})
        self.assertEqual(rb["metadata"]["labels"]["ambient-code.io/permission"], "true")
        self.assertEqual(self.rest("GET", f"/api/projects/{ns}/access", token=BOB)
                         .body["userRole"], "edit")
        self.assertStatus(self.grant(ns, "group", "team-b", "view"), 201)
        self.assertEqual(self.perms(ns), [("group", "team-b", "view"),
                                          ("user", "alice", "admin"), ("user", "bob", "edit")])
        # A second role for bob is its own binding; revoking removes both.
        self.assertStatus(self.grant(ns, "user", "bob", "view"), 201)
        body = self.assertStatus(self.rest(
            "DELETE", f"/api/projects/{ns}/permissions/user/bob"), 200)
        self.assertIn("message", body)
        self.assertEqual(self.perms(ns), [("group", "team-b", "view"),
                                          ("user", "alice", "admin")])
        self.assertEqual(self.rest("GET", f"/api/projects/{ns}/access", token=BOB)
                         .body["userRole"], "none")
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}/permissions/user/bob"), 404)
        # A user and a group of one name are different subjects.
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}/permissions/user/team-b"),
                         404)
        self.assertStatus(self.rest("DELETE", f"/api/projects/{ns}/permissions/group/team-b"),
                          200)

    def test_a_granted_admin_can_manage_permissions(self):
        ns = self.create()
        self.assertStatus(self.grant(ns, "user", "carol", "admin"), 201)
        self.assertStatus(self.grant(ns, "user", "bob", "view", token=CAROL), 201)
        self.assertIn(("user", "bob", "view"), self.perms(ns, token=CAROL))
        # A group grant reaches its members (alice is in team-a).
        other = self.create(token=CAROL)
        self.assertStatus(self.grant(other, "group", "team-a", "view", token=CAROL), 201)
        self.assertEqual(self.rest("GET", f"/api/projects/{other}/access").body["userRole"],
                         "view")

    def test_duplicate_grant_conflicts(self):
        ns = self.create()
        self.assertStatus(self.grant(ns, "user", "bob", "view"), 201)
        err = self.assertError(self.grant(ns, "user", "bob", "view"), 409)
        self.assertIn("bob", err["error"])
        self.assertError(self.grant(ns, "user", "alice", "admin"), 409)

    def test_only_admins_see_and_change_permissions(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        for token in (BOB, CAROL):
            with self.subTest(token=token):
                self.assertError(self.rest("GET", f"/api/projects/{ns}/permissions",
                                           token=token), 403)
                self.assertError(self.grant(ns, "user", "carol", "admin", token=token), 403)
                self.assertError(self.rest("DELETE",
                                           f"/api/projects/{ns}/permissions/user/alice",
                                           token=token), 403)
        self.assertError(self.cluster.rest("GET", f"/api/projects/{ns}/permissions"), 401)
        self.assertError(self.cluster.rest(
            "POST", f"/api/projects/{ns}/permissions",
            body={"subjectType": "user", "subjectName": "x", "role": "view"}), 401)
        self.assertError(self.cluster.rest("DELETE",
                                           f"/api/projects/{ns}/permissions/user/alice"), 401)
        # make_project's own bindings are not permission bindings: not listed.
        self.assertEqual(self.perms(ns), [])

    def test_grant_validates_each_field(self):
        ns = self.create()
        ok = {"subjectType": "user", "subjectName": "bob", "role": "view"}
        cases = [({"subjectType": "robot"}, "subjectType"), ({"subjectType": None}, "subjectType"),
                 ({"subjectName": ""}, "subjectName"), ({"subjectName": 5}, "subjectName"),
                 ({"subjectName": "a/b"}, "subjectName"), ({"subjectName": ".."}, "subjectName"),
                 ({"subjectName": "a\nb"}, "subjectName"),
                 ({"subjectName": "x" * 254}, "subjectName"),
                 ({"role": "owner"}, "role"), ({"role": "Admin"}, "role"), ({"role": None}, "role")]
        for change, field in cases:
            with self.subTest(change=change):
                body = dict(ok, **change)
                err = self.assertError(self.rest("POST", f"/api/projects/{ns}/permissions",
                                                 body=body), 400)
                self.assertEqual(fields(err), [field])
        for path, field in (("robot/bob", "subjectType"), ("User/bob", "subjectType")):
            with self.subTest(path=path):
                err = self.assertError(self.rest(
                    "DELETE", f"/api/projects/{ns}/permissions/{path}"), 400)
                self.assertEqual(fields(err), [field])
        for path in ("user/..", "user/%2e%2e", "user/a%2Fb", "user/..%2F..%2Fx"):
            with self.subTest(path=path):
                r = self.rest("DELETE", f"/api/projects/{ns}/permissions/{path}")
                self.assertIn(r.status, (400, 404), r)
        self.assertError(self.grant("Bad_Project", "user", "bob", "view"), 400)
        self.assertError(self.rest("GET", "/api/projects/no-such-project/permissions",
                                   token=ADMIN), 404)
        self.assertError(self.grant("no-such-project", "user", "bob", "view", token=ADMIN), 404)

    def test_odd_subject_names_get_distinct_safe_binding_names(self):
        ns = self.create()
        odd = ["Team_A", "team a", "bob@example.com", "Ünïcode", "x" * 200]
        for s in odd:
            self.assertStatus(self.grant(ns, "group", s, "view"), 201)
        items = self.kget(f"{RBAC}/namespaces/{ns}/rolebindings")["items"]
        names = [rb["metadata"]["name"] for rb in items
                 if rb["metadata"]["name"].startswith("ambient-permission-view-")]
        self.assertEqual(len(set(names)), len(odd))
        for n in names:
            self.assertRegex(n, r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
            self.assertLessEqual(len(n), 90)
        listed = [p[1] for p in self.perms(ns) if p[0] == "group"]
        self.assertEqual(sorted(listed), sorted(odd))
        self.assertStatus(self.rest("DELETE",
                                    f"/api/projects/{ns}/permissions/group/bob@example.com"),
                          200)
        self.assertStatus(self.rest("DELETE", f"/api/projects/{ns}/permissions/group/team%20a"),
                          200)
        listed = [p[1] for p in self.perms(ns) if p[0] == "group"]
        self.assertEqual(sorted(listed), sorted(["Team_A", "Ünïcode", "x" * 200]))

    def test_service_account_users_are_bound_as_service_accounts(self):
        ns = self.create()
        sa = f"system:serviceaccount:{ns}:bot"
        self.assertStatus(self.grant(ns, "user", sa, "edit"), 201)
        rbs = self.kget(f"{RBAC}/namespaces/{ns}/rolebindings")["items"]
        subj = [s for rb in rbs for s in rb.get("subjects", []) if s.get("name") == "bot"]
        self.assertEqual(subj, [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}])
        self.assertIn(("user", sa, "edit"), self.perms(ns))
        token = self.cluster.service_account_token(ns, "bot")
        self.assertEqual(self.rest("GET", f"/api/projects/{ns}/access", token=token)
                         .body["userRole"], "edit")
        self.assertStatus(self.rest("DELETE", f"/api/projects/{ns}/permissions/user/{sa}"), 200)
        self.assertEqual(self.perms(ns), [("user", "alice", "admin")])


class Settings(Base):
    def url(self, ns):
        return f"/api/projects/{ns}/project-settings"

    def test_put_creates_then_replaces(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        self.assertError(self.rest("GET", self.url(ns)), 404)
        self.assertError(self.rest("GET", self.url(ns), token=BOB), 404)
        r = self.rest("PUT", self.url(ns), body={"defaultModel": "claude-x",
                                                 "defaultTimeout": 600})
        body = self.assertStatus(r, 201)
        self.assertEqual(body["metadata"]["name"], "projectsettings")
        self.assertEqual(body["spec"]["defaultModel"], "claude-x")
        # set_defaults ran before the write.
        self.assertEqual(body["spec"]["runnerSecretsName"], "ambient-runner-secrets")
        got = self.assertStatus(self.rest("GET", self.url(ns), token=BOB), 200)
        self.assertEqual(got["spec"]["defaultTimeout"], 600)
        # A whole object with spec, and the stored metadata is kept.
        self.cluster.kube.patch(f"{PS}/namespaces/{ns}/projectsettings/projectsettings",
                                {"metadata": {"labels": {"keep": "me"}}})
        body = self.assertStatus(self.rest("PUT", self.url(ns), body={
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
            "metadata": {"name": "projectsettings"}, "spec": {"defaultModel": "claude-y"}}), 200)
        self.assertEqual(body["spec"]["defaultModel"], "claude-y")
        self.assertNotIn("defaultTimeout", body["spec"])
        self.assertEqual(body["metadata"]["labels"]["keep"], "me")

    def test_invalid_spec_is_422_naming_every_field(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=[])
        err = self.assertError(self.rest("PUT", self.url(ns), body={
            "defaultTimeout": 0, "groupAccess": [{"groupName": "g", "role": "owner"}]}), 422)
        self.assertIn("spec.defaultTimeout", fields(err))
        self.assertIn("spec.groupAccess[0].role", fields(err))
        err = self.assertError(self.rest("PUT", self.url(ns), body={
            "metadata": {"name": "other"}, "spec": {}}), 422)
        self.assertEqual(fields(err), ["metadata.name"])
        err = self.assertError(self.rest("PUT", self.url(ns), body={
            "runnerSecretsName": "Bad_Name"}), 422)
        self.assertEqual(fields(err), ["spec.runnerSecretsName"])
        err = self.assertError(self.rest("PUT", self.url(ns), body={"spec": []}), 400)
        self.assertEqual(fields(err), ["spec"])
        err = self.assertError(self.rest("PUT", self.url(ns), body={
            "metadata": {"namespace": "elsewhere"}, "spec": {}}), 400)
        self.assertEqual(fields(err), ["metadata.namespace"])
        self.assertIsNone(self.kget(f"{PS}/namespaces/{ns}/projectsettings/projectsettings"))

    def test_rights(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        self.assertError(self.rest("PUT", self.url(ns), token=BOB, body={}), 403)
        self.assertError(self.rest("PUT", self.url(ns), token=CAROL,
                                   body={"defaultModel": "m"}), 403)
        self.assertStatus(self.rest("PUT", self.url(ns), token=ALICE,
                                    body={"defaultModel": "m"}), 201)
        self.assertError(self.cluster.rest("GET", self.url(ns)), 401)
        self.assertError(self.cluster.rest("PUT", self.url(ns), body={}), 401)
        other = self.cluster.make_project(admins=[], viewers=[])
        self.assertError(self.rest("GET", self.url(other)), 403)
        self.assertError(self.rest("GET", self.url("no-such-ns"), token=ADMIN), 404)
        self.assertError(self.rest("PUT", self.url("no-such-ns"), token=ADMIN, body={}), 404)

    def test_only_admins_write_settings(self):
        """groupAccess makes the controller create RoleBindings, so an editor
        who could write the settings could make their own group admin: the
        write is admin's, through this route and the generic one alike."""
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=[])
        grant = {"groupAccess": [{"groupName": "carols-group", "role": "admin"}]}
        self.assertError(self.rest("PUT", self.url(ns), token=CAROL, body=grant), 403)
        self.assertStatus(self.rest("PUT", self.url(ns), body=grant), 201)
        self.assertError(self.rest("PUT", self.url(ns), token=CAROL,
                                   body=dict(grant, defaultModel="m")), 403)
        self.assertStatus(self.rest("PUT", self.url(ns), body=dict(grant, defaultModel="m")), 200)
        generic = f"/api/projects/{ns}/projectsettings/projectsettings"
        self.assertError(self.rest("PATCH", generic, token=CAROL, body={"spec": {
            "groupAccess": [{"groupName": "carols-group", "role": "admin"},
                            {"groupName": "team-a", "role": "admin"}]}},
            ctype="application/merge-patch+json"), 403)
        self.assertStatus(self.rest("GET", generic, token=CAROL), 200)

    def test_only_admins_change_repositories(self):
        """spec.repositories lets a forge's users start sessions with the
        project's credentials: an editor cannot change it, an admin can, and
        so can no one whose role grants `update projectsettings` without the
        right to manage access (create rolebindings)."""
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=[])
        repos = {"repositories": ["https://github.com/org/repo"]}
        self.assertError(self.rest("PUT", self.url(ns), token=CAROL, body=repos), 403)
        body = self.assertStatus(self.rest("PUT", self.url(ns), body=repos), 201)
        self.assertEqual(body["spec"]["repositories"], repos["repositories"])
        # A settings writer who does not manage access (bob, a custom role).
        self.cluster.ok(self.cluster.kube.post(f"{RBAC}/namespaces/{ns}/roles", {
            "metadata": {"name": "settings-writer"},
            "rules": [{"apiGroups": ["vteam.ambient-code"], "resources": ["projectsettings"],
                       "verbs": ["get", "update"]}]}), 201)
        self.cluster.ok(self.cluster.kube.post(f"{RBAC}/namespaces/{ns}/rolebindings", {
            "metadata": {"name": "settings-writer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "settings-writer"},
            "subjects": [{"kind": "User", "name": "bob",
                          "apiGroup": "rbac.authorization.k8s.io"}]}), 201)
        widened = {"repositories": repos["repositories"] + ["https://github.com/bob/own"]}
        self.assertError(self.rest("PUT", self.url(ns), token=BOB, body=widened), 403)
        self.assertError(self.rest("PUT", self.url(ns), token=BOB, body={}), 403)
        got = self.assertStatus(self.rest("PUT", self.url(ns), token=BOB,
                                          body=dict(repos, defaultModel="m")), 200)
        self.assertEqual(got["spec"]["repositories"], repos["repositories"])
        body = self.assertStatus(self.rest("PUT", self.url(ns), body=widened), 200)
        self.assertEqual(body["spec"]["repositories"], widened["repositories"])

    def test_bad_repositories_are_422_one_per_entry(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=[])
        err = self.assertError(self.rest("PUT", self.url(ns), body={"repositories": [
            "https://github.com/ok/one", "https://user:secret@github.com/a/b", 7,
            "https://github.com/ok/one"]}), 422)
        self.assertEqual(fields(err), ["spec.repositories[1]", "spec.repositories[2]",
                                       "spec.repositories[3]"])
        err = self.assertError(self.rest("PUT", self.url(ns), body={
            "repositories": ["https://h/o/r%d" % i for i in range(101)]}), 422)
        self.assertEqual(fields(err), ["spec.repositories"])
        self.assertIsNone(self.kget(f"{PS}/namespaces/{ns}/projectsettings/projectsettings"))

    def test_stale_resource_version_conflicts(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=[])
        first = self.assertStatus(self.rest("PUT", self.url(ns), body={"defaultModel": "a"}),
                                  201)
        rv = first["metadata"]["resourceVersion"]
        self.assertStatus(self.rest("PUT", self.url(ns), body={"defaultModel": "b"}), 200)
        self.assertError(self.rest("PUT", self.url(ns), body={
            "metadata": {"resourceVersion": rv}, "spec": {"defaultModel": "c"}}), 409)

    def test_legacy_credentials_are_never_answered_or_logged(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        value = "sk-legacy-" + uniq("v")
        r = self.rest("PUT", self.url(ns), body={"anthropicApiKey": value,
                                                 "defaultModel": "m"})
        self.assertStatus(r, 201)
        self.assertNotIn(value.encode(), r.raw)
        self.assertNotIn("anthropicApiKey", r.body["spec"])
        r = self.rest("GET", self.url(ns), token=BOB)
        self.assertNotIn(value.encode(), r.raw)
        self.assertNotIn(value, self.cluster.log_text())


class RunnerSecrets(Base):
    def url(self, ns):
        return f"/api/projects/{ns}/runner-secrets"

    def secret(self, ns, name="ambient-runner-secrets"):
        return self.kget(f"/api/v1/namespaces/{ns}/secrets/{name}")

    def test_put_replaces_and_get_shows_keys_only(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        self.assertEqual(self.assertStatus(self.rest("GET", self.url(ns)), 200),
                         {"secretName": "ambient-runner-secrets", "keys": []})
        v1, v2 = "sk-ant-" + uniq("one"), "ghp_" + uniq("two")
        r = self.rest("PUT", self.url(ns), body={"data": {"ANTHROPIC_API_KEY": v1,
                                                          "GITHUB_TOKEN": v2}})
        self.assertEqual(self.assertStatus(r, 200),
                         {"secretName": "ambient-runner-secrets",
                          "keys": ["ANTHROPIC_API_KEY", "GITHUB_TOKEN"]})
        self.assertNotIn(v1.encode(), r.raw)
        self.assertNotIn(base64.b64encode(v1.encode()), r.raw)
        s = self.secret(ns)
        self.assertEqual(base64.b64decode(s["data"]["ANTHROPIC_API_KEY"]).decode(), v1)
        self.assertEqual(s["metadata"]["labels"]["ambient-code.io/runner-secrets"], "true")
        for token in (ALICE, CAROL):
            r = self.rest("GET", self.url(ns), token=token)
            self.assertEqual(r.body["keys"], ["ANTHROPIC_API_KEY", "GITHUB_TOKEN"])
            self.assertNotIn(v1.encode(), r.raw)
            self.assertNotIn(base64.b64encode(v1.encode()), r.raw)
        # PUT replaces the whole data.
        v3 = "x" * 65536
        self.assertStatus(self.rest("PUT", self.url(ns), token=CAROL,
                                    body={"data": {"_OTHER1": v3}}), 200)
        self.assertEqual(sorted(self.secret(ns)["data"]), ["_OTHER1"])
        self.assertEqual(self.rest("GET", self.url(ns)).body["keys"], ["_OTHER1"])
        self.assertStatus(self.rest("PUT", self.url(ns), body={"data": {}}), 200)
        self.assertEqual(self.secret(ns).get("data") or {}, {})
        log = self.cluster.log_text()
        for v in (v1, v2):
            self.assertNotIn(v, log)
            self.assertNotIn(base64.b64encode(v.encode()).decode(), log)

    def test_rights(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=["bob"])
        self.assertError(self.rest("GET", self.url(ns), token=BOB), 403)
        self.assertError(self.rest("PUT", self.url(ns), token=BOB,
                                   body={"data": {"A": "b"}}), 403)
        self.assertError(self.rest("GET", self.url(ns), token=CAROL), 403)
        self.assertError(self.cluster.rest("GET", self.url(ns)), 401)
        self.assertError(self.cluster.rest("PUT", self.url(ns), body={"data": {}}), 401)
        self.assertError(self.rest("GET", self.url(ns), token="bad-token"), 401)
        self.assertIsNone(self.secret(ns))
        self.assertError(self.rest("GET", self.url("no-such-ns"), token=ADMIN), 404)
        self.assertError(self.rest("GET", self.url("default"), token=ADMIN), 404)
        self.assertError(self.rest("PUT", self.url("no-such-ns"), token=ADMIN,
                                   body={"data": {}}), 404)

    def test_invalid_data_is_refused_without_quoting_values(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=[])
        value = "sk-never-" + uniq("q")
        cases = [({}, "data"), ({"data": []}, "data"), ({"data": "x"}, "data"),
                 ({"data": {"1ABC": value}}, "data"), ({"data": {"A-B": value}}, "data"),
                 ({"data": {"A B": value}}, "data"), ({"data": {"": value}}, "data"),
                 ({"data": {value: "x"}}, "data"),
                 ({"data": {"OK": 5}}, "data.OK"), ({"data": {"OK": None}}, "data.OK"),
                 ({"data": {"OK": "y" * 65537}}, "data.OK")]
        for body, field in cases:
            with self.subTest(body=str(body)[:60]):
                r = self.rest("PUT", self.url(ns), body=body)
                err = self.assertError(r, 400)
                self.assertEqual(fields(err), [field])
                self.assertNotIn(value.encode(), r.raw)
        many = {f"K{i}": "v" for i in range(257)}
        self.assertError(self.rest("PUT", self.url(ns), body={"data": many}), 400)
        self.assertIsNone(self.secret(ns))
        self.assertNotIn(value, self.cluster.log_text())

    def test_patch_merges_keys_and_null_removes_one(self):
        ns = self.cluster.make_project(admins=["alice"], editors=["carol"], viewers=["bob"])
        v1, v2, v3 = ("sk-ant-" + uniq("one"), "ghp_" + uniq("two"), "glpat-" + uniq("three"))
        # On no Secret yet, PATCH creates it.
        r = self.rest("PATCH", self.url(ns), body={"data": {"ANTHROPIC_API_KEY": v1}})
        self.assertEqual(self.assertStatus(r, 200)["keys"], ["ANTHROPIC_API_KEY"])
        r = self.rest("PATCH", self.url(ns), token=CAROL,
                      body={"data": {"GITHUB_TOKEN": v2, "GITLAB_TOKEN": v3}})
        self.assertEqual(self.assertStatus(r, 200)["keys"],
                         ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN"])
        self.assertNotIn(v2.encode(), r.raw)
        data = self.secret(ns)["data"]
        self.assertEqual(base64.b64decode(data["ANTHROPIC_API_KEY"]).decode(), v1)
        self.assertEqual(base64.b64decode(data["GITLAB_TOKEN"]).decode(), v3)
        # null removes a key; the others stay, values untouched.
        r = self.rest("PATCH", self.url(ns), body={"data": {"GITHUB_TOKEN": None}})
        self.assertEqual(self.assertStatus(r, 200)["keys"], ["ANTHROPIC_API_KEY", "GITLAB_TOKEN"])
        data = self.secret(ns)["data"]
        self.assertEqual(base64.b64decode(data["ANTHROPIC_API_KEY"]).decode(), v1)
        # Rights and validation as for PUT; the merged whole is bounded.
        self.assertError(self.rest("PATCH", self.url(ns), token=BOB,
                                   body={"data": {"A": "b"}}), 403)
        err = self.assertError(self.rest("PATCH", self.url(ns), body={"data": {"OK": 5}}), 400)
        self.assertEqual(fields(err), ["data.OK"])
        # 64 KiB values are 87,384 bytes base64-encoded: the 12th passes 1 MiB.
        for i in range(11):
            self.assertStatus(self.rest("PATCH", self.url(ns),
                                        body={"data": {f"BIG{i}": "y" * 65536}}), 200)
        err = self.assertError(self.rest("PATCH", self.url(ns),
                                         body={"data": {"BIG11": "y" * 65536}}), 413)
        self.assertEqual(fields(err), ["data"])
        self.assertEqual(len(self.secret(ns)["data"]), 13)
        log = self.cluster.log_text()
        for v in (v1, v2, v3):
            self.assertNotIn(v, log)

    def test_the_settings_name_the_secret(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=[])
        self.assertStatus(self.rest("PUT", f"/api/projects/{ns}/project-settings",
                                    body={"runnerSecretsName": "custom-keys"}), 201)
        self.assertEqual(self.rest("GET", self.url(ns)).body["secretName"], "custom-keys")
        self.assertStatus(self.rest("PUT", self.url(ns), body={"data": {"K": "value-1"}}), 200)
        self.assertIsNotNone(self.secret(ns, "custom-keys"))
        self.assertIsNone(self.secret(ns))

    def test_an_existing_secret_keeps_its_metadata(self):
        ns = self.cluster.make_project(admins=["alice"], viewers=[])
        self.cluster.kube.post(f"/api/v1/namespaces/{ns}/secrets", {
            "metadata": {"name": "ambient-runner-secrets", "labels": {"team": "x"},
                         "annotations": {"note": "kept"}},
            "data": {"OLD": base64.b64encode(b"old").decode()}})
        self.assertEqual(self.rest("GET", self.url(ns)).body["keys"], ["OLD"])
        self.assertStatus(self.rest("PUT", self.url(ns), body={"data": {"NEW": "new"}}), 200)
        s = self.secret(ns)
        self.assertEqual(sorted(s["data"]), ["NEW"])
        self.assertEqual(s["metadata"]["labels"]["team"], "x")
        self.assertEqual(s["metadata"]["labels"]["ambient-code.io/runner-secrets"], "true")
        self.assertEqual(s["metadata"]["annotations"]["note"], "kept")


class CachedReviews(Base):
    """The default review cache (auth_ttl 30 s)."""

    def test_a_revoked_admin_cannot_delete_from_the_cache(self):
        ns = uniq("cached")
        self.cluster.ensure_namespace(ns)  # not managed yet
        binding = uniq("test-admin")
        self.cluster.ok(self.cluster.kube.post(f"{RBAC}/namespaces/{ns}/rolebindings", {
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "ambient-project-admin"},
            "subjects": [{"kind": "User", "name": "alice",
                          "apiGroup": "rbac.authorization.k8s.io"}]}), 201)
        # Caches "alice may delete projectsettings in ns" (404: not a project).
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}"), 404)
        self.cluster.kube.patch(f"/api/v1/namespaces/{ns}",
                                {"metadata": {"labels": {"ambient-code.io/managed": "true"}}})
        self.cluster.kube.delete(f"{RBAC}/namespaces/{ns}/rolebindings/{binding}")
        self.assertError(self.rest("DELETE", f"/api/projects/{ns}"), 403)
        ns_obj = self.kget(f"/api/v1/namespaces/{ns}")
        self.assertIsNone(ns_obj["metadata"].get("deletionTimestamp"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
