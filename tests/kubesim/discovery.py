"""Discovery documents: /version, /api, /api/v1, /apis, /apis/G, /apis/G/V.

Only the legacy (non-aggregated) discovery format is served; client-go and
kubectl fall back to it when the response Content-Type is plain JSON.
"""

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kubesim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _group_entry(group, versions):
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry):
    groups = [_group_entry(g, vs) for g, vs in sorted(registry.group_versions().items())]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry, group):
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    doc = _group_entry(group, versions)
    doc.update({"kind": "APIGroup", "apiVersion": "v1"})
    return doc


def _resource(rt, name=None, kind=None, verbs=None, singular=None, group=None, version=None):
    entry = {"name": name or rt.plural,
             "singularName": rt.singular if singular is None else singular,
             "namespaced": rt.namespaced,
             "kind": kind or rt.kind,
             "verbs": verbs if verbs is not None else rt.verbs}
    if group is not None:
        entry["group"] = group
        entry["version"] = version
    if name is None:
        if rt.short_names:
            entry["shortNames"] = rt.short_names
        if rt.categories:
            entry["categories"] = rt.categories
    return entry


def api_resource_list(registry, group, version):
    rts = registry.types_in(group, version)
    if not rts:
        return None
    resources = []
    for rt in sorted(rts, key=lambda r: r.plural):
        resources.append(_resource(rt))
        if rt.status:
            resources.append(_resource(rt, name=f"{rt.plural}/status", singular="",
                                       verbs=["get", "patch", "update"]))
        if (rt.group, rt.plural) == ("", "serviceaccounts"):
            resources.append(_resource(rt, name="serviceaccounts/token", singular="",
                                       kind="TokenRequest", verbs=["create"],
                                       group="authentication.k8s.io", version="v1"))
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}
