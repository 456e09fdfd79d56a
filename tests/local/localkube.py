"""The local Kubernetes API (local/, laptop mode) for the tests: starts
tests/local/kubeapi_main on a data directory, reads the lines it prints
("kube URL", "kube-tls URL", "kubeconfig FILE", "token FILE"), and hands out clients from kubesim's test
harness (tests/kubesim/tests/harness.py), so the same requests can go to
both servers.

    with LocalKube(tmpdir) as lk:
        c = lk.client()                       # admin token
        c.post("/api/v1/namespaces", {"metadata": {"name": "demo"}})

Environment (set by CMake): KUBEAPI_MAIN, KUBESIM, CRD_DIR, RBAC_DIR."""
import os
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kubesim", "tests"))

import harness  # noqa: E402

KUBEAPI_MAIN = os.environ["KUBEAPI_MAIN"]
CRD_DIR = os.environ["CRD_DIR"]
RBAC_DIR = os.environ["RBAC_DIR"]
harness.KUBESIM = os.environ["KUBESIM"]
harness.CRD_DIR = CRD_DIR
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
START_TIMEOUT = 30


def rss_kib(pid):
    """VmRSS of a process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class StartFailed(Exception):
    def __init__(self, code, stderr):
        super().__init__(f"kubeapi_main exited {code}: {stderr}")
        self.code, self.stderr = code, stderr


class LocalKube:
    """kubeapi_main on data_dir; extra: more command-line options."""

    def __init__(self, data_dir, *extra, crds=True, rbac=True):
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.stderr_path = os.path.join(data_dir, "..", os.path.basename(data_dir) + ".stderr")
        cmd = [KUBEAPI_MAIN, "--data-dir", data_dir]
        if crds:
            cmd += ["--crd-dir", CRD_DIR]
        if rbac:
            cmd += ["--rbac-dir", RBAC_DIR]
        cmd += list(extra)
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err)
        lines = self._read_lines(4)
        if len(lines) < 4:
            code = self.proc.wait(timeout=START_TIMEOUT)
            self.proc.stdout.close()
            self._err.close()
            raise StartFailed(code, self.stderr())
        said = dict(line.split(" ", 1) for line in lines)
        self.url = said["kube"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.tls_url = said["kube-tls"]
        self.kubeconfig = said["kubeconfig"]
        self.token_file = said["token"]
        with open(self.token_file) as f:
            self.token = f.read().strip()

    def _read_lines(self, want):
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        fd = self.proc.stdout.fileno()
        while buf.count(b"\n") < want and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        return buf.decode().splitlines()

    def stderr(self):
        if not self._err.closed:
            self._err.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def client(self, token=None):
        return harness.Client(self.port, self.token if token is None else token)

    def watch(self, path, token=None, timeout=harness.WAIT):
        return harness.Watch(self.port, path, token=self.token if token is None else token,
                             timeout=timeout)

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=START_TIMEOUT)
        self.proc.stdout.close()
        self._err.close()

    def stop(self):
        """SIGTERM; the exit status. Raises when the sanitizers spoke."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._err.closed:
            self._err.close()
        self.proc.stdout.close()
        err = self.stderr()
        for mark in SANITIZER_MARKS:
            if mark in err:
                raise AssertionError(f"kubeapi_main's sanitizers reported:\n{err}")
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
