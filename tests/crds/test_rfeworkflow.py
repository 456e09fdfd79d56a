#!/usr/bin/python3
"""RFEWorkflow against kubesim serving deploy/crds: a workflow with every
spec field and a diamond of four steps round-trips; a repository's pushTo
is defaulted and no branch is; unknown fields are pruned (nothing is
free-form); a status following the steps round-trips through /status; and
a step's AgenticSession owned by the workflow goes when the workflow is
deleted (what the reconciler relies on)."""

from crdtest import API, CrdTest, main, path, sample, wait_for

PLURAL = "rfeworkflows"


class RFEWorkflowTest(CrdTest):
    def test_full_spec_round_trips(self):
        ns = self.make_ns()
        want = sample("rfeworkflow.yaml")
        r = self.create(PLURAL, ns, want, query="?fieldValidation=Strict")
        self.assertEqual(r.body["spec"], want["spec"])
        got = self.get(PLURAL, ns, "oauth-login")
        self.assertEqual(got["spec"], want["spec"])
        self.assertEqual([s["name"] for s in got["spec"]["steps"]],
                         ["refine", "design", "ux", "plan"])
        self.assertEqual(got["spec"]["steps"][3]["dependsOn"], ["design", "ux"])
        self.assertNotIn("branch", got["spec"]["repos"][1]["input"])

    def test_defaults_and_pruning(self):
        ns = self.make_ns()
        obj = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "RFEWorkflow",
               "metadata": {"name": "small"},
               "spec": {"title": "t", "description": "d",
                        "repos": [{"input": {"url": "https://github.com/o/specs.git"},
                                   "output": {}}],
                        "umbrellaRepo": {"url": "https://github.com/o/old.git"},
                        "jiraLinks": [{"path": "a", "jiraKey": "X-1"}],
                        "steps": [{"name": "one", "agent": "a", "prompt": "p", "bogus": 1,
                                   "options": {"free": True}}]}}
        r = self.create(PLURAL, ns, obj)
        self.assertPruned(r, "spec.umbrellaRepo", "spec.jiraLinks", "spec.steps[0].bogus",
                          "spec.steps[0].options")
        spec = self.get(PLURAL, ns, "small")["spec"]
        self.assertEqual(spec["repos"], [{"input": {"url": "https://github.com/o/specs.git"},
                                          "output": {"pushTo": "fork"}}])
        self.assertEqual(spec["steps"], [{"name": "one", "agent": "a", "prompt": "p"}])
        for absent in ("agents", "umbrellaRepo"):
            self.assertNotIn(absent, spec)

    def test_status_round_trips(self):
        ns = self.make_ns()
        self.create(PLURAL, ns, sample("rfeworkflow.yaml"))
        status = sample("rfeworkflow-status.yaml")["status"]
        r = self.c.put(path(PLURAL, ns, "oauth-login", "status"),
                       dict(self.get(PLURAL, ns, "oauth-login"), status=status))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("Warning", r.headers)
        got = self.get(PLURAL, ns, "oauth-login")
        self.assertEqual(got["status"], status)
        self.assertEqual(got["metadata"]["generation"], 1)

    def test_step_sessions_are_owned_by_the_workflow(self):
        ns = self.make_ns()
        wf = self.create(PLURAL, ns, sample("rfeworkflow.yaml")).body
        owner = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "RFEWorkflow",
                 "name": wf["metadata"]["name"], "uid": wf["metadata"]["uid"],
                 "controller": True, "blockOwnerDeletion": True}
        step = wf["spec"]["steps"][0]
        session = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
                   "metadata": {"name": f"oauth-login-{step['name']}",
                                "labels": {"vteam.ambient-code/rfeworkflow": "oauth-login",
                                           "vteam.ambient-code/rfe-step": step["name"]},
                                "ownerReferences": [owner]},
                   "spec": {"prompt": wf["spec"]["description"] + "\n\n" + step["prompt"],
                            "repos": wf["spec"]["repos"]}}
        self.create("agenticsessions", ns, session)
        sp = path("agenticsessions", ns, "oauth-login-refine")
        self.assertEqual(self.c.get(sp).status, 200)
        r = self.c.delete(path(PLURAL, ns, "oauth-login"))
        self.assertEqual(r.status, 200, r)
        self.c.post("/kubesim/gc", {})
        wait_for(lambda: self.c.get(sp).status == 404, what="step session deleted")
        lst = self.c.get(f"{API}/namespaces/{ns}/agenticsessions")
        self.assertEqual(lst.body["items"], [])


if __name__ == "__main__":
    main()
