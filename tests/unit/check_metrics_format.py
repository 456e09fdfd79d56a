#!/usr/bin/python3
"""check_metrics_format.py — proves ambd_metrics_render's output is valid
Prometheus text format 0.0.4.

Runs `test_metrics --render-sample` and checks the text two ways:
prometheus_client's parser (python3-prometheus-client) must read every
family and value back, and, because that parser is lax, every line must also
match the 0.0.4 grammar below. Run with Debian's /usr/bin/python3, which
sees python3-prometheus-client (deploy/dev/install-deps.sh installs it).

Usage: check_metrics_format.py PATH/TO/test_metrics
"""
import math
import re
import subprocess
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client is missing: apt-get install python3-prometheus-client")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'(?:[^"\\\n]|\\[\\"n])*'
VALUE = r"(?:[+-]?Inf|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
SAMPLE_RE = re.compile(
    rf"^({NAME})(?:\{{({LABEL}=\"{LABEL_VALUE}\"(?:,{LABEL}=\"{LABEL_VALUE}\")*)\}})? ({VALUE})$")
HELP_RE = re.compile(rf"^# HELP ({NAME}) ((?:[^\\\n]|\\[\\n])*)$")
TYPE_RE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")


def check_grammar(text):
    assert text.endswith("\n"), "text must end with a newline"
    typed = {}
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if m := HELP_RE.match(line):
            continue
        if m := TYPE_RE.match(line):
            assert m.group(1) not in typed, f"line {n}: second TYPE for {m.group(1)}"
            typed[m.group(1)] = m.group(2)
            continue
        assert SAMPLE_RE.match(line), f"line {n} is not a valid sample: {line!r}"
    return typed


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "./test_metrics"
    text = subprocess.run([binary, "--render-sample"], check=True, capture_output=True,
                          text=True).stdout
    typed = check_grammar(text)
    families = {f.name: f for f in text_string_to_metric_families(text)}

    # prometheus_client names counter families without their _total suffix.
    expected_types = {
        "ambient_reconcile": "counter",
        "ambient_leader": "gauge",
        "ambient_sample_values": "gauge",
        "ambient_reconcile_duration_seconds": "histogram",
        "ambient_escapes": "counter",
        "ambient_workqueue_depth": "gauge",
        "ambient_default_buckets": "histogram",
        "ambient_metrics_dropped_series": "counter",
    }
    assert {k: f.type for k, f in families.items()} == expected_types, families
    assert len(typed) == len(expected_types)

    def samples(family):
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for s in families[family].samples}

    rec = samples("ambient_reconcile")
    assert rec[("ambient_reconcile_total", (("kind", "Widget"), ("result", "ok")))] == 3
    assert rec[("ambient_reconcile_total", (("kind", "Widget"), ("result", "error")))] == 1
    assert families["ambient_reconcile"].documentation == "Reconciles by kind and result."

    vals = {s.labels["case"]: s.value for s in families["ambient_sample_values"].samples}
    assert vals["third"] == 1 / 3, vals
    assert vals["big"] == 1e20 and vals["tiny"] == -2.5e-9 and vals["inf"] == math.inf
    assert math.isnan(vals["nan"])

    hist = samples("ambient_reconcile_duration_seconds")
    w = ("kind", "Widget")
    b = "ambient_reconcile_duration_seconds_bucket"
    assert hist[(b, (w, ("le", "0.25")))] == 2
    assert hist[(b, (w, ("le", "0.5")))] == 3
    assert hist[(b, (w, ("le", "1")))] == 3
    assert hist[(b, (w, ("le", "+Inf")))] == 4
    assert hist[("ambient_reconcile_duration_seconds_sum", (w,))] == 3.875
    assert hist[("ambient_reconcile_duration_seconds_count", (w,))] == 4
    assert len(samples("ambient_default_buckets")) == 11 + 1 + 2

    esc = families["ambient_escapes"]
    assert esc.documentation == 'Back\\slash "q"\nnewline.', repr(esc.documentation)
    assert {s.labels["v"] for s in esc.samples} == {'a"b\\c\nd', 'caf\u00e9 {x="1",y=2}'}

    assert families["ambient_workqueue_depth"].samples[0].value == 3
    assert families["ambient_metrics_dropped_series"].samples[0].value == 0
    print(f"ok: {len(families)} families, {sum(len(f.samples) for f in families.values())} "
          "samples parsed by prometheus_client and matched the 0.0.4 grammar")


if __name__ == "__main__":
    main()
