"""Fault injection for the client's error paths: per-request latency and
synthetic error responses, optionally limited to a path substring, an HTTP
method or a Kubernetes verb, for the next N matching requests or with a
probability.  Control endpoints (/kubesim/...) are never affected.

Every API request that reaches the rules is also recorded with its arrival
time (the server's monotonic clock) and the fault it got, so a test can
check how a client spaced its retries (GET /kubesim/requests).
"""

import collections
import random
import threading
import time

import apierrors

# The request log keeps the most recent requests only (memory stays bounded
# in long runs; tests clear it before what they measure).
MAX_LOGGED = 20000

# What the apiserver's max-in-flight and API Priority and Fairness filters
# answer (http.Error): plain text, before any Status is built.
APF_TEXT = "Too many requests, please try again later."


class PlainTextError(apierrors.ApiError):
    """An error answered as text/plain instead of a Status body."""
    content_type = "text/plain; charset=utf-8"

    def body(self):
        return (self.message + "\n").encode()


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
        self.plain_text = bool(spec.get("plainText"))
        default = APF_TEXT if self.plain_text and self.status == 429 else "kubesim: injected fault"
        self.message = spec.get("message") or default
        if self.count is not None:
            self.count = int(self.count)
        if self.retry_after is not None:
            self.retry_after = int(self.retry_after)

    def describe(self):
        return {"status": self.status, "latencyMs": self.latency_ms, "count": self.count,
                "probability": self.probability, "path": self.path, "method": self.method,
                "verb": self.verb, "retryAfterSeconds": self.retry_after,
                "plainText": self.plain_text}

    def error(self):
        if not self.plain_text:
            return apierrors.from_code(self.status, self.message, self.retry_after)
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return PlainTextError(self.status, "", self.message, headers=headers)

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
        self.seen = collections.deque(maxlen=MAX_LOGGED)

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

    def requests(self, path=""):
        """The logged requests whose path contains `path`, oldest first."""
        with self.lock:
            return [dict(q) for q in self.seen if path in q["path"]]

    def forget_requests(self):
        with self.lock:
            self.seen.clear()

    def note_unauthenticated(self, method, path):
        """Logs a request refused before the rules (401: no valid token), so
        a test can count what rejected tokens cost the server."""
        with self.lock:
            self.seen.append({"at": time.monotonic(), "method": method, "path": path,
                              "verb": "", "fault": 0, "unauthenticated": True})

    def apply(self, method, path, verb):
        """Sleep and/or raise ApiError for the first matching rules."""
        delay, error = 0, None
        seen = {"at": time.monotonic(), "method": method, "path": path, "verb": verb,
                "fault": 0}
        with self.lock:
            self.seen.append(seen)
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
                    error = rule.error()
                    seen["fault"] = rule.status
                    if rule.retry_after is not None:
                        seen["retryAfterSeconds"] = rule.retry_after
        if delay:
            time.sleep(delay / 1000.0)
        if error is not None:
            raise error
