#!/usr/bin/python3
"""gitlab.so's webhook route, POST /api/webhooks/gitlab, served by a real
ambientd api role (tests/api/apiharness.py) with gitlab.so loaded, asking
tests/forges/gitlab_double.py for authors' access levels. What a GitLab
admin and a project's users see: the answer GitLab shows for the delivery,
and the sessions that appear (or do not) in the projects listing the
repository.

Environment (set by CMake): the runner suite's and GITLAB_PLUGIN."""
import json
import os
import shutil
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "api"))
sys.path.insert(0, os.path.join(TESTS, "githttp"))

import apiharness  # noqa: E402
import gitrepos  # noqa: E402
from test_gitlab import GitLabDouble  # noqa: E402

SECRET = "hook-secret-" + uuid.uuid4().hex
READER = "gl-reader-" + uuid.uuid4().hex  # the api role's read_api token
INSTANCE = "https://gitlab.test"
GROUP = "vteam.ambient-code/v1alpha1"
MAX_BODY = 65536


class FakeGit:
    """Where the double's projects live: bare repositories on disk only
    (nothing is cloned here); their URLs are under INSTANCE."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="gitlab-hook-")
        self.url = INSTANCE


class WebhookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.git = FakeGit()
        tokens = {"dev": "gl-dev-" + uuid.uuid4().hex, "rita": "gl-rita-" + uuid.uuid4().hex,
                  "stranger": "gl-x-" + uuid.uuid4().hex}
        cls.gl = GitLabDouble(cls.git, tokens)
        cls.gl.ctl("POST", "users", {"username": "ambient-bot", "token": READER,
                                     "scopes": ["read_api"]})
        cls.users = {n: cls.gl.api("GET", "/user", t)[1] for n, t in tokens.items()}
        gitrepos.create(cls.git.root, "grp/sub/app.git")
        cls.project = cls.gl.ctl("POST", "projects", {
            "path": "grp/sub/app", "members": {"dev": 30, "rita": 20}})
        files = {}
        for name, text in (("secret", SECRET), ("token", READER)):
            files[name] = os.path.join(cls.git.root, name)
            with open(files[name], "w") as f:
                f.write(text + "\n")
        conf = ('gitlab = { instances = ( { url = "%s"; api_url = "%s"; token_file = "%s"; } );'
                ' webhook_secret_file = "%s"; webhook = { max_body = %d; }; };'
                % (INSTANCE, cls.gl.api_url, files["token"], files["secret"], MAX_BODY))
        try:
            cls.cluster = apiharness.Cluster(extra_plugins=[os.environ["GITLAB_PLUGIN"]],
                                             extra_conf=conf)
        except BaseException:
            cls.gl.stop()
            raise
        cls.ns = cls.cluster.make_project("hook")
        cls.cluster.ok(cls.cluster.kube.post(
            "/apis/%s/namespaces/%s/projectsettings" % (GROUP, cls.ns),
            {"metadata": {"name": "projectsettings"},
             "spec": {"repositories": [INSTANCE + "/grp/sub/app.git"]}}), 201)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        cls.gl.stop()
        shutil.rmtree(cls.git.root, ignore_errors=True)

    # ---- helpers ----
    def deliver(self, event, payload, token=SECRET, uuid_=None, raw=None):
        headers = {"X-Gitlab-Event": event,
                   "X-Gitlab-Event-UUID": uuid_ or str(uuid.uuid4())}
        if token is not None:
            headers["X-Gitlab-Token"] = token
        data = raw if raw is not None else json.dumps(payload).encode()
        return self.cluster.rest("POST", "/api/webhooks/gitlab", raw=data, headers=headers)

    def sessions(self):
        r = self.cluster.kube.get("/apis/%s/namespaces/%s/agenticsessions" % (GROUP, self.ns))
        return self.cluster.ok(r, 200)["items"]

    def note(self, author, text, on="Issue"):
        user = self.users[author]
        what = {"Issue": "issue", "MergeRequest": "merge_request"}[on]
        return {"object_kind": "note", "event_type": "note",
                "user": {"id": user["id"], "username": author, "name": author},
                "project": {"id": self.project["id"],
                            "git_http_url": INSTANCE + "/grp/sub/app.git",
                            "path_with_namespace": "grp/sub/app"},
                "object_attributes": {"note": text, "noteable_type": on,
                                      "url": INSTANCE + "/grp/sub/app/-/issues/7#note_1"},
                what: {"iid": 7, "title": "Crash on start", "description": "It crashes.",
                       "url": INSTANCE + "/grp/sub/app/-/issues/7"}}

    def labelled(self, author, previous, current):
        user = self.users[author]
        return {"object_kind": "issue", "event_type": "issue",
                "user": {"id": user["id"], "username": author},
                "project": {"id": self.project["id"],
                            "git_http_url": INSTANCE + "/grp/sub/app.git"},
                "object_attributes": {"iid": 9, "title": "Add a changelog",
                                      "description": "Write CHANGELOG.md", "action": "update",
                                      "url": INSTANCE + "/grp/sub/app/-/issues/9"},
                "labels": [{"title": t} for t in current],
                "changes": {"labels": {"previous": [{"title": t} for t in previous],
                                       "current": [{"title": t} for t in current]}}}

    # ---- cases ----
    def test_developer_comment_creates_a_session_once(self):
        before = len(self.sessions())
        delivery = str(uuid.uuid4())
        r = self.deliver("Note Hook", self.note("dev", "/ambient fix the crash"),
                         uuid_=delivery)
        self.assertEqual(r.status, 202, r)
        created = r.body["created"]
        self.assertEqual([c["project"] for c in created], [self.ns])
        s = [x for x in self.sessions() if x["metadata"]["name"] == created[0]["name"]][0]
        self.assertEqual(s["spec"]["prompt"], "fix the crash")
        self.assertEqual(s["spec"]["repos"][0]["input"]["url"], INSTANCE + "/grp/sub/app.git")
        ann = s["metadata"]["annotations"]
        self.assertEqual(ann["ambient-code.io/created-by"], "gitlab:dev")
        self.assertEqual(ann["ambient-code.io/webhook-delivery"], delivery)
        self.assertEqual(ann["ambient-code.io/issue-number"], "7")
        # the same delivery again creates nothing
        r = self.deliver("Note Hook", self.note("dev", "/ambient fix the crash"),
                         uuid_=delivery)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.body["created"], [])
        self.assertEqual(len(r.body["replayed"]), 1)
        self.assertEqual(len(self.sessions()), before + 1)
        # the access check was made with the api role's token, on the project
        checks = [q for q in self.gl.requests() if "/members/all/" in q["path"]]
        self.assertEqual(checks[-1]["user"], "ambient-bot")
        self.assertIn("grp%2Fsub%2Fapp", checks[-1]["path"])

    def test_bare_command_on_a_merge_request_takes_its_text(self):
        r = self.deliver("Note Hook", self.note("dev", "/ambient", on="MergeRequest"))
        self.assertEqual(r.status, 202, r)
        name = r.body["created"][0]["name"]
        s = [x for x in self.sessions() if x["metadata"]["name"] == name][0]
        self.assertEqual(s["spec"]["prompt"], "It crashes.")

    def test_label_added_creates_a_session(self):
        r = self.deliver("Issue Hook", self.labelled("dev", ["bug"], ["bug", "ambient"]))
        self.assertEqual(r.status, 202, r)
        name = r.body["created"][0]["name"]
        s = [x for x in self.sessions() if x["metadata"]["name"] == name][0]
        self.assertEqual(s["spec"]["prompt"], "Write CHANGELOG.md")
        # an edit that keeps the label is no new trigger
        r = self.deliver("Issue Hook", self.labelled("dev", ["ambient"], ["ambient", "x"]))
        self.assertEqual((r.status, r.body.get("ignored")), (202, "not a trigger"), r)

    def test_who_may_not_write_creates_nothing(self):
        before = len(self.sessions())
        for who in ("rita", "stranger"):  # a Reporter; no member at all
            r = self.deliver("Note Hook", self.note(who, "/ambient delete everything"))
            self.assertEqual(r.status, 202, r)
            self.assertIn("may not write", r.body["ignored"])
        self.assertEqual(len(self.sessions()), before)

    def test_signature_missing_or_wrong_is_401(self):
        before = len(self.sessions())
        for token in (None, "wrong", SECRET + "x", ""):
            r = self.deliver("Note Hook", self.note("dev", "/ambient x"), token=token)
            self.assertEqual(r.status, 401, (token, r))
            self.assertIn("X-Gitlab-Token", json.dumps(r.body))
            self.assertNotIn(SECRET, json.dumps(r.body))
        self.assertEqual(len(self.sessions()), before)

    def test_other_events_and_comments_do_nothing(self):
        before = len(self.sessions())
        r = self.deliver("Push Hook", {"object_kind": "push"})
        self.assertEqual((r.status, r.body.get("ignored")), (202, "event"), r)
        r = self.deliver("Note Hook", self.note("dev", "looks fine /ambient"))
        self.assertEqual((r.status, r.body.get("ignored")), (202, "not a trigger"), r)
        self.assertEqual(len(self.sessions()), before)

    def test_malformed_and_huge_deliveries_are_refused(self):
        before = len(self.sessions())
        r = self.deliver("Note Hook", None, raw=b"{not json")
        self.assertEqual(r.status, 400, r)
        bad = self.note("dev", "/ambient x")
        bad["project"]["git_http_url"] = "https://evil.test/grp/sub/app.git"
        r = self.deliver("Note Hook", bad)
        self.assertEqual(r.status, 400, r)
        r = self.deliver("Note Hook", self.note("dev", "/ambient " + "x" * (MAX_BODY + 1)))
        self.assertEqual(r.status, 413, r)
        self.assertEqual(len(self.sessions()), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
