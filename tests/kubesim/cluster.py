"""Wires the pieces of one simulated cluster together and seeds it: the
default namespaces, the bootstrap RBAC policy and CRDs from --crd-dir.
"""

import json
import os
import sys

import miniyaml
import rbac
from api import Api
from apierrors import ApiError
from authn import DEFAULT_AUDIENCE, Authenticator
from collector import Collector
from controls import Controls
from faults import Faults
from jobsim import JobSim
from kinds import CRD_KEY
from operations import Operations
from registry import Registry
from store import DELETED, Store


class Cluster:
    def __init__(self, token_file=None, history_size=20000, watch_queue_size=10000,
                 bookmark_interval=5.0, min_request_timeout=1800,
                 api_audiences=(DEFAULT_AUDIENCE,)):
        self.store = Store(history_size)
        self.registry = Registry()
        self.ops = Operations(self.store, self.registry, self._after_commit)
        self.collector = Collector(self.store, self.registry, self.ops)
        self.authn = Authenticator(token_file, api_audiences, self._sa_uid)
        self.authz = rbac.Authorizer(self.store)
        self.faults = Faults()
        self.jobsim = JobSim(self.store, self.registry, self.ops)
        self.api = Api(self)
        self.controls = Controls(self)
        self.watch_queue_size = watch_queue_size
        self.bookmark_interval = bookmark_interval
        self.min_request_timeout = min_request_timeout
        self.server_address = "127.0.0.1:0"
        self.cert_pem = b""
        self._seed()

    def _sa_uid(self, ns, name):
        entry = self.store.get(("", "serviceaccounts"), ns, name)
        return entry.obj["metadata"].get("uid") if entry else None

    def _after_commit(self, rt, type_, entry):
        """A CRD write changes what is served (under the store lock)."""
        if rt.key != CRD_KEY:
            return
        if type_ == DELETED:
            self.registry.unregister_crd(entry.obj)
            # The real apiserver ends watches on a removed resource.
            spec = entry.obj.get("spec") or {}
            key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            for w in list(self.store.watchers.get(key, ())):
                w.stop("resource removed")
        else:
            self.registry.register_crd(entry.obj)

    def _seed(self):
        ns_rt = self.registry.by_key(("", "namespaces"))
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.ops.create(ns_rt, "", {"metadata": {"name": ns}})
        for key, obj in rbac.bootstrap_objects():
            self.ops.create(self.registry.by_key(key), "", obj)

    def apply(self, obj):
        """Create or replace one object as the system (for --crd-dir)."""
        rt = self.registry.by_api_version_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise ValueError(f"unknown kind {obj.get('apiVersion')}/{obj.get('kind')}")
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "default") if rt.namespaced else ""
        cur = self.store.get(rt.key, ns, meta.get("name", ""))
        if cur is None:
            return self.ops.create(rt, ns, obj)
        meta["resourceVersion"] = cur.obj["metadata"]["resourceVersion"]
        return self.ops.update(rt, ns, meta["name"], obj)[0]

    def load_crd_dir(self, path):
        """Apply every CustomResourceDefinition in *.yaml/*.yml/*.json files."""
        count = 0
        for fname in sorted(os.listdir(path)):
            full = os.path.join(path, fname)
            if not os.path.isfile(full):
                continue
            with open(full, encoding="utf-8") as f:
                text = f.read()
            if fname.endswith(".json"):
                doc = json.loads(text)
                docs = doc.get("items", [doc]) if doc.get("kind", "").endswith("List") else [doc]
            elif fname.endswith((".yaml", ".yml")):
                docs = miniyaml.load_all(text)
            else:
                continue
            for doc in docs:
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    print(f"kubesim: {fname}: skipping {doc.get('kind') if isinstance(doc, dict) else doc!r}",
                          file=sys.stderr)
                    continue
                try:
                    self.apply(doc)
                except ApiError as exc:
                    raise ValueError(f"{fname}: {exc.message}") from exc
                count += 1
        return count

    def describe(self):
        return {"bookmarkIntervalSeconds": self.bookmark_interval,
                "historySize": self.store.history_size,
                "watchQueueSize": self.watch_queue_size,
                "minRequestTimeoutSeconds": self.min_request_timeout,
                "apiAudiences": self.authn.api_audiences}
