"""The Grafana dashboard and the alerts of deploy/monitoring query what a
running ambientd exports, and the business metrics say what happened.

On the whole stack of tests/runner/runnerharness.py (the api role with the
live service, the controller with its Lease, the real runner and CLI
against the mock model API) one session runs to Completed. Then every
metric that a dashboard panel or an alert queries is a sample on the
controller's or the api's /metrics, every label selector in those queries
matches a sample (the project variable matching all), and every label an
expression aggregates by is one of those series' labels. The business
metrics count the session: one transition to Completed, its run time,
its tokens and cost for its project. After the controller restarts they
do not count it again; the session is still counted Completed.

Environment (set by CMake): those of runnerharness.py. Debian's
/usr/bin/python3 with python3-yaml."""
import json
import os
import re
import sys
import unittest
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MONITORING = os.path.join(ROOT, "deploy", "monitoring")
sys.path.insert(0, os.path.join(ROOT, "tests", "runner"))

import runnerharness as rh  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SELECTOR = re.compile(r'\b(ambient_[a-z0-9_]+)(?:\{([^}]*)\})?')
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
BY = re.compile(r'\bby\s*\(([^)]*)\)')
# Labels Prometheus adds to every scraped series from its target.
TARGET_LABELS = {"pod", "instance", "job", "namespace_of_pod"}


def scrape(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        return r.read().decode()


def samples(text):
    """[(name, {label: value}, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, line
            out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def queries():
    """(where, PromQL) of every dashboard panel and alert."""
    with open(os.path.join(MONITORING, "grafana-dashboard.json")) as f:
        dash = json.load(f)
    out = [(f"panel {p['title']}", t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]
    out += [("variable project", v["query"]) for v in dash["templating"]["list"]
            if v["type"] == "query"]
    with open(os.path.join(MONITORING, "prometheusrules.yaml")) as f:
        rules = yaml.safe_load(f)
    out += [(f"alert {r['alert']}", r["expr"]) for g in rules["spec"]["groups"] for r in g["rules"]]
    return out


def matches(labels, matchers):
    for name, op, value in matchers:
        value = value.replace("$project", ".*")
        have = labels.get(name, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op == "=~" and not re.fullmatch(value, have) or op == "!~" and re.fullmatch(value, have):
            return False
    return True


class Dashboard(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.st = rh.Stack(leader_election=True)
        try:
            st = cls.st
            cls.ns = st.project()
            url = st.repo(cls.ns, "dash")
            cls.name = rh.uniq("s")
            st.create_session(cls.ns, cls.name, {"prompt": "add notes", "repos": [
                {"input": {"url": url}, "output": {"pushTo": "same"}}]})
            st.wait_phase(cls.ns, cls.name, "Completed")
            # Someone looks at it through the REST api.
            r = st.cluster.rest("GET", f"/api/projects/{cls.ns}/agentic-sessions/{cls.name}",
                                token=rh.apiharness.ALICE)
            assert r.status == 200, r
            cls.series = cls.scrape_all()
        except BaseException:
            cls.st.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.st.close()

    @classmethod
    def controller_address(cls):
        return cls.st.controller.wait_for(
            lambda r: r.get("msg") == "serving metrics and probes")["address"]

    @classmethod
    def scrape_all(cls):
        return (samples(scrape(cls.controller_address()))
                + samples(scrape(cls.st.cluster.rest_address)))

    def value(self, series, name, **labels):
        found = [v for n, ls, v in series if n == name and labels.items() <= ls.items()]
        return sum(found) if found else None

    def test_every_query_finds_its_series(self):
        problems = []
        by_name = {}
        for name, labels, _ in self.series:
            by_name.setdefault(name, []).append(labels)
        for where, expr in queries():
            names = set()
            for name, selector in SELECTOR.findall(expr):
                names.add(name)
                if name not in by_name:
                    problems.append(f"{where}: {name} is not on /metrics")
                    continue
                wanted = MATCHER.findall(selector or "")
                if not any(matches(ls, wanted) for ls in by_name[name]):
                    problems.append(f"{where}: no {name} series matches {{{selector}}}")
            known = {k for n in names for ls in by_name.get(n, []) for k in ls} | TARGET_LABELS
            for group in BY.findall(expr):
                for label in (x.strip() for x in group.split(",") if x.strip()):
                    if label not in known:
                        problems.append(f"{where}: aggregates by {label}, a label none of "
                                        f"{sorted(names)} has")
        self.assertEqual(problems, [])

    def test_the_session_is_counted_once_per_project(self):
        s, ns = self.series, self.ns
        self.assertEqual(self.value(s, "ambient_project_objects", kind="AgenticSession",
                                    namespace=ns, phase="Completed"), 1)
        self.assertEqual(self.value(s, "ambient_phase_transitions_total",
                                    kind="AgenticSession", namespace=ns, phase="Completed"), 1)
        self.assertEqual(self.value(s, "ambient_run_duration_seconds_count",
                                    kind="AgenticSession", namespace=ns, phase="Completed"), 1)
        status = self.st.session(ns, self.name)["status"]["usage"]
        self.assertEqual(self.value(s, "ambient_tokens_total", namespace=ns, type="output"),
                         status["outputTokens"])
        self.assertGreater(status["outputTokens"], 0)
        self.assertAlmostEqual(self.value(s, "ambient_cost_usd_total", namespace=ns,
                                          model="default") or 0,
                               status.get("totalCostUSD", 0), places=6)
        # The live service's gauges come from the api's /metrics.
        self.assertGreater(self.value(s, "ambient_live_store_bytes"), 0)

    def test_a_restart_does_not_count_it_again(self):
        self.st.restart_controller()
        ns = self.ns

        def recounted():
            s = self.scrape_all()
            done = self.value(s, "ambient_project_objects", kind="AgenticSession",
                              namespace=ns, phase="Completed")
            return s if done == 1 else None
        s = rh.wait_until(recounted, timeout=30, what="the restarted controller's count")
        for name in ("ambient_phase_transitions_total", "ambient_run_duration_seconds_count",
                     "ambient_tokens_total", "ambient_cost_usd_total"):
            self.assertIn(self.value(s, name, namespace=ns), (None, 0), name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
