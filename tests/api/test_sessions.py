"""The AgenticSession routes beyond the generic ones (api/routes_sessions.c):
stop and start as desired-phase annotations, clone into another project, and
the original platform's create shape ({initialPrompt, repos[{url, branch,
autoPush}], llmSettings, ...} answered with {message, name, uid,
autoBranch}). alice is admin of the projects, bob a viewer, carol nobody.
No controller runs, so phases are set through kubesim's /status as admin.
Run with /usr/bin/python3."""
import re
import unittest
from datetime import datetime, timedelta, timezone

from apiharness import ADMIN, ALICE, BOB, CAROL, ApiTest, uniq  # noqa: F401

GROUP = "/apis/vteam.ambient-code/v1alpha1"
DESIRED = "ambient-code.io/desired-phase"


class Sessions(ApiTest):
    cluster_args = {"live": False}  # REST only

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ns = cls.cluster.make_project(admins=["alice"], viewers=["bob"])

    def path(self, name="", ns=None, action=""):
        p = f"/api/projects/{ns or self.ns}/agentic-sessions"
        p += "/" + name if name else ""
        return p + "/" + action if action else p

    def rest(self, method, path, token=ALICE, **kw):
        return self.cluster.rest(method, path, token=token, **kw)

    def created(self, ns=None, spec=None, **meta):
        name = uniq("s")
        body = {"metadata": dict(meta, name=name), "spec": spec or {"prompt": "say hi"}}
        return self.assertStatus(self.rest("POST", self.path(ns=ns), body=body), 201)

    def set_phase(self, name, phase, ns=None):
        r = self.cluster.kube.patch(
            f"{GROUP}/namespaces/{ns or self.ns}/agenticsessions/{name}/status",
            {"status": {"phase": phase}})
        self.assertEqual(r.status, 200, r)

    def annotations(self, name, ns=None):
        obj = self.assertStatus(self.rest("GET", self.path(name, ns=ns)), 200)
        return obj["metadata"].get("annotations") or {}

    def fields(self, reply):
        return [d.get("field") for d in reply.body.get("details") or []]

    def assertRecent(self, stamp):
        self.assertRegex(stamp, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        self.assertLess(abs(datetime.now(timezone.utc) - t), timedelta(minutes=5))

    # ---- stop / start ----
    def test_stop_records_the_request(self):
        name = self.created()["metadata"]["name"]
        self.set_phase(name, "Running")
        r = self.rest("POST", self.path(name, action="stop"))
        body = self.assertStatus(r, 202)
        self.assertIn("message", body)
        ann = self.annotations(name)
        self.assertEqual(ann[DESIRED], "Stopped")
        self.assertRecent(ann["ambient-code.io/stop-requested-at"])
        # Asking again while it is still running is fine.
        self.assertStatus(self.rest("POST", self.path(name, action="stop")), 202)

    def test_stop_a_finished_session_is_409(self):
        for phase in ("Completed", "Failed", "Stopped"):
            with self.subTest(phase=phase):
                name = self.created()["metadata"]["name"]
                self.set_phase(name, phase)
                self.assertError(self.rest("POST", self.path(name, action="stop")), 409)
                self.assertNotIn(DESIRED, self.annotations(name))

    def test_start_records_the_request(self):
        name = self.created()["metadata"]["name"]
        self.set_phase(name, "Stopped")
        body = self.assertStatus(self.rest("POST", self.path(name, action="start")), 202)
        self.assertIn("message", body)
        ann = self.annotations(name)
        self.assertEqual(ann[DESIRED], "Running")
        self.assertRecent(ann["ambient-code.io/start-requested-at"])

    def test_start_an_unfinished_session_is_409(self):
        name = self.created()["metadata"]["name"]
        self.assertError(self.rest("POST", self.path(name, action="start")), 409)  # no phase
        for phase in ("Pending", "Running"):
            with self.subTest(phase=phase):
                self.set_phase(name, phase)
                r = self.rest("POST", self.path(name, action="start"))
                body = self.assertError(r, 409)
                self.assertIn(phase, body["error"])
        self.assertNotIn(DESIRED, self.annotations(name))

    def test_stop_start_rights_and_names(self):
        name = self.created()["metadata"]["name"]
        self.set_phase(name, "Running")
        for action in ("stop", "start"):
            with self.subTest(action=action):
                self.assertError(self.rest("POST", self.path(name, action=action), token=BOB),
                                 403)
                self.assertError(self.rest("POST", self.path(name, action=action),
                                           token=CAROL), 403)
                self.assertError(self.rest("POST", self.path(name, action=action), token=None),
                                 401)
                self.assertError(self.rest("POST", self.path(uniq("none"), action=action)),
                                 404)
                r = self.rest("POST", self.path("Bad_Name", action=action))
                self.assertError(r, 400)
                self.assertIn("name", self.fields(r))
                self.assertError(self.rest("POST", self.path("..", action=action)), 400)
        self.assertNotIn(DESIRED, self.annotations(name))

    # ---- clone ----
    def test_clone_copies_spec_and_labels_only(self):
        src = self.created(spec={"prompt": "clone me", "model": "claude-x", "timeout": 77,
                                 "repos": [{"input": {"url": "https://github.com/o/r"},
                                            "output": {"pushTo": "none"}}]},
                           labels={"team": "a"}, annotations={"note": "private"})
        name = src["metadata"]["name"]
        self.set_phase(name, "Completed")
        target = self.cluster.make_project(admins=["alice"], viewers=[])
        new_name = uniq("copy")
        r = self.rest("POST", self.path(name, action="clone"),
                      body={"targetProject": target, "newSessionName": new_name})
        obj = self.assertStatus(r, 201)
        self.assertEqual(obj["metadata"]["name"], new_name)
        self.assertEqual(obj["metadata"]["namespace"], target)
        self.assertEqual(obj["spec"], src["spec"])
        self.assertEqual(obj["metadata"]["labels"], {"team": "a"})
        ann = obj["metadata"].get("annotations") or {}
        self.assertNotIn("note", ann)
        self.assertEqual(ann.get("ambient-code.io/cloned-from"), f"{self.ns}/{name}")
        self.assertNotEqual((obj.get("status") or {}).get("phase"), "Completed")
        self.assertNotEqual(obj["metadata"]["uid"], src["metadata"]["uid"])
        got = self.assertStatus(self.rest("GET", self.path(new_name, ns=target)), 200)
        self.assertEqual(got["spec"]["prompt"], "clone me")
        # Same name again: exists.
        r = self.rest("POST", self.path(name, action="clone"),
                      body={"targetProject": target, "newSessionName": new_name})
        self.assertError(r, 409)

    def test_clone_needs_create_in_the_target(self):
        name = self.created()["metadata"]["name"]
        theirs = self.cluster.make_project(admins=["carol"], viewers=["bob"])
        r = self.rest("POST", self.path(name, action="clone"),
                      body={"targetProject": theirs, "newSessionName": uniq("c")})
        self.assertError(r, 403)
        # bob can read the source and the target, but create in neither.
        r = self.rest("POST", self.path(name, action="clone"), token=BOB,
                      body={"targetProject": self.ns, "newSessionName": uniq("c")})
        self.assertError(r, 403)
        # carol may create in her project but cannot read the source.
        r = self.rest("POST", self.path(name, action="clone"), token=CAROL,
                      body={"targetProject": theirs, "newSessionName": uniq("c")})
        self.assertError(r, 403)

    def test_clone_checks_its_body(self):
        name = self.created()["metadata"]["name"]
        for body, field in (({"newSessionName": "a"}, "targetProject"),
                            ({"targetProject": "../x", "newSessionName": "a"}, "targetProject"),
                            ({"targetProject": self.ns}, "newSessionName"),
                            ({"targetProject": self.ns, "newSessionName": "A/B"},
                             "newSessionName"),
                            ({"targetProject": self.ns, "newSessionName": 5},
                             "newSessionName")):
            with self.subTest(body=body):
                r = self.rest("POST", self.path(name, action="clone"), body=body)
                self.assertError(r, 400)
                self.assertIn(field, self.fields(r))
        self.assertError(self.rest("POST", self.path(name, action="clone"), raw=b"{"), 400)
        r = self.rest("POST", self.path(uniq("none"), action="clone"),
                      body={"targetProject": self.ns, "newSessionName": uniq("c")})
        self.assertError(r, 404)

    # ---- the original platform's create shape ----
    def test_original_create_shape(self):
        body = {"initialPrompt": "fix the bug", "displayName": "My task",
                "repos": [{"url": "https://github.com/o/r", "branch": "dev", "autoPush": True},
                          {"url": "https://github.com/o/r2"}],
                "llmSettings": {"model": "claude-x", "temperature": 0.5, "maxTokens": 10},
                "timeout": 600, "interactive": False, "runnerType": "claude-agent-sdk",
                "labels": {"team": "a"}}
        r = self.rest("POST", self.path(), body=body)
        reply = self.assertStatus(r, 201)
        self.assertEqual(set(reply), {"message", "name", "uid", "autoBranch"})
        name = reply["name"]
        self.assertRegex(name, r"^session-[0-9a-f]{16}$")
        self.assertEqual(reply["autoBranch"], "ambient/" + name)
        self.assertTrue(reply["uid"])
        obj = self.assertStatus(self.rest("GET", self.path(name)), 200)
        self.assertEqual(obj["metadata"]["uid"], reply["uid"])
        self.assertEqual(obj["metadata"]["labels"], {"team": "a"})
        spec = obj["spec"]
        self.assertEqual(spec["prompt"], "fix the bug")
        self.assertEqual(spec["displayName"], "My task")
        self.assertEqual(spec["model"], "claude-x")
        self.assertEqual(spec["timeout"], 600)
        self.assertFalse(spec.get("interactive"))
        self.assertEqual(spec["repos"][0], {"input": {"url": "https://github.com/o/r",
                                                      "branch": "dev"},
                                            "output": {"pushTo": "same"}})
        self.assertEqual(spec["repos"][1], {"input": {"url": "https://github.com/o/r2"},
                                            "output": {"pushTo": "none"}})

    def test_original_shape_interactive_without_prompt(self):
        reply = self.assertStatus(self.rest("POST", self.path(), body={"interactive": True}), 201)
        obj = self.assertStatus(self.rest("GET", self.path(reply["name"])), 200)
        self.assertTrue(obj["spec"]["interactive"])
        self.assertNotIn("prompt", obj["spec"])

    def test_original_shape_errors(self):
        r = self.rest("POST", self.path(), body={"initialPrompt": "x", "repos": "nope"})
        self.assertError(r, 400)
        self.assertIn("repos", self.fields(r))
        r = self.rest("POST", self.path(), body={"initialPrompt": "x", "repos": [5]})
        self.assertError(r, 400)
        self.assertIn("repos[0]", self.fields(r))
        r = self.rest("POST", self.path(), body={"initialPrompt": "x", "llmSettings": "m"})
        self.assertError(r, 400)
        self.assertIn("llmSettings", self.fields(r))
        r = self.rest("POST", self.path(), body={"initialPrompt": "x",
                                                 "repos": [{"url": "file:///etc/passwd"}]})
        self.assertError(r, 422)
        self.assertIn("spec.repos[0].input.url", self.fields(r))
        r = self.rest("POST", self.path(), body={"displayName": "no prompt"})
        self.assertError(r, 422)
        self.assertIn("spec.prompt", self.fields(r))
        r = self.rest("POST", self.path(), token=BOB, body={"initialPrompt": "x"})
        self.assertError(r, 403)

    def test_full_object_is_the_generic_create(self):
        name = uniq("s")
        r = self.rest("POST", self.path(), body={"metadata": {"name": name},
                                                 "spec": {"prompt": "hi"}})
        obj = self.assertStatus(r, 201)
        self.assertEqual(obj["kind"], "AgenticSession")
        self.assertEqual(obj["metadata"]["name"], name)
        self.assertTrue(re.match(r"^vteam\.ambient-code/", obj["apiVersion"]))


if __name__ == "__main__":
    unittest.main()
