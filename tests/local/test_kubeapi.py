"""The local Kubernetes API of laptop mode (local/) against what Ambient and
kubectl rely on: CRUD, conflicts, status and generation, watch resume and
410, cascades, finalizers, namespaces, RBAC for a session's runner token,
concurrent writers, pagination and selectors, and its bounds. Where handy
the same requests go to kubesim and must get the same answers."""
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localkube import LocalKube, harness  # noqa: E402

CM = "/api/v1/namespaces/{ns}/configmaps"
AS = "/apis/vteam.ambient-code/v1alpha1/namespaces/{ns}/agenticsessions"
RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
uniq = harness.uniq


class LocalKubeTest(unittest.TestCase):
    extra = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="localkube-")
        cls.lk = LocalKube(os.path.join(cls.tmp, "data"), *cls.extra)
        cls.c = cls.lk.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.lk.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def namespace(self):
        ns = uniq("ns")
        r = self.c.post("/api/v1/namespaces", {"metadata": {"name": ns}})
        self.assertEqual(r.status, 201, r)
        return ns

    def session(self, ns, name, **spec):
        r = self.c.post(AS.format(ns=ns), {"apiVersion": "vteam.ambient-code/v1alpha1",
                                           "kind": "AgenticSession",
                                           "metadata": {"name": name},
                                           "spec": dict({"prompt": "hi"}, **spec)})
        self.assertEqual(r.status, 201, r)
        return r.body


class Crud(LocalKubeTest):
    def test_create_get_list_update_delete(self):
        ns = self.namespace()
        r = self.c.post(CM.format(ns=ns), {"metadata": {"name": "a"}, "data": {"k": "v"}})
        self.assertEqual(r.status, 201, r)
        meta = r.body["metadata"]
        self.assertTrue(meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"])
        self.assertEqual((r.body["kind"], r.body["apiVersion"]), ("ConfigMap", "v1"))
        got = self.c.get(CM.format(ns=ns) + "/a")
        self.assertEqual((got.status, got.body["data"]), (200, {"k": "v"}))
        lst = self.c.get(CM.format(ns=ns))
        self.assertEqual(lst.body["kind"], "ConfigMapList")
        self.assertEqual([i["metadata"]["name"] for i in lst.body["items"]], ["a"])
        self.assertGreaterEqual(int(lst.body["metadata"]["resourceVersion"]),
                                int(meta["resourceVersion"]))
        obj = got.body
        obj["data"] = {"k": "w"}
        up = self.c.put(CM.format(ns=ns) + "/a", obj)
        self.assertEqual((up.status, up.body["data"]["k"]), (200, "w"))
        self.assertGreater(int(up.body["metadata"]["resourceVersion"]),
                           int(meta["resourceVersion"]))
        d = self.c.delete(CM.format(ns=ns) + "/a")
        self.assertEqual((d.status, d.body["status"]), (200, "Success"), d)
        self.assertEqual(d.body["details"]["uid"], meta["uid"])
        nf = self.c.get(CM.format(ns=ns) + "/a")
        self.assertEqual((nf.status, nf.body["reason"]), (404, "NotFound"))
        self.assertEqual(nf.body["message"], 'configmaps "a" not found')

    def test_generate_name_and_missing_namespace(self):
        ns = self.namespace()
        r = self.c.post(CM.format(ns=ns), {"metadata": {"generateName": "gen-"}})
        self.assertEqual(r.status, 201, r)
        self.assertRegex(r.body["metadata"]["name"], r"^gen-[a-z0-9]{5}$")
        r = self.c.post(CM.format(ns="nope"), {"metadata": {"name": "x"}})
        self.assertEqual((r.status, r.body["message"]), (404, 'namespaces "nope" not found'))
        r = self.c.post(CM.format(ns=ns), {"metadata": {"name": "Bad_Name"}})
        self.assertEqual((r.status, r.body["reason"]), (422, "Invalid"))

    def test_secret_string_data_folds_into_data(self):
        ns = self.namespace()
        r = self.c.post(f"/api/v1/namespaces/{ns}/secrets",
                        {"metadata": {"name": "s"}, "stringData": {"KEY": "value"}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body["data"], {"KEY": "dmFsdWU="})
        self.assertNotIn("stringData", r.body)
        self.assertEqual(r.body["type"], "Opaque")

    def test_unauthenticated_is_401(self):
        r = self.c.get("/api/v1/namespaces", token="")
        self.assertEqual((r.status, r.body["reason"]), (401, "Unauthorized"))
        r = self.c.get("/api/v1/namespaces", token="wrong-token")
        self.assertEqual(r.status, 401)
        self.assertEqual(self.c.get("/version", token="").status, 200)


class Conflicts(LocalKubeTest):
    def test_stale_resource_version_is_409(self):
        ns = self.namespace()
        s = self.session(ns, "s1")
        stale = json.loads(json.dumps(s))
        s["spec"]["prompt"] = "first"
        self.assertEqual(self.c.put(AS.format(ns=ns) + "/s1", s).status, 200)
        stale["spec"]["prompt"] = "second"
        r = self.c.put(AS.format(ns=ns) + "/s1", stale)
        self.assertEqual((r.status, r.body["reason"]), (409, "Conflict"), r)
        self.assertIn("the object has been modified", r.body["message"])
        # A patch carrying a resourceVersion is a precondition too.
        r = self.c.patch(AS.format(ns=ns) + "/s1",
                         {"metadata": {"resourceVersion": stale["metadata"]["resourceVersion"]},
                          "spec": {"prompt": "third"}})
        self.assertEqual(r.status, 409, r)

    def test_duplicate_create_and_unconditional_cr_put(self):
        ns = self.namespace()
        self.session(ns, "dup")
        r = self.c.post(AS.format(ns=ns), {"metadata": {"name": "dup"}, "spec": {}})
        self.assertEqual((r.status, r.body["reason"]), (409, "AlreadyExists"))
        r = self.c.put(AS.format(ns=ns) + "/dup", {"metadata": {"name": "dup"}, "spec": {}})
        self.assertEqual((r.status, r.body["reason"]), (422, "Invalid"), r)
        self.assertIn("must be specified for an update", r.body["message"])

    def test_concurrent_writers_lose_no_increment(self):
        """8 writers each add 1 to a counter 25 times with read-modify-write
        and retry on 409: the counter ends at 200, and conflicts happened."""
        ns = self.namespace()
        path = CM.format(ns=ns) + "/counter"
        self.assertEqual(self.c.post(CM.format(ns=ns), {"metadata": {"name": "counter"},
                                                        "data": {"n": "0"}}).status, 201)
        conflicts, errors = [0], []

        def writer():
            c = self.lk.client()
            try:
                for _ in range(25):
                    for _attempt in range(500):
                        obj = c.get(path).body
                        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
                        r = c.put(path, obj)
                        if r.status == 200:
                            break
                        if r.status != 409:
                            errors.append(r)
                            return
                        conflicts[0] += 1
            finally:
                c.close()

        threads = [threading.Thread(target=writer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=harness.WAIT * 2)
        self.assertEqual(errors, [])
        self.assertEqual(self.c.get(path).body["data"]["n"], "200")
        self.assertGreater(conflicts[0], 0, "the writers never collided")


class StatusAndGeneration(LocalKubeTest):
    def test_status_subresource_and_generation(self):
        ns = self.namespace()
        s = self.session(ns, "g")
        self.assertEqual(s["metadata"]["generation"], 1)
        self.assertNotIn("status", s)
        r = self.c.patch(AS.format(ns=ns) + "/g/status", {"status": {"phase": "Running"},
                                                         "spec": {"prompt": "ignored"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.body["status"]["phase"], r.body["spec"]["prompt"]), ("Running", "hi"))
        self.assertEqual(r.body["metadata"]["generation"], 1)
        # The main resource keeps the stored status.
        obj = r.body
        obj["status"] = {"phase": "Failed"}
        obj["metadata"]["labels"] = {"x": "y"}
        r = self.c.put(AS.format(ns=ns) + "/g", obj)
        self.assertEqual((r.status, r.body["status"]["phase"]), (200, "Running"), r)
        self.assertEqual(r.body["metadata"]["generation"], 1, "metadata is not spec")
        r = self.c.patch(AS.format(ns=ns) + "/g", {"spec": {"prompt": "new"}})
        self.assertEqual(r.body["metadata"]["generation"], 2)
        # A no-op write keeps the resourceVersion.
        again = self.c.patch(AS.format(ns=ns) + "/g", {"spec": {"prompt": "new"}})
        self.assertEqual(again.body["metadata"]["resourceVersion"],
                         r.body["metadata"]["resourceVersion"])

    def test_json_patch_and_strategic_merge(self):
        ns = self.namespace()
        self.session(ns, "p")
        r = self.c.patch(AS.format(ns=ns) + "/p",
                         [{"op": "test", "path": "/spec/prompt", "value": "hi"},
                          {"op": "replace", "path": "/spec/prompt", "value": "jp"}],
                         ctype="application/json-patch+json")
        self.assertEqual((r.status, r.body["spec"]["prompt"]), (200, "jp"), r)
        r = self.c.patch(AS.format(ns=ns) + "/p",
                         [{"op": "test", "path": "/spec/prompt", "value": "no"}],
                         ctype="application/json-patch+json")
        self.assertEqual(r.status, 422, r)
        self.c.post(CM.format(ns=ns), {"metadata": {"name": "c"}, "data": {"a": "1"}})
        r = self.c.patch(CM.format(ns=ns) + "/c",
                         {"$setElementOrder/x": [], "data": {"b": "2"}},
                         ctype="application/strategic-merge-patch+json")
        self.assertEqual((r.status, r.body["data"]), (200, {"a": "1", "b": "2"}), r)
        r = self.c.patch(CM.format(ns=ns) + "/c", {"data": {}}, ctype="text/plain")
        self.assertEqual(r.status, 415)


class Watches(LocalKubeTest):
    extra = ("--history", "40")

    def test_watch_from_now_and_resume(self):
        ns = self.namespace()
        first = self.session(ns, "w1")
        rv = first["metadata"]["resourceVersion"]
        self.c.patch(AS.format(ns=ns) + "/w1/status", {"status": {"phase": "Running"}})
        self.session(ns, "w2")
        self.c.delete(AS.format(ns=ns) + "/w1")
        # Resume after the create: every later event, in order, then live ones.
        w = self.lk.watch(AS.format(ns=ns) + f"?watch=1&resourceVersion={rv}")
        got = w.events_until(lambda e: e["type"] == "DELETED")
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in got],
                         [("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
        self.assertEqual(rvs, sorted(rvs))
        self.session(ns, "w3")
        ev = w.events_until(lambda e: True)[0]
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "w3"))
        w.close()
        # No resourceVersion: the current objects as ADDED.
        w = self.lk.watch(AS.format(ns=ns) + "?watch=1&timeoutSeconds=1")
        names = sorted(e["object"]["metadata"]["name"] for e in
                       w.events_until(lambda e: e["object"]["metadata"]["name"] == "w3"))
        self.assertEqual(names, ["w2", "w3"])
        self.assertIsNone(w.next(10), "timeoutSeconds ends the stream")
        w.close()

    def test_bookmark_before_the_timeout(self):
        ns = self.namespace()
        rv = self.session(ns, "b")["metadata"]["resourceVersion"]
        w = self.lk.watch(AS.format(ns=ns) + f"?watch=1&resourceVersion={rv}"
                          "&allowWatchBookmarks=true&timeoutSeconds=1")
        ev = w.next(10)
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"]["kind"], "AgenticSession")
        self.assertGreaterEqual(int(ev["object"]["metadata"]["resourceVersion"]), int(rv))
        self.assertIsNone(w.next(10))
        w.close()

    def test_too_old_resource_version_is_410(self):
        ns = self.namespace()
        old = self.session(ns, "old")["metadata"]["resourceVersion"]
        for i in range(120):  # past the 40 events of history
            self.c.patch(AS.format(ns=ns) + "/old", {"spec": {"prompt": str(i)}})
        w = self.lk.watch(AS.format(ns=ns) + f"?watch=1&resourceVersion={old}")
        self.assertEqual(w.status, 200)
        ev = w.next(10)
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual((ev["object"]["code"], ev["object"]["reason"]), (410, "Expired"))
        self.assertIsNone(w.next(10))
        w.close()

    def test_resource_version_from_the_future_is_refused(self):
        ns = self.namespace()
        now = int(self.c.get(CM.format(ns=ns)).body["metadata"]["resourceVersion"])
        r = self.c.get(CM.format(ns=ns) + f"?watch=1&resourceVersion={now + 1000}")
        self.assertEqual((r.status, r.body["reason"]), (504, "Timeout"), r)
        self.assertIn("Too large resource version", r.body["message"])

    def test_selectors_filter_watches(self):
        ns = self.namespace()
        w = self.lk.watch(CM.format(ns=ns) + "?watch=1&labelSelector=app%3Dyes&resourceVersion="
                          + self.c.get(CM.format(ns=ns)).body["metadata"]["resourceVersion"])
        self.c.post(CM.format(ns=ns), {"metadata": {"name": "no", "labels": {"app": "no"}}})
        self.c.post(CM.format(ns=ns), {"metadata": {"name": "yes", "labels": {"app": "yes"}}})
        ev = w.events_until(lambda e: True)[0]
        self.assertEqual(ev["object"]["metadata"]["name"], "yes")
        # Starting to match is ADDED, stopping is DELETED.
        self.c.patch(CM.format(ns=ns) + "/no", {"metadata": {"labels": {"app": "yes"}}})
        ev = w.events_until(lambda e: True)[0]
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "no"))
        self.c.patch(CM.format(ns=ns) + "/yes", {"metadata": {"labels": {"app": "gone"}}})
        ev = w.events_until(lambda e: True)[0]
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "yes"))
        w.close()


class Deletes(LocalKubeTest):
    def test_owner_references_cascade(self):
        ns = self.namespace()
        owner = self.session(ns, "owner")
        ref = {"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
               "name": "owner", "uid": owner["metadata"]["uid"], "controller": True}
        for name in ("child1", "child2"):
            self.c.post(CM.format(ns=ns), {"metadata": {"name": name, "ownerReferences": [ref]}})
        self.c.post(f"/api/v1/namespaces/{ns}/serviceaccounts",
                    {"metadata": {"name": "sa", "ownerReferences": [ref]}})
        self.assertEqual(self.c.delete(AS.format(ns=ns) + "/owner").status, 200)
        self.assertEqual(self.c.get(CM.format(ns=ns)).body["items"], [])
        self.assertEqual(self.c.get(f"/api/v1/namespaces/{ns}/serviceaccounts/sa").status, 404)

    def test_jobs_orphan_pods_unless_asked(self):
        ns = self.namespace()
        job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}
        j = self.c.post(f"/apis/batch/v1/namespaces/{ns}/jobs", job)
        self.assertEqual(j.status, 201, j)
        self.assertEqual(j.body["spec"]["template"]["metadata"]["labels"]["job-name"], "j")
        ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "j",
               "uid": j.body["metadata"]["uid"]}
        self.c.post(f"/api/v1/namespaces/{ns}/pods",
                    {"metadata": {"name": "p", "ownerReferences": [ref]},
                     "spec": {"containers": [{"name": "c", "image": "x"}]}})
        self.c.delete(f"/apis/batch/v1/namespaces/{ns}/jobs/j")
        pod = self.c.get(f"/api/v1/namespaces/{ns}/pods/p")
        self.assertEqual(pod.status, 200)
        self.assertNotIn("ownerReferences", pod.body["metadata"])
        j = self.c.post(f"/apis/batch/v1/namespaces/{ns}/jobs", job)
        ref["uid"] = j.body["metadata"]["uid"]
        self.c.post(f"/api/v1/namespaces/{ns}/pods",
                    {"metadata": {"name": "q", "ownerReferences": [ref]},
                     "spec": {"containers": [{"name": "c", "image": "x"}]}})
        self.c.delete(f"/apis/batch/v1/namespaces/{ns}/jobs/j",
                      {"propagationPolicy": "Background"})
        self.assertEqual(self.c.get(f"/api/v1/namespaces/{ns}/pods/q").status, 404)

    def test_finalizers_hold_an_object(self):
        ns = self.namespace()
        self.c.post(CM.format(ns=ns), {"metadata": {"name": "f", "finalizers": ["x.io/hold"]}})
        d = self.c.delete(CM.format(ns=ns) + "/f")
        self.assertEqual(d.status, 200)
        self.assertIn("deletionTimestamp", d.body["metadata"])
        got = self.c.get(CM.format(ns=ns) + "/f")
        self.assertEqual(got.status, 200, "a finalizer keeps it readable")
        r = self.c.patch(CM.format(ns=ns) + "/f",
                         {"metadata": {"finalizers": ["x.io/hold", "x.io/more"]}})
        self.assertEqual(r.status, 422, r)
        w = self.lk.watch(CM.format(ns=ns) + "?watch=1&resourceVersion="
                          + got.body["metadata"]["resourceVersion"])
        r = self.c.patch(CM.format(ns=ns) + "/f", {"metadata": {"finalizers": None}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(w.events_until(lambda e: True)[0]["type"], "DELETED")
        w.close()
        self.assertEqual(self.c.get(CM.format(ns=ns) + "/f").status, 404)

    def test_namespace_delete_removes_its_content(self):
        ns = self.namespace()
        self.session(ns, "s")
        self.c.post(CM.format(ns=ns), {"metadata": {"name": "held", "finalizers": ["x.io/h"]}})
        d = self.c.delete(f"/api/v1/namespaces/{ns}")
        self.assertEqual((d.status, d.body["status"]["phase"]), (200, "Terminating"))
        self.assertEqual(self.c.get(AS.format(ns=ns) + "/s").status, 404)
        r = self.c.post(CM.format(ns=ns), {"metadata": {"name": "late"}})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.c.get(f"/api/v1/namespaces/{ns}").status, 200)
        self.c.patch(CM.format(ns=ns) + "/held", {"metadata": {"finalizers": None}})
        self.assertEqual(self.c.get(f"/api/v1/namespaces/{ns}").status, 404,
                         "the last object's end ends the namespace")


class Lists(LocalKubeTest):
    def test_pages_and_selectors(self):
        ns = self.namespace()
        for i in range(25):
            self.c.post(CM.format(ns=ns), {"metadata": {"name": f"c{i:02d}",
                                                        "labels": {"tier": str(i % 3)}}})
        names, cont, rvs = [], "", set()
        for _ in range(10):
            r = self.c.get(CM.format(ns=ns) + "?limit=10" + (f"&continue={cont}" if cont else ""))
            self.assertEqual(r.status, 200, r)
            names += [i["metadata"]["name"] for i in r.body["items"]]
            rvs.add(r.body["metadata"]["resourceVersion"])
            cont = r.body["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(names, [f"c{i:02d}" for i in range(25)])
        self.assertEqual(len(rvs), 1, "every page carries the first page's resourceVersion")
        r = self.c.get(CM.format(ns=ns) + "?labelSelector=tier+in+(0,2)")
        self.assertEqual(len(r.body["items"]), 17)
        r = self.c.get(CM.format(ns=ns) + "?labelSelector=tier!%3D1,tier")
        self.assertEqual(len(r.body["items"]), 17)
        r = self.c.get(CM.format(ns=ns) + "?fieldSelector=metadata.name%3Dc03")
        self.assertEqual([i["metadata"]["name"] for i in r.body["items"]], ["c03"])
        r = self.c.get(CM.format(ns=ns) + "?labelSelector=tier+in+(")
        self.assertEqual(r.status, 400)
        all_ns = self.c.get("/api/v1/configmaps?labelSelector=tier%3D0")
        self.assertEqual(len(all_ns.body["items"]), 9)


class RunnerToken(LocalKubeTest):
    """A session's runner token (agenticsession's per-session Role and
    RoleBinding, a TokenRequest) reaches only its own session."""

    def test_runner_reaches_only_its_session(self):
        ns = self.namespace()
        self.session(ns, "mine")
        self.session(ns, "other")
        sa = "ambient-session-mine"
        self.assertEqual(self.c.post(f"/api/v1/namespaces/{ns}/serviceaccounts",
                                     {"metadata": {"name": sa}}).status, 201)
        role = {"metadata": {"name": sa}, "rules": [
            {"apiGroups": ["vteam.ambient-code"], "resources": ["agenticsessions"],
             "resourceNames": ["mine"], "verbs": ["get"]},
            {"apiGroups": ["vteam.ambient-code"], "resources": ["agenticsessions/status"],
             "resourceNames": ["mine"], "verbs": ["get", "update", "patch"]}]}
        self.assertEqual(self.c.post(RBAC.format(ns=ns) + "/roles", role).status, 201)
        binding = {"metadata": {"name": sa},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": sa},
                   "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}
        self.assertEqual(self.c.post(RBAC.format(ns=ns) + "/rolebindings", binding).status, 201)
        tr = self.c.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"expirationSeconds": 3600}})
        self.assertEqual(tr.status, 201, tr)
        token = tr.body["status"]["token"]
        runner = self.lk.client(token)
        self.assertEqual(runner.get(AS.format(ns=ns) + "/mine").status, 200)
        r = runner.get(AS.format(ns=ns) + "/other")
        self.assertEqual((r.status, r.body["reason"]), (403, "Forbidden"))
        self.assertIn(f'User "system:serviceaccount:{ns}:{sa}" cannot get', r.body["message"])
        self.assertEqual(runner.get(AS.format(ns=ns)).status, 403)
        r = runner.patch(AS.format(ns=ns) + "/mine/status", {"status": {"phase": "Running"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(runner.patch(AS.format(ns=ns) + "/other/status",
                                      {"status": {"phase": "Running"}}).status, 403)
        self.assertEqual(runner.patch(AS.format(ns=ns) + "/mine",
                                      {"spec": {"prompt": "x"}}).status, 403)
        self.assertEqual(runner.get(f"/api/v1/namespaces/{ns}/secrets").status, 403)
        # The api role reviews runner tokens; users ask what they may do.
        rv = self.c.post("/apis/authentication.k8s.io/v1/tokenreviews",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                          "spec": {"token": token}})
        self.assertEqual(rv.status, 201)
        self.assertTrue(rv.body["status"]["authenticated"])
        self.assertEqual(rv.body["status"]["user"]["username"],
                         f"system:serviceaccount:{ns}:{sa}")
        self.assertNotIn("token", rv.body["spec"], "a review never echoes the token")
        ssr = runner.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        self.assertEqual(ssr.body["status"]["userInfo"]["username"],
                         f"system:serviceaccount:{ns}:{sa}")

        def may(verb, name, sub=""):
            attrs = {"verb": verb, "group": "vteam.ambient-code", "resource": "agenticsessions",
                     "namespace": ns, "name": name}
            if sub:
                attrs["subresource"] = sub
            r = runner.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                            {"apiVersion": "authorization.k8s.io/v1",
                             "kind": "SelfSubjectAccessReview",
                             "spec": {"resourceAttributes": attrs}})
            self.assertEqual(r.status, 201, r)
            return r.body["status"]["allowed"]

        self.assertTrue(may("get", "mine"))
        self.assertTrue(may("update", "mine", "status"))
        self.assertFalse(may("get", "other"))
        self.assertFalse(may("delete", "mine"))
        # The token dies with its ServiceAccount.
        self.c.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}")
        self.assertEqual(runner.get(AS.format(ns=ns) + "/mine").status, 401)
        rv = self.c.post("/apis/authentication.k8s.io/v1/tokenreviews",
                         {"spec": {"token": token}})
        self.assertFalse(rv.body["status"]["authenticated"])
        runner.close()

    def test_deploy_rbac_applies_at_first_start(self):
        r = self.c.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/ambient-project-admin")
        self.assertEqual(r.status, 200, r)
        r = self.c.get("/api/v1/namespaces/ambient/serviceaccounts/ambient-controller")
        self.assertEqual(r.status, 200, r)
        tr = self.c.post("/api/v1/namespaces/ambient/serviceaccounts/ambient-api/token",
                         {"spec": {}})
        api = self.lk.client(tr.body["status"]["token"])
        self.assertEqual(api.get("/apis/vteam.ambient-code/v1alpha1/agenticsessions").status, 200)
        self.assertEqual(api.get("/api/v1/secrets").status, 403)
        self.assertEqual(api.get("/apis").status, 200, "discovery is for everyone signed in")
        api.close()


class Bounds(LocalKubeTest):
    extra = ("--max-watches", "3", "--max-connections", "16", "--max-body", "65536")

    def test_body_watch_and_connection_limits(self):
        ns = self.namespace()
        r = self.c.post(CM.format(ns=ns), {"metadata": {"name": "big"},
                                           "data": {"x": "y" * 70000}})
        self.assertEqual(r.status, 413)
        self.c.close()
        watches = [self.lk.watch(CM.format(ns=ns) + "?watch=1") for _ in range(3)]
        self.assertEqual([w.status for w in watches], [200] * 3)
        r = self.c.get(CM.format(ns=ns) + "?watch=1")
        self.assertEqual((r.status, r.body["reason"]), (429, "TooManyRequests"))
        for w in watches:
            w.close()
        # A closed watch gives its slot back.
        harness.wait_for(lambda: self.c.get(CM.format(ns=ns) + "?watch=1&timeoutSeconds=1",
                                            raw=True).status == 200,
                         what="a watch slot to come back")
        # Idle sockets past the limit are closed; the server keeps serving.
        rss_before = self.lk.rss_kib()
        socks = []
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", self.lk.port), timeout=5)
            socks.append(s)
        time.sleep(0.5)
        closed = 0
        for s in socks:
            s.settimeout(0.05)
            try:
                closed += s.recv(1) == b""
            except (socket.timeout, ConnectionResetError):
                pass
        self.assertGreaterEqual(closed, 40 - 16, "connections past the limit were kept")
        for s in socks:
            s.close()
        # Bodies past the limit are refused on their Content-Length, unread.
        big = b"x" * (3 << 20)
        head = (f"POST {CM.format(ns=ns)} HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer "
                f"{self.lk.token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(big)}\r\n\r\n").encode()

        def post():
            with socket.create_connection(("127.0.0.1", self.lk.port), timeout=10) as s:
                try:
                    s.sendall(head + big)
                    s.recv(64)
                except OSError:
                    pass
        posters = [threading.Thread(target=post) for _ in range(16)]
        for t in posters:
            t.start()
        peak = 0
        while any(t.is_alive() for t in posters):
            peak = max(peak, self.lk.rss_kib())
            time.sleep(0.02)
        self.assertLess(peak - rss_before, 32 * 1024,
                        f"RSS grew from {rss_before} to {peak} KiB under the attacks")
        harness.wait_for(lambda: self.c.get("/api/v1/namespaces").status == 200,
                         what="the server to serve again")


class SlowReaders(LocalKubeTest):
    extra = ("--max-output", str(2 << 20))

    def test_answers_waiting_for_slow_readers_are_bounded(self):
        """Clients that ask for big lists and never read them: once more than
        --max-output bytes of answers wait (the kernel takes ~4 MB of each
        8 MB list), lists are 429 until those clients go."""
        ns = self.namespace()
        for i in range(40):  # an 8 MB list, past what the kernel buffers
            r = self.c.post(CM.format(ns=ns), {"metadata": {"name": f"c{i:03d}"},
                                               "data": {"v": "x" * 200000}})
            self.assertEqual(r.status, 201, r)
        request = (f"GET {CM.format(ns=ns)} HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer "
                   f"{self.lk.token}\r\n\r\n").encode()
        slow = []
        rss_before = self.lk.rss_kib()
        for _ in range(4):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.lk.port))
            s.sendall(request)
            slow.append(s)
        harness.wait_for(lambda: self.c.get(CM.format(ns=ns) + "?limit=1").status == 429,
                         what="lists to be refused while answers wait")
        self.assertLess(self.lk.rss_kib() - rss_before, 64 * 1024)
        for s in slow:
            s.close()
        harness.wait_for(lambda: self.c.get(CM.format(ns=ns) + "?limit=1").status == 200,
                         what="lists to be served again")
        # A watch whose client does not read its 8 MB of first events is cut
        # within seconds: the client gets less than the whole, then the end.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.lk.port))
        s.sendall(request.replace(b" HTTP/1.1", b"?watch=1 HTTP/1.1"))
        time.sleep(3)
        got, deadline = 0, time.monotonic() + harness.WAIT
        s.settimeout(5)
        while time.monotonic() < deadline:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += len(chunk)
        s.close()
        self.assertLess(got, 8_000_000, "the slow watch was not cut")


class SameAsKubesim(unittest.TestCase):
    """The same requests to kubesim and the local API get the same codes
    and Status reasons."""

    def test_answers_match(self):
        tmp = tempfile.mkdtemp(prefix="localkube-")
        sim = harness.Kubesim(crds=False, *["--crd-dir", os.environ["CRD_DIR"]])
        lk = LocalKube(os.path.join(tmp, "data"))
        try:
            answers = []
            for port, token in ((sim.port, harness.ADMIN), (lk.port, lk.token)):
                c = harness.Client(port, token)
                ns = "same-ns"
                seq = [c.post("/api/v1/namespaces", {"metadata": {"name": ns}}),
                       c.post(AS.format(ns=ns), {"metadata": {"name": "s"}, "spec": {}}),
                       c.post(AS.format(ns=ns), {"metadata": {"name": "s"}, "spec": {}}),
                       c.get(AS.format(ns=ns) + "/missing"),
                       c.put(AS.format(ns=ns) + "/s", {"metadata": {"name": "s"}, "spec": {}}),
                       c.put(AS.format(ns=ns) + "/s", {"metadata": {"name": "s",
                                                                    "resourceVersion": "1"},
                                                       "spec": {}}),
                       c.patch(AS.format(ns=ns) + "/s/status", {"status": {"phase": "x"}}),
                       c.get(AS.format(ns=ns) + "?limit=1"),
                       c.delete(AS.format(ns=ns) + "/s"),
                       c.get("/apis/vteam.ambient-code/v1alpha1"),
                       c.get("/api/v1/namespaces/" + ns + "/serviceaccounts/none/token")]
                answers.append([(r.status, (r.body or {}).get("reason") if isinstance(r.body, dict)
                                 else None, (r.body or {}).get("kind")
                                 if isinstance(r.body, dict) else None) for r in seq])
                c.close()
            self.assertEqual(answers[1], answers[0])
        finally:
            sim.stop()
            lk.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
