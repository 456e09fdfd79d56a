"""Laptop mode survives `kill -9`: every acknowledged write is there after a
restart on the same data directory, and a session whose ambientd died
under it ends — Completed, or Failed with a reason — never stuck Running.
Sessions run the fake CLI (tests/runner/fake_claude.py) for speed."""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from localharness import FAKE_CLAUDE, Laptop, kill_runners, uniq  # noqa: E402

CONF = 'local = { runner_env = [ "AMBIENT_CLAUDE=%s" ]; };\n' % FAKE_CLAUDE
SESSIONS = "/apis/vteam.ambient-code/v1alpha1/namespaces/%s/agenticsessions"


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="laptop-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")
        self.addCleanup(kill_runners, self.data)

    def snapshot(self, lp, ns):
        """uid and content of what the test made, by kind and name."""
        out = {}
        for path in ("/api/v1/namespaces/%s/configmaps" % ns, "/api/v1/namespaces/%s/secrets" % ns,
                     SESSIONS % ns):
            for o in lp.ok(lp.kube("GET", path), 200)["items"]:
                md = o["metadata"]
                out[(o["kind"], md["name"])] = (md["uid"], o.get("data"), o.get("spec"))
        ns_obj = lp.ok(lp.kube("GET", "/api/v1/namespaces/%s" % ns), 200)
        out[("Namespace", ns)] = (ns_obj["metadata"]["uid"], None, None)
        return out

    def test_kill_9_loses_nothing_and_no_session_stays_running(self):
        lp = Laptop(self.data, CONF)
        self.addCleanup(lp.stop)
        ns = lp.project({"ANTHROPIC_API_KEY": "sk-ant-test"})
        done = uniq("done")
        lp.create_session(ns, done, {"prompt": "quick [fake:many 3]"})
        self.assertEqual(lp.wait_phase(ns, done)["status"]["phase"], "Completed",
                         lp.runner_log(ns, done))
        hung = uniq("hung")
        lp.create_session(ns, hung, {"prompt": "work forever [fake:hang]"})
        lp.wait_phase(ns, hung, ("Running",))
        # Writes acknowledged just before the crash.
        for i in range(50):
            lp.ok(lp.kube("POST", "/api/v1/namespaces/%s/configmaps" % ns,
                          {"metadata": {"name": "cm-%d" % i}, "data": {"i": str(i)}}), 201)
        before = self.snapshot(lp, ns)
        lp.kill9()

        lp = Laptop(self.data, CONF)
        self.addCleanup(lp.stop)
        after = self.snapshot(lp, ns)
        missing = sorted(k for k in before if k not in after)
        self.assertEqual(missing, [])
        for key, value in before.items():
            self.assertEqual(after[key], value, key)
        self.assertEqual(lp.session(ns, done)["status"]["phase"], "Completed")
        st = lp.wait_phase(ns, hung, timeout=90)["status"]
        if st["phase"] == "Failed":
            conds = {c["type"]: c for c in st.get("conditions", [])}
            self.assertTrue(conds["Succeeded"].get("reason"), st)
            self.assertTrue(st.get("error"), st)
        else:
            self.assertEqual(st["phase"], "Completed", st)
        # and the restarted one runs sessions as before
        again = uniq("again")
        lp.create_session(ns, again, {"prompt": "quick [fake:many 3]"})
        self.assertEqual(lp.wait_phase(ns, again)["status"]["phase"], "Completed",
                         lp.runner_log(ns, again))
        self.assertEqual(lp.stop(), 0, lp.log()[-3000:])


if __name__ == "__main__":
    unittest.main()
