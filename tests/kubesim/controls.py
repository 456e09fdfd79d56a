"""Test control endpoints under /kubesim/ (system:masters only; the prefix
cannot clash with the Kubernetes API).  See README.md for the list.
"""

import json
import time

import apierrors
from api import Response, parse_body


class Controls:
    def __init__(self, cluster):
        self.c = cluster

    def handle(self, req):
        parts = [p for p in req.path.split("/") if p][1:]   # drop "kubesim"
        m = req.method
        c = self.c
        body = (parse_body(req, required=False) or {}) if m in ("POST", "PUT") else {}
        if not isinstance(body, dict):
            raise apierrors.bad_request("control bodies are JSON objects")
        if parts == ["cpu"] and m == "GET":  # all threads, those ended too
            return Response(200, {"seconds": time.process_time()})
        if parts == ["rv"] and m == "GET":
            return Response(200, {"resourceVersion": str(c.store.rv),
                                  "compactedResourceVersion": str(c.store.floor_rv)})
        if parts == ["compact"] and m == "POST":
            floor = c.store.compact(body.get("resourceVersion"))
            return Response(200, {"compactedResourceVersion": str(floor),
                                  "resourceVersion": str(c.store.rv)})
        if parts == ["watches"] and m == "GET":
            ws = c.store.all_watchers()
            return Response(200, {"count": len(ws), "watches": [
                {"path": w.path, "resource": w.rt.group_resource(), "namespace": w.namespace}
                for w in ws]})
        if parts == ["watches", "delay"] and m == "POST":
            ms = body.get("ms", 0)
            if not isinstance(ms, int) or not 0 <= ms <= 10000:
                raise apierrors.bad_request("ms: an integer from 0 to 10000")
            c.store.watch_delay = ms / 1000.0
            return Response(200, {"delayMs": ms})
        if parts == ["watches", "drop"] and m == "POST":
            sub = body.get("path", "")
            ws = [w for w in c.store.all_watchers() if sub in w.path]
            for w in ws:
                w.drop()
            return Response(200, {"dropped": len(ws)})
        if parts == ["watches", "hold"] and m == "POST":
            sub = body.get("path", "")
            held = body.get("hold", True)
            if not isinstance(sub, str) or not isinstance(held, bool):
                raise apierrors.bad_request("hold: path is a string, hold a boolean")
            ws = [w for w in c.store.all_watchers() if sub in w.path]
            for w in ws:
                w.hold(held)
            return Response(200, {"held" if held else "released": len(ws)})
        if parts == ["faults"]:
            if m == "POST":
                return Response(201, c.faults.add(body))
            if m == "GET":
                return Response(200, {"faults": c.faults.list()})
            if m == "DELETE":
                c.faults.clear()
                return Response(200, {"faults": []})
        if parts == ["requests"]:
            if m == "GET":
                return Response(200, {"requests": c.faults.requests(req.query.get("path", ""))})
            if m == "DELETE":
                c.faults.forget_requests()
                return Response(200, {"requests": []})
        if parts == ["gc"] and m == "POST":
            c.collector.settle()
            return Response(200, {"settled": True, "resourceVersion": str(c.store.rv)})
        if len(parts) == 4 and m == "POST":
            kind, ns, name, action = parts
            if kind == "jobs":
                return Response(200, c.jobsim.job_action(ns, name, action, body))
            if kind == "pods":
                return Response(200, c.jobsim.pod_action(ns, name, action, body))
            if kind == "pvcs" and action == "bind":
                return Response(200, c.jobsim.bind_pvc(ns, name, body))
        if parts == ["ca.crt"] and m == "GET":
            if not c.cert_pem:
                raise apierrors.unknown_path()
            return Response(200, c.cert_pem, content_type="application/x-pem-file")
        if parts == ["config"] and m == "GET":
            return Response(200, json.loads(json.dumps(c.describe())))
        raise apierrors.unknown_path()
