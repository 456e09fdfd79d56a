"""Renders a kustomization the way `kubectl kustomize` does, for the
features deploy/ uses and no others, so the manifests are checked on a
machine without kubectl (tests/deploy/test_manifests.py compares this
renderer with kubectl's wherever kubectl exists, so the two cannot drift).

Supported: resources (files, and directories holding a kustomization),
patches (strategic merge patches from files: maps merge, null deletes a key,
lists of objects merge by their key, other lists are replaced, and a
document with `$patch: delete` removes its resource), images (newName,
newTag on containers and initContainers of pods and pod templates),
namespace (set on namespaced resources), labels (pairs on every resource's
metadata; includeSelectors and includeTemplates are refused) and
configMapGenerator (literals, files, options disableNameSuffixHash and
labels, behavior create).
Anything else in a kustomization is refused by name.

    docs = render("deploy/overlays/production")   # a list of dicts

Debian's /usr/bin/python3 with python3-yaml."""
import copy
import os

import yaml

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KNOWN = {"apiVersion", "kind", "resources", "patches", "images", "namespace", "labels",
         "configMapGenerator"}
# The kinds deploy/ uses that are not namespaced.
CLUSTER_KINDS = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
# Strategic merge keys of the lists deploy/ patches.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "topologySpreadConstraints": "topologyKey"}


class Refused(Exception):
    pass


def kustomization_file(directory):
    for n in NAMES:
        path = os.path.join(directory, n)
        if os.path.isfile(path):
            return path
    raise Refused(f"{directory}: no kustomization")


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def key_of(doc):
    md = doc.get("metadata", {})
    return (doc["kind"], md.get("namespace", ""), md["name"])


def merge(base, patch, field=None):
    """The strategic merge of patch into base (a new value)."""
    if isinstance(patch, dict) and isinstance(base, dict):
        out = copy.deepcopy(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    key = MERGE_KEYS.get(field)
    if field == "ports" and isinstance(patch, list) and patch and "containerPort" in patch[0]:
        key = "containerPort"
    elif field == "ports":
        key = "port"
    if key and isinstance(base, list) and isinstance(patch, list):
        out, added = copy.deepcopy(base), []
        for item in patch:
            at = [i for i, b in enumerate(out) if b.get(key) == item.get(key)]
            if at:
                out[at[0]] = merge(out[at[0]], item)
            else:
                added.append(copy.deepcopy(item))
        return added + out  # as kustomize orders them: the patch's new items first
    return copy.deepcopy(patch)


def pod_specs(doc):
    """The pod specs of a resource (a pod template's, or a Pod's)."""
    spec = doc.get("spec", {})
    if doc["kind"] == "Pod":
        return [spec]
    template = spec.get("template", {}).get("spec")
    return [template] if template else []


def set_image(image, rule):
    name, sep, tag = image.partition("@")[0].rpartition(":")
    if not sep or "/" in tag:
        name, tag = image, ""
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    tag = rule.get("newTag", tag)
    return f"{name}:{tag}" if tag else name


def generate_configmap(gen, directory, namespace):
    unknown = set(gen) - {"name", "literals", "files", "options", "behavior"}
    options = gen.get("options", {})
    if unknown or set(options) - {"disableNameSuffixHash", "labels"} or not options.get(
            "disableNameSuffixHash") or gen.get("behavior", "create") != "create":
        raise Refused(f"configMapGenerator {gen.get('name')}: only literals and files with "
                      "disableNameSuffixHash")
    data = {}
    for lit in gen.get("literals", []):
        k, _, v = lit.partition("=")
        data[k] = v
    for name in gen.get("files", []):
        with open(os.path.join(directory, name)) as f:
            data[os.path.basename(name)] = f.read()
    md = {"name": gen["name"]}
    if namespace:
        md["namespace"] = namespace
    if options.get("labels"):
        md["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data}


def render(directory):
    path = kustomization_file(directory)
    with open(path) as f:
        k = yaml.safe_load(f)
    unknown = set(k) - KNOWN
    if unknown:
        raise Refused(f"{path}: not supported here: {sorted(unknown)}")
    docs = []
    for res in k.get("resources", []):
        full = os.path.normpath(os.path.join(directory, res))
        docs += render(full) if os.path.isdir(full) else load_docs(full)
    for gen in k.get("configMapGenerator", []):
        docs.append(generate_configmap(gen, directory, k.get("namespace")))
    for p in k.get("patches", []):
        if set(p) != {"path"}:
            raise Refused(f"{path}: patches are files here: {p}")
        for patch in load_docs(os.path.join(directory, p["path"])):
            at = [i for i, d in enumerate(docs) if key_of(d)[0] == patch["kind"]
                  and d["metadata"]["name"] == patch["metadata"]["name"]]
            if len(at) != 1:
                raise Refused(f"{p['path']}: {patch['kind']} {patch['metadata']['name']} "
                              f"matches {len(at)} resources")
            if patch.get("$patch") == "delete":
                del docs[at[0]]
            else:
                docs[at[0]] = merge(docs[at[0]], patch)
    ns = k.get("namespace")
    for d in docs:
        if ns and d["kind"] not in CLUSTER_KINDS:
            d["metadata"]["namespace"] = ns
        for group in k.get("labels", []):
            if set(group) != {"pairs"}:
                raise Refused(f"{path}: labels take pairs only here")
            d["metadata"].setdefault("labels", {}).update(group["pairs"])
        for spec in pod_specs(d):
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                for rule in k.get("images", []):
                    c["image"] = set_image(c["image"], rule)
    return docs
