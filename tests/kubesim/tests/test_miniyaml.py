#!/usr/bin/python3
"""The YAML subset parser used for --crd-dir: each construct against the
expected value, and (where python3-yaml is installed) against PyYAML on
the shipped CRD and a manifest using every supported construct."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import miniyaml  # noqa: E402
from harness import CRD_DIR  # noqa: E402

import yaml  # Debian's python3-yaml (deploy/dev/install-deps.sh installs it)

KITCHEN_SINK = """\
%YAML 1.2
---
# comment
apiVersion: v1          # trailing comment
kind: "Thing"
metadata:
  name: 'it''s'
  labels: {a: "1", b: two, "c d": null}
  annotations:
    url: http://example.com:8080/x#frag
    hash: "a # not a comment"
empty:
nulls: [~, null, Null]
bools: [true, false, True, FALSE]
numbers: [0, -12, 3.5, 1e3, 0x1F, 0o17, .5]
strings: ["007", '1.0', yes, no, on, "true"]
seq:
- a
- b: 1
  c:
  - x
  -   y
- - nested
  - seq
- {k: v}
-
  deep: true
compact:
- name: one
  value: 1
sameindent:
- p
- q
literal: |
  line one
    indented
  line three

literal_strip: |-
  no newline
literal_keep: |+
  keep

folded: >
  folded
  text

  new para
folded_strip: >-
  a
  b
plain_multiline: this is
  a long plain
  scalar
quoted_multiline: "first
  second\\tTab \\u00e9"
escaped_break: "abc\\
  def"
flow_multi: [a,
  b, c]
"key with spaces": v
---
second: doc
...
"""


class MiniYamlTest(unittest.TestCase):
    def test_constructs(self):
        docs = miniyaml.load_all(KITCHEN_SINK)
        self.assertEqual(len(docs), 2)
        d = docs[0]
        self.assertEqual(d["kind"], "Thing")
        self.assertEqual(d["metadata"]["name"], "it's")
        self.assertEqual(d["metadata"]["labels"], {"a": "1", "b": "two", "c d": None})
        self.assertEqual(d["metadata"]["annotations"]["url"], "http://example.com:8080/x#frag")
        self.assertEqual(d["metadata"]["annotations"]["hash"], "a # not a comment")
        self.assertIsNone(d["empty"])
        self.assertEqual(d["nulls"], [None, None, None])
        self.assertEqual(d["bools"], [True, False, True, False])
        self.assertEqual(d["numbers"], [0, -12, 3.5, 1000.0, 31, 15, 0.5])
        self.assertEqual(d["strings"], ["007", "1.0", "yes", "no", "on", "true"])
        self.assertEqual(d["seq"], ["a", {"b": 1, "c": ["x", "y"]}, ["nested", "seq"],
                                    {"k": "v"}, {"deep": True}])
        self.assertEqual(d["compact"], [{"name": "one", "value": 1}])
        self.assertEqual(d["sameindent"], ["p", "q"])
        self.assertEqual(d["literal"], "line one\n  indented\nline three\n")
        self.assertEqual(d["literal_strip"], "no newline")
        self.assertEqual(d["literal_keep"], "keep\n\n")
        self.assertEqual(d["folded"], "folded text\nnew para\n")
        self.assertEqual(d["folded_strip"], "a b")
        self.assertEqual(d["plain_multiline"], "this is a long plain scalar")
        self.assertEqual(d["quoted_multiline"], "first second\tTab \u00e9")
        self.assertEqual(d["escaped_break"], "abcdef")
        self.assertEqual(d["flow_multi"], ["a", "b", "c"])
        self.assertEqual(d["key with spaces"], "v")
        self.assertEqual(docs[1], {"second": "doc"})

    def test_errors(self):
        for bad in ("a: &x 1\nb: *x\n", "a: [1, 2\n", "a: 1\n  b: 2\n", "a: 1\na: 2\n",
                    'a: "unterminated\n'):
            with self.assertRaises(miniyaml.YamlError, msg=bad):
                miniyaml.load_all(bad)

    def test_matches_pyyaml(self):
        # PyYAML is YAML 1.1 (yes/no are booleans, 0o17 is a string): compare
        # the documents without those scalars.
        text = KITCHEN_SINK.replace('strings: ["007", \'1.0\', yes, no, on, "true"]\n', "")
        text = text.replace("0x1F, 0o17, .5", "0x1F, .5").replace("1e3", "1.0e+3")
        text = text.replace("%YAML 1.2\n", "")
        self.assertEqual(miniyaml.load_all(text), [d for d in yaml.safe_load_all(text) if d])
        for name in sorted(os.listdir(CRD_DIR)):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(CRD_DIR, name)) as f:
                    text = f.read()
                self.assertEqual(miniyaml.load_all(text),
                                 [d for d in yaml.safe_load_all(text) if d], name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
