"""Routes other plugins register are served by the api plugin: the fixture
plugin (tests/api/plugins/routes_fixture.c, loaded after api) reads params,
query, headers, body and the caller's name through struct amb_request_ops,
lists ConfigMaps as the caller (so Kubernetes RBAC decides), and answers; a
handler that answers nothing gets 204, one that returns an error code gets
that error's status; a pattern clashing with a built-in route is not served
and says so in the log. Run with /usr/bin/python3."""
import os
import unittest

from apiharness import ALICE, BOB, ApiTest

FIXTURE = os.environ["FIXTURE_PLUGIN"]


class PluginRoutes(ApiTest):
    cluster_args = {"live": False, "extra_plugins": (FIXTURE,)}

    def test_public_route_reads_params_query_and_headers(self):
        r = self.cluster.rest("GET", "/api/fixture/hello/world?q=a%20b",
                              headers={"X-Fixture": "yes"})
        body = self.assertStatus(r, 200)
        self.assertEqual(body, {"hello": "world", "q": "a b", "user": None, "method": "GET",
                                "path": "/api/fixture/hello/world", "agent": "yes"})
        r = self.cluster.rest("GET", "/api/fixture/hello/world", token=ALICE)
        self.assertEqual(self.assertStatus(r, 200)["user"], None,
                         "public routes do not look the caller up")

    def test_body_and_user(self):
        r = self.cluster.rest("POST", "/api/fixture/echo", token=ALICE, body={"a": [1, 2]})
        self.assertEqual(self.assertStatus(r, 201), {"got": {"a": [1, 2]}, "user": "alice"})
        r = self.cluster.rest("POST", "/api/fixture/echo", token=ALICE, raw=b"{nope",
                              ctype="application/json")
        self.assertIn("malformed JSON", self.assertError(r, 400)["error"])
        r = self.cluster.rest("POST", "/api/fixture/echo", token=ALICE, raw=b"{}",
                              ctype="text/plain")
        self.assertError(r, 400)
        self.assertError(self.cluster.rest("POST", "/api/fixture/echo", body={}), 401)

    def test_kubernetes_calls_run_as_the_caller(self):
        ns = self.cluster.make_project(admins=("alice",), viewers=())
        self.cluster.ok(self.cluster.kube.post(f"/api/v1/namespaces/{ns}/configmaps",
                                               {"metadata": {"name": "one"}}), 201)
        path = f"/api/fixture/namespaces/{ns}/configmaps"
        # ambient-project-admin grants nothing on ConfigMaps: alice and bob
        # alike are refused by Kubernetes, not by the plugin.
        self.assertError(self.cluster.rest("GET", path, token=ALICE), 403)
        self.cluster.ok(self.cluster.kube.post(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
            {"metadata": {"name": "cm-read"},
             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]}), 201)
        self.cluster.ok(self.cluster.kube.post(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
            {"metadata": {"name": "cm-read"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": "cm-read"},
             "subjects": [{"kind": "User", "name": "alice",
                           "apiGroup": "rbac.authorization.k8s.io"}]}), 201)
        self.assertEqual(self.assertStatus(self.cluster.rest("GET", path, token=ALICE), 200),
                         {"count": 1})
        self.assertError(self.cluster.rest("GET", path, token=BOB), 403)

    def test_handlers_that_do_not_answer(self):
        r = self.cluster.rest("GET", "/api/fixture/fail", token=ALICE)
        self.assertError(r, 403)
        r = self.cluster.rest("GET", "/api/fixture/silent", token=ALICE)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.raw, b"")

    def test_a_clashing_pattern_is_not_served_and_is_logged(self):
        r = self.cluster.rest("GET", "/health")
        self.assertEqual(self.assertStatus(r, 200), {"status": "healthy"})
        rec = self.cluster.daemon.wait_for(
            lambda l: l.get("msg") == "a plugin's route is not served")
        self.assertEqual(rec["pattern"], "/health")


if __name__ == "__main__":
    unittest.main()
