"""One representative flow through every role, on the whole stack of
tests/runner/runnerharness.py (kubesim with deploy/rbac, the api role and
the controller as two ambientd processes with their own identities, the
controller taking its Lease, the real ambient-runner started from each Job
with the session's own token, the mock model API, git over HTTP) and a
stand-in forge route (tests/forges/plugins/trigger_probe.c) for webhooks.

What it does is what an operator's users do in a day:
  - alice creates a project through the REST api, lists it, renames it;
  - an admin gives it ProjectSettings that grant a group each of the three
    project roles, list a repository and carry a legacy key (the controller
    creates the runner Secret from it), then a second legacy key (patched
    into the Secret); edits a group RoleBinding by hand (the controller
    repairs it) and drops a group (its binding goes);
  - alice runs a session on the repository to Completed (Job, PVC
    workspace, runner, events streamed to the live service, status written
    by the runner), and runs it again;
  - a forge webhook for the repository starts a second session there,
    which runs to its end too; a third is stopped while it runs;
  - an RFEWorkflow runs its one step as a session the controller creates;
    alice stops it while the step runs, starts it again, stops it again;
  - alice reads the first session's events through the live service (and
    of a session that does not exist), then deletes the project.

    with Flow(api_env=..., controller_env=..., runner_env=...) as f:
        f.run()     # returns when the project is gone; f.session_role,
                    # f.bindings, f.sessions hold what it saw on the way

Environment (set by CMake): those of runnerharness.py, TRIGGER_PROBE and
RFE_PLUGIN (rfeworkflow.so, loaded by the controller and the api as
deployed).
Debian's /usr/bin/python3."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "runner"))

import runnerharness as rh  # noqa: E402  (tests/runner/runnerharness.py)
from apiharness import ALICE, uniq  # noqa: E402

GROUP = "/apis/vteam.ambient-code/v1alpha1"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
PROBE = os.environ["TRIGGER_PROBE"]
RFE = os.environ["RFE_PLUGIN"]


class Flow:
    def __init__(self, api_env=None, controller_env=None, runner_env=None):
        self.st = rh.Stack(
            api_env=api_env, controller_env=controller_env, runner_env=runner_env,
            leader_election=True, empty_dir=False, controller_plugins=(RFE,),
            api_plugins=lambda st: ((RFE, PROBE),
                                    'trigger_probe = { webhook = { command = "/bot"; }; };'))
        self.c = self.st.cluster
        self.sessions = []      # (namespace, name) of every session that ran
        self.session_role = None  # the Role the controller made for the first session
        self.bindings = []      # the project's RoleBindings once its group bindings existed

    def run(self):
        c, kube = self.c, self.st.kube
        ns = uniq("flow")
        body = {"name": ns, "displayName": "Flow"}
        assert c.rest("POST", "/api/projects", token=ALICE, body=body).status == 201
        listed = c.rest("GET", "/api/projects", token=ALICE)
        assert ns in [p["name"] for p in listed.body["items"]], listed
        r = c.rest("PUT", "/api/projects/" + ns, token=ALICE, body={"displayName": "Flow 2"})
        assert r.status == 200, r
        self.settings(ns)
        self.sessions_run(ns)
        self.workflow_stopped(ns)
        r = c.live("GET", f"/api/projects/{ns}/agentic-sessions/{self.sessions[0][1]}/messages"
                   "?after=0&limit=5", token=ALICE)
        assert r.status == 200 and r.body["items"], r
        # A session the live service has not seen is looked up with its own
        # identity (and is not there).
        r = c.live("GET", f"/api/projects/{ns}/agentic-sessions/nope/messages", token=ALICE)
        assert r.status == 404, r
        r = c.rest("DELETE", "/api/projects/" + ns, token=ALICE)
        assert r.status in (200, 202, 204), r
        rh.wait_until(lambda: kube.get(f"/api/v1/namespaces/{ns}").status == 404,
                      what="the project's namespace deleted")
        return ns

    def get(self, path):
        r = self.st.kube.get(path)
        return r.body if r.status == 200 else None

    def settings(self, ns):
        """ProjectSettings whose legacy key becomes the runner Secret, and
        whose group bindings drift and are repaired, and shrink."""
        kube, ok = self.st.kube, self.c.ok
        url = self.st.repo(ns, "flow")
        self.repo_url = url
        ps = f"{GROUP}/namespaces/{ns}/projectsettings/projectsettings"
        groups = [{"groupName": "team-a", "role": "admin"}, {"groupName": "team-b", "role": "edit"},
                  {"groupName": "team-c", "role": "view"}]
        ok(kube.post(f"{GROUP}/namespaces/{ns}/projectsettings", {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
            "metadata": {"name": "projectsettings"},
            "spec": {"groupAccess": groups, "repositories": [url],
                     "anthropicApiKey": rh.ANTHROPIC_KEY}}), 201)
        secret = f"/api/v1/namespaces/{ns}/secrets/ambient-runner-secrets"
        rh.wait_until(lambda: self.get(secret), what="the runner Secret, created")
        # A second legacy key: the Secret exists now, so it is patched in.
        ok(kube.patch(ps, {"spec": {"gitHubToken": "ghp-" + uniq("t")}}), 200)
        rh.wait_until(lambda: "GITHUB_TOKEN" in (self.get(secret) or {}).get("data", {}),
                      what="the runner Secret, patched")
        ok(kube.patch(secret, {"stringData": {"GIT_TOKEN": rh.GIT_TOKEN}}), 200)

        bindings = f"{RBAC}/namespaces/{ns}/rolebindings"

        def grouped():
            items = (self.get(bindings) or {}).get("items", [])
            return {b["metadata"]["name"]: b for b in items
                    if b["roleRef"]["name"].startswith("ambient-project-")
                    and not b["metadata"]["name"].startswith("ambient-admin-")}
        rh.wait_until(lambda: len(grouped()) == 3, what="three group RoleBindings")
        self.bindings = (self.get(bindings) or {})["items"]
        # Someone edits a binding by hand: the controller puts it back.
        name, rb = sorted(grouped().items())[0]
        ok(kube.patch(f"{bindings}/{name}", {"subjects": [
            {"kind": "Group", "name": "intruders", "apiGroup": "rbac.authorization.k8s.io"}]}), 200)
        rh.wait_until(lambda: (grouped().get(name) or {}).get("subjects") == rb["subjects"],
                      what="the edited RoleBinding repaired")
        ok(kube.patch(ps, {"spec": {"groupAccess": groups[:2]}}), 200)
        rh.wait_until(lambda: len(grouped()) == 2, what="the dropped group's RoleBinding deleted")

    def sessions_run(self, ns):
        """One session to Completed, one from a forge webhook to its end,
        one stopped while it runs."""
        c, st = self.c, self.st
        repos = [{"input": {"url": self.repo_url}, "output": {"pushTo": "same"}}]
        first = uniq("s")
        r = c.rest("POST", f"/api/projects/{ns}/agentic-sessions", token=ALICE,
                   body={"metadata": {"name": first},
                         "spec": {"prompt": "add notes", "repos": repos}})
        assert r.status == 201, r
        self.sessions.append((ns, first))
        role = f"{RBAC}/namespaces/{ns}/roles/ambient-session-{first}"
        self.session_role = rh.wait_until(lambda: self.get(role), what="the session's Role")
        st.wait_phase(ns, first, "Completed")
        # Run it again: the controller consumes the request and starts run 2.
        r = c.rest("POST", f"/api/projects/{ns}/agentic-sessions/{first}/start", token=ALICE)
        assert r.status == 202, r
        rh.wait_until(lambda: (self.get(f"{GROUP}/namespaces/{ns}/agenticsessions/{first}")
                               or {}).get("metadata", {}).get("annotations", {})
                      .get("ambient-code.io/run") == "2", what="the second run")
        st.wait_phase(ns, first, "Completed")

        r = c.rest("POST", "/api/trigger-probe", body={
            "forge": "github", "repo_url": self.repo_url, "delivery": uniq("d"),
            "author": "alice", "prompt": "fix the flaky test"})
        assert r.status == 202 and len(r.body["created"]) == 1, r
        hooked = r.body["created"][0]["name"]
        self.sessions.append((ns, hooked))
        st.wait_phase(ns, hooked)

        stopped = uniq("stop")
        st.create_session(ns, stopped, {"prompt": "long job [mock:slow duration=120 chunks=120]",
                                        "repos": repos})
        self.sessions.append((ns, stopped))
        run = st.pods.run_for(ns, stopped)
        rh.wait_until(lambda: rh.processes_in(run.workspace), what="the agent running")
        r = c.rest("POST", f"/api/projects/{ns}/agentic-sessions/{stopped}/stop", token=ALICE)
        assert r.status in (200, 202), r
        st.wait_phase(ns, stopped, "Stopped")

    def workflow_stopped(self, ns):
        """An RFEWorkflow whose one step runs as a session the controller
        creates, stopped while it runs, started again and stopped again."""
        c, st = self.c, self.st
        name = uniq("rfe")
        c.ok(st.kube.post(f"{GROUP}/namespaces/{ns}/rfeworkflows", {
            "apiVersion": "vteam.ambient-code/v1alpha1", "kind": "RFEWorkflow",
            "metadata": {"name": name},
            "spec": {"title": "Flow", "description": "A long step.",
                     "repos": [{"input": {"url": self.repo_url}, "output": {"pushTo": "same"}}],
                     "agents": [{"name": "pm", "role": "Product Manager",
                                 "promptTemplate": "You are the {{role}}."}],
                     "steps": [{"name": "refine", "agent": "pm",
                                "prompt": "long job [mock:slow duration=120 chunks=120]"}]}}), 201)
        path = f"{GROUP}/namespaces/{ns}/rfeworkflows/{name}"
        session = rh.wait_until(
            lambda: ((self.get(path) or {}).get("status", {}).get("steps") or [{}])[0]
            .get("sessionName"), what="the workflow's step session")
        self.sessions.append((ns, session))
        run = st.pods.run_for(ns, session)
        rh.wait_until(lambda: rh.processes_in(run.workspace), what="the step's agent running")
        self.workflow_request(ns, name, "stop")
        # Started again (the controller consumes the request), its step runs
        # in a second attempt; then stopped.
        self.workflow_request(ns, name, "start")
        self.workflow_request(ns, name, "stop")

    def workflow_request(self, ns, name, verb):
        r = self.c.rest("POST", f"/api/projects/{ns}/rfe-workflows/{name}/{verb}", token=ALICE)
        assert r.status == 202, r
        path = f"{GROUP}/namespaces/{ns}/rfeworkflows/{name}"

        def reached():
            wf = self.get(path) or {}
            phase = wf.get("status", {}).get("phase")
            if verb == "stop":
                return phase == "Stopped"
            return (phase in ("Pending", "Running") and
                    "ambient-code.io/desired-phase" not in wf["metadata"].get("annotations", {}))
        rh.wait_until(reached, what=f"the workflow's {verb} done")

    def close(self):
        self.st.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


