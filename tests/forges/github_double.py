#!/usr/bin/python3
"""github_double: GitHub's REST v3, the parts github.so calls, on loopback.

The repositories are the bare ones of a tests/githttp server (--git-root,
--git-url), so what git pushed there is what the API sees: a repository
answers GET /repos/{o}/{r} when its bare directory exists, forks are bare
copies, a pull request needs its head branch pushed and commits between
base and head. Speaks the documented shapes:

  GET  /repos/{o}/{r}                      200 (default_branch, clone_url) or 404
  POST /repos/{o}/{r}/forks                202; the new fork answers 404 for --fork-delay s
  POST /repos/{o}/{r}/pulls                201; 422 "A pull request already exists for
                                           user:branch." or "No commits between b and h"
  GET  /repos/{o}/{r}/pulls?head=&state=&per_page=&page=   Link rel="next"/"last"
  GET  /repos/{o}/{r}/installation         App JWT (RS256, checked with `openssl`)
  POST /app/installations/{id}/access_tokens  201 {"token", "expires_at"}

Tokens: --token values (personal tokens, user --user) and the installation
tokens it mints (given to githttp through POST /_githttp/tokens, so git
accepts them too), which stop working after --token-ttl seconds while
expires_at says --token-advertised-ttl: a refused (401) token before its
time, as GitHub does after a revocation. Rate limits are armed through the
control API. Binds 127.0.0.1, prints "listening on http://127.0.0.1:P",
exits 0 on SIGTERM. Standard library only (and the openssl command).

Control, under /_double/ and without authentication:
  GET  /_double/requests          {"requests": [{method, path, auth, status}]}
  POST /_double/ratelimit         {"count": N, "status": 403|429, "reset_in": S,
                                   "retry_after": S or null}: the next N API requests
  POST /_double/revoke            {"count": N}: the next N installation tokens used on
                                  the API are refused (401) from then on, as a revocation
  GET  /_double/pulls             every pull request made
  POST /_double/pulls             {"repo": "o/r", "head", "base", "title"}: one made as if by a user
"""

import argparse
import base64
import datetime
import hashlib
import http.server
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
from httpserve import Server, serve  # noqa: E402

NAME = r"[A-Za-z0-9._-]+"
REPO = re.compile(r"^/repos/(%s)/(%s)(/.*)?$" % (NAME, NAME))
TOKENS = re.compile(r"^/app/installations/([0-9]+)/access_tokens$")
MAX_BODY = 1 << 20


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def git(*args, cwd=None):
    r = subprocess.run(["git"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip()


class State:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.requests = []
        self.pulls = []             # dicts; "repo" is "o/r"
        self.fork_ready = {}        # "o/r" -> time it starts answering
        self.installation_tokens = {}  # token -> time it stops working
        self.rate_limit = None      # {"count", "status", "reset_in", "retry_after"}
        self.revoke_next = 0        # installation tokens refused at their next API use

    def repo_dir(self, owner, name):
        return os.path.join(self.a.git_root, owner, name + ".git")

    def exists(self, owner, name):
        full = "%s/%s" % (owner, name)
        ready = self.fork_ready.get(full)
        return os.path.isdir(self.repo_dir(owner, name)) and (ready is None or time.time() >= ready)

    def repo_json(self, owner, name):
        code, head = git("symbolic-ref", "--short", "HEAD", cwd=self.repo_dir(owner, name))
        base = self.a.git_url.rstrip("/")
        return {"id": int(hashlib.sha256(("%s/%s" % (owner, name)).encode()).hexdigest()[:8], 16),
                "name": name, "full_name": "%s/%s" % (owner, name), "owner": {"login": owner},
                "default_branch": head if code == 0 else "main", "fork": False,
                "html_url": "%s/%s/%s" % (base, owner, name),
                "clone_url": "%s/%s/%s.git" % (base, owner, name)}

    def verify_jwt(self, jwt):
        """Checks an App JWT: RS256 over header.payload with the App's public
        key (openssl), iss the App id, iat/exp current and at most 10 min apart."""
        try:
            h64, p64, s64 = jwt.split(".")
            header, claims = json.loads(b64url_decode(h64)), json.loads(b64url_decode(p64))
        except (ValueError, TypeError):
            return "not a JWT"
        if header.get("alg") != "RS256":
            return "alg is not RS256"
        with tempfile.TemporaryDirectory() as d:
            data, sig = os.path.join(d, "data"), os.path.join(d, "sig")
            with open(data, "w") as f:
                f.write(h64 + "." + p64)
            with open(sig, "wb") as f:
                f.write(b64url_decode(s64))
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.a.app_public_key,
                                "-signature", sig, data], capture_output=True, timeout=30)
        if r.returncode != 0:
            return "bad signature"
        now = time.time()
        if str(claims.get("iss")) != str(self.a.app_id):
            return "iss is not the App id"
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 5 or exp <= now:
            return "iat/exp not current"
        if exp - iat > 660:
            return "lives longer than 10 minutes"
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "github_double/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    def send(self, status, obj, headers=None):
        data = json.dumps(obj).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.status = status

    def fail(self, status, message, errors=None, headers=None):
        obj = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        if errors:
            obj["errors"] = errors
        self.send(status, obj, headers)

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def route(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        self.status = 0
        self.auth_kind = "none"
        try:
            if url.path.startswith("/_double/"):
                return self.control(url)
            self.api(url)
        except (ValueError, KeyError) as e:
            self.fail(400, "Problems parsing JSON: %s" % e)
        finally:
            if not url.path.startswith("/_double/"):
                with st.lock:
                    st.requests.append({"time": time.time(), "method": self.command,
                                        "path": self.path, "auth": self.auth_kind,
                                        "status": self.status,
                                        "user_agent": self.headers.get("User-Agent"),
                                        "accept": self.headers.get("Accept")})

    # ---- control ----
    def control(self, url):
        st = self.server.state
        if url.path == "/_double/requests" and self.command == "GET":
            with st.lock:
                return self.send(200, {"requests": list(st.requests)})
        if url.path == "/_double/ratelimit" and self.command == "POST":
            b = self.body()
            with st.lock:
                st.rate_limit = {"count": int(b.get("count", 1)), "status": int(b.get("status", 403)),
                                 "reset_in": int(b.get("reset_in", 2)),
                                 "retry_after": b.get("retry_after")}
            return self.send(200, st.rate_limit)
        if url.path == "/_double/revoke" and self.command == "POST":
            with st.lock:
                st.revoke_next = int(self.body().get("count", 1))
            return self.send(200, {"count": st.revoke_next})
        if url.path == "/_double/pulls" and self.command == "GET":
            with st.lock:
                return self.send(200, {"pulls": list(st.pulls)})
        if url.path == "/_double/pulls" and self.command == "POST":
            b = self.body()
            owner, name = b["repo"].split("/")
            with st.lock:
                pr = self.add_pull(owner, name, b["head"], b["base"], b.get("title", "seeded"), "")
            return self.send(200, pr)
        return self.fail(404, "no control route")

    # ---- authentication ----
    def authenticate(self):
        """"pat", "installation", "jwt" (the raw JWT in self.jwt), or None
        with a 401 sent."""
        st = self.server.state
        value = self.headers.get("Authorization") or ""
        scheme, _, cred = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not cred:
            self.fail(401, "Requires authentication")
            return None
        if cred in st.a.token:
            self.auth_kind = "pat"
            return "pat"
        with st.lock:
            until = st.installation_tokens.get(cred)
            if until is not None and st.revoke_next > 0:
                st.revoke_next -= 1
                until = st.installation_tokens[cred] = 0.0
        if until is not None:
            if time.time() >= until:
                self.auth_kind = "expired"
                self.fail(401, "Bad credentials")
                return None
            self.auth_kind = "installation"
            return "installation"
        if cred.count(".") == 2:
            self.jwt = cred
            self.auth_kind = "jwt"
            return "jwt"
        self.fail(401, "Bad credentials")
        return None

    def rate_limited(self):
        st = self.server.state
        with st.lock:
            rl = st.rate_limit
            if not rl or rl["count"] <= 0:
                return False
            rl["count"] -= 1
        headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": str(int(time.time()) + rl["reset_in"])}
        if rl["retry_after"] is not None:
            headers["Retry-After"] = str(rl["retry_after"])
        self.fail(rl["status"], "API rate limit exceeded for user.", headers=headers)
        return True

    # ---- the API ----
    def api(self, url):
        st = self.server.state
        if self.rate_limited():
            return
        kind = self.authenticate()
        if not kind:
            return
        m = TOKENS.match(url.path)
        if m and self.command == "POST":
            return self.access_token(int(m.group(1)))
        m = REPO.match(url.path)
        if not m:
            return self.fail(404, "Not Found")
        owner, name, rest = m.group(1), m.group(2), m.group(3) or ""
        if rest == "/installation" and self.command == "GET":
            return self.installation(owner, name)
        if kind == "jwt":
            return self.fail(401, "A JSON web token cannot be used to access this resource")
        if not st.exists(owner, name):
            return self.fail(404, "Not Found")
        if rest == "" and self.command == "GET":
            return self.send(200, st.repo_json(owner, name))
        if rest == "/forks" and self.command == "POST":
            self.body()
            return self.fork(owner, name)
        if rest == "/pulls" and self.command == "POST":
            return self.create_pull(owner, name, self.body())
        if rest == "/pulls" and self.command == "GET":
            return self.list_pulls(owner, name, urllib.parse.parse_qs(url.query))
        return self.fail(404, "Not Found")

    def app_authenticated(self):
        """True for a valid App JWT, else False with a 401 sent."""
        if self.auth_kind != "jwt":
            self.fail(401, "A JSON web token is required")
            return False
        why = self.server.state.verify_jwt(self.jwt)
        if why:
            self.fail(401, "'Issuer' claim or signature: %s" % why)
        return not why

    def installation(self, owner, name):
        st = self.server.state
        if not self.app_authenticated():
            return
        if not st.exists(owner, name):
            return self.fail(404, "Not Found")
        iid = int(hashlib.sha256(owner.encode()).hexdigest()[:6], 16)
        return self.send(200, {"id": iid, "account": {"login": owner}, "app_id": st.a.app_id})

    def access_token(self, iid):
        st = self.server.state
        if not self.app_authenticated():
            return
        token = "ghs_" + secrets.token_hex(18)
        now = time.time()
        with st.lock:
            st.installation_tokens[token] = now + st.a.token_ttl
        req = urllib.request.Request(st.a.git_url.rstrip("/") + "/_githttp/tokens",
                                     data=json.dumps({"token": token}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        return self.send(201, {"token": token, "expires_at": iso(now + st.a.token_advertised_ttl),
                               "permissions": {"contents": "write", "pull_requests": "write"}})

    def fork(self, owner, name):
        st = self.server.state
        user = st.a.user
        full = "%s/%s" % (user, name)
        dst = st.repo_dir(user, name)
        with st.lock:
            if not os.path.isdir(dst):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                code, out = git("clone", "--quiet", "--bare", st.repo_dir(owner, name), dst)
                if code != 0:
                    return self.fail(500, "fork failed: %s" % out)
                st.fork_ready[full] = time.time() + st.a.fork_delay
        obj = st.repo_json(user, name)
        obj["fork"] = True
        obj["parent"] = {"full_name": "%s/%s" % (owner, name)}
        return self.send(202, obj)

    def add_pull(self, owner, name, head, base, title, body):
        st = self.server.state
        number = 1 + sum(1 for p in st.pulls if p["repo"] == "%s/%s" % (owner, name))
        user, _, branch = head.rpartition(":")
        pr = {"repo": "%s/%s" % (owner, name), "number": number, "state": "open",
              "title": title, "body": body,
              "head": {"label": "%s:%s" % (user or owner, branch), "ref": branch},
              "base": {"ref": base}, "user": {"login": user or owner},
              "html_url": "%s/%s/%s/pull/%d" % (st.a.git_url.rstrip("/"), owner, name, number)}
        st.pulls.append(pr)
        return pr

    def create_pull(self, owner, name, b):
        st = self.server.state
        head, base = b.get("head"), b.get("base")
        if not isinstance(head, str) or not isinstance(base, str) or not b.get("title"):
            return self.fail(422, "Validation Failed",
                             [{"resource": "PullRequest", "code": "missing_field", "field": "head"}])
        user, _, branch = head.rpartition(":")
        head_dir = st.repo_dir(user or owner, name)
        code, head_sha = git("rev-parse", "--verify", "--quiet", "refs/heads/" + branch, cwd=head_dir) \
            if os.path.isdir(head_dir) else (1, "")
        code_b, base_sha = git("rev-parse", "--verify", "--quiet", "refs/heads/" + base,
                               cwd=st.repo_dir(owner, name))
        if code != 0 or code_b != 0:
            return self.fail(422, "Validation Failed",
                             [{"resource": "PullRequest", "field": "head" if code else "base",
                               "code": "invalid"}])
        label = "%s:%s" % (user or owner, branch)
        with st.lock:
            for p in st.pulls:
                if p["repo"] == "%s/%s" % (owner, name) and p["state"] == "open" and \
                        p["head"]["label"] == label and p["base"]["ref"] == base:
                    return self.fail(422, "Validation Failed", [{
                        "resource": "PullRequest", "code": "custom",
                        "message": "A pull request already exists for %s." % label}])
        code, ahead = git("rev-list", "--count", "%s..%s" % (base_sha, head_sha), cwd=head_dir)
        if code == 0 and ahead == "0":
            return self.fail(422, "Validation Failed", [{
                "resource": "PullRequest", "code": "custom",
                "message": "No commits between %s and %s" % (base, head)}])
        with st.lock:
            pr = self.add_pull(owner, name, head, base, b["title"], b.get("body") or "")
        return self.send(201, pr)

    def list_pulls(self, owner, name, q):
        st = self.server.state
        head = (q.get("head") or [None])[0]
        state = (q.get("state") or ["open"])[0]
        per_page = min(int((q.get("per_page") or ["30"])[0]), st.a.max_per_page)
        page = int((q.get("page") or ["1"])[0])
        with st.lock:
            items = [p for p in st.pulls if p["repo"] == "%s/%s" % (owner, name) and
                     (state == "all" or p["state"] == state) and
                     (head is None or p["head"]["label"] == head)]
        last = max(1, (len(items) + per_page - 1) // per_page)
        headers = {}
        links = []
        base = "http://127.0.0.1:%d/repos/%s/%s/pulls?" % (self.server.server_port, owner, name)

        def at(n):
            qq = {k: v[0] for k, v in q.items()}
            qq.update({"page": str(n), "per_page": str(per_page)})
            return "<%s%s>" % (base, urllib.parse.urlencode(qq))
        if page < last:
            links.append('%s; rel="next"' % at(page + 1))
            links.append('%s; rel="last"' % at(last))
        if links:
            headers["Link"] = ", ".join(links)
        return self.send(200, items[(page - 1) * per_page:page * per_page], headers)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--git-root", required=True, help="the githttp server's --root")
    p.add_argument("--git-url", required=True, help="the githttp server's URL")
    p.add_argument("--token", action="append", default=[], help="a personal token (repeatable)")
    p.add_argument("--user", default="forker", help="the login forks go to")
    p.add_argument("--app-id", type=int, default=0)
    p.add_argument("--app-public-key", help="PEM file the App JWT is verified with")
    p.add_argument("--token-ttl", type=float, default=3600.0,
                   help="seconds an installation token works")
    p.add_argument("--token-advertised-ttl", type=float, default=3600.0,
                   help="seconds after which expires_at says it expires")
    p.add_argument("--fork-delay", type=float, default=0.0,
                   help="seconds a new fork answers 404")
    p.add_argument("--max-per-page", type=int, default=100)
    a = p.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a)
    return serve(srv)


if __name__ == "__main__":
    sys.exit(main())
