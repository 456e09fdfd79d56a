"""LIST: resourceVersion semantics, limit/continue pagination and selectors
(README.md, "LIST").

Pages come from a snapshot: the first page of a paginated list sorts the
resource's keys once and keeps (key, Entry) pairs under a snapshot id;
later pages slice it, so each page costs O(page) and every page shows the
first page's resourceVersion.  Entries are immutable, so a snapshot is just
references.  If a snapshot was evicted, it is rebuilt from the event
history at the token's RV; only when that history was compacted away does
the token expire (410, with a token to finish from the latest state).
"""

import base64
import bisect
import binascii
import collections
import itertools
import json
import time

import apierrors
from store import dumps

SNAPSHOT_LIMIT = 64
SNAPSHOT_TTL = 300.0
TOO_OLD_LIST = "The resourceVersion for the provided list is too old."
CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use "
                    "the continue token in this response to retrieve the remainder of the "
                    "results. Continuing with the provided token results in an inconsistent "
                    "list - objects that were created, modified, or deleted between the time "
                    "the first chunk was returned and now may show up in the list.")
_snapshot_ids = itertools.count(1)


class Snapshot:
    __slots__ = ("rt_key", "ns", "rv", "items", "keys", "created")

    def __init__(self, rt_key, ns, rv, items):
        self.rt_key, self.ns, self.rv, self.items = rt_key, ns, rv, items
        self.keys = [k for k, _ in items]
        self.created = time.monotonic()


def encode_token(rv, start, sid=0, pos=0):
    raw = json.dumps({"v": 1, "rv": rv, "start": list(start), "sid": sid, "pos": pos})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token):
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
        return int(data["rv"]), tuple(data["start"]), int(data["sid"]), int(data["pos"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise apierrors.bad_request(f"continue key is not valid: {token!r}")


def _sorted_items(state, ns):
    items = [(k, e) for k, e in state.items() if not ns or k[0] == ns]
    items.sort(key=lambda kv: kv[0])
    return items


def _remember(store, snap):
    sid = next(_snapshot_ids)
    store.snapshots[sid] = snap
    now = time.monotonic()
    while store.snapshots and (len(store.snapshots) > SNAPSHOT_LIMIT or
                               now - next(iter(store.snapshots.values())).created > SNAPSHOT_TTL):
        store.snapshots.popitem(last=False)
    return sid


def _parse_rv(value):
    try:
        rv = int(value)
        if rv < 0:
            raise ValueError
        return rv
    except ValueError:
        raise apierrors.bad_request(f"invalid resource version: {value}")


def list_objects(store, rt, version, ns, params, label_sel, field_sel):
    """Serve a LIST; returns the JSON body bytes."""
    limit = 0
    try:
        limit = max(0, int(params.get("limit") or 0))
    except ValueError:
        pass
    cont = params.get("continue") or ""
    rv_param = params.get("resourceVersion") or ""
    rv_match = params.get("resourceVersionMatch") or ""
    if rv_match and rv_match not in ("Exact", "NotOlderThan"):
        raise apierrors.bad_request(f"unsupported resourceVersionMatch: {rv_match}")
    if rv_match and not rv_param:
        raise apierrors.bad_request("resourceVersionMatch is forbidden unless resourceVersion "
                                    "is provided")
    if cont and rv_param not in ("", "0"):
        raise apierrors.bad_request("specifying resource version is not allowed when using "
                                    "continue")
    requested = _parse_rv(rv_param) if rv_param else None
    exact = requested not in (None, 0) and (rv_match == "Exact" or (limit and not rv_match))
    if requested and store.rv < requested and not store.wait_for_rv(requested, 3.0):
        raise apierrors.too_large_rv(requested, store.rv)

    pos = 0
    sid = 0
    with store.lock:
        if cont:
            tok_rv, start, sid, pos = decode_token(cont)
            snap = store.snapshots.get(sid)
            if tok_rv == -1:
                # An "inconsistent" token handed out with a 410: go on from
                # the latest state after the last key returned.
                items = _sorted_items(store.current(rt.key), ns)
                pos = bisect.bisect_right([k for k, _ in items], start)
                list_rv = store.rv
                sid = 0
            elif snap is not None and snap.rt_key == rt.key and snap.ns == ns and \
                    snap.rv == tok_rv and tok_rv >= store.floor_rv:
                items, list_rv = snap.items, tok_rv
            else:
                state = store.state_at(rt.key, tok_rv)
                if state is None:
                    raise apierrors.expired(CONTINUE_EXPIRED, metadata={
                        "continue": encode_token(-1, start)})
                items, list_rv = _sorted_items(state, ns), tok_rv
                pos = bisect.bisect_right([k for k, _ in items], start)
                sid = _remember(store, Snapshot(rt.key, ns, tok_rv, items))
        else:
            if exact:
                state = store.state_at(rt.key, requested)
                if state is None:
                    raise apierrors.expired(TOO_OLD_LIST)
                list_rv = requested
            else:
                state = store.current(rt.key)
                list_rv = store.rv
            name = field_sel.exact_name() if field_sel is not None else None
            if name is not None:
                # Narrow metadata.name lookups without scanning everything.
                state = {k: e for k, e in state.items() if k[1] == name}
            items = _sorted_items(state, ns)
            if limit:
                sid = _remember(store, Snapshot(rt.key, ns, list_rv, items))

    api_version = rt.api_version(version)
    selected = []
    i = pos
    n = len(items)
    while i < n and (not limit or len(selected) < limit):
        key, entry = items[i]
        i += 1
        obj = entry.obj
        if label_sel is not None and not label_sel.matches(obj["metadata"].get("labels")):
            continue
        if field_sel is not None and not field_sel.matches(obj):
            continue
        if obj.get("apiVersion") != api_version:
            obj = dict(obj, apiVersion=api_version)
            selected.append(dumps(obj))
        else:
            selected.append(entry.raw)
    meta = collections.OrderedDict(resourceVersion=str(list_rv))
    if limit and i < n:
        meta["continue"] = encode_token(list_rv, items[i - 1][0], sid, i)
        if label_sel is None and field_sel is None:
            meta["remainingItemCount"] = n - i
    head = dumps({"kind": rt.list_kind, "apiVersion": api_version, "metadata": meta})
    return head[:-1] + b',"items":[' + b",".join(selected) + b"]}"
