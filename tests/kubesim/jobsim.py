"""Stand-ins for the job controller and the kubelet, driven by tests through
the /kubesim control endpoints: they create a Job's Pod and write Pod and
Job status the way the real components do (batch/v1 conditions as the job
controller writes them: SuccessCriteriaMet/FailureTarget first, then
Complete/Failed once no pod is terminating; completionTime only on success).
"""

import secrets

import apierrors
import kinds

JOB_KEY, POD_KEY, PVC_KEY = ("batch", "jobs"), ("", "pods"), ("", "persistentvolumeclaims")

JOB_MESSAGES = {
    "CompletionsReached": "Reached expected number of succeeded pods",
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
}


def _condition(type_, reason, message, ts):
    return {"type": type_, "status": "True", "lastProbeTime": ts,
            "lastTransitionTime": ts, "reason": reason, "message": message}


def _container_state(state, opts, image, ts):
    """(state dict, ready, started) for one container."""
    if state == "running":
        return {"running": {"startedAt": ts}}, True, True
    if state == "waiting":
        reason = opts.get("reason", "ImagePullBackOff")
        default_msg = {"ImagePullBackOff": f'Back-off pulling image "{image}"',
                       "ErrImagePull": f'failed to pull and unpack image "{image}"',
                       "CrashLoopBackOff": "back-off 10s restarting failed container"}
        waiting = {"reason": reason}
        msg = opts.get("message", default_msg.get(reason))
        if msg:
            waiting["message"] = msg
        return {"waiting": waiting}, False, False
    if state == "succeeded":
        code, reason = 0, "Completed"
    else:
        reason = opts.get("containerReason") or ("OOMKilled" if opts.get("oomKilled") else "Error")
        code = int(opts.get("exitCode", 137 if reason == "OOMKilled" else 1))
    term = {"exitCode": code, "reason": reason, "startedAt": ts, "finishedAt": ts,
            "containerID": "containerd://" + secrets.token_hex(32)}
    if opts.get("message"):
        term["message"] = opts["message"]
    return {"terminated": term}, False, False


def set_pod_status(pod, state, opts):
    """Write what the kubelet reports for `state` in running|waiting|succeeded|failed."""
    ts = kinds.now()
    spec = pod.get("spec") or {}
    statuses = []
    for c in spec.get("containers") or [{"name": "main", "image": ""}]:
        st, ready, started = _container_state(state, opts, c.get("image", ""), ts)
        cs = {"name": c.get("name", ""), "image": c.get("image", ""), "imageID": "",
              "ready": ready, "started": started, "restartCount": int(opts.get("restartCount", 0)),
              "state": st, "lastState": {}}
        if started or "terminated" in st:
            cs["containerID"] = "containerd://" + secrets.token_hex(32)
        statuses.append(cs)
    phase = {"running": "Running", "waiting": "Pending", "succeeded": "Succeeded",
             "failed": "Failed"}[state]
    ready = "True" if state == "running" else "False"
    status = dict(pod.get("status") or {})
    status.update({
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
            {"type": "Initialized", "status": "True", "lastTransitionTime": ts},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": ts},
            {"type": "Ready", "status": ready, "lastTransitionTime": ts},
        ],
        "hostIP": "10.0.0.1", "podIP": "10.244.0.%d" % (secrets.randbelow(250) + 2),
        "startTime": status.get("startTime", ts),
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    })
    if state in ("succeeded", "failed"):
        for cond in status["conditions"][2:]:
            cond["reason"] = "PodCompleted" if state == "succeeded" else "PodFailed"
    pod["status"] = status


class JobSim:
    def __init__(self, store, registry, ops):
        self.store = store
        self.registry = registry
        self.ops = ops

    def _rt(self, key):
        return self.registry.by_key(key)

    def pods_of(self, job):
        uid = job["metadata"]["uid"]
        out = []
        for ref in self.store.dependents.get(uid, ()):
            if ref[0] == POD_KEY:
                entry = self.store.get(*ref)
                if entry is not None:
                    out.append(entry.obj)
        return sorted(out, key=lambda p: p["metadata"]["creationTimestamp"])

    def _ensure_pod(self, job):
        pods = [p for p in self.pods_of(job) if not p["metadata"].get("deletionTimestamp")]
        if pods:
            return pods[-1]
        meta = job["metadata"]
        template = job.get("spec", {}).get("template", {})
        body = {"metadata": {"generateName": meta["name"] + "-",
                             "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                             "annotations": dict((template.get("metadata") or {}).get(
                                 "annotations") or {}),
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                  "name": meta["name"], "uid": meta["uid"],
                                                  "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": template.get("spec") or {}}
        return self.ops.create(self._rt(POD_KEY), meta["namespace"], body).obj

    def _pod_state(self, pod, state, opts):
        return self.ops.mutate(self._rt(POD_KEY), pod["metadata"]["namespace"],
                               pod["metadata"]["name"],
                               lambda p: set_pod_status(p, state, opts)).obj

    def job_action(self, ns, name, action, opts):
        rt = self._rt(JOB_KEY)
        with self.store.lock:
            job = self.ops.get(rt, ns, name).obj
            conds = (job.get("status") or {}).get("conditions") or []
            if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                   for c in conds):
                raise apierrors.conflict("batch", "jobs", name,
                                         "the job has already finished")
            if action == "start":
                waiting = opts.get("waiting")
                pod = self._ensure_pod(job)
                if waiting:
                    self._pod_state(pod, "waiting", waiting if isinstance(waiting, dict) else {})
                else:
                    self._pod_state(pod, "running", opts)
                ready = 0 if waiting else 1
                return self.ops.mutate(rt, ns, name, lambda j: self._status(
                    j, active=1, ready=ready)).obj
            if action == "succeed":
                pod = self._ensure_pod(job)
                self._pod_state(pod, "succeeded", opts)
                return self.ops.mutate(rt, ns, name, lambda j: self._finish(
                    j, True, "CompletionsReached", opts)).obj
            if action == "fail":
                reason = opts.get("reason", "BackoffLimitExceeded")
                pod = self._ensure_pod(job)
                if reason == "DeadlineExceeded" and not opts.get("keepPod"):
                    # The job controller deletes the active pods at the deadline.
                    self.ops.delete(self._rt(POD_KEY), ns, pod["metadata"]["name"],
                                    {"propagationPolicy": "Background"})
                else:
                    self._pod_state(pod, "failed", opts)
                if reason == "PodFailurePolicy" and "message" not in opts:
                    cname = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")
                    opts = dict(opts, message=(
                        f"Container {cname} for pod {ns}/{pod['metadata']['name']} failed with "
                        f"exit code {int(opts.get('exitCode', 1))} matching FailJob rule at "
                        f"index 0"))
                return self.ops.mutate(rt, ns, name, lambda j: self._finish(
                    j, False, reason, opts)).obj
        raise apierrors.bad_request(f"unknown job action {action!r}")

    @staticmethod
    def _status(job, **counts):
        st = job.setdefault("status", {})
        st.setdefault("startTime", kinds.now())
        st.update(counts)
        st.setdefault("terminating", 0)
        st.setdefault("uncountedTerminatedPods", {})

    @staticmethod
    def _finish(job, success, reason, opts):
        ts = kinds.now()
        st = job.setdefault("status", {})
        st.setdefault("startTime", ts)
        st["active"] = 0
        st["ready"] = 0
        st["uncountedTerminatedPods"] = {}
        key = "succeeded" if success else "failed"
        conds = [c for c in st.get("conditions") or []]
        interim, final = ("SuccessCriteriaMet", "Complete") if success else \
            ("FailureTarget", "Failed")
        message = opts.get("message", JOB_MESSAGES.get(reason, reason))
        if not any(c.get("type") == interim for c in conds):
            st[key] = int(st.get(key) or 0) + 1
            conds.append(_condition(interim, reason, message, ts))
        terminal = opts.get("terminal", True)
        if terminal:
            st["terminating"] = 0
            conds.append(_condition(final, reason, message, ts))
            if success:
                st["completionTime"] = ts
        else:
            st["terminating"] = 0 if success else 1
        st["conditions"] = conds

    def pod_action(self, ns, name, action, opts):
        states = {"run": "running", "wait": "waiting", "succeed": "succeeded", "fail": "failed"}
        if action not in states:
            raise apierrors.bad_request(f"unknown pod action {action!r}")
        rt = self._rt(POD_KEY)
        with self.store.lock:
            pod = self.ops.get(rt, ns, name).obj
            return self._pod_state(pod, states[action], opts)

    def bind_pvc(self, ns, name, opts):
        rt = self._rt(PVC_KEY)

        def bind(pvc):
            spec = pvc.setdefault("spec", {})
            spec.setdefault("volumeName", "pvc-" + pvc["metadata"]["uid"])
            requests = (spec.get("resources") or {}).get("requests") or {}
            pvc["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes", []),
                             "capacity": {"storage": opts.get("capacity",
                                                              requests.get("storage", "1Gi"))}}
        with self.store.lock:
            self.ops.get(rt, ns, name)
            return self.ops.mutate(rt, ns, name, bind).obj
