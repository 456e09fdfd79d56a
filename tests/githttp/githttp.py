#!/usr/bin/python3
"""githttp: git's smart HTTP protocol on loopback, with a token check.

Serves the bare repositories under --root through git's own CGI program,
`git http-backend`, the way a forge does: a request must carry a configured
token as the password of HTTP basic auth (any user name) or as
`Authorization: Bearer TOKEN`, or it gets a 401 with a WWW-Authenticate
challenge so git asks its credential helpers. Request bodies may be chunked
(git sends pushes over 1 MiB that way) and are streamed to the CGI, and its
answer is streamed back. Binds 127.0.0.1, prints
"listening on http://127.0.0.1:P" once ready, exits 0 on SIGTERM/SIGINT.
Standard library only; see README.md.
"""

import argparse
import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
from httpserve import Server, serve  # noqa: E402

CONTROL = "/_githttp/"
# What follows the repository in a smart or dumb HTTP URL.
GIT_SUFFIX = re.compile(r"/(info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.*|"
                        r"info/packs|info/alternates|info/http-alternates)$")
BUF = 65536


def git_program():
    return shutil.which("git") or "/usr/bin/git"


class State:
    def __init__(self, root, tokens, realm, anonymous_read):
        self.root = os.path.realpath(root)
        self.tokens = set(tokens)
        self.realm = realm
        self.anonymous_read = anonymous_read
        self.lock = threading.Lock()
        self.requests = []
        self.seq = 0

    def log(self, entry):
        with self.lock:
            self.seq += 1
            entry["n"] = self.seq
            self.requests.append(entry)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "githttp/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("githttp: %s\n" % (fmt % args))

    # ---- authentication ----
    def credentials(self):
        """(scheme, user, authorized) for this request's Authorization header."""
        st = self.server.state
        h = self.headers.get("Authorization") or ""
        scheme, _, value = h.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, sep, password = base64.b64decode(value.strip(), validate=True) \
                    .decode("utf-8", "replace").partition(":")
            except ValueError:
                return "basic", None, False
            return "basic", user, bool(sep) and password in st.tokens
        if scheme == "bearer":
            return "bearer", None, value.strip() in st.tokens
        return ("none" if not h else scheme), None, False

    def needs_auth(self, service):
        st = self.server.state
        if not st.tokens:
            return False
        if st.anonymous_read and service != "receive-pack":
            return False
        return True

    def service_of(self, url):
        if url.path.endswith("/git-receive-pack") or \
                "service=git-receive-pack" in url.query:
            return "receive-pack"
        if url.path.endswith("/git-upload-pack") or "service=git-upload-pack" in url.query:
            return "upload-pack"
        return "dumb"

    def handle_expect_100(self):
        """Refuses an unauthenticated body before it is sent."""
        url = urllib.parse.urlsplit(self.path)
        if not url.path.startswith(CONTROL):
            scheme, user, ok = self.credentials()
            if self.needs_auth(self.service_of(url)) and not ok:
                self.entry = self.new_entry(url, scheme, user, False)
                self.challenge()
                self.close_connection = True
                return False
        return super().handle_expect_100()

    def challenge(self):
        body = b"Authentication required\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate",
                         'Basic realm="%s"' % self.server.state.realm.replace('"', ""))
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.entry["status"] = 401
        self.server.state.log(self.entry)

    def new_entry(self, url, scheme, user, authorized):
        return {"time": time.time(), "method": self.command, "path": self.path,
                "url_path": url.path, "query": url.query, "service": self.service_of(url),
                "auth": scheme, "user": user, "authorized": authorized,
                "git_protocol": self.headers.get("Git-Protocol"),
                "user_agent": self.headers.get("User-Agent"),
                "content_length": self.headers.get("Content-Length"),
                "chunked": "chunked" in (self.headers.get("Transfer-Encoding") or "").lower(),
                "content_encoding": self.headers.get("Content-Encoding")}

    # ---- control endpoints ----
    def control(self, url):
        st = self.server.state
        if url.path == CONTROL + "health" and self.command == "GET":
            return self.send_json(200, {"ok": True, "root": st.root})
        if url.path == CONTROL + "requests":
            with st.lock:
                if self.command == "DELETE":
                    n = len(st.requests)
                    st.requests.clear()
                    return self.send_json(200, {"cleared": n})
                if self.command == "GET":
                    reqs = [dict(r) for r in st.requests]
                    return self.send_json(200, {"count": len(reqs), "requests": reqs})
        if url.path == CONTROL + "tokens" and self.command == "POST":
            # another test server (a forge double) minting tokens git must accept
            n = int(self.headers.get("Content-Length") or 0)
            token = json.loads(self.rfile.read(min(n, 4096)) or b"{}").get("token")
            if not isinstance(token, str) or not token:
                return self.send_json(400, {"error": "body must be {\"token\": \"...\"}"})
            with st.lock:
                st.tokens.add(token)
            return self.send_json(200, {"tokens": len(st.tokens)})
        self.discard_body()
        return self.send_json(404, {"error": "no control route %s %s" % (self.command, url.path)})

    def send_json(self, status, obj):
        data = json.dumps(obj, indent=1).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def discard_body(self):
        """Reads a small unwanted body, or closes the connection after the answer."""
        n = self.headers.get("Content-Length")
        if n is not None and int(n) <= 1 << 20:
            self.rfile.read(int(n))
        elif n is not None or self.headers.get("Transfer-Encoding"):
            self.close_connection = True

    # ---- request bodies ----
    def body_chunks(self, entry):
        """The request body as it arrives: Content-Length or chunked."""
        if entry["chunked"]:
            while True:
                line = self.rfile.readline(BUF)
                if not line:
                    raise ConnectionError("body ended inside a chunk header")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    for _ in range(100):  # trailers, up to the empty line
                        t = self.rfile.readline(BUF)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, BUF))
                    if not data:
                        raise ConnectionError("body ended inside a chunk")
                    left -= len(data)
                    entry["body_bytes"] += len(data)
                    yield data
                self.rfile.readline(BUF)  # the CRLF after each chunk
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(left, BUF))
                if not data:
                    raise ConnectionError("body shorter than Content-Length")
                left -= len(data)
                entry["body_bytes"] += len(data)
                yield data

    # ---- the git routes ----
    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def do_DELETE(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith(CONTROL):
            return self.control(url)
        self.discard_body()
        self.send_json(405, {"error": "method not allowed"})

    def route(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith(CONTROL):
            return self.control(url)
        scheme, user, ok = self.credentials()
        entry = self.entry = self.new_entry(url, scheme, user, ok)
        entry["body_bytes"] = 0
        if self.needs_auth(entry["service"]) and not ok:
            self.discard_body()
            return self.challenge()
        path_info = url.path
        m = GIT_SUFFIX.search(path_info)
        if m:  # /org/repo/info/refs also finds root/org/repo.git, as forges do
            repo = path_info[:m.start()]
            if not os.path.isdir(st.root + repo) and os.path.isdir(st.root + repo + ".git"):
                path_info = repo + ".git" + path_info[m.start():]
        entry["repo_path"] = path_info[:m.start()] if m else None
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "GIT_PROJECT_ROOT": st.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path_info,
            "QUERY_STRING": url.query,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": (user or scheme) if ok else "anonymous",
            "CONTENT_TYPE": self.headers.get("Content-Type") or "",
        }
        if not entry["chunked"] and self.headers.get("Content-Length") is not None:
            env["CONTENT_LENGTH"] = self.headers["Content-Length"]
        # Without CONTENT_LENGTH http-backend reads the body to EOF: chunked bodies.
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        self.run_cgi(env, entry)

    def run_cgi(self, env, entry):
        proc = subprocess.Popen([git_program(), "http-backend"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        errors = []
        body_error = []

        def feed():
            try:
                for data in self.body_chunks(entry):
                    try:
                        proc.stdin.write(data)
                    except BrokenPipeError:
                        body_error.append("http-backend stopped reading")
                        for _ in self.body_chunks(entry):  # drain what is left
                            pass
                        break
            except (OSError, ValueError, ConnectionError) as exc:
                body_error.append(str(exc))
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        def drain_stderr():
            errors.append(proc.stderr.read().decode("utf-8", "replace"))

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        err_thread = threading.Thread(target=drain_stderr, daemon=True)
        err_thread.start()
        try:
            status, headers = 200, []
            while True:
                line = proc.stdout.readline(BUF)
                if not line or line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
                value = value.strip()
                if name.lower() == "status":
                    status = int(value.split()[0])
                else:
                    headers.append((name, value))
            entry["status"] = status
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            out = 0
            while True:
                data = proc.stdout.read1(BUF)
                if not data:
                    break
                out += len(data)
                if self.command != "HEAD":
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            if self.command != "HEAD":
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            entry["response_bytes"] = out
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            feeder.join(60)
            if feeder.is_alive():
                self.close_connection = True
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            err_thread.join(10)
            proc.stdout.close()
            entry["exit_code"] = proc.returncode
            entry["backend_stderr"] = "".join(errors)
            if body_error:
                entry["body_error"] = body_error[0]
                self.close_connection = True
            self.server.state.log(entry)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="githttp", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True,
                   help="directory of bare repositories, served at /<path under root>")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument("--token", action="append", default=[],
                   help="a token that grants access, as basic-auth password or Bearer "
                        "(repeatable; none: no authentication at all)")
    p.add_argument("--realm", default="githttp", help="the basic-auth realm in challenges")
    p.add_argument("--anonymous-read", action="store_true",
                   help="let clones and fetches through without a token; pushes still need one")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    if not os.path.isdir(a.root):
        sys.exit("githttp: --root %s is not a directory" % a.root)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a.root, a.token, a.realm, a.anonymous_read)
    srv.verbose = a.verbose
    return serve(srv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
