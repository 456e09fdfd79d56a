"""In-memory object store: objects, the global resourceVersion counter, the
bounded event history (for watch resume and exact-RV lists), indexes used by
the garbage collector, and watch fan-out.

Concurrency model: one re-entrant lock serialises every write and every
consistent read.  A write commits under the lock and hands each event to
every watcher's own queue (never blocking), so writes happen in RV order and
each watcher sees its events in RV order.  Stored objects are immutable: a
committed Entry keeps the dict and its compact JSON encoding, shared by
lists, watches and the history; writers always build a fresh dict.
"""

import collections
import json
import threading

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    """One stored version of an object."""
    __slots__ = ("obj", "raw", "rv")

    def __init__(self, obj, raw, rv):
        self.obj, self.raw, self.rv = obj, raw, rv

    def copy(self):
        """A private, mutable deep copy (json round-trip beats deepcopy)."""
        return json.loads(self.raw)


class Event:
    __slots__ = ("rv", "rt_key", "type", "key", "new", "old")

    def __init__(self, rv, rt_key, type_, key, new, old):
        self.rv, self.rt_key, self.type, self.key, self.new, self.old = \
            rv, rt_key, type_, key, new, old


class Store:
    def __init__(self, history_size=20000):
        self.lock = threading.RLock()
        self.rv_changed = threading.Condition(self.lock)
        self.rv = 0
        self.watch_delay = 0.0  # seconds each live watch event waits (/kubesim/watches/delay)
        self.objects = collections.defaultdict(dict)   # rt_key -> {(ns, name): Entry}
        self.history = collections.deque()
        self.history_size = history_size
        # Every event with rv > floor_rv is still in the history; watches and
        # exact lists from an RV below it are answered 410 Expired.
        self.floor_rv = 0
        self.uids = {}                                     # uid -> (rt_key, ns, name)
        self.dependents = collections.defaultdict(set)     # owner uid -> {(rt_key, ns, name)}
        self.terminating = set()                           # objects with deletionTimestamp
        self.watchers = collections.defaultdict(set)       # rt_key -> {Watcher}
        self.listeners = []                                # fn(event), called under the lock
        self.snapshots = collections.OrderedDict()         # continue-token snapshots

    # -- reads (callers that need consistency hold self.lock) --------------
    def get(self, rt_key, ns, name):
        return self.objects[rt_key].get((ns, name))

    def by_uid(self, uid):
        return self.uids.get(uid)

    def current(self, rt_key):
        return self.objects[rt_key]

    # -- writes ------------------------------------------------------------
    def commit(self, rt_key, type_, key, obj, old):
        """Store `obj` (a fresh dict) as the new state of `key`, or remove the
        object for DELETED (then `obj` is its final state).  Assigns the next
        resourceVersion, records the event and fans it out.  Lock held."""
        assert self.lock._is_owned()  # noqa: SLF001 - cheap invariant check
        self.rv += 1
        rv = self.rv
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        entry = Entry(obj, dumps(obj), rv)
        table = self.objects[rt_key]
        if type_ == DELETED:
            table.pop(key, None)
        else:
            table[key] = entry
        self._index(rt_key, key, old, None if type_ == DELETED else entry)
        ev = Event(rv, rt_key, type_, key, entry, old)
        self.history.append(ev)
        while len(self.history) > self.history_size:
            self.floor_rv = self.history.popleft().rv
        watchers = self.watchers.get(rt_key)
        if watchers:
            for w in list(watchers):
                w.offer(ev)
                if w.closed:
                    watchers.discard(w)
        for fn in self.listeners:
            fn(ev)
        self.rv_changed.notify_all()
        return entry

    def _index(self, rt_key, key, old, new):
        ref = (rt_key,) + key
        if old is not None:
            meta = old.obj.get("metadata", {})
            self.uids.pop(meta.get("uid"), None)
            for o in meta.get("ownerReferences") or []:
                deps = self.dependents.get(o.get("uid"))
                if deps is not None:
                    deps.discard(ref)
                    if not deps:
                        del self.dependents[o.get("uid")]
            self.terminating.discard(ref)
        if new is not None:
            meta = new.obj["metadata"]
            if meta.get("uid"):
                self.uids[meta["uid"]] = ref
            for o in meta.get("ownerReferences") or []:
                if o.get("uid"):
                    self.dependents[o["uid"]].add(ref)
            if meta.get("deletionTimestamp"):
                self.terminating.add(ref)

    # -- history -----------------------------------------------------------
    def events_after(self, rt_key, rv):
        """Events of one resource with rv > `rv`, oldest first.  Lock held;
        caller checked rv >= floor_rv."""
        out = []
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.rt_key == rt_key:
                out.append(ev)
        out.reverse()
        return out

    def state_at(self, rt_key, rv):
        """The objects of one resource as they were at `rv` (an exact-RV
        list), rebuilt by undoing newer events.  None if compacted."""
        if rv < self.floor_rv:
            return None
        state = dict(self.objects[rt_key])
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.rt_key != rt_key:
                continue
            if ev.type == ADDED:
                state.pop(ev.key, None)
            else:
                state[ev.key] = ev.old
        return state

    def compact(self, rv=None):
        """Forget history up to `rv` (default: everything), so watches and
        exact lists from older RVs get 410 and continue tokens expire."""
        with self.lock:
            target = self.rv if rv is None else min(int(rv), self.rv)
            while self.history and self.history[0].rv <= target:
                self.history.popleft()
            self.floor_rv = max(self.floor_rv, target)
            for sid in [s for s, snap in self.snapshots.items() if snap.rv < self.floor_rv]:
                del self.snapshots[sid]
            return self.floor_rv

    # -- watchers ----------------------------------------------------------
    def add_watcher(self, rt_key, watcher):
        self.watchers[rt_key].add(watcher)

    def remove_watcher(self, rt_key, watcher):
        with self.lock:
            self.watchers.get(rt_key, set()).discard(watcher)

    def all_watchers(self):
        with self.lock:
            return [w for ws in self.watchers.values() for w in ws]

    def wait_for_rv(self, rv, timeout):
        """Wait until the store has reached `rv`; False on timeout."""
        with self.lock:
            return self.rv_changed.wait_for(lambda: self.rv >= rv, timeout)
