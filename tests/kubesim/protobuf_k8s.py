"""Decode Kubernetes protobuf request bodies for the few kinds kubectl's typed
commands send (`create namespace|secret|configmap|serviceaccount|role|
rolebinding|clusterrole|clusterrolebinding|token`, `auth can-i`).

client-go's typed clients send `application/vnd.kubernetes.protobuf` and
accept JSON back, so only decoding is needed.  Field numbers come from the
k8s.io/api generated.proto files.  Any other kind is a 415, which is what a
server without protobuf support for it would answer.
"""

import base64
import time


class Unsupported(ValueError):
    pass


MAGIC = b"k8s\x00"


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, val


# Schemas: field number -> (json name, type[, sub-schema]).  Types: str,
# bytes (base64 in JSON), int, bool, time, msg, map (str->str), bmap
# (str->bytes); a leading "*" marks a repeated field.
TIME = "time"
OWNER_REF = {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"),
             5: ("apiVersion", "str"), 6: ("controller", "bool"),
             7: ("blockOwnerDeletion", "bool")}
OBJECT_META = {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
               5: ("uid", "str"), 6: ("resourceVersion", "str"), 7: ("generation", "int"),
               8: ("creationTimestamp", TIME), 9: ("deletionTimestamp", TIME),
               10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "map"),
               12: ("annotations", "map"), 13: ("ownerReferences", "*msg", OWNER_REF),
               14: ("finalizers", "*str")}
LABEL_SELECTOR = {1: ("matchLabels", "map"), 2: ("matchExpressions", "*msg", {
    1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "*str")})}
POLICY_RULE = {1: ("verbs", "*str"), 2: ("apiGroups", "*str"), 3: ("resources", "*str"),
               4: ("resourceNames", "*str"), 5: ("nonResourceURLs", "*str")}
SUBJECT = {1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"),
           4: ("namespace", "str")}
ROLE_REF = {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")}
META = (1, ("metadata", "msg", OBJECT_META))
SCHEMAS = {
    "Namespace": {1: META[1], 2: ("spec", "msg", {1: ("finalizers", "*str")})},
    "Secret": {1: META[1], 2: ("data", "bmap"), 3: ("type", "str"), 4: ("stringData", "map"),
               5: ("immutable", "bool")},
    "ConfigMap": {1: META[1], 2: ("data", "map"), 3: ("binaryData", "bmap"),
                  4: ("immutable", "bool")},
    "ServiceAccount": {1: META[1], 4: ("automountServiceAccountToken", "bool")},
    "TokenRequest": {1: META[1], 2: ("spec", "msg", {
        1: ("audiences", "*str"), 4: ("expirationSeconds", "int"),
        3: ("boundObjectRef", "msg", {1: ("kind", "str"), 2: ("apiVersion", "str"),
                                      3: ("name", "str"), 4: ("uid", "str")})})},
    "SelfSubjectAccessReview": {1: META[1], 2: ("spec", "msg", {
        1: ("resourceAttributes", "msg", {1: ("namespace", "str"), 2: ("verb", "str"),
                                          3: ("group", "str"), 4: ("version", "str"),
                                          5: ("resource", "str"), 6: ("subresource", "str"),
                                          7: ("name", "str")}),
        2: ("nonResourceAttributes", "msg", {1: ("path", "str"), 2: ("verb", "str")})})},
    "Role": {1: META[1], 2: ("rules", "*msg", POLICY_RULE)},
    "ClusterRole": {1: META[1], 2: ("rules", "*msg", POLICY_RULE),
                    3: ("aggregationRule", "msg", {
                        1: ("clusterRoleSelectors", "*msg", LABEL_SELECTOR)})},
    "RoleBinding": {1: META[1], 2: ("subjects", "*msg", SUBJECT), 3: ("roleRef", "msg", ROLE_REF)},
    "ClusterRoleBinding": {1: META[1], 2: ("subjects", "*msg", SUBJECT),
                           3: ("roleRef", "msg", ROLE_REF)},
}


def _scalar(kind, val, sub):
    if kind == "str":
        return val.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(val).decode()
    if kind == "int":
        return val - (1 << 64) if val >= 1 << 63 else val
    if kind == "bool":
        return bool(val)
    if kind == TIME:
        secs = dict(_fields(val)).get(1, 0)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))
    if kind == "msg":
        return decode_message(val, sub)
    raise ValueError(kind)


def decode_message(buf, schema):
    out = {}
    for num, val in _fields(buf):
        spec = schema.get(num)
        if spec is None:
            continue       # fields kubesim does not need
        name, kind = spec[0], spec[1]
        sub = spec[2] if len(spec) > 2 else None
        if kind in ("map", "bmap"):
            entry = dict(_fields(val))
            key = entry.get(1, b"").decode("utf-8")
            raw = entry.get(2, b"")
            out.setdefault(name, {})[key] = (raw.decode("utf-8") if kind == "map"
                                             else base64.b64encode(raw).decode())
        elif kind.startswith("*"):
            out.setdefault(name, []).append(_scalar(kind[1:], val, sub))
        else:
            out[name] = _scalar(kind, val, sub)
    return out


def decode(body):
    """A protobuf request body -> the JSON-shaped object; Unsupported if the
    kind is not one kubesim knows."""
    if not body.startswith(MAGIC):
        raise Unsupported("missing the k8s protobuf envelope")
    env = {}
    for num, val in _fields(body[len(MAGIC):]):
        env[num] = val
    type_meta = dict(_fields(env.get(1, b"")))
    api_version = type_meta.get(1, b"").decode()
    kind = type_meta.get(2, b"").decode()
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise Unsupported(f"protobuf bodies are not supported for kind {kind!r}")
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(decode_message(env.get(2, b""), schema))
    return obj
