#!/usr/bin/python3
"""mock_anthropic: a scripted Anthropic Messages API for Ambient's tests.

Speaks the streaming protocol the Claude Code CLI uses (POST /v1/messages,
Server-Sent Events) and answers with a scripted scenario instead of a model.
Binds 127.0.0.1, prints "listening on http://127.0.0.1:P" once ready, and
exits 0 on SIGTERM or SIGINT. Standard library only; see README.md.
"""

import argparse
import http.server
import json
import os
import re
import shlex
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
from httpserve import Server, serve  # noqa: E402

SCENARIOS = ("write", "text", "error", "slow", "interactive")

DEFAULTS = {
    "scenario": "write",
    "file": "AMBIENT_MOCK.md",       # write: path relative to the CLI's cwd (or absolute)
    "content": "# Ambient mock\n\nWritten by the mock Anthropic API.\n",
    "text": None,                    # final answer text (each scenario has its own default)
    "status": 500,                   # error: HTTP status
    "error_type": None,              # error: Anthropic error type (default from status)
    "message": None,                 # error: error message
    "at": "start",                   # error: "start" (HTTP error) or "stream" (SSE error event)
    "duration": 5.0,                 # slow: seconds spread over the deltas
    "chunks": 10,                    # slow: number of text deltas
    "delay": 0.0,                    # any: seconds to wait before answering at all
}

# HTTP status -> Anthropic error type, as the real API pairs them.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

MARKER = re.compile(r"\[mock:([a-z]+)((?:\s+[^\]]*)?)\]")
CWD_PATTERNS = (
    re.compile(r"Primary working directory: (/[^\n]*)"),  # CLI 2.x system prompt
    re.compile(r"Working directory: (/[^\n]*)"),          # older <env> block
)


def coerce(key, value):
    """A scenario option from text (a prompt marker or a flag) to its type."""
    if key not in DEFAULTS:
        raise ValueError("unknown option %r (known: %s)" % (key, ", ".join(sorted(DEFAULTS))))
    if key == "scenario" and value not in SCENARIOS:
        raise ValueError("unknown scenario %r (known: %s)" % (value, ", ".join(SCENARIOS)))
    if key in ("status", "chunks"):
        return int(value)
    if key in ("duration", "delay"):
        return float(value)
    if key == "at" and value not in ("start", "stream"):
        raise ValueError("at must be start or stream")
    return value


def parse_marker(text):
    """The last [mock:NAME k=v ...] in text as an options dict, or None."""
    found = None
    for m in MARKER.finditer(text):
        opts = {"scenario": m.group(1)}
        for tok in shlex.split(m.group(2) or ""):
            k, sep, v = tok.partition("=")
            if sep:
                opts[k] = v
        found = opts
    if found is None:
        return None
    return {k: coerce(k, v) for k, v in found.items()}


def block_texts(content, types=("text",)):
    if isinstance(content, str):
        return [content] if "text" in types else []
    out = []
    for b in content or []:
        if isinstance(b, dict) and b.get("type") in types:
            if b["type"] == "text":
                out.append(b.get("text", ""))
            elif b["type"] == "tool_result":
                c = b.get("content")
                out.append(c if isinstance(c, str) else "\n".join(block_texts(c)))
    return out


def user_prompt_texts(content):
    """The user's own words in a message: text blocks minus harness reminders."""
    return [t for t in block_texts(content)
            if not t.lstrip().startswith("<system-reminder>")]


def find_cwd(body):
    """The CLI's working directory, from its system prompt (or messages)."""
    texts = []
    system = body.get("system")
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts += [b.get("text", "") for b in system if isinstance(b, dict)]
    for m in body.get("messages") or []:
        texts += block_texts(m.get("content"))
    for pat in CWD_PATTERNS:
        for t in texts:
            m = pat.search(t)
            if m:
                return m.group(1).strip()
    return None


class State:
    """Scenario defaults and the request log, shared by the handler threads."""

    def __init__(self, defaults, api_key):
        self.lock = threading.Lock()
        self.defaults = dict(defaults)
        self.initial = dict(defaults)
        self.api_key = api_key
        self.requests = []
        self.seq = 0

    def config(self):
        with self.lock:
            return dict(self.defaults)

    def set_config(self, changes):
        """Updates the defaults; {"reset": true} first restores the start-up ones,
        an option set to null gets its built-in default."""
        changes = dict(changes)
        reset = changes.pop("reset", False)
        clean = {}
        for k, v in changes.items():
            if k not in DEFAULTS:
                raise ValueError("unknown option %r (known: reset, %s)"
                                 % (k, ", ".join(sorted(DEFAULTS))))
            clean[k] = DEFAULTS[k] if v is None else coerce(k, v)
        with self.lock:
            if reset:
                self.defaults = dict(self.initial)
            self.defaults.update(clean)
            return dict(self.defaults)

    def next_id(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)


def sse(name, obj):
    return ("event: %s\ndata: %s\n\n" % (name, json.dumps(obj))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-anthropic/1"
    sys_version = ""

    # ---- plumbing ----
    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("mock-anthropic: %s\n" % (fmt % args))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj, indent=1).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_api_error(self, status, etype, message):
        self.send_json(status, {"type": "error", "error": {"type": etype, "message": message},
                                "request_id": "req_mock_%d" % self.server.state.seq},
                       {"request-id": "req_mock_%d" % self.server.state.seq})

    def chunk(self, data):
        """One HTTP chunk (the SSE reply is chunked, as the real API's is)."""
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ---- routes ----
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        st = self.server.state
        if url.path == "/mock/health":
            return self.send_json(200, {"ok": True, "scenario": st.config()["scenario"]})
        if url.path == "/mock/scenario":
            return self.send_json(200, st.config())
        if url.path == "/mock/requests":
            with st.lock:
                reqs = [dict(r) for r in st.requests]
            if q.get("body", ["0"])[0] not in ("1", "true"):
                for r in reqs:
                    r.pop("body", None)
            return self.send_json(200, {"count": len(reqs), "requests": reqs})
        if url.path == "/":
            return self.send_json(200, {"ok": True})
        self.send_api_error(404, "not_found_error", "no route GET %s" % url.path)

    def do_DELETE(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/mock/requests":
            st = self.server.state
            with st.lock:
                n = len(st.requests)
                st.requests.clear()
            return self.send_json(200, {"cleared": n})
        self.send_api_error(404, "not_found_error", "no route DELETE %s" % url.path)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        if url.path == "/mock/scenario":
            try:
                changes = json.loads(raw or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                return self.send_json(200, self.server.state.set_config(changes))
            except ValueError as exc:
                return self.send_json(400, {"error": str(exc)})
        if url.path == "/v1/messages/count_tokens":
            return self.send_json(200, {"input_tokens": max(1, len(raw) // 4)})
        if url.path == "/v1/messages":
            return self.messages(raw)
        self.send_api_error(404, "not_found_error", "no route POST %s" % url.path)

    # ---- the Messages API ----
    def messages(self, raw):
        st = self.server.state
        n = st.next_id()
        entry = {"n": n, "time": time.time(), "method": "POST", "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            entry.update(status=400, answer="error")
            st.log(entry)
            return self.send_api_error(400, "invalid_request_error", "bad JSON: %s" % exc)
        msgs = body.get("messages") or []
        users = [m for m in msgs if m.get("role") == "user"]
        last = users[-1] if users else {}
        tool_results = block_texts(last.get("content"), ("tool_result",))
        results_err = [b.get("is_error", False) for b in (last.get("content") or [])
                       if isinstance(b, dict) and b.get("type") == "tool_result"]
        cwd = find_cwd(body)
        entry.update(model=body.get("model"), stream=bool(body.get("stream")),
                     max_tokens=body.get("max_tokens"), scenario=None, marker=False, cwd=cwd,
                     roles=[m.get("role") for m in msgs],
                     user_texts=[t for m in users for t in user_prompt_texts(m.get("content"))],
                     last_user_text="\n".join(user_prompt_texts(last.get("content"))),
                     tool_results=tool_results, tool_result_errors=results_err,
                     tools=[t.get("name") for t in body.get("tools") or []], body=body)
        # The latest [mock:...] marker in the user's words wins over the defaults.
        opts = st.config()
        marker = None
        try:
            for t in reversed(entry["user_texts"]):
                marker = parse_marker(t)
                if marker:
                    break
        except ValueError as exc:
            entry.update(status=400, answer="error")
            st.log(entry)
            return self.send_api_error(400, "invalid_request_error", "mock marker: %s" % exc)
        opts.update(marker or {})
        entry.update(scenario=opts["scenario"], marker=bool(marker))

        key = self.headers.get("x-api-key")
        if key is None and (self.headers.get("Authorization") or "").startswith("Bearer "):
            key = self.headers["Authorization"][len("Bearer "):]
        if st.api_key is not None and key != st.api_key:
            entry.update(status=401, answer="error")
            st.log(entry)
            return self.send_api_error(401, "authentication_error", "invalid x-api-key")

        if opts["delay"] > 0:
            time.sleep(opts["delay"])
        sc = opts["scenario"]
        status = opts["status"]
        if sc == "error" and (opts["at"] == "start" or not body.get("stream")):
            etype = opts["error_type"] or ERROR_TYPES.get(status, "api_error")
            entry.update(status=status, answer="error")
            st.log(entry)
            return self.send_api_error(status, etype, opts["message"] or
                                       "mock-anthropic scripted %s (%d)" % (etype, status))

        blocks = self.script(sc, opts, n, last, tool_results, results_err, cwd)
        if isinstance(blocks, str):  # could not script: a 400 the CLI reports
            entry.update(status=400, answer="error")
            st.log(entry)
            return self.send_api_error(400, "invalid_request_error", blocks)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        entry.update(status=200, answer="stream_error" if sc == "error" else stop,
                     reply=[{"type": b["type"], **({"text": b["text"]} if b["type"] == "text"
                                                     else {"name": b["name"], "input": b["input"]})}
                            for b in blocks])
        st.log(entry)
        model = body.get("model") or "claude-mock"
        usage_in = max(1, len(raw) // 4)
        out_tokens = sum(max(1, len(json.dumps(b)) // 4) for b in blocks)
        msg_id = "msg_mock_%d" % n
        if not body.get("stream"):
            return self.send_json(200, {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": out_tokens}})
        self.stream(sc, opts, blocks, stop, model, msg_id, usage_in, out_tokens)

    def script(self, sc, opts, n, last, tool_results, results_err, cwd):
        """The content blocks of the reply (before streaming)."""
        if sc == "interactive":
            said = "\n".join(user_prompt_texts(last.get("content")))
            return [{"type": "text", "text": opts["text"] or "echo: " + said}]
        if sc == "slow":
            return [{"type": "text", "text": opts["text"] or
                     "".join("slow %d. " % i for i in range(max(1, opts["chunks"])))}]
        if sc in ("text", "error"):
            return [{"type": "text", "text": opts["text"] or "No changes are needed."}]
        # write
        if tool_results:
            if any(results_err):
                return [{"type": "text", "text": "The write failed: " + tool_results[0]}]
            return [{"type": "text", "text": opts["text"] or "Wrote %s." % opts["file"]}]
        path = opts["file"]
        if not os.path.isabs(path):
            if not cwd:
                return ("mock-anthropic: write scenario cannot find the working directory in "
                        "the request; name an absolute file")
            path = os.path.join(cwd, path)
        return [{"type": "text", "text": "I will write %s." % opts["file"]},
                {"type": "tool_use", "id": "toolu_mock_%d" % n, "name": "Write",
                 "input": {"file_path": path, "content": opts["content"]}}]

    def stream(self, sc, opts, blocks, stop, model, msg_id, usage_in, out_tokens):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_mock_%s" % msg_id.rsplit("_", 1)[1])
        self.end_headers()
        try:
            self.chunk(sse("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": 1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}))
            self.chunk(sse("ping", {"type": "ping"}))
            if sc == "error":  # at == "stream": the API fails mid-stream
                status = opts["status"]
                etype = opts["error_type"] or ERROR_TYPES.get(status, "api_error")
                self.chunk(sse("error", {"type": "error", "error": {
                    "type": etype,
                    "message": opts["message"] or "mock-anthropic scripted %s" % etype}}))
                self.end_chunks()
                return
            for i, b in enumerate(blocks):
                if b["type"] == "text":
                    self.chunk(sse("content_block_start", {
                        "type": "content_block_start", "index": i,
                        "content_block": {"type": "text", "text": ""}}))
                    for piece in self.pieces(b["text"], sc, opts):
                        self.chunk(sse("content_block_delta", {
                            "type": "content_block_delta", "index": i,
                            "delta": {"type": "text_delta", "text": piece}}))
                else:
                    self.chunk(sse("content_block_start", {
                        "type": "content_block_start", "index": i,
                        "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"],
                                          "input": {}}}))
                    js = json.dumps(b["input"])
                    cut = max(1, len(js) // 2)  # split the JSON, as the real API does
                    for part in (js[:cut], js[cut:]):
                        self.chunk(sse("content_block_delta", {
                            "type": "content_block_delta", "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": part}}))
                self.chunk(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
            self.chunk(sse("message_delta", {
                "type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": out_tokens}}))
            self.chunk(sse("message_stop", {"type": "message_stop"}))
            self.end_chunks()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def pieces(self, text, sc, opts):
        """Text deltas; the slow scenario spreads them over its duration."""
        if sc != "slow":
            yield text
            return
        n = max(1, opts["chunks"])
        step = max(1, -(-len(text) // n))
        parts = [text[i:i + step] for i in range(0, len(text), step)] or [""]
        pause = opts["duration"] / len(parts)
        for p in parts:
            time.sleep(pause)
            self.chunk(sse("ping", {"type": "ping"}))
            yield p


def parse_args(argv):
    p = argparse.ArgumentParser(prog="mock_anthropic", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument("--scenario", default=DEFAULTS["scenario"], choices=SCENARIOS,
                   help="default scenario (default: write)")
    p.add_argument("--file", default=DEFAULTS["file"],
                   help="write: file to write, relative to the CLI's cwd (default AMBIENT_MOCK.md)")
    p.add_argument("--content", default=DEFAULTS["content"], help="write: the file's content")
    p.add_argument("--text", default=None, help="the final answer text")
    p.add_argument("--status", type=int, default=DEFAULTS["status"],
                   help="error: HTTP status (default 500)")
    p.add_argument("--error-type", default=None,
                   help="error: Anthropic error type (default: the one the API pairs with --status)")
    p.add_argument("--message", default=None, help="error: the error message")
    p.add_argument("--at", default="start", choices=("start", "stream"),
                   help="error: fail with an HTTP status (start) or an SSE error event (stream)")
    p.add_argument("--duration", type=float, default=DEFAULTS["duration"],
                   help="slow: seconds over which the answer streams (default 5)")
    p.add_argument("--chunks", type=int, default=DEFAULTS["chunks"],
                   help="slow: number of text deltas (default 10)")
    p.add_argument("--delay", type=float, default=0.0,
                   help="seconds to wait before answering any /v1/messages request")
    p.add_argument("--api-key", default=None,
                   help="accept only this x-api-key (or Bearer token); others get a 401")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    defaults = dict(DEFAULTS, scenario=a.scenario, file=a.file, content=a.content, text=a.text,
                    status=a.status, error_type=a.error_type, message=a.message, at=a.at,
                    duration=a.duration, chunks=a.chunks, delay=a.delay)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(defaults, a.api_key)
    srv.verbose = a.verbose
    return serve(srv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
