"""What `ambientd --local` refuses, with exit status 2 and a message naming
what is wrong, changing nothing: a data directory another ambientd holds,
a corrupt store, a foreign directory, a non-loopback address without TLS,
settings only laptop mode may make. And what it makes: a 0700 directory,
a 0600 admin token whose path it prints."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from localharness import AMBIENTD, Laptop  # noqa: E402


def local(data, *args, conf=None, tmp=None):
    cmd = [AMBIENTD, "--local", "--data-dir", data, "--listen", "127.0.0.1:0", *args]
    if conf is not None:
        path = os.path.join(tmp, "extra.conf")
        with open(path, "w") as f:
            f.write(conf)
        cmd += ["--config", path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


class RefusalTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="laptop-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")

    def test_makes_a_private_directory_and_token(self):
        lp = Laptop(self.data)
        self.addCleanup(lp.stop)
        self.assertEqual(lp.token_file, os.path.join(os.path.realpath(self.data), "admin-token"))
        self.assertEqual(stat.S_IMODE(os.stat(self.data).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(lp.token_file).st_mode), 0o600)
        self.assertTrue(lp.api.startswith("http://127.0.0.1:"), lp.api)
        self.assertTrue(lp.live.startswith("http://127.0.0.1:"), lp.live)
        self.assertTrue(lp.kube_url.startswith("http://127.0.0.1:"), lp.kube_url)
        self.assertEqual(lp.ok(lp.kube("GET", "/api/v1/namespaces/default"), 200)["kind"],
                         "Namespace")
        self.assertEqual(lp.stop(), 0, lp.log()[-3000:])
        # the same token next time
        with open(lp.token_file) as f:
            token = f.read()
        lp = Laptop(self.data)
        self.addCleanup(lp.stop)
        self.assertEqual(lp.token + "\n", token if token.endswith("\n") else token + "\n")

    def test_second_ambientd_on_the_same_directory_refuses(self):
        lp = Laptop(self.data)
        self.addCleanup(lp.stop)
        code, out, err = local(self.data)
        self.assertEqual(code, 2, err)
        self.assertIn("in use by another ambientd (pid %d)" % lp.proc.pid, err)
        self.assertIn(os.path.realpath(self.data), err)
        self.assertEqual(out, "")
        # the first one still serves
        self.assertEqual(lp.kube("GET", "/api/v1/namespaces")[0], 200)

    def test_corrupt_store_exits_2_naming_it_and_keeps_it(self):
        lp = Laptop(self.data)
        lp.ok(lp.kube("POST", "/api/v1/namespaces", {"metadata": {"name": "kept"}}), 201)
        self.assertEqual(lp.stop(), 0)
        store = os.path.join(os.path.realpath(self.data), "store.db")
        self.assertTrue(os.path.exists(store), os.listdir(self.data))
        garbage = b"this is not a SQLite database\n" * 200
        with open(store, "wb") as f:
            f.write(garbage)
        code, out, err = local(self.data)
        self.assertEqual(code, 2, err)
        self.assertIn(store, err)
        with open(store, "rb") as f:
            self.assertEqual(f.read(), garbage, "the store was reset")

    def test_foreign_directory_exits_2_untouched(self):
        os.makedirs(self.data)
        with open(os.path.join(self.data, "thesis.tex"), "w") as f:
            f.write("mine\n")
        code, _, err = local(self.data)
        self.assertEqual(code, 2, err)
        self.assertIn(os.path.realpath(self.data), err)
        self.assertIn("not an Ambient data directory", err)
        self.assertEqual(os.listdir(self.data), ["thesis.tex"])

    def test_non_loopback_needs_tls(self):
        code, _, err = local(self.data, "--listen", "0.0.0.0:0")
        self.assertEqual(code, 2, err)
        self.assertIn("0.0.0.0 is not a loopback address", err)
        self.assertIn("api.tls", err)

    def test_settings_laptop_mode_owns_are_refused_with_file_and_line(self):
        code, _, err = local(self.data, conf='kube = { server = "https://k:6443"; };\n',
                             tmp=self.tmp)
        self.assertEqual(code, 2, err)
        self.assertIn("extra.conf:1: kube", err)
        code, _, err = local(self.data, conf='\nlocal = { max_session = 4; };\n', tmp=self.tmp)
        self.assertEqual(code, 2, err)
        self.assertIn("extra.conf:2: local.max_session: unknown key", err)
        code, _, err = local(self.data, conf='local = { max_sessions = 100000; };\n',
                             tmp=self.tmp)
        self.assertEqual(code, 2, err)
        self.assertIn("local.max_sessions", err)

    def test_usage(self):
        for args in (["--data-dir", self.data], ["--listen", "127.0.0.1:0"],
                     ["--local", "--check-config", "x.conf"]):
            p = subprocess.run([AMBIENTD, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("--local [--data-dir DIR]", p.stderr)


if __name__ == "__main__":
    unittest.main()
