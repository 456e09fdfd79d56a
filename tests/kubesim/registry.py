"""The resource types kubesim serves: built-in kinds and kinds from CRDs.

A ResourceType holds what the real apiserver keeps in its REST storage
strategy: scope, status subresource, whether PUT may create or may omit the
resourceVersion, how generation is tracked, the default GC policy, the field
selectors allowed, and what DELETE returns.  Discovery documents are built
from this table (see discovery.py).
"""

import re

import tables

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
BASE_FIELDS = {"metadata.name", "metadata.namespace"}


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(v):
    """Sort key for apimachinery's CompareKubeAwareVersionStrings."""
    m = _VERSION_RE.match(v)
    if not m:
        return (1, 0, 0, v)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (0, rank, -major, -minor)


class ResourceType:
    def __init__(self, group, versions, kind, plural, namespaced=True, short_names=(),
                 singular=None, status=False, create_on_update=False,
                 unconditional_update=True, generation=False, return_object=False,
                 gc_default="Background", fields=(), verbs=None, is_crd=False,
                 storage_version=None, categories=(), virtual=False, list_kind=None,
                 schema=None, printer_columns=None):
        self.group = group
        self.versions = list(versions)          # served versions
        self.storage_version = storage_version or self.versions[0]
        self.kind = kind
        self.list_kind = list_kind or kind + "List"
        self.plural = plural
        self.singular = singular or kind.lower()
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status                    # has a /status subresource
        self.create_on_update = create_on_update  # rest.AllowCreateOnUpdate
        self.unconditional_update = unconditional_update  # AllowUnconditionalUpdate
        # Whether metadata.generation is maintained.  CRs always; for built-ins
        # only the kinds whose strategy bumps it (Jobs, CRDs, ...).
        self.generation = generation or is_crd
        self.return_object = return_object      # DELETE returns the object, not a Status
        self.gc_default = gc_default            # propagation when the request names none
        self.fields = BASE_FIELDS | set(fields)  # allowed fieldSelector labels
        self.verbs = verbs if verbs is not None else ALL_VERBS
        self.is_crd = is_crd
        self.virtual = virtual                  # create-only review kinds, never stored
        self.schema = schema                    # CRD openAPIV3Schema (storage version)
        # CRDs: {version: columns after Name} for Table output (tables.py);
        # None for built-ins, which print the default Name/Created At.
        self.printer_columns = printer_columns

    @property
    def key(self):
        return (self.group, self.plural)

    def api_version(self, version=None):
        v = version or self.storage_version
        return f"{self.group}/{v}" if self.group else v

    def group_resource(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _builtins():
    core = lambda *a, **k: ResourceType("", ["v1"], *a, **k)  # noqa: E731
    pod_fields = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                  "spec.serviceAccountName", "status.phase", "status.podIP",
                  "status.nominatedNodeName", "spec.hostNetwork")
    event_fields = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                    "involvedObject.uid", "involvedObject.apiVersion",
                    "involvedObject.resourceVersion", "involvedObject.fieldPath",
                    "reason", "reportingComponent", "source", "type")
    return [
        core("Namespace", "namespaces", namespaced=False, short_names=["ns"], status=True,
             return_object=True, fields=("status.phase",)),
        core("Secret", "secrets", fields=("type",)),
        core("ConfigMap", "configmaps", short_names=["cm"]),
        core("ServiceAccount", "serviceaccounts", short_names=["sa"]),
        core("PersistentVolumeClaim", "persistentvolumeclaims", short_names=["pvc"], status=True),
        core("Event", "events", short_names=["ev"], create_on_update=True, fields=event_fields),
        core("Pod", "pods", short_names=["po"], status=True, return_object=True,
             fields=pod_fields, categories=["all"]),
        core("Service", "services", short_names=["svc"], status=True, categories=["all"]),
        ResourceType("coordination.k8s.io", ["v1"], "Lease", "leases", create_on_update=True,
                     unconditional_update=False),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "Role", "roles", create_on_update=True),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "RoleBinding", "rolebindings",
                     create_on_update=True),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "ClusterRole", "clusterroles",
                     namespaced=False, create_on_update=True),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "ClusterRoleBinding",
                     "clusterrolebindings", namespaced=False, create_on_update=True),
        # batch/v1 Jobs orphan their Pods unless the client asks for another
        # propagation policy (registry/batch/job/strategy.go
        # DefaultGarbageCollectionPolicy, kept "for back compatibility").
        ResourceType("batch", ["v1"], "Job", "jobs", status=True, generation=True,
                     gc_default="Orphan", fields=("status.successful",), categories=["all"]),
        ResourceType("apps", ["v1"], "Deployment", "deployments", short_names=["deploy"],
                     status=True, generation=True, categories=["all"]),
        ResourceType("networking.k8s.io", ["v1"], "NetworkPolicy", "networkpolicies",
                     short_names=["netpol"], generation=True),
        ResourceType("networking.k8s.io", ["v1"], "Ingress", "ingresses",
                     short_names=["ing"], status=True, generation=True),
        ResourceType("apiextensions.k8s.io", ["v1"], "CustomResourceDefinition",
                     "customresourcedefinitions", namespaced=False, short_names=["crd", "crds"],
                     status=True, generation=True, unconditional_update=False),
        ResourceType("authorization.k8s.io", ["v1"], "SelfSubjectAccessReview",
                     "selfsubjectaccessreviews", namespaced=False, verbs=["create"], virtual=True),
        ResourceType("authorization.k8s.io", ["v1"], "SubjectAccessReview",
                     "subjectaccessreviews", namespaced=False, verbs=["create"], virtual=True),
        ResourceType("authentication.k8s.io", ["v1"], "TokenReview", "tokenreviews",
                     namespaced=False, verbs=["create"], virtual=True),
        ResourceType("authentication.k8s.io", ["v1"], "SelfSubjectReview",
                     "selfsubjectreviews", namespaced=False, verbs=["create"], virtual=True),
    ]


class Registry:
    """All served resource types.  Mutated only under the store lock (CRD
    create/delete), read without it: dict reads are atomic in CPython."""

    def __init__(self):
        self.types = {}
        for rt in _builtins():
            self.types[rt.key] = rt

    def lookup(self, group, version, plural):
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_key(self, key):
        return self.types.get(key)

    def by_kind(self, group, kind):
        for rt in list(self.types.values()):
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    def by_api_version_kind(self, api_version, kind):
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        return self.by_kind(group, kind)

    def group_versions(self):
        """{group: [versions]}, core group excluded, each list in Kubernetes
        version priority (GA > beta > alpha, higher first), so the first
        one is the preferred version as in real discovery."""
        out = {}
        for rt in list(self.types.values()):
            if rt.group:
                vs = out.setdefault(rt.group, [])
                for v in rt.versions:
                    if v not in vs:
                        vs.append(v)
        return {g: sorted(vs, key=version_priority) for g, vs in out.items()}

    def types_in(self, group, version):
        return [rt for rt in list(self.types.values())
                if rt.group == group and version in rt.versions]

    # -- CRDs --------------------------------------------------------------
    @staticmethod
    def type_from_crd(crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        served = [v for v in spec.get("versions") or [] if v.get("served", True)]
        storage = [v for v in spec.get("versions") or [] if v.get("storage")]
        schema = ((storage[0].get("schema") or {}).get("openAPIV3Schema")
                  if storage else None)
        status = any("status" in ((v.get("subresources") or {})) for v in served)
        fields = set()
        for v in served:
            for sf in v.get("selectableFields") or []:
                fields.add(sf.get("jsonPath", "").lstrip("."))
        return ResourceType(
            spec.get("group", ""), [v["name"] for v in served], names.get("kind", ""),
            names.get("plural", ""), namespaced=spec.get("scope") != "Cluster",
            short_names=names.get("shortNames") or [], singular=names.get("singular"),
            status=status, unconditional_update=False, is_crd=True,
            storage_version=storage[0]["name"] if storage else None, schema=schema,
            categories=names.get("categories") or [], fields=fields,
            list_kind=names.get("listKind"),
            printer_columns={v["name"]: tables.crd_columns(v) for v in served})

    def register_crd(self, crd):
        rt = self.type_from_crd(crd)
        if rt.versions:
            self.types[rt.key] = rt
        else:
            self.types.pop(rt.key, None)
        return rt

    def unregister_crd(self, crd):
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        rt = self.types.get(key)
        if rt is not None and rt.is_crd:
            del self.types[key]
