#!/usr/bin/python3
"""github.so end to end: the real ambient-runner (tests/runner's Stack:
kubesim, ambientd, podsim, the mock model API, tests/githttp) loads
github.so with an instance whose repositories are githttp's and whose API
is github_double.py, and runs sessions: a pull request from a same-repo
push, a fork that answers late, a duplicate pull request reused (found on
a later page of the list), a rate limit waited out and one too long, "No
commits between" recorded as abandoned, and a GitHub App's installation
token used without any GITHUB_TOKEN, refreshed after GitHub refused it.
The api role serves POST /api/webhooks/github from the same plugin."""
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "runner"))

import runnerharness as rh  # noqa: E402
from runnerharness import GIT_TOKEN, Stack, uniq  # noqa: E402
from servers import PYTHON, ServerProcess  # noqa: E402

GITHUB_PLUGIN = os.environ["GITHUB_PLUGIN"]
DOUBLE = os.path.join(HERE, "github_double.py")
APP_ID = 4242
FORK_DELAY = 3          # seconds a new fork answers 404
TOKEN_TTL = 1           # seconds an installation token works (expires_at says an hour)
RATE_LIMIT_WAIT = 10    # github.rate_limit_wait of the runner's config
WEBHOOK_SECRET = "whsec-" + uuid.uuid4().hex
HOOK_HOST = "git.invalid"  # the webhook's instance: never resolves
SETTINGS = "/apis/vteam.ambient-code/v1alpha1/namespaces/%s/projectsettings"


class GithubDouble(ServerProcess):
    name = "github_double"

    def __init__(self, args):
        super().__init__([PYTHON, DOUBLE, "--port", "0"] + args)

    def requests(self):
        return self.call_ok("GET", "/_double/requests")["requests"]

    def pulls(self):
        return self.call_ok("GET", "/_double/pulls")["pulls"]


class GithubTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ghtest-")
        cls.key = os.path.join(cls.tmp, "app.pem")
        cls.pub = os.path.join(cls.tmp, "app.pub.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", cls.key], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", cls.key, "-pubout", "-out", cls.pub],
                       check=True, capture_output=True)
        cls.secret_file = os.path.join(cls.tmp, "webhook-secret")
        with open(cls.secret_file, "w") as f:
            f.write(WEBHOOK_SECRET + "\n")
        cls.double = None
        cls.st = Stack(api_plugins=cls.start_double)

    @classmethod
    def start_double(cls, st):
        cls.double = GithubDouble(["--git-root", st.git.root, "--git-url", st.git.url,
                                   "--token", GIT_TOKEN, "--app-id", str(APP_ID),
                                   "--app-public-key", cls.pub, "--token-ttl", str(TOKEN_TTL),
                                   "--fork-delay", str(FORK_DELAY), "--max-per-page", "1"])
        return (GITHUB_PLUGIN,), cls.github_group(st, webhook=True)

    @classmethod
    def github_group(cls, st, webhook=False):
        """The runner's github group; webhook: the api role's, with the
        webhook secret and a second, https instance (webhooks name https
        repositories only)."""
        return ('github = { instances = ( { url = "%s"; api_url = "%s"; app_id = %d; '
                'private_key_file = "%s"; } %s); rate_limit_wait = %d; fork_wait = 60; %s };\n'
                % (st.git.url, cls.double.url, APP_ID, cls.key,
                   ', { url = "https://%s"; api_url = "https://api.%s"; } ' % (HOOK_HOST, HOOK_HOST)
                   if webhook else "", RATE_LIMIT_WAIT,
                   'webhook_secret_file = "%s";' % cls.secret_file if webhook else ""))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.st.close()
            if cls.double:
                cls.double.stop()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)  # holds the App's private key

    def tearDown(self):
        rh.assert_runners_clean(self, self.st.pods)

    # ---- helpers ----
    def runner_config(self, ns, name, token=GIT_TOKEN):
        """This session's runner loads github.so; token None: no GITHUB_TOKEN."""
        path = os.path.join(self.st.cluster.tmp, name + "-runner.conf")
        with open(path, "w") as f:
            f.write('plugins = ( "%s" );\n%s' % (GITHUB_PLUGIN, self.github_group(self.st)))
        env = {"AMBIENT_RUNNER_CONFIG": path}
        if token:
            env["GITHUB_TOKEN"] = token
        self.st.pods.session_env[(ns, name)] = env

    def run_session(self, ns, name, repo, want="Completed", title="Add the notes", token=GIT_TOKEN,
                    push_to="same"):
        self.runner_config(ns, name, token)
        self.st.create_session(ns, name, {
            "displayName": title,
            "prompt": "add notes [mock:write file=NOTES.md content=%s]" % name,
            "repos": [{"input": {"url": repo}, "output": {"pushTo": push_to}}]})
        st = self.st.wait_phase(ns, name, want, timeout=240)["status"]
        return st["repoStatuses"][0], st

    def api_calls(self, since, path_part=""):
        return [r for r in self.double.requests() if r["time"] >= since and path_part in r["path"]]

    # ---- cases ----
    def test_same_repo_push_opens_a_pull_request(self):
        ns = self.st.project()
        url = self.st.repo(ns, "same")
        name = uniq("pr")
        t0 = time.time()
        repo, st = self.run_session(ns, name, url)
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(self.st.git.read_file("%s/same.git" % ns, "ambient/" + name, "NOTES.md"),
                         name)
        pr = [p for p in self.double.pulls() if p["repo"] == "%s/same" % ns]
        self.assertEqual(len(pr), 1)
        self.assertEqual(repo["pullRequestURL"], pr[0]["html_url"])
        self.assertEqual(pr[0]["head"]["label"], "%s:ambient/%s" % (ns, name))
        self.assertEqual(pr[0]["base"]["ref"], "trunk")
        self.assertEqual(pr[0]["title"], "Add the notes")
        self.assertIn("%s/%s" % (ns, name), pr[0]["body"])
        calls = self.api_calls(t0)
        self.assertTrue(calls)
        for c in calls:
            self.assertEqual(c["auth"], "pat", c)
            self.assertEqual(c["accept"], "application/vnd.github+json", c)
            self.assertTrue(c["user_agent"], c)
        run = self.st.pods.run_for(ns, name)
        self.assertNotIn(GIT_TOKEN, run.log() + run.stdout())

    def test_fork_that_answers_late(self):
        ns = self.st.project()
        url = self.st.repo(ns, "upstream")
        name = uniq("fork")
        t0 = time.time()
        repo, st = self.run_session(ns, name, url, push_to="fork")
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(repo["targetRepo"], self.st.git.repo_url("forker/upstream.git"))
        self.assertEqual(self.st.git.read_file("forker/upstream.git", "ambient/" + name,
                                               "NOTES.md"), name)
        self.assertNotIn("ambient/" + name, self.st.git.branches("%s/upstream.git" % ns))
        polls = [c for c in self.api_calls(t0, "/repos/forker/upstream")
                 if c["method"] == "GET"]
        self.assertEqual(polls[0]["status"], 404, polls)
        self.assertEqual(polls[-1]["status"], 200, polls)
        self.assertGreaterEqual(polls[-1]["time"] - polls[0]["time"], FORK_DELAY - 1, polls)
        pr = [p for p in self.double.pulls() if p["repo"] == "%s/upstream" % ns]
        self.assertEqual([p["head"]["label"] for p in pr], ["forker:ambient/" + name])
        self.assertEqual(repo["pullRequestURL"], pr[0]["html_url"])
        # a second session reuses the fork: no wait for it this time
        name2 = uniq("fork2")
        t1 = time.time()
        repo2, st2 = self.run_session(ns, name2, url, push_to="fork")
        self.assertEqual(repo2["status"], "pushed", st2)
        polls = [c for c in self.api_calls(t1, "/repos/forker/upstream") if c["method"] == "GET"]
        self.assertEqual([c["status"] for c in polls], [200])

    def test_duplicate_pull_request_is_reused(self):
        """GitHub refuses a second open pull request from the same head into
        the same base; the one there is found (past other bases' ones, one
        per page) and reported."""
        ns = self.st.project()
        url = self.st.repo(ns, "dup")
        name = uniq("dup")
        head = "%s:ambient/%s" % (ns, name)
        for base in ("release-1", "release-2"):
            self.double.call_ok("POST", "/_double/pulls", {"repo": "%s/dup" % ns, "head": head,
                                                           "base": base})
        seeded = self.double.call_ok("POST", "/_double/pulls", {
            "repo": "%s/dup" % ns, "head": head, "base": "trunk", "title": "by hand"})
        t0 = time.time()
        repo, st = self.run_session(ns, name, url)
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(repo["pullRequestURL"], seeded["html_url"])
        self.assertNotIn("error", repo)
        pulls = [p for p in self.double.pulls() if p["repo"] == "%s/dup" % ns]
        self.assertEqual(len(pulls), 3)
        lists = [c for c in self.api_calls(t0, "/pulls?") if c["method"] == "GET"]
        self.assertEqual(len(lists), 3, lists)  # one per page, via Link rel="next"

    def test_rate_limit_is_waited_out(self):
        ns = self.st.project()
        url = self.st.repo(ns, "limited")
        name = uniq("rl")
        self.double.call_ok("POST", "/_double/ratelimit", {"count": 2, "status": 403,
                                                           "reset_in": 2})
        t0 = time.time()
        repo, st = self.run_session(ns, name, url)
        self.assertEqual(repo["status"], "pushed", st)
        self.assertIn("pullRequestURL", repo)
        calls = self.api_calls(t0)
        limited = [c for c in calls if c["status"] == 403]
        self.assertEqual(len(limited), 2, calls)
        after = [c for c in calls if c["time"] > limited[-1]["time"]]
        self.assertEqual(after[0]["status"], 201, calls)
        self.assertGreaterEqual(after[0]["time"] - limited[0]["time"], 1.0, calls)

    def test_rate_limit_beyond_the_bound_is_a_clear_error(self):
        ns = self.st.project()
        url = self.st.repo(ns, "limited2")
        name = uniq("rl2")
        self.double.call_ok("POST", "/_double/ratelimit", {"count": 1, "status": 429,
                                                           "reset_in": 600, "retry_after": 600})
        t0 = time.time()
        repo, st = self.run_session(ns, name, url, want="Failed")
        self.assertEqual(repo["status"], "pushed", st)
        self.assertIn("rate limit", repo["error"])
        self.assertIn("github.rate_limit_wait", repo["error"])
        self.assertLess(time.time() - t0, 200)
        self.assertNotIn("pullRequestURL", repo)

    def test_no_commits_between_is_abandoned(self):
        """Someone else pushed the same work to the base meanwhile: GitHub
        finds no commits between, and there is nothing to review."""
        ns = self.st.project()
        url = self.st.repo(ns, "nothing")
        name = uniq("none")
        # the base moves onto the work branch as soon as it is pushed
        hook = os.path.join(self.st.git.repo_dir("%s/nothing.git" % ns), "hooks", "post-receive")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nwhile read old new ref; do\n"
                    "  case \"$ref\" in refs/heads/ambient/*) git update-ref refs/heads/trunk "
                    "\"$new\";; esac\ndone\n")
        os.chmod(hook, 0o755)
        _, st = self.run_session(ns, name, url)
        repo = st["repoStatuses"][0]
        self.assertEqual(repo["status"], "abandoned", st)
        self.assertIn("no commits between", repo["message"])
        self.assertNotIn("pullRequestURL", repo)

    def test_app_token_without_a_session_token(self):
        """No GITHUB_TOKEN: the App's JWT finds the installation and gets a
        token git and the API use; GitHub refuses the cached token before
        its expires_at (401, a revocation), and a new one is fetched."""
        ns = self.st.project()
        url = self.st.repo(ns, "app")
        name = uniq("app")
        t0 = time.time()
        # Refused at its first use on the API whatever the run's pace
        # (TOKEN_TTL alone raced a fast run).
        self.double.call_ok("POST", "/_double/revoke", {"count": 1})
        repo, st = self.run_session(ns, name, url, token=None)
        self.assertEqual(repo["status"], "pushed", st)
        self.assertIn("pullRequestURL", repo)
        calls = self.api_calls(t0)
        kinds = [c["auth"] for c in calls]
        self.assertNotIn("pat", kinds)
        self.assertIn("expired", kinds, calls)
        minted = [c for c in calls if c["path"].endswith("/access_tokens")]
        self.assertGreaterEqual(len(minted), 2, calls)
        self.assertTrue(all(c["status"] == 201 for c in minted), minted)
        expired = kinds.index("expired")
        self.assertEqual(calls[-1]["status"], 201, calls)
        self.assertGreater(len(calls), expired + 2)
        git_users = {r["user"] for r in self.st.git.requests()
                     if "%s/app" % ns in r["path"] and r["authorized"]}
        self.assertEqual(git_users, {"x-access-token"})
        run = self.st.pods.run_for(ns, name)
        self.assertNotIn("ghs_", run.log() + run.stdout())

    # ---- the webhook route ----
    def deliver(self, body, event="issue_comment", secret=WEBHOOK_SECRET, delivery=None,
                signature=True):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                   "Content-Type": "application/json"}
        if signature:
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(
                secret.encode(), raw, hashlib.sha256).hexdigest()
        return rh.apiharness.http_request(self.st.cluster.rest_address, "POST",
                                          "/api/webhooks/github", raw=raw, headers=headers)

    def comment(self, repo_url, text, association="MEMBER"):
        return {"action": "created",
                "comment": {"body": text, "author_association": association,
                            "user": {"login": "octo"}},
                "issue": {"number": 7, "html_url": "https://github.example/o/r/issues/7",
                          "title": "t", "body": "b"},
                "repository": {"clone_url": repo_url}}

    def hook_project(self, repo_url):
        ns = self.st.project()
        self.st.cluster.ok(self.st.kube.post(SETTINGS % ns, {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
            "metadata": {"name": "projectsettings"}, "spec": {"repositories": [repo_url]}}), 201)
        return ns

    def sessions(self, ns):
        return self.st.cluster.ok(self.st.kube.get(rh.SESSIONS % ns), 200)["items"]

    def test_webhook_comment_by_a_member_creates_a_session_once(self):
        url = "https://%s/org/hook-%s.git" % (HOOK_HOST, uuid.uuid4().hex[:6])
        ns = self.hook_project(url)
        delivery = str(uuid.uuid4())
        r = self.deliver(self.comment(url, "/ambient fix the flaky test", "NONE"))
        self.assertEqual((r.status, self.sessions(ns)), (202, []), r)
        r = self.deliver(self.comment(url, "/ambient fix the flaky test"), delivery=delivery)
        self.assertEqual(r.status, 202, r)
        self.assertEqual([c["project"] for c in r.body["created"]], [ns], r)
        items = self.sessions(ns)
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["spec"]["prompt"], "fix the flaky test")
        self.assertEqual(items[0]["spec"]["repos"][0]["input"]["url"], url)
        self.assertEqual(items[0]["metadata"]["annotations"]["ambient-code.io/created-by"],
                         "github:octo")
        r = self.deliver(self.comment(url, "/ambient fix the flaky test"), delivery=delivery)
        self.assertEqual((r.status, len(r.body["replayed"])), (202, 1), r)
        self.assertEqual(len(self.sessions(ns)), 1)
        # the trigger label on an issue: its title and body are the prompt
        r = self.deliver({"action": "labeled", "label": {"name": "Ambient"},
                          "sender": {"login": "octo"},
                          "issue": {"number": 8, "html_url": "https://%s/org/i/8" % HOOK_HOST,
                                    "title": "Crash on start", "body": "see the log"},
                          "repository": {"clone_url": url}}, event="issues")
        self.assertEqual(r.status, 202, r)
        prompts = sorted(i["spec"]["prompt"] for i in self.sessions(ns))
        self.assertEqual(prompts, ["Crash on start\n\nsee the log", "fix the flaky test"])

    def test_webhook_session_runs_to_a_pull_request(self):
        """A member's comment on a repository a project lists becomes a
        session that the runner takes to a pushed branch and a pull
        request: the whole way, on loopback (github.so's instance is
        githttp's, plain http being allowed there only)."""
        ns = self.st.project()
        url = self.st.repo(ns, "hooked")
        self.st.cluster.ok(self.st.kube.post(SETTINGS % ns, {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
            "metadata": {"name": "projectsettings"}, "spec": {"repositories": [url]}}), 201)
        delivery = str(uuid.uuid4())
        # The session's name is the delivery's hash (docs/forges.md), so
        # its runner can be given github.so before the session exists.
        name = "wh-" + hashlib.sha256(("github\n" + delivery).encode()).hexdigest()[:16]
        self.runner_config(ns, name)
        r = self.deliver(self.comment(
            url, "/ambient add notes [mock:write file=NOTES.md content=from-a-comment]"),
            delivery=delivery)
        self.assertEqual(r.status, 202, r)
        self.assertEqual([c["project"] for c in r.body["created"]], [ns], r)
        st = self.st.wait_phase(ns, name, "Completed", timeout=240)["status"]
        repo = st["repoStatuses"][0]
        self.assertEqual(repo["status"], "pushed", st)
        self.assertEqual(self.st.git.read_file("%s/hooked.git" % ns, "ambient/" + name,
                                               "NOTES.md"), "from-a-comment")
        pr = [p for p in self.double.pulls() if p["repo"] == "%s/hooked" % ns]
        self.assertEqual(len(pr), 1, pr)
        self.assertEqual(repo["pullRequestURL"], pr[0]["html_url"])
        self.assertIn("%s/%s" % (ns, name), pr[0]["body"])

    def rss_kib(self):
        with open("/proc/%d/status" % self.st.cluster.daemon.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def test_forged_deliveries_do_not_grow_the_daemon(self):
        """Deliveries of almost 1 MiB with a wrong signature: all 401, and
        ambientd's memory stops growing. Measured after a first round,
        which fills what the allocator keeps (ASan holds 256 MiB of freed
        memory in quarantine)."""
        body = b'{"action":"created","pad":"' + b"x" * (1000 * 1000) + b'"}'
        rounds = []
        for _ in range(3):
            t0 = time.time()
            statuses = {self.deliver(body, secret="wrong").status for _ in range(300)}
            self.assertEqual(statuses, {401})
            rounds.append((self.rss_kib(), time.time() - t0))
        print("\nRSS of ambientd after each 300 forged 1 MB deliveries: %s" %
              ", ".join("%d KiB (%.1f s)" % r for r in rounds), file=sys.stderr)
        self.assertLess(rounds[2][0] - rounds[1][0], 32 * 1024, rounds)

    def test_webhook_signature_is_checked(self):
        url = self.st.git.repo_url("o/hook.git")
        body = self.comment(url, "/ambient fix it", association="NONE")
        self.assertEqual(self.deliver(body, signature=False).status, 401)
        self.assertEqual(self.deliver(body, secret="wrong").status, 401)
        r = self.deliver(body)
        self.assertEqual(r.status, 202, r)  # signed, but an outsider's: nothing done
        self.assertIn("ignored", r.body)
        self.assertEqual(self.deliver(b"{not json").status, 400)
        self.assertEqual(self.deliver({"zen": "hi"}, event="ping").status, 202)
        self.assertEqual(self.deliver(b"x" * (2 << 20)).status, 413)



if __name__ == "__main__":
    unittest.main(verbosity=2)
