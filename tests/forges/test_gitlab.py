#!/usr/bin/python3
"""gitlab.so end to end: sessions run through the real ambient-runner
(tests/runner/runnerharness.py's Stack) with gitlab.so in the runner's
config, against tests/forges/gitlab_double.py, whose projects are real
repositories on the Stack's githttp server. Each case checks what a user
sees: the branch on the git server, the merge request on "GitLab", the
session's repoStatuses; and what must not be there (the token, a second
fork or merge request).

Environment (set by CMake): the runner suite's (RUNNER, AMBIENTD, ...) and
GITLAB_PLUGIN. Debian's /usr/bin/python3."""
import http.client
import json
import os
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "runner"))
sys.path.insert(0, os.path.join(TESTS, "common"))

import runnerharness as rh  # noqa: E402
from runnerharness import Stack, uniq  # noqa: E402
from servers import PYTHON, ServerProcess  # noqa: E402

DOUBLE = os.path.join(HERE, "gitlab_double.py")
# alice's token serves both the API and git; REVOKED only git (the API
# answers 401, as for a token revoked since the clone).
TOKEN = "gl-alice-" + uuid.uuid4().hex
REVOKED = "gl-revoked-" + uuid.uuid4().hex
OTHERS = {"bob": "gl-bob-" + uuid.uuid4().hex, "carol": "gl-carol-" + uuid.uuid4().hex}
DEVELOPER = 30


class GitLabDouble(ServerProcess):
    """gitlab_double.py beside git (a servers.GitHttp): the API is
    url + "/api/v4"; the control endpoints under /_gitlab/."""

    name = "gitlab_double"

    def __init__(self, git, users):
        cmd = [PYTHON, DOUBLE, "--git-url", git.url, "--git-root", git.root, "--port", "0"]
        for name, token in users.items():
            cmd += ["--user", "%s:%s" % (name, token)]
        super().__init__(cmd)
        self.api_url = self.url + "/api/v4"

    def ctl(self, method, path, body=None, want=(200, 201)):
        status, obj = self.call(method, "/_gitlab/" + path, body)
        if status not in want:
            raise AssertionError("%s /_gitlab/%s -> %d %r" % (method, path, status, obj))
        return obj

    def api(self, method, path, token, body=None):
        """(status, JSON) of one API call made as a user would."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, "/api/v4" + path, body=json.dumps(body) if body else None,
                         headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def requests(self):
        return self.ctl("GET", "requests")["requests"]

    def merge_requests(self, project_id):
        return [m for m in self.ctl("GET", "merge_requests") if m["project_id"] == project_id]


class GitLabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(git_tokens=[TOKEN, REVOKED])
        try:
            cls.gl = GitLabDouble(cls.st.git, dict(alice=TOKEN, **OTHERS))
        except BaseException:
            cls.st.close()
            raise
        cls.st.runner_config(
            'plugins = ( "%s" );\n'
            'gitlab = { instances = ( { url = "%s"; api_url = "%s"; } ); fork_wait = 60; };\n'
            % (os.environ["GITLAB_PLUGIN"], cls.st.git.url, cls.gl.api_url))

    @classmethod
    def tearDownClass(cls):
        cls.gl.stop()
        cls.st.close()

    def setUp(self):
        self.gl.ctl("POST", "settings", {"fork_delay": 0, "per_page_max": 100})

    def tearDown(self):
        for run in list(self.st.pods.runs.values()):
            if run.rc is not None and os.path.exists(run.log_path):
                for mark in rh.apiharness.SANITIZER_MARKS:
                    self.assertNotIn(mark, run.log(), "runner %s/%s" % (run.ns, run.job))

    # ---- helpers ----
    def project(self, path, **kw):
        """A GitLab project over a new repository (default branch trunk)."""
        self.st.git.create_repo(path + ".git", **kw)
        return self.gl.ctl("POST", "projects", {"path": path})

    def forks_of(self, proj):
        return [p for p in self.gl.ctl("GET", "projects")
                if p.get("forked_from_project", {}).get("id") == proj["id"]]

    def run_session(self, path, push_to="same", token=TOKEN, phase="Completed", **output):
        ns = self.st.project(secrets={"GITLAB_TOKEN": token})
        name = uniq("gl")
        output["pushTo"] = push_to
        self.st.create_session(ns, name, {
            "displayName": "Add the notes",
            "prompt": "add notes [mock:write file=NOTES.md content=from-%s]" % name,
            "repos": [{"input": {"url": self.st.git.repo_url(path + ".git")},
                       "output": output}]})
        st = self.st.wait_phase(ns, name, phase)["status"]
        return ns, name, st["repoStatuses"][0], st

    def assert_delivered(self, ns, name, repo, st, target, source=None, branch=None):
        """Pushed to source (default: target) and one merge request into
        target, the one repoStatuses names."""
        source = source or target
        branch = branch or "ambient/" + name
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(repo["targetRepo"], source["http_url_to_repo"])
        self.assertEqual(self.st.git.read_file(source["path_with_namespace"] + ".git", branch,
                                               "NOTES.md"), "from-" + name)
        mrs = self.gl.merge_requests(target["id"])
        self.assertEqual(len(mrs), 1, mrs)
        self.assert_mr(mrs[0], ns, name, source, target, repo)

    def assert_mr(self, mr, ns, name, source_project, target_project, repo):
        self.assertEqual(mr["source_branch"], "ambient/" + name)
        self.assertEqual(mr["target_branch"], "trunk")
        self.assertEqual(mr["source_project_id"], source_project["id"])
        self.assertEqual(mr["target_project_id"], target_project["id"])
        self.assertEqual(mr["title"], "Add the notes")
        self.assertIn("%s/%s" % (ns, name), mr["description"])
        self.assertEqual(mr["author"]["username"], "alice")
        self.assertEqual(repo["pullRequestURL"], mr["web_url"])

    def assert_no_token(self, *texts):
        for t in texts:
            for tok in (TOKEN, REVOKED):
                self.assertNotIn(tok, json.dumps(t))
        for r in self.st.git.requests() + self.gl.requests():
            for tok in (TOKEN, REVOKED):
                self.assertNotIn(tok, json.dumps(r))

    # ---- cases ----
    def test_same_project_push_opens_a_merge_request(self):
        path = uniq("team") + "/app"
        proj = self.project(path)
        ns, name, repo, st = self.run_session(path)
        self.assert_delivered(ns, name, repo, st, proj)
        self.assertEqual(repo["pullRequestURL"], "%s/%s/-/merge_requests/1"
                         % (self.st.git.url, path))
        # git got the token as oauth2's password; the API as PRIVATE-TOKEN
        users = {r["user"] for r in self.st.git.requests() if path in r["path"] and
                 r["authorized"]}
        self.assertEqual(users, {"oauth2"})
        mine = [r for r in self.gl.requests() if r["user"] == "alice"]
        self.assertTrue(mine)
        self.assertTrue(all(r["auth"] == "private-token" for r in mine))
        self.assert_no_token(st, self.st.pods.run_for(ns, name).log())

    def test_subgroup_project_is_one_encoded_path(self):
        path = uniq("org") + "/platform/tools/cli"
        proj = self.project(path)
        ns, name, repo, st = self.run_session(path)
        self.assert_delivered(ns, name, repo, st, proj)
        encoded = "/api/v4/projects/" + path.replace("/", "%2F")
        self.assertIn(encoded, [r["path"] for r in self.gl.requests()])

    def test_fork_that_becomes_ready_late(self):
        """GitLab answers the fork "scheduled" and copies the repository
        3 s later: the runner pushes only once import_status is finished."""
        up = uniq("up") + "/tool"
        proj = self.project(up)
        self.gl.ctl("POST", "settings", {"fork_delay": 3})
        started = time.time()
        ns, name, repo, st = self.run_session(up, push_to="fork")
        forks = self.forks_of(proj)
        self.assertEqual([f["path_with_namespace"] for f in forks],
                         ["alice/" + up.split("/")[1]])
        self.assert_delivered(ns, name, repo, st, proj, source=forks[0])
        self.assertNotIn("ambient/" + name, self.st.git.branches(up + ".git"))
        # polled until finished, and pushed after that
        log = self.gl.requests()
        posted = [r for r in log if r["path"].endswith("/projects/%d/fork" % proj["id"])]
        polls = [r for r in log if r["path"] == "/api/v4/projects/%d" % forks[0]["id"]]
        self.assertEqual(len(posted), 1)
        self.assertGreaterEqual(len(polls), 2, log)
        self.assertGreaterEqual(polls[-1]["time"] - posted[0]["time"], 3.0)
        pushes = [r for r in self.st.git.requests()
                  if forks[0]["path_with_namespace"] in r["path"] and
                  r["service"] == "receive-pack"]
        self.assertTrue(pushes)
        self.assertGreaterEqual(pushes[0]["time"], started + 3.0)

    def test_fork_conflict_reuses_the_existing_fork(self):
        """alice has a project of the same name that is no fork, and forked
        the upstream earlier under another name: the fork POST is 409, and
        the runner finds that fork through her (paged) forks and pushes
        there, making no other."""
        group = uniq("up")
        up = group + "/widget"
        proj = self.project(up)
        self.project("alice/widget")
        for i in range(3):  # alice's forks in her groups come first in the list
            self.gl.ctl("POST", "projects", {"path": "%s-lab%d/widget" % (group, i),
                                             "forked_from": up, "owner": "alice"})
        old = self.gl.ctl("POST", "projects", {"path": "alice/%s-widget-fork" % group,
                                               "forked_from": up, "owner": "alice"})
        self.gl.ctl("POST", "settings", {"per_page_max": 1})
        ns, name, repo, st = self.run_session(up, push_to="fork")
        self.assert_delivered(ns, name, repo, st, proj, source=old)
        conflicts = [r for r in self.gl.requests()
                     if r["path"].endswith("/projects/%d/fork" % proj["id"])]
        self.assertEqual([r["status"] for r in conflicts], [409])
        self.assertEqual(len(self.forks_of(proj)), 4)

    def test_duplicate_merge_request_is_reused(self):
        """An open merge request from the same branch exists (and two from
        other forks' branches of that name come first): GitLab answers 409,
        the runner finds the open one and reports it."""
        path = uniq("dup") + "/app"
        branch = "ambient/shared-work"
        proj = self.project(path, extra_branches=(branch,))
        for who in ("bob", "carol"):
            f = self.gl.ctl("POST", "projects", {"path": "%s-%s/app" % (path.split("/")[0], who),
                                                 "forked_from": path, "owner": who})
            status, _ = self.gl.api("POST", "/projects/%d/merge_requests" % f["id"], OTHERS[who],
                                    {"source_branch": branch, "target_branch": "trunk",
                                     "title": "theirs", "target_project_id": proj["id"]})
            self.assertEqual(status, 201)
        status, earlier = self.gl.api("POST", "/projects/%d/merge_requests" % proj["id"], TOKEN,
                                      {"source_branch": branch, "target_branch": "trunk",
                                       "title": "earlier work"})
        self.assertEqual(status, 201, earlier)
        self.gl.ctl("POST", "settings", {"per_page_max": 1})
        ns, name, repo, st = self.run_session(path, targetBranch=branch)
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(self.st.git.read_file(path + ".git", branch, "NOTES.md"), "from-" + name)
        self.assertEqual(repo["pullRequestURL"], earlier["web_url"])
        self.assertNotIn("error", repo)
        self.assertEqual(len(self.gl.merge_requests(proj["id"])), 3)
        posts = [r for r in self.gl.requests()
                 if r["path"] == "/api/v4/projects/%d/merge_requests" % proj["id"] and
                 r["method"] == "POST" and r["user"] == "alice"]
        self.assertEqual([r["status"] for r in posts], [201, 409])

    def test_rate_limit_is_waited_out(self):
        """GitLab answers the next two calls 429 with Retry-After: 2; the
        runner waits that long each time and opens the merge request."""
        path = uniq("busy") + "/app"
        proj = self.project(path)
        self.gl.ctl("DELETE", "requests")
        self.gl.ctl("POST", "throttle", {"count": 2, "retry_after": 2})
        ns, name, repo, st = self.run_session(path)
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(len(self.gl.merge_requests(proj["id"])), 1)
        log = self.gl.requests()
        self.assertEqual([r["status"] for r in log[:3]], [429, 429, 200], log)
        self.assertGreaterEqual(log[1]["time"] - log[0]["time"], 2.0)
        self.assertGreaterEqual(log[2]["time"] - log[1]["time"], 2.0)
        self.assertEqual(log[0]["path"], log[2]["path"])

    def test_revoked_token_fails_clearly_without_showing_it(self):
        path = uniq("locked") + "/app"
        proj = self.project(path)
        ns, name, repo, st = self.run_session(path, push_to="fork", token=REVOKED,
                                              phase="Failed")
        self.assertEqual(repo["status"], "failed", st)
        self.assertIn("GitLab refused the token (HTTP 401)", repo["error"])
        self.assertIn("GITLAB_TOKEN", repo["error"])
        self.assert_no_token(st, self.st.pods.run_for(ns, name).log())
        self.assertEqual(self.gl.merge_requests(proj["id"]), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
