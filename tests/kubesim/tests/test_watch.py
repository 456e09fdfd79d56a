#!/usr/bin/python3
"""Watch semantics over raw HTTP: event types and order, synthetic ADDED,
resume from an RV, bookmarks, timeoutSeconds, the 410 ERROR event after
compaction, sendInitialEvents 422, selector filtering, dropped and
overflowing watches, fan-out."""

import http.client
import json
import socket
import threading
import time

from harness import WAIT, KubesimTest, Watch, main, wait_for, widget, wpath


class WatchTest(KubesimTest):
    server_args = ("--bookmark-interval", "0.3", "--watch-queue-size", "50")

    def test_framing_and_event_order(self):
        ns = self.make_ns()
        rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        w = self.watch(wpath(ns) + f"?watch=1&resourceVersion={rv}")
        self.assertEqual(w.status, 200)
        self.assertEqual(w.headers.get("Transfer-Encoding"), "chunked")
        self.assertEqual(w.headers.get("Content-Type"), "application/json")
        self.create_widget(ns, "a")
        self.c.patch(wpath(ns, "a"), {"spec": {"size": 2}})
        self.c.delete(wpath(ns, "a"))
        evs = w.events_until(lambda e: e["type"] == "DELETED")
        self.assertEqual([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(len(set(rvs)), 3, "the DELETED event carries the deletion's RV")
        self.assertEqual(evs[2]["object"]["spec"], {"size": 2}, "DELETED has the last state")

    def test_rv_unset_and_zero_send_synthetic_added(self):
        ns = self.make_ns()
        for n in ("a", "b"):
            self.create_widget(ns, n)
        for q in ("?watch=1", "?watch=true&resourceVersion=0"):
            w = self.watch(wpath(ns) + q)
            evs = [w.next(), w.next()]
            self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                             [("ADDED", "a"), ("ADDED", "b")])
            self.create_widget(ns, "c" + str(len(q)))
            self.assertEqual(w.events_until(lambda e: True)[0]["type"], "ADDED")

    def test_resume_from_resource_version(self):
        ns = self.make_ns()
        a = self.create_widget(ns, "a")
        rv_after_a = a["metadata"]["resourceVersion"]
        self.create_widget(ns, "b")
        self.c.patch(wpath(ns, "a"), {"spec": {"size": 9}})
        w = self.watch(wpath(ns) + f"?watch=1&resourceVersion={rv_after_a}")
        evs = [w.next(), w.next()]
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("ADDED", "b"), ("MODIFIED", "a")])

    def test_bookmarks(self):
        ns = self.make_ns()
        self.create_widget(ns, "a")
        list_rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        w = self.watch(wpath(ns) + f"?watch=1&allowWatchBookmarks=true&resourceVersion={list_rv}")
        ev = w.next()
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"]["kind"], "Widget")
        self.assertEqual(ev["object"]["apiVersion"], "test.ambient-code/v1alpha1")
        self.assertEqual(set(ev["object"]), {"kind", "apiVersion", "metadata"})
        self.assertEqual(set(ev["object"]["metadata"]), {"resourceVersion"})
        self.assertGreaterEqual(int(ev["object"]["metadata"]["resourceVersion"]), int(list_rv))
        # Writes elsewhere advance bookmark RVs, so a resume skips them.
        other = self.make_ns()
        cm = self.c.post(f"/api/v1/namespaces/{other}/configmaps", {"metadata": {"name": "x"}})
        target = int(cm.body["metadata"]["resourceVersion"])

        def advanced():
            e = w.next()
            return e["type"] == "BOOKMARK" and \
                int(e["object"]["metadata"]["resourceVersion"]) >= target
        wait_for(advanced, WAIT, 0, "bookmark past an unrelated write")
        plain = self.watch(wpath(ns) + f"?watch=1&resourceVersion={list_rv}")
        with self.assertRaises(TimeoutError):
            plain.next(1.0)   # without allowWatchBookmarks: nothing

    def test_timeout_seconds_ends_stream_normally(self):
        ns = self.make_ns()
        rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.ks.port, timeout=WAIT)
        conn.request("GET", wpath(ns) + f"?watch=1&timeoutSeconds=1&resourceVersion={rv}",
                     headers={"Authorization": "Bearer kubesim-admin"})
        resp = conn.getresponse()
        body = resp.read()   # raises IncompleteRead if the final chunk is missing
        self.assertEqual(body, b"")
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        # Keep-alive: the same connection serves another request.
        conn.request("GET", "/version", headers={"Authorization": "Bearer kubesim-admin"})
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()


    def test_expired_resource_version_gives_error_event(self):
        ns = self.make_ns()
        old = self.create_widget(ns, "a")["metadata"]["resourceVersion"]
        self.create_widget(ns, "b")
        r = self.c.post("/kubesim/compact", {})
        self.assertEqual(r.status, 200)
        floor = r.body["compactedResourceVersion"]
        w = self.watch(wpath(ns) + f"?watch=1&resourceVersion={old}")
        self.assertEqual(w.status, 200)
        ev = w.next()
        self.assertEqual(ev, {"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"too old resource version: {old} ({floor})", "reason": "Expired",
            "code": 410}})
        self.assertIsNone(w.next(), "stream closes after the ERROR event")
        # Watching from the compaction point itself still works.
        w2 = self.watch(wpath(ns) + f"?watch=1&resourceVersion={floor}")
        self.create_widget(ns, "c")
        self.assertEqual(w2.events_until(lambda e: True)[0]["object"]["metadata"]["name"], "c")

    def test_send_initial_events_is_rejected(self):
        ns = self.make_ns()
        r = self.c.get(wpath(ns) + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                       "&resourceVersionMatch=NotOlderThan&resourceVersion=")
        body = self.assertStatus(r, 422, "Invalid")
        self.assertIn("sendInitialEvents is forbidden for watch unless the WatchList feature "
                      "gate is enabled", body["message"])

    def test_label_selector_transitions(self):
        ns = self.make_ns()
        self.create_widget(ns, "a", labels={"app": "x"})
        rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        w = self.watch(wpath(ns) + f"?watch=1&labelSelector=app%3Dx&resourceVersion={rv}")
        self.create_widget(ns, "other", labels={"app": "y"})
        self.c.patch(wpath(ns, "a"), {"metadata": {"labels": {"app": "y"}}})   # leaves
        self.c.patch(wpath(ns, "other"), {"metadata": {"labels": {"app": "x"}}})  # enters
        self.c.patch(wpath(ns, "other"), {"spec": {"size": 4}})
        evs = w.events_until(lambda e: e["type"] == "MODIFIED")
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("DELETED", "a"), ("ADDED", "other"), ("MODIFIED", "other")])

    def test_namespace_and_field_selector_filters(self):
        ns1, ns2 = self.make_ns(), self.make_ns()
        rv = self.c.get(wpath(ns1)).body["metadata"]["resourceVersion"]
        w_ns = self.watch(wpath(ns1) + f"?watch=1&resourceVersion={rv}")
        w_all = self.watch("/apis/test.ambient-code/v1alpha1/widgets?watch=1&"
                           f"resourceVersion={rv}&fieldSelector=metadata.name%3Dpick")
        self.create_widget(ns2, "skip")
        self.create_widget(ns2, "pick")
        self.create_widget(ns1, "mine")
        ev = w_ns.events_until(lambda e: True)[0]
        self.assertEqual((ev["object"]["metadata"]["namespace"], ev["object"]["metadata"]["name"]),
                         (ns1, "mine"))
        ev = w_all.events_until(lambda e: True)[0]
        self.assertEqual((ev["object"]["metadata"]["namespace"], ev["object"]["metadata"]["name"]),
                         (ns2, "pick"))

    def test_drop_watches(self):
        ns = self.make_ns()
        w = self.watch(wpath(ns) + "?watch=1")
        # The response headers arrive only after the watch is registered.
        self.assertTrue(any(ns in x["path"] for x in
                            self.c.get("/kubesim/watches").body["watches"]))
        r = self.c.post("/kubesim/watches/drop", {"path": ns})
        self.assertEqual(r.body["dropped"], 1)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, OSError)):
            w.resp.read()   # no terminating chunk: an abrupt close

    def test_hold_queues_events_then_sends_them_in_order(self):
        ns = self.make_ns()
        w = self.watch(wpath(ns) + "?watch=1")
        r = self.c.post("/kubesim/watches/hold", {"path": ns})
        self.assertEqual(r.body["held"], 1)
        got = []     # (arrival time, name), read by a thread while we write

        def read():
            for _ in range(41):
                ev = w.next()
                got.append((time.monotonic(), ev["object"]["metadata"]["name"]))
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        for i in range(40):     # under this server's --watch-queue-size
            self.c.post(wpath(ns), widget("h%03d" % i))
        released = time.monotonic()
        r = self.c.post("/kubesim/watches/hold", {"path": ns, "hold": False})
        self.assertEqual(r.body["released"], 1)
        wait_for(lambda: len(got) == 40, what="the held events")
        self.c.post(wpath(ns), widget("after"))     # and flowing again
        reader.join(WAIT)
        self.assertEqual([n for _, n in got], ["h%03d" % i for i in range(40)] + ["after"])
        self.assertGreaterEqual(got[0][0], released, "an event was sent while held")

    def test_slow_watcher_is_closed_without_blocking_writers(self):
        ns = self.make_ns()
        rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        # Open a watch and never read it; keep the receive buffer tiny.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect
        s.connect(("127.0.0.1", self.ks.port))
        s.sendall(f"GET {wpath(ns)}?watch=1&resourceVersion={rv} HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer kubesim-admin\r\n\r\n".encode())
        self.addCleanup(s.close)
        wait_for(lambda: any(ns in x["path"] for x in
                             self.c.get("/kubesim/watches").body["watches"]),
                 what="slow watch registered")
        # Write until the kernel's socket buffers and then the watcher's queue
        # (--watch-queue-size 50) are full; bounded so a bug fails the test.
        big = "x" * 8000

        def registered():
            return any(ns in x["path"] for x in self.c.get("/kubesim/watches").body["watches"])
        start = time.monotonic()
        i = 0
        while registered():
            for _ in range(50):
                r = self.c.post(wpath(ns), widget(f"w{i}", spec={"blob": big}))
                self.assertEqual(r.status, 201)
                i += 1
            self.assertLess(i, 5000, "the slow watch was never closed")
        elapsed = time.monotonic() - start
        # Writers were never blocked by the stuck reader.
        self.assertLess(elapsed / i, 0.1, f"{i} writes took {elapsed:.1f}s")

    def test_fan_out_to_many_watchers(self):
        ns = self.make_ns()
        rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        watches = [self.watch(wpath(ns) + f"?watch=1&resourceVersion={rv}") for _ in range(30)]
        for i in range(20):
            self.create_widget(ns, f"w{i}")
        results = [None] * len(watches)

        def drain(i, w):
            results[i] = [e["object"]["metadata"]["name"] for e in
                          w.events_until(lambda e: e["object"]["metadata"]["name"] == "w19")]
        threads = [threading.Thread(target=drain, args=(i, w)) for i, w in enumerate(watches)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        expected = [f"w{i}" for i in range(20)]
        for r in results:
            self.assertEqual(r, expected)

    def test_watch_rv_in_body_is_json_per_line(self):
        ns = self.make_ns()
        self.create_widget(ns, "a")
        conn = http.client.HTTPConnection("127.0.0.1", self.ks.port, timeout=WAIT)
        conn.request("GET", wpath(ns) + "?watch=1&timeoutSeconds=1",
                     headers={"Authorization": "Bearer kubesim-admin"})
        data = conn.getresponse().read()
        lines = data.split(b"\n")
        self.assertEqual(lines[-1], b"")
        self.assertEqual(json.loads(lines[0])["type"], "ADDED")
        conn.close()


class DefaultBookmarkIntervalTest(KubesimTest):
    """With the default (long) bookmark interval, a short watch still gets
    one bookmark right before its timeout, like the watch cache's."""

    def test_final_bookmark_before_timeout(self):
        ns = self.make_ns()
        self.create_widget(ns, "a")
        w = self.watch(wpath(ns) + "?watch=1&timeoutSeconds=1&allowWatchBookmarks=true")
        types = []
        while True:
            ev = w.next()
            if ev is None:
                break
            types.append(ev["type"])
        self.assertEqual(types, ["ADDED", "BOOKMARK"])


class WatchAfterDropTest(KubesimTest):
    """A client that re-watches from its last RV after a drop sees no gap."""

    def test_rewatch_after_drop(self):
        ns = self.make_ns()
        rv = self.c.get(wpath(ns)).body["metadata"]["resourceVersion"]
        w = Watch(self.ks.port, wpath(ns) + f"?watch=1&resourceVersion={rv}")
        self.addCleanup(w.close)
        self.create_widget(ns, "a")
        last = w.events_until(lambda e: True)[0]["object"]["metadata"]["resourceVersion"]
        self.c.post("/kubesim/watches/drop", {})
        self.create_widget(ns, "b")
        w2 = self.watch(wpath(ns) + f"?watch=1&resourceVersion={last}")
        ev = w2.events_until(lambda e: True)[0]
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "b"))


if __name__ == "__main__":
    main()
