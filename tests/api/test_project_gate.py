"""Every /api/projects/:project/... route needs a project: a namespace
labelled ambient-code.io/managed=true (api/project_gate.c). The REST routes
(generic kinds, session extras, permissions, settings, a plugin's route)
and the live ones answer 'project "x" not found' for a namespace that is not
one — kube-system, default, a plain namespace, a missing one — even to a
caller who has rights there, and write nothing. A caller without rights
gets what they get in a real project where they have none, so the answer
tells them nothing about which namespaces exist. alice is admin of the
project and of the plain namespace, carol has no rights anywhere.
Run with /usr/bin/python3."""
import json
import os
import unittest

from apiharness import ADMIN, ALICE, CAROL, ApiTest, http_request, uniq

FIXTURE = os.environ["FIXTURE_PLUGIN"]
GROUP = "/apis/vteam.ambient-code/v1alpha1"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def routes(project_for_clone):
    """(method, path after /api/projects/<ns>, body) of the REST routes."""
    s = "/agentic-sessions/s1"
    return (("GET", "/agentic-sessions", None),
            ("POST", "/agentic-sessions", {"initialPrompt": "x"}),
            ("POST", "/agentic-sessions", {"metadata": {"name": "s2"}, "spec": {"prompt": "x"}}),
            ("GET", s, None),
            ("PUT", s, {"metadata": {"name": "s1", "resourceVersion": "1"},
                        "spec": {"prompt": "y"}}),
            ("PATCH", s, {"spec": {"prompt": "y"}}),
            ("DELETE", s, None),
            ("POST", s + "/stop", None),
            ("POST", s + "/start", None),
            ("POST", s + "/clone", {"targetProject": project_for_clone,
                                    "newSessionName": "copy"}),
            ("GET", "/projectsettings", None),
            ("GET", "/project-settings", None),
            ("PUT", "/project-settings", {"spec": {}}),
            ("GET", "/runner-secrets", None),
            ("PUT", "/runner-secrets", {"data": {"A": "b"}}),
            ("GET", "/permissions", None),
            ("POST", "/permissions", {"subjectType": "user", "subjectName": "dave",
                                      "role": "view"}),
            ("DELETE", "/permissions/user/alice", None),
            ("GET", "/access", None),
            ("GET", "", None))


class ProjectGate(ApiTest):
    cluster_args = {"extra_plugins": (FIXTURE,),
                    "api_conf": "rate_limit = { requests_per_second = 0; };"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.project = c.make_project(admins=["alice"], viewers=[])
        cls.plain = uniq("plain")
        c.ensure_namespace(cls.plain)
        c.bind(cls.plain, "alice", "admin")
        for ns in (cls.project, cls.plain):
            c.ok(c.kube.post(f"{GROUP}/namespaces/{ns}/agenticsessions", {
                "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
                "metadata": {"name": "s1"}, "spec": {"prompt": "hi"}}), 201)
            c.ok(c.kube.post(f"/api/v1/namespaces/{ns}/configmaps",
                             {"metadata": {"name": "one"}}), 201)
            c.ok(c.kube.post(f"{RBAC}/namespaces/{ns}/roles", {
                "metadata": {"name": "cm-read"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]}),
                201)
            c.ok(c.kube.post(f"{RBAC}/namespaces/{ns}/rolebindings", {
                "metadata": {"name": "cm-read"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "cm-read"},
                "subjects": [{"kind": "User", "name": "alice",
                              "apiGroup": "rbac.authorization.k8s.io"}]}), 201)

    def rest(self, method, path, token, body=None):
        return self.cluster.rest(method, path, token=token, body=body)

    def assertNotAProject(self, reply, name):
        err = self.assertError(reply, 404)
        self.assertEqual(err["error"], f'project "{name}" not found', reply)

    def stored(self, ns):
        r = self.cluster.kube.get(f"{GROUP}/namespaces/{ns}/agenticsessions")
        return {o["metadata"]["name"]: o for o in self.cluster.ok(r, 200)["items"]}

    def test_a_namespace_that_is_not_a_project_is_404_even_with_rights(self):
        before = self.stored(self.plain)
        cases = [(name, ADMIN) for name in ("kube-system", "default", "no-such-ns", self.plain)]
        cases.append((self.plain, ALICE))
        for name, token in cases:
            for method, suffix, body in routes(self.project):
                with self.subTest(name=name, token=token, method=method, path=suffix):
                    r = self.rest(method, f"/api/projects/{name}{suffix}", token, body)
                    self.assertNotAProject(r, name)
        self.assertEqual(self.stored(self.plain), before, "nothing was written there")
        self.assertIsNone(self.cluster.kube.get(
            f"/api/v1/namespaces/{self.plain}/secrets/ambient-runner-secrets").body.get("data"))

    def test_without_rights_it_looks_like_a_project_with_none(self):
        for method, suffix, body in routes(self.project):
            real = self.rest(method, f"/api/projects/{self.project}{suffix}", CAROL, body)
            self.assertIn(real.status, (200, 403), real)
            for name in ("kube-system", "no-such-ns", self.plain):
                with self.subTest(name=name, method=method, path=suffix):
                    r = self.rest(method, f"/api/projects/{name}{suffix}", CAROL, body)
                    self.assertEqual(r.status, real.status, r)
                    self.assertEqual(json.dumps(r.body).replace(name, "X"),
                                     json.dumps(real.body).replace(self.project, "X"))

    def test_clone_into_a_namespace_that_is_not_a_project(self):
        r = self.rest("POST", f"/api/projects/{self.project}/agentic-sessions/s1/clone", ALICE,
                      {"targetProject": self.plain, "newSessionName": uniq("copy")})
        self.assertNotAProject(r, self.plain)
        self.assertEqual(set(self.stored(self.plain)), {"s1"})

    def test_the_project_routes_serve_a_project(self):
        p = f"/api/projects/{self.project}"
        self.assertStatus(self.rest("GET", p + "/agentic-sessions/s1", ALICE), 200)
        self.assertStatus(self.rest("GET", p + "/agentic-sessions", ALICE), 200)
        self.assertEqual(self.assertStatus(self.rest("GET", p + "/fixture-configmaps", ALICE),
                                           200), {"count": 1})

    def test_a_plugins_route(self):
        path = f"/api/projects/{self.plain}/fixture-configmaps"
        self.assertNotAProject(self.rest("GET", path, ALICE), self.plain)
        self.assertNotAProject(self.rest("GET", path, ADMIN), self.plain)
        # Without rights: a 403 there as in a project.
        real = self.rest("GET", f"/api/projects/{self.project}/fixture-configmaps", CAROL)
        self.assertError(real, 403)
        for name in (self.plain, "kube-system", "no-such-ns"):
            self.assertError(self.rest("GET", f"/api/projects/{name}/fixture-configmaps", CAROL),
                             403)

    def test_the_routes_above_a_project_are_not_gated(self):
        for path in ("/api/projects", "/api/projects/"):
            with self.subTest(path=path):
                names = [p["name"] for p in self.assertStatus(self.rest("GET", path, ALICE),
                                                              200)["items"]]
                self.assertIn(self.project, names)
        self.assertStatus(self.rest("POST", "/api/projects/", ALICE, {"name": uniq("slash")}),
                          201)

    def test_a_project_made_after_a_404_is_served_at_once(self):
        name = uniq("late")
        self.assertNotAProject(self.rest("GET", f"/api/projects/{name}/agentic-sessions", ADMIN),
                               name)
        self.assertStatus(self.rest("POST", "/api/projects", ALICE, {"name": name}), 201)
        self.assertStatus(self.rest("GET", f"/api/projects/{name}/agentic-sessions", ALICE), 200)

    # ---- the live listener ----
    def live(self, method, path, token, raw=None, ctype="application/json"):
        return http_request(self.cluster.live_address, method, path, token=token, raw=raw,
                            ctype=ctype)

    def test_live_routes(self):
        tail = ("messages", "events")
        for name in ("kube-system", "no-such-ns", self.plain):
            for t in tail:
                with self.subTest(name=name, route=t):
                    path = f"/api/projects/{name}/agentic-sessions/s1/{t}"
                    r = self.live("GET", path, ADMIN)
                    self.assertNotAProject(r, name)
                    real = self.live("GET", f"/api/projects/{self.project}/agentic-sessions/s1/{t}",
                                     CAROL)
                    self.assertEqual(self.live("GET", path, CAROL).status, real.status)
            r = self.live("POST", f"/api/projects/{name}/agentic-sessions/s1/messages", ADMIN,
                          raw=b'{"content": "hi"}')
            self.assertNotAProject(r, name)
        # The runner of a session outside a project has nowhere to post.
        token = self.cluster.service_account_token(self.plain, "ambient-session-s1")
        r = self.live("POST", f"/api/projects/{self.plain}/agentic-sessions/s1/events", token,
                      raw=b'{"type": "system"}')
        self.assertNotAProject(r, self.plain)
        r = self.live("GET", f"/api/projects/{self.project}/agentic-sessions/s1/messages", ALICE)
        self.assertStatus(r, 200)


if __name__ == "__main__":
    unittest.main()
