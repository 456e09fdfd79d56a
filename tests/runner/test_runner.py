#!/usr/bin/python3
"""ambient-runner end to end: a session created in the cluster becomes a
Job (the agenticsession plugin), the Job becomes a runner process (podsim,
from the Job's own spec), the runner clones over HTTP with a token, runs
the real Claude Code CLI against the scripted model API, streams every
event to the live service, pushes, and writes the outcome. Every case
asserts what a user sees: the session's status, the branch on the git
server, the events, the runner's exit status, and what must not be there
(secrets, stray processes)."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import runnerharness as rh  # noqa: E402
from runnerharness import ANTHROPIC_KEY, GIT_TOKEN, Stack, uniq  # noqa: E402

SECRETS = (ANTHROPIC_KEY, GIT_TOKEN)


def same(url, branch=None):
    out = {"pushTo": "same"}
    if branch:
        out["targetBranch"] = branch
    return {"input": {"url": url}, "output": out}


class RunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack()

    @classmethod
    def tearDownClass(cls):
        cls.st.close()

    def tearDown(self):
        rh.assert_runners_clean(self, self.st.pods)

    def assert_no_secrets(self, ns, name, run):
        """No secret in the runner's output, the session's events or status,
        or any file of the workspace's .git directories."""
        places = {"runner stderr": run.log(), "runner stdout": run.stdout(),
                  "events": json.dumps(self.st.events(ns, name)),
                  "status": json.dumps(self.st.session(ns, name))}
        for root, _, files in os.walk(run.workspace):
            if "/.git" not in root + "/":
                continue
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    places[os.path.join(root, f)] = fh.read().decode("latin-1")
        for where, text in places.items():
            for s in SECRETS:
                self.assertNotIn(s, text, "a secret leaked into %s" % where)
        for r in self.st.git.requests():
            self.assertNotIn(GIT_TOKEN, r["path"])

    def types(self, events):
        return [(e.get("type"), e.get("subtype")) for e in events]

    # ---- the main path ----
    def test_single_repo_edit_is_pushed(self):
        ns = self.st.project()
        url = self.st.repo(ns, "one")
        name = uniq("edit")
        self.st.create_session(ns, name, {
            "prompt": "add the notes file [mock:write file=NOTES.md content=hello-from-agent]",
            "repos": [same(url)]}, annotations={"ambient-code.io/created-by": "alice@example.com"})
        obj = self.st.wait_phase(ns, name, "Completed")
        run = self.st.pods.run_for(ns, name)
        self.assertEqual(run.wait(), 0, run.log()[-3000:])
        st = obj["status"]
        branch = "ambient/" + name
        repo_status = st["repoStatuses"][0]
        self.assertEqual(repo_status["status"], "pushed", st)
        self.assertEqual(repo_status["branch"], branch)
        pushed = self.st.git.branches("%s/one.git" % ns)
        self.assertEqual(repo_status["commitSHA"], pushed[branch])
        self.assertEqual(self.st.git.read_file("%s/one.git" % ns, branch, "NOTES.md"),
                         "hello-from-agent")
        # the work branch starts from the remote's default branch, trunk
        self.assertEqual(self.st.git.read_file("%s/one.git" % ns, branch, "README.md"),
                         self.st.git.read_file("%s/one.git" % ns, "trunk", "README.md"))
        # the creator is the author, the bot the committer; the subject is the prompt's
        who = subprocess.run(["git", "--git-dir", self.st.git.repo_dir("%s/one.git" % ns),
                              "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s|%b", branch],
                             capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual(who.split("|")[:3], [
            "alice@example.com <alice@example.com>", "Ambient <ambient@localhost>",
            "add the notes file [mock:write file=NOTES.md content=hello-from-agent]"])
        self.assertIn("Ambient-Session: %s/%s" % (ns, name), who)
        self.assertIn("Wrote NOTES.md", st["results"]["summary"])
        self.assertEqual(st["usage"]["numTurns"], 2)
        self.assertTrue(st.get("agentSessionId"))
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["status"], "True")
        self.assertEqual(conds["Ready"]["status"], "False")
        self.assertEqual(conds["RunnerStarted"]["status"], "True")
        self.assertEqual(st["observedGeneration"], obj["metadata"]["generation"])
        self.assertLessEqual(st["startTime"], st["completionTime"])
        # the model API got the project's key, the model the session asked for
        reqs = self.st.mock.requests()
        mine = [r for r in reqs if "NOTES.md" in json.dumps(r.get("user_texts"))]
        self.assertTrue(mine)
        self.assertEqual(mine[0]["headers"]["x-api-key"], ANTHROPIC_KEY)
        events = self.st.events(ns, name)
        kinds = self.types(events)
        self.assertIn(("system", "init"), kinds)
        self.assertIn(("result", "success"), kinds)
        runner_events = [k for k in kinds if k[0] == "runner"]
        self.assertEqual(runner_events[0], ("runner", "started"))
        self.assertEqual(runner_events[-1], ("runner", "finished"))
        self.assertEqual([e["seq"] for e in events], list(range(1, len(events) + 1)))
        self.assert_no_secrets(ns, name, run)
        self.assertEqual(rh.processes_in(run.workspace), [])

    def test_three_repos_main_is_index_1(self):
        ns = self.st.project()
        urls = [self.st.repo(ns, n) for n in ("docs", "app", "lib")]
        name = uniq("three")
        self.st.create_session(ns, name, {
            "prompt": "fix the app [mock:write file=FIX.md content=fixed]",
            "repos": [same(u) for u in urls], "mainRepoIndex": 1})
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        by_index = {r["repoIndex"]: r for r in st["repoStatuses"]}
        self.assertEqual(by_index[1]["status"], "pushed", st)
        self.assertEqual(self.st.git.read_file("%s/app.git" % ns, "ambient/" + name, "FIX.md"),
                         "fixed")
        for i in (0, 2):
            self.assertEqual(by_index[i]["status"], "abandoned")
            self.assertEqual(by_index[i]["message"], "no changes")
        for repo in ("docs", "lib"):
            self.assertNotIn("ambient/" + name, self.st.git.branches("%s/%s.git" % (ns, repo)))
        # the agent worked in app, with the other two added beside it
        run = self.st.pods.run_for(ns, name)
        init = [e for e in self.st.events(ns, name) if e.get("subtype") == "init"][0]
        self.assertEqual(init["cwd"], os.path.join(run.workspace, "app"))

    def test_no_changes_is_abandoned(self):
        ns = self.st.project()
        url = self.st.repo(ns, "quiet")
        name = uniq("quiet")
        self.st.create_session(ns, name, {"prompt": "look around [mock:text]",
                                          "repos": [same(url)]})
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        self.assertEqual(st["repoStatuses"], [{"repoIndex": 0, "status": "abandoned",
                                               "branch": "ambient/" + name,
                                               "message": "no changes"}])
        self.assertEqual(set(self.st.git.branches("%s/quiet.git" % ns)), {"trunk"})
        self.assertEqual(st["results"]["summary"], "No changes are needed.")

    def test_model_api_error_fails(self):
        ns = self.st.project()
        name = uniq("apierr")
        self.st.create_session(ns, name, {"prompt": "go [mock:error status=500]"})
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        self.assertIn("model API answered 500", st["error"])
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "AgentError")
        self.assertEqual(conds["Succeeded"]["status"], "False")
        self.assertTrue(st["results"]["isError"])
        run = self.st.pods.run_for(ns, name)
        self.assertEqual(run.wait(), 1)

    def test_deadline_fails_with_timeout_and_leaves_no_process(self):
        ns = self.st.project()
        url = self.st.repo(ns, "slow")
        name = uniq("slow")
        self.st.create_session(ns, name, {"prompt": "think hard [mock:slow duration=60 chunks=60]",
                                          "repos": [same(url)], "timeout": 10})
        run = self.st.pods.run_for(ns, name)
        wait_until = rh.wait_until
        wait_until(lambda: rh.processes_in(run.workspace), timeout=60, what="the agent running")
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        self.assertEqual(run.wait(), 1)
        self.assertFalse(run.deadline_hit, "the runner's own deadline must come first")
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "Timeout")
        self.assertIn("timeout", st["error"])
        self.assertLess(run.ended - run.started, 30)
        self.assertEqual(rh.processes_in(run.workspace), [])

    def test_stop_request_terminates_cleanly(self):
        ns = self.st.project()
        url = self.st.repo(ns, "stopme")
        name = uniq("stop")
        self.st.create_session(ns, name, {"prompt": "long job [mock:slow duration=120 chunks=120]",
                                          "repos": [same(url)]})
        run = self.st.pods.run_for(ns, name)
        rh.wait_until(lambda: rh.processes_in(run.workspace), timeout=60,
                      what="the agent running")
        # the user's stop: the reconciler deletes the Job, the kubelet
        # sends SIGTERM
        r = self.st.cluster.rest("POST", "/api/projects/%s/agentic-sessions/%s/stop"
                                 % (ns, name), token=rh.apiharness.ALICE)
        self.assertIn(r.status, (200, 202), r)
        st = self.st.wait_phase(ns, name, "Stopped")["status"]
        self.assertEqual(run.wait(timeout=60), 1)
        self.assertTrue(run.deleted)
        self.assertEqual(rh.processes_in(run.workspace), [])
        self.assertLess(run.ended - run.started, 60)
        # what the runner did is still reported, without overriding Stopped
        rh.wait_until(lambda: self.st.session(ns, name)["status"].get("repoStatuses"),
                      timeout=30, what="repoStatuses")
        self.assertEqual(self.st.session(ns, name)["status"]["phase"], "Stopped")
        events = self.types(self.st.events(ns, name))
        self.assertIn(("runner", "finished"), events)
        del st

    def test_interactive_session_with_two_messages(self):
        ns = self.st.project()
        name = uniq("chat")
        self.st.create_session(ns, name, {"interactive": True})
        self.st.wait_phase(ns, name, "Running")
        run = self.st.pods.run_for(ns, name)

        def answers():
            return [b["text"] for e in self.st.events(ns, name) if e.get("type") == "assistant"
                    for b in e["message"]["content"] if b.get("type") == "text"]
        r = self.st.post_message(ns, name, {"content": "first question [mock:interactive]"})
        self.assertEqual(r.status, 201, r)
        rh.wait_until(lambda: any("first question" in a for a in answers()), timeout=60,
                      what="the first answer")
        r = self.st.post_message(ns, name, {"content": "second question [mock:interactive]"})
        self.assertEqual(r.status, 201, r)
        rh.wait_until(lambda: any("second question" in a for a in answers()), timeout=60,
                      what="the second answer")
        got = answers()
        first = [i for i, a in enumerate(got) if "first question" in a][0]
        second = [i for i, a in enumerate(got) if "second question" in a][0]
        self.assertLess(first, second)
        # a viewer may not talk to the agent, nor end its session
        self.assertEqual(self.st.post_message(ns, name, {"type": "end_session"},
                                              token=rh.apiharness.BOB).status, 403)
        self.assertEqual(self.st.post_message(ns, name, {"type": "end_session"}).status, 201)
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        self.assertEqual(run.wait(), 0)
        self.assertEqual(st["usage"]["numTurns"], 1)  # the last turn's result
        texts = [r.get("last_user_text", "") for r in self.st.mock.requests()]
        mine = [t for t in texts if "question [mock:interactive]" in t]
        self.assertEqual([t.split()[0] for t in mine[:2]], ["first", "second"])

    def test_cli_missing_fails(self):
        ns = self.st.project()
        name = uniq("nocli")
        self.st.pods.session_env[(ns, name)] = {"AMBIENT_CLAUDE": "/nonexistent/claude"}
        self.st.create_session(ns, name, {"prompt": "anything"})
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        self.assertIn('cannot start the agent CLI "/nonexistent/claude"', st["error"])
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "AgentNotFound")

    def test_clone_with_a_wrong_token_fails_without_the_token(self):
        wrong = "wrong-token-" + rh.uuid.uuid4().hex
        ns = self.st.project(secrets={"GIT_TOKEN": wrong})
        url = self.st.repo(ns, "locked")
        name = uniq("badtok")
        self.st.create_session(ns, name, {"prompt": "x", "repos": [same(url)]})
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "CloneFailed")
        self.assertIn("clone failed", st["error"])
        self.assertIn("Authentication failed", st["error"])
        run = self.st.pods.run_for(ns, name)
        for text in (json.dumps(st), run.log(), json.dumps(self.st.events(ns, name))):
            self.assertNotIn(wrong, text)

    def test_push_to_a_protected_branch_fails_with_the_remote_message(self):
        ns = self.st.project()
        url = self.st.repo(ns, "guarded", protect={"release": "release is protected: open a PR"})
        name = uniq("guard")
        self.st.create_session(ns, name, {
            "prompt": "change it [mock:write file=X.md content=x]",
            "repos": [same(url, branch="release")]})
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        repo = st["repoStatuses"][0]
        self.assertEqual(repo["status"], "failed")
        self.assertIn("release is protected: open a PR", repo["error"])
        self.assertIn("push rejected", st["error"])
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "PushFailed")

    def test_garbage_output_is_survived(self):
        """A 50 MB line and lines that are not JSON on the CLI's stdout: the
        runner keeps going, says what it dropped, and finishes the job."""
        ns = self.st.project()
        url = self.st.repo(ns, "noisy")
        name = uniq("noisy")
        self.st.pods.session_env[(ns, name)] = {"AMBIENT_CLAUDE": rh.FAKE_CLAUDE}
        self.st.create_session(ns, name, {"prompt": "x [fake:garbage]", "repos": [same(url)]})
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        self.assertEqual(self.st.git.read_file("%s/noisy.git" % ns, "ambient/" + name,
                                               "FAKE.md"), "written by the fake CLI\n")
        events = self.st.events(ns, name)
        kinds = self.types(events)
        self.assertEqual(kinds.count(("runner", "oversized_output")), 1)
        big = [e for e in events if e.get("subtype") == "oversized_output"][0]
        self.assertEqual(big["bytes"], 50 << 20)
        self.assertEqual(kinds.count(("runner", "invalid_output")), 3)
        self.assertIn(("result", "success"), kinds)
        self.assertEqual(st["results"]["summary"], "done")

    def test_live_service_down_for_10s_loses_no_event(self):
        ns = self.st.project()
        name = uniq("outage")
        proxy = rh.FlakyProxy(self.st.cluster.live_address)
        try:
            proxy.down.set()
            self.st.pods.session_env[(ns, name)] = {
                "AMBIENT_CLAUDE": rh.FAKE_CLAUDE, "AMBIENT_API_URL": "http://" + proxy.address}
            self.st.create_session(ns, name, {"prompt": "x [fake:many 2000]"})
            run = self.st.pods.run_for(ns, name)
            t0 = rh.now()
            rh.wait_until(lambda: proxy.refused > 0, timeout=60, what="a refused post")
            time.sleep(max(0, 10 - (rh.now() - t0)))
            proxy.down.clear()
            self.st.wait_phase(ns, name, "Completed")
            self.assertEqual(run.wait(), 0)
        finally:
            proxy.close()
        events = self.st.events(ns, name)
        numbered = [e["n"] for e in events if e.get("type") == "assistant" and "n" in e]
        self.assertEqual(numbered, list(range(2000)))
        self.assertNotIn(("runner", "events_dropped"), self.types(events))
        self.assertGreater(proxy.refused, 1)

    def test_signal_to_runner_pushes_partial_work(self):
        """SIGTERM to the runner alone (a node drain, not a stop request):
        the agent is stopped, what it wrote is pushed without a PR, and the
        session fails with the reason."""
        ns = self.st.project()
        url = self.st.repo(ns, "drain")
        name = uniq("drain")
        self.st.pods.session_env[(ns, name)] = {"AMBIENT_CLAUDE": rh.FAKE_CLAUDE}
        self.st.create_session(ns, name, {"prompt": "write then think [fake:hang]",
                                          "repos": [same(url)]})
        run = self.st.pods.run_for(ns, name)
        rh.wait_until(lambda: any(e.get("type") == "assistant"
                                  for e in self.st.events(ns, name)),
                      timeout=60, what="the agent's first write")
        run.proc.send_signal(signal.SIGTERM)
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        self.assertEqual(run.wait(), 1)
        self.assertLess(run.ended - run.started, 60)
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "Terminated")
        repo = st["repoStatuses"][0]
        self.assertEqual(repo["status"], "pushed")
        self.assertIn("partial", repo["message"])
        self.assertEqual(self.st.git.read_file("%s/drain.git" % ns, "ambient/" + name,
                                               "PART.md"), "partial")
        self.assertEqual(rh.processes_in(run.workspace), [])
    def test_throttled_status_write_waits_retry_after(self):
        """The API server answers two of the runner's status writes 429 with
        Retry-After: 2, as API Priority and Fairness does: the runner waits
        that long before each retry and still records the outcome."""
        ns = self.st.project()
        name = uniq("busy")
        path = "/namespaces/%s/agenticsessions/%s/status" % (ns, name)
        self.st.create_session(ns, name, {"prompt": "hi [mock:text]"})
        self.st.wait_phase(ns, name, "Running")
        run = self.st.pods.run_for(ns, name)
        self.st.kube.delete("/kubesim/requests")
        self.st.cluster.ok(self.st.kube.post("/kubesim/faults", {
            "status": 429, "retryAfterSeconds": 2, "count": 2, "method": "PUT",
            "path": path, "plainText": True}), 201)
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        self.assertEqual(run.wait(), 0)
        self.assertEqual(st["results"]["summary"], "No changes are needed.")
        log = self.st.kube.get("/kubesim/requests?path=" + path).body["requests"]
        pairs = rh.harness.throttled_retries(log)
        self.assertEqual(len(pairs), 2, log)
        for throttled, retry in pairs:
            self.assertIsNotNone(retry, "the runner gave up: %s" % log)
            self.assertGreaterEqual(retry["at"] - throttled["at"], 2.0, log)

    def forge_config(self, ns, name):
        """A runner config loading tests/runner/plugins/testforge.so over
        the git server, and its token, for this session's runner."""
        path = os.path.join(self.st.cluster.tmp, name + "-runner.conf")
        with open(path, "w") as f:
            f.write('plugins = ( "%s" );\n'
                    'testforge = { url = "%s/"; root = "%s"; user = "forker"; };\n'
                    % (os.environ["TESTFORGE_PLUGIN"], self.st.git.url, self.st.git.root))
        self.st.pods.session_env[(ns, name)] = {"AMBIENT_RUNNER_CONFIG": path,
                                                "TESTFORGE_TOKEN": GIT_TOKEN}

    def pulls(self):
        path = os.path.join(self.st.git.root, "pulls.ndjson")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def test_fork_through_a_forge_plugin_opens_a_pull_request(self):
        ns = self.st.project(secrets={"GIT_TOKEN": "not-this-one"})
        url = self.st.repo(ns, "upstream")
        name = uniq("fork")
        self.forge_config(ns, name)
        self.st.create_session(ns, name, {
            "displayName": "Add the notes",
            "prompt": "add notes [mock:write file=NOTES.md content=via-fork]",
            "repos": [{"input": {"url": url}, "output": {"pushTo": "fork"}}]})
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        repo = st["repoStatuses"][0]
        self.assertEqual(repo["status"], "pushed", st)
        fork = "forker/upstream.git"
        self.assertEqual(repo["targetRepo"], self.st.git.repo_url(fork))
        self.assertEqual(self.st.git.read_file(fork, "ambient/" + name, "NOTES.md"), "via-fork")
        self.assertNotIn("ambient/" + name, self.st.git.branches("%s/upstream.git" % ns))
        pr = [p for p in self.pulls() if p["head"] == "forker:ambient/" + name]
        self.assertEqual(len(pr), 1, self.pulls())
        self.assertEqual(pr[0]["base"], "trunk")
        self.assertEqual(pr[0]["title"], "Add the notes")
        self.assertIn("%s/%s" % (ns, name), pr[0]["body"])
        self.assertTrue(pr[0]["token_given"])
        self.assertEqual(repo["pullRequestURL"], "%s/pulls/%d" % (self.st.git.url,
                                                                 pr[0]["number"]))
        # git was given the forge's credentials, never the plain GIT_TOKEN
        users = {r["user"] for r in self.st.git.requests() if ns in r["path"] or
                 "forker" in r["path"]}
        self.assertIn("forge-user", users)

    def test_fork_without_a_forge_fails_saying_so(self):
        ns = self.st.project()
        url = self.st.repo(ns, "noforge")
        name = uniq("nofork")
        self.st.create_session(ns, name, {
            "prompt": "x [mock:write file=A.md content=a]",
            "repos": [{"input": {"url": url}, "output": {"pushTo": "fork"}}]})
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        self.assertEqual(st["repoStatuses"][0]["status"], "failed")
        self.assertIn("pushTo fork needs a forge plugin", st["repoStatuses"][0]["error"])

    def test_events_refused_outside_a_project_do_not_hold_the_runner(self):
        """A session written with kubectl into a namespace that is not a
        project runs, but the live service refuses its events (404): the
        runner stops sending at once instead of retrying to the end."""
        ns = self.st.project(managed=False)
        name = uniq("plain")
        self.st.create_session(ns, name, {"prompt": "hi [mock:text]"})
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        run = self.st.pods.run_for(ns, name)
        self.assertEqual(run.wait(), 0)
        self.assertEqual(st["results"]["summary"], "No changes are needed.")
        self.assertIn("refuses this session's events", run.log())
        self.assertLess(run.ended - run.started, 30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
