"""A small YAML subset parser, enough for Kubernetes manifests such as CRDs.

The standard library has no YAML parser and kubesim must run on a bare
/usr/bin/python3, so this covers what manifests use:
  - block mappings and sequences (incl. "- key: v" items and "key:\\n- item"),
  - flow sequences/mappings ([a, b], {a: 1}), possibly spanning lines,
  - plain scalars (also multi-line, folded with spaces, as controller-gen emits
    long descriptions), single- and double-quoted scalars (escapes, multi-line),
  - block scalars | and > with chomping (-, +) and an explicit indent digit,
  - comments, multiple documents separated by ---.
Not supported (YamlError or passed through as strings): anchors/aliases,
tags other than a leading !!str/!!int-style tag (ignored), complex keys,
YAML 1.1 yes/no/on/off booleans (they stay strings, as in YAML 1.2).
"""

import re


class YamlError(ValueError):
    pass


def load_all(text):
    """Parse every document in `text`; empty documents are skipped."""
    docs, cur = [], []
    for line in text.replace("\r\n", "\n").replace("\t", "    ").split("\n"):
        if line.startswith("---") and line[3:4] in ("", " "):
            docs.append(cur)
            rest = line[3:].strip()
            cur = [rest] if rest and not rest.startswith("#") else []
        elif line.rstrip() == "...":
            docs.append(cur)
            cur = []
        elif line.startswith("%") and not cur:
            continue  # directives such as %YAML 1.2
        else:
            cur.append(line)
    docs.append(cur)
    out = []
    for lines in docs:
        parser = _Parser(lines)
        value = parser.parse_document()
        if value is not None:
            out.append(value)
    return out


def load(text):
    docs = load_all(text)
    if len(docs) != 1:
        raise YamlError(f"expected one document, found {len(docs)}")
    return docs[0]


_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def resolve_plain(s):
    """Type a plain scalar per the YAML 1.2 core schema."""
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT_RE.match(s):
        return int(s)
    if re.match(r"^0x[0-9a-fA-F]+$", s):
        return int(s, 16)
    if re.match(r"^0o[0-7]+$", s):
        return int(s[2:], 8)
    if _FLOAT_RE.match(s) and any(c.isdigit() for c in s):
        return float(s)
    if s in (".inf", ".Inf", ".INF", "+.inf"):
        return float("inf")
    if s in ("-.inf", "-.Inf", "-.INF"):
        return float("-inf")
    if s in (".nan", ".NaN", ".NAN"):
        return float("nan")
    return s


def strip_comment(s):
    """Drop a trailing comment, respecting quotes."""
    quote = None
    for i, ch in enumerate(s):
        if quote:
            if ch == "\\" and quote == '"':
                continue
            if ch == quote and not (quote == '"' and i > 0 and _escaped(s, i)):
                quote = None
        elif ch in "\"'" and (i == 0 or s[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s.rstrip()


def _escaped(s, i):
    n = 0
    j = i - 1
    while j >= 0 and s[j] == "\\":
        n += 1
        j -= 1
    return n % 2 == 1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"',
            "/": "/", " ": " ", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f",
            "v": "\v", "N": "\x85", "_": "\xa0"}


def _unescape_double(s):
    out, i = [], 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = s[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(s[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:
            raise YamlError(f"bad escape \\{nxt}")
    return "".join(out)


def _fold_lines(parts):
    """Fold the physical lines of a multi-line flow scalar: one line break
    becomes a space, each empty line becomes a newline."""
    out = parts[0].rstrip(" ") if len(parts) > 1 else parts[0]
    pending_newlines = 0
    for raw in parts[1:]:
        line = raw.strip(" ")
        if line == "":
            pending_newlines += 1
            continue
        out += ("\n" * pending_newlines) if pending_newlines else " "
        pending_newlines = 0
        out += line
    if pending_newlines:
        out += "\n" * pending_newlines
    return out


class _Parser:
    def __init__(self, lines):
        self.lines = list(lines)
        self.i = 0

    # -- line helpers ------------------------------------------------------
    @staticmethod
    def _indent(line):
        return len(line) - len(line.lstrip(" "))

    def _blank(self, j):
        s = self.lines[j].strip()
        return s == "" or s.startswith("#")

    def _next_content(self):
        j = self.i
        while j < len(self.lines) and self._blank(j):
            j += 1
        return j if j < len(self.lines) else None

    def _error(self, msg):
        return YamlError(f"line {self.i + 1}: {msg}")

    # -- block structure ---------------------------------------------------
    def parse_document(self):
        j = self._next_content()
        if j is None:
            return None
        value = self.parse_block(0)
        j = self._next_content()
        if j is not None:
            self.i = j
            raise self._error("unexpected content (bad indentation?)")
        return value

    def parse_block(self, min_indent):
        j = self._next_content()
        if j is None:
            return None
        self.i = j
        line = self.lines[j]
        ind = self._indent(line)
        if ind < min_indent:
            return None
        content = strip_comment(line[ind:])
        if content == "-" or content.startswith("- "):
            return self.parse_seq(ind)
        if self._split_key(content) is not None:
            return self.parse_map(ind)
        self.i += 1
        return self.parse_inline(ind - 1, content)

    def _split_key(self, content):
        """(key, rest) if `content` starts a mapping entry, else None."""
        if not content or content[0] in "[{#&*!|>%@`":
            return None
        if content[0] in "\"'":
            q = content[0]
            k = 1
            while k < len(content):
                if content[k] == q:
                    if q == "'" and content[k + 1:k + 2] == "'":
                        k += 2
                        continue
                    if q == '"' and _escaped(content, k):
                        k += 1
                        continue
                    break
                k += 1
            else:
                return None
            after = content[k + 1:].lstrip(" ")
            if not after.startswith(":") or after[1:2] not in ("", " "):
                return None
            raw = content[1:k]
            key = _unescape_double(raw) if q == '"' else raw.replace("''", "'")
            return key, after[1:].strip()
        m = re.search(r":( |$)", content)
        if not m:
            return None
        return content[:m.start()].rstrip(), content[m.end():].strip()

    def parse_map(self, ind):
        result = {}
        while True:
            j = self._next_content()
            if j is None:
                break
            line = self.lines[j]
            ind2 = self._indent(line)
            if ind2 < ind:
                break
            self.i = j
            if ind2 > ind:
                raise self._error("bad indentation of a mapping entry")
            content = strip_comment(line[ind:])
            if content == "-" or content.startswith("- "):
                break
            kv = self._split_key(content)
            if kv is None:
                raise self._error(f"expected a mapping entry, got {content!r}")
            key, rest = kv
            self.i += 1
            if key in result:
                raise self._error(f"duplicate key {key!r}")
            result[key] = self.parse_value(ind, rest)
        return result

    def parse_seq(self, ind):
        result = []
        while True:
            j = self._next_content()
            if j is None:
                break
            line = self.lines[j]
            if self._indent(line) != ind:
                break
            self.i = j
            content = strip_comment(line[ind:])
            if not (content == "-" or content.startswith("- ")):
                break
            after = content[1:]
            stripped = after.lstrip(" ")
            if stripped == "":
                self.i += 1
                nxt = self._next_content()
                if nxt is not None and self._indent(self.lines[nxt]) > ind:
                    result.append(self.parse_block(ind + 1))
                else:
                    result.append(None)
                continue
            col = ind + 1 + (len(after) - len(stripped))
            if (stripped == "-" or stripped.startswith("- ")
                    or self._split_key(stripped) is not None):
                # Treat the rest of the line as a nested block at its column.
                self.lines[j] = " " * col + line[col:]
                result.append(self.parse_block(col))
            else:
                self.i += 1
                result.append(self.parse_value_inline_or_block(ind, stripped))
        return result

    def parse_value(self, ind, rest):
        """The value after "key:" on a mapping line at indent `ind`."""
        if rest == "":
            nxt = self._next_content()
            if nxt is None:
                return None
            line = self.lines[nxt]
            ind2 = self._indent(line)
            if ind2 > ind:
                return self.parse_block(ind + 1)
            content = strip_comment(line[ind2:])
            if ind2 == ind and (content == "-" or content.startswith("- ")):
                return self.parse_seq(ind)
            return None
        return self.parse_value_inline_or_block(ind, rest)

    def parse_value_inline_or_block(self, ind, rest):
        rest = self._strip_tag(rest)
        if rest[:1] in ("|", ">"):
            return self.parse_block_scalar(ind, rest)
        if rest[:1] in ("&", "*"):
            raise self._error("anchors and aliases are not supported")
        return self.parse_inline(ind, rest)

    @staticmethod
    def _strip_tag(rest):
        if rest.startswith("!"):
            parts = rest.split(" ", 1)
            return parts[1].strip() if len(parts) > 1 else ""
        return rest

    # -- scalars -----------------------------------------------------------
    def parse_inline(self, ind, rest):
        """A flow value or scalar starting with `rest`; may continue on
        following lines indented deeper than `ind`."""
        if rest[:1] in ("[", "{"):
            text = rest
            while not _flow_balanced(text):
                if self.i >= len(self.lines):
                    raise self._error("unterminated flow collection")
                text += " " + strip_comment(self.lines[self.i].strip())
                self.i += 1
            value, pos = _Flow(text).parse()
            return value
        if rest[:1] in ("\"", "'"):
            return self._quoted(rest)
        parts = [rest]
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() == "":
                # Blank lines only count if the scalar continues after them.
                j = self.i
                while j < len(self.lines) and self.lines[j].strip() == "":
                    j += 1
                if j < len(self.lines) and self._indent(self.lines[j]) > ind \
                        and not self.lines[j].strip().startswith("#"):
                    parts.extend([""] * (j - self.i))
                    self.i = j
                    continue
                break
            if self._indent(line) <= ind or line.strip().startswith("#"):
                break
            cont = strip_comment(line.strip())
            if self._split_key(cont) is not None:
                # "a: 1\n  b: 2" is an error in YAML, not a 3-word scalar.
                raise self._error("mapping values are not allowed here")
            parts.append(cont)
            self.i += 1
        return resolve_plain(_fold_lines(parts) if len(parts) > 1 else rest)

    def _quoted(self, rest):
        q = rest[0]
        text = rest
        while True:
            end = _closing_quote(text, q)
            if end is not None:
                break
            if self.i >= len(self.lines):
                raise self._error("unterminated quoted scalar")
            text += "\n" + self.lines[self.i]
            self.i += 1
        trailing = strip_comment(text[end + 1:]).strip()
        if trailing:
            raise self._error(f"unexpected text after quoted scalar: {trailing!r}")
        body = text[1:end]
        if q == "'":
            return _fold_lines(body.split("\n")).replace("''", "'")
        # An escaped line break joins lines without a space.
        body = re.sub(r"\\\n[ ]*", "", body)
        return _unescape_double(_fold_lines(body.split("\n")))

    def parse_block_scalar(self, ind, header):
        header = strip_comment(header)
        m = re.match(r"^([|>])([-+]?)([1-9]?)([-+]?)$", header)
        if not m:
            raise self._error(f"bad block scalar header {header!r}")
        style, chomp = m.group(1), (m.group(2) or m.group(4))
        explicit = int(m.group(3)) if m.group(3) else None
        raw = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() == "" or self._indent(line) > ind:
                raw.append(line)
                self.i += 1
            else:
                break
        block_indent = ind + explicit if explicit else None
        if block_indent is None:
            for line in raw:
                if line.strip():
                    block_indent = self._indent(line)
                    break
        if block_indent is None:
            block_indent = ind + 1
        lines = [line[block_indent:] if line.strip() else "" for line in raw]
        trailing = 0
        while lines and lines[-1] == "":
            lines.pop()
            trailing += 1
        if style == "|":
            body = "\n".join(lines)
        else:
            body = _fold_block(lines)
        if not lines:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-":
            return body
        if chomp == "+":
            return body + "\n" * (trailing + 1)
        return body + "\n"


def _fold_block(lines):
    out = ""
    prev = None
    for line in lines:
        if prev is None:
            out = line
        elif line == "":
            out += "\n"
        elif prev == "" or line.startswith(" ") or prev.startswith(" "):
            out += ("" if prev == "" and not line.startswith(" ") else "\n") + line
        else:
            out += " " + line
        prev = line
    return out


def _closing_quote(text, q):
    k = 1
    while k < len(text):
        ch = text[k]
        if q == '"' and ch == "\\":
            k += 2
            continue
        if ch == q:
            if q == "'" and text[k + 1:k + 2] == "'":
                k += 2
                continue
            return k
        k += 1
    return None


def _flow_balanced(text):
    depth, quote, k = 0, None, 0
    while k < len(text):
        ch = text[k]
        if quote:
            if quote == '"' and ch == "\\":
                k += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        k += 1
    return depth <= 0 and quote is None


class _Flow:
    """Recursive-descent parser for flow collections on one logical line."""

    def __init__(self, text):
        self.s = text
        self.p = 0

    def _ws(self):
        while self.p < len(self.s) and self.s[self.p] in " \t\n":
            self.p += 1

    def parse(self):
        v = self.value()
        return v, self.p

    def value(self, in_map_key=False):
        self._ws()
        ch = self.s[self.p:self.p + 1]
        if ch == "[":
            self.p += 1
            out = []
            while True:
                self._ws()
                if self.s[self.p:self.p + 1] == "]":
                    self.p += 1
                    return out
                out.append(self.value())
                self._ws()
                if self.s[self.p:self.p + 1] == ",":
                    self.p += 1
                elif self.s[self.p:self.p + 1] != "]":
                    raise YamlError(f"bad flow sequence: {self.s!r}")
        if ch == "{":
            self.p += 1
            out = {}
            while True:
                self._ws()
                if self.s[self.p:self.p + 1] == "}":
                    self.p += 1
                    return out
                key = self.value(in_map_key=True)
                self._ws()
                if self.s[self.p:self.p + 1] == ":":
                    self.p += 1
                    val = self.value()
                else:
                    val = None
                out[str(key) if not isinstance(key, str) else key] = val
                self._ws()
                if self.s[self.p:self.p + 1] == ",":
                    self.p += 1
                elif self.s[self.p:self.p + 1] != "}":
                    raise YamlError(f"bad flow mapping: {self.s!r}")
        if ch in ("\"", "'"):
            end = _closing_quote(self.s[self.p:], ch)
            if end is None:
                raise YamlError("unterminated quoted scalar in flow")
            body = self.s[self.p + 1:self.p + end]
            self.p += end + 1
            return _unescape_double(body) if ch == '"' else body.replace("''", "'")
        start = self.p
        while self.p < len(self.s):
            c = self.s[self.p]
            if c in ",]}":
                break
            if c == ":" and (self.p + 1 >= len(self.s) or self.s[self.p + 1] in " ,]}"):
                break
            self.p += 1
        return resolve_plain(self.s[start:self.p].strip())
