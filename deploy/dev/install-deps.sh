#!/usr/bin/env bash
# install-deps.sh — installs what building, running and testing Ambient needs
# on a Debian/Ubuntu machine, and nothing when it is all there already.
# Used by both quick-start commands (deploy/dev/up.sh and tests/run.sh).
set -euo pipefail

packages=(
    build-essential cmake pkg-config git openssl curl
    libcurl4-openssl-dev libjansson-dev libconfig-dev libevent-dev libssl-dev libzstd-dev
    libcmocka-dev abigail-tools libsqlite3-dev libyaml-dev
    python3 python3-kubernetes python3-websockets python3-prometheus-client python3-yaml
    wrk nginx
    clang libclang-rt-14-dev
    chromium
)
# Node.js and npm to build the web UI (api/web) and to install the Claude
# Code CLI below. Checked by
# command, not by package: NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package.
command -v node > /dev/null || packages+=(nodejs)
command -v npm > /dev/null || packages+=(npm)

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

# The Claude Code CLI that ambient-runner drives; its tests run it against
# tests/mock-anthropic. Pinned; installed with npm as a global package under
# /usr/local (/usr/local/bin/claude -> lib/node_modules/@anthropic-ai/
# claude-code/bin/claude.exe) unless the claude on PATH already is this
# version. CMake finds it with find_program(CLAUDE_CLI claude).
claude_version=2.1.197
claude_prefix=/usr/local
if [[ "$(claude --version 2>/dev/null)" != "$claude_version "* ]]; then
    echo "install-deps: installing @anthropic-ai/claude-code@$claude_version under $claude_prefix"
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    pkg=$claude_prefix/lib/node_modules/@anthropic-ai/claude-code
    if "${sudo[@]}" npm install --global --prefix "$claude_prefix" --no-audit --no-fund \
            --loglevel=error "@anthropic-ai/claude-code@$claude_version" > /dev/null; then
        # Its postinstall script puts the native binary over the bin/claude.exe
        # stub; where install scripts may not run, copy the binary of the
        # platform's optional dependency (self-contained, needs only glibc).
        if ! "$pkg/bin/claude.exe" --version > /dev/null 2>&1; then
            case $(uname -m) in aarch64) arch=arm64 ;; *) arch=x64 ;; esac
            for native in "$pkg/node_modules/@anthropic-ai/claude-code-linux-$arch/claude" \
                          "$claude_prefix/lib/node_modules/@anthropic-ai/claude-code-linux-$arch/claude"; do
                [[ -x $native ]] && { "${sudo[@]}" cp "$native" "$pkg/bin/claude.exe"; break; }
            done
        fi
    fi
    if [[ "$("$claude_prefix/bin/claude" --version 2>/dev/null)" != "$claude_version "* ]]; then
        echo "install-deps: warning: could not install the Claude Code CLI $claude_version; the runner tests will fail"
    elif [[ "$(command -v claude)" != "$claude_prefix/bin/claude" ]]; then
        echo "install-deps: warning: $(command -v claude || echo nothing) comes first on PATH, not $claude_prefix/bin/claude"
    fi
fi

# The web UI's packages (api/web/package-lock.json): npm ci when
# node_modules is missing or was installed from another lockfile.
"$(dirname "$0")/../../api/web/scripts/npm-deps.sh"

# kubectl is not in Debian's archive; the tests use one found on PATH, and
# without it skip their kubectl checks (ctest reports kubesim.kubectl and
# crds.kubectl as skipped).
command -v kubectl > /dev/null || echo "install-deps: note: kubectl not found; the kubectl checks will be skipped"
echo "install-deps: all build and test dependencies are present"
