#!/usr/bin/python3
"""The CRD files themselves, without a server: they parse the same with
kubesim's YAML loader and with PyYAML; their schemas are structural (the
rules apiextensions-apiserver enforces and kubesim does not); they declare
every field the platform reads or writes, with the enums, minimums and
defaults the API must enforce, and none it must not (no default branch, no
default timeout or model, which would hide the project's defaults)."""

import glob
import os
import re
import unittest

from crdtest import CRD_DIR, CRD_FILES, GROUP, VERSION, load_crd, main, schema_of

import yaml  # Debian's python3-yaml (deploy/dev/install-deps.sh): cross-checks the loader

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
FORMATS = {"int32": "integer", "int64": "integer", "date-time": "string",
           "double": "number", "float": "number"}

# Where free-form content is intended; nowhere else.
PRESERVE_OK = {
    "agenticsessions": {"spec.options", "status.results"},
    "projectsettings": set(),
    "rfeworkflows": set(),
}

# Every field the api role, the reconcilers and the runner read or write,
# with its type (the contract the plugins build on).
FIELDS = {
    "agenticsessions": {
        "spec.prompt": "string",
        "spec.displayName": "string",
        "spec.repos": "array",
        "spec.repos[].input": "object",
        "spec.repos[].input.url": "string",
        "spec.repos[].input.branch": "string",
        "spec.repos[].input.token": "string",
        "spec.repos[].output": "object",
        "spec.repos[].output.pushTo": "string",
        "spec.repos[].output.targetBranch": "string",
        "spec.repos[].output.targetRepo": "string",
        "spec.mainRepoIndex": "integer",
        "spec.interactive": "boolean",
        "spec.timeout": "integer",
        "spec.model": "string",
        "spec.options": "object",
        "status.phase": "string",
        "status.startTime": "string",
        "status.completionTime": "string",
        "status.error": "string",
        "status.message": "string",
        "status.lastActivityTime": "string",
        "status.agentSessionId": "string",
        "status.results": "object",
        "status.results.summary": "string",
        "status.usage.inputTokens": "integer",
        "status.usage.outputTokens": "integer",
        "status.usage.cacheReadInputTokens": "integer",
        "status.usage.cacheCreationInputTokens": "integer",
        "status.usage.numTurns": "integer",
        "status.usage.totalCostUSD": "number",
        "status.usage.durationMs": "integer",
        "status.repoStatuses[].repoIndex": "integer",
        "status.repoStatuses[].status": "string",
        "status.repoStatuses[].branch": "string",
        "status.repoStatuses[].commitSHA": "string",
        "status.repoStatuses[].targetRepo": "string",
        "status.repoStatuses[].pullRequestURL": "string",
        "status.repoStatuses[].message": "string",
        "status.repoStatuses[].error": "string",
        "status.conditions": "array",
        "status.observedGeneration": "integer",
    },
    "projectsettings": {
        "spec.defaultModel": "string",
        "spec.defaultTimeout": "integer",
        "spec.maxTimeout": "integer",
        "spec.allowedModels": "array",
        "spec.allowedModels[]": "string",
        "spec.runnerSecretsName": "string",
        "spec.groupAccess[].groupName": "string",
        "spec.groupAccess[].role": "string",
        "spec.repositories": "array",
        "spec.repositories[]": "string",
        "spec.anthropicApiKey": "string",
        "spec.gitHubToken": "string",
        "spec.gitLabToken": "string",
        "status.conditions": "array",
        "status.observedGeneration": "integer",
    },
    "rfeworkflows": {
        "spec.title": "string",
        "spec.description": "string",
        "spec.repos": "array",
        "spec.repos[].input.url": "string",
        "spec.repos[].input.branch": "string",
        "spec.repos[].input.token": "string",
        "spec.repos[].output.pushTo": "string",
        "spec.repos[].output.targetBranch": "string",
        "spec.repos[].output.targetRepo": "string",
        "spec.agents[].name": "string",
        "spec.agents[].role": "string",
        "spec.agents[].promptTemplate": "string",
        "spec.agents[].model": "string",
        "spec.steps[].name": "string",
        "spec.steps[].agent": "string",
        "spec.steps[].prompt": "string",
        "spec.steps[].dependsOn": "array",
        "spec.steps[].dependsOn[]": "string",
        "spec.steps[].timeout": "integer",
        "status.phase": "string",
        "status.currentSteps": "array",
        "status.currentSteps[]": "string",
        "status.startTime": "string",
        "status.completionTime": "string",
        "status.error": "string",
        "status.message": "string",
        "status.steps[].name": "string",
        "status.steps[].phase": "string",
        "status.steps[].attempt": "integer",
        "status.steps[].sessionName": "string",
        "status.steps[].startTime": "string",
        "status.steps[].completionTime": "string",
        "status.steps[].results": "string",
        "status.steps[].message": "string",
        "status.conditions": "array",
        "status.observedGeneration": "integer",
    },
}

NAMES = {
    "agenticsessions": ("AgenticSession", "agenticsession", ["as"]),
    "projectsettings": ("ProjectSettings", "projectsetting", ["ps"]),
    "rfeworkflows": ("RFEWorkflow", "rfeworkflow", ["rfe"]),
}

COLUMNS = {
    "agenticsessions": [("Phase", ".status.phase"), ("Model", ".spec.model"),
                        ("Age", ".metadata.creationTimestamp")],
    "projectsettings": [("Model", ".spec.defaultModel"), ("Age", ".metadata.creationTimestamp")],
    "rfeworkflows": [("Phase", ".status.phase"), ("Progress", ".status.message"),
                     ("Age", ".metadata.creationTimestamp")],
}

PHASES = ["Pending", "Running", "Completed", "Failed", "Stopped"]

# metav1.Condition as controller-gen renders it.
CONDITION_REQUIRED = ["lastTransitionTime", "message", "reason", "status", "type"]
CONDITION_PROPS = {
    "type": {"type": "string", "maxLength": 316,
             "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"},
    "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
    "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
    "lastTransitionTime": {"type": "string", "format": "date-time"},
    "reason": {"type": "string", "minLength": 1, "maxLength": 1024,
               "pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"},
    "message": {"type": "string", "maxLength": 32768},
}


def node(schema, dotted):
    """The schema node at "spec.repos[].input.url" (None if undeclared)."""
    cur = schema
    for part in dotted.split("."):
        arrays = part.count("[]")
        name = part.replace("[]", "")
        if name:
            cur = (cur.get("properties") or {}).get(name)
            if cur is None:
                return None
        for _ in range(arrays):
            cur = cur.get("items")
            if cur is None:
                return None
    return cur


def walk(schema, path=""):
    """Yield (path, node) for every schema node, depth first."""
    yield path, schema
    for k, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{k}" if path else k)
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], path + "[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], path + "{}")


def value_errors(value, s):
    """Why `value` does not satisfy node `s` (type, enum, bounds, pattern)."""
    t = s.get("type")
    ok = {"string": isinstance(value, str), "boolean": isinstance(value, bool),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool),
          "object": isinstance(value, dict), "array": isinstance(value, list)}.get(t, True)
    errs = [] if ok else [f"{value!r} is not {t}"]
    if "enum" in s and value not in s["enum"]:
        errs.append(f"{value!r} not in {s['enum']}")
    if "minimum" in s and isinstance(value, (int, float)) and value < s["minimum"]:
        errs.append(f"{value!r} < {s['minimum']}")
    if "maximum" in s and isinstance(value, (int, float)) and value > s["maximum"]:
        errs.append(f"{value!r} > {s['maximum']}")
    if "pattern" in s and isinstance(value, str) and not re.search(s["pattern"], value):
        errs.append(f"{value!r} does not match {s['pattern']}")
    return errs


class FilesTest(unittest.TestCase):
    def test_exactly_the_three_crds(self):
        found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(CRD_DIR, "*.y*ml")))
        self.assertEqual(found, sorted(CRD_FILES.values()))

    def test_kubesim_loader_agrees_with_pyyaml(self):
        import miniyaml
        for fname in CRD_FILES.values():
            with open(os.path.join(CRD_DIR, fname)) as f:
                text = f.read()
            with self.subTest(fname):
                self.assertEqual(miniyaml.load_all(text),
                                 [d for d in yaml.safe_load_all(text) if d is not None])


class CrdShapeTest(unittest.TestCase):
    def test_names_scope_versions_subresources(self):
        for plural, (kind, singular, short) in NAMES.items():
            with self.subTest(plural):
                crd = load_crd(plural)
                self.assertEqual(crd["apiVersion"], "apiextensions.k8s.io/v1")
                self.assertEqual(crd["kind"], "CustomResourceDefinition")
                self.assertEqual(crd["metadata"]["name"], f"{plural}.{GROUP}")
                spec = crd["spec"]
                self.assertEqual(spec["group"], GROUP)
                self.assertEqual(spec["scope"], "Namespaced")
                self.assertEqual(spec["names"], {
                    "kind": kind, "listKind": kind + "List", "plural": plural,
                    "singular": singular, "shortNames": short, "categories": ["ambient"]})
                self.assertEqual([(v["name"], v["served"], v["storage"]) for v in spec["versions"]],
                                 [(VERSION, True, True)])
                self.assertEqual(spec["versions"][0]["subresources"], {"status": {}})

    def test_printer_columns(self):
        for plural, want in COLUMNS.items():
            with self.subTest(plural):
                crd = load_crd(plural)
                cols = crd["spec"]["versions"][0]["additionalPrinterColumns"]
                default = [(c["name"], c["jsonPath"]) for c in cols if not c.get("priority")]
                self.assertEqual(default, want)
                age = [c for c in cols if c["name"] == "Age"][0]
                self.assertEqual(age["type"], "date")
                schema = schema_of(crd)
                for c in cols:
                    self.assertIn(c["type"], {"string", "integer", "number", "boolean", "date"})
                    if c["jsonPath"].startswith(".metadata."):
                        continue
                    n = node(schema, c["jsonPath"][1:])
                    self.assertIsNotNone(n, f"column {c['name']} reads an undeclared field")
                    self.assertEqual(n["type"], "string" if c["type"] == "date" else c["type"])


class StructuralTest(unittest.TestCase):
    """What apiextensions-apiserver requires of a structural schema (kubesim
    checks none of it), plus descriptions on every field."""

    def test_structural(self):
        for plural in CRD_FILES:
            schema = schema_of(load_crd(plural))
            self.assertEqual(schema["type"], "object")
            self.assertEqual(schema["properties"]["metadata"], {"type": "object"})
            for p, n in walk(schema):
                with self.subTest(crd=plural, path=p or "<root>"):
                    preserve = n.get("x-kubernetes-preserve-unknown-fields")
                    self.assertIn(n.get("type"), TYPES, "every node needs a type")
                    if preserve is not None:
                        self.assertIs(preserve, True)
                        self.assertEqual(n["type"], "object")
                        self.assertIn(p, PRESERVE_OK[plural], "free-form only where intended")
                    if "properties" in n or "required" in n:
                        self.assertEqual(n["type"], "object")
                        self.assertNotIn("additionalProperties", n)
                    for r in n.get("required", []):
                        self.assertIn(r, n.get("properties") or {}, "required names a property")
                    if n["type"] == "array":
                        self.assertIsInstance(n.get("items"), dict, "arrays declare items")
                    else:
                        self.assertNotIn("items", n)
                    if "format" in n:
                        self.assertEqual(FORMATS.get(n["format"]), n["type"])
                    for v in n.get("enum", []):
                        self.assertEqual(value_errors(v, {"type": n["type"]}), [])
                    if "default" in n:
                        self.assertEqual(value_errors(n["default"], n), [], "default is valid")
                    if p and p != "metadata":
                        self.assertTrue(n.get("description") or p.endswith("[]"),
                                        "fields carry a description")
                    if p.startswith("metadata"):
                        self.assertEqual(p, "metadata", "metadata is not described further")
                    lt = n.get("x-kubernetes-list-type")
                    if lt is not None:
                        self.assertEqual(n["type"], "array")
                        self.assertIn(lt, {"atomic", "set", "map"})
                    if lt == "set":
                        self.assertIn(n["items"]["type"],
                                      {"string", "integer", "number", "boolean"})
                    if lt == "map":
                        keys = n["x-kubernetes-list-map-keys"]
                        item = n["items"]
                        self.assertEqual(item["type"], "object")
                        for k in keys:
                            self.assertIn(item["properties"][k]["type"],
                                          {"string", "integer", "number", "boolean"})
                            self.assertTrue(k in item.get("required", []) or
                                            "default" in item["properties"][k],
                                            "map keys must be required or defaulted")
                    else:
                        self.assertNotIn("x-kubernetes-list-map-keys", n)

    def test_cel_rules_name_declared_fields(self):
        """x-kubernetes-validations can only see declared fields (kubesim does
        not evaluate CEL; the rules themselves were checked with a CEL
        evaluator when written, see deploy/crds/README.md)."""
        count = 0
        for plural in CRD_FILES:
            for p, n in walk(schema_of(load_crd(plural))):
                for rule in n.get("x-kubernetes-validations", []):
                    count += 1
                    self.assertTrue(rule.get("message"))
                    text = rule["rule"]
                    self.assertEqual(text.count("("), text.count(")"))
                    for field in re.findall(r"self\.(\w+)", text):
                        self.assertIn(field, n["properties"], f"{plural} {p}: {text}")
        self.assertEqual(count, 5)


class ContractTest(unittest.TestCase):
    def test_every_field_is_declared_with_its_type(self):
        for plural, fields in FIELDS.items():
            schema = schema_of(load_crd(plural))
            for dotted, t in fields.items():
                with self.subTest(crd=plural, field=dotted):
                    n = node(schema, dotted)
                    self.assertIsNotNone(n, "declared (or the API server prunes it)")
                    self.assertEqual(n["type"], t)

    def test_no_undeclared_extras(self):
        """The contract above lists every leaf; a new field must be added there
        (and to the README) on purpose."""
        for plural, fields in FIELDS.items():
            schema = schema_of(load_crd(plural))
            listed = set(fields)
            for p, n in walk(schema):
                if not p or p.split(".")[0] not in ("spec", "status"):
                    continue
                if p.startswith("status.conditions[]") or p in ("spec", "status"):
                    continue
                if n["type"] in ("object", "array") and n.get("properties") and \
                        not n.get("x-kubernetes-preserve-unknown-fields"):
                    continue
                if n["type"] == "array" and n["items"].get("properties"):
                    continue
                with self.subTest(crd=plural, field=p):
                    self.assertIn(p, listed)

    def test_session_constraints(self):
        s = schema_of(load_crd("agenticsessions"))
        spec = s["properties"]["spec"]
        self.assertNotIn("prompt", spec.get("required", []), "interactive sessions need none")
        rules = " ".join(r["rule"] for r in spec["x-kubernetes-validations"])
        self.assertIn("self.interactive", rules)
        self.assertIn("self.prompt", rules)
        self.assertIn("self.mainRepoIndex < size(self.repos)", rules)
        self.assertIn("size(self.metadata.name) <= 56",
                      [r["rule"] for r in s["x-kubernetes-validations"]])
        push = node(s, "spec.repos[].output.pushTo")
        self.assertEqual(push["enum"], ["fork", "same", "none"])
        self.assertEqual(push["default"], "fork")
        self.assertEqual(node(s, "spec.repos[]")["required"], ["input"])
        self.assertEqual(node(s, "spec.repos[].input")["required"], ["url"])
        self.assertNotIn("default", node(s, "spec.repos[].input.branch"),
                         "no branch default: the repository's default branch is used")
        self.assertNotIn("default", node(s, "spec.repos[].output.targetBranch"))
        idx = node(s, "spec.mainRepoIndex")
        self.assertEqual(idx["minimum"], 0)
        self.assertNotIn("default", idx, "a session without repos must not get one")
        self.assertEqual(node(s, "spec.repos[].input.token")["pattern"], "^[-._a-zA-Z0-9]+$",
                         "token names a key of the runner Secret, never holds a token")
        self.assertIs(node(s, "spec.interactive")["default"], False)
        timeout = node(s, "spec.timeout")
        self.assertEqual(timeout["minimum"], 1)
        self.assertNotIn("default", timeout, "the project's defaultTimeout must apply")
        self.assertNotIn("default", node(s, "spec.model"), "the project's defaultModel must apply")
        self.assertEqual(node(s, "status.phase")["enum"], PHASES)
        self.assertNotIn("default", node(s, "status.phase"))
        for t in ("status.startTime", "status.completionTime", "status.lastActivityTime"):
            self.assertEqual(node(s, t)["format"], "date-time")
        rs = node(s, "status.repoStatuses")
        self.assertEqual((rs["x-kubernetes-list-type"], rs["x-kubernetes-list-map-keys"]),
                         ("map", ["repoIndex"]))
        self.assertEqual(node(s, "status.repoStatuses[].status")["enum"],
                         ["pushed", "abandoned", "failed"])
        self.assertEqual(node(s, "status.repoStatuses[].repoIndex")["minimum"], 0)

    def test_projectsettings_constraints(self):
        s = schema_of(load_crd("projectsettings"))
        self.assertIn("self.metadata.name == 'projectsettings'",
                      [r["rule"] for r in s["x-kubernetes-validations"]])
        self.assertEqual(node(s, "spec.groupAccess[].role")["enum"], ["admin", "edit", "view"])
        self.assertEqual(node(s, "spec.groupAccess[]")["required"], ["groupName", "role"])
        self.assertEqual(node(s, "spec.groupAccess")["x-kubernetes-list-map-keys"], ["groupName"])
        self.assertEqual(node(s, "spec.allowedModels")["x-kubernetes-list-type"], "set")
        # The same bounds as the plugin's validation (plugins/projectsettings).
        self.assertEqual(node(s, "spec.repositories")["maxItems"], 100)
        self.assertEqual(node(s, "spec.repositories")["x-kubernetes-list-type"], "set")
        self.assertEqual(node(s, "spec.repositories[]")["maxLength"], 2048)
        for f in ("spec.defaultTimeout", "spec.maxTimeout"):
            self.assertEqual(node(s, f)["minimum"], 1)
            self.assertNotIn("default", node(s, f))
        self.assertEqual(node(s, "spec.runnerSecretsName")["default"], "ambient-runner-secrets")

    def test_rfeworkflow_constraints(self):
        s = schema_of(load_crd("rfeworkflows"))
        # No steps means the default council: only the request is required.
        self.assertEqual(node(s, "spec")["required"], ["title", "description"])
        for f in ("spec.steps", "spec.agents"):
            self.assertEqual((node(s, f)["maxItems"], node(s, f)["x-kubernetes-list-map-keys"]),
                             (32, ["name"]))
        self.assertEqual(node(s, "spec.steps[]")["required"], ["name", "agent", "prompt"])
        self.assertEqual(node(s, "spec.agents[]")["required"], ["name", "role", "promptTemplate"])
        self.assertEqual(node(s, "spec.steps[].dependsOn")["x-kubernetes-list-type"], "set")
        # The same bounds as the plugin's validation (plugins/rfeworkflow/rfe.h).
        self.assertEqual(node(s, "spec.description")["maxLength"], 32768)
        for f in ("spec.steps[].prompt", "spec.agents[].promptTemplate"):
            self.assertEqual(node(s, f)["maxLength"], 16384)
        # The session's repos[] shape: no default branch, pushTo fork.
        self.assertNotIn("default", node(s, "spec.repos[].input.branch"))
        self.assertEqual(node(s, "spec.repos[].output.pushTo")["default"], "fork")
        self.assertEqual(node(s, "status.phase")["enum"], PHASES)
        self.assertEqual(node(s, "status.steps[].phase")["enum"], PHASES + ["Cancelled"])
        self.assertEqual(node(s, "status.steps")["x-kubernetes-list-map-keys"], ["name"])

    def test_conditions_are_metav1_conditions(self):
        for plural in CRD_FILES:
            with self.subTest(plural):
                c = node(schema_of(load_crd(plural)), "status.conditions")
                self.assertEqual(c["x-kubernetes-list-type"], "map")
                self.assertEqual(c["x-kubernetes-list-map-keys"], ["type"])
                item = c["items"]
                self.assertEqual(sorted(item["required"]), CONDITION_REQUIRED)
                props = {k: {kk: vv for kk, vv in v.items() if kk != "description"}
                         for k, v in item["properties"].items()}
                self.assertEqual(props, CONDITION_PROPS)
                og = node(schema_of(load_crd(plural)), "status.observedGeneration")
                self.assertEqual((og["format"], og["minimum"]), ("int64", 0))


if __name__ == "__main__":
    main()
