"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a
simplified strategic merge patch for built-in kinds.

All functions return a new document and never mutate their inputs' nested
containers, because stored objects are shared and must stay immutable.
"""

import copy

from apierrors import ApiError


def _patch_error(message):
    # apimachinery answers an unappliable patch with a generic 422.
    return ApiError(422, "Invalid", message)


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Directive keys kubectl's client-side apply puts into strategic merge patches.
_SMP_DIRECTIVE_PREFIXES = ("$setElementOrder/", "$deleteFromPrimitiveList/", "$retainKeys")


def strategic_merge_patch(target, patch):
    """A subset of strategic merge patch: like a merge patch, but lists of
    objects that all carry "name" merge by name (containers, env, volumes,
    ports), and the $patch: replace|delete directives are honoured.  Other
    patchMergeKeys and directives are ignored (documented in README)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key == "$patch" or key.startswith(_SMP_DIRECTIVE_PREFIXES):
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_named_lists(result[key], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _named(items):
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _merge_named_lists(old, new):
    if not (_named(old) and _named(new)):
        return copy.deepcopy(new)
    out = list(old)
    index = {item["name"]: i for i, item in enumerate(out)}
    for item in new:
        name = item["name"]
        if item.get("$patch") == "delete":
            if name in index:
                out[index[name]] = None
            continue
        if name in index and out[index[name]] is not None:
            out[index[name]] = strategic_merge_patch(out[index[name]], item)
        else:
            index[name] = len(out)
            out.append(copy.deepcopy(item))
    return [i for i in out if i is not None]


def _unescape(token):
    return token.replace("~1", "/").replace("~0", "~")


def _split_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_error(f"invalid JSON pointer: {path!r}")
    return [_unescape(t) for t in path[1:].split("/")]


def _walk(doc, tokens):
    """Return the container holding the last token."""
    cur = doc
    for tok in tokens[:-1]:
        if isinstance(cur, dict):
            if tok not in cur:
                raise _patch_error(f"doc is missing path: /{'/'.join(tokens)}")
            cur = cur[tok]
        elif isinstance(cur, list):
            cur = cur[_index(cur, tok, False)]
        else:
            raise _patch_error(f"doc is missing path: /{'/'.join(tokens)}")
    return cur


def _index(lst, tok, for_add):
    if tok == "-" and for_add:
        return len(lst)
    try:
        i = int(tok)
    except ValueError:
        raise _patch_error(f"invalid array index: {tok}")
    limit = len(lst) if for_add else len(lst) - 1
    if i < 0 or i > limit:
        raise _patch_error(f"array index out of bounds: {i}")
    return i


def _get(doc, tokens):
    if not tokens:
        return doc
    parent = _walk(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _patch_error(f"doc is missing key: /{'/'.join(tokens)}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, False)]
    raise _patch_error(f"doc is missing path: /{'/'.join(tokens)}")


def _add(doc, tokens, value):
    if not tokens:
        return value
    parent = _walk(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise _patch_error(f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def _remove(doc, tokens):
    if not tokens:
        raise _patch_error("cannot remove the whole document")
    parent = _walk(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _patch_error(f"Unable to remove nonexistent key: {last}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    raise _patch_error(f"doc is missing path: /{'/'.join(tokens)}")


def json_patch(target, ops):
    """RFC 6902 add/remove/replace/move/copy/test."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _patch_error("Unexpected kind: invalid JSON patch operation")
        kind, tokens = op["op"], _split_pointer(op["path"])
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            _get(doc, tokens)  # must exist
            if tokens:
                _remove(doc, tokens)
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = _split_pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, src))
            if kind == "move":
                _remove(doc, src)
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op.get("value"):
                raise _patch_error(f"testing value {op['path']} failed: test failed")
        else:
            raise _patch_error(f"Unexpected kind: {kind}")
    return doc
