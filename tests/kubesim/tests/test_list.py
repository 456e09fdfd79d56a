#!/usr/bin/python3
"""LIST semantics over raw HTTP: list RV, limit/continue as a consistent
snapshot, remainingItemCount, exact-RV lists, expired continue tokens and
RVs (410), too-large RVs (504), and the performance budget: 10,000 objects
of ~2 KiB, paginated lists of 500, 200+ writes/s."""

import threading
import time
import urllib.parse

from harness import Client, KubesimTest, main, widget, wpath


def page(c, path, **q):
    r = c.get(path + "?" + urllib.parse.urlencode(q))
    assert r.status == 200, r
    return r.body


class ListTest(KubesimTest):
    def names(self, body):
        return [i["metadata"]["name"] for i in body["items"]]

    def test_list_resource_version_and_items(self):
        ns = self.make_ns()
        for n in ("b", "a", "c"):
            self.create_widget(ns, n)
        body = page(self.c, wpath(ns))
        self.assertEqual(body["kind"], "WidgetList")
        self.assertEqual(body["apiVersion"], "test.ambient-code/v1alpha1")
        self.assertEqual(self.names(body), ["a", "b", "c"])
        self.assertNotIn("continue", body["metadata"])
        rv = int(body["metadata"]["resourceVersion"])
        self.assertGreaterEqual(rv, max(int(i["metadata"]["resourceVersion"])
                                        for i in body["items"]))
        for item in body["items"]:
            self.assertEqual(item["kind"], "Widget")

    def test_pagination_is_a_consistent_snapshot(self):
        ns = self.make_ns()
        for i in range(25):
            self.create_widget(ns, f"w{i:02d}")
        first = page(self.c, wpath(ns), limit=10)
        self.assertEqual(len(first["items"]), 10)
        self.assertEqual(first["metadata"]["remainingItemCount"], 15)
        snap_rv = first["metadata"]["resourceVersion"]
        # Changes after the first page must not show up in later pages.
        self.c.delete(wpath(ns, "w15"))
        self.create_widget(ns, "w99")
        self.c.patch(wpath(ns, "w20"), {"spec": {"size": 42}})
        seen = self.names(first)
        token = first["metadata"]["continue"]
        while token:
            body = page(self.c, wpath(ns), limit=10, **{"continue": token})
            self.assertEqual(body["metadata"]["resourceVersion"], snap_rv)
            seen += self.names(body)
            for item in body["items"]:
                if item["metadata"]["name"] == "w20":
                    self.assertEqual(item["spec"], {"size": 1})
            token = body["metadata"].get("continue")
        self.assertEqual(seen, [f"w{i:02d}" for i in range(25)])

    def test_continue_with_resource_version_is_bad_request(self):
        ns = self.make_ns()
        for i in range(3):
            self.create_widget(ns, f"w{i}")
        first = page(self.c, wpath(ns), limit=1)
        r = self.c.get(wpath(ns) + "?" + urllib.parse.urlencode(
            {"limit": 1, "continue": first["metadata"]["continue"], "resourceVersion": "5"}))
        self.assertStatus(r, 400, "BadRequest")

    def test_continue_token_rebuilt_from_history(self):
        """Snapshots are a cache: a token still inside the history works even
        after many other lists evicted its snapshot."""
        ns = self.make_ns()
        for i in range(6):
            self.create_widget(ns, f"w{i}")
        first = page(self.c, wpath(ns), limit=2)
        for _ in range(80):
            page(self.c, wpath(ns), limit=1)
        self.c.delete(wpath(ns, "w3"))
        body = page(self.c, wpath(ns), limit=10, **{"continue": first["metadata"]["continue"]})
        self.assertEqual(self.names(body), ["w2", "w3", "w4", "w5"])

    def test_expired_continue_token(self):
        ns = self.make_ns()
        for i in range(5):
            self.create_widget(ns, f"w{i}")
        first = page(self.c, wpath(ns), limit=2)
        self.c.delete(wpath(ns, "w3"))
        self.c.post("/kubesim/compact", {})
        r = self.c.get(wpath(ns) + "?" + urllib.parse.urlencode(
            {"limit": 2, "continue": first["metadata"]["continue"]}))
        self.assertEqual(r.status, 410, r)
        body = r.body
        self.assertEqual((body["kind"], body["status"], body["reason"], body["code"]),
                         ("Status", "Failure", "Expired", 410))
        self.assertTrue(body["message"].startswith(
            "The provided continue parameter is too old to display a consistent list result."))
        fresh = body["metadata"]["continue"]
        rest = page(self.c, wpath(ns), limit=10, **{"continue": fresh})
        self.assertEqual(self.names(rest), ["w2", "w4"], "inconsistent continuation from now")

    def test_exact_resource_version_list(self):
        ns = self.make_ns()
        self.create_widget(ns, "a")
        rv = page(self.c, wpath(ns))["metadata"]["resourceVersion"]
        self.create_widget(ns, "b")
        self.c.delete(wpath(ns, "a"))
        old = page(self.c, wpath(ns), limit=10, resourceVersion=rv)
        self.assertEqual(self.names(old), ["a"])
        self.assertEqual(old["metadata"]["resourceVersion"], rv)
        old = page(self.c, wpath(ns), resourceVersion=rv, resourceVersionMatch="Exact")
        self.assertEqual(self.names(old), ["a"])
        # NotOlderThan / "0" serve the current state.
        self.assertEqual(self.names(page(self.c, wpath(ns), resourceVersion=rv)), ["b"])
        self.assertEqual(self.names(page(self.c, wpath(ns), resourceVersion="0", limit=5)), ["b"])
        self.c.post("/kubesim/compact", {})
        r = self.c.get(wpath(ns) + f"?limit=10&resourceVersion={rv}")
        self.assertStatus(r, 410, "Expired", "The resourceVersion for the provided list is too old.")

    def test_too_large_resource_version(self):
        ns = self.make_ns()
        cur = int(page(self.c, wpath(ns))["metadata"]["resourceVersion"])
        start = time.monotonic()
        r = self.c.get(wpath(ns) + f"?resourceVersion={cur + 1000}")
        body = self.assertStatus(r, 504, "Timeout")
        self.assertTrue(body["message"].startswith(f"Too large resource version: {cur + 1000}"))
        self.assertEqual(body["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")
        self.assertLess(time.monotonic() - start, 10)

    def test_list_across_namespaces(self):
        ns1, ns2 = self.make_ns(), self.make_ns()
        self.create_widget(ns1, "x")
        self.create_widget(ns2, "x")
        body = page(self.c, "/apis/test.ambient-code/v1alpha1/widgets")
        pairs = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]]
        self.assertIn((ns1, "x"), pairs)
        self.assertIn((ns2, "x"), pairs)
        self.assertEqual(pairs, sorted(pairs))


class PerformanceTest(KubesimTest):
    N = 10000

    def test_ten_thousand_objects(self):
        ns = self.make_ns()
        blob = "x" * 1700    # ~2 KiB per stored object with metadata
        errors = []
        t0 = time.monotonic()

        def writer(start, count):
            c = Client(self.ks.port)
            for i in range(start, start + count):
                r = c.post(wpath(ns), widget(f"w{i:05d}", spec={"blob": blob, "i": i},
                                             labels={"bucket": str(i % 10)}))
                if r.status != 201:
                    errors.append(r)
            c.close()
        threads = [threading.Thread(target=writer, args=(k * 2500, 2500)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        elapsed = time.monotonic() - t0
        self.assertEqual(errors, [])
        rate = self.N / elapsed
        print(f"\n  {self.N} creates in {elapsed:.1f}s = {rate:.0f} writes/s", flush=True)
        self.assertGreater(rate, 200)

        t0 = time.monotonic()
        token, total, pages, worst = None, 0, 0, 0.0
        while True:
            q = {"limit": 500}
            if token:
                q["continue"] = token
            p0 = time.monotonic()
            body = page(self.c, wpath(ns), **q)
            worst = max(worst, time.monotonic() - p0)
            total += len(body["items"])
            pages += 1
            token = body["metadata"].get("continue")
            if not token:
                break
        elapsed = time.monotonic() - t0
        print(f"  paginated list: {pages} pages of 500 in {elapsed:.2f}s "
              f"(slowest page {worst * 1000:.0f} ms)", flush=True)
        self.assertEqual(total, self.N)
        self.assertLess(worst, 1.0)
        self.assertLess(elapsed, 15)

        t0 = time.monotonic()
        body = page(self.c, wpath(ns), labelSelector="bucket=3")
        self.assertEqual(len(body["items"]), self.N // 10)
        t0 = time.monotonic() - t0
        t1 = time.monotonic()
        body = page(self.c, wpath(ns))
        t1 = time.monotonic() - t1
        self.assertEqual(len(body["items"]), self.N)
        print(f"  selector list {t0 * 1000:.0f} ms, full list {t1 * 1000:.0f} ms", flush=True)
        self.assertLess(t1, 5)


if __name__ == "__main__":
    main()
