"""What deploy/ installs, rendered (minikustomize.py) and handed to the
tests: the objects of an overlay, and each role's ambient.conf written out
with the files it includes, as the pod would mount them.

    docs = rendered("base")              # or "overlays/production", "monitoring"
    paths = write_configs(tmp, prefix)   # {ConfigMap name: path of its ambient.conf}

Debian's /usr/bin/python3 with python3-yaml."""
import os

import minikustomize

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy")
OVERLAYS = ("base", "overlays/dev", "overlays/openshift", "overlays/production")
CONFIGS = ("ambient-controller-config", "ambient-api-config", "ambient-live-config")
# The ConfigMap the controller's ambient.conf includes its runner image from.
IMAGES = "ambient-images"


def rendered(name):
    return minikustomize.render(os.path.join(DEPLOY, name))


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def write_configs(directory, prefix=""):
    """Each role's ambient.conf of deploy/base, prefix first, in its own
    directory beside the ambient-images files (libconfig's @include is
    relative to the config's directory, as in the pod's /etc/ambient)."""
    maps = by_kind(rendered("base"), "ConfigMap")
    out = {}
    for name in CONFIGS:
        d = os.path.join(directory, name)
        os.makedirs(d, exist_ok=True)
        for key, text in maps[IMAGES]["data"].items():
            with open(os.path.join(d, key), "w") as f:
                f.write(text)
        out[name] = os.path.join(d, "ambient.conf")
        with open(out[name], "w") as f:
            f.write(prefix + maps[name]["data"]["ambient.conf"])
    return out
