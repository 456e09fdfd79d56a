"""Label and field selectors: the query-string forms (labelSelector=,
fieldSelector=) and metav1.LabelSelector objects (matchLabels/matchExpressions).

Named selectors_k8s so it cannot shadow the stdlib `selectors` module that
socketserver imports.
"""

import re

from apierrors import bad_request


class LabelSelector:
    """A parsed label selector: a conjunction of (key, op, values)."""

    def __init__(self, reqs=()):
        self.reqs = list(reqs)

    def empty(self):
        return not self.reqs

    def matches(self, labels):
        labels = labels or {}
        for key, op, values in self.reqs:
            present = key in labels
            val = labels.get(key)
            if op == "exists":
                ok = present
            elif op == "!exists":
                ok = not present
            elif op in ("=", "==", "in"):
                ok = present and val in values
            elif op in ("!=", "notin"):
                ok = not present or val not in values
            elif op in (">", "<"):
                try:
                    ok = present and (int(val) > int(values[0]) if op == ">"
                                      else int(val) < int(values[0]))
                except ValueError:
                    ok = False
            else:
                ok = False
            if not ok:
                return False
        return True


_KEY_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _split_top(s):
    """Split on commas that are not inside parentheses."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_label_selector(text):
    """Parse the labelSelector query parameter (labels.Parse grammar)."""
    reqs = []
    if not text or not text.strip():
        return LabelSelector()
    for part in _split_top(text):
        part = part.strip()
        if not part:
            raise bad_request("unable to parse requirement: found '', expected: identifier")
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", part)
        if m:
            key, op, vals = m.group(1), m.group(2), m.group(3)
            values = [v.strip() for v in vals.split(",") if v.strip()]
            reqs.append((_check_key(key), op, values))
            continue
        if part.startswith("!"):
            reqs.append((_check_key(part[1:].strip()), "!exists", []))
            continue
        m = re.match(r"^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(.*)$", part)
        if m:
            reqs.append((_check_key(m.group(1)), m.group(2), [m.group(3).strip()]))
            continue
        reqs.append((_check_key(part), "exists", []))
    return LabelSelector(reqs)


def _check_key(key):
    if not _KEY_RE.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key \"{key}\"")
    return key


def from_label_selector_object(sel):
    """metav1.LabelSelector -> LabelSelector. None selects nothing (like
    metav1.LabelSelectorAsSelector(nil)); {} selects everything."""
    if sel is None:
        return None
    reqs = [(k, "=", [v]) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in sel.get("matchExpressions") or []:
        reqs.append((expr.get("key", ""), ops.get(expr.get("operator"), "?"),
                     list(expr.get("values") or [])))
    return LabelSelector(reqs)


class FieldSelector:
    """A parsed field selector: a conjunction of (path, op, value)."""

    def __init__(self, reqs=()):
        self.reqs = list(reqs)

    def empty(self):
        return not self.reqs

    def fields(self):
        return [path for path, _, _ in self.reqs]

    def matches(self, obj):
        for path, op, value in self.reqs:
            actual = field_value(obj, path)
            equal = actual == value
            if (op == "!=") == equal:
                return False
        return True

    def exact_name(self):
        """The name if the selector pins metadata.name (used to narrow lists)."""
        for path, op, value in self.reqs:
            if path == "metadata.name" and op != "!=":
                return value
        return None


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            cur = None
            break
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text, allowed):
    """Parse the fieldSelector query parameter; `allowed` is the set of field
    labels the kind supports (others are a 400, like the real server)."""
    reqs = []
    if not text or not text.strip():
        return FieldSelector()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        reqs.append((path, op, value))
    return FieldSelector(reqs)
