"""The web UI in a real browser (api/web/tests/browser/run.mjs: Debian's
chromium driven by playwright-core) against a real ambientd: a cluster's
api with kubesim and users of different rights (tests/api/apiharness.py),
then laptop mode (`ambientd --local`, tests/local/localharness.py) whose
sessions run the real runner with a stand-in agent CLI, there also an RFE
workflow of the default council, created and followed in the UI. Screenshots of each
page at 1280 and 390 px go to $WEB_SCREENSHOTS.

Environment (set by CMake): those of the api and local suites, plus NODE,
CHROMIUM, WEB_ROOT (the built UI), WEB_RUNNER (run.mjs), WEB_SCREENSHOTS.
Debian's /usr/bin/python3."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "local"))

from apiharness import ADMIN, ALICE, BOB, Cluster, uniq  # noqa: E402
from localharness import FAKE_CLAUDE, Laptop, kill_runners  # noqa: E402

NODE_TIMEOUT = 240  # seconds one browser run may take


def free_port():
    """A port free now, for an origin the config must name before the
    listener exists (api.allowed_origins)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_browser(cfg):
    cfg = dict(cfg, chromium=os.environ["CHROMIUM"], screenshots=os.environ["WEB_SCREENSHOTS"])
    env = dict(os.environ, WEB_TEST=json.dumps(cfg))
    p = subprocess.run([os.environ["NODE"], os.environ["WEB_RUNNER"]], env=env,
                       cwd=os.path.dirname(os.environ["WEB_RUNNER"]), capture_output=True,
                       text=True, timeout=NODE_TIMEOUT)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    return p.returncode


class UiCluster(Cluster):
    """The harness's cluster with REST on a port chosen up front, so the
    UI's origin can be allowed on the live service (its Origin check)."""

    def __init__(self, port, **kw):
        self.port = port
        super().__init__(**kw)

    def config_text(self, *args):
        return super().config_text(*args).replace(
            'api = { listen = "127.0.0.1:0"', 'api = { listen = "127.0.0.1:%d"' % self.port, 1)


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(os.environ["WEB_SCREENSHOTS"], ignore_errors=True)  # this run's only

    def test_cluster(self):
        port = free_port()
        conf = ('web_root = "%s"; allowed_origins = [ "http://127.0.0.1:%d" ];'
                % (os.environ["WEB_ROOT"], port))
        c = UiCluster(port, api_conf=conf)
        self.addCleanup(c.close)
        other = c.make_project(prefix="other", admins=("carol",), viewers=())
        rc = run_browser({
            "mode": "cluster", "url": "http://%s" % c.rest_address,
            "live": "http://%s" % c.live_address, "kube": c.ks.url, "admin": ADMIN,
            "alice": ALICE, "bob": BOB, "project": uniq("web"), "otherProject": other,
        })
        self.assertEqual(rc, 0, "the browser run failed (its output is above)")

    def test_laptop(self):
        tmp = tempfile.mkdtemp(prefix="laptop-web-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, "data")
        self.addCleanup(kill_runners, data)
        lp = Laptop(data, 'local = { runner_env = [ "AMBIENT_CLAUDE=%s" ]; };\n' % FAKE_CLAUDE)
        self.addCleanup(lp.stop)
        with open(lp.token_file) as f:
            token = f.read().strip()
        rc = run_browser({"mode": "laptop", "url": lp.api, "admin": token,
                          "project": uniq("laptop")})
        self.assertEqual(rc, 0, "the browser run failed (its output is above)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
