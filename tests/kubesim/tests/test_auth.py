#!/usr/bin/python3
"""Authentication and authorization: static token file, 401/403 bodies,
RBAC from stored Roles/Bindings (users, groups, service accounts,
resourceNames, subresources, aggregation), SelfSubjectAccessReview,
SubjectAccessReview, TokenReview and TokenRequest."""

import calendar
import os
import tempfile
import time

from harness import Client, KubesimTest, main, widget, wpath

TOKENS = '''# token,user,uid,groups
root-token,root,uid-root,"system:masters"
alice-token,alice,uid-alice,"devs,qa"
bob-token,bob,uid-bob
carol-token,carol,uid-carol,devs
'''
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _token_file():
    fd, path = tempfile.mkstemp(prefix="kubesim-tokens-", suffix=".csv")
    with os.fdopen(fd, "w") as f:
        f.write(TOKENS)
    return path


class AuthTest(KubesimTest):
    @classmethod
    def setUpClass(cls):
        cls.token_file = _token_file()
        cls.server_args = ("--token-auth-file", cls.token_file)
        super().setUpClass()
        cls.c.token = "root-token"

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        os.unlink(cls.token_file)

    def as_user(self, token):
        c = Client(self.ks.port, token)
        self.addCleanup(c.close)
        return c

    def role(self, ns, name, rules):
        r = self.c.post(f"{RBAC}/namespaces/{ns}/roles", {"metadata": {"name": name},
                                                          "rules": rules})
        self.assertEqual(r.status, 201, r)

    def bind(self, ns, name, role, subjects, kind="Role"):
        r = self.c.post(f"{RBAC}/namespaces/{ns}/rolebindings", {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": subjects})
        self.assertEqual(r.status, 201, r)

    def test_unauthenticated(self):
        for token in ("", "nope", "kubesim-admin"):
            r = self.c.get("/api/v1/namespaces", token=token)
            self.assertEqual(r.body, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                      "status": "Failure", "message": "Unauthorized",
                                      "reason": "Unauthorized", "code": 401})
            self.assertEqual(r.status, 401)

    def test_health_and_discovery(self):
        self.assertEqual(self.c.get("/healthz", token="").status, 200)
        alice = self.as_user("alice-token")
        for path in ("/api", "/api/v1", "/apis", "/apis/test.ambient-code/v1alpha1", "/version"):
            self.assertEqual(alice.get(path).status, 200, path)

    def test_forbidden_messages(self):
        ns = self.make_ns()
        self.c.post(wpath(ns), widget("x"))
        alice = self.as_user("alice-token")
        r = alice.get(wpath(ns, "x"))
        body = self.assertStatus(r, 403, "Forbidden")
        self.assertEqual(body["message"], 'widgets.test.ambient-code "x" is forbidden: User '
                         '"alice" cannot get resource "widgets" in API group "test.ambient-code" '
                         f'in the namespace "{ns}"')
        self.assertEqual(body["details"], {"name": "x", "group": "test.ambient-code",
                                           "kind": "widgets"})
        r = alice.get(wpath(ns))
        self.assertEqual(r.body["message"], 'widgets.test.ambient-code is forbidden: User '
                         '"alice" cannot list resource "widgets" in API group "test.ambient-code" '
                         f'in the namespace "{ns}"')
        r = alice.get("/api/v1/nodes-nope")
        self.assertEqual(r.status, 403)
        r = alice.get("/apis/test.ambient-code/v1/gadgets/g")
        self.assertEqual(r.body["message"], 'gadgets.test.ambient-code "g" is forbidden: User '
                         '"alice" cannot get resource "gadgets" in API group "test.ambient-code" '
                         'at the cluster scope')
        r = alice.patch(wpath(ns, "x") + "/status", {"status": {}})
        self.assertIn('cannot patch resource "widgets/status"', r.body["message"])
        r = alice.get("/kubesim/rv")
        self.assertEqual(r.status, 403)

    def test_role_binding_user_and_group(self):
        ns = self.make_ns()
        for n in ("w1", "w2"):
            self.c.post(wpath(ns), widget(n))
        self.role(ns, "read-w1", [{"apiGroups": ["test.ambient-code"], "resources": ["widgets"],
                                   "verbs": ["get"], "resourceNames": ["w1"]}])
        self.bind(ns, "alice-w1", "read-w1", [{"kind": "User", "name": "alice",
                                               "apiGroup": "rbac.authorization.k8s.io"}])
        alice = self.as_user("alice-token")
        carol = self.as_user("carol-token")
        self.assertEqual(alice.get(wpath(ns, "w1")).status, 200)
        self.assertEqual(alice.get(wpath(ns, "w2")).status, 403, "resourceNames")
        self.assertEqual(alice.get(wpath(ns)).status, 403, "list is another verb")
        self.assertEqual(carol.get(wpath(ns, "w1")).status, 403)
        self.role(ns, "devs", [{"apiGroups": ["test.ambient-code"], "resources": ["widgets"],
                                "verbs": ["get", "list", "watch"]},
                               {"apiGroups": ["test.ambient-code"],
                                "resources": ["widgets/status"], "verbs": ["update", "patch"]}])
        self.bind(ns, "devs", "devs", [{"kind": "Group", "name": "devs"}])
        self.assertEqual(carol.get(wpath(ns)).status, 200)
        self.assertEqual(carol.patch(wpath(ns, "w2") + "/status",
                                     {"status": {"phase": "ok"}}).status, 200)
        self.assertEqual(carol.patch(wpath(ns, "w2"), {"spec": {"size": 3}}).status, 403,
                         "status rule does not grant the main resource")
        other = self.make_ns()
        self.assertEqual(carol.get(wpath(other)).status, 403, "bindings are per namespace")
        self.assertEqual(self.as_user("bob-token").get(wpath(ns)).status, 403)

    def test_builtin_cluster_roles_and_aggregation(self):
        ns = self.make_ns()
        self.c.post(wpath(ns), widget("w"))
        self.bind(ns, "bob-view", "view", [{"kind": "User", "name": "bob"}], kind="ClusterRole")
        bob = self.as_user("bob-token")
        self.assertEqual(bob.get(f"/api/v1/namespaces/{ns}/pods").status, 200)
        self.assertEqual(bob.get(f"/api/v1/namespaces/{ns}/secrets").status, 403)
        self.assertEqual(bob.get(wpath(ns)).status, 403, "CRs need an aggregated role")
        r = self.c.post(f"{RBAC}/clusterroles", {
            "metadata": {"name": "widgets-view", "labels": {
                "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": ["test.ambient-code"], "resources": ["widgets"],
                       "verbs": ["get", "list", "watch"]}]})
        self.assertEqual(r.status, 201)
        self.assertEqual(bob.get(wpath(ns)).status, 200, "aggregated into view")
        self.assertEqual(bob.post(wpath(ns), widget("new")).status, 403)
        # edit includes view; admin includes edit; cluster-admin is everything.
        self.bind(ns, "alice-admin", "admin", [{"kind": "User", "name": "alice"}],
                  kind="ClusterRole")
        alice = self.as_user("alice-token")
        self.assertEqual(alice.get(wpath(ns)).status, 200)
        self.assertEqual(alice.post(f"/api/v1/namespaces/{ns}/configmaps",
                                    {"metadata": {"name": "c"}}).status, 201)
        self.assertEqual(alice.post(f"{RBAC}/namespaces/{ns}/roles",
                                    {"metadata": {"name": "r"}, "rules": []}).status, 201)
        r = self.c.post(f"{RBAC}/clusterrolebindings", {
            "metadata": {"name": "carol-cluster-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "carol"}]})
        self.assertEqual(r.status, 201)
        carol = self.as_user("carol-token")
        self.assertEqual(carol.get("/apis/test.ambient-code/v1/gadgets").status, 200)
        self.c.delete(f"{RBAC}/clusterrolebindings/carol-cluster-admin")
        self.assertEqual(carol.get("/apis/test.ambient-code/v1/gadgets").status, 403)

    def test_self_subject_access_review(self):
        ns = self.make_ns()
        self.role(ns, "jobs", [{"apiGroups": ["batch"], "resources": ["*"], "verbs": ["*"]}])
        self.bind(ns, "rb", "jobs", [{"kind": "User", "name": "alice"}])
        alice = self.as_user("alice-token")

        def ssar(attrs):
            r = alice.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.body["kind"], "SelfSubjectAccessReview")
            self.assertEqual(r.body["spec"]["resourceAttributes"], attrs)
            return r.body["status"]

        st = ssar({"namespace": ns, "verb": "create", "group": "batch", "resource": "jobs"})
        self.assertEqual(st["allowed"], True)
        self.assertEqual(st["reason"], f'RBAC: allowed by RoleBinding "rb/{ns}" of Role "jobs" '
                         f'to User "alice"')
        st = ssar({"namespace": ns, "verb": "create", "group": "", "resource": "pods"})
        self.assertEqual(st, {"allowed": False})
        st = ssar({"namespace": "elsewhere", "verb": "get", "group": "batch", "resource": "jobs"})
        self.assertFalse(st["allowed"])

    def test_self_subject_review_says_who_the_caller_is(self):
        r = self.as_user("alice-token").post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body["kind"], "SelfSubjectReview")
        info = r.body["status"]["userInfo"]
        self.assertEqual(info["username"], "alice")
        self.assertIn("system:authenticated", info["groups"])
        r = self.as_user("no-such-token").post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
        self.assertEqual(r.status, 401, r)

    def test_subject_access_review(self):
        ns = self.make_ns()
        self.bind(ns, "carol-edit", "edit", [{"kind": "User", "name": "carol"}],
                  kind="ClusterRole")
        r = self.c.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "spec": {"user": "carol", "groups": ["devs"], "resourceAttributes": {
                "namespace": ns, "verb": "delete", "group": "", "resource": "secrets"}}})
        self.assertEqual(r.status, 201)
        self.assertTrue(r.body["status"]["allowed"])
        r = self.as_user("bob-token").post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews", {"spec": {}})
        self.assertEqual(r.status, 403, "SAR needs permission")

    def test_token_review_static(self):
        path = "/apis/authentication.k8s.io/v1/tokenreviews"
        r = self.c.post(path, {"spec": {"token": "alice-token"}})
        self.assertEqual(r.status, 201)
        st = r.body["status"]
        self.assertTrue(st["authenticated"])
        self.assertEqual(st["user"], {"username": "alice", "uid": "uid-alice",
                                      "groups": ["devs", "qa", "system:authenticated"]})
        self.assertEqual(st["audiences"], ["https://kubernetes.default.svc.cluster.local"])
        r = self.c.post(path, {"spec": {"token": "bad"}})
        self.assertNotIn("authenticated", r.body["status"])
        self.assertTrue(r.body["status"]["error"])
        r = self.c.post(path, {"spec": {"token": "alice-token", "audiences": ["other"]}})
        self.assertNotIn("authenticated", r.body["status"], "static tokens: API audiences only")
        self.assertEqual(self.as_user("bob-token").post(path, {"spec": {"token": "x"}}).status,
                         403)

    def test_token_request(self):
        ns = self.make_ns()
        self.c.post(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "runner"}})
        path = f"/api/v1/namespaces/{ns}/serviceaccounts/runner/token"
        r = self.c.post(path, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": 1200}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body["kind"], "TokenRequest")
        token = r.body["status"]["token"]
        exp = calendar.timegm(time.strptime(r.body["status"]["expirationTimestamp"],
                                            "%Y-%m-%dT%H:%M:%SZ"))
        self.assertAlmostEqual(exp - time.time(), 1200, delta=30)
        self.assertEqual(r.body["spec"]["audiences"],
                         ["https://kubernetes.default.svc.cluster.local"])
        # It authenticates as the service account...
        tr = self.c.post("/apis/authentication.k8s.io/v1/tokenreviews",
                         {"spec": {"token": token}}).body["status"]
        self.assertTrue(tr["authenticated"])
        self.assertEqual(tr["user"]["username"], f"system:serviceaccount:{ns}:runner")
        self.assertEqual(tr["user"]["groups"], ["system:serviceaccounts",
                                                f"system:serviceaccounts:{ns}",
                                                "system:authenticated"])
        # ...and RBAC applies to it.
        sa = self.as_user(token)
        self.c.post(wpath(ns), widget("mine"))
        self.assertEqual(sa.get(wpath(ns, "mine")).status, 403)
        self.role(ns, "session", [{"apiGroups": ["test.ambient-code"],
                                   "resources": ["widgets"], "verbs": ["get"],
                                   "resourceNames": ["mine"]}])
        self.bind(ns, "session", "session", [{"kind": "ServiceAccount", "name": "runner"}])
        self.assertEqual(sa.get(wpath(ns, "mine")).status, 200)
        r = sa.get(wpath(ns))
        self.assertEqual(r.body["message"], f'widgets.test.ambient-code is forbidden: User '
                         f'"system:serviceaccount:{ns}:runner" cannot list resource "widgets" in '
                         f'API group "test.ambient-code" in the namespace "{ns}"')
        # Too short a lifetime is invalid.
        r = self.c.post(path, {"spec": {"expirationSeconds": 60}})
        body = self.assertStatus(r, 422, "Invalid")
        self.assertIn("spec.expirationSeconds: Invalid value: 60: may not specify a duration "
                      "less than 10 minutes", body["message"])
        # A token for another audience is not an API token.
        r = self.c.post(path, {"spec": {"audiences": ["ambient-backend"]}})
        other = r.body["status"]["token"]
        self.assertEqual(self.as_user(other).get(wpath(ns, "mine")).status, 401)
        tr = self.c.post("/apis/authentication.k8s.io/v1/tokenreviews", {
            "spec": {"token": other, "audiences": ["ambient-backend"]}}).body["status"]
        self.assertTrue(tr["authenticated"])
        self.assertEqual(tr["audiences"], ["ambient-backend"])
        # Deleting the service account invalidates its tokens.
        self.c.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/runner")
        self.assertEqual(self.as_user(token).get(wpath(ns, "mine")).status, 401)
        r = self.c.post(path, {"spec": {}})
        self.assertStatus(r, 404, "NotFound", 'serviceaccounts "runner" not found')


class DefaultAdminTest(KubesimTest):
    def test_default_admin_token(self):
        r = self.c.post("/apis/authentication.k8s.io/v1/tokenreviews",
                        {"spec": {"token": "kubesim-admin"}})
        self.assertIn("system:masters", r.body["status"]["user"]["groups"])
        self.assertEqual(self.c.get("/api/v1/namespaces", token="other").status, 401)


if __name__ == "__main__":
    main()
