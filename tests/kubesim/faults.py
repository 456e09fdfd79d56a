"""Fault injection for the client's error paths: per-request latency and
synthetic error responses, optionally limited to a path substring, an HTTP
method or a Kubernetes verb, for the next N matching requests or with a
probability.  Control endpoints (/kubesim/...) are never affected.
"""

import random
import threading
import time

import apierrors


class Rule:
    def __init__(self, spec):
        self.status = int(spec.get("status") or 0)        # 0: latency only
        self.latency_ms = int(spec.get("latencyMs") or 0)
        self.count = spec.get("count")                    # None: unlimited
        self.probability = float(spec.get("probability", 1.0))
        self.path = spec.get("path") or ""
        self.method = (spec.get("method") or "").upper()
        self.verb = spec.get("verb") or ""
        self.retry_after = spec.get("retryAfterSeconds")
        self.message = spec.get("message") or "kubesim: injected fault"
        if self.count is not None:
            self.count = int(self.count)

    def describe(self):
        return {"status": self.status, "latencyMs": self.latency_ms, "count": self.count,
                "probability": self.probability, "path": self.path, "method": self.method,
                "verb": self.verb, "retryAfterSeconds": self.retry_after}

    def matches(self, method, path, verb):
        if self.path and self.path not in path:
            return False
        if self.method and self.method != method:
            return False
        if self.verb and self.verb != verb:
            return False
        return True


class Faults:
    def __init__(self):
        self.rules = []
        self.lock = threading.Lock()

    def add(self, spec):
        rule = Rule(spec)
        if not rule.status and not rule.latency_ms:
            raise apierrors.bad_request("a fault needs status and/or latencyMs")
        with self.lock:
            self.rules.append(rule)
        return rule.describe()

    def clear(self):
        with self.lock:
            self.rules = []

    def list(self):
        with self.lock:
            return [r.describe() for r in self.rules]

    def apply(self, method, path, verb):
        """Sleep and/or raise ApiError for the first matching rules."""
        delay, error = 0, None
        with self.lock:
            for rule in list(self.rules):
                if not rule.matches(method, path, verb):
                    continue
                if rule.probability < 1.0 and random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
                delay = max(delay, rule.latency_ms)
                if rule.status and error is None:
                    error = apierrors.from_code(rule.status, rule.message, rule.retry_after)
        if delay:
            time.sleep(delay / 1000.0)
        if error is not None:
            raise error
