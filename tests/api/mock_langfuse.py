#!/usr/bin/python3
"""mock_langfuse: LangFuse's ingestion API as far as ambientd's export uses
it, for tests/api/test_langfuse.py.

POST /api/public/ingestion records the request (its Authorization header
and JSON body) and answers, by default, 207 with every event of the batch
a success, as LangFuse does. Answers to come can be scripted:

  POST /mock/answers ["500", "429", "reject"]   the next requests get, in
        order: 500; 429 with Retry-After: 1; 207 with the first event of
        the batch an error (what LangFuse does for an input it refuses)
  GET  /mock/requests    {"requests": [{"authorization", "status", "body"}]}

Binds 127.0.0.1 on a free port, prints "listening on URL", exits 0 on
SIGTERM. Standard library only."""
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
from httpserve import Server, serve  # noqa: E402

LOCK = threading.Lock()
REQUESTS = []
ANSWERS = []
MAX_BODY = 8 << 20


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return json.loads(self.rfile.read(n) or b"null")

    def do_GET(self):
        if self.path == "/mock/requests":
            with LOCK:
                return self.reply(200, {"requests": list(REQUESTS)})
        self.reply(404, {"message": "not found"})

    def do_POST(self):
        try:
            body = self.body()
        except ValueError as e:
            return self.reply(400, {"message": str(e)})
        if self.path == "/mock/answers":
            with LOCK:
                ANSWERS.extend(str(a) for a in body)
            return self.reply(200, {"queued": len(ANSWERS)})
        if self.path != "/api/public/ingestion":
            return self.reply(404, {"message": "not found"})
        with LOCK:
            answer = ANSWERS.pop(0) if ANSWERS else "207"
            status = 207 if answer == "reject" else int(answer)
            REQUESTS.append({"authorization": self.headers.get("Authorization"),
                             "status": status, "body": body})
        if status == 429:
            return self.reply(429, {"message": "slow down"}, [("Retry-After", "1")])
        if status >= 300:
            return self.reply(status, {"message": "mock failure"})
        events = body.get("batch", []) if isinstance(body, dict) else []
        refused = events[:1] if answer == "reject" else []
        self.reply(207, {
            "successes": [{"id": e.get("id"), "status": 201} for e in events[len(refused):]],
            "errors": [{"id": e.get("id"), "status": 400, "message": "mock refusal"}
                       for e in refused]})


if __name__ == "__main__":
    sys.exit(serve(Server(("127.0.0.1", 0), Handler)))
