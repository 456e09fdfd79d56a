"""Laptop mode end to end with the real Claude Code CLI: a project and a
session made over REST on `ambientd --local` → the local executor runs
ambient-runner, which runs the CLI against tests/mock-anthropic → the
commit is pushed over tests/githttp → the session is Completed with its
repoStatuses, and its events stream from the live service."""
import os
import shutil
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

from localharness import SSE, Laptop, kill_runners, real_cli_config, uniq, wait_until  # noqa: E402
from servers import GitHttp, MockAnthropic  # noqa: E402

GIT_TOKEN = "git-token-" + uuid.uuid4().hex
ANTHROPIC_KEY = "sk-ant-test-" + uuid.uuid4().hex


class LaptopSessionTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="laptop-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mock = MockAnthropic(scenario="write")
        self.addCleanup(self.mock.stop)
        self.git = GitHttp(tokens=[GIT_TOKEN])
        self.addCleanup(self.git.stop)
        self.data = os.path.join(self.tmp, "data")
        self.addCleanup(kill_runners, self.data)

    def test_session_runs_the_cli_pushes_and_completes(self):
        lp = Laptop(self.data, real_cli_config(self, self.mock.url))
        self.addCleanup(lp.stop)
        ns = lp.project({"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "GIT_TOKEN": GIT_TOKEN})
        self.git.create_repo("%s/one.git" % ns)
        url = self.git.repo_url("%s/one.git" % ns)
        name = uniq("edit")
        lp.create_session(ns, name, {
            "prompt": "add the notes file [mock:write file=NOTES.md content=hello-from-laptop]",
            "repos": [{"input": {"url": url}, "output": {"pushTo": "same"}}]})
        stream = SSE(lp, ns, name)
        self.addCleanup(stream.close)
        obj = lp.wait_phase(ns, name)
        st = obj["status"]
        self.assertEqual(st["phase"], "Completed", "%s\n%s" % (st, lp.runner_log(ns, name)))
        repo = st["repoStatuses"][0]
        self.assertEqual(repo["status"], "pushed", st)
        branch = "ambient/" + name
        self.assertEqual(repo["branch"], branch)
        self.assertEqual(repo["commitSHA"], self.git.branches("%s/one.git" % ns)[branch])
        self.assertEqual(self.git.read_file("%s/one.git" % ns, branch, "NOTES.md"),
                         "hello-from-laptop")
        # the model API got the project's key through the Secret
        mine = [r for r in self.mock.requests() if "NOTES.md" in str(r.get("user_texts"))]
        self.assertTrue(mine)
        self.assertEqual(mine[0]["headers"]["x-api-key"], ANTHROPIC_KEY)
        # the stream carried the CLI's events and the status change to Completed
        wait_until(lambda: any(e.get("type") == "status" and e.get("phase") == "Completed"
                               for e in stream.events), 30, "Completed on the event stream")
        types = {e.get("type") for e in stream.events}
        self.assertIn("assistant", types, types)
        self.assertIn("result", types, types)
        # the Job looks as a cluster's would, once the runner has exited: it
        # writes the session's Completed first, so the Job may trail it
        job_path = "/apis/batch/v1/namespaces/%s/jobs/%s-runner" % (ns, name)

        def job_complete():
            job = lp.ok(lp.kube("GET", job_path), 200)
            return "Complete" in [c["type"] for c in job["status"].get("conditions", [])]
        wait_until(job_complete, 30, "the Job Complete")
        self.assertEqual(lp.stop(), 0, lp.log()[-3000:])


if __name__ == "__main__":
    unittest.main()
