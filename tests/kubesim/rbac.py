"""RBAC authorization evaluated from the Roles, ClusterRoles, RoleBindings
and ClusterRoleBindings stored in kubesim, plus the bootstrap ClusterRoles a
fresh cluster has (cluster-admin, admin, edit, view, system:discovery,
system:basic-user) with aggregation like the clusterrole-aggregation
controller does.  Members of system:masters are always allowed.
"""

from selectors_k8s import from_label_selector_object

RBAC = "rbac.authorization.k8s.io"
K_ROLES, K_CROLES = (RBAC, "roles"), (RBAC, "clusterroles")
K_RB, K_CRB = (RBAC, "rolebindings"), (RBAC, "clusterrolebindings")


class Attributes:
    """What a request asks to do (authorizer.Attributes)."""

    def __init__(self, user, verb, group="", resource="", subresource="", name="",
                 namespace="", path="", resource_request=True, version=""):
        self.user, self.verb = user, verb
        self.group, self.version = group, version
        self.resource, self.subresource = resource, subresource
        self.name, self.namespace = name, namespace
        self.path, self.resource_request = path, resource_request


def forbidden_message(a):
    """pkg/endpoints/handlers/responsewriters forbiddenMessage."""
    if not a.resource_request:
        return f'User "{a.user.name}" cannot {a.verb} path "{a.path}"'
    res = a.resource + ("/" + a.subresource if a.subresource else "")
    if a.namespace:
        return (f'User "{a.user.name}" cannot {a.verb} resource "{res}" in API group '
                f'"{a.group}" in the namespace "{a.namespace}"')
    return (f'User "{a.user.name}" cannot {a.verb} resource "{res}" in API group '
            f'"{a.group}" at the cluster scope')


def _has(values, wanted):
    return "*" in values or wanted in values


def rule_allows(rule, a):
    if not _has(rule.get("verbs") or [], a.verb):
        return False
    if not a.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == a.path or (url.endswith("*") and a.path.startswith(url[:-1])):
                return True
        return False
    if not _has(rule.get("apiGroups") or [], a.group):
        return False
    combined = a.resource + ("/" + a.subresource if a.subresource else "")
    ok = False
    for r in rule.get("resources") or []:
        if r == "*" or r == combined or (a.subresource and r == "*/" + a.subresource):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _subject_desc(s, binding_ns):
    kind = s.get("kind")
    if kind == "ServiceAccount":
        return f'ServiceAccount "{s.get("name")}/{s.get("namespace") or binding_ns}"'
    return f'{kind} "{s.get("name")}"'


def _subject_matches(s, user, binding_ns):
    kind = s.get("kind")
    if kind == "User":
        return s.get("name") == user.name
    if kind == "Group":
        return s.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = s.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{s.get('name')}"
    return False


class Authorizer:
    def __init__(self, store):
        self.store = store

    def _cluster_role_rules(self, name, seen=None):
        seen = seen if seen is not None else set()
        if name in seen:
            return []
        seen.add(name)
        entry = self.store.get(K_CROLES, "", name)
        if entry is None:
            return []
        role = entry.obj
        rules = list(role.get("rules") or [])
        agg = role.get("aggregationRule")
        if agg:
            sels = [from_label_selector_object(s) for s in agg.get("clusterRoleSelectors") or []]
            for (_, other_name), other in self.store.current(K_CROLES).items():
                if other_name in seen:
                    continue
                labels = other.obj.get("metadata", {}).get("labels") or {}
                if any(s is not None and not s.empty() and s.matches(labels) for s in sels):
                    rules.extend(self._cluster_role_rules(other_name, seen))
        return rules

    def _role_rules(self, ref, ns):
        if ref.get("kind") == "ClusterRole":
            return self._cluster_role_rules(ref.get("name"))
        entry = self.store.get(K_ROLES, ns, ref.get("name"))
        return list(entry.obj.get("rules") or []) if entry else []

    def authorize(self, a):
        """(allowed, reason) with the RBAC authorizer's reason wording."""
        if a.user.is_master():
            return True, ""
        with self.store.lock:
            for (_, name), entry in self.store.current(K_CRB).items():
                b = entry.obj
                for s in b.get("subjects") or []:
                    if not _subject_matches(s, a.user, ""):
                        continue
                    ref = b.get("roleRef") or {}
                    if any(rule_allows(r, a) for r in self._cluster_role_rules(ref.get("name"))):
                        return True, (f'RBAC: allowed by ClusterRoleBinding "{name}" of '
                                      f'ClusterRole "{ref.get("name")}" to {_subject_desc(s, "")}')
            if a.namespace and a.resource_request:
                for (ns, name), entry in self.store.current(K_RB).items():
                    if ns != a.namespace:
                        continue
                    b = entry.obj
                    for s in b.get("subjects") or []:
                        if not _subject_matches(s, a.user, ns):
                            continue
                        ref = b.get("roleRef") or {}
                        if any(rule_allows(r, a) for r in self._role_rules(ref, ns)):
                            return True, (f'RBAC: allowed by RoleBinding "{name}/{ns}" of '
                                          f'{ref.get("kind")} "{ref.get("name")}" to '
                                          f'{_subject_desc(s, ns)}')
        return False, ""


# -- bootstrap policy ------------------------------------------------------
RW = ["create", "delete", "deletecollection", "patch", "update"]
RO = ["get", "list", "watch"]


def _crole(name, rules=None, labels=None, aggregate=None):
    obj = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
           "metadata": {"name": name,
                        "labels": dict({"kubernetes.io/bootstrapping": "rbac-defaults"},
                                       **(labels or {}))},
           "rules": rules or []}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{a}": "true"}}
            for a in aggregate]}
    return obj


def _crb(name, role, groups):
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": g} for g in groups]}


def bootstrap_objects():
    """(rt_key, object) pairs created at startup, in the shape of the real
    bootstrap policy but abridged to the resources kubesim serves."""
    view_core = ["pods", "pods/log", "pods/status", "configmaps", "endpoints",
                 "persistentvolumeclaims", "persistentvolumeclaims/status", "services",
                 "services/status", "serviceaccounts", "events", "namespaces",
                 "namespaces/status", "resourcequotas", "limitranges"]
    edit_core = ["pods", "pods/exec", "pods/attach", "configmaps", "secrets",
                 "persistentvolumeclaims", "services", "serviceaccounts", "events"]
    croles = [
        _crole("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                 {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        _crole("admin", aggregate=["admin"]),
        _crole("edit", labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
               aggregate=["edit"]),
        _crole("view", labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
               aggregate=["view"]),
        _crole("system:aggregate-to-admin",
               [{"apiGroups": [RBAC], "resources": ["roles", "rolebindings"],
                 "verbs": RW + RO},
                {"apiGroups": ["authorization.k8s.io"],
                 "resources": ["localsubjectaccessreviews"], "verbs": ["create"]}],
               labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"}),
        _crole("system:aggregate-to-edit",
               [{"apiGroups": [""], "resources": edit_core, "verbs": RW},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": RO},
                {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": RW},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": RW},
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                 "verbs": RW},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "verbs": RW + RO}],
               labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
        _crole("system:aggregate-to-view",
               [{"apiGroups": [""], "resources": view_core, "verbs": RO},
                {"apiGroups": ["batch"], "resources": ["jobs", "jobs/status", "cronjobs"],
                 "verbs": RO},
                {"apiGroups": ["apps"], "resources": ["deployments", "deployments/status"],
                 "verbs": RO},
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                 "verbs": RO}],
               labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
        _crole("system:discovery",
               [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                                     "/livez", "/readyz", "/openapi", "/openapi/*",
                                     "/version", "/version/"], "verbs": ["get"]}]),
        _crole("system:basic-user",
               [{"apiGroups": ["authorization.k8s.io"],
                 "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                 "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"],
                 "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        _crole("system:auth-delegator",
               [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
                 "verbs": ["create"]},
                {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
                 "verbs": ["create"]}]),
    ]
    crbs = [
        _crb("cluster-admin", "cluster-admin", ["system:masters"]),
        _crb("system:discovery", "system:discovery", ["system:authenticated"]),
        _crb("system:basic-user", "system:basic-user", ["system:authenticated"]),
    ]
    return [(K_CROLES, o) for o in croles] + [(K_CRB, o) for o in crbs]
