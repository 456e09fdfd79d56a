"""A forge webhook's trigger becomes AgenticSessions (plugins/forgekit/
trigger.h) in a real ambientd with the api, projectsettings and
agenticsession plugins against kubesim. A stand-in forge route
(plugins/trigger_probe.c) hands the trigger over as github.so and gitlab.so
do once they have checked the signature and the author's rights.

What a forge user and a project admin would notice: a session appears only
in the projects whose ProjectSettings list the repository (in any of its
URL forms), with the comment as its prompt, the repository as its input and
the author recorded; a delivery sent again creates nothing, also after
ambientd restarts; a repository nobody lists creates nothing (202, empty);
the configured command and label are the triggers; an oversized delivery is
413 and a malformed one 400. Run with /usr/bin/python3."""
import json
import os
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))

from apiharness import ApiTest  # noqa: E402
from daemon import run, write_config  # noqa: E402  (tests/integration, via apiharness)

PROBE = os.environ["TRIGGER_PROBE"]
GROUP = "/apis/vteam.ambient-code/v1alpha1"
ROUTE = "/api/trigger-probe"
MAX_BODY = 4096


def delivery():
    return str(uuid.uuid4())


class Trigger(ApiTest):
    """One cluster for all: each test its own repository."""
    cluster_args = {
        "live": False, "extra_plugins": (PROBE,),
        "extra_conf": 'trigger_probe = { webhook = { command = "/bot"; max_body = %d; }; };'
                      % MAX_BODY}

    def settings(self, ns, **spec):
        self.cluster.ok(self.cluster.kube.post(
            f"{GROUP}/namespaces/{ns}/projectsettings",
            {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
             "metadata": {"name": "projectsettings"}, "spec": spec}), 201)

    def project(self, *repos, **spec):
        ns = self.cluster.make_project(admins=(), viewers=())
        self.settings(ns, repositories=list(repos), **spec)
        return ns

    def sessions(self, ns):
        r = self.cluster.kube.get(f"{GROUP}/namespaces/{ns}/agenticsessions")
        return self.cluster.ok(r, 200)["items"]

    def setUp(self):
        self.repo = "https://github.com/org/repo-" + uuid.uuid4().hex[:8]

    def fire(self, **fields):
        body = {"forge": "github", "repo_url": self.repo, "delivery": delivery(),
                "author": "alice", "prompt": "fix the flaky test"}
        body.update(fields)
        return self.cluster.rest("POST", ROUTE, body={k: v for k, v in body.items()
                                                      if v is not None})

    def test_sessions_only_where_the_repository_is_listed(self):
        path = self.repo[len("https://github.com/"):]
        https = self.project(self.repo)
        # The same repository as an admin may have typed it.
        ssh = self.project(f"git@GitHub.com:{path}.git", "https://github.com/org/other")
        trailing = self.project(f"https://GITHUB.COM/{path}.git/")
        others = [self.project("https://github.com/org/other"),
                  self.project(self.repo + "-two"),
                  self.project(self.repo.upper().replace("HTTPS", "https")),  # paths are exact
                  self.project(f"https://gitlab.com/{path}"),
                  self.project()]
        unlisted = self.cluster.make_project(admins=(), viewers=())
        # A namespace that is no project: its settings list the repository.
        stray = "stray-" + uuid.uuid4().hex[:8]
        self.cluster.ensure_namespace(stray)
        self.settings(stray, repositories=[self.repo])

        d = delivery()
        r = self.fire(delivery=d, prompt="fix the flaky test\nin ci.yml", author="alice",
                      issue_url=self.repo + "/issues/12", number=12)
        body = self.assertStatus(r, 202)
        made = sorted((c["project"], c["name"]) for c in body["created"])
        self.assertEqual([p for p, _ in made], sorted([https, ssh, trailing]), body)
        self.assertEqual(body["replayed"], [])
        self.assertEqual(body["failed"], [])
        names = {n for _, n in made}
        self.assertEqual(len(names), 1, "one name, from the delivery id")
        name = names.pop()
        self.assertRegex(name, r"^wh-[0-9a-f]{16}$")

        for ns in (https, ssh, trailing):
            [s] = self.sessions(ns)
            self.assertEqual(s["metadata"]["name"], name)
            self.assertEqual(s["spec"]["prompt"], "fix the flaky test\nin ci.yml")
            self.assertEqual(s["spec"]["repos"],
                             [{"input": {"url": self.repo}, "output": {"pushTo": "same"}}])
            ann = s["metadata"]["annotations"]
            self.assertEqual(ann["ambient-code.io/created-by"], "github:alice")
            self.assertEqual(ann["ambient-code.io/webhook-delivery"], d)
            self.assertEqual(ann["ambient-code.io/issue-url"], self.repo + "/issues/12")
            self.assertEqual(ann["ambient-code.io/issue-number"], "12")
            self.assertEqual(s["metadata"]["labels"]["ambient-code.io/forge"], "github")
            # The kind's defaults ran, as on the REST path.
            self.assertIn("model", s["spec"])
        for ns in others + [unlisted, stray]:
            self.assertEqual(self.sessions(ns), [], ns)

    def test_a_replayed_delivery_creates_nothing_twice(self):
        ns = self.project(self.repo)
        d = delivery()
        first = self.assertStatus(self.fire(delivery=d), 202)
        self.assertEqual(len(first["created"]), 1, first)
        again = self.assertStatus(self.fire(delivery=d, prompt="something else"), 202)
        self.assertEqual(again["created"], [])
        self.assertEqual(again["replayed"], first["created"])
        [s] = self.sessions(ns)
        self.assertEqual(s["spec"]["prompt"], "fix the flaky test")
        # The same delivery id from another forge is another delivery.
        other = self.assertStatus(self.fire(delivery=d, forge="gitlab"), 202)
        self.assertEqual(len(other["created"]), 1, other)
        self.assertNotEqual(other["created"][0]["name"], first["created"][0]["name"])
        self.assertEqual(len(self.sessions(ns)), 2)

        # Nothing is remembered in memory: after a restart the replay still
        # meets the session Kubernetes holds.
        self.cluster.restart_daemon(live=False,
                                    extra_conf=self.cluster_args["extra_conf"])
        after = self.assertStatus(self.fire(delivery=d), 202)
        self.assertEqual(after["created"], [])
        self.assertEqual(after["replayed"], first["created"])
        self.assertEqual(len(self.sessions(ns)), 2)

    def test_no_project_lists_the_repository(self):
        self.project("https://github.com/org/other")
        r = self.fire()
        self.assertEqual(self.assertStatus(r, 202),
                         {"created": [], "replayed": [], "failed": []})

    def test_a_project_that_refuses_the_session_does_not_stop_the_others(self):
        repo = self.repo
        ok = self.project(repo)
        strict = self.project(repo, allowedModels=["only-this-model"],
                              defaultModel="only-this-model", maxTimeout=10,
                              defaultTimeout=10)
        bad_model = self.project(repo, allowedModels=["only-this-model"])
        body = self.assertStatus(self.fire(repo_url=repo), 202)
        self.assertEqual(sorted(c["project"] for c in body["created"]), sorted([ok, strict]))
        self.assertEqual([f["project"] for f in body["failed"]], [bad_model], body)
        self.assertIn("spec.model", body["failed"][0]["error"])
        self.assertEqual(self.sessions(strict)[0]["spec"]["model"], "only-this-model")
        self.assertEqual(self.sessions(bad_model), [])

    def test_the_command_starts_the_comment(self):
        repo = self.repo
        ns = self.project(repo)
        for comment in ("/ambient fix it", "please /bot fix it", "/botfix it", " /bot x",
                        "/Bot fix it"):
            r = self.fire(repo_url=repo, comment=comment, prompt=None)
            self.assertEqual(self.assertStatus(r, 202), {"ignored": True}, comment)
        self.assertEqual(self.sessions(ns), [])
        r = self.fire(repo_url=repo, comment="/bot\n  fix the flaky test \n\n", prompt=None)
        self.assertEqual(len(self.assertStatus(r, 202)["created"]), 1)
        [s] = self.sessions(ns)
        self.assertEqual(s["spec"]["prompt"], "fix the flaky test")
        # The command with nothing after it asks for nothing: malformed.
        r = self.fire(repo_url=repo, comment="/bot   ", prompt=None)
        err = self.assertStatus(r, 400)
        self.assertIn("prompt", json.dumps(err))
        self.assertEqual(len(self.sessions(ns)), 1)

    def test_the_label_is_a_trigger(self):
        repo = self.repo
        ns = self.project(repo)
        r = self.fire(repo_url=repo, label="bug", prompt="the issue's text")
        self.assertEqual(self.assertStatus(r, 202), {"ignored": True})
        r = self.fire(repo_url=repo, label="Ambient", prompt="the issue's text")
        self.assertEqual(len(self.assertStatus(r, 202)["created"]), 1)
        self.assertEqual(self.sessions(ns)[0]["spec"]["prompt"], "the issue's text")

    def test_oversized_and_malformed_deliveries(self):
        repo = self.repo
        ns = self.project(repo)
        r = self.fire(repo_url=repo, prompt="x" * MAX_BODY)
        self.assertEqual(r.status, 413, r)
        r = self.cluster.rest("POST", ROUTE, raw=b"{not json", ctype="application/json")
        self.assertEqual(r.status, 400, r)
        for bad in ({"author": None}, {"delivery": ""}, {"repo_url": "git@github.com:org/x"},
                    {"author": "a\nb"}, {"forge": "Git Hub"}, {"delivery": "d" * 129},
                    {"issue_url": "javascript:alert(1)"}):
            r = self.fire(repo_url=bad.pop("repo_url", repo), **bad)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual(r.body["error"], "malformed webhook payload")
        self.assertEqual(self.sessions(ns), [])
        self.assertEqual(self.cluster.daemon.proc.poll(), None, "ambientd keeps running")


class WebhookConfig(unittest.TestCase):
    """The webhook group is checked at load, each bad value named."""

    def check(self, group):
        path = write_config('plugins = ["%s"];\ntrigger_probe = { webhook = { %s }; };\n'
                            % (PROBE, group))
        try:
            return run("--check-config", path)
        finally:
            os.unlink(path)

    def test_good_and_bad_values(self):
        code, out, err = self.check('command = "/go"; label = ""; max_body = 2048;')
        self.assertEqual(code, 0, err)
        for group, key, words in (
                ('command = "ambient";', "webhook.command", "must start with /"),
                ('command = "/a b";', "webhook.command", "no space"),
                ('command = 3;', "webhook.command", ""),
                ('label = "%s";' % ("x" * 256), "webhook.label", "at most 255"),
                ('max_body = 10;', "webhook.max_body", "between 1024 and 67108864"),
                ('max_body = 1000000000;', "webhook.max_body", "between 1024"),
                ('secret = "x";', "webhook.secret", "unknown key")):
            code, out, err = self.check(group)
            self.assertEqual(code, 2, (group, out, err))
            self.assertIn(key, err, group)
            self.assertIn(words, err, group)


if __name__ == "__main__":
    unittest.main()
