"""Watch streams: per-watcher filtering and queueing, and the loop that writes
one JSON event per chunk to the client.

A writer calls Watcher.offer() under the store lock; offer() only filters and
appends to the watcher's own unbounded-but-capped queue, so a slow client
never blocks writers.  When the queue passes its cap the watch is closed (the
kube-apiserver's cacher does the same to unresponsive watchers).
"""

import json
import queue
import random
import socket
import threading
import time

import tables
from store import ADDED, DELETED, MODIFIED, dumps


class Watcher:
    def __init__(self, rt, version, namespace, label_sel, field_sel, max_queue):
        self.rt = rt
        self.api_version = rt.api_version(version)
        self.namespace = namespace
        self.label_sel = label_sel
        self.field_sel = field_sel
        self.max_queue = max_queue
        self.q = queue.SimpleQueue()
        self.closed = False
        self.close_reason = None
        self.seen_rv = 0          # every event up to here has been offered
        self.sock = None          # set by the HTTP layer, used to drop the stream
        self.sock_lock = threading.Lock()
        self.path = ""
        # (Table version, includeObject) when the client asked for Tables:
        # each event's object is then a one-row Table, with the column
        # definitions in the first one only, as the apiserver sends them.
        self.table = None
        self.version = version
        # Cleared by /kubesim/watches/hold: events queue up unsent until it
        # is set again, then go out as one backlog.
        self.flowing = threading.Event()
        self.flowing.set()

    def wants(self, obj):
        """Does `obj` pass this watch's label and field selectors?"""
        if self.label_sel is not None and not self.label_sel.matches(
                obj.get("metadata", {}).get("labels")):
            return False
        if self.field_sel is not None and not self.field_sel.matches(obj):
            return False
        return True

    def classify(self, ev):
        """The event type this watch must see for `ev`, or None.

        With a selector, an object that starts matching arrives as ADDED and
        one that stops matching as DELETED, like the watch cache does."""
        if self.namespace and ev.key[0] != self.namespace:
            return None
        if self.label_sel is None and self.field_sel is None:
            return ev.type
        new_ok = self.wants(ev.new.obj)
        if ev.type in (ADDED, DELETED):
            return ev.type if new_ok else None
        old_ok = ev.old is not None and self.wants(ev.old.obj)
        if new_ok:
            return MODIFIED if old_ok else ADDED
        return DELETED if old_ok else None

    def offer(self, ev):
        """Queue `ev` if it concerns this watch.  Store lock held."""
        self.seen_rv = ev.rv
        if self.closed:
            return
        type_ = self.classify(ev)
        if type_ is None:
            return
        if self.q.qsize() >= self.max_queue:
            # The client is not keeping up: end its watch.  Its thread may be
            # stuck in a blocked write, so cut the connection as well.
            self.close_reason = "overflow"
            self.drop()
            return
        self.q.put((type_, ev.new, time.monotonic()))

    def stop(self, reason):
        """Ask the stream loop to end (any thread)."""
        if not self.closed:
            self.closed = True
            self.close_reason = self.close_reason or reason
        self.q.put(None)
        self.flowing.set()

    def hold(self, held):
        """Stop (held) or resume sending events; queued ones are kept."""
        if held:
            self.flowing.clear()
        else:
            self.flowing.set()

    def drop(self):
        """Cut the TCP connection mid-stream, without the final chunk.

        shutdown() goes through a dup of the fd so a TLS socket object owned
        by the streaming thread is never touched from this thread; sock_lock
        keeps the fd from being closed (and reused) meanwhile."""
        with self.sock_lock:
            if self.sock is not None:
                try:
                    dup = socket.fromfd(self.sock.fileno(), socket.AF_INET, socket.SOCK_STREAM)
                    try:
                        dup.shutdown(socket.SHUT_RDWR)
                    finally:
                        dup.close()
                except OSError:
                    pass
        self.stop("dropped")

    def detach(self):
        """The stream is over: the connection may now be closed or reused."""
        with self.sock_lock:
            self.sock = None

    def encode(self, type_, entry):
        raw = entry.raw
        if entry.obj.get("apiVersion") != self.api_version:
            obj = dict(entry.obj)
            obj["apiVersion"] = self.api_version
            raw = dumps(obj)
        if self.table is not None:
            obj = json.loads(raw)
            table_version, include, first = self.table
            t = tables.table(self.rt, self.version, table_version, [obj],
                             {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                             include)
            if not first:
                t["columnDefinitions"] = None
            self.table = (table_version, include, False)
            raw = dumps(t)
        return b'{"type":"' + type_.encode() + b'","object":' + raw + b"}\n"

    def bookmark(self, rv):
        obj = {"kind": self.rt.kind, "apiVersion": self.api_version,
               "metadata": {"resourceVersion": str(rv)}}
        return b'{"type":"BOOKMARK","object":' + dumps(obj) + b"}\n"


def error_event(status):
    return b'{"type":"ERROR","object":' + dumps(status) + b"}\n"


def pick_timeout(requested, min_request_timeout):
    """timeoutSeconds, or the apiserver's minRequestTimeout*(1+rand)."""
    if requested and requested > 0:
        return float(requested)
    return min_request_timeout * (1 + random.random())


def run_stream(write_chunk, store, watcher, initial, timeout, bookmarks, bookmark_interval):
    """Write `initial` events, then live ones, until the timeout, a drop, an
    overflow or a client error.  Returns True if the stream ended normally
    (so the connection may be reused)."""
    start = time.monotonic()
    deadline = start + timeout
    next_bookmark = start + bookmark_interval
    try:
        for type_, entry in initial:
            write_chunk(watcher.encode(type_, entry))
        while True:
            now = time.monotonic()
            if now >= deadline:
                if bookmarks:
                    _write_bookmark(write_chunk, store, watcher)
                return True
            wake = min(deadline, next_bookmark) if bookmarks else deadline
            try:
                item = watcher.q.get(timeout=max(0.0, wake - now))
            except queue.Empty:
                if bookmarks and time.monotonic() >= next_bookmark:
                    _write_bookmark(write_chunk, store, watcher)
                    next_bookmark = time.monotonic() + bookmark_interval
                continue
            if item is None:
                # Dropped or overflowed: the connection was already cut.
                # A removed resource (CRD deleted) ends the stream normally.
                return watcher.close_reason == "resource removed"
            type_, entry, at = item
            if not watcher.flowing.is_set():
                # Held: this event and those after it wait for the release
                # (or the deadline, after which the client resumes them).
                watcher.flowing.wait(timeout=max(0.0, deadline - time.monotonic()))
                if watcher.flowing.is_set():
                    _write_backlog(write_chunk, watcher, [watcher.encode(type_, entry)])
                continue
            late = at + store.watch_delay - time.monotonic()  # /kubesim/watches/delay
            if late > 0:
                time.sleep(late)
            write_chunk(watcher.encode(type_, entry))
    except Exception:  # noqa: BLE001 - any write failure ends this stream only
        watcher.stop("client gone")
        return False
    finally:
        store.remove_watcher(watcher.rt.key, watcher)
        watcher.detach()


def _write_backlog(write_chunk, watcher, lines, per_chunk=64):
    """lines, then the events queued while the watch was held, several to a chunk
    (a real apiserver may merge them too), so kubesim's own per-write cost
    does not cap how fast a client can be shown to drain a backlog.  Ends at
    a stop marker, which is put back for the stream loop."""
    while True:
        try:
            item = watcher.q.get_nowait()
        except queue.Empty:
            break
        if item is None:
            watcher.q.put(None)
            break
        lines.append(watcher.encode(item[0], item[1]))
        if len(lines) == per_chunk:
            write_chunk(b"".join(lines))
            lines = []
    if lines:
        write_chunk(b"".join(lines))


def _write_bookmark(write_chunk, store, watcher):
    # Every commit offers its event to the watchers under the store lock, so
    # with the lock held and this queue empty, the client has been sent every
    # event of its resource up to the store's current RV.  Bookmarking that
    # RV (not just the last event's) keeps a quiet watch's RV fresh, like the
    # watch cache's progress-notify bookmarks.
    with store.lock:
        if not watcher.q.empty():
            return
        rv = store.rv
    write_chunk(watcher.bookmark(rv))
