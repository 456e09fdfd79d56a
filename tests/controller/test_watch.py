#!/usr/bin/python3
"""Informers against broken watches: streams cut mid-flight resume without
losing events; when the resume point has been compacted away (410) the
informer relists, and what was deleted meanwhile is noticed (a child Secret
deleted by hand is recreated; a deleted Widget leaves the cache); a watch or
list throttled with Retry-After is not tried again before that time; a
list in pages asks for each page once (the next while the current one is
read), and one whose continue token expires midway starts again."""
import threading
import time

from ctlharness import WAIT, ControllerTest, harness, main, reconciled, wait_until

WIDGETS_GR = "widgets.test.ambient-code"


class WatchDropped(ControllerTest):
    def test_no_event_lost_across_dropped_watches(self):
        amb = self.start()
        k = self.kube
        ns = k.make_ns()
        k.wait_watching()
        k.wait_watching((WIDGETS_GR,))
        restarts0 = amb.metric("ambient_watch_restarts_total", resource="widgets")
        created, stop = [], threading.Event()
        errors = []

        def creator():
            # Widgets are created all along, so some land right around each cut.
            i = 0
            while not stop.is_set() and i < 300:
                name = "d%03d" % i
                try:
                    k.create_widget(ns, name)
                    created.append(name)
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    return
                i += 1
                time.sleep(0.02)
        t = threading.Thread(target=creator)
        t.start()
        try:
            drops, rewatch = 0, []
            for _ in range(5):
                # Cut only a live stream that has carried events.
                wait_until(lambda: len(created) >= 5 * (drops + 1), WAIT, 0.01, "some creations")
                before = amb.metric("ambient_watch_restarts_total", resource="widgets")
                n = k.drop_watches("/widgets")
                self.assertGreaterEqual(n, 1)
                t_drop = time.monotonic()
                drops += 1
                wait_until(lambda: amb.metric("ambient_watch_restarts_total",
                                              resource="widgets") > before,
                           WAIT, 0.02, "the widgets watch re-opened")
                rewatch.append(time.monotonic() - t_drop)
                # The dropped stream is gone from kubesim long before this.
                k.wait_watching((WIDGETS_GR,))
        finally:
            stop.set()
            t.join(WAIT)
        self.assertEqual(errors, [])
        self.assertGreater(len(created), 25)
        # A healthy stream that breaks is re-opened promptly (a jittered
        # 0.4-0.8 s), not after a backoff that grows with every cut.
        self.assertLess(max(rewatch), 3.0, "re-watch delays %s" % ["%.2f" % x for x in rewatch])

        def all_reconciled():
            items = {w["metadata"]["name"]: w for w in k.list_widgets()
                     if w["metadata"]["namespace"] == ns}
            missing = [n for n in created if not reconciled(items.get(n))]
            return not missing
        wait_until(all_reconciled, 60, 0.2, "every widget created across the drops reconciled")
        self.assertGreaterEqual(amb.metric("ambient_watch_restarts_total", resource="widgets"),
                                restarts0 + 5)
        self.assertEqual(amb.metric("ambient_cache_objects", resource="widgets"), len(created))
        amb.stop_clean(self)


class ExpiredResourceVersion(ControllerTest):
    def test_relist_after_410_sees_deletions(self):
        amb = self.start()
        k = self.kube
        ns = k.make_ns()
        k.create_widget(ns, "keep")
        k.create_widget(ns, "gone")
        self.wait_reconciled(ns, "keep")
        self.wait_reconciled(ns, "gone")
        child = wait_until(lambda: k.get_secret(ns, "keep-child"), WAIT, 0.05, "child secret")
        wait_until(lambda: amb.metric("ambient_cache_objects", resource="widgets") == 2, WAIT, 0.05,
                   "2 widgets cached")
        k.wait_watching()

        # Disconnect: every watch request now fails, and the open streams are cut.
        k.faults_add(status=503, verb="watch")
        self.assertGreaterEqual(k.drop_watches(), 2)
        wait_until(lambda: not k.watches(), WAIT, 0.05, "no watch open")
        # Meanwhile: a child secret deleted by hand, a widget deleted.
        r = k.c.delete("/api/v1/namespaces/%s/secrets/keep-child" % ns)
        self.assertEqual(r.status, 200, r)
        r = k.c.delete("/apis/test.ambient-code/v1alpha1/namespaces/%s/widgets/gone" % ns)
        self.assertIn(r.status, (200, 202), r)
        # The history that would let the watches resume is compacted away.
        k.compact()
        # Still disconnected: nothing has been noticed.
        self.assertEqual(amb.metric("ambient_cache_objects", resource="widgets"), 2)
        self.assertEqual(amb.has_msg("resourceVersion expired; relisting"), [])
        k.faults_clear()

        amb.wait_msg("resourceVersion expired; relisting", resource="widgets")
        amb.wait_msg("resourceVersion expired; relisting", resource="secrets")
        fresh = wait_until(lambda: k.get_secret(ns, "keep-child"), WAIT, 0.05,
                           "the deleted child secret recreated")
        self.assertNotEqual(fresh["metadata"]["uid"], child["metadata"]["uid"])
        wait_until(lambda: amb.metric("ambient_cache_objects", resource="widgets") == 1, WAIT, 0.05,
                   "the deleted widget gone from the cache")
        self.assertTrue(reconciled(k.get_widget(ns, "keep")))
        amb.stop_clean(self)


class Paged(ControllerTest):
    PAGE = 4
    LISTS = "/apis/test.ambient-code/v1alpha1/widgets"

    def widgets_now(self, count):
        ns = self.kube.make_ns()
        for i in range(count):
            self.kube.create_widget(ns, "p%02d" % i)
        return len(self.kube.list_widgets())

    def list_requests(self):
        return [r for r in self.kube.requests(self.LISTS) if r["verb"] == "list"]

    def test_each_page_asked_once(self):
        total = self.widgets_now(4 * self.PAGE + 3)
        self.kube.forget_requests()
        amb = self.start(controller_extra="list_page_size = %d;" % self.PAGE)
        wait_until(lambda: amb.metric("ambient_cache_objects", resource="widgets") == total,
                   WAIT, 0.05, "every widget cached")
        self.assertEqual(len(self.list_requests()), -(-total // self.PAGE))
        amb.stop_clean(self)

    def test_continue_expired_midway_lists_again(self):
        k = self.kube
        total = self.widgets_now(4 * self.PAGE + 3)
        k.forget_requests()
        # Slow lists: the second page is held long enough to expire its token.
        k.faults_add(latencyMs=400, verb="list", path=self.LISTS, count=2)
        amb = self.start(controller_extra="list_page_size = %d;" % self.PAGE, wait_synced=False)
        wait_until(lambda: len(self.list_requests()) >= 2, WAIT, 0.01, "the second page asked")
        k.create_widget(k.make_ns(), "late")
        k.compact()
        amb.wait_msg("list failed", resource="widgets")
        wait_until(lambda: amb.metric("ambient_cache_objects", resource="widgets") == total + 1,
                   WAIT, 0.05, "every widget cached")
        self.assertEqual(len(amb.has_msg("cache synced", resource="widgets")), 1)
        amb.stop_clean(self)


class Throttled(ControllerTest):
    EVERYWHERE = "/apis/test.ambient-code/v1alpha1/widgets"

    def assert_waited(self, want):
        """The throttled requests to the widgets collection (verb, status,
        Retry-After) were each made again, not sooner than asked."""
        pairs = harness.throttled_retries(self.kube.requests(self.EVERYWHERE))
        self.assertEqual(sorted((f["verb"], f["fault"], f["retryAfterSeconds"]) for f, _ in pairs),
                         sorted(want))
        for fault, again in pairs:
            self.assertIsNotNone(again, fault)
            self.assertGreaterEqual(again["at"] - fault["at"], fault["retryAfterSeconds"],
                                    "%s retried %.3f s after Retry-After: %d" % (
                                        fault["verb"], again["at"] - fault["at"],
                                        fault["retryAfterSeconds"]))

    def then_throttle(self, verb):
        """Once the first throttle was answered, the next such request gets
        503 with Retry-After: 1 (every matching rule would count a request
        against itself, so the second rule is added only now)."""
        k = self.kube
        wait_until(lambda: not k.faults(), WAIT, 0.02, "the first %s throttled" % verb)
        k.faults_add(status=503, retryAfterSeconds=1, count=1, verb=verb, path=self.EVERYWHERE)

    def test_list_waits_its_retry_after(self):
        k = self.kube
        ns = k.make_ns()
        k.create_widget(ns, "early")
        k.forget_requests()
        # The first list is throttled twice: 429 as API Priority and
        # Fairness sends it (Retry-After: 2), then 503 with Retry-After: 1.
        k.faults_add(status=429, retryAfterSeconds=2, count=1, plainText=True, verb="list",
                     path=self.EVERYWHERE)
        amb = self.start(wait_synced=False)
        self.then_throttle(verb="list")
        amb.wait_msg("cache synced", resource="widgets")
        self.wait_reconciled(ns, "early")
        self.assertEqual(k.faults(), [])
        self.assert_waited([("list", 429, 2), ("list", 503, 1)])
        self.assertEqual(len(amb.has_msg("list failed", resource="widgets")), 2)
        self.assertEqual(amb.metric("ambient_kube_throttled_total", verb="LIST"), 2)
        amb.stop_clean(self)

    def test_watch_waits_its_retry_after(self):
        amb = self.start()
        k = self.kube
        ns = k.make_ns()
        k.wait_watching((WIDGETS_GR,))
        k.forget_requests()
        # The widgets watch is cut and re-opening it is throttled twice.
        k.faults_add(status=429, retryAfterSeconds=2, count=1, plainText=True, verb="watch",
                     path=self.EVERYWHERE)
        self.assertGreaterEqual(k.drop_watches(self.EVERYWHERE), 1)
        self.then_throttle(verb="watch")
        wait_until(lambda: not k.faults(), WAIT, 0.05, "the second throttle hit")
        k.wait_watching((WIDGETS_GR,))
        k.create_widget(ns, "after")
        self.wait_reconciled(ns, "after")
        self.assert_waited([("watch", 429, 2), ("watch", 503, 1)])
        self.assertEqual(amb.metric("ambient_kube_throttled_total", verb="WATCH"), 2)
        amb.stop_clean(self)

if __name__ == "__main__":
    main()
