"""Per-kind behaviour the real registry strategies and admission add on top
of the generic semantics: name rules, defaults, server-set fields, CRD
establishment.  Called by operations.py with the store lock held.
"""

import base64
import re
import time

import apierrors
from apierrors import field_error

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric "
                 "character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
             "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
             "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def name_errors(rt, name):
    """metadata.name validation; RBAC kinds accept any path segment (so
    "system:foo" works), namespaces need a DNS label, the rest a subdomain."""
    if rt.group == "rbac.authorization.k8s.io":
        if name in (".", "..") or "/" in name or "%" in name:
            return [field_error("invalid", "metadata.name", "may not contain '/' or '%'",
                                f'"{name}"')]
        return []
    if rt.key == ("", "namespaces"):
        if len(name) > 63 or not DNS_LABEL.match(name):
            return [field_error("invalid", "metadata.name", LABEL_MSG, f'"{name}"')]
        return []
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        return [field_error("invalid", "metadata.name", SUBDOMAIN_MSG, f'"{name}"')]
    return []


def _invalid(rt, name, errors):
    return apierrors.invalid(rt.group, rt.kind, name, errors)


def prepare_create(rt, obj):
    """Defaults and server-set fields for a new object (uid/name already set)."""
    meta = obj["metadata"]
    name = meta["name"]
    key = rt.key
    if key == ("", "namespaces"):
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif key == ("", "pods"):
        obj.setdefault("spec", {}).setdefault("restartPolicy", "Always")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif key == ("", "persistentvolumeclaims"):
        obj["status"] = {"phase": "Pending"}
    elif key == ("", "secrets"):
        obj.setdefault("type", "Opaque")
        _fold_string_data(obj)
    elif key == ("batch", "jobs"):
        _prepare_job(rt, obj)
    elif key == CRD_KEY:
        validate_crd(rt, obj)
        fins = meta.setdefault("finalizers", [])
        if CRD_CLEANUP_FINALIZER not in fins:
            fins.append(CRD_CLEANUP_FINALIZER)
        obj["status"] = crd_status(obj, None)


def prepare_update(rt, new, old):
    """Kind rules for an update of the main resource."""
    key = rt.key
    if key == ("", "namespaces"):
        new["spec"] = old.get("spec", {})  # spec.finalizers change only via /finalize
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = \
            new["metadata"]["name"]
    elif key == ("", "secrets"):
        _fold_string_data(new)
    elif key == ("batch", "jobs"):
        # selector and the generated template labels are immutable
        spec, old_spec = new.setdefault("spec", {}), old.get("spec", {})
        if "selector" in old_spec:
            spec["selector"] = old_spec["selector"]
    elif key == CRD_KEY:
        validate_crd(rt, new)
        new["status"] = crd_status(new, old.get("status"))


def defers_delete(rt, obj):
    """True if deletion must wait for something other than metadata.finalizers
    (a namespace waits for its spec.finalizers, emptied by the collector)."""
    if rt.key == ("", "namespaces"):
        return bool((obj.get("spec") or {}).get("finalizers"))
    return False


def on_deleting(rt, obj):
    """Changes made when deletionTimestamp is first set."""
    if rt.key == ("", "namespaces"):
        obj.setdefault("status", {})["phase"] = "Terminating"


def _fold_string_data(obj):
    """Secrets: stringData entries overwrite data, base64-encoded, and
    stringData is never stored (it is write-only)."""
    sd = obj.pop("stringData", None)
    if sd:
        data = obj.setdefault("data", {})
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _prepare_job(rt, obj):
    meta = obj["metadata"]
    name, uid = meta["name"], meta["uid"]
    spec = obj.setdefault("spec", {})
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    tspec = template.setdefault("spec", {})
    rp = tspec.get("restartPolicy")
    if rp not in ("Never", "OnFailure"):
        if rp is None:
            err = field_error("required", "spec.template.spec.restartPolicy",
                              'valid values: "OnFailure", "Never"')
        else:
            err = field_error("notsupported", "spec.template.spec.restartPolicy",
                              'supported values: "OnFailure", "Never"', f'"{rp}"')
        raise _invalid(rt, name, [err])
    # SetDefaults_Job: a Job without labels takes the template's.
    if not meta.get("labels") and tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    for k, v in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6),
                 ("completionMode", "NonIndexed"), ("suspend", False),
                 ("podReplacementPolicy", "TerminatingOrFailed")):
        spec.setdefault(k, v)
    generated = {"batch.kubernetes.io/controller-uid": uid,
                 "batch.kubernetes.io/job-name": name,
                 "controller-uid": uid, "job-name": name}
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    tmeta["labels"] = dict(tmeta.get("labels") or {}, **generated)
    obj["status"] = {}


def validate_crd(rt, crd):
    name = crd["metadata"]["name"]
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    errors = []
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not group:
        errors.append(field_error("required", "spec.group", ""))
    if not plural:
        errors.append(field_error("required", "spec.names.plural", ""))
    if not kind:
        errors.append(field_error("required", "spec.names.kind", ""))
    if group and plural and name != f"{plural}.{group}":
        errors.append(field_error("invalid", "metadata.name",
                                  'must be spec.names.plural+"."+spec.group', f'"{name}"'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(field_error("notsupported", "spec.scope",
                                  'supported values: "Cluster", "Namespaced"',
                                  f'"{spec.get("scope", "")}"'))
    versions = spec.get("versions") or []
    if not versions:
        errors.append(field_error("invalid", "spec.versions", "must have exactly one version "
                                  "marked as storage version", "null"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errors.append(field_error("invalid", "spec.versions",
                                  "must have exactly one version marked as storage version",
                                  "[]apiextensions.CustomResourceDefinitionVersion{...}"))
    if errors:
        raise _invalid(rt, name, errors)
    names.setdefault("singular", kind.lower())
    names.setdefault("listKind", kind + "List")


def crd_status(crd, old_status):
    """What the CRD naming and establishing controllers write, done at once."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    old_status = old_status or {}
    old_conds = {c.get("type"): c for c in old_status.get("conditions") or []}
    ts = now()

    def cond(type_, reason, message):
        prev = old_conds.get(type_)
        return {"type": type_, "status": "True",
                "lastTransitionTime": prev.get("lastTransitionTime", ts) if prev and
                prev.get("status") == "True" else ts,
                "reason": reason, "message": message}

    stored = list(old_status.get("storedVersions") or [])
    for v in spec.get("versions") or []:
        if v.get("storage") and v.get("name") not in stored:
            stored.append(v["name"])
    return {"conditions": [cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                           cond("Established", "InitialNamesAccepted",
                                "the initial names have been accepted")],
            "acceptedNames": names, "storedVersions": stored}
