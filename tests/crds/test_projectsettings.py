#!/usr/bin/python3
"""ProjectSettings against kubesim serving deploy/crds: every spec field
round-trips, including groupAccess and the seed's legacy credential fields
(accepted for compatibility until the reconciler moves them into the
Secret and clears them); runnerSecretsName is defaulted and nothing else
is; unknown fields are pruned; the status (observedGeneration and
conditions) round-trips through /status; the reconciler's clearing of the
legacy fields is an ordinary merge patch that bumps the generation.

kubesim validates neither the role enum nor the singleton-name CEL rule;
test_schema.py checks that both are declared."""

from crdtest import CrdTest, main, path, sample

PLURAL = "projectsettings"


class ProjectSettingsTest(CrdTest):
    def test_full_spec_round_trips(self):
        ns = self.make_ns()
        want = sample("projectsettings.yaml")
        r = self.create(PLURAL, ns, want, query="?fieldValidation=Strict")
        self.assertEqual(r.body["spec"], want["spec"])
        got = self.get(PLURAL, ns, "projectsettings")
        self.assertEqual(got["spec"], want["spec"])
        self.assertEqual([(g["groupName"], g["role"]) for g in got["spec"]["groupAccess"]],
                         [("team-alpha-admins", "admin"), ("team-alpha", "edit"),
                          ("auditors", "view")])
        self.assertEqual(got["spec"]["anthropicApiKey"], "not-a-real-key")

    def test_defaults_and_pruning(self):
        ns = self.make_ns()
        obj = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
               "metadata": {"name": "projectsettings"},
               "spec": {"groupAccess": [{"groupName": "devs", "role": "edit", "bogus": 1}],
                        "inactivityTimeoutSeconds": 60, "bogus": True}}
        r = self.create(PLURAL, ns, obj)
        self.assertPruned(r, "spec.bogus", "spec.inactivityTimeoutSeconds",
                          "spec.groupAccess[0].bogus")
        spec = self.get(PLURAL, ns, "projectsettings")["spec"]
        self.assertEqual(spec, {"groupAccess": [{"groupName": "devs", "role": "edit"}],
                                "runnerSecretsName": "ambient-runner-secrets"})

    def test_status_round_trips(self):
        ns = self.make_ns()
        self.create(PLURAL, ns, sample("projectsettings.yaml"))
        status = sample("projectsettings-status.yaml")["status"]
        r = self.c.put(path(PLURAL, ns, "projectsettings", "status"),
                       dict(self.get(PLURAL, ns, "projectsettings"), status=status))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("Warning", r.headers)
        got = self.get(PLURAL, ns, "projectsettings")
        self.assertEqual(got["status"], status)
        self.assertEqual(got["spec"], sample("projectsettings.yaml")["spec"])

    def test_reconciler_clears_legacy_fields(self):
        """What the reconciler does after copying the keys into the Secret:
        a merge patch with nulls removes the fields."""
        ns = self.make_ns()
        self.create(PLURAL, ns, sample("projectsettings.yaml"))
        r = self.c.patch(path(PLURAL, ns, "projectsettings"),
                         {"spec": {"anthropicApiKey": None, "gitHubToken": None,
                                   "gitLabToken": None}})
        self.assertEqual(r.status, 200, r)
        got = self.get(PLURAL, ns, "projectsettings")
        for f in ("anthropicApiKey", "gitHubToken", "gitLabToken"):
            self.assertNotIn(f, got["spec"])
        self.assertEqual(got["spec"]["runnerSecretsName"], "team-alpha-runner")
        self.assertEqual(got["metadata"]["generation"], 2)


if __name__ == "__main__":
    main()
