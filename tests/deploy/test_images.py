"""The images of deploy/container, built here without a container engine:
deploy/container/build-staging.sh (the script each Containerfile's build
stage runs) stages an image's files into a directory and checks their
libraries against the runtime stage's packages; then the staged programs
run as the image's user on a read-only view of the machine, with only a
scratch HOME/TMPDIR writable, as the Job or Deployment runs them.

  test_images.py RunnerImage     the ambient-runner image (deploy.image_runner)
  test_images.py AmbientdImage   the ambientd image (deploy.image_ambientd)

The sandbox (a private mount namespace with / and the staging tree
remounted read-only, then setpriv to the image's UID/GID) needs root; run
as another user, the programs run unsandboxed and the sandbox test skips.

Environment (set by CMake): STAGING_WORK (the CMake build and the CLI
tarball are kept there between runs), CLAUDE_CLI (the installed CLI: its
native binary is copied instead of fetched when it is the pinned version).
Debian's /usr/bin/python3 with python3-yaml."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import deployed  # noqa: E402
SCRIPT = os.path.join(ROOT, "deploy", "container", "build-staging.sh")
WORK = os.environ["STAGING_WORK"]
CLAUDE_CLI = os.environ.get("CLAUDE_CLI", "")
CONTAINER = os.path.join(ROOT, "deploy", "container")

SANDBOX = r'''
set -e
stage=$1 scratch=$2 uid=$3
shift 3
mount -o remount,bind,ro /
mount --bind "$stage" "$stage"
mount -o remount,bind,ro "$stage"
mount -t tmpfs -o mode=1777,size=16m tmpfs "$scratch"
for probe in /.ambient-probe "$stage/.ambient-probe"; do
    if touch "$probe" 2> /dev/null; then
        rm -f "$probe"
        echo "sandbox: $probe is writable" >&2
        exit 97
    fi
done
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all \
    --no-new-privs -- "$@"
'''


def sandbox_available():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        return False
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                       capture_output=True, timeout=10)
    return p.returncode == 0


SANDBOXED = sandbox_available()


def containerfile_pin():
    with open(os.path.join(CONTAINER, "Containerfile.runner")) as f:
        pins = re.findall(r"^ARG CLAUDE_CODE_VERSION=(\S+)$", f.read(), re.M)
    assert len(pins) == 1, pins
    return pins[0]


def runtime_stage(containerfile):
    """{instruction: [arguments, ...]} of the last stage of containerfile."""
    with open(os.path.join(CONTAINER, containerfile)) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stage = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)\s+(.*)$", line)
        if not m:
            continue
        word = m.group(1).upper()
        if word == "FROM":
            stage = {}
        stage.setdefault(word, []).append(m.group(2).strip())
    return stage


def image_uid(stage):
    """The numeric UID of the stage's USER UID:GID (GID equal)."""
    user = stage["USER"][-1]
    m = re.fullmatch(r"(\d+):(\d+)", user)
    assert m and m.group(1) == m.group(2), f"USER {user} is not UID:GID, both the same"
    return int(m.group(1))


def traversable_tmp():
    """The temporary directory if every directory above it lets others
    through, else /tmp."""
    d = os.path.realpath(tempfile.gettempdir())
    path = d
    while True:
        if not os.stat(path).st_mode & 0o001:
            return "/tmp"
        if path == "/":
            return d
        path = os.path.dirname(path)


class Staged(unittest.TestCase):
    IMAGE = None
    CONTAINERFILE = None

    @classmethod
    def setUpClass(cls):
        cls.runtime = runtime_stage(cls.CONTAINERFILE)
        cls.UID = image_uid(cls.runtime)
        cls.entrypoint = json.loads(cls.runtime["ENTRYPOINT"][-1])
        os.makedirs(WORK, exist_ok=True)
        # The staged tree goes where the image's user can walk into it: the
        # build tree may sit under a directory only root can enter (a clone
        # in a mktemp -d directory is one).
        cls.tmp = tempfile.mkdtemp(prefix="ambient-%s-stage-" % cls.IMAGE,
                                   dir=traversable_tmp())
        os.chmod(cls.tmp, 0o755)
        cls.stage = os.path.join(cls.tmp, "root")
        cls.scratch = os.path.join(cls.tmp, "scratch")
        os.mkdir(cls.scratch)
        env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="2")
        env.pop("CLAUDE_CODE_VERSION", None)  # the Containerfile's pin, not an override
        cmd = [SCRIPT, "--build-dir", os.path.join(WORK, "build"),
               "--cache", os.path.join(WORK, "cache")] + cls.script_options() + [
               cls.IMAGE, cls.stage]
        staging = subprocess.run(cmd, capture_output=True, text=True, timeout=840, env=env)
        if staging.returncode != 0:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError(f"build-staging.sh {cls.IMAGE} failed (exit "
                                 f"{staging.returncode}):\n{staging.stdout}{staging.stderr}")
        cls.staging = staging
        if not SANDBOXED:
            print(f"\nnote: not root or no mount namespace: the staged programs run as "
                  f"uid {os.geteuid()} without a read-only view", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def script_options(cls):
        return []

    def run_staged(self, argv, env=None, timeout=30):
        """argv as the image's user, environment env only, HOME and TMPDIR
        the scratch directory (the Job's emptyDirs)."""
        env = dict(env or {})
        env_argv = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()]
        if SANDBOXED:
            cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                   SANDBOX, "sandbox", self.stage, self.scratch, str(self.UID)] + env_argv + argv
        else:
            cmd = env_argv + argv
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        self.assertNotEqual(p.returncode, 97, p.stderr)  # the sandbox is not read-only
        return p

    def scratch_env(self):
        return {"HOME": self.scratch, "TMPDIR": self.scratch, "PATH": "/usr/bin:/bin"}

    def test_libraries_checked(self):
        self.assertRegex(self.staging.stdout,
                         r"the libraries of \d+ files are in packages \S*Containerfile\S* "
                         r"installs")

    def test_staged_tree_is_read_only_to_the_image_user(self):
        if not SANDBOXED:
            self.skipTest("needs root and a mount namespace")
        p = self.run_staged(["sh", "-c", 'id -u; id -g; touch "$1/x" && echo tmp-writable; '
                             'touch "$2/opt/x" || echo stage-read-only',
                             "sh", self.scratch, self.stage], self.scratch_env())
        self.assertEqual(p.stdout.split(), [str(self.UID), str(self.UID), "tmp-writable",
                                            "stage-read-only"], p.stderr)


class RunnerImage(Staged):
    IMAGE = "runner"
    CONTAINERFILE = "Containerfile.runner"

    @classmethod
    def script_options(cls):
        # The CLI install-deps.sh put under /usr/local: its package directory.
        if CLAUDE_CLI and os.path.exists(CLAUDE_CLI):
            pkg = os.path.dirname(os.path.dirname(os.path.realpath(CLAUDE_CLI)))
            if os.path.isfile(os.path.join(pkg, "package.json")):
                return ["--claude-from", pkg]
        return []

    def runner(self):
        """The staged ENTRYPOINT."""
        return self.stage + self.entrypoint[0]

    def test_image_runs_as_the_job_says(self):
        # The Job gives the container no command or arguments and runs it as
        # RUNNER_UID (plugins/agenticsession/job.c).
        self.assertEqual(self.entrypoint, ["/opt/ambient/bin/ambient-runner"])
        self.assertNotIn("CMD", self.runtime)
        with open(os.path.join(ROOT, "plugins", "agenticsession", "job.c")) as f:
            job_uid = re.search(r"^#define RUNNER_UID (\d+)$", f.read(), re.M).group(1)
        self.assertEqual(self.UID, int(job_uid))
        self.assertIn("HOME=/home/runner", " ".join(self.runtime.get("ENV", [])))

    def test_layout(self):
        self.assertTrue(os.access(self.runner(), os.X_OK))
        self.assertTrue(os.path.isdir(os.path.join(self.stage, "opt", "ambient", "lib",
                                                   "ambient", "plugins")))
        self.assertFalse(os.path.exists(os.path.join(self.stage, "opt", "ambient", "bin",
                                                     "ambientd")))

    def test_pin_is_the_tested_cli(self):
        # The runner tests run the CLI install-deps.sh installs; the image
        # must ship that one.
        with open(os.path.join(ROOT, "deploy", "dev", "install-deps.sh")) as f:
            tested = re.findall(r"^claude_version=(\S+)$", f.read(), re.M)
        self.assertEqual(tested, [containerfile_pin()],
                         "deploy/dev/install-deps.sh and deploy/container/Containerfile.runner "
                         "pin different Claude Code versions")

    def test_claude_is_the_pinned_version(self):
        claude = os.path.join(self.stage, "usr", "local", "bin", "claude")
        p = self.run_staged([claude, "--version"], self.scratch_env(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(containerfile_pin() + " "), p.stdout)

    def test_no_session_is_a_usage_error(self):
        # The entrypoint with no arguments and no environment.
        p = self.run_staged([self.runner()])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("ambient-runner: no session: "), lines[0])

    def test_reads_its_session_with_its_token(self):
        # The Job's settings, an API server on loopback that knows no
        # session: the runner reads its token, asks for its session and
        # fails saying so.
        seen = []

        class Api(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, self.headers.get("Authorization")))
                body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                   "reason": "NotFound", "code": 404}).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write("session-token\n")
        os.chmod(token, 0o644)
        env = dict(self.scratch_env(), AGENTIC_SESSION_NAME="s1",
                   AGENTIC_SESSION_NAMESPACE="proj",
                   AMBIENT_KUBE_SERVER=f"http://127.0.0.1:{server.server_port}",
                   AMBIENT_TOKEN_FILE=token, WORKSPACE_PATH=self.scratch)
        p = self.run_staged([self.runner()], env)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("cannot read the session", p.stderr)
        self.assertIn(("/apis/vteam.ambient-code/v1alpha1/namespaces/proj/agenticsessions/s1",
                       "Bearer session-token"), seen)


class AmbientdImage(Staged):
    IMAGE = "ambientd"
    CONTAINERFILE = "Containerfile"

    def ambientd(self):
        """The staged ENTRYPOINT."""
        return self.stage + self.entrypoint[0]

    def test_version(self):
        p = self.run_staged([self.ambientd(), "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^ambientd \d+\.\d+\.\d+ \(plugin ABI \d+\.\d+\)$")

    def test_the_image_carries_everything_the_build_installs(self):
        # What `cmake --install` wrote (install_manifest.txt: the web UI's
        # share/ambient/web too, whenever the build made it) is in the
        # staged prefix, which the runtime stage copies whole.
        with open(os.path.join(WORK, "build", "install_manifest.txt")) as f:
            installed = [line.strip() for line in f if line.strip()]
        self.assertIn("/opt/ambient/bin/ambientd", installed)
        # The image's build stage has npm, so its build makes the UI; here
        # too when npm is installed (AMBIENT_WEB's default follows it).
        if shutil.which("npm"):
            self.assertIn("/opt/ambient/share/ambient/web/index.html", installed)
        copied = self.runtime["COPY"][-1].split()
        self.assertEqual(copied[-2:], ["/stage/opt/ambient", "/opt/ambient"])
        for path in installed:
            self.assertTrue(path.startswith("/opt/ambient/"), path)
            self.assertTrue(os.path.exists(self.stage + path), path)

    def test_shipped_configs_load_the_staged_plugins(self):
        # Each role's ambient.conf (deploy/base/config.yaml) with no
        # plugin_dir: the plugins come from the image's own
        # /opt/ambient/lib/ambient/plugins.
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write("t\n")
        os.chmod(token, 0o644)
        prefix = f'kube = {{ server = "https://127.0.0.1:6443"; token_file = "{token}"; }};\n'
        paths = deployed.write_configs(self.tmp, prefix)
        plugin_dir = os.path.join(self.stage, "opt", "ambient", "lib", "ambient", "plugins")
        for name, path in paths.items():
            # Readable by the image's user, whatever the umask.
            os.chmod(os.path.dirname(path), 0o755)
            for f in os.listdir(os.path.dirname(path)):
                os.chmod(os.path.join(os.path.dirname(path), f), 0o644)
            p = self.run_staged([self.ambientd(), "--check-config", path])
            self.assertEqual(p.returncode, 0, f"{name}: {p.stdout}{p.stderr}")
            with open(path) as f:
                wanted = re.search(r"plugins\s*=\s*\(([^)]*)\)", f.read()).group(1)
            for plugin in re.findall(r'"([^"]+)"', wanted):
                self.assertIn(f" {plugin_dir}/{plugin}.so: ", p.stdout, name)

if __name__ == "__main__":
    unittest.main()
