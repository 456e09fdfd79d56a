"""deploy/ holds together, for each way it is installed: deploy/base and the
overlays dev, openshift and production (and deploy/monitoring).

  - Each renders. minikustomize.py renders it everywhere; where kubectl is
    installed, `kubectl kustomize` must render exactly the same objects, so
    the checks below hold for what kubectl applies (and the renderer cannot
    drift from kustomize).
  - `kubectl apply -k deploy/base` applies to kubesim (needs kubectl).
  - The namespace enforces Pod Security `restricted`, and every pod of every
    overlay passes it, checked rule by rule (podsecurity.py).
  - Images are named in the kustomizations only.
  - Every shipped ambient.conf passes `ambientd --check-config` with the
    real plugins; the ports the configs listen on are the ones the
    Deployments expose and probe and the Services target; every pod runs as
    a service account deploy/rbac defines, read-only, with resource limits.
  - Each overlay does what it says (replicas, HPA, budgets, spread, NodePorts,
    Route and OAuth proxy, SCC-compatible contexts).

Without kubectl the two kubectl checks report themselves skipped and the
rest runs. Environment (set by CMake): AMBIENTD, PLUGIN_DIR, KUBESIM,
CRD_DIR. Debian's /usr/bin/python3 with python3-yaml."""
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
sys.path.insert(0, HERE)

import harness  # noqa: E402
import minikustomize  # noqa: E402
import podsecurity  # noqa: E402
from deployed import CONFIGS, DEPLOY, OVERLAYS, by_kind, rendered, write_configs  # noqa: E402

harness.KUBESIM = os.environ["KUBESIM"]
harness.CRD_DIR = os.environ["CRD_DIR"]
AMBIENTD = os.environ["AMBIENTD"]
PLUGIN_DIR = os.environ["PLUGIN_DIR"]
KUBECTL = harness.find_kubectl("deploy.manifests: the kubectl kustomize and apply -k checks")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


def key(doc):
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


def pods(docs):
    """(name, pod spec) of every workload."""
    out = []
    for d in docs:
        if d["kind"] in WORKLOADS:
            spec = d["spec"]
            if d["kind"] == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            out.append((f"{d['kind']} {d['metadata']['name']}",
                        spec if d["kind"] == "Pod" else spec["template"]["spec"]))
    return out


def listen_port(conf, group):
    """The port of the first `listen = "host:port"` inside the named group."""
    m = re.search(group + r'\s*=\s*\{[^}]*?listen\s*=\s*"[^"]*:(\d+)"', conf, re.S)
    return int(m.group(1)) if m else None


class Renders(unittest.TestCase):
    @unittest.skipUnless(KUBECTL, "kubectl is not installed")
    def test_kubectl_kustomize_renders_the_same(self):
        for name in OVERLAYS + ("monitoring",):
            p = subprocess.run([KUBECTL, "kustomize", os.path.join(DEPLOY, name)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, f"{name}: {p.stderr}")
            theirs = {key(d): d for d in yaml.safe_load_all(p.stdout) if d}
            mine = {key(d): d for d in rendered(name)}
            self.assertEqual(sorted(mine), sorted(theirs), name)
            for k in mine:
                self.assertEqual(mine[k], theirs[k], f"{name}: {k}")

    def test_the_renderer_refuses_what_it_does_not_do(self):
        tmp = tempfile.mkdtemp(prefix="deploy-kustomize-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
            f.write("resources: []\ncommonLabels: {a: b}\n")
        with self.assertRaisesRegex(minikustomize.Refused, "commonLabels"):
            minikustomize.render(tmp)

    def test_every_overlay_has_the_whole_platform(self):
        for name in OVERLAYS:
            docs = rendered(name)
            self.assertEqual(set(by_kind(docs, "Deployment")),
                             {"ambient-controller", "ambient-api", "ambient-live"}, name)
            self.assertEqual(len(by_kind(docs, "CustomResourceDefinition")),
                             len(glob.glob(os.path.join(DEPLOY, "crds", "*.yaml"))), name)
            for d in docs:
                self.assertEqual(d["metadata"]["labels"].get("app.kubernetes.io/part-of"),
                                 "ambient", f"{name}: {key(d)}")


class PodSecurity(unittest.TestCase):
    def test_the_namespace_enforces_restricted(self):
        for name in OVERLAYS:
            labels = by_kind(rendered(name), "Namespace")["ambient"]["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                self.assertEqual(labels[f"pod-security.kubernetes.io/{mode}"], "restricted", name)

    def test_every_pod_passes_restricted(self):
        seen = 0
        for name in OVERLAYS:
            for what, spec in pods(rendered(name)):
                self.assertEqual(podsecurity.violations(spec), [], f"{name}: {what}")
                seen += 1
        self.assertGreaterEqual(seen, 12)

    def test_the_rules_catch_what_restricted_refuses(self):
        good = pods(rendered("base"))[0][1]
        cases = {
            "hostPath": lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "runAsNonRoot": lambda p: p["securityContext"].pop("runAsNonRoot"),
            "seccompProfile": lambda p: p["securityContext"].pop("seccompProfile"),
            "allowPrivilegeEscalation":
                lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
            "drop ALL": lambda p: p["containers"][0]["securityContext"].pop("capabilities"),
            "privileged": lambda p: p["containers"][0]["securityContext"].update(privileged=True),
            "hostNetwork": lambda p: p.update(hostNetwork=True),
            "runAsUser 0": lambda p: p["securityContext"].update(runAsUser=0),
            "hostPort": lambda p: p["containers"][0]["ports"][0].update(hostPort=80),
            "adds capabilities":
                lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        }
        for what, spoil in cases.items():
            bad = yaml.safe_load(yaml.safe_dump(good))
            spoil(bad)
            self.assertTrue(podsecurity.violations(bad), what)


class Images(unittest.TestCase):
    def test_images_are_named_in_the_kustomizations_only(self):
        sources = [p for p in glob.glob(os.path.join(DEPLOY, "*", "*.yaml"))
                   + glob.glob(os.path.join(DEPLOY, "overlays", "*", "*.yaml"))
                   if os.path.basename(p) != "kustomization.yaml"]
        for path in sources:
            with open(path) as f:
                self.assertNotRegex(f.read(), r"quay\.io|docker\.io|registry\.", path)
        for name in OVERLAYS:
            for what, spec in pods(rendered(name)):
                for c in spec["containers"]:
                    self.assertRegex(c["image"], r"^[a-z0-9.-]+/[a-z0-9_/.-]+:[\w.-]+$",
                                     f"{name}: {what}: {c['name']}")

    def test_the_controller_runs_the_runner_image_the_base_names(self):
        base = os.path.join(DEPLOY, "base", "kustomization.yaml")
        with open(base) as f:
            literal = yaml.safe_load(f)["configMapGenerator"][0]["literals"][0]
        image = re.search(r'runner_image = "([^"]+)";', literal).group(1)
        self.assertRegex(image, r"^quay\.io/ambient_code/ambient-runner:")
        tmp = tempfile.mkdtemp(prefix="deploy-images-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = write_configs(tmp)["ambient-controller-config"]
        with open(path) as f:
            self.assertIn('@include "runner-image.conf"', f.read())
        with open(os.path.join(os.path.dirname(path), "runner-image.conf")) as f:
            self.assertEqual(f.read(), f'runner_image = "{image}";')
        volume = by_kind(rendered("base"), "Deployment")["ambient-controller"]["spec"][
            "template"]["spec"]["volumes"][0]
        self.assertIn({"configMap": {"name": "ambient-images"}}, volume["projected"]["sources"])


class Base(unittest.TestCase):
    """The base's pieces agree with each other and with deploy/rbac."""

    @classmethod
    def setUpClass(cls):
        cls.docs = rendered("base")
        cls.configs = {n: cm["data"]["ambient.conf"]
                       for n, cm in by_kind(cls.docs, "ConfigMap").items() if n in CONFIGS}
        cls.deployments = by_kind(cls.docs, "Deployment")
        cls.services = by_kind(cls.docs, "Service")

    def container(self, name):
        return self.deployments[name]["spec"]["template"]["spec"]["containers"][0]

    def config_of(self, name):
        vols = self.deployments[name]["spec"]["template"]["spec"]["volumes"]
        maps = [v["configMap"]["name"] for v in vols if "configMap" in v]
        maps += [s["configMap"]["name"] for v in vols for s in v.get("projected", {}).get("sources", [])
                 if "configMap" in s]
        mine = [m for m in maps if m in CONFIGS]
        self.assertEqual(len(mine), 1, name)
        return self.configs[mine[0]]

    def test_every_shipped_config_passes_check_config(self):
        tmp = tempfile.mkdtemp(prefix="deploy-conf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("t\n")
        # Outside a cluster: where the plugins are, and an API server to
        # stand in for the in-cluster one.
        prefix = (f'plugin_dir = "{PLUGIN_DIR}";\n'
                  f'kube = {{ server = "https://127.0.0.1:6443"; token_file = "{token}"; }};\n')
        for name, path in write_configs(tmp, prefix).items():
            p = subprocess.run([AMBIENTD, "--check-config", path], capture_output=True,
                               text=True, timeout=harness.WAIT)
            self.assertEqual(p.returncode, 0, f"{name}: {p.stdout}{p.stderr}")

    def test_ports_agree(self):
        want = {"ambient-controller": {"metrics": listen_port(self.config_of("ambient-controller"),
                                                              "controller")},
                "ambient-api": {"http": listen_port(self.config_of("ambient-api"), "api")},
                "ambient-live": {"live": listen_port(self.config_of("ambient-live"), "live"),
                                 "metrics": listen_port(self.config_of("ambient-live"), "api")}}
        self.assertEqual(want, {"ambient-controller": {"metrics": 9090},
                                "ambient-api": {"http": 8080},
                                "ambient-live": {"live": 8081, "metrics": 8080}})
        for name, ports in want.items():
            c = self.container(name)
            self.assertEqual({p["name"]: p["containerPort"] for p in c["ports"]}, ports, name)
            for probe in ("livenessProbe", "readinessProbe"):
                action = c[probe].get("httpGet") or c[probe].get("tcpSocket")
                self.assertIn(action["port"], ports.values(), f"{name} {probe}")
            # Scraped where it serves /metrics.
            ann = self.deployments[name]["spec"]["template"]["metadata"]["annotations"]
            self.assertEqual(ann["prometheus.io/scrape"], "true", name)
            self.assertIn(int(ann["prometheus.io/port"]), (ports.get("metrics"), ports.get("http")))
        for name, svc in self.services.items():
            target = [d for d in self.deployments.values()
                      if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]
                      ["labels"].items()]
            self.assertEqual(len(target), 1, f"Service {name} selects one Deployment")
            names = {p["name"] for p in target[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
            for p in svc["spec"]["ports"]:
                self.assertIn(p["targetPort"], names, f"Service {name}")
        # The live store has one owner.
        self.assertEqual(self.deployments["ambient-live"]["spec"]["replicas"], 1)
        self.assertEqual(self.deployments["ambient-live"]["spec"]["strategy"]["type"], "Recreate")

    def test_the_ingress_sends_live_paths_to_the_live_service(self):
        for name in ("base", "overlays/production"):
            ingress_routes_live_paths(self, rendered(name))

    def test_pods_are_hardened_and_have_known_identities(self):
        accounts = set(by_kind(self.docs, "ServiceAccount"))
        for name, d in self.deployments.items():
            pod = d["spec"]["template"]["spec"]
            self.assertIn(pod["serviceAccountName"], accounts, name)
            for c in pod["containers"]:
                self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"], name)
                self.assertIn("memory", c["resources"]["limits"], name)

    @unittest.skipUnless(KUBECTL, "kubectl is not installed")
    def test_kubectl_apply_k_base(self):
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
            kubectl("apply", "-k", os.path.join(DEPLOY, "base"))
            out = kubectl("get", "deployments", "-n", "ambient", "-o", "name")
            self.assertEqual(sorted(out.split()), ["deployment.apps/ambient-api",
                                                   "deployment.apps/ambient-controller",
                                                   "deployment.apps/ambient-live"])
            roles = kubectl("get", "clusterroles", "-o", "name").split()
            for r in ("ambient-api", "ambient-controller", "ambient-project-admin",
                      "ambient-project-edit", "ambient-project-view"):
                self.assertIn("clusterrole.rbac.authorization.k8s.io/" + r, roles)
            ns = yaml.safe_load(kubectl("get", "namespace", "ambient", "-o", "yaml"))
            self.assertEqual(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
                             "restricted")
            cm = yaml.safe_load(kubectl("get", "configmap", "-n", "ambient", "ambient-images",
                                        "-o", "yaml"))
            self.assertIn("runner-image.conf", cm["data"])
        finally:
            ks.stop()


def ingress_routes_live_paths(test, docs):
    """ingress-nginx matches regex paths as ~* ^path, longest first."""
    ing = by_kind(docs, "Ingress")["ambient"]
    services = by_kind(docs, "Service")
    for rule in ing["spec"]["rules"]:
        paths = rule["http"]["paths"]
        rules = sorted(((re.compile("^" + p["path"], re.I), p["backend"]["service"]) for p in paths),
                       key=lambda r: -len(r[0].pattern))

        def backend(url):
            for rx, svc in rules:
                if rx.match(url):
                    return svc["name"], svc["port"]["name"]
            return None
        live, api = ("ambient-live", "live"), ("ambient-api", "http")
        base = "/api/projects/p1/agentic-sessions/s-1"
        for tail in ("ws", "events", "messages"):
            test.assertEqual(backend(f"{base}/{tail}"), live, tail)
        for url in (base, f"{base}/stop", f"{base}/clone", "/api/projects/p1/agentic-sessions",
                    "/api/projects", "/api/projects/p1/permissions", f"{base}/ws/x",
                    "/api/projects/p1/projectsettings/events"):
            test.assertEqual(backend(url), api, url)
        for _, svc in rules:
            names = {p["name"] for p in services[svc["name"]]["spec"]["ports"]}
            test.assertIn(svc["port"]["name"], names)


class Overlays(unittest.TestCase):
    def deployment(self, docs, name):
        return by_kind(docs, "Deployment")[name]

    def test_dev_is_one_of_each_on_node_ports(self):
        docs = rendered("overlays/dev")
        for name in ("ambient-controller", "ambient-api", "ambient-live"):
            self.assertEqual(self.deployment(docs, name)["spec"]["replicas"], 1, name)
        services = by_kind(docs, "Service")
        for name, port in (("ambient-api", 30080), ("ambient-live", 30081)):
            self.assertEqual(services[name]["spec"]["type"], "NodePort")
            self.assertIn(port, [p.get("nodePort") for p in services[name]["spec"]["ports"]])
        self.assertNotIn("tls", by_kind(docs, "Ingress")["ambient"]["spec"])

    def test_production_is_replicated_budgeted_spread_and_bounded(self):
        docs = rendered("overlays/production")
        ctl = self.deployment(docs, "ambient-controller")
        self.assertEqual(ctl["spec"]["replicas"], 2)
        conf = by_kind(docs, "ConfigMap")["ambient-controller-config"]["data"]["ambient.conf"]
        self.assertRegex(conf, r"leader_election\s*=\s*true")
        api = self.deployment(docs, "ambient-api")
        self.assertEqual(api["spec"]["replicas"], 3)
        hpa = by_kind(docs, "HorizontalPodAutoscaler")["ambient-api"]["spec"]
        self.assertEqual(hpa["scaleTargetRef"]["name"], "ambient-api")
        self.assertEqual(hpa["minReplicas"], 3)
        self.assertGreater(hpa["maxReplicas"], 3)
        self.assertEqual([m["resource"]["name"] for m in hpa["metrics"]], ["cpu"])
        budgets = by_kind(docs, "PodDisruptionBudget")
        for name in ("ambient-api", "ambient-controller"):
            labels = self.deployment(docs, name)["spec"]["template"]["metadata"]["labels"]
            self.assertLessEqual(budgets[name]["spec"]["selector"]["matchLabels"].items(),
                                 labels.items(), name)
        # Fewer than the replicas must stay up, or no node could drain.
        self.assertLess(budgets["ambient-api"]["spec"]["minAvailable"], 3)
        self.assertLess(budgets["ambient-controller"]["spec"]["minAvailable"], 2)
        for name in ("ambient-controller", "ambient-api"):
            spread = self.deployment(docs, name)["spec"]["template"]["spec"]
            keys = {t["topologyKey"] for t in spread["topologySpreadConstraints"]}
            self.assertEqual(keys, {"topology.kubernetes.io/zone", "kubernetes.io/hostname"})
        for what, spec in pods(docs):
            for c in spec["containers"]:
                for bound in ("requests", "limits"):
                    self.assertLessEqual({"cpu", "memory"}, set(c["resources"][bound]),
                                         f"{what} {c['name']} {bound}")
        self.assertTrue(by_kind(docs, "Ingress")["ambient"]["spec"]["tls"])
        self.assertIn("ambient", by_kind(docs, "ServiceMonitor"))
        self.assertIn("ambient", by_kind(docs, "PrometheusRule"))

    def test_openshift_logs_in_through_the_oauth_proxy(self):
        docs = rendered("overlays/openshift")
        self.assertNotIn("Ingress", {d["kind"] for d in docs})
        routes = by_kind(docs, "Route")
        self.assertEqual(routes["ambient"]["spec"]["to"]["name"], "ambient-api")
        self.assertEqual(routes["ambient-live"]["spec"]["tls"]["termination"], "passthrough")
        pod = self.deployment(docs, "ambient-api")["spec"]["template"]["spec"]
        proxy = [c for c in pod["containers"] if c["name"] == "oauth-proxy"][0]
        self.assertIn("--pass-access-token", proxy["args"])
        self.assertIn("--upstream=http://localhost:8080", proxy["args"])
        svc = by_kind(docs, "Service")["ambient-api"]
        self.assertIn(routes["ambient"]["spec"]["port"]["targetPort"],
                      [p["name"] for p in svc["spec"]["ports"]])
        # restricted-v2 assigns UIDs and fsGroups: none is asked for.
        for what, spec in pods(docs):
            contexts = [spec.get("securityContext", {})] + [c.get("securityContext", {})
                                                            for c in spec["containers"]]
            for sc in contexts:
                for field in ("runAsUser", "runAsGroup", "fsGroup"):
                    self.assertNotIn(field, sc, what)


if __name__ == "__main__":
    unittest.main(verbosity=2)
