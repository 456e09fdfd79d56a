"""The controllers a real cluster runs that deletion semantics depend on, in
one background thread:

  - the garbage collector (kube-controller-manager): deletes dependents whose
    owners are all gone (Background), strips ownerReferences for the
    `orphan` finalizer (Orphan), deletes dependents then drops the
    `foregroundDeletion` finalizer (Foreground), and removes dangling refs
    from dependents that still have a live owner;
  - the namespace controller: empties a Terminating namespace, then removes it;
  - the CRD finalizer: deletes all instances of a CRD being deleted.

Work is triggered by store events (a store listener queues keys) and a
periodic sweep, and goes through operations.py like any client, so it emits
ordinary watch events.
"""

import sys
import threading

from apierrors import ApiError
from kinds import CRD_CLEANUP_FINALIZER, CRD_KEY
from store import DELETED

NS_KEY = ("", "namespaces")


class Collector:
    def __init__(self, store, registry, ops, sweep_interval=1.0):
        self.store = store
        self.registry = registry
        self.ops = ops
        self.sweep_interval = sweep_interval
        self.cond = threading.Condition()
        self.pending = set()       # (rt_key, ns, name) to check for dangling owners
        self.kick = False
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="collector", daemon=True)
        store.listeners.append(self._on_event)

    def start(self):
        self.thread.start()

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify()

    def _on_event(self, ev):
        """Store listener (store lock held): remember what may need work."""
        meta = ev.new.obj.get("metadata", {})
        deps = self.store.dependents.get(meta.get("uid"), ()) if ev.type == DELETED else ()
        owned = ev.type != DELETED and meta.get("ownerReferences")
        # A deletion may unblock a foreground owner or empty a terminating
        # namespace or CRD, hence the sweep ("kick").
        kick = ev.type == DELETED or bool(meta.get("deletionTimestamp"))
        if not (deps or owned or kick):
            return      # plain writes give the collector nothing to do
        with self.cond:
            self.pending.update(deps)
            if owned:
                self.pending.add((ev.rt_key,) + ev.key)
            self.kick = self.kick or kick
            self.cond.notify()

    def _run(self):
        while True:
            with self.cond:
                if not (self.pending or self.kick):
                    self.cond.wait(self.sweep_interval)
                if self.stopped:
                    return
                pending, self.pending = self.pending, set()
                self.kick = False
            try:
                self._process(pending)
            except Exception as exc:  # noqa: BLE001 - keep the controller alive, like a real one
                print(f"kubesim collector: {exc!r}", file=sys.stderr)

    def settle(self, max_passes=100):
        """Run passes in the caller's thread until no work is left, so a test
        can wait for cascades deterministically (POST /kubesim/gc)."""
        for _ in range(max_passes):
            with self.cond:
                pending, self.pending = self.pending, set()
                self.kick = False
            with self.store.lock:
                before = self.store.rv
            self._process(pending)
            with self.cond:
                idle = not self.pending
            if idle and self.store.rv == before:
                return

    # -- one pass -------------------------------------------------------------
    def _process(self, pending):
        for ref in pending:
            self._check_dependent(ref)
        with self.store.lock:
            terminating = list(self.store.terminating)
        for ref in terminating:
            self._finalize(ref)

    def _owner_state(self, dep_ref, owner_ref):
        """'absent', 'waiting' (foreground deletion) or 'solid'."""
        found = self.store.by_uid(owner_ref.get("uid"))
        if found is None:
            return "absent"
        rt_key, ns, name = found
        rt = self.registry.by_key(rt_key)
        if name != owner_ref.get("name") or rt is None:
            return "absent"
        # A namespaced dependent may only be owned from its own namespace or
        # by a cluster-scoped owner.
        if rt.namespaced and ns != dep_ref[1]:
            return "absent"
        entry = self.store.get(rt_key, ns, name)
        meta = entry.obj["metadata"]
        if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or []):
            return "waiting"
        return "solid"

    def _check_dependent(self, ref):
        rt_key, ns, name = ref
        rt = self.registry.by_key(rt_key)
        if rt is None:
            return
        with self.store.lock:
            entry = self.store.get(rt_key, ns, name)
            if entry is None:
                return
            refs = entry.obj["metadata"].get("ownerReferences") or []
            states = [self._owner_state(ref, o) for o in refs]
            if not refs or "absent" not in states:
                return
            if all(s == "absent" for s in states):
                self._delete(rt, ns, name, "Background")
            elif "solid" in states:
                dangling = {o.get("uid") for o, s in zip(refs, states) if s == "absent"}
                self.ops.mutate(rt, ns, name, lambda o: _drop_refs(o, dangling))
            else:
                self._delete(rt, ns, name, "Foreground")

    def _delete(self, rt, ns, name, policy):
        try:
            entry = self.store.get(rt.key, ns, name)
            if entry is not None and not entry.obj["metadata"].get("deletionTimestamp"):
                self.ops.delete(rt, ns, name, {"propagationPolicy": policy})
        except ApiError:
            pass

    def _finalize(self, ref):
        rt_key, ns, name = ref
        rt = self.registry.by_key(rt_key)
        if rt is None:
            return
        with self.store.lock:
            entry = self.store.get(rt_key, ns, name)
            if entry is None:
                return
            meta = entry.obj["metadata"]
            fins = meta.get("finalizers") or []
            uid = meta.get("uid")
            deps = list(self.store.dependents.get(uid, ()))
            if "orphan" in fins:
                for d in deps:
                    drt = self.registry.by_key(d[0])
                    if drt is not None:
                        self.ops.mutate(drt, d[1], d[2], lambda o: _drop_refs(o, {uid}))
                self.ops.mutate(rt, ns, name, lambda o: _drop_finalizer(o, "orphan"))
            elif "foregroundDeletion" in fins:
                blocking = 0
                for d in deps:
                    drt = self.registry.by_key(d[0])
                    dentry = self.store.get(*d)
                    if drt is None or dentry is None:
                        continue
                    for o in dentry.obj["metadata"].get("ownerReferences") or []:
                        if o.get("uid") == uid and o.get("blockOwnerDeletion"):
                            blocking += 1
                    self._delete(drt, d[1], d[2], "Foreground")
                if blocking == 0:
                    self.ops.mutate(rt, ns, name,
                                    lambda o: _drop_finalizer(o, "foregroundDeletion"))
            elif rt_key == NS_KEY:
                self._finalize_namespace(rt, name)
            elif rt_key == CRD_KEY and CRD_CLEANUP_FINALIZER in fins:
                self._finalize_crd(rt, entry)

    def _finalize_namespace(self, rt, ns_name):
        remaining = 0
        for rt_key in list(self.store.objects.keys()):
            crt = self.registry.by_key(rt_key)
            if crt is None or not crt.namespaced:
                continue
            for (ns, name) in [k for k in self.store.current(rt_key) if k[0] == ns_name]:
                remaining += 1
                self._delete(crt, ns, name, "Background")
        if remaining == 0:
            self.ops.mutate(rt, "", ns_name, lambda o: o.setdefault("spec", {}).update(
                finalizers=[]))

    def _finalize_crd(self, rt, entry):
        spec = entry.obj.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        crt = self.registry.by_key(key)
        items = list(self.store.current(key)) if crt is not None else []
        for ns, name in items:
            self._delete(crt, ns, name, "Background")
        if not self.store.current(key):
            self.ops.mutate(rt, "", entry.obj["metadata"]["name"],
                            lambda o: _drop_finalizer(o, CRD_CLEANUP_FINALIZER))


def _drop_refs(obj, uids):
    meta = obj["metadata"]
    refs = [o for o in meta.get("ownerReferences") or [] if o.get("uid") not in uids]
    if refs:
        meta["ownerReferences"] = refs
    else:
        meta.pop("ownerReferences", None)


def _drop_finalizer(obj, fin):
    meta = obj["metadata"]
    meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != fin]
