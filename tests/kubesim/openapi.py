"""A minimal OpenAPI v3 surface, generated from the registry.

kubectl (apply/create/replace with the default --validate=strict) asks
/openapi/v3 whether the server supports the `fieldValidation` query
parameter for the kind's PATCH operation; if it does, kubectl leaves
validation to the server and needs no schemas.  So each group-version
document lists, per kind, a PATCH path carrying x-kubernetes-group-version-kind
and the fieldValidation parameter, and nothing else.  kubesim ignores
fieldValidation (it keeps unknown fields).  /openapi/v2 stays 404.
"""

import hashlib
import json


def _gv_path(group, version):
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _doc_hash(doc):
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16].upper()


def root(registry):
    paths = {}
    gvs = {("", "v1")}
    for rt in list(registry.types.values()):
        for v in rt.versions:
            gvs.add((rt.group, v))
    for group, version in sorted(gvs):
        doc = group_version(registry, group, version)
        if doc is None:
            continue
        p = _gv_path(group, version)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_doc_hash(doc)}"}
    return {"paths": paths}


def group_version(registry, group, version):
    rts = [rt for rt in registry.types_in(group, version) if not rt.virtual]
    if not rts:
        return None
    prefix = "/" + _gv_path(group, version)
    paths = {}
    for rt in sorted(rts, key=lambda r: r.plural):
        if rt.namespaced:
            path = f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
        else:
            path = f"{prefix}/{rt.plural}/{{name}}"
        paths[path] = {"patch": {
            "operationId": f"patch{rt.kind}",
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "force", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version,
                                                "kind": rt.kind},
        }}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (kubesim)", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}
