#!/usr/bin/python3
"""REST API benchmark: GET of one AgenticSession through ambientd's api
plugin, with keep-alive (wrk), next to nginx serving the same JSON bytes
from a file at the same URL path. Prints figures; never fails on time.

Measures (wrk -t2 -c32 -d10s --latency by default, after a short warm-up)
  - ambient  GET /api/projects/<ns>/agentic-sessions/<name> as alice, twice:
    with api.read_cache off (each request an access review, cached after
    the first, and a GET of the object from kubesim with alice's token: one
    round trip to kubesim, Python, per request), and on (the review, cached,
    then the object from the api's own watch: no kubesim request);
  - ambient  a route that does not touch Kubernetes (/health, /healthz or
    /api/version, the first that answers 200; --health-path to choose):
    the server's own cost;
  - kubesim  the same object fetched from kubesim directly with alice's
    token: what ambient's session GET waits on;
  - nginx    the bytes ambient answered, from a file at the same path
    (worker_processes = ambient's api.threads, access_log off), and again
    with its access log on, to a file (ambientd always writes its access
    lines: the fair second line);
  - the CPU each server spent per request while wrk ran (the scheduler's
    count of its threads; nginx: master and workers), which moves less
    than requests/s when other work shares the CPUs;
  - the ratios ambient / nginx (requests/s, p50, p99, CPU per request),
    and ambientd's RSS (VmRSS, VmHWM) before and after the runs;
  - LIST of 1,000 sessions with limit/continue, cache off and on: the time
    of a whole listing (10 pages of 100, 2 of 500; median and worst of
    --list-rounds) on one keep-alive connection.

wrk, ambientd, kubesim and nginx share this machine's CPUs; read the
figures as relative, not absolute. Only 127.0.0.1 is used.

  cmake -S . -B /tmp/bench-build -DCMAKE_BUILD_TYPE=Release -DAMBIENT_TESTS=ON
  cmake --build /tmp/bench-build -j2
  tests/bench/api_bench.py [--build-dir /tmp/bench-build] [-d 10 -c 32 -t 2]

Environment: AMBIENTD (default: <build-dir>/bin/ambientd, else the first of
/tmp/bench-build, /tmp/build-bench and build/ that has one), API_PLUGIN,
AS_PLUGIN, PS_PLUGIN (default: AMBIENTD's build tree, lib/ambient/plugins),
AMB_TEST_PLUGIN_DIR, KUBESIM, CRD_DIR, RBAC_DIR (default: the source
tree's), WRK (/usr/bin/wrk), NGINX (/usr/sbin/nginx)."""
import argparse
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchenv import BUILD_CANDIDATES, cpu_ns, fmt_ratio, rss_kib, setup_env  # noqa: E402

HEALTH_PATHS = ("/health", "/healthz", "/api/version")
SESSION_NAME = "bench-session"
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds


def parse_wrk(text):
    """wrk --latency output -> {"rps", "p50", "p75", "p90", "p99" (ms),
    "requests", "seconds", "non2xx", "socket_errors"}; a figure wrk did not
    print is None."""
    out = {"rps": None, "p50": None, "p75": None, "p90": None, "p99": None,
           "requests": None, "seconds": None, "non2xx": 0, "socket_errors": 0}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    in_dist = False
    for line in text.splitlines():
        if line.strip() == "Latency Distribution":
            in_dist = True
            continue
        if in_dist:
            m = re.match(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", line)
            if not m:
                in_dist = False
                continue
            key = "p" + m.group(1)
            if key in out:
                out[key] = float(m.group(2)) * TIME_UNITS[m.group(3)]
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
        out["seconds"] = float(m.group(2)) * TIME_UNITS[m.group(3)] / 1e3
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups())
    return out


def run_wrk(args, url, token=None, seconds=None):
    """Runs wrk against url (keep-alive, as wrk always does); returns the
    parsed figures with "raw" (its output)."""
    seconds = args.duration if seconds is None else seconds
    cmd = [os.environ["WRK"], "-t%d" % args.wrk_threads, "-c%d" % args.connections,
           "-d%ds" % seconds, "--latency", "--timeout", "%ds" % args.wrk_timeout]
    if token:
        cmd += ["-H", "Authorization: Bearer " + token]
    cmd.append(url)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=seconds + args.wrk_timeout + 30)
    f = parse_wrk(p.stdout)
    f["raw"] = p.stdout
    f["exit"] = p.returncode
    if args.verbose:
        print("$ " + " ".join(cmd) + "\n" + p.stdout, file=sys.stderr)
    return f


# ---- nginx ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Nginx:
    """nginx in the foreground (daemon off) with a config of its own in dir,
    serving dir/www, its access log off or to dir/access.log; stop() ends it
    (and its workers)."""

    def __init__(self, directory, workers, access_log=False):
        self.dir = directory
        self.port = free_port()
        self.root = os.path.join(directory, "www")
        temp = os.path.join(directory, "temp")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(temp, exist_ok=True)
        self.error_log = os.path.join(directory, "error.log")
        user = ""
        if os.geteuid() == 0:  # workers would run as nobody, who cannot read a 0700 tmp dir
            user = "user %s;" % pwd.getpwuid(os.geteuid()).pw_name
        temps = "\n".join("  %s_temp_path %s/%s;" % (k, temp, k)
                          for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf = os.path.join(directory, "nginx.conf")
        access = os.path.join(directory, "access.log") if access_log else "off"
        with open(self.conf, "w") as f:
            f.write(f"""daemon off;
master_process on;
worker_processes {workers};
{user}
pid {directory}/nginx.pid;
error_log {self.error_log} warn;
events {{ worker_connections 1024; }}
http {{
  access_log {access};
{temps}
  types {{ }}
  default_type application/json;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port};
    root {self.root};
    location / {{ }}
  }}
}}
""")
        self.log = open(os.path.join(directory, "stderr.log"), "w")
        # Its own process group, so that a master killed hard takes no worker
        # with it into orphanhood (stop() signals the group).
        self.proc = subprocess.Popen([os.environ["NGINX"], "-p", directory, "-e", self.error_log,
                                      "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if not wait_port(self.port, self.proc):
            err = self.errors()
            self.stop()
            raise RuntimeError("nginx did not start:\n" + err)

    def pids(self):
        """The master and its workers."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                return [self.proc.pid] + [int(p) for p in f.read().split()]
        except OSError:
            return [self.proc.pid]

    def put(self, path, data):
        """Serves data at URL path."""
        dest = os.path.join(self.root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)

    def errors(self):
        text = ""
        for p in (os.path.join(self.dir, "stderr.log"), self.error_log):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f.read()
        return text[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # fast shutdown; the master waits for its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:  # any worker left behind (the group is the master's pid)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        self.log.close()


# ---- the figures ----

def fmt_us(v):
    return "-" if v is None else "%.1f us" % v


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.3f ms" % v if v < 10 else "%.1f ms" % v


def make_cluster(apiharness, threads, cache):
    """apiharness.Cluster with api.threads = threads, no per-caller rate
    limit (the bench is one caller on purpose) and api.read_cache on or
    off. The harness stops what it started when the start fails."""
    class BenchCluster(apiharness.Cluster):
        def config_text(self, *a, **kw):
            text = super().config_text(*a, **kw)
            return re.sub(r"\bthreads = \d+;", "threads = %d;" % threads, text, count=1)
    return BenchCluster(live=False, api_conf="rate_limit = { requests_per_second = 0; }; "
                        "read_cache = { enabled = %s; };" % ("true" if cache else "false"))


LIST_SIZE = 1000


def walk(conn, path, token, limit):
    """One whole listing of path, page by page; returns the objects seen."""
    hdrs = {"Authorization": "Bearer " + token}
    seen, cont = 0, None
    for _ in range(LIST_SIZE + 2):
        q = "?limit=%d" % limit + ("&continue=" + cont if cont else "")
        conn.request("GET", path + q, headers=hdrs)
        r = conn.getresponse()
        page = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError("GET %s%s: %d %r" % (path, q, r.status, page))
        seen += len(page["items"])
        cont = page.get("continue")
        if not cont:
            return seen
    raise RuntimeError("the listing did not end")


def bench_list(apiharness, cl, ns, rounds):
    """Figures of whole listings of LIST_SIZE sessions: {limit: (median ms,
    worst ms)}."""
    for i in range(LIST_SIZE):
        cl.make_session(ns, "list-%04d" % i)
    host, port = cl.rest_address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    path = "/api/projects/%s/agentic-sessions" % ns
    out = {}
    try:
        deadline = time.monotonic() + 30  # the cache's watch brings them
        while walk(conn, path, apiharness.ALICE, 500) < LIST_SIZE:
            if time.monotonic() > deadline:
                raise RuntimeError("the api does not list %d sessions" % LIST_SIZE)
            time.sleep(0.1)
        for limit in (100, 500):
            took = []
            for _ in range(rounds):
                t0 = time.monotonic()
                walk(conn, path, apiharness.ALICE, limit)
                took.append((time.monotonic() - t0) * 1e3)
            took.sort()
            out[limit] = (took[len(took) // 2], took[-1])
    finally:
        conn.close()
    return out


def create_session(apiharness, cl, ns):
    body = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
            "metadata": {"name": SESSION_NAME},
            "spec": {"prompt": "bench", "timeout": 600,
                     "repos": [{"input": {"url": "https://github.com/example/repo.git"},
                                "output": {"pushTo": "none"}}]}}
    path = "/api/projects/%s/agentic-sessions" % ns
    r = cl.rest("POST", path, token=apiharness.ALICE, body=body)
    if r.status != 201:
        raise RuntimeError("POST %s as alice: %r" % (path, r))
    name = SESSION_NAME
    if isinstance(r.body, dict):
        name = (r.body.get("metadata") or {}).get("name") or r.body.get("name") or name
    path = "%s/%s" % (path, name)
    r = cl.rest("GET", path, token=apiharness.ALICE)
    if r.status != 200:
        raise RuntimeError("GET %s as alice: %r" % (path, r))
    return path, r


def find_health(apiharness, cl, wanted):
    for p in ([wanted] if wanted else HEALTH_PATHS):
        try:
            r = cl.rest("GET", p, timeout=5)
        except OSError:
            continue
        if r.status == 200:
            return p
    return None


def probe(url, token=None, timeout=10):
    """Two GETs on one connection: (status, body bytes, kept alive), kept
    alive meaning the second request went over the first's socket and
    neither answer announced a close."""
    hostport, path = url[len("http://"):].split("/", 1)
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    hdrs = {"Authorization": "Bearer " + token} if token else {}
    try:
        conn.request("GET", "/" + path, headers=hdrs)
        r = conn.getresponse()
        body = r.read()
        sock, close1 = conn.sock, r.will_close
        conn.request("GET", "/" + path, headers=hdrs)
        r2 = conn.getresponse()
        r2.read()
        return r.status, len(body), (not close1 and not r2.will_close and conn.sock is sock
                                     and sock is not None)
    except (OSError, http.client.HTTPException):
        return None, 0, False
    finally:
        conn.close()


def bench_cache_off(args, apiharness, rows, lists):
    """The session GET and the listing with api.read_cache off: every read
    a kubesim request, as before the cache."""
    cl = make_cluster(apiharness, args.threads, cache=False)
    try:
        ns = cl.make_project(prefix="bench", admins=["alice"], viewers=[])
        path, _ = create_session(apiharness, cl, ns)
        url = "http://" + cl.rest_address + path
        if args.warmup > 0:
            run_wrk(args, url, apiharness.ALICE, seconds=args.warmup)
        status, size, alive = probe(url, apiharness.ALICE)
        f = run_wrk(args, url, apiharness.ALICE)
        f.update(status=status, bytes=size, keepalive=alive)
        rows.append(("ambient", "GET session, read cache off (auth cached + kubesim GET)", f))
        lists["off"] = bench_list(apiharness, cl, ns, args.list_rounds)
    finally:
        cl.close()


def bench(args, apiharness, tmp):
    rows, notes, lists = [], [], {}
    bench_cache_off(args, apiharness, rows, lists)
    cl = make_cluster(apiharness, args.threads, cache=True)
    nginx = nginx_log = None
    try:
        pid = cl.daemon.proc.pid
        ns = cl.make_project(prefix="bench", admins=["alice"], viewers=[])
        path, got = create_session(apiharness, cl, ns)
        body = got.raw
        health = find_health(apiharness, cl, args.health_path)
        base = "http://" + cl.rest_address
        rss0 = rss_kib(pid)

        nginx = Nginx(os.path.join(tmp, "nginx"), args.threads)
        nginx_log = Nginx(os.path.join(tmp, "nginx-log"), args.threads, access_log=True)
        for n in (nginx, nginx_log):
            n.put(path, body)
            check = apiharness.http_request("127.0.0.1:%d" % n.port, "GET", path)
            if check.status != 200 or check.raw != body:
                raise RuntimeError("nginx does not serve the captured bytes: %r" % (check,))

        def ambientd():
            return [pid]
        runs = [("ambient", "GET session, read cache on (auth cached, no kubesim)", base + path,
                 apiharness.ALICE, ambientd)]
        if health:
            runs.append(("ambient", "GET %s (no Kubernetes)" % health, base + health, None,
                         ambientd))
        else:
            notes.append("no ambient route without Kubernetes answered 200 (tried %s)"
                         % ", ".join([args.health_path] if args.health_path else HEALTH_PATHS))
        runs.append(("kubesim", "GET the session directly (alice's token)",
                     cl.ks.url + "/apis/vteam.ambient-code/v1alpha1/namespaces/%s/"
                     "agenticsessions/%s" % (ns, path.rsplit("/", 1)[1]), apiharness.ALICE,
                     None))
        runs.append(("nginx", "GET the same bytes from a file",
                     "http://127.0.0.1:%d%s" % (nginx.port, path), apiharness.ALICE, nginx.pids))
        runs.append(("nginx+log", "the same, access_log to a file",
                     "http://127.0.0.1:%d%s" % (nginx_log.port, path), apiharness.ALICE,
                     nginx_log.pids))
        if args.no_kubesim:
            runs = [r for r in runs if r[0] != "kubesim"]

        for server, what, url, token, pids in runs:
            if args.warmup > 0:
                run_wrk(args, url, token, seconds=args.warmup)
            status, size, alive = probe(url, token)
            procs = pids() if pids else []
            cpu0 = sum(cpu_ns(p) for p in procs)
            f = run_wrk(args, url, token)
            cpu = sum(cpu_ns(p) for p in procs) - cpu0
            f.update(status=status, bytes=size, keepalive=alive,
                     cpu_us=cpu / 1e3 / f["requests"] if procs and f["requests"] else None)
            if f["rps"] is None:
                raise RuntimeError("could not parse wrk's output for %s:\n%s" % (url, f["raw"]))
            rows.append((server, what, f))
        rss1 = rss_kib(pid)
        nginx.stop()
        nginx_log.stop()
        nginx = nginx_log = None
        lists["on"] = bench_list(apiharness, cl, ns, args.list_rounds)
    finally:
        for n in (nginx, nginx_log):
            if n:
                n.stop()
        try:
            cl.close()
        except AssertionError as e:  # exit code or sanitizer report: say so, keep the figures
            notes.append("ambientd did not exit cleanly: %s" % str(e)[:2000])
    return rows, notes, len(body), rss0, rss1, lists


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", help="build tree holding bin/ambientd and lib/ambient/"
                    "plugins (default: AMBIENTD, else %s)" % ", ".join(BUILD_CANDIDATES))
    ap.add_argument("-d", "--duration", type=int, default=10, help="seconds per wrk run (10)")
    ap.add_argument("-c", "--connections", type=int, default=32, help="wrk connections (32)")
    ap.add_argument("-t", "--wrk-threads", type=int, default=2, help="wrk threads (2)")
    ap.add_argument("--threads", type=int, default=2,
                    help="ambient's api.threads and nginx's worker_processes (2)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="seconds of wrk before each measured run, not reported (1)")
    ap.add_argument("--wrk-timeout", type=int, default=5, help="wrk's per-request timeout (5)")
    ap.add_argument("--health-path", help="the ambient route without Kubernetes "
                    "(default: the first of %s that answers 200)" % ", ".join(HEALTH_PATHS))
    ap.add_argument("--no-kubesim", action="store_true", help="skip the direct kubesim run")
    ap.add_argument("--list-rounds", type=int, default=20,
                    help="whole listings of %d sessions timed per page size (20)" % LIST_SIZE)
    ap.add_argument("-v", "--verbose", action="store_true", help="wrk's output on stderr")
    args = ap.parse_args()
    if args.connections < args.wrk_threads:
        ap.error("--connections must be at least --wrk-threads")
    setup_env("api_bench", args.build_dir, {"WRK": "/usr/bin/wrk", "NGINX": "/usr/sbin/nginx"})
    import apiharness  # noqa: E402  (reads the environment set above)

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="apibench-")
    try:
        rows, notes, size, rss0, rss1, lists = bench(args, apiharness, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("wrk -t%d -c%d -d%ds --latency (keep-alive), %d s warm-up; api.threads = "
          "nginx worker_processes = %d; session JSON %d bytes; %d CPUs, load average %s; "
          "ambientd %s" % (args.wrk_threads, args.connections, args.duration, args.warmup,
                           args.threads, size, os.cpu_count() or 0,
                           " ".join("%.2f" % x for x in os.getloadavg()),
                           os.environ["AMBIENTD"]))
    print()
    print("| server | request | requests/s | p50 | p99 | server CPU/request | bytes "
          "| keep-alive | non-2xx / socket errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for server, what, f in rows:
        print("| %s | %s | %.0f | %s | %s | %s | %d | %s | %d / %d |" % (
            server, what, f["rps"], fmt_ms(f["p50"]), fmt_ms(f["p99"]), fmt_us(f.get("cpu_us")),
            f["bytes"], "yes" if f["keepalive"] else "NO", f["non2xx"], f["socket_errors"]))
    nginx = next((f for s, _, f in rows if s == "nginx"), None)
    print()
    print("| ratio to nginx | requests/s | p50 | p99 | CPU/request |")
    print("|---|---|---|---|---|")
    for server, what, f in rows:
        if server.startswith("nginx"):
            continue
        print("| %s %s | %s | %s | %s | %s |" % (
            server, what, fmt_ratio(f["rps"], nginx["rps"]), fmt_ratio(f["p50"], nginx["p50"]),
            fmt_ratio(f["p99"], nginx["p99"]), fmt_ratio(f.get("cpu_us"), nginx.get("cpu_us"))))
    logged = next((f for s, _, f in rows if s == "nginx+log"), None)
    cached = next((f for s, w, f in rows if w.startswith("GET session, read cache on")), None)
    if logged and cached:
        print("| ambient session GET (cache on) to nginx with its access log on | %s | %s | %s "
              "| %s |" % (fmt_ratio(cached["rps"], logged["rps"]),
                          fmt_ratio(cached["p50"], logged["p50"]),
                          fmt_ratio(cached["p99"], logged["p99"]),
                          fmt_ratio(cached.get("cpu_us"), logged.get("cpu_us"))))
    print()
    print("ambientd RSS: %s KiB before the runs, %s KiB after (peak VmHWM %s KiB)"
          % (rss0.get("VmRSS", "?"), rss1.get("VmRSS", "?"), rss1.get("VmHWM", "?")))
    print("With the read cache off ambient's session GET includes a round trip to kubesim "
          "(Python) per request; the route without Kubernetes is the server's own cost.")
    print()
    print("| LIST of %d sessions, one connection | limit=100 (10 pages) | limit=500 (2 pages) |"
          % LIST_SIZE)
    print("|---|---|---|")
    for mode in ("off", "on"):
        if mode in lists:
            print("| read cache %s: median / worst of %d listings | %s | %s |" % (
                mode, args.list_rounds,
                " / ".join(fmt_ms(v) for v in lists[mode][100]),
                " / ".join(fmt_ms(v) for v in lists[mode][500])))
    print()
    session = rows[0][2]
    direct = next((f for s, _, f in rows if s == "kubesim"), None)
    if direct:
        print("ambient's session GET runs at %.0f%% of kubesim's own rate for the same object "
              "(p50 %s against %s)." % (100.0 * session["rps"] / direct["rps"],
                                         fmt_ms(session["p50"]), fmt_ms(direct["p50"])))
    bad = [(s, w) for s, w, f in rows
           if f["non2xx"] or f["socket_errors"] or f["status"] != 200]
    for s, w in bad:
        notes.append("%s %s: non-2xx answers or socket errors; its figures are not of "
                     "successful requests" % (s, w))
    for n in notes:
        print("note: " + n)


if __name__ == "__main__":
    main()
