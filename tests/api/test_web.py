"""The web UI's files served by api.so (api/web_static.c, web_files.c) in a
real ambientd against kubesim, from a web root made here: content types,
immutable caching of /assets/, index.html for the app's routes, JSON 404s
kept under /api/, the Content-Security-Policy and its live origin,
GET /api/ui/config, and that nothing outside the root (traversal, a
symbolic link out, a dotfile) is ever served. Run with /usr/bin/python3."""
import os
import shutil
import socket
import tempfile
import unittest

from apiharness import ApiTest, Cluster

INDEX = b'<!doctype html><script type="module" src="/assets/index-abc12345.js"></script>'
SCRIPT = b"console.log('ui')"
SECRET = b"outside the web root"


def make_root():
    root = tempfile.mkdtemp(prefix="webroot-")
    os.makedirs(os.path.join(root, "assets"))
    files = {"index.html": INDEX, "assets/index-abc12345.js": SCRIPT,
             "assets/index-abc12345.css": b"body{}", "favicon.svg": b"<svg/>",
             ".env": b"SECRET=1"}
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    outside = os.path.join(os.path.dirname(root), os.path.basename(root) + "-secret.txt")
    with open(outside, "wb") as f:
        f.write(SECRET)
    os.symlink(outside, os.path.join(root, "assets", "link.txt"))
    os.symlink("/etc", os.path.join(root, "etc"))
    return root, outside


def raw_get(address, target, host=None):
    """GET with the target sent byte for byte (no client normalising)."""
    h, port = address.rsplit(":", 1)
    with socket.create_connection((h, int(port)), timeout=10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
                  (target.encode(), (host or address).encode()))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


class Web(ApiTest):
    @classmethod
    def setUpClass(cls):
        cls.root, cls.outside = make_root()
        cls.cluster = Cluster(api_conf=f'web_root = "{cls.root}";')

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        shutil.rmtree(cls.root, ignore_errors=True)
        os.unlink(cls.outside)

    def test_index_and_client_routes(self):
        c = self.cluster
        for path in ("/", "/index.html", "/projects", "/projects/p1/sessions/s-1", "/sign-in"):
            r = c.rest("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.raw, INDEX, path)
            self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8", path)
            self.assertEqual(r.headers["cache-control"], "no-cache", path)
            self.assertEqual(r.headers["x-content-type-options"], "nosniff", path)
        r = c.rest("HEAD", "/projects")
        self.assertEqual((r.status, r.raw), (200, b""))

    def test_hashed_assets_are_immutable(self):
        c = self.cluster
        r = c.rest("GET", "/assets/index-abc12345.js")
        self.assertEqual((r.status, r.raw), (200, SCRIPT))
        self.assertEqual(r.headers["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(r.headers["cache-control"], "public, max-age=31536000, immutable")
        r = c.rest("GET", "/assets/index-abc12345.css")
        self.assertEqual(r.headers["content-type"], "text/css; charset=utf-8")
        r = c.rest("GET", "/favicon.svg")
        self.assertEqual((r.headers["content-type"], r.headers["cache-control"]),
                         ("image/svg+xml", "no-cache"))
        # A missing hashed asset is a 404, never index.html served as script.
        r = c.rest("GET", "/assets/index-00000000.js")
        self.assertEqual(r.status, 404)
        self.assertNotIn(b"<!doctype", r.raw)

    def test_api_paths_stay_json(self):
        c = self.cluster
        for path in ("/api/nothing", "/api", "/api/projects/x/nothing/y/z/w"):
            r = c.rest("GET", path)
            self.assertError(r, 404)
        self.assertEqual(c.rest("GET", "/healthz").raw.strip(), b"ok")
        self.assertEqual(c.rest("POST", "/projects").status, 404)

    def test_content_security_policy(self):
        c = self.cluster
        csp = c.rest("GET", "/").headers["content-security-policy"]
        parts = {p.split()[0]: p.split()[1:] for p in csp.split("; ")}
        self.assertEqual(parts["default-src"], ["'none'"])
        self.assertEqual(parts["script-src"], ["'self'"])
        self.assertEqual(parts["style-src"], ["'self'"])
        self.assertEqual(parts["frame-ancestors"], ["'none'"])
        self.assertNotIn("'unsafe-inline'", csp)
        # This ambientd runs the live service: the host asked for, live port.
        live_port = c.live_address.rsplit(":", 1)[1]
        self.assertEqual(parts["connect-src"], ["'self'", f"http://127.0.0.1:{live_port}",
                                                f"ws://127.0.0.1:{live_port}"])
        cfg = c.rest("GET", "/api/ui/config").body
        self.assertEqual(cfg["liveUrl"], f"http://127.0.0.1:{live_port}")
        self.assertEqual(cfg["kinds"], ["projectsettings", "agentic-sessions"])
        # The browser's host name is kept; a Host that is not a name is not.
        reply = raw_get(c.rest_address, "/api/ui/config", host="localhost:1")
        self.assertIn(b'"liveUrl":"http://localhost:%s"' % live_port.encode(), reply)
        reply = raw_get(c.rest_address, "/", host="evil\"x")
        csp_line = [l for l in reply.split(b"\r\n") if l.lower().startswith(b"content-security")]
        self.assertEqual(len(csp_line), 1, reply[:600])
        self.assertIn(b"connect-src 'self';", csp_line[0])

    def test_nothing_outside_the_root(self):
        c = self.cluster
        for target in ("/assets/link.txt", "/etc/passwd", "/.env", "/assets/../../etc/passwd",
                       "/%2e%2e/%2e%2e/etc/passwd", "/assets/%2e%2e%2f%2e%2e%2fsecret",
                       "/..%2f..%2fetc%2fpasswd", "//etc/passwd", "/assets/./link.txt",
                       "/" + os.path.basename(self.outside)):
            reply = raw_get(c.rest_address, target)
            self.assertNotIn(SECRET, reply, target)
            self.assertNotIn(b"root:", reply, target)
            self.assertNotIn(b"SECRET=1", reply, target)
            status = int(reply.split(b" ", 2)[1])
            # Refused (400), missing (404), or the app's index.html (200).
            self.assertIn(status, (200, 400, 404), target)
            if status == 200:
                self.assertTrue(reply.endswith(INDEX), target)


class WebConfig(unittest.TestCase):
    def test_live_url_and_missing_root(self):
        root, outside = make_root()
        try:
            c = Cluster(api_conf=f'web_root = "{root}"; web_live_url = "https://live.example";')
            try:
                csp = c.rest("GET", "/").headers["content-security-policy"]
                self.assertIn("connect-src 'self' https://live.example wss://live.example;", csp)
                self.assertEqual(c.rest("GET", "/api/ui/config").body["liveUrl"],
                                 "https://live.example")
            finally:
                c.close()
            # A root the config names must be there: the start fails naming it.
            with self.assertRaises(Exception) as ctx:
                Cluster(api_conf='web_root = "/nonexistent/web";')
            self.assertIn("api.web_root", str(ctx.exception))
        finally:
            shutil.rmtree(root, ignore_errors=True)
            os.unlink(outside)


if __name__ == "__main__":
    unittest.main(verbosity=2)
