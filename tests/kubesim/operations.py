"""Object semantics of the generic registry (apiserver pkg/registry/rest and
registry/generic/registry/store.go, apiextensions' CR strategy): create,
update, patch, delete, with optimistic concurrency, the status subresource,
generation, finalizers and deletionTimestamp (README.md, "Writes").

Every public method takes the store lock for its whole read-modify-write.
"""

import json
import random
import uuid

import apierrors
import crdschema
import kinds
import patching
from apierrors import ApiError, field_error
from store import ADDED, DELETED, MODIFIED, Entry, dumps

GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NS_KEY = ("", "namespaces")
# metadata fields only the server sets; kept from the old object on update.
SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "generation")

MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


class FieldValidation:
    """The request's fieldValidation mode (Strict, Warn (default), Ignore) and
    the warnings it produced, for unknown fields that pruning removed."""

    def __init__(self, mode="", version=""):
        self.mode = mode or "Warn"
        self.version = version
        self.warnings = []

    def report(self, rt, dropped):
        unknown = [f'unknown field "{p}"' for p in dropped]
        if self.mode == "Strict":
            raise apierrors.bad_request(
                f'{rt.kind} in version "{self.version or rt.storage_version}" cannot be '
                f"handled as a {rt.kind}: strict decoding error: {', '.join(unknown)}")
        if self.mode == "Warn":
            self.warnings.extend(unknown)


def _copy(obj):
    return json.loads(json.dumps(obj))


def _content_without(obj, skip):
    return {k: v for k, v in obj.items() if k not in skip}


class Operations:
    def __init__(self, store, registry, after_commit=None):
        self.store = store
        self.registry = registry
        self.after_commit = after_commit or (lambda rt, type_, entry: None)

    # -- helpers -------------------------------------------------------------
    def _not_found(self, rt, name):
        return apierrors.not_found(rt.group, rt.plural, name)

    def _commit(self, rt, type_, key, obj, old):
        entry = self.store.commit(rt.key, type_, key, obj, old)
        self.after_commit(rt, type_, entry)
        return entry

    def _check_namespace(self, rt, ns, name):
        if not rt.namespaced:
            return
        entry = self.store.get(NS_KEY, "", ns)
        if entry is None:
            raise apierrors.not_found("", "namespaces", ns)
        if entry.obj["metadata"].get("deletionTimestamp"):
            raise apierrors.forbidden(
                rt.group, rt.plural, name,
                f"unable to create new content in namespace {ns} because it is being terminated")

    def _check_identity(self, rt, ns, name, meta):
        if not isinstance(meta, dict):
            raise apierrors.bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise apierrors.bad_request("the namespace of the provided object does not "
                                            "match the namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name") and meta["name"] != name:
            raise apierrors.bad_request(f"the name of the object ({meta['name']}) does not "
                                        f"match the name on the URL ({name})")

    def _set_type(self, rt, obj):
        """Set apiVersion/kind (storage version) and keep them the first keys,
        as the real server's encoding does."""
        rest = [(k, v) for k, v in obj.items() if k not in ("apiVersion", "kind")]
        obj.clear()
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        obj.update(rest)

    # -- reads ---------------------------------------------------------------
    def get(self, rt, ns, name):
        entry = self.store.get(rt.key, ns, name)
        if entry is None:
            raise self._not_found(rt, name)
        return entry

    # -- create --------------------------------------------------------------
    def _structural(self, rt, obj, validation):
        """Prune and default a custom resource by its CRD's schema."""
        if rt.schema is None:
            return
        dropped = crdschema.prune(obj, rt.schema)
        crdschema.apply_defaults(obj, rt.schema)
        if dropped and validation is not None:
            validation.report(rt, dropped)

    def create(self, rt, ns, body, dry_run=False, validation=None):
        if not isinstance(body, dict):
            raise apierrors.bad_request("the body of the request must be a JSON object")
        meta = body.setdefault("metadata", {})
        self._check_identity(rt, ns, None, meta)
        name, gen = meta.get("name"), meta.get("generateName")
        if not name and not gen:
            raise apierrors.invalid(rt.group, rt.kind, "", [field_error(
                "required", "metadata.name", "name or generateName is required")])
        with self.store.lock:
            self._check_namespace(rt, ns, name or gen)
            if name:
                errs = kinds.name_errors(rt, name)
                if errs:
                    raise apierrors.invalid(rt.group, rt.kind, name, errs)
                if self.store.get(rt.key, ns, name) is not None:
                    raise apierrors.already_exists(rt.group, rt.plural, name)
            else:
                name = self._generate_name(rt, ns, gen)
            meta["name"] = name
            self._set_type(rt, body)
            for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "managedFields", "selfLink"):
                meta.pop(f, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = kinds.now()
            if rt.generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if rt.status:
                body.pop("status", None)
            self._structural(rt, body, validation)
            kinds.prepare_create(rt, body)
            if dry_run:
                return Entry(body, dumps(body), 0)
            return self._commit(rt, ADDED, (ns, name), body, None)

    def _generate_name(self, rt, ns, prefix):
        prefix = prefix[:58]
        for _ in range(8):
            cand = prefix + "".join(random.choice(GENERATE_ALPHABET) for _ in range(5))
            errs = kinds.name_errors(rt, cand)
            if errs:
                raise apierrors.invalid(rt.group, rt.kind, cand, errs)
            if self.store.get(rt.key, ns, cand) is None:
                return cand
        raise apierrors.generate_name_conflict(rt.group, rt.plural, cand)

    # -- update / patch ------------------------------------------------------
    def update(self, rt, ns, name, body, subresource="", dry_run=False, validation=None):
        """PUT.  Returns (entry, created)."""
        if not isinstance(body, dict):
            raise apierrors.bad_request("the body of the request must be a JSON object")
        meta = body.setdefault("metadata", {})
        self._check_identity(rt, ns, name, meta)
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                if subresource or not rt.create_on_update:
                    raise self._not_found(rt, name)
                meta["name"] = name
                return self.create(rt, ns, body, dry_run, validation), True
            rv = meta.get("resourceVersion")
            if not rv:
                if not rt.unconditional_update:
                    raise apierrors.invalid(rt.group, rt.kind, name, [field_error(
                        "invalid", "metadata.resourceVersion", "must be specified for an update",
                        "0x0")])
            elif rv != cur.obj["metadata"]["resourceVersion"]:
                raise apierrors.stale_update(rt.group, rt.plural, name)
            return self._apply_update(rt, cur, body, subresource, dry_run, validation), False

    def patch(self, rt, ns, name, content_type, patch_body, subresource="", dry_run=False,
              validation=None):
        ctype = (content_type or "").split(";")[0].strip()
        if ctype not in (MERGE, JSONPATCH, STRATEGIC) or (ctype == STRATEGIC and rt.is_crd):
            accepted = [JSONPATCH, MERGE, APPLY]
            if not rt.is_crd:
                accepted.insert(2, STRATEGIC)
            raise apierrors.unsupported_media_type(ctype, accepted)
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                raise self._not_found(rt, name)
            doc = cur.copy()
            if ctype == MERGE:
                if not isinstance(patch_body, dict):
                    raise apierrors.bad_request("merge patch must be a JSON object")
                result = patching.merge_patch(doc, patch_body)
            elif ctype == STRATEGIC:
                if not isinstance(patch_body, dict):
                    raise apierrors.bad_request("strategic merge patch must be a JSON object")
                result = patching.strategic_merge_patch(doc, patch_body)
            else:
                result = patching.json_patch(doc, patch_body)
            if not isinstance(result, dict):
                raise apierrors.bad_request("patch result is not an object")
            meta = result.get("metadata")
            if not isinstance(meta, dict):
                meta = result["metadata"] = {}
            # A resourceVersion written by the patch is a precondition.
            cur_rv = cur.obj["metadata"]["resourceVersion"]
            if meta.get("resourceVersion", cur_rv) != cur_rv:
                raise apierrors.stale_update(rt.group, rt.plural, name)
            meta["resourceVersion"] = cur_rv
            self._check_identity(rt, ns, name, meta)
            return self._apply_update(rt, cur, result, subresource, dry_run, validation)

    def _apply_update(self, rt, cur, body, subresource, dry_run, validation=None):
        """Turn a validated PUT/PATCH body into the new object and write it."""
        old = cur.obj
        name = old["metadata"]["name"]
        if subresource == "status":
            # status_strategy: everything but status comes from the old object.
            new = cur.copy()
            if body.get("status") is None:
                new.pop("status", None)
            else:
                new["status"] = body["status"]
        elif subresource:
            raise apierrors.method_not_allowed()
        else:
            new = body
            self._set_type(rt, new)
            if rt.status:
                if "status" in old:
                    new["status"] = _copy(old["status"])
                else:
                    new.pop("status", None)
            meta, old_meta = new["metadata"], old["metadata"]
            for f in SERVER_META:
                if f in old_meta:
                    meta[f] = old_meta[f]
                else:
                    meta.pop(f, None)
            meta["name"] = name
            for f in ("managedFields", "selfLink"):
                meta.pop(f, None)
            if old_meta.get("deletionTimestamp"):
                added = [f for f in meta.get("finalizers") or []
                         if f not in (old_meta.get("finalizers") or [])]
                if added:
                    raise apierrors.invalid(rt.group, rt.kind, name, [field_error(
                        "forbidden", "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted, "
                        "found new finalizers []string{" +
                        ", ".join(json.dumps(f) for f in added) + "}")])
            kinds.prepare_update(rt, new, old)
        self._structural(rt, new, validation)
        return self._write(rt, cur, new, dry_run)

    def _write(self, rt, cur, new, dry_run=False):
        """Commit `new` over `cur`: bump generation on a content change, skip
        no-op writes (no new RV, no event, like etcd's GuaranteedUpdate),
        and remove an object being deleted once nothing holds it."""
        old = cur.obj
        meta = new["metadata"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if rt.generation:
            skip = {"metadata", "status"} if rt.status else {"metadata"}
            if _content_without(new, skip) != _content_without(old, skip):
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if new == old:
            return cur
        if dry_run:
            return Entry(new, dumps(new), cur.rv)
        key = (old["metadata"].get("namespace", ""), old["metadata"]["name"])
        if meta.get("deletionTimestamp") and not meta.get("finalizers") \
                and not kinds.defers_delete(rt, new):
            return self._commit(rt, DELETED, key, new, cur)
        return self._commit(rt, MODIFIED, key, new, cur)

    def mutate(self, rt, ns, name, fn):
        """Internal read-modify-write for controllers inside kubesim (GC, the
        job/kubelet simulation): fn(obj) edits a copy; no status or
        permission rules apply.  Returns the new entry, or None if gone."""
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                return None
            new = cur.copy()
            fn(new)
            return self._write(rt, cur, new)

    # -- delete --------------------------------------------------------------
    def delete(self, rt, ns, name, options=None, dry_run=False):
        """DELETE.  Returns (http_code, body_dict)."""
        options = options or {}
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                raise self._not_found(rt, name)
            old_meta = cur.obj["metadata"]
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old_meta.get("uid"):
                raise apierrors.conflict(rt.group, rt.plural, name,
                                         f"Precondition failed: UID in precondition: {pre['uid']}, "
                                         f"UID in object meta: {old_meta.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != old_meta["resourceVersion"]:
                raise apierrors.conflict(
                    rt.group, rt.plural, name,
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{old_meta['resourceVersion']}")
            policy = options.get("propagationPolicy")
            if policy not in (None, "", "Background", "Foreground", "Orphan"):
                raise apierrors.invalid("meta.k8s.io", "DeleteOptions", "", [field_error(
                    "notsupported", "propagationPolicy",
                    'supported values: "Foreground", "Background", "Orphan", "nil"',
                    f'"{policy}"')])
            if not policy and options.get("orphanDependents") is not None:
                policy = "Orphan" if options["orphanDependents"] else "Background"
            obj = cur.copy()
            meta = obj["metadata"]
            fins = list(meta.get("finalizers") or [])
            if not policy and not ({"orphan", "foregroundDeletion"} & set(fins)):
                policy = rt.gc_default
            if policy == "Orphan":
                fins = [f for f in fins if f != "foregroundDeletion"]
                if "orphan" not in fins:
                    fins.append("orphan")
            elif policy == "Foreground":
                fins = [f for f in fins if f != "orphan"]
                if "foregroundDeletion" not in fins:
                    fins.append("foregroundDeletion")
            elif policy == "Background":
                fins = [f for f in fins if f not in ("orphan", "foregroundDeletion")]
            if fins or kinds.defers_delete(rt, obj):
                # Graceful: mark, keep the object, return it with 200.
                if fins:
                    meta["finalizers"] = fins
                else:
                    meta.pop("finalizers", None)
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = kinds.now()
                    meta["deletionGracePeriodSeconds"] = 0
                    if int(meta.get("generation") or 0) > 0:
                        meta["generation"] = int(meta["generation"]) + 1
                    kinds.on_deleting(rt, obj)
                if dry_run:
                    return 200, obj
                entry = cur if obj == cur.obj else self._commit(
                    rt, MODIFIED, (ns, name), obj, cur)
                return 200, entry.obj
            if dry_run:
                return 200, obj
            entry = self._commit(rt, DELETED, (ns, name), obj, cur)
            if rt.return_object:
                return 200, entry.obj
            details = {"name": name}
            if rt.group:
                details["group"] = rt.group
            details.update({"kind": rt.plural, "uid": meta.get("uid")})
            return 200, apierrors.success_body(details)

    def delete_collection(self, rt, ns, keep, options=None, dry_run=False):
        """DELETE on a collection: delete every object `keep(entry)` accepts."""
        with self.store.lock:
            targets = [k for k, e in self.store.current(rt.key).items()
                       if (not ns or k[0] == ns) and keep(e)]
            deleted = []
            for k in targets:
                before = self.store.get(rt.key, *k)
                try:
                    self.delete(rt, k[0], k[1], options, dry_run)
                except ApiError:
                    continue
                deleted.append((self.store.get(rt.key, *k) or before).obj)
            return deleted
