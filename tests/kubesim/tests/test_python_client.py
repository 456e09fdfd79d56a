#!/usr/bin/python3
"""Debian's python3-kubernetes against kubesim over https with the admin
token: CustomObjectsApi list/watch of a custom resource, CoreV1Api
create/read of core objects, typed errors from Status bodies."""

import threading
import warnings

from harness import WAIT, KubesimTest, main, uniq, wait_for

# Debian's python3-kubernetes (deploy/dev/install-deps.sh installs it).
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "test.ambient-code", "v1alpha1", "widgets"


class PythonClientTest(KubesimTest):
    tls = True

    def setUp(self):
        # verify_ssl is off on purpose (self-signed cert); keep output clean.
        warnings.simplefilter("ignore")
        cfg = client.Configuration()
        cfg.host = self.ks.tls_url
        cfg.verify_ssl = False
        cfg.api_key = {"authorization": "kubesim-admin"}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        self.api_client = client.ApiClient(cfg)
        self.addCleanup(self.api_client.close)
        self.core = client.CoreV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)

    def test_core_objects(self):
        ns = uniq("py")
        created = self.core.create_namespace(client.V1Namespace(
            metadata=client.V1ObjectMeta(name=ns)))
        self.assertEqual(created.status.phase, "Active")
        self.core.create_namespaced_secret(ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name="creds", labels={"app": "x"}),
            string_data={"token": "abc"}))
        sec = self.core.read_namespaced_secret("creds", ns)
        self.assertEqual(sec.data, {"token": "YWJj"})
        self.core.create_namespaced_service_account(ns, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="runner")))
        tr = self.core.create_namespaced_service_account_token("runner", ns,
                                                               client.AuthenticationV1TokenRequest(
                                                                   spec=client.V1TokenRequestSpec(
                                                                       audiences=[])))
        self.assertTrue(tr.status.token)
        pvc = self.core.create_namespaced_persistent_volume_claim(ns, client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="ws"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1ResourceRequirements(requests={"storage": "1Gi"}))))
        self.assertEqual(pvc.status.phase, "Pending")
        secrets = self.core.list_namespaced_secret(ns, label_selector="app=x")
        self.assertEqual([s.metadata.name for s in secrets.items], ["creds"])
        with self.assertRaises(ApiException) as cm:
            self.core.read_namespaced_config_map("nope", ns)
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(ApiException) as cm:
            self.core.create_namespaced_secret(ns, client.V1Secret(
                metadata=client.V1ObjectMeta(name="creds")))
        self.assertEqual(cm.exception.status, 409)
        leases = client.CoordinationV1Api(self.api_client)
        lease = leases.create_namespaced_lease(ns, client.V1Lease(
            metadata=client.V1ObjectMeta(name="leader"),
            spec=client.V1LeaseSpec(holder_identity="me", lease_duration_seconds=15)))
        lease.spec.holder_identity = "you"
        leases.replace_namespaced_lease("leader", ns, lease)
        with self.assertRaises(ApiException) as cm:
            leases.replace_namespaced_lease("leader", ns, lease)   # stale RV
        self.assertEqual(cm.exception.status, 409)

    def test_custom_objects_list_and_watch(self):
        ns = uniq("py")
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        for i in range(5):
            self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                "metadata": {"name": f"w{i}"}, "spec": {"size": i}})
        first = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, limit=2)
        names = [o["metadata"]["name"] for o in first["items"]]
        token = first["metadata"]["continue"]
        while token:
            page = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, limit=2,
                                                             _continue=token)
            names += [o["metadata"]["name"] for o in page["items"]]
            token = page["metadata"].get("continue")
        self.assertEqual(names, [f"w{i}" for i in range(5)])
        rv = first["metadata"]["resourceVersion"]

        events = []
        done = threading.Event()

        def run():
            w = watch.Watch()
            for ev in w.stream(self.custom.list_namespaced_custom_object, GROUP, VERSION, ns,
                               PLURAL, resource_version=rv, timeout_seconds=10,
                               allow_watch_bookmarks=True):
                if ev["type"] == "BOOKMARK":
                    continue
                events.append((ev["type"], ev["object"]["metadata"]["name"]))
                if ev["type"] == "DELETED":
                    w.stop()
            done.set()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        wait_for(lambda: any(ns in x["path"] for x in
                             self.c.get("/kubesim/watches").body["watches"]),
                 what="watch registered before writing")
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "w1",
                                                   {"spec": {"size": 10}})
        self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, "w1",
                                                          {"status": {"phase": "Ready"}})
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "w1")
        self.assertTrue(done.wait(WAIT), events)
        self.assertEqual(events, [("MODIFIED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")])
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "w2")
        self.assertEqual(obj["spec"], {"size": 2})


if __name__ == "__main__":
    main()
