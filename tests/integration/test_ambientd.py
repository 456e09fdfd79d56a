#!/usr/bin/python3
"""ambientd as users run it: --version, --check-config on good and bad
configs (exit 0 / exit 2 with one line naming file:line or plugin and
reason), running until SIGTERM/SIGINT with fini in reverse order, SIGHUP
re-reading the log level, and the sample config shipped in deploy/."""
import os
import re
import signal
import unittest

from daemon import Daemon, run, write_config

PLUGINS = os.environ["AMB_TEST_PLUGIN_DIR"]
# The host's plugin ABI, from ambientd itself: "ambientd X.Y.Z (plugin ABI M.N)".
ABI_MAJOR, ABI_MINOR = map(int, re.search(r"ABI (\d+)\.(\d+)", run("--version")[1]).groups())
ABI = "%d.%d" % (ABI_MAJOR, ABI_MINOR)
SAMPLE_CONF = os.environ["AMB_SAMPLE_CONF"]


def config(body):
    return write_config('plugin_dir = "%s";\n%s' % (PLUGINS, body))


class Version(unittest.TestCase):
    def test_version_names_release_and_abi(self):
        code, out, _ = run("--version")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^ambientd \d+\.\d+\.\d+ \(plugin ABI \d+\.\d+\)\n$")

    def test_bad_usage_exits_2(self):
        for args in ([], ["--bogus"], ["--config"], ["--config", "a", "--check-config", "b"]):
            code, _, err = run(*args)
            self.assertEqual(code, 2, args)
            self.assertIn("usage:", err)


class CheckConfig(unittest.TestCase):
    def test_good_config_prints_one_line_per_plugin(self):
        path = config('plugins = ("sample", "sample2", "v1_0");\nsample = { greeting = "hi"; };\n')
        code, out, err = run("--check-config", path)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        self.assertRegex(lines[0], r"^sample 1\.2\.3 \(ABI " + re.escape(ABI) + r"\) \S+/sample\.so: "
                                   r"kinds: Widget \(widgets\.test\.ambient-code/v1\); "
                                   r"forges: sampleforge; routes: GET /api/sample/:id$")
        self.assertTrue(lines[1].startswith("sample2 1.2.3 (ABI %s) " % ABI))
        self.assertIn("kinds: Relic (relics.old.ambient-code/v1)", lines[2])
        # --check-config stays quiet on stderr unless something is wrong.
        self.assertEqual(err, "")

    def test_sample_config_is_valid(self):
        code, out, err = run("--check-config", SAMPLE_CONF)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertEqual([l.split()[0] for l in lines],
                         ["projectsettings", "agenticsession", "rfeworkflow", "api"], out)
        self.assertIn("kinds: ProjectSettings (projectsettings.vteam.ambient-code/v1alpha1)", lines[0])
        self.assertIn("kinds: AgenticSession (agenticsessions.vteam.ambient-code/v1alpha1)", lines[1])
        self.assertIn("kinds: RFEWorkflow (rfeworkflows.vteam.ambient-code/v1alpha1)", lines[2])
        self.assertIn("routes: POST /api/projects/:project/rfe-workflows/:name/stop", lines[2])

    def assert_fails(self, body, *wants):
        path = config(body)
        code, out, err = run("--check-config", path)
        self.assertEqual(code, 2, (out, err))
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("ambientd: "), err)
        for want in wants:
            self.assertIn(want.replace("FILE", path), lines[0])
        return lines[0]

    def test_syntax_error_names_file_and_line(self):
        self.assert_fails('plugins = ();\nlog = {\n level = ;\n};\n', "FILE:4: syntax error")

    def test_unknown_keys(self):
        self.assert_fails('plugins = ("sample");\nsample = { greting = "x"; };\n',
                          "FILE:3: sample.greting: unknown key")
        self.assert_fails('plugins = ();\nsamples = { };\n', "FILE:3: samples: unknown top-level key")

    def test_plugin_problems_name_the_plugin_and_reason(self):
        cases = {
            '"nosuch"': "nosuch.so: No such file or directory",
            '"not-elf"': "is not a loadable shared object",
            '"no-entry"': "does not export amb_plugin_entry()",
            '"major-new"': "built for plugin ABI %d.0, but this ambientd provides ABI %s"
                           % (ABI_MAJOR + 1, ABI),
            '"major-old"': "built for plugin ABI 0.7, but this ambientd provides ABI " + ABI,
            '"minor-new"': "built for plugin ABI %d.%d, newer than this ambientd's ABI %s"
                           % (ABI_MAJOR, ABI_MINOR + 1, ABI),
            '"sample", "sample"': 'plugin name "sample" is already taken',
            '"init-fail"': "init failed: token_file: cannot read /nonexistent/token",
            '"empty-kind"': 'kind name "" is empty',
            '"dup-kind"': "already registered by plugin \"dup-kind\"",
        }
        for plugins, want in cases.items():
            with self.subTest(plugins=plugins):
                line = self.assert_fails("plugins = (%s);\n" % plugins, want)
                self.assertRegex(line, r'^ambientd: \S+:2: plugin "[^"]+": ')

    def test_kube_and_controller_groups_are_checked(self):
        self.assert_fails('kube = { server = "http://127.0.0.1:1"; };\ncontroller = { workers = 0; };\n',
                          "FILE:3: controller.workers: expected an integer from 1 to 256")
        self.assert_fails('kube = { server = "http://127.0.0.1:1"; };\ncontroller = { lisen = "x"; };\n',
                          "FILE:3: controller.lisen: unknown key")
        self.assert_fails('kube = { server = "http://127.0.0.1:1"; };\ncontroller = { listen = "nope"; };\n',
                          'FILE:3: controller.listen: "nope" is not host:port')
        self.assert_fails('kube = { server = "http://127.0.0.1:1"; };\n'
                          'controller = { lease = { duration = 5; renew_deadline = 6; }; };\n',
                          "FILE:3: controller.lease: duration (5 s) must be longer than renew_deadline (6 s)")
        self.assert_fails('kube = { server = "http://k8s.example:80"; };\ncontroller = { };\n',
                          "kube.server: must be https")
        self.assert_fails('kube = { server = "https://k8s.example"; tokn_file = "x"; };\n',
                          "FILE:2: kube.tokn_file: unknown key")

    def test_missing_config_file(self):
        code, _, err = run("--check-config", "/nonexistent/ambient.conf")
        self.assertEqual(code, 2)
        self.assertIn("/nonexistent/ambient.conf: cannot read config", err)


class Running(unittest.TestCase):
    def start(self, body):
        d = Daemon(config(body))
        self.addCleanup(lambda: d.proc.poll() is None and d.stop(signal.SIGKILL))
        d.wait_for(lambda r: r.get("msg") == "ambientd running")
        return d

    def order(self, records, msg):
        return [r["component"] for r in records if r.get("msg") == msg]

    def check_clean_shutdown(self, sig):
        d = self.start('plugins = ("sample", "sample2", "v1_0");\n')
        self.assertEqual(d.stop(sig), 0, "\n".join(d.lines))
        recs = d.records()
        self.assertEqual(self.order(recs, "start"), ["sample", "sample2"])
        self.assertEqual(self.order(recs, "stop"), ["sample2", "sample"])
        self.assertEqual(self.order(recs, "fini"), ["sample2", "sample"])
        self.assertEqual(recs[-1]["msg"], "ambientd stopped")
        # Sanitizer builds print leak reports to stderr and exit non-zero.
        self.assertFalse([l for l in d.lines if "LeakSanitizer" in l or "ERROR: AddressSanitizer" in l])

    def test_sigterm_stops_plugins_in_reverse_order_and_exits_0(self):
        self.check_clean_shutdown(signal.SIGTERM)

    def test_sigint_too(self):
        self.check_clean_shutdown(signal.SIGINT)

    def test_sighup_rereads_the_log_level(self):
        path = config('plugins = ("sample");\nlog = { level = "info"; };\n')
        d = Daemon(path)
        self.addCleanup(lambda: d.proc.poll() is None and d.stop(signal.SIGKILL))
        d.wait_for(lambda r: r.get("msg") == "ambientd running")
        with open(path, "w") as f:
            f.write('plugin_dir = "%s";\nplugins = ("sample");\nlog = { level = "debug"; };\n' % PLUGINS)
        d.send(signal.SIGHUP)
        d.wait_for(lambda r: r.get("msg") == "log settings reloaded" and r.get("log_level") == "debug")
        self.assertEqual(d.stop(), 0)
        # Debug lines appear only after the reload.
        self.assertTrue(any(r["level"] == "debug" and r["msg"] == "plugin unloaded" for r in d.records()))

    def test_bad_config_exits_2_without_starting(self):
        path = config('plugins = ("init-fail");\n')
        code, _, err = run("--config", path)
        self.assertEqual(code, 2)
        self.assertIn("init failed", err)

    def test_text_log_format(self):
        d = Daemon(config('plugins = ();\nlog = { format = "text"; };\n'))
        self.addCleanup(lambda: d.proc.poll() is None and d.stop(signal.SIGKILL))
        line = d.wait_for_line(lambda l: "ambientd running" in l)
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info  core: "
                               r"ambientd running version=\S+ plugins=0 config=\S+$")
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
