"""Answers speak Ambient's words, not Kubernetes' (api/wording.c): a
missing, existing, changed or forbidden object is a project or a session
in the message, without "namespaces", "agenticsessions.vteam.ambient-code"
or the "(HTTP 404 NotFound)" tail the status already says; the details keep
what a program needs. alice is the project's admin, carol has no rights.
Run with /usr/bin/python3."""
import unittest

from apiharness import ADMIN, ALICE, CAROL, ApiTest, uniq

GROUP = "/apis/vteam.ambient-code/v1alpha1"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
KUBERNETES_WORDS = ("namespaces", "namespace ", "agenticsessions", "vteam.ambient-code", "HTTP",
                    "Operation cannot be fulfilled", "is forbidden", "resource \"")


class Wording(ApiTest):
    cluster_args = {"live": False}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ns = cls.cluster.make_project(admins=["alice"], viewers=[])

    def path(self, name="", ns=None):
        p = f"/api/projects/{ns or self.ns}/agentic-sessions"
        return p + "/" + name if name else p

    def assertWords(self, reply, status, message):
        body = self.assertError(reply, status)
        self.assertEqual(body["error"], message, reply)
        details = body.get("details")
        for d in (details if isinstance(details, list) else []):
            for w in KUBERNETES_WORDS:
                self.assertNotIn(w, d.get("message", ""), reply)
        return body

    def create(self, name, token=ALICE, ns=None):
        return self.cluster.rest("POST", self.path(ns=ns), token=token,
                                 body={"metadata": {"name": name}, "spec": {"prompt": "hi"}})

    def test_a_missing_session(self):
        name = uniq("none")
        for method, body in (("GET", None), ("PATCH", {"spec": {"prompt": "x"}}),
                             ("DELETE", None)):
            with self.subTest(method=method):
                r = self.cluster.rest(method, self.path(name), token=ALICE, body=body)
                self.assertWords(r, 404, f'session "{name}" not found')
        r = self.cluster.rest("POST", self.path(name) + "/stop", token=ALICE)
        self.assertWords(r, 404, f'session "{name}" not found')

    def test_an_existing_session(self):
        name = uniq("s")
        self.assertStatus(self.create(name), 201)
        self.assertWords(self.create(name), 409, f'session "{name}" already exists')

    def test_a_session_changed_meanwhile(self):
        name = uniq("s")
        obj = self.assertStatus(self.create(name), 201)
        self.assertStatus(self.cluster.rest("PATCH", self.path(name), token=ALICE,
                                            body={"spec": {"prompt": "newer"}}), 200)
        obj["spec"]["prompt"] = "stale"
        r = self.cluster.rest("PUT", self.path(name), token=ALICE, body=obj)
        body = self.assertError(r, 409)
        self.assertTrue(body["error"].startswith(f'session "{name}" '), r)
        self.assertIn("read it again", body["error"])
        for w in KUBERNETES_WORDS:
            self.assertNotIn(w, body["error"])

    def test_a_project_deleted_behind_the_cache(self):
        # The cluster admin's reviews always allow, and the project's answer
        # is cached: Kubernetes itself answers that the namespace is gone.
        ns = self.cluster.make_project(admins=[], viewers=[])
        self.assertStatus(self.cluster.rest("GET", self.path(ns=ns), token=ADMIN), 200)
        self.cluster.ok(self.cluster.kube.delete(f"/api/v1/namespaces/{ns}"), 200, 202)
        self.assertWords(self.create(uniq("s"), token=ADMIN, ns=ns), 404,
                         f'project "{ns}" not found')

    def test_forbidden(self):
        # Our own review's 403 ...
        r = self.cluster.rest("GET", self.path(), token=CAROL)
        self.assertWords(r, 403, f'carol cannot list sessions in project "{self.ns}"')
        self.assertEqual(r.body["details"]["namespace"], self.ns)
        self.assertEqual(r.body["details"]["resource"], "agenticsessions")
        r = self.cluster.rest("DELETE", self.path("x"), token=CAROL)
        self.assertWords(r, 403, f'carol cannot delete session "x" in project "{self.ns}"')
        # ... and Kubernetes' own, met when a right is revoked while a
        # review that allowed is still cached, say the same. (A plain list
        # would come from the read cache, which trusts that review for
        # auth_ttl; one with a label selector still asks Kubernetes.)
        ns = self.cluster.make_project(admins=["carol"], viewers=[])
        listed = self.path(ns=ns) + "?labelSelector=app%3Dx"
        self.assertStatus(self.cluster.rest("GET", listed, token=CAROL), 200)
        rbs = self.cluster.ok(self.cluster.kube.get(f"{RBAC}/namespaces/{ns}/rolebindings"), 200)
        for rb in rbs["items"]:
            self.cluster.ok(self.cluster.kube.delete(
                f"{RBAC}/namespaces/{ns}/rolebindings/{rb['metadata']['name']}"), 200)
        r = self.cluster.rest("GET", listed, token=CAROL)
        self.assertWords(r, 403, f'carol cannot list sessions in project "{ns}"')


if __name__ == "__main__":
    unittest.main()
