#!/usr/bin/python3
"""Test controls: fault injection (5xx, latency, filters), the Job/Pod
simulation (batch/v1 status and kubelet container states), PVC binding,
and the kubesimctl client."""

import json
import subprocess
import time

from harness import KUBESIMCTL, PYTHON, WAIT, KubesimTest, main, wpath

JOB_SPEC = {"template": {"metadata": {"labels": {"app": "runner"}}, "spec": {
    "restartPolicy": "Never", "containers": [{"name": "runner", "image": "runner:1"}]}}}


class FaultTest(KubesimTest):
    def tearDown(self):
        self.c.delete("/kubesim/faults")

    def test_error_for_next_n_requests(self):
        ns = self.make_ns()
        r = self.c.post("/kubesim/faults", {"status": 503, "count": 2, "path": ns,
                                            "retryAfterSeconds": 1})
        self.assertEqual(r.status, 201)
        for _ in range(2):
            r = self.c.get(wpath(ns))
            body = self.assertStatus(r, 503, "ServiceUnavailable")
            self.assertEqual(r.headers.get("Retry-After"), "1")
            self.assertEqual(body["details"], {"retryAfterSeconds": 1})
        self.assertEqual(self.c.get(wpath(ns)).status, 200)
        self.assertEqual(self.c.get("/kubesim/faults").body["faults"], [])

    def test_filters_by_verb_and_method(self):
        ns = self.make_ns()
        self.c.post("/kubesim/faults", {"status": 500, "verb": "create", "path": ns})
        self.assertEqual(self.c.get(wpath(ns)).status, 200)
        r = self.c.post(wpath(ns), {"metadata": {"name": "w"}})
        self.assertStatus(r, 500, "InternalError")
        self.c.delete("/kubesim/faults")
        self.c.post("/kubesim/faults", {"status": 429, "method": "PATCH", "count": 1})
        self.assertEqual(self.c.post(wpath(ns), {"metadata": {"name": "w"}}).status, 201)
        self.assertStatus(self.c.patch(wpath(ns, "w"), {}), 429, "TooManyRequests")
        self.assertEqual(self.c.patch(wpath(ns, "w"), {}).status, 200)

    def test_watch_fault(self):
        ns = self.make_ns()
        self.c.post("/kubesim/faults", {"status": 500, "verb": "watch", "count": 1})
        self.assertEqual(self.c.get(wpath(ns) + "?watch=1&timeoutSeconds=1").status, 500)
        self.assertEqual(self.c.get(wpath(ns)).status, 200)

    def test_latency(self):
        ns = self.make_ns()
        self.c.post("/kubesim/faults", {"latencyMs": 300, "count": 1, "path": ns})
        t0 = time.monotonic()
        self.assertEqual(self.c.get(wpath(ns)).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        t0 = time.monotonic()
        self.c.get(wpath(ns))
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_probability(self):
        ns = self.make_ns()
        self.c.post("/kubesim/faults", {"status": 503, "probability": 0.5, "path": ns})
        codes = [self.c.get(wpath(ns)).status for _ in range(200)]
        self.assertGreater(codes.count(503), 40)
        self.assertGreater(codes.count(200), 40)

    def test_controls_are_not_faulted(self):
        self.c.post("/kubesim/faults", {"status": 503})
        self.assertEqual(self.c.get("/kubesim/rv").status, 200)
        self.assertEqual(self.c.get("/api/v1/namespaces").status, 503)

    def test_bad_fault(self):
        self.assertEqual(self.c.post("/kubesim/faults", {"count": 1}).status, 400)

    def test_plain_text_429_as_priority_and_fairness_sends_it(self):
        # The apiserver's max-in-flight and APF filters answer before any
        # Status is built: text/plain, the Retry-After header, nothing else.
        ns = self.make_ns()
        self.c.post("/kubesim/faults", {"status": 429, "retryAfterSeconds": 2, "count": 1,
                                        "plainText": True, "path": ns})
        r = self.c.get(wpath(ns), raw=True)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.headers.get("Retry-After"), "2")
        self.assertEqual(r.headers.get("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.body, b"Too many requests, please try again later.\n")
        self.assertEqual(self.c.get(wpath(ns)).status, 200)

    def test_request_log_records_arrivals_and_faults(self):
        ns = self.make_ns()
        self.assertEqual(self.c.delete("/kubesim/requests").status, 200)
        self.c.post("/kubesim/faults", {"status": 503, "retryAfterSeconds": 1, "count": 1,
                                        "path": ns, "verb": "list"})
        t0 = time.monotonic()
        self.assertEqual(self.c.get(wpath(ns)).status, 503)
        self.assertEqual(self.c.get(wpath(ns)).status, 200)
        self.assertEqual(self.c.post(wpath(ns), {"metadata": {"name": "w"}}).status, 201)
        self.assertEqual(self.c.get(wpath(ns, "w")).status, 200)
        took = time.monotonic() - t0
        r = self.c.get("/kubesim/requests?path=" + ns)
        self.assertEqual(r.status, 200)
        seen = r.body["requests"]
        self.assertEqual([(q["method"], q["verb"], q["path"]) for q in seen],
                         [("GET", "list", wpath(ns)), ("GET", "list", wpath(ns)),
                          ("POST", "create", wpath(ns)), ("GET", "get", wpath(ns, "w"))])
        self.assertEqual([q["fault"] for q in seen], [503, 0, 0, 0])
        self.assertEqual(seen[0]["retryAfterSeconds"], 1)
        self.assertNotIn("retryAfterSeconds", seen[1])
        # Arrival times on the server's monotonic clock, in order.
        times = [q["at"] for q in seen]
        self.assertEqual(times, sorted(times))
        self.assertLessEqual(times[-1] - times[0], took)
        # Control requests are not API requests: never recorded; the filter
        # is a substring of the path, and DELETE forgets everything.
        everything = self.c.get("/kubesim/requests").body["requests"]
        self.assertFalse([q for q in everything if q["path"].startswith("/kubesim")])
        self.assertGreaterEqual(len(everything), len(seen))
        self.assertEqual(self.c.delete("/kubesim/requests").body, {"requests": []})
        self.assertEqual(self.c.get("/kubesim/requests?path=" + ns).body["requests"], [])


class JobSimTest(KubesimTest):
    def make_job(self, ns, name="j", **spec):
        body = {"metadata": {"name": name}, "spec": dict(JOB_SPEC, **spec)}
        r = self.c.post(f"/apis/batch/v1/namespaces/{ns}/jobs", body)
        self.assertEqual(r.status, 201, r)
        return r.body

    def job(self, ns, name="j"):
        return self.c.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}").body

    def pods(self, ns):
        return self.c.get(f"/api/v1/namespaces/{ns}/pods").body["items"]

    def conds(self, job):
        return [(c["type"], c["status"], c["reason"]) for c in job["status"].get("conditions", [])]

    def test_start_creates_owned_pod(self):
        ns = self.make_ns()
        job = self.make_job(ns)
        r = self.c.post(f"/kubesim/jobs/{ns}/j/start", {})
        self.assertEqual(r.status, 200, r)
        st = r.body["status"]
        self.assertEqual((st["active"], st["ready"], st["terminating"]), (1, 1, 0))
        self.assertTrue(st["startTime"])
        self.assertNotIn("conditions", st)
        [pod] = self.pods(ns)
        uid = job["metadata"]["uid"]
        labels = pod["metadata"]["labels"]
        self.assertEqual(labels["job-name"], "j")
        self.assertEqual(labels["batch.kubernetes.io/job-name"], "j")
        self.assertEqual(labels["controller-uid"], uid)
        self.assertEqual(labels["batch.kubernetes.io/controller-uid"], uid)
        self.assertEqual(labels["app"], "runner")
        self.assertTrue(pod["metadata"]["name"].startswith("j-"))
        self.assertEqual(pod["metadata"]["ownerReferences"], [{
            "apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": uid,
            "controller": True, "blockOwnerDeletion": True}])
        self.assertEqual(pod["status"]["phase"], "Running")
        cs = pod["status"]["containerStatuses"][0]
        self.assertEqual(cs["name"], "runner")
        self.assertIn("running", cs["state"])
        self.assertTrue(cs["ready"])

    def test_image_pull_backoff(self):
        ns = self.make_ns()
        self.make_job(ns)
        r = self.c.post(f"/kubesim/jobs/{ns}/j/start", {"waiting": {"reason": "ImagePullBackOff"}})
        self.assertEqual((r.body["status"]["active"], r.body["status"]["ready"]), (1, 0))
        [pod] = self.pods(ns)
        self.assertEqual(pod["status"]["phase"], "Pending")
        cs = pod["status"]["containerStatuses"][0]
        self.assertEqual(cs["state"], {"waiting": {
            "reason": "ImagePullBackOff", "message": 'Back-off pulling image "runner:1"'}})
        self.assertFalse(cs["ready"])

    def test_succeed(self):
        ns = self.make_ns()
        self.make_job(ns)
        self.c.post(f"/kubesim/jobs/{ns}/j/start", {})
        r = self.c.post(f"/kubesim/jobs/{ns}/j/succeed", {})
        self.assertEqual(r.status, 200, r)
        st = r.body["status"]
        self.assertEqual(self.conds(r.body), [("SuccessCriteriaMet", "True", "CompletionsReached"),
                                              ("Complete", "True", "CompletionsReached")])
        self.assertEqual(st["conditions"][1]["message"],
                         "Reached expected number of succeeded pods")
        for c in st["conditions"]:
            self.assertEqual(set(c), {"type", "status", "lastProbeTime", "lastTransitionTime",
                                      "reason", "message"})
        self.assertEqual((st["active"], st["succeeded"], st["ready"], st["terminating"]),
                         (0, 1, 0, 0))
        self.assertTrue(st["completionTime"])
        [pod] = self.pods(ns)
        self.assertEqual(pod["status"]["phase"], "Succeeded")
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (0, "Completed"))
        r = self.c.post(f"/kubesim/jobs/{ns}/j/fail", {})
        self.assertStatus(r, 409, "Conflict")

    def test_fail_oom_backoff_limit(self):
        ns = self.make_ns()
        self.make_job(ns)
        r = self.c.post(f"/kubesim/jobs/{ns}/j/fail", {"containerReason": "OOMKilled"})
        st = r.body["status"]
        self.assertEqual(self.conds(r.body), [("FailureTarget", "True", "BackoffLimitExceeded"),
                                              ("Failed", "True", "BackoffLimitExceeded")])
        self.assertEqual(st["conditions"][1]["message"],
                         "Job has reached the specified backoff limit")
        self.assertNotIn("completionTime", st)
        self.assertEqual((st["active"], st["failed"]), (0, 1))
        [pod] = self.pods(ns)
        self.assertEqual(pod["status"]["phase"], "Failed")
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (137, "OOMKilled"))

    def test_fail_nonzero_exit_two_steps(self):
        ns = self.make_ns()
        self.make_job(ns)
        self.c.post(f"/kubesim/jobs/{ns}/j/start", {})
        r = self.c.post(f"/kubesim/jobs/{ns}/j/fail", {"exitCode": 3, "terminal": False})
        self.assertEqual(self.conds(r.body), [("FailureTarget", "True", "BackoffLimitExceeded")])
        self.assertEqual(r.body["status"]["terminating"], 1)
        term = self.pods(ns)[0]["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (3, "Error"))
        r = self.c.post(f"/kubesim/jobs/{ns}/j/fail", {})
        self.assertEqual([c[0] for c in self.conds(r.body)], ["FailureTarget", "Failed"])
        self.assertEqual((r.body["status"]["terminating"], r.body["status"]["failed"]), (0, 1))

    def test_deadline_exceeded(self):
        ns = self.make_ns()
        self.make_job(ns, activeDeadlineSeconds=10)
        self.c.post(f"/kubesim/jobs/{ns}/j/start", {})
        r = self.c.post(f"/kubesim/jobs/{ns}/j/fail", {"reason": "DeadlineExceeded"})
        self.assertEqual(self.conds(r.body)[-1], ("Failed", "True", "DeadlineExceeded"))
        self.assertEqual(r.body["status"]["conditions"][-1]["message"],
                         "Job was active longer than specified deadline")
        self.assertEqual(self.pods(ns), [], "the job controller deletes active pods")

    def test_status_written_through_watchable_writes(self):
        ns = self.make_ns()
        self.make_job(ns)
        rv = self.c.get(f"/apis/batch/v1/namespaces/{ns}/jobs").body["metadata"]["resourceVersion"]
        w = self.watch(f"/apis/batch/v1/namespaces/{ns}/jobs?watch=1&resourceVersion={rv}")
        self.c.post(f"/kubesim/jobs/{ns}/j/succeed", {})
        ev = w.events_until(lambda e: "conditions" in e["object"]["status"])[-1]
        self.assertEqual(ev["type"], "MODIFIED")
        self.assertEqual(ev["object"]["metadata"]["generation"], 1)

    def test_pod_controls_and_pvc_bind(self):
        ns = self.make_ns()
        self.c.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}})
        r = self.c.post(f"/kubesim/pods/{ns}/p/wait", {"reason": "CrashLoopBackOff"})
        self.assertEqual([c["state"]["waiting"]["reason"]
                          for c in r.body["status"]["containerStatuses"]],
                         ["CrashLoopBackOff"] * 2)
        r = self.c.post(f"/kubesim/pods/{ns}/p/fail", {"exitCode": 2})
        self.assertEqual(r.body["status"]["phase"], "Failed")
        self.c.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
            "metadata": {"name": "ws"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "5Gi"}}}})
        pvc = self.c.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/ws").body
        self.assertEqual(pvc["status"]["phase"], "Pending")
        r = self.c.post(f"/kubesim/pvcs/{ns}/ws/bind", {})
        self.assertEqual(r.body["status"], {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                            "capacity": {"storage": "5Gi"}})
        self.assertStatus(self.c.post(f"/kubesim/jobs/{ns}/none/start", {}), 404)

    def test_kubesimctl(self):
        ns = self.make_ns()
        self.make_job(ns)

        def ctl(*args):
            p = subprocess.run([PYTHON, KUBESIMCTL, "--server", self.ks.url, *args],
                               capture_output=True, text=True, timeout=WAIT)
            return p.returncode, json.loads(p.stdout)
        rc, out = ctl("job", "start", ns, "j", "--waiting-reason", "ErrImagePull")
        self.assertEqual(rc, 0, out)
        rc, out = ctl("job", "fail", ns, "j", "--reason", "DeadlineExceeded")
        self.assertEqual(out["status"]["conditions"][-1]["reason"], "DeadlineExceeded")
        rc, out = ctl("job", "succeed", ns, "j")
        self.assertEqual(rc, 1)
        self.assertEqual(out["reason"], "Conflict")
        rc, out = ctl("fault", "add", "--status", "503", "--count", "1", "--path", "/zzz")
        self.assertEqual(out["status"], 503)
        rc, out = ctl("fault", "list")
        self.assertEqual(len(out["faults"]), 1)
        ctl("fault", "clear")
        rc, out = ctl("compact")
        self.assertEqual(rc, 0)
        self.assertEqual(out["compactedResourceVersion"], out["resourceVersion"])


if __name__ == "__main__":
    main()
