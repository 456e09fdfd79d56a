#!/usr/bin/python3
"""The agenticsession plugin in a real ambientd against kubesim: a session's
children are created owned by it, its phase follows the runner Job and Pod
(Completed; Failed with ImagePullBackOff, OOMKilled, RunnerExit, Timeout),
a second reconcile changes nothing, a child deleted by hand comes back, stop
and restart work through the desired-phase annotation, what the runner wrote
to /status survives, deletion cascades, an invalid spec ends Failed with
a condition naming the field, and an API server that throttles the
session's requests (429/503 with Retry-After) is not asked again before the
time it gave.

Environment (set by CMake): AMBIENTD, AMB_TEST_PLUGIN_DIR, KUBESIM, CRD_DIR,
AS_PLUGIN (agenticsession.so), AS_CRD_DIR (deploy/crds)."""
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "controller"))

from ctlharness import WAIT, Ambient, ControllerTest, harness, main, uniq, wait_until  # noqa: E402

PLUGIN = os.environ["AS_PLUGIN"]
GROUP = "/apis/vteam.ambient-code/v1alpha1"
SESSION_LABEL = "ambient-code.io/session"


def spath(ns, name=""):
    return "%s/namespaces/%s/agenticsessions%s" % (GROUP, ns, "/" + name if name else "")


class Sessions(ControllerTest):
    kubesim_args = ("--crd-dir", os.environ["AS_CRD_DIR"])

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conf = ('agenticsession = { runner_image = "registry.test/runner:1"; '
                'api_url = "https://ambient-api.test:8080"; '
                'workspace = { size = "2Gi"; storage_class = "standard"; empty_dir = false; }; '
                'ttl_seconds_after_finished = 300; default_model = "conf-model"; '
                'default_timeout = 900; '
                'resources = { cpu_request = "100m"; cpu_limit = "1"; memory_request = "128Mi"; '
                'memory_limit = "1Gi"; }; };\n')
        cls.amb = Ambient(cls.kube, cls.tmp, plugins=(PLUGIN,), extra=conf, wait_synced=False)
        cls.amb.wait_msg("cache synced", resource="agenticsessions")
        cls.amb.wait_msg("cache synced", resource="jobs")

    @classmethod
    def tearDownClass(cls):
        if cls.amb.alive():
            cls.amb.kill()
        super().tearDownClass()

    # ---- helpers ----
    @property
    def c(self):
        return self.kube.c

    def project(self, **ps_spec):
        ns = self.kube.make_ns(uniq("proj"))
        spec = {"runnerSecretsName": "proj-secrets"}
        spec.update(ps_spec)
        r = self.c.post("%s/namespaces/%s/projectsettings" % (GROUP, ns),
                        {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "ProjectSettings",
                         "metadata": {"name": "projectsettings"}, "spec": spec})
        self.assertEqual(r.status, 201, r)
        return ns

    def create(self, ns, name, spec):
        r = self.c.post(spath(ns), {"apiVersion": "vteam.ambient-code/v1alpha1",
                                    "kind": "AgenticSession",
                                    "metadata": {"name": name}, "spec": spec})
        self.assertEqual(r.status, 201, r)
        return r.body

    def get(self, ns, name):
        r = self.c.get(spath(ns, name))
        return r.body if r.status == 200 else None

    def child(self, kind_path, ns, name):
        r = self.c.get(kind_path % ns + "/" + name)
        return r.body if r.status == 200 else None

    JOBS = "/apis/batch/v1/namespaces/%s/jobs"
    SAS = "/api/v1/namespaces/%s/serviceaccounts"
    ROLES = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles"
    RBS = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings"
    PVCS = "/api/v1/namespaces/%s/persistentvolumeclaims"

    def job(self, ns, name):
        return self.child(self.JOBS, ns, name + "-runner")

    def wait_phase(self, ns, name, phase, timeout=WAIT):
        def ok():
            s = self.get(ns, name)
            return s if s and (s.get("status") or {}).get("phase") == phase else None
        try:
            return wait_until(ok, timeout, 0.1, "session %s/%s in phase %s" % (ns, name, phase))
        except AssertionError:
            print("last state:", self.get(ns, name), file=sys.stderr)
            raise

    def wait_job(self, ns, name, timeout=WAIT):
        return wait_until(lambda: self.job(ns, name), timeout, 0.1, "job of %s" % name)

    def control(self, path, body=None):
        r = self.c.post(path, body or {})
        self.assertEqual(r.status, 200, r)
        return r.body

    def cond(self, s, type_):
        for c in (s.get("status") or {}).get("conditions") or []:
            if c["type"] == type_:
                return c
        return None

    def events(self, ns, name):
        sel = urllib.parse.quote("involvedObject.name=%s" % name)
        r = self.c.get("/api/v1/namespaces/%s/events?fieldSelector=%s" % (ns, sel))
        self.assertEqual(r.status, 200, r)
        return [e["reason"] for e in r.body["items"]]

    def list_jobs(self, ns):
        r = self.c.get(self.JOBS % ns)
        self.assertEqual(r.status, 200, r)
        return r.body["items"]

    def pod_of(self, ns, name):
        sel = urllib.parse.quote("%s=%s" % (SESSION_LABEL, name))
        r = self.c.get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (ns, sel))
        self.assertEqual(r.status, 200, r)
        return r.body["items"]

    def start_running(self, ns, name):
        self.wait_job(ns, name)
        self.control("/kubesim/jobs/%s/%s-runner/start" % (ns, name))
        return self.wait_phase(ns, name, "Running")

    def assert_failed(self, ns, name, reason, text=None):
        s = self.wait_phase(ns, name, "Failed")
        st = s["status"]
        self.assertTrue(st.get("error"), st)
        self.assertTrue(st.get("completionTime"), st)
        c = self.cond(s, "Succeeded")
        self.assertEqual((c["status"], c["reason"]), ("False", reason), st)
        if text:
            self.assertIn(text, st["error"])
            self.assertIn(text, c["message"])
        wait_until(lambda: reason in self.events(ns, name), WAIT, 0.1, "a %s event" % reason)
        return s

    # ---- scenarios ----
    def test_lifecycle_to_completed(self):
        ns = self.project(defaultModel="ps-model")
        name = "life"
        sess = self.create(ns, name, {"prompt": "fix the bug", "repos": [
            {"input": {"url": "https://github.com/org/repo"}, "output": {"pushTo": "fork"}}]})
        uid = sess["metadata"]["uid"]
        job = self.wait_job(ns, name)
        pending = self.wait_phase(ns, name, "Pending")
        self.assertEqual(pending["status"]["observedGeneration"], 1)

        # Every child is controlled by the session.
        children = [(self.SAS, "ambient-session-" + name), (self.ROLES, "ambient-session-" + name),
                    (self.RBS, "ambient-session-" + name), (self.PVCS, name + "-workspace"),
                    (self.JOBS, name + "-runner")]
        for kind_path, cname in children:
            obj = wait_until(lambda: self.child(kind_path, ns, cname), WAIT, 0.1, cname)
            refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("controller")]
            self.assertEqual([(r["kind"], r["name"], r["uid"]) for r in refs],
                             [("AgenticSession", name, uid)], obj["metadata"])
        role = self.child(self.ROLES, ns, "ambient-session-" + name)
        self.assertEqual({tuple(r["resourceNames"]) for r in role["rules"]}, {(name,)})
        pvc = self.child(self.PVCS, ns, name + "-workspace")
        self.assertEqual(pvc["spec"]["storageClassName"], "standard")
        self.assertEqual(pvc["spec"]["resources"]["requests"]["storage"], "2Gi")

        # The Job: config image, timeout from ambient.conf, model from ProjectSettings,
        # secrets referenced from the project's Secret.
        spec = job["spec"]
        self.assertEqual(spec["backoffLimit"], 0)
        self.assertEqual(spec["activeDeadlineSeconds"], 900)
        self.assertEqual(spec["ttlSecondsAfterFinished"], 300)
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        self.assertEqual(c["image"], "registry.test/runner:1")
        self.assertEqual(pod["serviceAccountName"], "ambient-session-" + name)
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["AMBIENT_MODEL"]["value"], "ps-model")
        self.assertEqual(env["AMBIENT_API_URL"]["value"], "https://ambient-api.test:8080")
        self.assertEqual(env["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"]["name"],
                         "proj-secrets")
        self.assertNotIn("value", env["ANTHROPIC_API_KEY"])
        self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
        self.assertEqual(c["resources"]["limits"]["memory"], "1Gi")
        # The spec stays as the user wrote it (defaults are the api role's job).
        self.assertNotIn("model", self.get(ns, name)["spec"])

        running = self.start_running(ns, name)
        st = running["status"]
        self.assertTrue(st.get("startTime"), st)
        self.assertEqual(self.cond(running, "Ready")["status"], "True")

        # Idempotent: another pass (woken by an annotation: a metadata change)
        # writes and creates nothing.
        rvs = {(kp, cname): self.child(kp, ns, cname)["metadata"]["resourceVersion"]
               for kp, cname in children}
        before = self.amb.metric("ambient_reconcile_total", kind="AgenticSession")
        r = self.c.patch(spath(ns, name), {"metadata": {"annotations": {"touch": "1"}}})
        self.assertEqual(r.status, 200, r)
        rv = r.body["metadata"]["resourceVersion"]
        wait_until(lambda: self.amb.metric("ambient_reconcile_total",
                                           kind="AgenticSession") > before,
                   WAIT, 0.05, "another reconcile")
        time.sleep(0.5)
        self.assertEqual(self.get(ns, name)["metadata"]["resourceVersion"], rv)
        for kp, cname in children:
            self.assertEqual(self.child(kp, ns, cname)["metadata"]["resourceVersion"],
                             rvs[(kp, cname)], cname)
        self.assertEqual(len(self.list_jobs(ns)), 1)

        # A child deleted by hand comes back while the session runs.
        r = self.c.delete(self.ROLES % ns + "/ambient-session-" + name)
        self.assertEqual(r.status, 200, r)
        back = wait_until(lambda: self.child(self.ROLES, ns, "ambient-session-" + name), WAIT, 0.1,
                          "the role recreated")
        self.assertNotEqual(back["metadata"]["uid"], role["metadata"]["uid"])

        # The runner writes its own status fields; the reconciler keeps them.
        r = self.c.patch(spath(ns, name) + "/status", {"status": {
            "results": {"summary": "fixed it"}, "message": "pushing",
            "repoStatuses": [{"repoIndex": 0, "status": "pushed", "branch": "fix"}]}})
        self.assertEqual(r.status, 200, r)
        self.control("/kubesim/jobs/%s/%s-runner/succeed" % (ns, name))
        done = self.wait_phase(ns, name, "Completed")
        st = done["status"]
        self.assertTrue(st.get("completionTime"), st)
        self.assertNotIn("error", st)
        self.assertEqual(st["results"], {"summary": "fixed it"})
        self.assertEqual(st["repoStatuses"][0]["status"], "pushed")
        self.assertEqual(st["message"], "pushing")
        self.assertEqual(self.cond(done, "Succeeded")["status"], "True")
        wait_until(lambda: {"Running", "Completed"} <= set(self.events(ns, name)), WAIT, 0.1,
                   "Running and Completed events")
        # /metrics counts sessions by phase, and counts each session once.
        wait_until(lambda: self.amb.metric("ambient_objects", kind="AgenticSession",
                                           phase="Completed") >= 1, WAIT, 0.1,
                   "ambient_objects counting the Completed session")
        everywhere = self.c.get(GROUP + "/agenticsessions")
        self.assertEqual(self.amb.metric("ambient_objects", kind="AgenticSession"),
                         len(everywhere.body["items"]))

    def test_image_pull_error_fails(self):
        ns = self.project()
        self.create(ns, "pull", {"prompt": "x"})
        self.wait_job(ns, "pull")
        self.control("/kubesim/jobs/%s/pull-runner/start" % ns,
                     {"waiting": {"reason": "ImagePullBackOff"}})
        self.assert_failed(ns, "pull", "ImagePullBackOff", "Back-off pulling image")
        # A pod that cannot start never ends by itself: its Job goes.
        wait_until(lambda: self.job(ns, "pull") is None, WAIT, 0.1, "the stuck job deleted")

    def test_throttled_requests_wait_their_retry_after(self):
        # The run: reading the ProjectSettings answered 429 as API
        # Priority and Fairness does (Retry-After: 1), four times in a row,
        # and the Job's POST 503 with Retry-After: 2. The plugin reports the
        # first under an error of its own; the session is held all the same.
        ns = self.project()
        k = self.kube
        k.faults_add(status=429, retryAfterSeconds=1, count=4, plainText=True, method="GET",
                     path="%s/namespaces/%s/projectsettings/projectsettings" % (GROUP, ns))
        k.faults_add(status=503, retryAfterSeconds=2, count=1, method="POST", path=self.JOBS % ns)
        self.create(ns, "patient", {"prompt": "x"})
        self.wait_job(ns, "patient")
        self.assertEqual(k.faults(), [], "not every throttle was hit")
        pairs = harness.throttled_retries(k.requests("/namespaces/%s/" % ns))
        self.assertEqual(sorted((f["fault"], f["method"]) for f, _ in pairs),
                         [(429, "GET")] * 4 + [(503, "POST")])
        for fault, again in pairs:
            self.assertIsNotNone(again, fault)
            self.assertGreaterEqual(again["at"] - fault["at"], fault["retryAfterSeconds"],
                                    (fault, again))

    def test_pod_state_alone_wakes_the_session(self):
        """A Pod-only change (no Job change) reaches the session: the Pod's
        owner is the Job, whose owner is the session."""
        ns = self.project()
        self.create(ns, "podonly", {"prompt": "x"})
        self.start_running(ns, "podonly")
        pods = self.pod_of(ns, "podonly")
        self.assertEqual(len(pods), 1)
        self.assertEqual(pods[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ambient")
        self.control("/kubesim/pods/%s/%s/wait" % (ns, pods[0]["metadata"]["name"]),
                     {"reason": "ErrImagePull"})
        self.assert_failed(ns, "podonly", "ErrImagePull")
        wait_until(lambda: self.job(ns, "podonly") is None, WAIT, 0.1, "the stuck job deleted")

    def test_oom_kill_fails(self):
        ns = self.project()
        self.create(ns, "oom", {"prompt": "x"})
        self.start_running(ns, "oom")
        self.control("/kubesim/jobs/%s/oom-runner/fail" % ns, {"containerReason": "OOMKilled"})
        self.assert_failed(ns, "oom", "OOMKilled", "137")

    def test_nonzero_exit_fails(self):
        ns = self.project()
        self.create(ns, "exit", {"prompt": "x"})
        self.start_running(ns, "exit")
        self.control("/kubesim/jobs/%s/exit-runner/fail" % ns, {"exitCode": 3})
        self.assert_failed(ns, "exit", "RunnerExit", "code 3")

    def test_deadline_is_timeout(self):
        ns = self.project(maxTimeout=1000)
        self.create(ns, "slow", {"prompt": "x", "timeout": 42})
        self.assertEqual(self.wait_job(ns, "slow")["spec"]["activeDeadlineSeconds"], 42)
        self.start_running(ns, "slow")
        self.control("/kubesim/jobs/%s/slow-runner/fail" % ns, {"reason": "DeadlineExceeded"})
        self.assert_failed(ns, "slow", "Timeout", "42 seconds")

    def test_stop_then_restart(self):
        ns = self.project()
        name = "stopme"
        self.create(ns, name, {"prompt": "x", "interactive": True})
        self.start_running(ns, name)
        r = self.c.patch(spath(ns, name), {"metadata": {"annotations": {
            "ambient-code.io/desired-phase": "Stopped"}}})
        self.assertEqual(r.status, 200, r)
        s = self.wait_phase(ns, name, "Stopped")
        self.assertTrue(s["status"].get("completionTime"))
        self.assertEqual(self.cond(s, "Succeeded")["reason"], "Stopped")
        wait_until(lambda: self.job(ns, name) is None, WAIT, 0.1, "the job deleted")
        # Stays stopped: no new Job.
        time.sleep(1)
        self.assertIsNone(self.job(ns, name))

        # Running on a finished session runs it again.
        r = self.c.patch(spath(ns, name), {"metadata": {"annotations": {
            "ambient-code.io/desired-phase": "Running"}}})
        self.assertEqual(r.status, 200, r)
        job = self.wait_job(ns, name)
        self.assertEqual(job["metadata"]["labels"]["ambient-code.io/run"], "2")
        s = self.get(ns, name)
        self.assertNotIn("ambient-code.io/desired-phase", s["metadata"].get("annotations", {}))
        self.assertNotIn("completionTime", s.get("status", {}))
        self.start_running(ns, name)
        self.control("/kubesim/jobs/%s/%s-runner/succeed" % (ns, name))
        self.wait_phase(ns, name, "Completed")
        self.assertIn("Restarting", self.events(ns, name))

    def test_restart_after_failure(self):
        ns = self.project()
        name = "again"
        self.create(ns, name, {"prompt": "x"})
        self.start_running(ns, name)
        self.control("/kubesim/jobs/%s/%s-runner/fail" % (ns, name), {"exitCode": 1})
        self.assert_failed(ns, name, "RunnerExit")
        r = self.c.patch(spath(ns, name), {"metadata": {"annotations": {
            "ambient-code.io/desired-phase": "Running"}}})
        self.assertEqual(r.status, 200, r)

        def fresh_job():
            j = self.job(ns, name)
            return j if j and j["metadata"]["labels"].get("ambient-code.io/run") == "2" else None
        wait_until(fresh_job, WAIT, 0.1, "the second run's job")
        s = self.wait_phase(ns, name, "Pending")
        self.assertNotIn("error", s["status"])
        self.start_running(ns, name)
        self.control("/kubesim/jobs/%s/%s-runner/succeed" % (ns, name))
        self.wait_phase(ns, name, "Completed")

    def test_restart_with_hostile_run_counter(self):
        # A user may write any run annotation. The largest int64 once made
        # the controller overflow and stop (UBSan); each value must give a
        # bounded next run and keep the controller reconciling.
        ns = self.project()
        for name, run, want in (("maxrun", "9223372036854775807", "2"),
                                ("junkrun", "-3x", "2"),
                                ("toprun", "1000000000", "1000000000")):
            self.create(ns, name, {"prompt": "x"})
            self.start_running(ns, name)
            self.control("/kubesim/jobs/%s/%s-runner/succeed" % (ns, name))
            self.wait_phase(ns, name, "Completed")
            r = self.c.patch(spath(ns, name), {"metadata": {"annotations": {
                "ambient-code.io/run": run, "ambient-code.io/desired-phase": "Running"}}})
            self.assertEqual(r.status, 200, r)

            def rerun(name=name, want=want):
                j = self.job(ns, name)
                return j if j and j["metadata"]["labels"].get("ambient-code.io/run") == want \
                    else None
            wait_until(rerun, WAIT, 0.1, "run %s of %s" % (want, name))
            self.wait_phase(ns, name, "Pending")
        # The controller still reconciles: a new session gets its Job.
        self.create(ns, "after", {"prompt": "x"})
        self.wait_job(ns, "after")

    def test_timeout_bounded(self):
        # Straight to the API server (no api role in front): the controller
        # refuses a timeout past 30 days instead of handing it to the Job.
        ns = self.project()
        self.create(ns, "forever", {"prompt": "x", "timeout": 9223372036854775807})
        s = self.wait_phase(ns, "forever", "Failed")
        self.assertIn("spec.timeout: must be a whole number of seconds from 1 to 2592000",
                      s["status"]["error"])
        self.assertIsNone(self.job(ns, "forever"))

    def test_delete_cascades(self):
        ns = self.project()
        name = "gone"
        self.create(ns, name, {"prompt": "x"})
        self.start_running(ns, name)
        r = self.c.delete(spath(ns, name))
        self.assertEqual(r.status, 200, r)
        children = [(self.SAS, "ambient-session-" + name), (self.ROLES, "ambient-session-" + name),
                    (self.RBS, "ambient-session-" + name), (self.PVCS, name + "-workspace"),
                    (self.JOBS, name + "-runner")]

        # A reconcile already running when the session went may still be
        # finishing; what it leaves behind is owned by the gone session and
        # collected too.
        def all_gone():
            self.control("/kubesim/gc")
            return all(self.child(kp, ns, cname) is None for kp, cname in children)
        wait_until(all_gone, WAIT, 0.2, "every child collected")
        self.assertIsNone(self.get(ns, name))
        sel = urllib.parse.quote("%s=%s" % (SESSION_LABEL, name))
        r = self.c.get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (ns, sel))
        self.assertEqual(r.body["items"], [])

    def test_invalid_spec_fails_naming_the_field(self):
        ns = self.project(maxTimeout=100, allowedModels=["good"])
        self.create(ns, "bad", {"prompt": "x", "timeout": 200, "model": "evil",
                                "repos": [{"input": {"url": "file:///etc"}}]})
        s = self.wait_phase(ns, "bad", "Failed")
        c = self.cond(s, "Succeeded")
        self.assertEqual(c["reason"], "Invalid")
        for field in ("spec.repos[0].input.url", "spec.timeout", "spec.model"):
            self.assertIn(field + ":", c["message"])
            self.assertIn(field + ":", s["status"]["error"])
        self.assertEqual(self.cond(s, "Ready")["reason"], "Invalid")
        time.sleep(0.5)
        self.assertIsNone(self.job(ns, "bad"))
        self.assertIsNone(self.child(self.SAS, ns, "ambient-session-bad"))
        self.assertIn("Invalid", self.events(ns, "bad"))

    def test_zz_clean_stop(self):
        """Runs last: ambientd exits 0 without a sanitizer report."""
        self.assertEqual(self.amb.has_msg("concurrent reconcile of one key"), [])
        self.amb.stop_clean(self)


if __name__ == "__main__":
    main()
