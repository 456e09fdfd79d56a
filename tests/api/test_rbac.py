"""deploy/rbac is enough: the controller, running as the ambient-controller
service account that deploy/rbac/controller.yaml binds (not as an admin),
reconciles a ProjectSettings (group RoleBinding, legacy key moved into the
runner Secret) and a session through Running to Completed without one
"forbidden" from the API. The project ClusterRoles give admin, edit and view
the rights their names promise. Run with /usr/bin/python3."""
import unittest

from apiharness import (ADMIN, ALICE, BOB, CAROL, CONTROLLER_TOKEN, WAIT, Cluster, harness,
                        uniq, wait_until)

GROUP = "/apis/vteam.ambient-code/v1alpha1"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


class ControllerRbac(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(controller=True, api=False, live=False,
                              daemon_token=CONTROLLER_TOKEN)
        cls.k = cls.cluster.kube

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def get(self, path):
        r = self.k.get(path)
        return r.body if r.status == 200 else None

    def test_the_identity_is_restricted(self):
        ctl = harness.Client(self.cluster.ks.port, CONTROLLER_TOKEN)
        try:
            self.assertEqual(ctl.get("/api/v1/secrets").status, 403)
            self.assertEqual(ctl.get("/api/v1/namespaces/default/configmaps").status, 403)
        finally:
            ctl.close()

    def test_a_project_and_a_session_reconcile_without_forbidden(self):
        ns = self.cluster.make_project(admins=(), viewers=())
        r = self.k.post(f"{GROUP}/namespaces/{ns}/projectsettings", {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
            "metadata": {"name": "projectsettings"},
            "spec": {"groupAccess": [{"groupName": "team-a", "role": "edit"}],
                     "anthropicApiKey": "sk-ant-legacy-key-0123456789"}})
        self.assertEqual(r.status, 201, r)
        wait_until(lambda: [rb for rb in (self.get(f"{RBAC}/namespaces/{ns}/rolebindings")
                                          or {}).get("items", [])
                            if rb["roleRef"]["name"] == "ambient-project-edit"],
                   WAIT, 0.1, "the group RoleBinding")
        wait_until(lambda: self.get(f"/api/v1/namespaces/{ns}/secrets/ambient-runner-secrets"),
                   WAIT, 0.1, "the runner Secret")

        name = uniq("s")
        r = self.k.post(f"{GROUP}/namespaces/{ns}/agenticsessions", {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
            "metadata": {"name": name},
            "spec": {"prompt": "say hi",
                     "repos": [{"input": {"url": "https://github.com/o/r", "branch": "main"}}]}})
        self.assertEqual(r.status, 201, r)
        job = f"/apis/batch/v1/namespaces/{ns}/jobs/{name}-runner"
        wait_until(lambda: self.get(job), WAIT, 0.1, "the runner Job")
        for path in (f"/api/v1/namespaces/{ns}/serviceaccounts/ambient-session-{name}",
                     f"{RBAC}/namespaces/{ns}/roles/ambient-session-{name}",
                     f"{RBAC}/namespaces/{ns}/rolebindings/ambient-session-{name}"):
            self.assertIsNotNone(self.get(path), path)
        self.assertEqual(self.k.post(f"/kubesim/jobs/{ns}/{name}-runner/start", {}).status, 200)

        def phase(p):
            s = self.get(f"{GROUP}/namespaces/{ns}/agenticsessions/{name}") or {}
            return (s.get("status") or {}).get("phase") == p
        wait_until(lambda: phase("Running"), WAIT, 0.1, "Running")
        self.assertEqual(self.k.post(f"/kubesim/jobs/{ns}/{name}-runner/succeed", {}).status, 200)
        wait_until(lambda: phase("Completed"), WAIT, 0.1, "Completed")
        log = self.cluster.log_text().lower()
        self.assertNotIn("forbidden", log)
        self.assertNotIn("sk-ant-legacy-key", log)


class ProjectRoles(unittest.TestCase):
    """admin, edit and view mean what they say, asked of kubesim's RBAC."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(api=False, live=False)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def can(self, token, ns, verb, resource, group="vteam.ambient-code"):
        c = harness.Client(self.cluster.ks.port, token)
        try:
            r = c.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "group": group,
                                                "resource": resource}}})
            self.assertEqual(r.status, 201, r)
            return r.body["status"]["allowed"]
        finally:
            c.close()

    def test_admin_edit_view_none(self):
        ns = self.cluster.make_project(admins=("alice",), editors=("carol",), viewers=("bob",))
        rb = ("create", "rolebindings", "rbac.authorization.k8s.io")
        for token, sessions_create, sessions_list, rb_create in (
                (ALICE, True, True, True), (CAROL, True, True, False),
                (BOB, False, True, False)):
            self.assertEqual(self.can(token, ns, "create", "agenticsessions"), sessions_create)
            self.assertEqual(self.can(token, ns, "list", "agenticsessions"), sessions_list)
            self.assertEqual(self.can(token, ns, *rb), rb_create)
        other = self.cluster.make_project(admins=(), viewers=())
        for token in (ALICE, BOB, CAROL):
            self.assertFalse(self.can(token, other, "list", "agenticsessions"))
        self.assertTrue(self.can(ADMIN, other, "delete", "agenticsessions"))
        # Only admins may delete the project (DELETE /api/projects/:p asks this).
        self.assertTrue(self.can(ALICE, ns, "delete", "projectsettings"))
        self.assertFalse(self.can(CAROL, ns, "delete", "projectsettings"))
        # Settings are admin's to write: their groupAccess grants roles.
        self.assertTrue(self.can(ALICE, ns, "update", "projectsettings"))
        for verb in ("create", "update", "patch"):
            self.assertFalse(self.can(CAROL, ns, verb, "projectsettings"), verb)
        self.assertTrue(self.can(CAROL, ns, "get", "projectsettings"))


if __name__ == "__main__":
    unittest.main()
