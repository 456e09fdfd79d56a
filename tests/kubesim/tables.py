"""Server-side printing: the meta.k8s.io Table that `kubectl get` asks for
(`Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`), as the
apiserver builds it.

- A CR's columns are Name plus its CRD version's additionalPrinterColumns,
  or Name plus Age when it lists none (apiextensions' default). A column's
  jsonPath is evaluated on the object; the cell's JSON type follows the
  column's type (string, integer, number, boolean, date); a missing value is
  null (kubectl leaves it blank). A date cell is the age ("5m10s"), as the
  apiserver's ConvertToHumanReadableDateType makes it.
- Every other kind gets the apiserver's default table: Name and "Created At"
  (the creationTimestamp, RFC 3339). The real server has richer columns for
  some built-ins (Pods, Namespaces, ...); kubesim does not.
- rows[].object follows `includeObject`: PartialObjectMetadata (the default),
  Object (the whole object) or None.
"""

import datetime
import json
import re

import apierrors

TABLE_VERSIONS = ("v1", "v1beta1")
INCLUDE = ("PartialObjectMetadata", "Object", "None")

# The column descriptions the apiserver takes from ObjectMeta's documentation.
NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CREATED_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is "
    "in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata")


def negotiate(accept):
    """The Table version the Accept header asks for first ("v1" or
    "v1beta1"), or None when a plain JSON answer comes first (or is all it
    names). Media ranges are taken in the client's order, as the apiserver
    does; parameters are matched case-sensitively, names without case."""
    for media in (accept or "").split(","):
        kind, *params = [p.strip() for p in media.split(";")]
        opts = {}
        for p in params:
            k, _, v = p.partition("=")
            opts[k.strip()] = v.strip()
        if kind.lower() not in ("application/json", "application/*", "*/*"):
            continue
        if "as" not in opts:
            return None
        if (opts["as"] == "Table" and opts.get("g") == "meta.k8s.io" and
                opts.get("v") in TABLE_VERSIONS):
            return opts["v"]
    return None


def include_policy(query):
    value = query.get("includeObject", "") or "PartialObjectMetadata"
    if value not in INCLUDE:
        raise apierrors.bad_request(
            f'invalid includeObject "{value}": must be one of {", ".join(INCLUDE)}')
    return value


def crd_columns(crd_version):
    """The columns a CRD version prints (after Name), as
    [{name, type, format, description, priority, jsonPath}]."""
    cols = crd_version.get("additionalPrinterColumns") or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
         "description": CREATED_DESCRIPTION}]
    out = []
    for c in cols:
        path = c.get("jsonPath", "")
        out.append({"name": c.get("name", ""), "type": c.get("type", ""),
                    "format": c.get("format", ""),
                    "description": c.get("description") or
                    f"Custom resource definition column (in JSONPath format): {path}",
                    "priority": int(c.get("priority") or 0), "jsonPath": path})
    return out


_STEP = re.compile(r"""\.([^.\[\]]+)|\[(\d+)\]|\[['"]([^'"]*)['"]\]""")


def json_path(obj, path):
    """The value at a simple JSONPath (`.a.b`, `.a[0].b`, `.a['b.c']`, the
    forms CRD printer columns allow); None when something on the way is
    missing."""
    pos, cur = 0, obj
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            return None
        pos = m.end()
        key, index, quoted = m.groups()
        if index is not None:
            i = int(index)
            if not isinstance(cur, list) or i >= len(cur):
                return None
            cur = cur[i]
        else:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key if key is not None else quoted)
            if cur is None:
                return None
    return cur


def human_duration(seconds):
    """apimachinery's duration.HumanDuration: two or three significant
    figures, as `kubectl get` shows ages."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp, now=None):
    """A date cell: the time since an RFC 3339 timestamp."""
    try:
        t = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    if t.tzinfo is None:
        return "<invalid>"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return human_duration((now - t).total_seconds())


def _go_text(value):
    """A string column's text for a non-string value, as client-go's
    jsonpath prints it: objects and arrays as JSON, scalars plainly."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell(column, value):
    """A cell of a CRD column, typed as the apiserver's cellForJSONValue."""
    if value is None:
        return None
    t = column["type"]
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return value if isinstance(value, str) else _go_text(value)
    if t == "integer":
        return int(value) if is_num else None
    if t == "number":
        return float(value) if is_num else None
    if t == "boolean":
        return value if isinstance(value, bool) else None
    if t == "date":
        return age(value) if isinstance(value, str) else None
    return None


def _definition(c):
    return {k: c[k] for k in ("name", "type", "format", "description", "priority")}


def columns(rt, version):
    """Column definitions, each with a function making the row's cell."""
    name = ({"name": "Name", "type": "string", "format": "name",
             "description": NAME_DESCRIPTION, "priority": 0},
            lambda obj: obj["metadata"].get("name", ""))
    if rt.printer_columns is None:
        created = ({"name": "Created At", "type": "date", "format": "",
                    "description": CREATED_DESCRIPTION, "priority": 0},
                   lambda obj: obj["metadata"].get("creationTimestamp") or
                   "0001-01-01T00:00:00Z")
        return [name, created]
    out = [name]
    for c in rt.printer_columns.get(version, []):
        out.append((_definition(c), lambda obj, c=c: cell(c, json_path(obj, c["jsonPath"]))))
    return out


def table(rt, version, table_version, objects, list_meta, include):
    """The Table of `objects` (a list's items, or the one object of a GET);
    list_meta is the list's metadata (resourceVersion, continue,
    remainingItemCount) or, for a GET, {resourceVersion} of the object."""
    cols = columns(rt, version)
    api_version = f"meta.k8s.io/{table_version}"
    rows = []
    for obj in objects:
        row = {"cells": [make(obj) for _, make in cols]}
        if include == "Object":
            row["object"] = obj
        elif include == "PartialObjectMetadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                             "metadata": obj.get("metadata", {})}
        else:
            row["object"] = None
        rows.append(row)
    return {"kind": "Table", "apiVersion": api_version, "metadata": list_meta,
            "columnDefinitions": [d for d, _ in cols], "rows": rows}
