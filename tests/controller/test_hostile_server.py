#!/usr/bin/python3
"""A hostile API server: watch streams that carry garbage must never crash
ambientd or make it spin. A fake server (127.0.0.1 only) answers the
controller's lists with empty lists and its widget watches, in turn, with a
line that is not JSON, an ERROR event for a server error, an unknown event
type, a line longer than the 16 MiB event limit, and finally one valid
ADDED event. ambientd must log each failure, wait longer after each (the
backoff), keep running, and then cache the valid object."""
import http.server
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Ambient, ControllerTest, wait_until  # noqa: E402

OVERSIZED = 17 * 1024 * 1024
WIDGET = {"apiVersion": "test.ambient-code/v1alpha1", "kind": "Widget",
          "metadata": {"name": "w1", "namespace": "ns1", "uid": "u-1", "resourceVersion": "2",
                       "generation": 1}, "spec": {}}


class Hostile(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        self.lock = threading.Lock()
        self.widget_watches = []  # monotonic time of each widget watch request
        self.stop_streams = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, code, body, close=True):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if close:
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        srv = self.server
        if "watch=1" not in self.path:
            kind = "WidgetList" if "/widgets" in self.path else "SecretList"
            body = json.dumps({"kind": kind, "metadata": {"resourceVersion": "1"}, "items": []})
            return self.send_body(200, body.encode(), close=False)
        if "/widgets" not in self.path:
            # Secrets: an idle stream until the test ends.
            self.send_body_stream(b"", idle=True)
            return
        with srv.lock:
            srv.widget_watches.append(time.monotonic())
            n = len(srv.widget_watches)
        if n == 1:
            self.send_body_stream(b"this is not json\n")
        elif n == 2:
            err = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                               "message": "etcd is unavailable", "code": 500}}
            self.send_body_stream(json.dumps(err).encode() + b"\n")
        elif n == 3:
            self.send_body_stream(b'{"type":"SURPRISE","object":{"kind":"Widget"}}\n')
        elif n == 4:
            self.send_body_stream(b'{"type":"ADDED","object":{"pad":"' + b"a" * OVERSIZED + b'"}}\n')
        else:
            self.send_body_stream(json.dumps({"type": "ADDED", "object": WIDGET}).encode() + b"\n",
                                  idle=True)

    def send_body_stream(self, data, idle=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
            if idle:
                self.server.stop_streams.wait(60)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on the stream: that is the point
        self.close_connection = True

    def do_POST(self):
        self.send_body(404, b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":404,'
                            b'"reason":"NotFound","message":"not here"}', close=False)

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST


class HostileStreams(ControllerTest):
    def setUp(self):
        super().setUp()
        self.server = Hostile()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.addCleanup(self.server.stop_streams.set)

    def test_garbage_streams_are_survived_with_backoff(self):
        amb = Ambient(self.server, self.tmp, leader_election=False)
        self._ambients.append(amb)
        wait_until(lambda: amb.metric("ambient_cache_objects", resource="widgets") == 1,
                   timeout=60, what="the valid widget in the cache")
        self.assertTrue(amb.alive())
        reasons = [r.get("error", "") for r in amb.d.records() if r.get("msg") == "watch failed"
                   and r.get("resource") == "widgets"]
        text = "\n".join(reasons)
        for want in ("a watch event is not JSON", "etcd is unavailable", "unknown watch event type",
                     "watch event longer than the limit"):
            self.assertIn(want, text, "missing failure %r in %r" % (want, reasons))
        times = self.server.widget_watches
        self.assertEqual(len(times), 5, "one watch per failure, no busy loop")
        gaps = [b - a for a, b in zip(times, times[1:])]
        # 0.8 s doubling, jittered to 50..100 %: at least 0.4, 0.8, 1.6, 3.2 s.
        for gap, least in zip(gaps, (0.4, 0.8, 1.6, 3.2)):
            self.assertGreaterEqual(gap, least * 0.9, "backoff gaps %r" % gaps)
        self.server.stop_streams.set()
        amb.stop_clean(self)


if __name__ == "__main__":
    unittest.main(verbosity=2)
