#!/usr/bin/python3
"""gitlab_double: the part of GitLab's REST API v4 that gitlab.so uses, on
loopback, in the documented shapes, with repositories that are real: each
project is a bare repository of a tests/githttp server (its
http_url_to_repo), so clones and pushes go through real git.

    gitlab_double.py --git-url http://127.0.0.1:GITPORT --git-root DIR \
        --user alice:TOKEN [--user deployer:TOKEN2:write_repository] [--fork-delay 2]
    # listening on http://127.0.0.1:PORT      (the API is PORT/api/v4)

Requests need `PRIVATE-TOKEN: <token>` (401 otherwise; 403 insufficient_scope
for a token without the `api` scope, or `read_api` for a GET). Project ids are numbers or URL-encoded
paths (`/projects/group%2Fsub%2Fname`). Lists paginate with X-Page,
X-Per-Page, X-Next-Page, X-Total, X-Total-Pages and Link. A fork starts with
import_status "scheduled" and becomes "finished" (its repository copied)
after the fork delay; forking again into the same namespace is 409. A second
open merge request for the same source branch and project is 409. Control
endpoints under /_gitlab/ (no token) set the double up and show what it
received (README.md). Binds 127.0.0.1, prints "listening on
http://127.0.0.1:P" once ready, exits 0 on SIGTERM/SIGINT. Standard library
only.
"""

import argparse
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
from httpserve import Server, serve  # noqa: E402

API = "/api/v4/"
CONTROL = "/_gitlab/"
MAX_BODY = 1 << 20
PATH_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


class Fail(Exception):
    """An API error answer: status and GitLab's {"message": ...} body."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body if isinstance(body, dict) else {"message": body}
        self.headers = headers or {}


def not_found(what="Project"):
    return Fail(404, "404 %s Not Found" % what)


class State:
    def __init__(self, git_url, git_root):
        self.git_url = git_url.rstrip("/")
        self.git_root = os.path.realpath(git_root)
        self.lock = threading.Lock()
        self.users = {}          # token -> user
        self.projects = {}       # id -> project
        self.mrs = []
        self.members = {}        # project id -> {user id: access level}
        self.fork_delay = 0.0
        self.per_page_max = 100
        self.throttled = 0
        self.retry_after = 1
        self.requests = []
        self.timers = []

    # ---- users and projects ----
    def add_user(self, username, token, scopes=("api",)):
        with self.lock:
            uid = len(self.users) + 1
            user = {"id": uid, "username": username, "name": username.title(),
                    "state": "active", "web_url": "%s/%s" % (self.git_url, username),
                    "scopes": list(scopes)}
            self.users[token] = user
            return user

    def user_named(self, name):
        return next((u for u in self.users.values() if u["username"] == name), None)

    def add_project(self, path, owner=None, forked_from=None, default_branch=None,
                    import_status="finished"):
        """A project record for the bare repository git_root/path.git (which
        must exist unless the project is a fork still being imported)."""
        if not PATH_RE.match(path) or ".." in path.split("/"):
            raise Fail(400, {"message": {"path": ["is invalid"]}})
        if any(p["path_with_namespace"].lower() == path.lower() for p in self.projects.values()):
            raise Fail(409, {"message": {"name": ["has already been taken"],
                                         "path": ["has already been taken"],
                                         "project_namespace.name": ["has already been taken"]}})
        repo = os.path.join(self.git_root, path + ".git")
        if import_status == "finished" and not os.path.isdir(repo):
            raise Fail(400, "no repository at %s" % repo)
        ns, name = path.rsplit("/", 1)
        pid = len(self.projects) + 1
        p = {"id": pid, "name": name, "path": name, "path_with_namespace": path,
             "name_with_namespace": path.replace("/", " / "),
             "namespace": {"id": 1000 + pid, "path": ns.rsplit("/", 1)[-1], "full_path": ns,
                           "kind": "user" if self.user_named(ns) else "group"},
             "default_branch": default_branch or (branch_of(repo) if os.path.isdir(repo)
                                                  else None),
             "http_url_to_repo": "%s/%s.git" % (self.git_url, path),
             "web_url": "%s/%s" % (self.git_url, path),
             "import_status": import_status, "visibility": "private",
             "owner_id": owner["id"] if owner else None}
        if forked_from:
            p["forked_from_project"] = {k: forked_from[k] for k in
                                        ("id", "name", "path", "path_with_namespace",
                                         "web_url", "http_url_to_repo")}
        self.projects[pid] = p
        if owner:
            self.members.setdefault(pid, {})[owner["id"]] = OWNER
        return p

    def project(self, ref):
        """A project by id or by its (already decoded) full path."""
        if ref.isdigit():
            p = self.projects.get(int(ref))
        else:
            p = next((p for p in self.projects.values()
                      if p["path_with_namespace"].lower() == ref.lower()), None)
        if not p:
            raise not_found()
        return p

    def finish_import(self, fork_id, source_repo):
        """The fork's repository appears, then its import is finished."""
        with self.lock:
            p = self.projects[fork_id]
        dest = os.path.join(self.git_root, p["path_with_namespace"] + ".git")
        r = subprocess.run(["git", "clone", "--bare", "--quiet", source_repo, dest],
                           capture_output=True, text=True, timeout=120)
        with self.lock:
            p["import_status"] = "finished" if r.returncode == 0 else "failed"
            if r.returncode != 0:
                p["import_error"] = r.stderr.strip()[-300:]
            else:
                p["default_branch"] = branch_of(dest)

    def log(self, entry):
        with self.lock:
            entry["n"] = len(self.requests) + 1
            self.requests.append(entry)


def branch_of(repo):
    try:
        with open(os.path.join(repo, "HEAD")) as f:
            head = f.read().strip()
    except OSError:
        return None
    return head[len("ref: refs/heads/"):] if head.startswith("ref: refs/heads/") else None


def public(p):
    return {k: v for k, v in p.items() if k not in ("owner_id",)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitlab_double/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("gitlab_double: " + (fmt % args) + "\n")

    # ---- plumbing ----
    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def take_body(self):
        """Reads the whole body first, so an early answer leaves the
        keep-alive connection clean; None when it is too large."""
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(n) if n else b""

    def read_body(self):
        raw = self.raw_body
        if raw is None:
            raise Fail(413, "413 Request Entity Too Large")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if not raw:
            return {}
        if ctype == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise Fail(400, "400 Bad request - body is not JSON")
            if not isinstance(body, dict):
                raise Fail(400, "400 Bad request - body is not an object")
            return body
        return {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        st = self.server.state
        self.raw_body = self.take_body()
        raw_path, _, query = self.path.partition("?")
        entry = {"method": self.command, "path": raw_path, "query": query,
                 "time": time.time(), "user": None}
        try:
            if raw_path.startswith(CONTROL):
                status, obj, headers = self.control(raw_path[len(CONTROL):],
                                                    urllib.parse.parse_qs(query))
                entry = None
            elif raw_path.startswith(API):
                status, obj, headers = self.api(raw_path[len(API):],
                                                urllib.parse.parse_qs(query), entry)
            else:
                raise Fail(404, "404 Not Found")
        except Fail as f:
            status, obj, headers = f.status, f.body, f.headers
        if entry is not None:
            entry["status"] = status
            st.log(entry)
        self.send_json(status, obj, headers)

    # ---- the API ----
    def api(self, path, query, entry):
        st = self.server.state
        # Every token header is checked before throttling, as GitLab does
        # for authenticated rate limits.
        token = self.headers.get("PRIVATE-TOKEN")
        entry["auth"] = "private-token" if token else "none"
        with st.lock:
            if st.throttled > 0:
                st.throttled -= 1
                raise Fail(429, "Retry later", {
                    "Retry-After": str(st.retry_after), "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(time.time()) + st.retry_after)})
            user = st.users.get(token) if token else None
        if not user:
            raise Fail(401, "401 Unauthorized")
        entry["user"] = user["username"]
        if "api" not in user["scopes"] and not ("read_api" in user["scopes"] and
                                                self.command == "GET"):
            raise Fail(403, {"error": "insufficient_scope",
                             "error_description": "The request requires higher privileges "
                                                  "than provided by the access token.",
                             "scope": "api read_api"})
        seg = path.split("/")
        m = self.command
        if seg == ["user"] and m == "GET":
            return 200, {k: v for k, v in user.items() if k != "scopes"}, None
        if len(seg) < 2 or seg[0] != "projects":
            raise Fail(404, "404 Not Found")
        # The id segment is one URL-encoded value: "group%2Fsub%2Fname".
        ref = urllib.parse.unquote(seg[1])
        rest = seg[2:]
        with st.lock:
            p = st.project(ref)
        if rest == [] and m == "GET":
            with st.lock:
                return 200, public(p), None
        if rest == ["fork"] and m == "POST":
            return self.fork(p, user, self.read_body())
        if rest == ["forks"] and m == "GET":
            with st.lock:
                items = [public(f) for f in st.projects.values()
                         if f.get("forked_from_project", {}).get("id") == p["id"] and
                         (query.get("owned", ["false"])[-1] != "true" or
                          f["owner_id"] == user["id"])]
            return self.page(items, query, path)
        if rest == ["merge_requests"] and m == "POST":
            return self.create_mr(p, user, self.read_body())
        if rest == ["merge_requests"] and m == "GET":
            want_branch = query.get("source_branch", [None])[-1]
            want_state = query.get("state", ["all"])[-1]
            with st.lock:
                items = [mr for mr in st.mrs if mr["project_id"] == p["id"] and
                         (want_branch is None or mr["source_branch"] == want_branch) and
                         (want_state == "all" or mr["state"] == want_state)]
            return self.page(items, query, path)
        if len(rest) == 3 and rest[:2] == ["members", "all"] and m == "GET" and rest[2].isdigit():
            with st.lock:
                level = st.members.get(p["id"], {}).get(int(rest[2]))
                who = next((u for u in st.users.values() if u["id"] == int(rest[2])), None)
            if level is None or not who:
                raise not_found("Member")
            return 200, {"id": who["id"], "username": who["username"], "state": "active",
                         "access_level": level}, None
        raise Fail(404, "404 Not Found")

    def page(self, items, query, path):
        st = self.server.state
        try:
            page = max(1, int(query.get("page", ["1"])[-1]))
            per = min(max(1, int(query.get("per_page", ["20"])[-1])), st.per_page_max)
        except ValueError:
            raise Fail(400, {"error": "page is invalid"})
        total_pages = max(1, (len(items) + per - 1) // per)
        chunk = items[(page - 1) * per:page * per]
        headers = {"X-Page": str(page), "X-Per-Page": str(per), "X-Total": str(len(items)),
                   "X-Total-Pages": str(total_pages),
                   "X-Next-Page": str(page + 1) if page < total_pages else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else ""}
        base = "%s%s%s?per_page=%d&page=" % (self.server.url, API, path, per)
        links = ['<%s%d>; rel="first"' % (base, 1), '<%s%d>; rel="last"' % (base, total_pages)]
        if page < total_pages:
            links.insert(0, '<%s%d>; rel="next"' % (base, page + 1))
        headers["Link"] = ", ".join(links)
        return 200, chunk, headers

    def fork(self, src, user, body):
        st = self.server.state
        ns = body.get("namespace_path") or user["username"]
        name = body.get("path") or src["path"]
        source_repo = os.path.join(st.git_root, src["path_with_namespace"] + ".git")
        with st.lock:
            if ns != user["username"]:
                raise Fail(404, "404 Target Namespace Not Found")
            fork = st.add_project("%s/%s" % (ns, name), owner=user, forked_from=src,
                                  import_status="scheduled")
            out = public(fork)
        t = threading.Timer(st.fork_delay, st.finish_import, (fork["id"], source_repo))
        t.daemon = True
        st.timers.append(t)
        t.start()
        return 201, out, None

    def create_mr(self, source, user, body):
        st = self.server.state
        missing = [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]
        if missing:
            raise Fail(400, {"error": "%s is missing" % ", ".join(missing)})
        with st.lock:
            target = source
            if body.get("target_project_id") is not None:
                target = st.project(str(body["target_project_id"]))
                if target["id"] != source["id"] and \
                        source.get("forked_from_project", {}).get("id") != target["id"]:
                    raise Fail(400, {"message": ["Target project is not the fork's upstream"]})
            repo = os.path.join(st.git_root, source["path_with_namespace"] + ".git")
            if body["source_branch"] not in branches(repo):
                raise Fail(422, {"message": ["Source branch \"%s\" does not exist"
                                             % body["source_branch"]]})
            dup = next((mr for mr in st.mrs if mr["state"] == "opened" and
                        mr["source_project_id"] == source["id"] and
                        mr["source_branch"] == body["source_branch"]), None)
            if dup:
                raise Fail(409, {"message": ["Another open merge request already exists for "
                                             "this source branch: !%d" % dup["iid"]]})
            iid = 1 + sum(1 for mr in st.mrs if mr["project_id"] == target["id"])
            mr = {"id": 5000 + len(st.mrs) + 1, "iid": iid, "project_id": target["id"],
                  "source_project_id": source["id"], "target_project_id": target["id"],
                  "source_branch": body["source_branch"], "target_branch": body["target_branch"],
                  "title": body["title"], "description": body.get("description") or "",
                  "state": "opened", "author": {"id": user["id"], "username": user["username"]},
                  "web_url": "%s/-/merge_requests/%d" % (target["web_url"], iid)}
            st.mrs.append(mr)
        return 201, mr, None

    # ---- control ----
    def control(self, path, query):
        st = self.server.state
        m = self.command
        if path == "health":
            return 200, {"ok": True}, None
        if path == "requests" and m == "GET":
            with st.lock:
                return 200, {"count": len(st.requests), "requests": list(st.requests)}, None
        if path == "requests" and m == "DELETE":
            with st.lock:
                n = len(st.requests)
                st.requests.clear()
            return 200, {"cleared": n}, None
        if path == "users" and m == "POST":
            b = self.read_body()
            u = st.add_user(b["username"], b["token"], b.get("scopes", ["api"]))
            return 201, {k: v for k, v in u.items() if k != "scopes"}, None
        if path == "projects" and m == "POST":
            return self.control_project(self.read_body())
        if path == "projects" and m == "GET":
            with st.lock:
                return 200, [public(p) for p in st.projects.values()], None
        if path == "merge_requests" and m == "GET":
            with st.lock:
                return 200, list(st.mrs), None
        if path == "settings" and m == "POST":
            b = self.read_body()
            with st.lock:
                st.fork_delay = float(b.get("fork_delay", st.fork_delay))
                st.per_page_max = int(b.get("per_page_max", st.per_page_max))
                return 200, {"fork_delay": st.fork_delay, "per_page_max": st.per_page_max}, None
        if path == "throttle" and m == "POST":
            b = self.read_body()
            with st.lock:
                st.throttled = int(b.get("count", 1))
                st.retry_after = int(b.get("retry_after", 1))
                return 200, {"count": st.throttled, "retry_after": st.retry_after}, None
        raise Fail(404, "no such control endpoint")

    def control_project(self, b):
        """{"path", "owner"?, "forked_from"?, "members"?: {username: level}}:
        a project over an existing bare repository, or a finished fork of
        forked_from (its repository copied now)."""
        st = self.server.state
        with st.lock:
            owner = st.user_named(b["owner"]) if b.get("owner") else None
            src = st.project(b["forked_from"]) if b.get("forked_from") else None
        if src:
            dest = os.path.join(st.git_root, b["path"] + ".git")
            subprocess.run(["git", "clone", "--bare", "--quiet",
                            os.path.join(st.git_root, src["path_with_namespace"] + ".git"),
                            dest], check=True, capture_output=True, timeout=120)
        with st.lock:
            p = st.add_project(b["path"], owner=owner, forked_from=src)
            for name, level in (b.get("members") or {}).items():
                u = st.user_named(name)
                if not u:
                    raise Fail(400, "unknown user %s" % name)
                st.members.setdefault(p["id"], {})[u["id"]] = int(level)
            return 201, public(p), None


def branches(repo):
    r = subprocess.run(["git", "--git-dir", repo, "for-each-ref", "--format=%(refname:short)",
                        "refs/heads/"], capture_output=True, text=True, timeout=60)
    return set(r.stdout.split()) if r.returncode == 0 else set()


def parse_args(argv):
    p = argparse.ArgumentParser(prog="gitlab_double", description=__doc__.splitlines()[0])
    p.add_argument("--git-url", required=True, help="the githttp server serving --git-root")
    p.add_argument("--git-root", required=True, help="githttp's directory of bare repositories")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument("--user", action="append", default=[], metavar="NAME:TOKEN[:SCOPES]",
                   help="a user and its token; SCOPES comma-separated, default api (repeatable)")
    p.add_argument("--fork-delay", type=float, default=0.0,
                   help="seconds before a new fork's import is finished")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    if not os.path.isdir(a.git_root):
        sys.exit("gitlab_double: --git-root %s is not a directory" % a.git_root)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.url = "http://127.0.0.1:%d" % srv.server_address[1]
    srv.state = State(a.git_url, a.git_root)
    srv.state.fork_delay = a.fork_delay
    srv.verbose = a.verbose
    for spec in a.user:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            sys.exit("gitlab_double: --user %s is not NAME:TOKEN[:SCOPES]" % spec)
        srv.state.add_user(parts[0], parts[1],
                           parts[2].split(",") if len(parts) == 3 else ("api",))
    rc = serve(srv, srv.url)
    for t in srv.state.timers:
        t.cancel()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
