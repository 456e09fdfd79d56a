#!/usr/bin/python3
"""The peer benchmark's informer on Debian's python3-kubernetes: one
unpaged list, then a watch from its resourceVersion; a dict cache; a
de-duplicating work queue and worker threads running the bench's no-op
reconcile (see tests/bench/peer_bench.py for the protocol it speaks on
stdout).

  informer_python.py SERVER TOKEN GROUP VERSION PLURAL WORKERS"""
import json
import queue
import sys
import threading
import time

from kubernetes import client, watch


def say(**fields):
    print(json.dumps(fields), flush=True)


class Rounds:
    """Counts reconciles of objects stamped bench/round = R; says when a
    round reaches its bench/expect."""

    def __init__(self):
        self.lock = threading.Lock()
        self.round, self.count = None, 0

    def reconcile(self, obj):
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        r, expect = ann.get("bench/round"), int(ann.get("bench/expect", "0"))
        if not r:
            return
        with self.lock:
            if r != self.round:
                self.round, self.count = r, 0
            self.count += 1
            if self.count == expect:
                say(event="round", round=r, count=self.count, t=time.monotonic())


def main():
    server, token, group, version, plural, workers = sys.argv[1:7]
    cfg = client.Configuration()
    cfg.host = server
    cfg.api_key = {"authorization": "Bearer " + token}
    api = client.CustomObjectsApi(client.ApiClient(cfg))
    cache, cache_lock = {}, threading.Lock()
    pending, pending_lock = set(), threading.Lock()
    q = queue.Queue()
    rounds = Rounds()

    def key_of(obj):
        m = obj["metadata"]
        return m.get("namespace", "") + "/" + m["name"]

    def enqueue(key):
        with pending_lock:
            if key in pending:
                return
            pending.add(key)
        q.put(key)

    def worker():
        while True:
            key = q.get()
            with pending_lock:
                pending.discard(key)
            with cache_lock:
                obj = cache.get(key)
            if obj is not None:
                rounds.reconcile(obj)

    for _ in range(int(workers)):
        threading.Thread(target=worker, daemon=True).start()

    lst = api.list_cluster_custom_object(group, version, plural)
    with cache_lock:
        for obj in lst["items"]:
            cache[key_of(obj)] = obj
    say(event="synced", objects=len(cache), t=time.monotonic())
    for k in list(cache):
        enqueue(k)
    rv = lst["metadata"]["resourceVersion"]
    while True:
        w = watch.Watch()
        for ev in w.stream(api.list_cluster_custom_object, group, version, plural,
                           resource_version=rv, timeout_seconds=600):
            obj = ev["object"]
            rv = obj["metadata"]["resourceVersion"]
            k = key_of(obj)
            with cache_lock:
                if ev["type"] == "DELETED":
                    cache.pop(k, None)
                else:
                    cache[k] = obj
            enqueue(k)


if __name__ == "__main__":
    main()
