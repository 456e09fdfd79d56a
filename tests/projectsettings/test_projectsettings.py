"""ProjectSettings against kubesim with the real ambientd and the
projectsettings plugin (deploy/crds for the CRD):

- groupAccess entries become RoleBindings to ambient-project-<role>; a role
  change replaces the binding, a removed entry deletes it, a hand edit is
  repaired, a RoleBinding that is not ours is left alone;
- the seed's legacy credential fields move into the runner Secret (merged
  with its other keys) and are cleared from the resource, and the values
  never appear in ambientd's log or in the status;
- status carries observedGeneration and the Ready, GroupAccessReady and
  SecretsReady conditions;
- a ProjectSettings with another name gets Ready=False (InvalidName) and no
  RoleBindings;
- deleting the ProjectSettings removes its RoleBindings by garbage
  collection (POST /kubesim/gc settles it).

Environment (set by CMake): AMBIENTD, AMB_TEST_PLUGIN_DIR (the directory of
projectsettings.so), KUBESIM, CRD_DIR."""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "controller"))

import ctlharness as h  # noqa: E402

PS_API = "/apis/vteam.ambient-code/v1alpha1/namespaces/%s/projectsettings"
RB_API = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings"
SECRET_API = "/api/v1/namespaces/%s/secrets"
KEY = "sk-ant-api03-integration-secret-value"
GH = "ghp_integrationsecrettoken0001"


class ProjectSettingsTest(h.ControllerTest):

    def setUp(self):
        super().setUp()
        self.a = self.start(plugins=("projectsettings",))
        self.a.wait_msg("cache synced", resource="projectsettings")
        self.a.wait_msg("cache synced", resource="rolebindings")

    def tearDown(self):
        self.a.stop_clean(self)

    # helpers
    def create_ps(self, ns, spec, name="projectsettings"):
        body = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
                "metadata": {"name": name}, "spec": spec}
        return self.kube.ok(self.kube.c.post(PS_API % ns, body), 201)

    def get_ps(self, ns, name="projectsettings"):
        r = self.kube.c.get(PS_API % ns + "/" + name)
        return r.body if r.status == 200 else None

    def patch_ps(self, ns, patch):
        return self.kube.ok(self.kube.c.patch(PS_API % ns + "/projectsettings", patch), 200)

    def rolebindings(self, ns):
        return {rb["metadata"]["name"]: rb
                for rb in self.kube.ok(self.kube.c.get(RB_API % ns), 200)["items"]}

    def ours(self, ns):
        return {n: rb for n, rb in self.rolebindings(ns).items() if n.startswith("ambient-group-")}

    def wait_bindings(self, ns, want, what):
        """want: {name: cluster role}; waits until our bindings are exactly that."""
        def done():
            got = self.ours(ns)
            # {} is a valid answer: wrap it so wait_until sees it as truthy.
            return [got] if {n: rb["roleRef"]["name"] for n, rb in got.items()} == want else None
        return h.wait_until(done, h.WAIT, 0.05, what)[0]

    def wait_ready(self, ns, name="projectsettings", status="True", reason=None):
        def done():
            ps = self.get_ps(ns, name)
            if not ps:
                return None
            st = ps.get("status") or {}
            ready = [c for c in st.get("conditions") or [] if c["type"] == "Ready"]
            if (st.get("observedGeneration") == ps["metadata"]["generation"] and ready and
                    ready[0]["status"] == status and (reason is None or ready[0]["reason"] == reason)):
                return ps
            return None
        return h.wait_until(done, h.WAIT, 0.05, "%s/%s Ready=%s" % (ns, name, status))

    def cond(self, ps, typ):
        return [c for c in ps["status"]["conditions"] if c["type"] == typ][0]

    def make_secret(self, ns, data):
        body = {"metadata": {"name": "ambient-runner-secrets"}, "stringData": data}
        self.kube.ok(self.kube.c.post(SECRET_API % ns, body), 201)

    # tests
    def test_group_access_follows_the_list(self):
        ns = self.kube.make_ns()
        self.make_secret(ns, {"ANTHROPIC_API_KEY": "x" * 8})
        # A RoleBinding that is not ours, even with the managed-by label.
        theirs = {"metadata": {"name": "theirs",
                               "labels": {"app.kubernetes.io/managed-by": "ambient"}},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "view"},
                  "subjects": [{"kind": "User", "name": "alice"}]}
        self.kube.ok(self.kube.c.post(RB_API % ns, theirs), 201)
        ps = self.create_ps(ns, {"groupAccess": [{"groupName": "devs", "role": "edit"},
                                                 {"groupName": "QA Team", "role": "view"}]})
        def two():
            got = self.ours(ns)
            return got if len(got) == 2 else None
        got = h.wait_until(two, h.WAIT, 0.05, "two RoleBindings")
        self.assertIn("ambient-group-devs-edit", got)
        qa = [n for n in got if n != "ambient-group-devs-edit"][0]
        self.assertRegex(qa, r"^ambient-group-qa-team-[0-9a-f]{8}-view$")
        devs = got["ambient-group-devs-edit"]
        self.assertEqual(devs["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                           "kind": "ClusterRole", "name": "ambient-project-edit"})
        self.assertEqual(devs["subjects"], [{"apiGroup": "rbac.authorization.k8s.io",
                                             "kind": "Group", "name": "devs"}])
        self.assertEqual(got[qa]["subjects"][0]["name"], "QA Team")
        ref = devs["metadata"]["ownerReferences"][0]
        self.assertEqual((ref["kind"], ref["uid"], ref["controller"]),
                         ("ProjectSettings", ps["metadata"]["uid"], True))
        st = self.wait_ready(ns)
        self.assertEqual(st["status"]["observedGeneration"], 1)
        self.assertEqual(self.cond(st, "GroupAccessReady")["status"], "True")
        self.assertEqual(self.cond(st, "SecretsReady")["status"], "True")

        # Role changed and one entry removed: replaced and deleted.
        self.patch_ps(ns, {"spec": {"groupAccess": [{"groupName": "devs", "role": "admin"}]}})
        self.wait_bindings(ns, {"ambient-group-devs-admin": "ambient-project-admin"},
                           "devs rebound to admin, QA removed")
        st = self.wait_ready(ns)
        self.assertEqual(st["status"]["observedGeneration"], 2)

        # A hand edit of our binding is repaired.
        path = RB_API % ns + "/ambient-group-devs-admin"
        self.kube.ok(self.kube.c.patch(path, {"subjects": [{"kind": "User", "name": "mallory"}]}),
                     200)
        h.wait_until(lambda: self.ours(ns)["ambient-group-devs-admin"]["subjects"][0]["name"]
                     == "devs", h.WAIT, 0.05, "subjects repaired")

        # Empty list: ours all gone, theirs untouched.
        self.patch_ps(ns, {"spec": {"groupAccess": []}})
        self.wait_bindings(ns, {}, "all group RoleBindings deleted")
        self.assertIn("theirs", self.rolebindings(ns))
        self.wait_ready(ns)

    def test_legacy_fields_move_into_the_secret(self):
        ns = self.kube.make_ns()
        self.make_secret(ns, {"OTHER": "keep-this-value"})
        self.create_ps(ns, {"anthropicApiKey": KEY, "gitHubToken": GH, "groupAccess": []})

        def cleared():
            ps = self.get_ps(ns)
            spec = ps["spec"]
            if "anthropicApiKey" in spec or "gitHubToken" in spec:
                return None
            return ps
        h.wait_until(cleared, h.WAIT, 0.05, "legacy fields cleared")
        sec = self.kube.get_secret(ns, "ambient-runner-secrets")
        data = {k: base64.b64decode(v).decode() for k, v in sec["data"].items()}
        self.assertEqual(data, {"OTHER": "keep-this-value", "ANTHROPIC_API_KEY": KEY,
                                "GITHUB_TOKEN": GH})
        ps = self.wait_ready(ns)
        self.assertEqual(ps["status"]["observedGeneration"], 2)  # the clear is generation 2
        self.assertEqual(self.cond(ps, "SecretsReady")["status"], "True")
        self.a.wait_msg("legacy credential fields moved")
        for value in (KEY, GH):
            self.assertNotIn(value, str(ps["status"]))
            self.assertNotIn(value, self.a.log_text())
        events = self.kube.ok(self.kube.c.get("/api/v1/namespaces/%s/events" % ns), 200)["items"]
        self.assertTrue(any(e.get("reason") == "SecretsMigrated" for e in events), events)
        for e in events:
            self.assertNotIn(KEY, str(e))

    def test_other_name_is_marked_invalid(self):
        ns = self.kube.make_ns()
        self.create_ps(ns, {"groupAccess": [{"groupName": "devs", "role": "edit"}]},
                       name="settings")
        ps = self.wait_ready(ns, "settings", "False", "InvalidName")
        self.assertIn("metadata.name: must be projectsettings", self.cond(ps, "Ready")["message"])
        self.assertEqual(self.ours(ns), {})

    def test_invalid_spec_is_marked(self):
        ns = self.kube.make_ns()
        # Bypasses the REST layer's validate, as kubectl would.
        self.create_ps(ns, {"defaultModel": "opus", "allowedModels": ["sonnet"]})
        ps = self.wait_ready(ns, status="False", reason="InvalidSpec")
        self.assertEqual(self.cond(ps, "Ready")["message"],
                         "spec.defaultModel: must be one of spec.allowedModels")
        self.patch_ps(ns, {"spec": {"allowedModels": ["sonnet", "opus"]}})
        ps = self.wait_ready(ns)
        self.assertEqual(self.cond(ps, "SecretsReady")["reason"], "SecretNotFound")

    def test_delete_removes_rolebindings_by_gc(self):
        ns = self.kube.make_ns()
        self.create_ps(ns, {"groupAccess": [{"groupName": "devs", "role": "view"}]})
        self.wait_bindings(ns, {"ambient-group-devs-view": "ambient-project-view"}, "binding")
        self.kube.ok(self.kube.c.delete(PS_API % ns + "/projectsettings"), 200, 202)
        self.kube.ok(self.kube.c.post("/kubesim/gc", {}), 200)
        self.wait_bindings(ns, {}, "bindings collected")


if __name__ == "__main__":
    h.main()
