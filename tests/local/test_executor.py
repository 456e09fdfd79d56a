"""The local executor (local/executor*.c) against kubesim, through its test
driver (tests/local/executor_main.c).

JobTest: Jobs written by hand, run by tests/local/fake_runner.py: the env
and volumes a runner gets, exit codes as Pod and Job status, a missing
Secret key, the deadline, a deleted Job, 12 Jobs three at a time, and a
restart after kill -9. SessionTest and RealCliTest: tests/runner's Stack
with the executor in podsim's place, the real ambient-runner, and the fake
or the real Claude Code CLI (against tests/mock-anthropic).

Environment (set by CMake): EXECUTOR and tests/runner's. Debian's
/usr/bin/python3."""
import base64
import json
import os
import shutil
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "runner"))

import runnerharness as rh  # noqa: E402  (tests/runner/runnerharness.py)
from localexec import Executor, runners_running  # noqa: E402
from runnerharness import Stack, apiharness, harness, uniq  # noqa: E402

FAKE_RUNNER = os.path.join(HERE, "fake_runner.py")
SECRET_VALUE = "s3cret-" + uuid.uuid4().hex
JOBS = "/apis/batch/v1/namespaces/%s/jobs"
PODS = "/api/v1/namespaces/%s/pods"
LEFTOVER = "ambientd stopped while the runner ran"


def wait_until(fn, timeout=60, what="condition"):
    return apiharness.wait_until(fn, timeout=timeout, interval=0.05, what=what)


class JobTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "lx-" + uuid.uuid4().hex[:8])
        cls.ks = harness.Kubesim(crds=False)
        cls.kube = cls.ks.client()
        cls.ex = Executor(cls.ks.url, harness.ADMIN, FAKE_RUNNER, cls.tmp, max_sessions=3,
                          stop_grace=3)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.ex.stop()
        finally:
            cls.ks.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def ok(self, r, *codes):
        self.assertIn(r.status, codes or (200, 201), r.body)
        return r.body

    def namespace(self):
        ns = uniq("lx")
        self.ok(self.kube.post("/api/v1/namespaces", {"metadata": {"name": ns}}))
        self.ok(self.kube.post("/api/v1/namespaces/%s/serviceaccounts" % ns,
                               {"metadata": {"name": "runner"}}))
        self.ok(self.kube.post("/api/v1/namespaces/%s/secrets" % ns, {
            "metadata": {"name": "keys"},
            "data": {"KEY": base64.b64encode(SECRET_VALUE.encode()).decode()}}))
        return ns

    def job(self, ns, mode, env=(), deadline=None, grace=None, name=None):
        """A Job shaped like agenticsession's: the session label, a token
        volume, a workspace, env values and secret references."""
        name = name or uniq("job")
        spec = {"restartPolicy": "Never", "serviceAccountName": "runner",
                "containers": [{
                    "name": "runner", "image": "ambient-runner:test",
                    "env": [{"name": "FAKE_RUNNER", "value": mode},
                            {"name": "WORKSPACE_PATH", "value": "/workspace"},
                            {"name": "AMBIENT_TOKEN_FILE",
                             "value": "/var/run/secrets/ambient/token"}] + list(env),
                    "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"},
                                     {"name": "tok", "mountPath": "/var/run/secrets/ambient",
                                      "readOnly": True}]}],
                "volumes": [{"name": "workspace", "emptyDir": {}},
                            {"name": "tok", "projected": {"sources": [
                                {"serviceAccountToken": {"path": "token",
                                                         "expirationSeconds": 3600}},
                                {"configMap": {"name": "kube-root-ca.crt",
                                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]}
        if grace is not None:
            spec["terminationGracePeriodSeconds"] = grace
        body = {"metadata": {"name": name, "labels": {"ambient-code.io/session": name}},
                "spec": {"backoffLimit": 0,
                         "template": {"metadata": {"labels": {"app": "lx-test"}}, "spec": spec}}}
        if deadline:
            body["spec"]["activeDeadlineSeconds"] = deadline
        self.ok(self.kube.post(JOBS % ns, body), 201)
        return name

    def get_job(self, ns, name):
        return self.ok(self.kube.get(JOBS % ns + "/" + name), 200)

    def pods(self, ns, name):
        return self.ok(self.kube.get(PODS % ns + "?labelSelector=job-name%3D" + name))["items"]

    def condition(self, ns, name, timeout=60):
        """The Job's final condition (Complete or Failed), once written."""
        def final():
            conds = self.get_job(ns, name).get("status", {}).get("conditions", [])
            done = [c for c in conds if c["type"] in ("Complete", "Failed")]
            return done[0] if done else None
        return wait_until(final, timeout, "Job %s/%s finished" % (ns, name))

    def dir(self, ns, name):
        return os.path.join(self.tmp, "sessions", ns, name)

    def seen(self, ns, name, timeout=30):
        path = os.path.join(self.dir(ns, name), "seen.json")
        wait_until(lambda: os.path.exists(path), timeout, "the runner of %s started" % name)
        with open(path) as f:
            return json.load(f)

    # ---- the path of one Job ----
    def test_env_volumes_and_status_of_a_run(self):
        ns = self.namespace()
        name = self.job(ns, "exit:0", env=[
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "KEY"}}},
            {"name": "OPTIONAL", "valueFrom": {"secretKeyRef": {
                "name": "keys", "key": "ABSENT", "optional": True}}},
            {"name": "HOME", "value": "/workspace/home"}])
        cond = self.condition(ns, name)
        self.assertEqual((cond["reason"], cond["status"]), ("CompletionsReached", "True"))
        job = self.get_job(ns, name)
        st = job["status"]
        self.assertEqual((st["succeeded"], st["active"]), (1, 0))
        self.assertEqual([c["type"] for c in st["conditions"]], ["SuccessCriteriaMet", "Complete"])
        self.assertLessEqual(st["startTime"], st["completionTime"])
        seen = self.seen(ns, name)
        env, root = seen["env"], self.dir(ns, name)
        self.assertEqual(env["FROM_SECRET"], SECRET_VALUE)
        self.assertNotIn("OPTIONAL", env)
        self.assertEqual(env["WORKSPACE_PATH"], os.path.join(root, "workspace"))
        self.assertEqual(env["HOME"], os.path.join(root, "workspace", "home"))
        self.assertEqual(env["AMBIENT_KUBE_SERVER"], self.ks.url)
        self.assertTrue(env["PATH"])
        self.assertEqual(seen["cwd"], root)
        self.assertGreater(seen["token_len"], 20, "the minted token is in the projected volume")
        self.assertEqual(seen["sid"], seen["pgid"], "a session and process group of its own")
        pods = self.pods(ns, name)
        self.assertEqual(len(pods), 1)
        pod = pods[0]
        self.assertEqual(pod["metadata"]["labels"]["app"], "lx-test")
        ref = pod["metadata"]["ownerReferences"][0]
        self.assertEqual((ref["kind"], ref["uid"], ref["controller"]),
                         ("Job", job["metadata"]["uid"], True))
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((pod["status"]["phase"], term["exitCode"], term["reason"]),
                         ("Succeeded", 0, "Completed"))
        # the secret is in no log of the executor's
        self.assertNotIn(SECRET_VALUE, self.ex.log())

    def test_exit_code_fails_the_job(self):
        ns = self.namespace()
        name = self.job(ns, "exit:3")
        cond = self.condition(ns, name)
        self.assertEqual(cond["reason"], "BackoffLimitExceeded")
        self.assertEqual(self.get_job(ns, name)["status"]["failed"], 1)
        pod = self.pods(ns, name)[0]
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((pod["status"]["phase"], term["exitCode"], term["reason"]),
                         ("Failed", 3, "Error"))

    def test_missing_secret_key_is_create_container_config_error(self):
        ns = self.namespace()
        name = self.job(ns, "exit:0", env=[{"name": "NEEDED", "valueFrom": {"secretKeyRef": {
            "name": "keys", "key": "NOPE"}}}])

        def waiting():
            pods = self.pods(ns, name)
            cs = pods and pods[0].get("status", {}).get("containerStatuses")
            return cs and cs[0]["state"].get("waiting")
        w = wait_until(waiting, 30, "the pod waiting")
        self.assertEqual(w["reason"], "CreateContainerConfigError")
        self.assertEqual(w["message"], "couldn't find key NOPE in Secret %s/keys" % ns)
        st = self.get_job(ns, name)["status"]
        self.assertEqual((st["active"], st["ready"]), (1, 0))
        self.assertNotIn("conditions", st)
        self.assertFalse(os.path.exists(os.path.join(self.dir(ns, name), "seen.json")))

    def test_deadline_kills_and_fails_with_deadline_exceeded(self):
        ns = self.namespace()
        name = self.job(ns, "stubborn:600", deadline=2, grace=1)
        self.seen(ns, name)
        t0 = time.monotonic()
        cond = self.condition(ns, name, timeout=30)
        self.assertEqual(cond["reason"], "DeadlineExceeded")
        self.assertLess(time.monotonic() - t0, 10)
        wait_until(lambda: not self.pods(ns, name), 10, "the job controller deletes its pod")
        self.assertEqual(runners_of(ns, name), [])

    def test_deleted_job_kills_the_runner_and_what_it_started(self):
        ns = self.namespace()
        name = self.job(ns, "family:600", grace=2)
        self.seen(ns, name)
        family = os.path.join(self.dir(ns, name), "family.pid")
        wait_until(lambda: os.path.exists(family), 10, "the runner's child")
        with open(family) as f:
            child = int(f.read())
        self.ok(self.kube.delete(JOBS % ns + "/" + name + "?propagationPolicy=Background"), 200)
        wait_until(lambda: not runners_of(ns, name) and not alive(child), 15,
                   "the runner and its child gone")

    def test_twelve_jobs_run_three_at_a_time(self):
        ns = self.namespace()
        names = [self.job(ns, "sleep:1") for _ in range(12)]
        most, deadline = 0, time.monotonic() + 120
        while time.monotonic() < deadline:
            most = max(most, len([p for p in runners_running(FAKE_RUNNER)
                                  if in_namespace(p, self.tmp, ns)]))
            done = [n for n in names
                    if any(c["type"] == "Complete"
                           for c in self.get_job(ns, n).get("status", {}).get("conditions", []))]
            if len(done) == 12:
                break
            time.sleep(0.02)
        self.assertEqual(len(done), 12, "all finish")
        self.assertEqual(most, 3, "never more than max_sessions at once, and the slots are used")

    def test_restart_fails_leftovers_and_runs_the_queue(self):
        ns = self.namespace()
        running = [self.job(ns, "family:600") for _ in range(3)]
        for n in running:
            self.seen(ns, n)
        queued = self.job(ns, "exit:0")
        time.sleep(0.5)
        self.assertFalse(self.pods(ns, queued), "a queued Job has no Pod")
        self.ex.kill9()
        left = [p for n in running for p in runners_of(ns, n)]
        self.assertEqual(len(left), 3, "a crash leaves its runners running")
        self.ex.start()
        for n in running:
            cond = self.condition(ns, n, timeout=30)
            self.assertIn(LEFTOVER, cond["message"])
            term = self.pods(ns, n)[0]["status"]["containerStatuses"][0]["state"]["terminated"]
            self.assertEqual(term["reason"], "ContainerStatusUnknown")
            self.assertIn(LEFTOVER, term["message"])
        wait_until(lambda: not [p for n in running for p in runners_of(ns, n)], 10,
                   "the leftover runners killed")
        self.assertEqual(self.condition(ns, queued)["reason"], "CompletionsReached")


def runners_of(ns, name):
    return [p for p in runners_running(FAKE_RUNNER) if cwd_of(p).endswith("/%s/%s" % (ns, name))]


def in_namespace(pid, tmp, ns):
    return cwd_of(pid).startswith(os.path.join(tmp, "sessions", ns) + "/")


def cwd_of(pid):
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return ""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def executor_pods(runner_env=None):
    """Stack's pods factory: the executor, with the runner's extra env."""
    def make(st, env, api_url):
        env = dict(env, AMBIENT_API_URL=api_url, **(runner_env or {}))
        return Executor(st.cluster.ks.url, apiharness.ADMIN, rh.RUNNER,
                        os.path.join(st.cluster.tmp, "local"), env=env, max_sessions=2)
    return make


def same(url):
    return {"input": {"url": url}, "output": {"pushTo": "same"}}


class SessionTest(unittest.TestCase):
    """Sessions through the controller, the real runner and the fake CLI."""

    @classmethod
    def setUpClass(cls):
        cls.st = Stack(pods=executor_pods({"AMBIENT_CLAUDE": rh.FAKE_CLAUDE}))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.st.pods.stop()
        finally:
            cls.st.close()

    def test_session_completes(self):
        ns = self.st.project()
        url = self.st.repo(ns, "one")
        name = uniq("done")
        self.st.create_session(ns, name, {"prompt": "count [fake:many 3]", "repos": [same(url)]})
        st = self.st.wait_phase(ns, name, "Completed")["status"]
        self.assertEqual(st["repoStatuses"][0]["status"], "abandoned", st)
        texts = [e["message"]["content"][0]["text"] for e in self.st.events(ns, name)
                 if e.get("type") == "assistant"]
        self.assertEqual(texts, ["event 0", "event 1", "event 2", "done"])
        # The runner writes Completed, then exits: the pod's end may trail.
        def terminated():
            pods = self.st.kube.get(PODS % ns + "?labelSelector=job-name%3D" + name + "-runner")
            items = pods.body.get("items") or [{}]
            statuses = items[0].get("status", {}).get("containerStatuses") or [{}]
            return statuses[0].get("state", {}).get("terminated")
        term = wait_until(terminated, 30, "the runner's pod to terminate")
        self.assertEqual((term["exitCode"], term["reason"]), (0, "Completed"))
        run = self.st.pods.run_for(ns, name)
        for mark in apiharness.SANITIZER_MARKS:
            self.assertNotIn(mark, run.log())

    def test_missing_secret_key_fails_the_session(self):
        ns = self.st.project()
        url = self.st.repo(ns, "two")
        name = uniq("nokey")
        repo = same(url)
        repo["input"]["token"] = "NO_SUCH_KEY"
        self.st.create_session(ns, name, {"prompt": "x [fake:many 1]", "repos": [repo]})
        st = self.st.wait_phase(ns, name, "Failed")["status"]
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Succeeded"]["reason"], "CreateContainerConfigError", st)
        self.assertIn("couldn't find key NO_SUCH_KEY in Secret %s/" % ns, st["error"])

    def test_stop_kills_the_runner(self):
        ns = self.st.project()
        url = self.st.repo(ns, "three")
        name = uniq("stop")
        self.st.create_session(ns, name, {"prompt": "wait [fake:hang]", "repos": [same(url)]})
        run = self.st.pods.run_for(ns, name)
        wait_until(lambda: rh.processes_in(run.workspace), 60, "the agent running")
        r = self.st.cluster.rest("POST", "/api/projects/%s/agentic-sessions/%s/stop" % (ns, name),
                                 token=apiharness.ALICE)
        self.assertIn(r.status, (200, 202), r)
        self.st.wait_phase(ns, name, "Stopped")
        wait_until(lambda: not rh.processes_in(run.root), 40, "the runner and the agent gone")


class RealCliTest(unittest.TestCase):
    """Once with the real Claude Code CLI against the mock model API."""

    def test_session_pushes_with_the_real_cli(self):
        with Stack(pods=executor_pods()) as st:
            ns = st.project()
            url = st.repo(ns, "real")
            name = uniq("real")
            st.create_session(ns, name, {
                "prompt": "add notes [mock:write file=NOTES.md content=from-local]",
                "repos": [same(url)]})
            status = st.wait_phase(ns, name, "Completed")["status"]
            self.assertEqual(status["repoStatuses"][0]["status"], "pushed", status)
            self.assertEqual(st.git.read_file("%s/real.git" % ns, "ambient/" + name, "NOTES.md"),
                             "from-local")
            st.pods.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
