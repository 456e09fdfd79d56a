"""An RFEWorkflow in laptop mode, end to end with the real Claude Code CLI:
a two-step workflow made over REST on `ambientd --local` → the first step's
session runs the CLI against tests/mock-anthropic and answers a text → the
second step's session is made only then, its prompt carrying that text →
the workflow is Completed, each step naming its session and results."""
import os
import shutil
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

from localharness import Laptop, kill_runners, real_cli_config, uniq, wait_until  # noqa: E402
from servers import MockAnthropic  # noqa: E402

ANTHROPIC_KEY = "sk-ant-test-" + uuid.uuid4().hex
# What the agents answer: in the next step's prompt, its quotes, newline,
# non-ASCII and placeholder-like braces must stay literal text.
ANSWER = 'stories-%s "ready"\nnaïve {{title}}' % uuid.uuid4().hex[:8]


class LaptopWorkflowTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="laptop-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mock = MockAnthropic(scenario="text", text=ANSWER)
        self.addCleanup(self.mock.stop)
        self.data = os.path.join(self.tmp, "data")
        self.addCleanup(kill_runners, self.data)

    def test_two_steps_run_in_order_and_pass_results(self):
        lp = Laptop(self.data, real_cli_config(self, self.mock.url))
        self.addCleanup(lp.stop)
        ns = lp.project({"ANTHROPIC_API_KEY": ANTHROPIC_KEY})
        name = uniq("rfe")
        wf = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "RFEWorkflow",
              "metadata": {"name": name},
              "spec": {"title": "Notes export", "description": "Export notes as Markdown.",
                       "agents": [{"name": "pm", "role": "Product Manager",
                                   "promptTemplate": "You are the {{role}}: {{title}}"}],
                       "steps": [{"name": "refine", "agent": "pm",
                                  "prompt": "Write the stories."},
                                 {"name": "plan", "agent": "pm", "dependsOn": ["refine"],
                                  "prompt": "Plan from: {{results.refine}}"}]}}
        lp.ok(lp.rest("POST", "/api/projects/%s/rfe-workflows" % ns, wf), 201)
        path = "/api/projects/%s/rfe-workflows/%s" % (ns, name)
        last = {}

        def finished():
            nonlocal last
            last = lp.ok(lp.rest("GET", path), 200)
            return last if last.get("status", {}).get("phase") in ("Completed", "Failed") else None
        try:
            wait_until(finished, 180, "workflow %s/%s to finish" % (ns, name), 0.3)
        except AssertionError:
            raise AssertionError("workflow never finished: %s\n%s"
                                 % (last.get("status"), lp.log()[-3000:]))
        st = last["status"]
        self.assertEqual(st["phase"], "Completed", st)
        steps = {s["name"]: s for s in st["steps"]}
        self.assertEqual(steps["refine"]["phase"], "Completed", st)
        self.assertIn(ANSWER, steps["refine"]["results"])
        # The second step started only after the first completed, and its
        # session's prompt carries the first one's answer, verbatim.
        self.assertLessEqual(steps["refine"]["completionTime"], steps["plan"]["startTime"])
        plan = lp.session(ns, steps["plan"]["sessionName"])
        self.assertIn(ANSWER, plan["spec"]["prompt"])
        self.assertEqual(plan["status"]["phase"], "Completed")
        owners = plan["metadata"]["ownerReferences"]
        self.assertEqual([(o["kind"], o["name"]) for o in owners], [("RFEWorkflow", name)])
        # The plugin's own route lists the workflow's sessions.
        listed = lp.ok(lp.rest("GET", path + "/sessions"), 200)
        names = sorted(s["metadata"]["name"] for s in listed["items"])
        self.assertEqual(names, sorted(s["sessionName"] for s in st["steps"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
