"""Running the real Claude Code CLI (`claude`) against the mock Anthropic API.

    from servers import MockAnthropic
    from claudecli import claude_cli, claude_env, claude_args, Claude, run_claude

    with MockAnthropic() as mock:
        env = claude_env(mock.url, tmp)                 # throwaway HOME, loopback only
        run = run_claude("fix it", cwd=repo, env=env)   # waits; bounded
        run.rc, run.events, run.result, run.wall, run.maxrss_kib

        c = Claude(claude_args(stream_input=True), cwd=repo, env=env, stdin=True)
        c.send_user("first"); c.wait_event(lambda e: e["type"] == "result")
        c.close_stdin(); c.wait()

The CLI is found as $CLAUDE_CLI (CMake passes the one find_program found),
else `claude` on PATH. claude_env never lets it reach the internet:
ANTHROPIC_BASE_URL is the mock, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1,
HOME and CLAUDE_CONFIG_DIR are fresh, retries are off.
Debian's /usr/bin/python3, standard library only.
"""

import json
import os
import queue
import shutil
import subprocess
import threading
import time

CLI_VERSION = "2.1.197"  # the version deploy/dev/install-deps.sh installs
# Parent variables the CLI may see; everything else (credentials, CLAUDECODE,
# proxies, ANTHROPIC_*) is left out.
PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


def claude_cli():
    """Path of the claude CLI, or None."""
    cli = os.environ.get("CLAUDE_CLI")
    if cli and not cli.endswith("-NOTFOUND"):
        return cli if os.path.exists(cli) else None
    return shutil.which("claude")


def claude_env(base_url, tmp, api_key="test", max_retries=0, extra=None):
    """Environment for a CLI talking only to base_url, with a throwaway home
    under tmp (created). IS_SANDBOX=1 lets bypassPermissions run as root."""
    home = os.path.join(tmp, "claude-home")
    os.makedirs(os.path.join(home, ".claude"), exist_ok=True)
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({
        "HOME": home,
        "CLAUDE_CONFIG_DIR": os.path.join(home, ".claude"),
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": str(max_retries),
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "IS_SANDBOX": "1",
    })
    env.update(extra or {})
    return env


def claude_args(prompt=None, stream_input=False, model=None,
                permission_mode="bypassPermissions", extra=()):
    """The argument list the runner uses: -p, stream-json out, verbose."""
    args = ["-p"]
    if prompt is not None:
        args.append(prompt)
    args += ["--output-format", "stream-json", "--verbose"]
    if stream_input:
        args += ["--input-format", "stream-json"]
    if model:
        args += ["--model", model]
    if permission_mode:
        args += ["--permission-mode", permission_mode]
    return args + list(extra)


def user_line(text):
    """One stream-json input line carrying a user message."""
    return json.dumps({"type": "user", "message": {"role": "user", "content": text}})


class Claude:
    """A running CLI; stdout is parsed line by line into events (dicts; a
    line that is not JSON becomes {"type": "unparsed", "line": ...}).

    stdin=True gives a pipe for send_user(); otherwise stdin is /dev/null
    (a regular file on stdin is read as more prompt in text mode, and makes
    --input-format stream-json print nothing at all)."""

    def __init__(self, args, cwd, env, stdin=False, cli=None):
        self.cli = cli or claude_cli()
        if not self.cli:
            raise RuntimeError("claude CLI not found: run deploy/dev/install-deps.sh "
                               "(or set CLAUDE_CLI)")
        self.events = []
        self.stderr = ""
        self._q = queue.Queue()
        self.start = time.monotonic()
        self.end = None
        self.rc = None
        self.maxrss_kib = None
        self.proc = subprocess.Popen([self.cli, *args], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def _read_out(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            try:
                ev = json.loads(line)
                if not isinstance(ev, dict):
                    raise ValueError
            except ValueError:
                ev = {"type": "unparsed", "line": line}
            self._q.put(ev)
        self._q.put(None)

    def _read_err(self):
        self.stderr = self.proc.stderr.read().decode("utf-8", "replace")

    def send_user(self, text):
        self.proc.stdin.write((user_line(text) + "\n").encode())
        self.proc.stdin.flush()

    def close_stdin(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def next_event(self, timeout):
        """The next stdout event, or None at EOF or after timeout seconds."""
        try:
            ev = self._q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if ev is None:
            self._q.put(None)  # EOF stays visible
            return None
        self.events.append(ev)
        return ev

    def wait_event(self, pred, timeout=60):
        """Reads events until pred(event) holds; returns it, or raises
        AssertionError after timeout seconds or at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ev = self.next_event(left) if left > 0 else None
            if ev is None:
                raise AssertionError("no matching event within %gs; got %s; stderr: %s"
                                     % (timeout, [e.get("type") for e in self.events],
                                        self.stderr[-2000:]))
            if pred(ev):
                return ev

    def wait(self, timeout=120):
        """Waits for exit (killing the CLI after timeout seconds), reads the
        remaining events; returns the exit code. Sets wall (s) and
        maxrss_kib (the CLI process's peak RSS)."""
        self.close_stdin()
        deadline = time.monotonic() + timeout
        status = ru = None
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                pid, status, ru = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.01)
        self.end = time.monotonic()
        self.rc = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.rc
        self.maxrss_kib = ru.ru_maxrss
        self._out.join(10)
        self._err.join(10)
        for f in (self.proc.stdout, self.proc.stderr):
            if not self._out.is_alive() and not self._err.is_alive():
                f.close()
        while self.next_event(0) is not None:
            pass
        return self.rc

    def kill(self):
        if self.rc is None:
            self.proc.kill()
            self.wait(10)

    @property
    def wall(self):
        return (self.end or time.monotonic()) - self.start

    def of_type(self, type_, subtype=None):
        return [e for e in self.events if e.get("type") == type_ and
                (subtype is None or e.get("subtype") == subtype)]

    @property
    def init(self):
        found = self.of_type("system", "init")
        return found[0] if found else None

    @property
    def results(self):
        return self.of_type("result")

    @property
    def result(self):
        """The last result event, or None."""
        r = self.results
        return r[-1] if r else None

    def content_blocks(self, role="assistant"):
        """Content blocks of the assistant (or user) message events, in order."""
        out = []
        for e in self.of_type(role):
            content = (e.get("message") or {}).get("content")
            if isinstance(content, list):
                out += [b for b in content if isinstance(b, dict)]
        return out

    def tool_uses(self):
        return [b for b in self.content_blocks() if b.get("type") == "tool_use"]

    def texts(self):
        return [b.get("text", "") for b in self.content_blocks() if b.get("type") == "text"]


def run_claude(prompt, cwd, env, timeout=120, **kw):
    """Runs `claude -p PROMPT --output-format stream-json --verbose ...` to
    the end (kw: claude_args options); returns the finished Claude."""
    c = Claude(claude_args(prompt, **kw), cwd=cwd, env=env)
    c.wait(timeout)
    return c
