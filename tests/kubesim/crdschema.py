"""Structural-schema behaviour of custom resources: pruning of unknown
fields and `default` values, as apiextensions-apiserver applies them to
every create and update (pkg/apiserver/schema/pruning, .../defaulting).

Pruning: in an object, a field is kept if `properties` declares it, if
`additionalProperties` allows it, or if `x-kubernetes-preserve-unknown-fields`
is true; anything else is dropped, including everything in a bare
`type: object`.  Defaulting fills absent properties from `default`, inside
objects that exist.  At the root apiVersion, kind and metadata are left alone.
"""

import copy

ROOT_META = ("apiVersion", "kind", "metadata")


def prune(value, schema, path="", root=True):
    """Remove undeclared fields in place; return their paths ("spec.foo")."""
    dropped = []
    _prune(value, schema, path, root, dropped)
    return dropped


def _prune(value, schema, path, root, dropped):
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        for key in list(value):
            child = f"{path}.{key}" if path else key
            if (root or embedded) and key in ROOT_META:
                continue
            if key in props:
                _prune(value[key], props[key], child, False, dropped)
            elif isinstance(addl, dict):
                _prune(value[key], addl, child, False, dropped)
            elif addl is True or preserve:
                continue
            else:
                del value[key]
                dropped.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{i}]", False, dropped)


def apply_defaults(value, schema, root=True):
    """Fill absent properties from their `default`, in place."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if root and key in ROOT_META:
                continue
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(value[key], sub, False)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in value:
                if key not in (schema.get("properties") or {}):
                    apply_defaults(value[key], addl, False)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"], False)
