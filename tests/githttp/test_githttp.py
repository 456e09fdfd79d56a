#!/usr/bin/python3
"""githttp with the real git: clone and push over smart HTTP on loopback with
a token given only through the environment (a credential helper in
GIT_CONFIG_*), big chunked pushes, wrong tokens, protected branches, forced
pushes, the remote's default branch, and the request log.
Debian's /usr/bin/python3, standard library only."""

import base64
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

from servers import GitHttp, git_credential_env  # noqa: E402

TOKEN = "ghs_TestToken0123456789"
IDENTITY = {"GIT_AUTHOR_NAME": "Runner", "GIT_AUTHOR_EMAIL": "runner@ambient.invalid",
            "GIT_COMMITTER_NAME": "Runner", "GIT_COMMITTER_EMAIL": "runner@ambient.invalid"}


class GitTest(unittest.TestCase):
    server_options = {}

    @classmethod
    def setUpClass(cls):
        cls.gh = GitHttp(tokens=[TOKEN], **cls.server_options)

    @classmethod
    def tearDownClass(cls):
        cls.gh.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="githttp-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.gh.clear_requests()
        # A clean git: no user or system config, never a terminal prompt.
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
                         "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                         "GIT_ASKPASS": "/bin/false", "LC_ALL": "C", **IDENTITY}

    def git(self, *args, cwd=None, env=None, check=True, timeout=120):
        e = dict(self.base_env)
        e.update(env or {})
        r = subprocess.run(["git", *args], cwd=cwd or self.tmp, env=e, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check and r.returncode != 0:
            self.fail("git %s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout,
                                                  r.stderr))
        return r

    def token_env(self, token=TOKEN):
        return self.gh.credential_env(token)

    def clone(self, name, dest="work", env=None):
        self.git("clone", "-q", self.gh.repo_url(name), dest, env=env or self.token_env())
        return os.path.join(self.tmp, dest)

    def commit(self, work, path="change.txt", content="a change\n", message="A change"):
        full = os.path.join(work, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        self.git("add", path, cwd=work)
        self.git("commit", "-q", "-m", message, cwd=work)
        return self.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    def assertNoTokenInUrls(self):
        for r in self.gh.requests():
            self.assertNotIn(TOKEN, r["path"], "a token in a URL")


class CloneAndPush(GitTest):
    def test_startup_line(self):
        self.assertRegex(self.gh.lines[0], r"^listening on http://127\.0\.0\.1:\d+$")
        self.assertEqual(self.gh.call_ok("GET", "/_githttp/health")["ok"], True)

    def test_clone_and_push_with_a_token_from_the_environment(self):
        self.gh.create_repo("org/clone.git", files={"README.md": "hello\n", "src/a.c": "int a;\n"})
        work = self.clone("org/clone")  # without .git, as forge URLs are written
        with open(os.path.join(work, "src", "a.c")) as f:
            self.assertEqual(f.read(), "int a;\n")
        self.assertEqual(self.git("branch", "--show-current", cwd=work).stdout.strip(), "trunk")
        sha = self.commit(work)
        self.git("push", "-q", "origin", "HEAD:refs/heads/ambient/session-1", cwd=work,
                 env=self.token_env())
        self.assertEqual(self.gh.branches("org/clone.git")["ambient/session-1"], sha)
        self.assertEqual(self.gh.read_file("org/clone.git", "ambient/session-1", "change.txt"),
                         "a change\n")
        # The origin URL kept no credentials, and none travelled in a URL.
        url = self.git("remote", "get-url", "origin", cwd=work).stdout.strip()
        self.assertEqual(url, self.gh.repo_url("org/clone"))
        reqs = self.gh.requests()
        self.assertNoTokenInUrls()
        # git first asks without credentials, gets the challenge, asks the helper.
        self.assertEqual((reqs[0]["status"], reqs[0]["auth"]), (401, "none"))
        ok = [r for r in reqs if r["status"] == 200]
        self.assertTrue(ok)
        self.assertTrue(all(r["auth"] == "basic" and r["authorized"] and
                            r["user"] == "x-access-token" for r in ok), ok)
        self.assertEqual({r["service"] for r in ok}, {"upload-pack", "receive-pack"})

    def test_ls_remote_symref_shows_the_default_branch(self):
        self.gh.create_repo("org/symref.git", branch="trunk", extra_branches=("main", "dev"))
        out = self.git("ls-remote", "--symref", self.gh.repo_url("org/symref.git"), "HEAD",
                       env=self.token_env()).stdout
        self.assertEqual(out.splitlines()[0], "ref: refs/heads/trunk\tHEAD")
        self.assertEqual(self.gh.head_branch("org/symref.git"), "trunk")
        work = self.clone("org/symref.git")
        self.assertEqual(self.git("branch", "--show-current", cwd=work).stdout.strip(), "trunk",
                         "a clone checks out the remote's default branch, not main")

    def test_push_over_one_mib_is_chunked(self):
        self.gh.create_repo("org/big.git")
        work = self.clone("org/big.git")
        blob = os.urandom(3 * 1024 * 1024)  # incompressible: the pack is > 1 MiB
        sha = self.commit(work, "big.bin", blob, "A big file")
        self.gh.clear_requests()
        self.git("push", "-q", "origin", "HEAD:refs/heads/big", cwd=work, env=self.token_env())
        self.assertEqual(self.gh.branches("org/big.git")["big"], sha)
        pushes = [r for r in self.gh.requests()
                  if r["method"] == "POST" and r["service"] == "receive-pack" and r["chunked"]]
        self.assertTrue(pushes, "git sent the pack with Transfer-Encoding: chunked")
        self.assertGreater(pushes[0]["body_bytes"], 3 * 1024 * 1024)
        self.assertEqual(pushes[0]["status"], 200)
        self.assertIsNone(pushes[0]["content_length"])
        # And it comes back whole.
        again = self.clone("org/big.git", dest="again")
        self.git("checkout", "-q", "origin/big", cwd=again)
        with open(os.path.join(again, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), blob)

    def test_wrong_or_missing_token_fails_authentication(self):
        self.gh.create_repo("org/private.git")
        r = self.git("clone", "-q", self.gh.repo_url("org/private.git"), "x",
                     env=self.token_env("wrong-token"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Authentication failed", r.stderr)
        r = self.git("clone", "-q", self.gh.repo_url("org/private.git"), "y", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("could not read Username", r.stderr, "no helper: git wanted to ask")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x", "README.md")))
        reqs = self.gh.requests()
        self.assertTrue(reqs)
        self.assertTrue(all(q["status"] == 401 for q in reqs), reqs)
        self.assertEqual({q["authorized"] for q in reqs}, {False})

    def test_challenge_over_raw_http(self):
        self.gh.create_repo("org/raw.git")
        path = "/org/raw.git/info/refs?service=git-upload-pack"

        def get(auth=None):
            conn = http.client.HTTPConnection("127.0.0.1", self.gh.port, timeout=30)
            try:
                conn.request("GET", path, headers={"Authorization": auth} if auth else {})
                r = conn.getresponse()
                r.read()
                return r.status, r.getheader("WWW-Authenticate")
            finally:
                conn.close()

        self.assertEqual(get(), (401, 'Basic realm="githttp"'))
        basic = "Basic " + base64.b64encode(b"anyone:" + TOKEN.encode()).decode()
        self.assertEqual(get(basic)[0], 200, "any user name with the token as password")
        self.assertEqual(get("Basic " + base64.b64encode(b"x:nope").decode())[0], 401)
        self.assertEqual(get("Bearer " + TOKEN)[0], 200)
        self.assertEqual(get("Bearer nope")[0], 401)

    def test_unauthorized_body_is_refused_before_it_is_sent(self):
        self.gh.create_repo("org/expect.git")
        with socket.create_connection(("127.0.0.1", self.gh.port), timeout=30) as s:
            s.sendall(b"POST /org/expect.git/git-receive-pack HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nContent-Type: application/x-git-receive-pack-request\r\n"
                      b"Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = s.recv(4096)
                if not data:
                    break
                head += data
        self.assertTrue(head.startswith(b"HTTP/1.1 401 "), head)
        self.assertIn(b'WWW-Authenticate: Basic realm="githttp"', head)

    def test_bearer_token_through_an_extra_header(self):
        self.gh.create_repo("org/bearer.git")
        env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
               "GIT_CONFIG_VALUE_0": "Authorization: Bearer " + TOKEN}
        work = self.clone("org/bearer.git", env=env)
        self.commit(work)
        self.git("push", "-q", "origin", "HEAD:refs/heads/via-bearer", cwd=work, env=env)
        self.assertIn("via-bearer", self.gh.branches("org/bearer.git"))
        self.assertEqual({r["auth"] for r in self.gh.requests()}, {"bearer"})

    def test_protected_branch_is_rejected_with_the_hook_message(self):
        msg = "trunk is protected: push to a branch and open a pull request"
        self.gh.create_repo("org/protected.git", protect={"trunk": msg})
        before = self.gh.branches("org/protected.git")["trunk"]
        work = self.clone("org/protected.git")
        self.commit(work)
        r = self.git("push", "origin", "HEAD:trunk", cwd=work, env=self.token_env(),
                     check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("remote: " + msg, r.stderr)
        self.assertIn("[remote rejected] HEAD -> trunk (pre-receive hook declined)", r.stderr)
        self.assertEqual(self.gh.branches("org/protected.git")["trunk"], before)
        # Other branches still take pushes.
        self.git("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=work,
                 env=self.token_env())
        self.assertIn("feature", self.gh.branches("org/protected.git"))

    def test_non_fast_forward_is_rejected(self):
        self.gh.create_repo("org/nff.git", deny_non_fast_forward=True)
        work = self.clone("org/nff.git")
        other = self.clone("org/nff.git", dest="other")
        self.commit(other, "theirs.txt", "theirs\n")
        self.git("push", "-q", "origin", "trunk", cwd=other, env=self.token_env())
        self.commit(work, "mine.txt", "mine\n")
        r = self.git("push", "origin", "trunk", cwd=work, env=self.token_env(), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("[rejected]", r.stderr)
        self.assertIn("fetch first", r.stderr)
        r = self.git("push", "--force", "origin", "trunk", cwd=work, env=self.token_env(),
                     check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("non-fast-forward", r.stderr)
        self.assertIn("theirs.txt",
                      self.git("ls-tree", "--name-only", "trunk",
                               cwd=self.gh.repo_dir("org/nff.git")).stdout)

    def test_missing_repository_is_a_404(self):
        r = self.git("clone", "-q", self.gh.repo_url("org/nosuch.git"), "z",
                     env=self.token_env(), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not found", r.stderr)


class AnonymousRead(GitTest):
    server_options = {"anonymous_read": True}

    def test_clone_without_token_but_push_needs_one(self):
        self.gh.create_repo("public/repo.git")
        work = self.clone("public/repo.git", env={})
        self.commit(work)
        r = self.git("push", "origin", "HEAD:refs/heads/x", cwd=work, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.git("push", "-q", "origin", "HEAD:refs/heads/x", cwd=work, env=self.token_env())
        self.assertIn("x", self.gh.branches("public/repo.git"))


class Lifecycle(unittest.TestCase):
    def test_sigterm_exits_0_and_own_root_is_removed(self):
        gh = GitHttp(tokens=[TOKEN])
        root = gh.root
        self.assertTrue(os.path.isdir(root))
        gh.proc.send_signal(signal.SIGTERM)
        self.assertEqual(gh.proc.wait(10), 0)
        gh.stop()
        self.assertFalse(os.path.exists(root))

    def test_credential_env_is_only_environment(self):
        env = git_credential_env("http://127.0.0.1:1", "user", "p@ss word")
        self.assertEqual(sorted(env), ["GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0",
                                       "GIT_CONFIG_VALUE_0"])
        self.assertEqual(env["GIT_CONFIG_KEY_0"], "credential.http://127.0.0.1:1.helper")
        out = subprocess.run(["sh", "-c", env["GIT_CONFIG_VALUE_0"][1:] + " get"],
                             stdout=subprocess.PIPE, text=True, timeout=10).stdout
        self.assertEqual(out, "username=user\npassword=p@ss word\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
