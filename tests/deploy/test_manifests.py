"""deploy/ holds together: kubectl applies deploy/crds, deploy/rbac and
deploy/k8s to kubesim; every ambient.conf shipped in a ConfigMap passes
`ambientd --check-config` with the real plugins; the ports the configs listen
on are the ones the Deployments expose and probe and the Services target;
every pod runs as a service account deploy/rbac defines, non-root, with a
read-only root filesystem and no capabilities. Without kubectl on PATH only
the kubectl apply is skipped (and says so); the rest runs.

Environment (set by CMake): AMBIENTD, PLUGIN_DIR, KUBESIM, CRD_DIR. Debian's
/usr/bin/python3 with python3-yaml."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "kubesim", "tests"))

import harness  # noqa: E402

harness.KUBESIM = os.environ["KUBESIM"]
harness.CRD_DIR = os.environ["CRD_DIR"]
AMBIENTD = os.environ["AMBIENTD"]
PLUGIN_DIR = os.environ["PLUGIN_DIR"]
KUBECTL = harness.find_kubectl("deploy.manifests: test_kubectl_applies_everything")
K8S = os.path.join(ROOT, "deploy", "k8s")
RBAC = os.path.join(ROOT, "deploy", "rbac")


def load_all(directory):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def listen_port(conf, group):
    """The port of `listen = "host:port"` inside the named group of conf."""
    m = re.search(group + r'\s*=\s*\{[^}]*?listen\s*=\s*"[^"]*:(\d+)"', conf, re.S)
    return int(m.group(1)) if m else None


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k8s = load_all(K8S)
        cls.rbac = load_all(RBAC)
        cls.configs = {name: cm["data"]["ambient.conf"]
                       for name, cm in by_kind(cls.k8s, "ConfigMap").items()}
        cls.deployments = by_kind(cls.k8s, "Deployment")

    def container(self, name):
        return self.deployments[name]["spec"]["template"]["spec"]["containers"][0]

    def config_of(self, name):
        vols = self.deployments[name]["spec"]["template"]["spec"]["volumes"]
        cm = [v["configMap"]["name"] for v in vols if "configMap" in v]
        self.assertEqual(len(cm), 1, name)
        return self.configs[cm[0]]

    def test_every_shipped_config_passes_check_config(self):
        tmp = tempfile.mkdtemp(prefix="deploy-conf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("t\n")
        self.assertEqual(set(self.configs), {"ambient-controller-config", "ambient-api-config",
                                             "ambient-live-config"})
        for name, conf in self.configs.items():
            # Outside a cluster: where the plugins are, and an API server to
            # stand in for the in-cluster one.
            path = os.path.join(tmp, name + ".conf")
            with open(path, "w") as f:
                f.write(f'plugin_dir = "{PLUGIN_DIR}";\n'
                        f'kube = {{ server = "https://127.0.0.1:6443"; token_file = "{token}"; }};\n'
                        + conf)
            p = subprocess.run([AMBIENTD, "--check-config", path], capture_output=True,
                               text=True, timeout=harness.WAIT)
            self.assertEqual(p.returncode, 0, f"{name}: {p.stdout}{p.stderr}")

    def test_ports_agree(self):
        ctl = self.config_of("ambient-controller")
        api = self.config_of("ambient-api")
        live = self.config_of("ambient-live")
        want = {"ambient-controller": listen_port(ctl, "controller"),
                "ambient-api": listen_port(api, "api"),
                "ambient-live": listen_port(live, "live")}
        self.assertEqual(want, {"ambient-controller": 9090, "ambient-api": 8080,
                                "ambient-live": 8081})
        for name, port in want.items():
            c = self.container(name)
            ports = {p["containerPort"]: p["name"] for p in c["ports"]}
            self.assertEqual(list(ports), [port], name)
            for probe in ("livenessProbe", "readinessProbe"):
                action = c[probe].get("httpGet") or c[probe].get("tcpSocket")
                self.assertEqual(action["port"], port, f"{name} {probe}")
        services = by_kind(self.k8s, "Service")
        for name, svc in services.items():
            c = self.container(name)
            names = {p["name"] for p in c["ports"]}
            for p in svc["spec"]["ports"]:
                self.assertIn(p["targetPort"], names, f"Service {name}")
            labels = self.deployments[name]["spec"]["template"]["metadata"]["labels"]
            self.assertLessEqual(svc["spec"]["selector"].items(), labels.items(), name)
        # The live store has one owner.
        self.assertEqual(self.deployments["ambient-live"]["spec"]["replicas"], 1)
        self.assertEqual(self.deployments["ambient-live"]["spec"]["strategy"]["type"], "Recreate")

    def test_the_ingress_sends_live_paths_to_the_live_service(self):
        """ingress-nginx matches regex paths as ~* ^path, longest first."""
        ing = by_kind(self.k8s, "Ingress")["ambient"]
        paths = ing["spec"]["rules"][0]["http"]["paths"]
        rules = sorted(((re.compile("^" + p["path"], re.I), p["backend"]["service"]) for p in paths),
                       key=lambda r: -len(r[0].pattern))

        def backend(url):
            for rx, svc in rules:
                if rx.match(url):
                    return svc["name"], svc["port"]["name"]
            return None
        live = ("ambient-live", "live")
        api = ("ambient-api", "http")
        base = "/api/projects/p1/agentic-sessions/s-1"
        for tail in ("ws", "events", "messages"):
            self.assertEqual(backend(f"{base}/{tail}"), live, tail)
        for url in (base, f"{base}/stop", f"{base}/clone", "/api/projects/p1/agentic-sessions",
                    "/api/projects", "/api/projects/p1/permissions", f"{base}/ws/x",
                    "/api/projects/p1/projectsettings/events"):
            self.assertEqual(backend(url), api, url)
        services = by_kind(self.k8s, "Service")
        for _, svc in rules:
            names = {p["name"] for p in services[svc["name"]]["spec"]["ports"]}
            self.assertIn(svc["port"]["name"], names)

    def test_pods_are_hardened_and_have_known_identities(self):
        accounts = set(by_kind(self.rbac, "ServiceAccount"))
        for name, d in self.deployments.items():
            pod = d["spec"]["template"]["spec"]
            self.assertIn(pod["serviceAccountName"], accounts, name)
            self.assertTrue(pod["securityContext"]["runAsNonRoot"], name)
            for c in pod["containers"]:
                sc = c["securityContext"]
                self.assertTrue(sc["readOnlyRootFilesystem"], name)
                self.assertFalse(sc["allowPrivilegeEscalation"], name)
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"], name)
                self.assertIn("memory", c["resources"]["limits"], name)

    @unittest.skipUnless(KUBECTL, "kubectl is not installed")
    def test_kubectl_applies_everything(self):
        ks = harness.Kubesim(tls=True, crds=False)
        tmp = tempfile.mkdtemp(prefix="deploy-kubectl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        try:
            kubeconfig = os.path.join(tmp, "kubeconfig")
            open(kubeconfig, "w").close()
            env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=tmp)

            def kubectl(*args):
                p = subprocess.run([KUBECTL, f"--server={ks.tls_url}", "--insecure-skip-tls-verify",
                                    "--token=kubesim-admin", f"--cache-dir={tmp}/cache", *args],
                                   capture_output=True, text=True, env=env, timeout=60)
                self.assertEqual(p.returncode, 0, f"kubectl {args}: {p.stderr}")
                return p.stdout
            crds = os.path.join(ROOT, "deploy", "crds")
            kubectl("apply", "-f", crds)
            kubectl("apply", "-f", os.path.join(K8S, "namespace.yaml"))
            kubectl("apply", "-f", RBAC)
            kubectl("apply", "-f", K8S)
            out = kubectl("get", "deployments", "-n", "ambient", "-o", "name")
            self.assertEqual(sorted(out.split()), ["deployment.apps/ambient-api",
                                                   "deployment.apps/ambient-controller",
                                                   "deployment.apps/ambient-live"])
            roles = kubectl("get", "clusterroles", "-o", "name").split()
            for r in ("ambient-api", "ambient-controller", "ambient-project-admin",
                      "ambient-project-edit", "ambient-project-view"):
                self.assertIn("clusterrole.rbac.authorization.k8s.io/" + r, roles)
        finally:
            ks.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
