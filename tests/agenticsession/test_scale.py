#!/usr/bin/python3
"""200 sessions across 20 namespaces, created at once: each gets exactly one
Job (no duplicates, whatever the interleaving of watch events and
reconciles) and reaches Pending. Prints the figures of
tests/bench/session_bench.py for this size."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "controller"))

import session_bench  # noqa: E402
from ctlharness import Ambient, ControllerTest, main  # noqa: E402


class Scale(ControllerTest):
    kubesim_args = ("--crd-dir", os.environ["AS_CRD_DIR"])

    def test_200_sessions_in_20_namespaces_get_one_job_each(self):
        amb = Ambient(self.kube, self.tmp, plugins=session_bench.PLUGINS,
                      extra=session_bench.CONF, wait_synced=False)
        self._ambients.append(amb)
        amb.wait_msg("cache synced", resource="agenticsessions")
        f = session_bench.measure(self.kube, amb, 200, 20)
        print("200 sessions: Jobs after %.2f s, %.2f API calls per session (minimum %d)"
              % (f["jobs_s"], f["calls_per_session"], session_bench.MIN_CALLS), file=sys.stderr)
        self.assertFalse(amb.has_msg("concurrent reconcile of one key"))
        amb.stop_clean(self)


if __name__ == "__main__":
    main()
