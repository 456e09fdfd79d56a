"""Least privilege, checked: what each role's code asks of Kubernetes is
exactly what deploy/ grants it.

The flow of stackflow.py runs every role as deployed, each with its own
identity and with the kube client's call recorder on (AMBIENT_KUBE_CALL_LOG,
core/src/kube-record-internal.h: one "verb group resource subresource
namespaced" line per call made with the process's own identity; calls made
with a user's token are the user's rights, not the role's). Then, per role:

  controller  the ClusterRole ambient-controller (deploy/rbac/controller.yaml)
  api         the ClusterRole ambient-api (deploy/rbac/api.yaml)
  runner      the per-session Role the controller wrote for the session
              (plugins/agenticsession/rbac.c), read from the cluster: a Role
              grants nothing cluster-scoped, so every runner call must be
              namespaced

a call the grants do not cover fails, and so does a grant no call used.
Two kinds of grant are used without a call of their verb, and count as
used when the flow shows them: what a role hands on in a Role it creates
(Kubernetes lets a Role grant only what its creator holds: the controller's
session Roles), and `bind` on a ClusterRole, used by creating a RoleBinding
to it (the api's creator binding ambient-admin-<user>; the controller's
ProjectSettings groupAccess bindings). resourceNames narrow a grant but do
not change what is compared, except for `bind`, compared per role name.

A few grants serve only races the flow cannot stage deterministically (a
child created meanwhile, a status write that conflicted): RACES lists each
with the code that makes the call, and the test checks that code is still
there, so an entry cannot outlive its reason.

Environment (set by CMake): those of stackflow.py and RBAC_DIR. Debian's
/usr/bin/python3 with python3-yaml."""
import glob
import os
import shutil
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from stackflow import Flow  # noqa: E402

RBAC_DIR = os.environ["RBAC_DIR"]
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = ("controller", "api", "runner")


# role -> {grant: (file, text that makes the call)}
CHILD_EXISTS = ("plugins/agenticsession/children.c", "if (rc == AMB_EEXIST) /* there without our label")
STATUS_CONFLICT = ("core/src/controller_host.c",
                   "/* The cache first; after a conflict, the API's latest. */")
RACES = {
    "controller": {
        ("get", "batch", "jobs", "-"): CHILD_EXISTS,
        ("get", "-", "serviceaccounts", "-"): CHILD_EXISTS,
        ("get", "-", "persistentvolumeclaims", "-"): CHILD_EXISTS,
        ("get", RBAC_GROUP, "roles", "-"): CHILD_EXISTS,
        ("get", "vteam.ambient-code", "projectsettings", "-"): STATUS_CONFLICT,
        ("get", "vteam.ambient-code", "rfeworkflows", "-"): STATUS_CONFLICT,
    },
}


def grants(rules):
    """(verb, group, resource, subresource[, role name for bind]) of rules;
    the core group and no subresource are "-", as the recorder writes them."""
    out = set()
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                resource, _, sub = res.partition("/")
                for verb in rule["verbs"]:
                    key = (verb, group or "-", resource, sub or "-")
                    if verb == "bind":
                        out |= {key + (n,) for n in rule.get("resourceNames", [])}
                    else:
                        out.add(key)
    return out


def cluster_role(name):
    for path in glob.glob(os.path.join(RBAC_DIR, "*.yaml")):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc and doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == name:
                    return doc
    raise AssertionError(f"no ClusterRole {name} in {RBAC_DIR}")


def recorded(path):
    """{(verb, group, resource, sub): namespaced values seen} of a recording."""
    calls = {}
    with open(path) as f:
        for line in f:
            verb, group, resource, sub, namespaced = line.split()
            calls.setdefault((verb, group, resource, sub), set()).add(namespaced == "1")
    return calls


def binds(bindings, made_by_api):
    """The bind grants the RoleBindings show used: the api's are its
    creator bindings (ambient-admin-<user>), the controller's the others
    that bind an ambient-project-* ClusterRole."""
    out = set()
    for rb in bindings:
        ref = rb["roleRef"]
        if ref["kind"] != "ClusterRole" or not ref["name"].startswith("ambient-project-"):
            continue
        if rb["metadata"]["name"].startswith("ambient-admin-") == made_by_api:
            out.add(("bind", RBAC_GROUP, "clusterroles", "-", ref["name"]))
    return out


class LeastPrivilege(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="least-privilege-")
        cls.logs = {r: os.path.join(cls.tmp, r + ".calls") for r in ROLES}
        env = {r: {"AMBIENT_KUBE_CALL_LOG": cls.logs[r]} for r in ROLES}
        try:
            with Flow(api_env=env["api"], controller_env=env["controller"],
                      runner_env=env["runner"]) as f:
                cls.flow = f
                f.run()
        except BaseException as e:
            # A call refused for want of a grant usually stops the flow
            # first: name those calls rather than only the wait that failed.
            refused = cls.ungranted()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            if refused:
                raise AssertionError(f"calls deploy/ does not grant: {refused}") from e
            raise

    @classmethod
    def granted(cls, role):
        if role == "runner":
            return grants(cls.flow.session_role["rules"]) if cls.flow.session_role else set()
        return grants(cluster_role("ambient-" + role)["rules"])

    @classmethod
    def ungranted(cls):
        """{role: calls of its recording that its grants do not cover}."""
        out = {}
        for role in ROLES:
            if os.path.exists(cls.logs[role]):
                plain = {g[:4] for g in cls.granted(role) if g[0] != "bind"}
                missing = sorted(" ".join(c) for c in recorded(cls.logs[role]) if c not in plain)
                if missing:
                    out[role] = missing
        return out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def calls(self, role):
        self.assertTrue(os.path.exists(self.logs[role]), f"the {role} recorded no call")
        return recorded(self.logs[role])

    def check(self, role, used_without_a_call=frozenset(), namespaced_only=False):
        calls = self.calls(role)
        granted = self.granted(role)
        races = RACES.get(role, {})
        for grant, (path, text) in races.items():
            with open(os.path.join(ROOT, path)) as f:
                self.assertIn(text, f.read(), f"{role}: RACES[{grant}] names code that is gone")
            self.assertIn(grant, granted, f"{role}: RACES[{grant}] is not granted: drop it")
        self.assertEqual(self.ungranted().get(role, []), [],
                         f"{role}: calls deploy/ does not grant")
        if namespaced_only:
            cluster_wide = sorted(" ".join(c) for c, ns in calls.items() if False in ns)
            self.assertEqual(cluster_wide, [], f"{role}: cluster-scoped calls a Role cannot grant")
        used = set(calls) | set(used_without_a_call) | set(races)
        unused = sorted(" ".join(g) for g in granted if g not in used)
        self.assertEqual(unused, [], f"{role}: grants no call of the flow used")

    def test_controller(self):
        handed_on = grants(self.flow.session_role["rules"])
        self.check("controller", handed_on | binds(self.flow.bindings, made_by_api=False))

    def test_api(self):
        self.check("api", binds(self.flow.bindings, made_by_api=True))

    def test_runner(self):
        self.check("runner", namespaced_only=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
