"""The Kubernetes REST surface: turns a parsed HTTP request into request info
(like apiserver's RequestInfoFactory), authenticates and authorizes it, then
serves discovery, CRUD, list/watch and the review/token APIs.

Handlers return a Response, or a WatchPlan that the HTTP layer streams.
"""

import json
import time

import apierrors
import discovery
import listing
import miniyaml
import openapi
import protobuf_k8s
import rbac
import tables
from apierrors import field_error
from authn import User
from operations import FieldValidation
from selectors_k8s import parse_field_selector, parse_label_selector
from store import ADDED, dumps
from watchhub import Watcher, pick_timeout

PUBLIC_PATHS = ("/healthz", "/livez", "/readyz")


class Request:
    def __init__(self, method, path, query, headers, body):
        self.method, self.path, self.query = method, path, query
        self.headers, self.body = headers, body
        self.user = None


class Response:
    def __init__(self, code, body, headers=None, content_type="application/json"):
        self.code = code
        self.body = body if isinstance(body, bytes) else dumps(body)
        self.headers = headers or {}
        self.content_type = content_type


class WatchPlan:
    """A watch to stream: initial events, then the watcher's queue.  If
    `error` is set, the stream is a single ERROR event (e.g. 410)."""

    def __init__(self, watcher=None, initial=(), timeout=0, bookmarks=False, error=None):
        self.watcher, self.initial, self.timeout = watcher, list(initial), timeout
        self.bookmarks, self.error = bookmarks, error


class RequestInfo:
    def __init__(self):
        self.resource_request = False
        self.group = self.version = self.resource = self.subresource = ""
        self.name = self.namespace = ""
        self.verb = ""
        self.invalid = False


def request_info(method, path, query):
    info = RequestInfo()
    parts = [p for p in path.split("/") if p]
    watch = _truthy(query.get("watch", ""))
    info.verb = {"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch",
                 "DELETE": "delete", "HEAD": "head"}.get(method, method.lower())
    if not parts or parts[0] not in ("api", "apis"):
        return info
    if parts[0] == "api":
        if len(parts) < 3:
            return info
        info.version, rest = parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return info
        info.group, info.version, rest = parts[1], parts[2], parts[3:]
    info.resource_request = True
    if rest[0] == "namespaces" and len(rest) >= 2:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    info.resource = rest[0]
    info.name = rest[1] if len(rest) > 1 else ""
    info.subresource = rest[2] if len(rest) > 2 else ""
    info.invalid = len(rest) > 3
    if method == "GET":
        info.verb = "watch" if watch else ("get" if info.name else "list")
    elif method == "POST":
        info.verb = "create"
    elif method == "PUT":
        info.verb = "update"
    elif method == "PATCH":
        info.verb = "patch"
    elif method == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    return info


def parse_body(req, required=True):
    if not req.body:
        if required:
            raise apierrors.bad_request("the body of the request was empty")
        return None
    ctype = (req.headers.get("Content-Type") or "application/json").split(";")[0].strip()
    if "protobuf" in ctype:
        try:
            return protobuf_k8s.decode(req.body)
        except (ValueError, IndexError) as exc:
            raise apierrors.ApiError(415, "UnsupportedMediaType", str(exc), {})
    if "cbor" in ctype:
        raise apierrors.unsupported_media_type(ctype, ["application/json", "application/yaml"])
    try:
        if "yaml" in ctype and "apply-patch" not in ctype:
            return miniyaml.load(req.body.decode("utf-8"))
        return json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise apierrors.bad_request(f"couldn't get version/kind; json parse error: {exc}")


def _truthy(v):
    """Go's strconv.ParseBool, which the apiserver uses for query booleans."""
    return v in ("1", "t", "T", "TRUE", "true", "True")


class Api:
    def __init__(self, cluster):
        self.c = cluster

    # -- entry point -------------------------------------------------------
    def handle(self, req):
        if req.path in PUBLIC_PATHS:
            return Response(200, b"ok", content_type="text/plain")
        auth = req.headers.get("Authorization") or ""
        user = self.c.authn.from_header(auth)
        if user is None:
            if not (req.path == "/kubesim" or req.path.startswith("/kubesim/")):
                self.c.faults.note_unauthenticated(req.method, req.path)
            raise apierrors.unauthorized()
        req.user = user
        if req.path == "/kubesim" or req.path.startswith("/kubesim/"):
            if not user.is_master():
                raise apierrors.forbidden("", "", "", f'User "{user.name}" cannot use the '
                                          "kubesim control endpoints (system:masters only)")
            return self.c.controls.handle(req)
        info = request_info(req.method, req.path, req.query)
        self.c.faults.apply(req.method, req.path, info.verb)
        attrs = rbac.Attributes(user, info.verb, info.group, info.resource, info.subresource,
                                info.name, info.namespace, req.path, info.resource_request,
                                info.version)
        allowed, _ = self.c.authz.authorize(attrs)
        if not allowed:
            raise apierrors.forbidden(info.group, info.resource, info.name,
                                      rbac.forbidden_message(attrs))
        if not info.resource_request:
            return self._non_resource(req)
        if info.invalid:
            raise apierrors.unknown_path()
        return self._resource(req, info)

    # -- discovery -----------------------------------------------------------
    def _non_resource(self, req):
        path = req.path.rstrip("/") or "/"
        reg = self.c.registry
        if req.method != "GET":
            raise apierrors.method_not_allowed()
        if path == "/version":
            return Response(200, discovery.VERSION_INFO)
        if path == "/api":
            return Response(200, discovery.api_versions(self.c.server_address))
        if path == "/apis":
            return Response(200, discovery.api_group_list(reg))
        parts = path.strip("/").split("/")
        doc = None
        if path == "/openapi/v3":
            doc = openapi.root(reg)
        elif parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            gv = parts[2:]
            if gv[0] == "api" and len(gv) == 2:
                doc = openapi.group_version(reg, "", gv[1])
            elif gv[0] == "apis" and len(gv) == 3:
                doc = openapi.group_version(reg, gv[1], gv[2])
        elif parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list(reg, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(reg, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(reg, parts[1], parts[2])
        if doc is None:
            # /openapi/v2 included: clients that want schemas get none.
            raise apierrors.unknown_path()
        return Response(200, doc)

    # -- resources -----------------------------------------------------------
    def _resource(self, req, info):
        c = self.c
        rt = c.registry.lookup(info.group, info.version, info.resource)
        if rt is None:
            raise apierrors.unknown_path()
        ns = info.namespace if rt.namespaced else ""
        if rt.key == ("", "namespaces"):
            ns = ""
        elif not rt.namespaced and info.namespace:
            raise apierrors.unknown_path()
        if rt.virtual:
            if req.method != "POST" or info.name:
                raise apierrors.method_not_allowed()
            return self._review(req, rt)
        if info.subresource == "token" and rt.key == ("", "serviceaccounts"):
            if req.method != "POST":
                raise apierrors.method_not_allowed()
            return self._token_request(req, ns, info.name)
        if info.subresource and (info.subresource != "status" or not rt.status):
            raise apierrors.unknown_path()
        if rt.namespaced and not ns and info.name and rt.key != ("", "namespaces"):
            raise apierrors.unknown_path()
        q = req.query
        dry = q.get("dryRun") == "All"
        fv = FieldValidation(q.get("fieldValidation", ""), info.version)
        m = req.method
        table = tables.negotiate(req.headers.get("Accept")) if m == "GET" else None
        include = tables.include_policy(q) if table else None
        if m == "GET" and info.verb == "watch":
            plan = self._watch(rt, info.version, ns, q, req.path)
            if table and plan.watcher is not None:
                plan.watcher.table = (table, include, True)
            return plan
        if m == "GET" and info.name:
            if info.subresource and info.subresource != "status":
                raise apierrors.unknown_path()
            resp = self._object(200, c.ops.get(rt, ns, info.name).obj, rt, info.version)
            if table:
                obj = json.loads(resp.body)
                meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                resp = Response(200, tables.table(rt, info.version, table, [obj], meta, include))
            return resp
        if m == "GET":
            label_sel, field_sel = self._selectors(rt, q)
            if "sendInitialEvents" in q:
                raise self._send_initial_events_error("list")
            body = listing.list_objects(c.store, rt, info.version, ns, q, label_sel, field_sel)
            if table:
                lst = json.loads(body)
                body = tables.table(rt, info.version, table, lst["items"], lst["metadata"],
                                    include)
            return Response(200, body)
        if m == "POST" and not info.name:
            if rt.namespaced and not ns:
                raise apierrors.method_not_allowed()
            entry = c.ops.create(rt, ns, parse_body(req), dry, fv)
            return self._object(201, entry.obj, rt, info.version, fv)
        if m == "PUT" and info.name:
            entry, created = c.ops.update(rt, ns, info.name, parse_body(req),
                                          info.subresource, dry, fv)
            return self._object(201 if created else 200, entry.obj, rt, info.version, fv)
        if m == "PATCH" and info.name:
            patch = parse_body(req)
            entry = c.ops.patch(rt, ns, info.name, req.headers.get("Content-Type"), patch,
                                info.subresource, dry, fv)
            return self._object(200, entry.obj, rt, info.version, fv)
        if m == "DELETE" and info.name and not info.subresource:
            opts = self._delete_options(req)
            if q.get("propagationPolicy"):
                opts["propagationPolicy"] = q["propagationPolicy"]
            if "orphanDependents" in q:
                opts["orphanDependents"] = _truthy(q["orphanDependents"])
            code, body = c.ops.delete(rt, ns, info.name, opts, dry)
            if body.get("kind") == "Status":
                return Response(code, body)
            return self._object(code, body, rt, info.version)
        if m == "DELETE" and not info.name:
            label_sel, field_sel = self._selectors(rt, q)
            opts = self._delete_options(req)
            if q.get("propagationPolicy"):
                opts["propagationPolicy"] = q["propagationPolicy"]

            def keep(entry):
                return ((label_sel is None or label_sel.matches(
                    entry.obj["metadata"].get("labels"))) and
                        (field_sel is None or field_sel.matches(entry.obj)))
            items = c.ops.delete_collection(rt, ns, keep, opts, dry)
            return Response(200, {"kind": rt.list_kind, "apiVersion": rt.api_version(info.version),
                                  "metadata": {"resourceVersion": str(c.store.rv)},
                                  "items": items})
        raise apierrors.method_not_allowed()

    @staticmethod
    def _object(code, obj, rt, version, validation=None):
        api_version = rt.api_version(version)
        if obj.get("apiVersion") != api_version:
            obj = dict(obj, apiVersion=api_version)
        headers = {}
        if validation is not None and validation.warnings:
            # RFC 7234 warn-code 299, as the apiserver sends them.
            headers["Warning"] = ", ".join(
                '299 - "%s"' % w.replace('"', '\\"') for w in validation.warnings)
        return Response(code, obj, headers)

    @staticmethod
    def _delete_options(req):
        opts = parse_body(req, required=False) or {}
        if not isinstance(opts, dict):
            raise apierrors.bad_request("DeleteOptions must be a JSON object")
        return opts

    @staticmethod
    def _selectors(rt, q):
        label_sel = parse_label_selector(q.get("labelSelector", ""))
        field_sel = parse_field_selector(q.get("fieldSelector", ""), rt.fields)
        return (None if label_sel.empty() else label_sel,
                None if field_sel.empty() else field_sel)

    @staticmethod
    def _send_initial_events_error(what):
        return apierrors.invalid("meta.k8s.io", "ListOptions", "", [field_error(
            "forbidden", "sendInitialEvents",
            f"sendInitialEvents is forbidden for {what} unless the WatchList feature gate "
            "is enabled")])

    # -- watch ---------------------------------------------------------------
    def _watch(self, rt, version, ns, q, path):
        c = self.c
        if "sendInitialEvents" in q:
            raise self._send_initial_events_error("watch")
        label_sel, field_sel = self._selectors(rt, q)
        try:
            timeout = pick_timeout(int(q.get("timeoutSeconds") or 0), c.min_request_timeout)
        except ValueError:
            raise apierrors.bad_request(f"invalid timeoutSeconds: {q.get('timeoutSeconds')}")
        bookmarks = _truthy(q.get("allowWatchBookmarks", ""))
        rv_param = q.get("resourceVersion", "")
        w = Watcher(rt, version, ns, label_sel, field_sel, c.watch_queue_size)
        w.path = path    # before registration: /kubesim/watches shows and filters by it
        with c.store.lock:
            if rv_param in ("", "0"):
                initial = [(ADDED, e) for k, e in sorted(c.store.current(rt.key).items())
                           if (not ns or k[0] == ns) and w.wants(e.obj)]
            else:
                try:
                    rv = int(rv_param)
                except ValueError:
                    raise apierrors.bad_request(f"invalid resource version: {rv_param}")
                if rv < c.store.floor_rv:
                    status = apierrors.expired(
                        f"too old resource version: {rv} ({c.store.floor_rv})").body()
                    return WatchPlan(error=status)
                initial = []
                for ev in c.store.events_after(rt.key, rv):
                    t = w.classify(ev)
                    if t:
                        initial.append((t, ev.new))
            w.seen_rv = c.store.rv
            c.store.add_watcher(rt.key, w)
        return WatchPlan(w, initial, timeout, bookmarks)

    # -- reviews and tokens ----------------------------------------------------
    def _review(self, req, rt):
        body = parse_body(req)
        spec = body.get("spec") or {}
        out = {"kind": rt.kind, "apiVersion": rt.api_version(),
               "metadata": {"creationTimestamp": None}, "spec": spec}
        if rt.plural == "tokenreviews":
            user, result = self.c.authn.authenticate(spec.get("token", ""),
                                                     spec.get("audiences") or None)
            if user is None:
                out["status"] = {"user": {}, "error": result}
            else:
                out["status"] = {"authenticated": True, "user": user.info(),
                                 "audiences": result}
            return Response(201, out)
        if rt.plural == "selfsubjectreviews":  # whoami: the caller's own user info
            out.pop("spec", None)
            out["status"] = {"userInfo": req.user.info()}
            return Response(201, out)
        if rt.plural == "selfsubjectaccessreviews":
            subject = req.user
        else:
            subject = User(spec.get("user", ""), spec.get("uid", ""), spec.get("groups") or [],
                           spec.get("extra"), add_authenticated=False)
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if ra is not None:
            attrs = rbac.Attributes(subject, ra.get("verb", ""), ra.get("group", ""),
                                    ra.get("resource", ""), ra.get("subresource", ""),
                                    ra.get("name", ""), ra.get("namespace", ""),
                                    version=ra.get("version", ""))
        elif nra is not None:
            attrs = rbac.Attributes(subject, nra.get("verb", ""), path=nra.get("path", ""),
                                    resource_request=False)
        else:
            raise apierrors.invalid(rt.group, rt.kind, "", [field_error(
                "invalid", "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                "null")])
        allowed, reason = self.c.authz.authorize(attrs)
        status = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        out["status"] = status
        return Response(201, out)

    def _token_request(self, req, ns, name):
        c = self.c
        sa = c.store.get(("", "serviceaccounts"), ns, name)
        if sa is None:
            raise apierrors.not_found("", "serviceaccounts", name)
        body = parse_body(req, required=False) or {}
        spec = body.get("spec") or {}
        exp = int(spec.get("expirationSeconds") or 3600)
        if exp < 600:
            raise apierrors.invalid("authentication.k8s.io", "TokenRequest", name, [field_error(
                "invalid", "spec.expirationSeconds",
                "may not specify a duration less than 10 minutes", str(exp))])
        if exp > 2 ** 32:
            raise apierrors.invalid("authentication.k8s.io", "TokenRequest", name, [field_error(
                "invalid", "spec.expirationSeconds",
                "may not specify a duration larger than 2^32 seconds", str(exp))])
        audiences = spec.get("audiences") or list(c.authn.api_audiences)
        token, exp_at = c.authn.mint(ns, name, sa.obj["metadata"]["uid"], audiences, exp,
                                     spec.get("boundObjectRef"))
        return Response(201, {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": exp,
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token,
                       "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime(exp_at))}})
