#!/usr/bin/python3
"""AgenticSession against kubesim serving deploy/crds: a session using every
spec field comes back unchanged (nothing pruned: the original lost
mainRepoIndex this way); unknown fields are pruned, with the Warning or the
Strict error the API server gives (proof the schema is structural);
defaults are applied (pushTo, interactive) and withheld where the API
must not invent a value (branch, timeout, model, mainRepoIndex); a status
with every field, written through /status, reads back intact and leaves
spec and generation alone.

kubesim prunes and defaults but does not validate enum, minimum, pattern,
required or CEL (tests/kubesim/README.md, Known gaps), so those are checked
statically in test_schema.py rather than here."""

import copy

from crdtest import CrdTest, main, path, sample

PLURAL = "agenticsessions"


class AgenticSessionTest(CrdTest):
    def full(self):
        return sample("agenticsession-full.yaml")

    def test_full_spec_round_trips(self):
        ns = self.make_ns()
        want = self.full()
        r = self.create(PLURAL, ns, want)
        self.assertNotIn("Warning", r.headers, "nothing in the sample is unknown")
        self.assertEqual(r.body["spec"], want["spec"])
        got = self.get(PLURAL, ns, "full")
        self.assertEqual(got["spec"], want["spec"])
        self.assertEqual(got["metadata"]["generation"], 1)
        self.assertEqual(got["spec"]["mainRepoIndex"], 1)
        self.assertNotIn("branch", got["spec"]["repos"][1]["input"],
                         "a repo without a branch keeps none: its default branch is used")
        self.assertEqual(got["spec"]["options"]["nested"], {"deep": {"list": [1, "two", True]}})

    def test_full_spec_passes_strict_field_validation(self):
        ns = self.make_ns()
        self.create(PLURAL, ns, self.full(), query="?fieldValidation=Strict")

    def test_unknown_fields_are_pruned(self):
        ns = self.make_ns()
        obj = self.full()
        obj["spec"]["bogus"] = "x"
        obj["spec"]["project"] = ns          # the field the original's backend wrote
        obj["spec"]["repos"][0]["input"]["bogus"] = 1
        obj["spec"]["repos"][1]["output"]["autoPush"] = True
        obj["spec"]["options"]["anyKey"] = {"kept": True}   # free-form: kept
        r = self.create(PLURAL, ns, obj)
        self.assertPruned(r, "spec.bogus", "spec.project", "spec.repos[0].input.bogus",
                          "spec.repos[1].output.autoPush")
        got = self.get(PLURAL, ns, "full")
        want = self.full()["spec"]
        want["options"]["anyKey"] = {"kept": True}
        self.assertEqual(got["spec"], want)

        r = self.c.post(path(PLURAL, ns) + "?fieldValidation=Strict",
                        dict(obj, metadata={"name": "strict", "namespace": ns}))
        self.assertEqual(r.status, 400, r)
        self.assertIn('unknown field "spec.bogus"', r.body["message"])
        self.assertEqual(self.c.get(path(PLURAL, ns, "strict")).status, 404)

    def test_defaults(self):
        ns = self.make_ns()
        obj = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
               "metadata": {"name": "minimal"},
               "spec": {"prompt": "fix the flaky test",
                        "repos": [{"input": {"url": "https://github.com/o/a.git"},
                                   "output": {"targetBranch": "fix-flake"}},
                                  {"input": {"url": "https://github.com/o/b.git"}}]}}
        r = self.create(PLURAL, ns, obj)
        self.assertNotIn("Warning", r.headers)
        spec = self.get(PLURAL, ns, "minimal")["spec"]
        self.assertEqual(spec["repos"][0]["output"],
                         {"pushTo": "fork", "targetBranch": "fix-flake"})
        self.assertEqual(spec["repos"][0]["input"], {"url": "https://github.com/o/a.git"},
                         "no default branch")
        self.assertNotIn("output", spec["repos"][1], "no output means no push; none is invented")
        self.assertIs(spec["interactive"], False)
        for absent in ("timeout", "model", "options", "displayName", "mainRepoIndex"):
            self.assertNotIn(absent, spec, "project defaults must be able to apply")

        # An interactive session needs no prompt (CEL enforces the rule on a
        # real cluster; kubesim does not evaluate CEL).
        obj = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
               "metadata": {"name": "chat"}, "spec": {"interactive": True}}
        self.create(PLURAL, ns, obj)
        self.assertEqual(self.get(PLURAL, ns, "chat")["spec"],
                         {"interactive": True})

    def test_status_round_trips_through_the_subresource(self):
        ns = self.make_ns()
        self.create(PLURAL, ns, self.full())
        status = sample("agenticsession-status.yaml")["status"]
        r = self.c.put(path(PLURAL, ns, "full", "status"),
                       dict(self.get(PLURAL, ns, "full"), status=status))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("Warning", r.headers, "every status field is declared")
        got = self.get(PLURAL, ns, "full")
        self.assertEqual(got["status"], status)
        self.assertEqual(got["spec"], self.full()["spec"])
        self.assertEqual(got["metadata"]["generation"], 1, "status writes keep the generation")

    def test_status_pruning_and_free_form_results(self):
        ns = self.make_ns()
        self.create(PLURAL, ns, self.full())
        status = sample("agenticsession-status.yaml")["status"]
        dirty = copy.deepcopy(status)
        dirty["bogus"] = 1
        dirty["repoStatuses"][0]["bogus"] = 2
        dirty["usage"]["bogus"] = 3
        dirty["conditions"][0]["bogus"] = 4
        dirty["results"]["newKey"] = {"any": ["thing"]}
        r = self.c.put(path(PLURAL, ns, "full", "status"),
                       dict(self.get(PLURAL, ns, "full"), status=dirty))
        self.assertEqual(r.status, 200, r)
        self.assertPruned(r, "status.bogus", "status.repoStatuses[0].bogus",
                          "status.usage.bogus", "status.conditions[0].bogus")
        want = copy.deepcopy(status)
        want["results"]["newKey"] = {"any": ["thing"]}
        self.assertEqual(self.get(PLURAL, ns, "full")["status"], want)

    def test_status_only_through_the_subresource(self):
        ns = self.make_ns()
        obj = self.full()
        obj["status"] = {"phase": "Completed"}
        r = self.create(PLURAL, ns, obj)
        self.assertNotIn("status", r.body, "create drops status when /status exists")

        # The reconciler sets the phase and conditions ...
        self.put_status(PLURAL, ns, "full", {
            "phase": "Running", "startTime": "2026-01-10T09:00:00Z",
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1,
                            "lastTransitionTime": "2026-01-10T09:00:00Z",
                            "reason": "Running", "message": ""}]})
        # ... the runner merge-patches its own fields, as it does at the end.
        self.patch_status(PLURAL, ns, "full", {
            "phase": "Completed", "completionTime": "2026-01-10T09:42:17Z",
            "results": {"summary": "done"},
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalCostUSD": 0.01},
            "repoStatuses": [{"repoIndex": 0, "status": "pushed", "branch": "ambient/full",
                              "commitSHA": "abc123",
                              "pullRequestURL": "https://github.com/o/a/pull/1"}]})
        st = self.get(PLURAL, ns, "full")["status"]
        self.assertEqual(st["phase"], "Completed")
        self.assertEqual(st["startTime"], "2026-01-10T09:00:00Z")
        self.assertEqual(st["conditions"][0]["reason"], "Running")
        self.assertEqual(st["results"], {"summary": "done"})
        self.assertEqual(st["usage"]["totalCostUSD"], 0.01)
        self.assertEqual(st["repoStatuses"][0]["pullRequestURL"], "https://github.com/o/a/pull/1")

        # A write of the main resource cannot change status, and a spec change
        # bumps the generation.
        cur = self.get(PLURAL, ns, "full")
        cur["status"] = {"phase": "Failed"}
        cur["spec"]["timeout"] = 7200
        r = self.c.put(path(PLURAL, ns, "full"), cur)
        self.assertEqual(r.status, 200, r)
        got = self.get(PLURAL, ns, "full")
        self.assertEqual(got["status"]["phase"], "Completed")
        self.assertEqual(got["spec"]["timeout"], 7200)
        self.assertEqual(got["metadata"]["generation"], 2)

    def test_desired_phase_annotation_is_kept(self):
        """Stop/restart requests are an annotation: metadata is never pruned."""
        ns = self.make_ns()
        self.create(PLURAL, ns, self.full())
        ann = {"ambient-code.io/desired-phase": "Stopped"}
        r = self.c.patch(path(PLURAL, ns, "full"), {"metadata": {"annotations": ann}})
        self.assertEqual(r.status, 200, r)
        got = self.get(PLURAL, ns, "full")
        self.assertEqual(got["metadata"]["annotations"]["ambient-code.io/desired-phase"], "Stopped")
        self.assertEqual(got["metadata"]["generation"], 1, "annotations do not bump generation")


if __name__ == "__main__":
    main()
