"""Starting the project's test servers from Python tests.

Every test server here (kubesim, mock_anthropic, githttp) binds a free
loopback port and prints "listening on http://127.0.0.1:PORT" on stdout once
it serves; SIGTERM makes it exit 0. ServerProcess starts one and reads that
line with a bounded wait; the subclasses add each server's control API.

    import sys; sys.path.insert(0, "<tests>/common")
    from servers import MockAnthropic, GitHttp

    with MockAnthropic(scenario="write") as mock, GitHttp(tokens=["t0k"]) as gh:
        gh.create_repo("org/repo.git", branch="trunk", protect={"trunk": "use a PR"})
        env = claude_env(mock.url, tmpdir)   # from claudecli.py
        ...
        mock.requests()          # what the CLI sent
        gh.requests()            # what git sent (paths, auth scheme, status)

Debian's /usr/bin/python3, standard library only.
"""

import http.client
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

COMMON = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(COMMON)
PYTHON = "/usr/bin/python3"
MOCK_ANTHROPIC = os.path.join(TESTS, "mock-anthropic", "mock_anthropic.py")
GITHTTP = os.path.join(TESTS, "githttp", "githttp.py")
GITHTTP_DIR = os.path.dirname(GITHTTP)
START_TIMEOUT = 30  # seconds; generous: sanitizer builds load the machine


class ServerProcess:
    """A server process that announces "listening on URL" lines on stdout.

    cmd is started with stdout piped (and stderr inherited, or appended to
    log_path); the constructor returns once `want` such lines were read, or
    stops the process and raises RuntimeError after start_timeout seconds or
    when it exits first. Attributes: proc, lines, urls, url (the first
    http:// one), port. stop() is safe to call more than once; the object is
    also a context manager."""

    name = "server"

    def __init__(self, cmd, want=1, start_timeout=START_TIMEOUT, env=None, cwd=None,
                 log_path=None):
        self.cmd = list(cmd)
        self._log = open(log_path, "ab") if log_path else None
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     env=env, cwd=cwd)
        try:
            self.lines = self._read_lines(want, start_timeout)
        except BaseException:
            self.stop()
            raise
        self.urls = []
        for line in self.lines:
            if not line.startswith("listening on "):
                self.stop()
                raise RuntimeError("%s printed %r instead of 'listening on URL'"
                                   % (self.name, line))
            self.urls.append(line[len("listening on "):])
        plain = [u for u in self.urls if u.startswith("http://")]
        self.url = plain[0] if plain else self.urls[0]
        self.port = urllib.parse.urlsplit(self.url).port

    def _read_lines(self, want, timeout):
        deadline = time.monotonic() + timeout
        lines, buf = [], b""
        fd = self.proc.stdout.fileno()
        while len(lines) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("%s did not start within %gs: %r"
                                   % (self.name, timeout, lines))
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not r:
                if self.proc.poll() is not None:
                    raise RuntimeError("%s exited with %s before listening: %r"
                                       % (self.name, self.proc.returncode, lines))
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait(5)
                raise RuntimeError("%s exited with %s before listening: %r"
                                   % (self.name, self.proc.returncode, lines))
            buf += chunk
            while b"\n" in buf and len(lines) < want:
                line, buf = buf.split(b"\n", 1)
                lines.append(line.decode(errors="replace").rstrip("\r"))
        return lines

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if self._log and not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- JSON over HTTP to the server's control endpoints ----
    def call(self, method, path, body=None, timeout=30):
        """(status, parsed JSON or raw bytes) for one request on a fresh connection."""
        return http_json("127.0.0.1", self.port, method, path, body, timeout=timeout)

    def call_ok(self, method, path, body=None):
        status, obj = self.call(method, path, body)
        if status != 200:
            raise RuntimeError("%s %s %s -> %d %r" % (self.name, method, path, status, obj))
        return obj


class MockAnthropic(ServerProcess):
    """tests/mock-anthropic/mock_anthropic.py (see its README.md).

    MockAnthropic(scenario="write", file="NOTES.md", content="...", api_key=None,
                  extra_args=("--delay", "1"))
    Keyword options become flags (--scenario, --file, --content, --text,
    --status, --error-type, --message, --at, --duration, --chunks, --delay,
    --api-key)."""

    name = "mock_anthropic"

    def __init__(self, extra_args=(), start_timeout=START_TIMEOUT, log_path=None, **options):
        cmd = [PYTHON, MOCK_ANTHROPIC, "--port", "0"]
        for k, v in options.items():
            if v is not None:
                cmd += ["--" + k.replace("_", "-"), str(v)]
        super().__init__(cmd + list(extra_args), start_timeout=start_timeout,
                         log_path=log_path)

    def health(self):
        return self.call_ok("GET", "/mock/health")

    def requests(self, body=False):
        """The /v1/messages requests received so far, oldest first."""
        return self.call_ok("GET", "/mock/requests" + ("?body=1" if body else ""))["requests"]

    def request_count(self):
        return self.call_ok("GET", "/mock/requests")["count"]

    def clear_requests(self):
        return self.call_ok("DELETE", "/mock/requests")["cleared"]

    def scenario(self):
        return self.call_ok("GET", "/mock/scenario")

    def set_scenario(self, scenario=None, reset=False, **options):
        """Changes the defaults for later requests; returns them all."""
        body = dict(options)
        if scenario is not None:
            body["scenario"] = scenario
        if reset:
            body["reset"] = True
        return self.call_ok("POST", "/mock/scenario", body)


class GitHttp(ServerProcess):
    """tests/githttp/githttp.py serving the bare repositories under root.

    GitHttp(root=None, tokens=("githttp-token",), anonymous_read=False)
    root=None makes a temporary directory that stop() removes. With no tokens
    there is no authentication at all."""

    name = "githttp"

    def __init__(self, root=None, tokens=("githttp-token",), anonymous_read=False,
                 realm="githttp", extra_args=(), start_timeout=START_TIMEOUT, log_path=None):
        self._own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="githttp-")
        self.tokens = list(tokens)
        cmd = [PYTHON, GITHTTP, "--root", self.root, "--port", "0", "--realm", realm]
        for t in self.tokens:
            cmd += ["--token", t]
        if anonymous_read:
            cmd.append("--anonymous-read")
        try:
            super().__init__(cmd + list(extra_args), start_timeout=start_timeout,
                             log_path=log_path)
        except BaseException:
            self._remove_root()
            raise

    def _remove_root(self):
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def stop(self, timeout=10):
        rc = super().stop(timeout)
        self._remove_root()
        return rc

    @staticmethod
    def _gitrepos():
        if GITHTTP_DIR not in sys.path:
            sys.path.insert(0, GITHTTP_DIR)
        import gitrepos  # noqa: E402  (tests/githttp/gitrepos.py)
        return gitrepos

    def create_repo(self, name, branch="trunk", files=None, protect=None,
                    deny_non_fast_forward=False, extra_branches=()):
        """A bare repository at root/name (e.g. "org/repo.git") whose default
        branch is `branch`, with one commit of `files` ({path: text}; default
        a README.md). protect: {branch: message} (or a list of branches)
        refused by a pre-receive hook. Returns its directory."""
        g = self._gitrepos()
        path = g.create(self.root, name, branch=branch, files=files,
                        extra_branches=extra_branches)
        if isinstance(protect, dict):
            for b, msg in protect.items():
                g.protect(path, b, msg)
        else:
            for b in protect or ():
                g.protect(path, b)
        if deny_non_fast_forward:
            g.deny_non_fast_forward(path)
        return path

    def repo_dir(self, name):
        return os.path.join(self.root, name)

    def repo_url(self, name):
        """The clone URL of root/name (a name without .git finds name.git too)."""
        return "%s/%s" % (self.url, name.lstrip("/"))

    def branches(self, name):
        return self._gitrepos().branches(self.repo_dir(name))

    def head_branch(self, name):
        return self._gitrepos().head_branch(self.repo_dir(name))

    def read_file(self, name, rev, path):
        return self._gitrepos().read_file(self.repo_dir(name), rev, path)

    def requests(self):
        """Requests received so far: method, path (as sent: a token in the URL
        would show here), auth ("basic", "bearer", "none"), user, authorized,
        service, status, chunked, body_bytes, ..."""
        return self.call_ok("GET", "/_githttp/requests")["requests"]

    def clear_requests(self):
        return self.call_ok("DELETE", "/_githttp/requests")["cleared"]

    def credential_env(self, token=None, username="x-access-token", base=None):
        """Environment that gives git a credential helper for this server only
        (GIT_CONFIG_COUNT/KEY/VALUE: no file, no token on a command line or
        in a URL), answering username and `token` (default: the first)."""
        token = self.tokens[0] if token is None else token
        return git_credential_env(base or self.url, username, token)


def http_json(host, port, method, path, body=None, headers=None, timeout=30):
    """(status, parsed JSON or raw bytes) for one request on a fresh
    connection; a body that is not bytes is sent as JSON."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = dict(headers or {})
    data = body
    if body is not None and not isinstance(body, bytes):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
    finally:
        conn.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def git_credential_env(url, username, password):
    """GIT_CONFIG_COUNT/KEY_0/VALUE_0 configuring credential.<url>.helper to
    answer username and password (git asks it after a 401)."""
    helper = "!f() { test \"$1\" = get || exit 0; echo %s; echo %s; }; f" % (
        shlex.quote("username=" + username), shlex.quote("password=" + password))
    return {"GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "credential.%s.helper" % url,
            "GIT_CONFIG_VALUE_0": helper}
