"""What the api benches share: finding the build under test and filling the
environment tests/api/apiharness.py reads, RSS from /proc, and ratios.
Debian's /usr/bin/python3, standard library only."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BUILD_CANDIDATES = ("/tmp/bench-build", "/tmp/build-bench", "/tmp/build-livebench",
                    os.path.join(SRC, "build"))


def setup_env(bench, build_dir, tools):
    """Fills the environment apiharness reads at import (flags win over the
    environment, which wins over the defaults); tools maps an environment
    name to the program's default path. Exits naming what is missing."""
    if build_dir:
        os.environ["AMBIENTD"] = os.path.join(build_dir, "bin", "ambientd")
    elif "AMBIENTD" not in os.environ:
        for cand in BUILD_CANDIDATES:
            if os.path.exists(os.path.join(cand, "bin", "ambientd")):
                os.environ["AMBIENTD"] = os.path.join(cand, "bin", "ambientd")
                break
        else:
            sys.exit("%s: no ambientd found; build one or set AMBIENTD / --build-dir" % bench)
    build = os.path.dirname(os.path.dirname(os.path.realpath(os.environ["AMBIENTD"])))
    plugins = os.path.join(build, "lib", "ambient", "plugins")
    os.environ.setdefault("AMB_TEST_PLUGIN_DIR", os.path.join(build, "tests", "plugins"))
    os.environ.setdefault("API_PLUGIN", os.path.join(plugins, "api.so"))
    os.environ.setdefault("AS_PLUGIN", os.path.join(plugins, "agenticsession.so"))
    os.environ.setdefault("PS_PLUGIN", os.path.join(plugins, "projectsettings.so"))
    os.environ.setdefault("KUBESIM", os.path.join(SRC, "tests", "kubesim", "kubesim"))
    os.environ.setdefault("CRD_DIR", os.path.join(SRC, "deploy", "crds"))
    os.environ.setdefault("RBAC_DIR", os.path.join(SRC, "deploy", "rbac"))
    for name, path in tools.items():
        os.environ.setdefault(name, path)
    missing = [k for k in ("AMBIENTD", "API_PLUGIN", "AS_PLUGIN", "PS_PLUGIN", "KUBESIM",
                           *tools) if not os.path.exists(os.environ[k])]
    if missing:
        sys.exit("%s: missing %s" % (bench, ", ".join("%s=%s" % (k, os.environ[k])
                                                      for k in missing)))
    sys.path.insert(0, os.path.join(SRC, "tests", "api"))


def cpu_ns(pid):
    """CPU time a process's live threads have used, in ns (the scheduler's
    own count, /proc/PID/task/*/schedstat: finer than utime's ticks); 0
    when it is gone. Threads that ended are not counted."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_kib(pid):
    """{"VmRSS": KiB, "VmHWM": KiB} of a process; {} when it is gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except (OSError, TypeError):
        pass
    return out


def run_bench(bench):
    """bench.run(), then its report; closed whatever happens. Returns 0."""
    try:
        bench.run()
        bench.report()
    finally:
        bench.close()
    return 0


def fmt_ratio(a, b):
    if not a or not b:
        return "-"
    return "%.2fx" % (a / b)
