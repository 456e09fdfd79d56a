"""A kubelet for ambient-runner Jobs, for tests: it reads each Job the
agenticsession plugin writes into kubesim and does what the job controller
and the kubelet would with it, on this machine:

  - resolves the container's env (values, and secretKeyRefs read from the
    project's Secret; a missing required key is CreateContainerConfigError),
  - mints the session ServiceAccount's token (TokenRequest) into the
    projected token volume, maps every volume to a directory under workdir
    and rewrites the env values that point into a mount,
  - marks the Job's pod Running (kubesim's job controls), starts
    ambient-runner with exactly that environment, and marks the Job
    Complete or Failed from its exit status,
  - enforces activeDeadlineSeconds, and on the Job's deletion sends SIGTERM
    with the pod's grace period, as the kubelet does.

So the runner runs from the Job spec the plugin wrote, unchanged; the test
adds only what a pod has and a process here lacks: the API server's
address (AMBIENT_KUBE_SERVER, in place of KUBERNETES_SERVICE_HOST), PATH and
the CLI. Debian's /usr/bin/python3, standard library only."""
import base64
import os
import signal
import subprocess
import threading
import time

GRACE_SECONDS = 30  # a pod's default terminationGracePeriodSeconds
POLL_SECONDS = 0.1


class Run:
    """One runner process for one Job."""

    def __init__(self, ns, job, root):
        self.ns, self.job, self.root = ns, job, root
        self.proc = None
        self.rc = None
        self.started = None   # time.monotonic() when the process started
        self.ended = None
        self.env = {}
        self.log_path = os.path.join(root, "runner.log")
        self.stdout_path = os.path.join(root, "runner.out")
        self.mounts = {}      # mountPath -> host directory
        self.deleted = False  # the Job went away while it ran
        self.started_wall = None  # time.time() at start, to compare with event times
        self.deadline_hit = False

    @property
    def workspace(self):
        return self.mounts.get("/workspace")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stdout(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout=180):
        deadline = time.monotonic() + timeout
        while self.rc is None:
            if time.monotonic() > deadline:
                raise AssertionError("runner for %s/%s still running after %ss:\n%s"
                                     % (self.ns, self.job, timeout, self.log()[-4000:]))
            time.sleep(0.05)
        return self.rc


class JobRunner:
    def __init__(self, client_factory, kube_url, runner, workdir, env=None, api_url=None,
                 grace=GRACE_SECONDS):
        self.kube = client_factory()
        self.kube_url = kube_url
        self.runner = runner
        self.workdir = workdir
        self.extra_env = dict(env or {})
        self.api_url = api_url
        self.grace = grace
        self.runs = {}  # (ns, job name, uid) -> Run
        self.session_env = {}  # (ns, session) -> env for that session's runner only
        self.problems = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    # ---- for tests ----
    def run_for(self, ns, session, timeout=60):
        """The Run of the session's (latest) Job, waiting until it started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [r for (n, j, _), r in self.runs.items()
                         if n == ns and j == session + "-runner" and r.started]
            if found:
                return found[-1]
            if self.problems:
                raise AssertionError("podsim: %s" % self.problems)
            time.sleep(0.05)
        raise AssertionError("no runner started for %s/%s within %ss" % (ns, session, timeout))

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        with self._lock:
            runs = list(self.runs.values())
        for r in runs:
            if r.proc and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGKILL)
                r.proc.wait()
        self.kube.close()

    # ---- the loop ----
    def _loop(self):
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception as e:  # noqa: BLE001 - reported to the test
                self.problems.append(repr(e))
            self._stop.wait(POLL_SECONDS)

    def _poll(self):
        r = self.kube.get("/apis/batch/v1/jobs?labelSelector=ambient-code.io%2Fsession")
        if r.status != 200:
            return
        seen = set()
        for job in r.body.get("items", []):
            md = job["metadata"]
            key = (md["namespace"], md["name"], md["uid"])
            seen.add(key)
            conds = {c["type"] for c in job.get("status", {}).get("conditions", [])}
            if key not in self.runs and not conds & {"Complete", "Failed"}:
                self._launch(key, job)
        with self._lock:
            runs = list(self.runs.items())
        for key, run in runs:
            if key not in seen and run.proc and run.rc is None and not run.deleted:
                run.deleted = True  # the kubelet stops a deleted Job's pod
                threading.Thread(target=self._terminate, args=(run,), daemon=True).start()

    def _terminate(self, run):
        """SIGTERM, then SIGKILL after the grace period; _watch reaps."""
        if run.proc.returncode is None:
            run.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + self.grace
        while run.ended is None and time.monotonic() < end:
            time.sleep(0.05)
        if run.ended is None and run.proc.returncode is None:
            run.proc.kill()

    @staticmethod
    def _reap(run, timeout):
        """Waits for the runner (at most timeout seconds; None: no bound).
        True once it exited."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                pid, status = os.waitpid(run.proc.pid, os.WNOHANG)
            except ChildProcessError:  # stop() reaped it meanwhile (Popen.wait)
                return True
            if pid:
                run.proc.returncode = os.waitstatus_to_exitcode(status)
                return True
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(0.01)

    def _secret_value(self, ns, ref):
        r = self.kube.get("/api/v1/namespaces/%s/secrets/%s" % (ns, ref["name"]))
        data = (r.body or {}).get("data") or {} if r.status == 200 else {}
        if ref["key"] in data:
            return base64.b64decode(data[ref["key"]]).decode()
        if ref.get("optional"):
            return None
        raise KeyError('couldn\'t find key %s in Secret %s/%s' % (ref["key"], ns, ref["name"]))

    def _launch(self, key, job):
        ns, name, uid = key
        root = os.path.join(self.workdir, ns, name + "-" + uid[:8])
        os.makedirs(root, exist_ok=True)
        run = Run(ns, name, root)
        with self._lock:
            self.runs[key] = run
        spec = job["spec"]["template"]["spec"]
        container = spec["containers"][0]
        ctl = "/kubesim/jobs/%s/%s/start" % (ns, name)
        env = {}
        try:
            for e in container.get("env", []):
                if "value" in e:
                    env[e["name"]] = e["value"]
                else:
                    v = self._secret_value(ns, e["valueFrom"]["secretKeyRef"])
                    if v is not None:
                        env[e["name"]] = v
        except KeyError as e:
            self.kube.post(ctl, {"waiting": {"reason": "CreateContainerConfigError",
                                             "message": str(e)}})
            run.rc = -1
            return
        # Volumes: a directory each; the projected token volume gets a fresh
        # token of the pod's ServiceAccount, as the kubelet mints it.
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for m in container.get("volumeMounts", []):
            host = os.path.join(root, m["name"])
            os.makedirs(host, exist_ok=True)
            run.mounts[m["mountPath"]] = host
            for src in volumes.get(m["name"], {}).get("projected", {}).get("sources", []):
                if "serviceAccountToken" in src:
                    sat = src["serviceAccountToken"]
                    body = {"spec": {"expirationSeconds": sat.get("expirationSeconds", 3600)}}
                    if sat.get("audience"):
                        body["spec"]["audiences"] = [sat["audience"]]
                    tr = self.kube.post("/api/v1/namespaces/%s/serviceaccounts/%s/token"
                                        % (ns, spec["serviceAccountName"]), body)
                    if tr.status != 201:
                        raise RuntimeError("TokenRequest failed: %r" % (tr,))
                    with open(os.path.join(host, sat["path"]), "w") as f:
                        f.write(tr.body["status"]["token"])
        for k, v in list(env.items()):
            for mount, host in run.mounts.items():
                if v == mount or v.startswith(mount + "/"):
                    env[k] = host + v[len(mount):]
        env["PATH"] = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["AMBIENT_KUBE_SERVER"] = self.kube_url
        if self.api_url:
            env["AMBIENT_API_URL"] = self.api_url
        env.update(self.extra_env)
        env.update(self.session_env.get((ns, name[:-len("-runner")]), {}))
        run.env = env
        self.kube.post(ctl, {})
        out = open(run.stdout_path, "wb")
        err = open(run.log_path, "wb")
        run.proc = subprocess.Popen([self.runner], env=env, stdout=out, stderr=err,
                                    cwd=root)
        out.close()
        err.close()
        run.started = time.monotonic()
        run.started_wall = time.time()
        deadline = job["spec"].get("activeDeadlineSeconds")
        threading.Thread(target=self._watch, args=(run, deadline), daemon=True).start()

    def _watch(self, run, deadline):
        kube = type(self.kube)(self.kube.port, self.kube.token)
        try:
            if not self._reap(run, deadline):
                run.deadline_hit = True  # the job controller's activeDeadlineSeconds
                threading.Thread(target=self._terminate, args=(run,), daemon=True).start()
                self._reap(run, None)
            run.ended = time.monotonic()
            rc = run.proc.returncode
            if run.deleted:
                pass
            elif run.deadline_hit:
                kube.post("/kubesim/jobs/%s/%s/fail" % (run.ns, run.job),
                          {"reason": "DeadlineExceeded"})
            elif rc == 0:
                kube.post("/kubesim/jobs/%s/%s/succeed" % (run.ns, run.job), {})
            else:
                kube.post("/kubesim/jobs/%s/%s/fail" % (run.ns, run.job),
                          {"reason": "BackoffLimitExceeded",
                           "exitCode": rc if rc > 0 else 128 - rc})
            run.rc = rc
        finally:
            kube.close()
