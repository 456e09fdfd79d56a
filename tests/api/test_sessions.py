"""The AgenticSession routes beyond the generic ones (plugins/agenticsession/routes.c):
stop and start as desired-phase annotations, clone into another project, and
the three shapes a create takes (plugins/agenticsession/create.c): a whole object, the
original platform's create request ({initialPrompt, repos[{url, branch,
autoPush}], llmSettings, ...} answered with {message, name, uid,
autoBranch}) and the bare spec with the seed's names ({prompt, repos[{input,
output}], ...}), each refusing what it does not understand by name. alice is
admin of the projects, bob a viewer, carol nobody.
No controller runs, so phases are set through kubesim's /status as admin.
Run with /usr/bin/python3."""
import re
import unittest
from datetime import datetime, timedelta, timezone

from apiharness import ADMIN, ALICE, BOB, CAROL, ApiTest, uniq  # noqa: F401

GROUP = "/apis/vteam.ambient-code/v1alpha1"
DESIRED = "ambient-code.io/desired-phase"


class Sessions(ApiTest):
    # REST only; these tests make hundreds of requests a second as one user,
    # so the per-caller limit (tested in test_serving.py) is off.
    cluster_args = {"live": False, "api_conf": "rate_limit = { requests_per_second = 0; };"}

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

    # ---- the three create shapes ----
    def names(self, ns=None):
        items = self.assertStatus(self.rest("GET", self.path(ns=ns)), 200)["items"]
        return {o["metadata"]["name"] for o in items}

    def assertRefused(self, body, status, *fields):
        """body is refused with status, naming each of fields (in the words
        the caller used), and no session is made."""
        before = self.names()
        r = self.rest("POST", self.path(), body=body)
        err = self.assertError(r, status)
        for f in fields:
            self.assertIn(f, self.fields(r), r)
            self.assertIn(f, err["error"], r)
        self.assertNotIn("session-", err["error"], "no name the caller never chose")
        self.assertEqual(self.names(), before)
        return err

    def test_original_create_shape(self):
        body = {"initialPrompt": "fix the bug", "displayName": "My task",
                "repos": [{"url": "https://github.com/o/r", "branch": "dev", "autoPush": True},
                          {"url": "https://github.com/o/r2"}],
                "llmSettings": {"model": "claude-x"},
                "timeout": 600, "interactive": False, "labels": {"team": "a"}}
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

    def test_bare_spec_with_the_seeds_names(self):
        repos = [{"input": {"url": "https://github.com/o/r.git"}, "output": {"pushTo": "none"}}]
        r = self.rest("POST", self.path(), body={"prompt": "hello", "repos": repos,
                                                 "labels": {"team": "b"}})
        obj = self.assertStatus(r, 201)
        self.assertEqual(obj["kind"], "AgenticSession")
        self.assertRegex(obj["metadata"]["name"], r"^session-[0-9a-f]{16}$")
        self.assertEqual(obj["metadata"]["labels"], {"team": "b"})
        self.assertEqual(obj["spec"]["prompt"], "hello")
        self.assertEqual(obj["spec"]["repos"], repos)
        got = self.assertStatus(self.rest("GET", self.path(obj["metadata"]["name"])), 200)
        self.assertEqual(got["spec"]["prompt"], "hello")
        # The seed's fields the original lacks are the bare spec's too.
        r = self.rest("POST", self.path(), body={"interactive": True, "model": "claude-x",
                                                 "options": {"maxTurns": 3}})
        obj = self.assertStatus(r, 201)
        self.assertTrue(obj["spec"]["interactive"])
        self.assertNotIn("prompt", obj["spec"])
        self.assertEqual(obj["spec"]["options"], {"maxTurns": 3})

    def test_full_object_is_the_generic_create(self):
        name = uniq("s")
        r = self.rest("POST", self.path(), body={"metadata": {"name": name},
                                                 "spec": {"prompt": "hi"}})
        obj = self.assertStatus(r, 201)
        self.assertEqual(obj["kind"], "AgenticSession")
        self.assertEqual(obj["metadata"]["name"], name)
        self.assertTrue(re.match(r"^vteam\.ambient-code/", obj["apiVersion"]))

    def test_the_creator_is_recorded_and_cannot_be_chosen(self):
        """Every shape records the authenticated user as the creator (the
        runner makes them the author of the agent's commits); a body that
        names someone else is overruled."""
        ann = "ambient-code.io/created-by"
        obj = self.created(annotations={ann: "mallory"})
        self.assertEqual(obj["metadata"]["annotations"][ann], "alice")
        obj = self.assertStatus(self.rest("POST", self.path(), body={"prompt": "hi"}), 201)
        self.assertEqual(obj["metadata"]["annotations"][ann], "alice")
        r = self.rest("POST", self.path(), body={"initialPrompt": "hi"})
        name = self.assertStatus(r, 201)["name"]
        self.assertEqual(self.annotations(name)[ann], "alice")

    def test_unknown_keys_are_named(self):
        url = "https://github.com/o/r"
        self.assertRefused({"initialPrompt": "x", "bogusField": 1}, 422, "bogusField")
        self.assertRefused({"initialPrompt": "x", "a": 1, "b": 2}, 422, "a", "b")
        err = self.assertRefused({"initalPrompt": "x"}, 422, "initalPrompt")
        self.assertTrue(err["error"].startswith("initalPrompt: unknown field"), err)
        self.assertRefused({"initialPrompt": "x", "repos": [{"url": url, "brnach": "m"}]}, 422,
                           "repos[0].brnach")
        self.assertRefused({"initialPrompt": "x", "llmSettings": {"model": "m", "topP": 1}},
                           422, "llmSettings.topP")
        self.assertRefused({"prompt": "x", "promt": "y"}, 422, "promt")
        self.assertRefused({"prompt": "x", "repos": [{"input": {"url": url, "brnach": "m"}}]},
                           422, "repos[0].input.brnach")
        self.assertRefused({"prompt": "x", "repos": [{"input": {"url": url},
                                                      "output": {"pushto": "none"}}]},
                           422, "repos[0].output.pushto")
        self.assertRefused({"metadata": {"name": uniq("s")}, "spec": {"prompt": "x", "promt": 1},
                            "bogusField": 1}, 422, "bogusField", "spec.promt")
        # Writes after the create refuse them too.
        name = self.created()["metadata"]["name"]
        r = self.rest("PATCH", self.path(name), body={"spec": {"promt": "y"}})
        self.assertError(r, 422)
        self.assertIn("spec.promt", self.fields(r))

    def test_original_keys_ambient_cannot_honour_are_refused(self):
        for key, value in (("runnerType", "claude-agent-sdk"), ("inactivityTimeout", 60),
                           ("stopOnRunFinished", True), ("parent_session_id", "s-1"),
                           ("activeWorkflow", {"gitUrl": "https://github.com/o/w"}),
                           ("userContext", {"userId": "u"}),
                           ("environmentVariables", {"A": "1"}),
                           ("mcpServers", {"x": {}}), ("sdkOptions", {"max_turns": 3})):
            with self.subTest(key=key):
                err = self.assertRefused({"initialPrompt": "x", key: value}, 422, key)
                self.assertIn("not supported", err["error"])
        for key in ("temperature", "maxTokens"):
            with self.subTest(key=key):
                err = self.assertRefused({"initialPrompt": "x",
                                          "llmSettings": {"model": "m", key: 1}},
                                         422, "llmSettings." + key)
                self.assertIn("not supported", err["error"])
        # Asking for nothing is no request: null, false and empty values pass.
        r = self.rest("POST", self.path(), body={"initialPrompt": "x", "runnerType": None,
                                                 "environmentVariables": {},
                                                 "stopOnRunFinished": False,
                                                 "llmSettings": {"temperature": None}})
        self.assertStatus(r, 201)

    def test_a_body_mixing_shapes_names_the_keys(self):
        url = "https://github.com/o/r"
        err = self.assertRefused({"prompt": "a", "initialPrompt": "b"}, 422, "prompt",
                                 "initialPrompt")
        self.assertIn("mixes", err["error"])
        self.assertRefused({"initialPrompt": "x", "repos": [{"input": {"url": url}}]}, 422,
                           "initialPrompt", "repos[0].input")
        self.assertRefused({"repos": [{"url": url, "input": {"url": url}}]}, 422,
                           "repos[0].url", "repos[0].input")
        self.assertRefused({"metadata": {"name": uniq("s")}, "prompt": "x"}, 422, "metadata",
                           "prompt")

    def test_what_is_required_in_the_callers_words(self):
        err = self.assertRefused({}, 422, "prompt")
        self.assertNotIn("metadata", err["error"])
        self.assertNotIn("spec.", err["error"])
        self.assertRefused({"displayName": "no prompt"}, 422, "prompt")
        err = self.assertRefused({"llmSettings": {"model": "m"}}, 422, "initialPrompt")
        self.assertIn("interactive", err["error"])
        self.assertNotIn("spec.", err["error"])
        self.assertRefused({"initialPrompt": "x", "repos": [{"url": "file:///etc/passwd"}]}, 422,
                           "repos[0].url")
        self.assertRefused({"prompt": "x", "repos": [{"input": {"url": "file:///etc/passwd"}}]},
                           422, "repos[0].input.url")
        self.assertRefused({"initialPrompt": "x", "timeout": -1}, 422, "timeout")

    def test_original_shape_interactive_without_prompt(self):
        reply = self.assertStatus(self.rest("POST", self.path(), body={
            "interactive": True, "llmSettings": {"model": "claude-x"}}), 201)
        obj = self.assertStatus(self.rest("GET", self.path(reply["name"])), 200)
        self.assertTrue(obj["spec"]["interactive"])
        self.assertNotIn("prompt", obj["spec"])

    def test_auto_branch_only_when_a_repo_pushes(self):
        url = "https://github.com/o/r"
        for repos in ([], [{"url": url}], [{"url": url, "autoPush": False}]):
            with self.subTest(repos=repos):
                reply = self.assertStatus(self.rest("POST", self.path(), body={
                    "initialPrompt": "x", "repos": repos}), 201)
                self.assertNotIn("autoBranch", reply)
        reply = self.assertStatus(self.rest("POST", self.path(), body={
            "initialPrompt": "x", "repos": [{"url": url}, {"url": url, "autoPush": True}]}), 201)
        self.assertEqual(reply["autoBranch"], "ambient/" + reply["name"])

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
                                                 "repos": [{"url": "https://h/o/r",
                                                            "autoPush": "yes"}]})
        self.assertError(r, 400)
        self.assertIn("repos[0].autoPush", self.fields(r))
        r = self.rest("POST", self.path(), token=BOB, body={"initialPrompt": "x"})
        self.assertError(r, 403)


if __name__ == "__main__":
    unittest.main()
