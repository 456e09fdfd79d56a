"""The Pod Security Standards' `restricted` profile (with `baseline`, which
it includes), checked by rule on a pod spec as the admission controller
checks it: what tests/deploy/test_manifests.py holds every pod of every
overlay to, since the platform's namespace enforces it.

    violations(pod_spec) -> ["container ambientd: allowPrivilegeEscalation is not false", ...]

Rules: https://kubernetes.io/docs/concepts/security/pod-security-standards/
(v1.30). Debian's /usr/bin/python3."""

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t",
                 "container_engine_t"}


def containers(pod):
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod.get(field) or []:
            yield c


def violations(pod):
    out = []
    psc = pod.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            out.append(f"{field} is set")
    for v in pod.get("volumes") or []:
        kinds = set(v) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            out.append(f"volume {v['name']}: {sorted(kinds)} is not allowed")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(f"sysctl {s.get('name')} is not safe")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        out.append("pod: hostProcess")
    out += context_violations("pod", psc, pod_level=True)
    for c in containers(pod):
        where = f"container {c.get('name')}"
        sc = c.get("securityContext") or {}
        out += context_violations(where, sc, pod_level=False)
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{where}: adds capabilities {caps['add']}")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{where}: procMount {sc['procMount']}")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(f"{where}: hostPort {p['hostPort']}")
        # runAsNonRoot and the seccomp profile: the container's, else the pod's.
        if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            out.append(f"{where}: runAsNonRoot is not true (pod or container)")
        profile = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if profile not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile is {profile}, not RuntimeDefault or Localhost")
    return out


def context_violations(where, sc, pod_level):
    out = []
    if sc.get("runAsUser") == 0:
        out.append(f"{where}: runAsUser 0")
    if sc.get("runAsNonRoot") is False:
        out.append(f"{where}: runAsNonRoot false")
    se = sc.get("seLinuxOptions") or {}
    if se.get("type") not in SELINUX_TYPES or se.get("user") or se.get("role"):
        out.append(f"{where}: seLinuxOptions {se}")
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append(f"{where}: seccompProfile Unconfined")
    if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append(f"{where}: appArmorProfile Unconfined")
    if not pod_level and (sc.get("windowsOptions") or {}).get("hostProcess"):
        out.append(f"{where}: hostProcess")
    return out
