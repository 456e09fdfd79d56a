#!/usr/bin/env bash
# install-deps.sh — installs what building, running and testing Ambient needs
# on a Debian/Ubuntu machine, and nothing when it is all there already.
# Used by both quick-start commands (deploy/dev/up.sh and tests/run.sh).
set -euo pipefail

packages=(
    build-essential cmake pkg-config git openssl curl
    libcurl4-openssl-dev libjansson-dev libconfig-dev libevent-dev libssl-dev
    libcmocka-dev abigail-tools
    python3 python3-kubernetes python3-websockets python3-prometheus-client python3-yaml
    wrk nginx
    clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null
fi

# kubectl is not in Debian's archive; the tests use one found on PATH, and
# without it skip their kubectl checks (ctest reports kubesim.kubectl and
# crds.kubectl as skipped).
command -v kubectl > /dev/null || echo "install-deps: note: kubectl not found; the kubectl checks will be skipped"
echo "install-deps: all build and test dependencies are present"
