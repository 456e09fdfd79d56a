"""GET and LIST of the generic kind routes answered from the api role's own
watch (api/read_cache.c): the same JSON as Kubernetes', no Kubernetes
request once cached, read-your-writes for writes made through the api,
a dropped watch and a 410 relist that keep it right, paging 1,000 objects
with limit/continue, and the bound past which a kind goes to Kubernetes
again. alice is the project's admin. Run with /usr/bin/python3."""
import json
import unittest

from apiharness import ADMIN, ALICE, ApiTest, Cluster, uniq, wait_until  # noqa: F401

GROUP = "/apis/vteam.ambient-code/v1alpha1"
AV = "vteam.ambient-code/v1alpha1"


def compact(obj):
    """What the api answered before the cache: jansson's compact dump of
    the object Kubernetes returned, in its order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class CacheTest(ApiTest):
    # Many reads in a row: no rate limit.
    cluster_args = {"live": False, "api_conf": "rate_limit = { requests_per_second = 0; };"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ns = cls.cluster.make_project(admins=["alice"], viewers=())

    def path(self, name=""):
        p = f"/api/projects/{self.ns}/agentic-sessions"
        return p + "/" + name if name else p

    def kube_path(self, name=""):
        p = f"{GROUP}/namespaces/{self.ns}/agenticsessions"
        return p + "/" + name if name else p

    def get(self, path, token=ALICE):
        return self.cluster.rest("GET", path, token=token)

    def requests(self):
        return self.cluster.ok(self.cluster.kube.get("/kubesim/requests"), 200)["requests"]

    def forget_requests(self):
        self.cluster.ok(self.cluster.kube.delete("/kubesim/requests"), 200)

    def served_from_cache(self, path):
        """True once a GET of path costs Kubernetes nothing."""
        self.forget_requests()
        ok = self.get(path).status == 200
        return ok and not self.requests()

    def list_all(self, limit):
        """Every item of the namespace through the api, page by page."""
        names, token = [], None
        for _ in range(2000):
            q = f"?limit={limit}" + (f"&continue={token}" if token else "")
            body = self.assertStatus(self.get(self.path() + q), 200)
            names += [it["metadata"]["name"] for it in body["items"]]
            if not body["hasMore"]:
                return names
            token = body["continue"]
        raise AssertionError("listing did not end")

    def make(self, name):
        return self.cluster.make_session(self.ns, name)


class SameAnswers(CacheTest):
    def test_get_and_list_answer_kubernetes_json_without_asking_it(self):
        name = self.make(uniq("s"))["name"]
        wait_until(lambda: self.served_from_cache(self.path(name)), what="the cache has it")
        direct = self.cluster.ok(self.cluster.kube.get(self.kube_path(name)), 200)
        self.forget_requests()
        for _ in range(20):
            r = self.get(self.path(name))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.raw, compact(direct))
        page = self.assertStatus(self.get(self.path() + "?limit=500"), 200)
        self.assertEqual(self.requests(), [], "GET and LIST asked Kubernetes")
        listed = self.cluster.ok(self.cluster.kube.get(self.kube_path()), 200)
        want = [dict(it, apiVersion=AV, kind="AgenticSession") for it in listed["items"]]
        self.assertEqual(page, {"items": want, "limit": 500, "hasMore": False})

    def test_401_403_404_as_before(self):
        name = self.make(uniq("s"))["name"]
        wait_until(lambda: self.served_from_cache(self.path(name)), what="the cache has it")
        self.assertEqual(self.cluster.rest("GET", self.path(name)).status, 401)
        r = self.get(self.path(name), token="carol-token")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.body["error"],
                         f'carol cannot get session "{name}" in project "{self.ns}"')
        r = self.get(self.path("nobody-here"))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.body["error"], 'session "nobody-here" not found')

    def test_continue_tokens(self):
        self.assertEqual(self.get(self.path() + "?continue=rc1:x:y").status, 400)
        r = self.get(self.path() + "?continue=rc1:12:Bad_Name")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.body["details"][0]["field"], "continue")


class ReadYourWrites(CacheTest):
    def tearDown(self):
        self.cluster.ok(self.cluster.kube.post("/kubesim/watches/delay", {"ms": 0}), 200)

    def test_own_writes_are_read_at_once(self):
        # The cache's watch lags 150 ms behind every write, and half the
        # rounds begin with it cut, so the cache is behind or resyncing
        # whenever the caller reads.
        self.cluster.ok(self.cluster.kube.post("/kubesim/watches/delay", {"ms": 150}), 200)
        for i in range(20):
            if i % 2:
                self.cluster.ok(self.cluster.kube.post(
                    "/kubesim/watches/drop", {"path": "agenticsessions"}), 200)
            name = uniq("r")
            self.assertStatus(self.cluster.rest(
                "POST", self.path(), token=ALICE,
                body={"metadata": {"name": name}, "spec": {"prompt": "p"}}), 201)
            self.assertStatus(self.get(self.path(name)), 200)
            listed = self.assertStatus(self.get(self.path() + "?limit=500"), 200)
            self.assertIn(name, [it["metadata"]["name"] for it in listed["items"]])
            self.assertStatus(self.cluster.rest(
                "PATCH", self.path(name), token=ALICE, ctype="application/merge-patch+json",
                body={"metadata": {"labels": {"round": str(i)}}}), 200)
            got = self.assertStatus(self.get(self.path(name)), 200)
            self.assertEqual(got["metadata"]["labels"]["round"], str(i))
            self.assertStatus(self.cluster.rest("DELETE", self.path(name), token=ALICE), 200)
            self.assertEqual(self.get(self.path(name)).status, 404)
            listed = self.assertStatus(self.get(self.path() + "?limit=500"), 200)
            self.assertNotIn(name, [it["metadata"]["name"] for it in listed["items"]])


class BehindTheApi(CacheTest):
    def test_deleted_behind_the_api_disappears(self):
        name = self.make(uniq("s"))["name"]
        wait_until(lambda: self.served_from_cache(self.path(name)), what="the cache has it")
        self.cluster.ok(self.cluster.kube.delete(self.kube_path(name)), 200)
        wait_until(lambda: self.get(self.path(name)).status == 404, what="the GET's 404")
        wait_until(lambda: name not in self.list_all(500), what="the list without it")

    def test_a_dropped_watch_and_a_410_relist_keep_it_right(self):
        kept = self.make(uniq("k"))["name"]
        gone = self.make(uniq("g"))["name"]
        wait_until(lambda: self.served_from_cache(self.path(gone)), what="the cache has it")
        # Changes while the watch is cut, then the history it would resume
        # from compacted away: the cache must list again (410).
        self.cluster.ok(self.cluster.kube.delete("/kubesim/faults"), 200)
        self.cluster.ok(self.cluster.kube.post(
            "/kubesim/faults", {"status": 503, "verb": "watch", "count": 2}), 201)
        self.cluster.ok(self.cluster.kube.post(
            "/kubesim/watches/drop", {"path": "agenticsessions"}), 200)
        self.cluster.ok(self.cluster.kube.delete(self.kube_path(gone)), 200)
        new = self.make(uniq("n"))["name"]
        self.cluster.ok(self.cluster.kube.post("/kubesim/compact", {}), 200)
        wait_until(lambda: self.cluster.ok(self.cluster.kube.get("/kubesim/faults"), 200)
                   ["faults"] == [], what="the watch retried")
        want = {kept, new}
        wait_until(lambda: want <= set(self.list_all(500)) and gone not in self.list_all(500),
                   what="the relisted cache")
        wait_until(lambda: self.served_from_cache(self.path(new)), what="served from the cache")
        self.assertEqual(self.get(self.path(gone)).status, 404)


class Paging(CacheTest):
    def test_1000_objects_each_exactly_once(self):
        names = sorted(self.make("p-%04d" % i)["name"] for i in range(1000))
        wait_until(lambda: len(self.list_all(500)) >= 1000, what="the cache has them all")
        self.forget_requests()
        for limit in (100, 333):
            self.assertEqual(self.list_all(limit), names, "limit %d" % limit)
        self.assertEqual(self.requests(), [], "the pages asked Kubernetes")
        # A listing goes on while objects come and go: every object that
        # stays is listed once.
        first = self.assertStatus(self.get(self.path() + "?limit=400"), 200)
        self.cluster.ok(self.cluster.kube.delete(self.kube_path("p-0000")), 200)
        self.make("p-9999")
        seen = [it["metadata"]["name"] for it in first["items"]]
        token = first["continue"]
        while token:
            page = self.assertStatus(self.get(self.path() + "?limit=400&continue=" + token), 200)
            seen += [it["metadata"]["name"] for it in page["items"]]
            token = page.get("continue")
        self.assertEqual(len(seen), len(set(seen)))
        self.assertLessEqual(set(names[1:]), set(seen))


class OverItsBound(ApiTest):
    cluster_args = {"live": False, "api_conf": "read_cache = { max_objects = 3; };"}

    def test_a_kind_past_the_bound_is_read_from_kubernetes(self):
        c = self.cluster
        ns = c.make_project(admins=["alice"], viewers=())
        names = [c.make_session(ns)["name"] for _ in range(5)]
        wait_until(lambda: "max_objects" in c.log_text(), what="the warning")
        for name in names:
            c.ok(c.kube.delete("/kubesim/requests"), 200)
            r = c.rest("GET", f"/api/projects/{ns}/agentic-sessions/{name}", token=ALICE)
            self.assertEqual(r.status, 200, r)
            seen = c.ok(c.kube.get("/kubesim/requests"), 200)["requests"]
            self.assertTrue([q for q in seen if q["path"].endswith("/" + name)], seen)
        r = c.rest("GET", f"/api/projects/{ns}/agentic-sessions?limit=2", token=ALICE)
        self.assertEqual(len(self.assertStatus(r, 200)["items"]), 2)
        self.assertNotIn("rc1:", r.body.get("continue", ""))


if __name__ == "__main__":
    unittest.main()
