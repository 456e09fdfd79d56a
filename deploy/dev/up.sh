#!/usr/bin/env bash
# up.sh — the quick start's main command: installs what is missing, builds
# Ambient and runs it in laptop mode (`ambientd --local`: the whole platform
# on this machine, no Kubernetes; docs/local.md) until Ctrl-C. It prints
# where REST, the live service and the local Kubernetes API listen, and the
# admin token's file.
#
# Environment:
#   AMBIENT_BUILD_DIR    build directory (default: build/release)
#   AMBIENT_DATA_DIR     data directory (default: $XDG_DATA_HOME/ambient, else
#                        ~/.local/share/ambient)
#   AMBIENT_LISTEN       REST address (default 127.0.0.1:8080; the live
#                        service and the Kubernetes API on the next two ports;
#                        port 0: any free ports)
#   AMBIENT_CONFIG       a config that sets or overrides groups (sample:
#                        deploy/local.conf)
#   AMBIENT_UP_SECONDS   stop by itself after this many seconds (smoke tests)
#   AMBIENT_SKIP_DEPS=1  do not check/install packages
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AMBIENT_BUILD_DIR:-$root/build/release}

[[ ${AMBIENT_SKIP_DEPS:-0} == 1 ]] || "$root/deploy/dev/install-deps.sh"

if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAMBIENT_TESTS=OFF > /dev/null
fi
cmake --build "$build" -j"$(nproc)" > /dev/null
echo "up: built $("$build/bin/ambientd" --version)"

args=(--local)
[[ -n ${AMBIENT_DATA_DIR:-} ]] && args+=(--data-dir "$AMBIENT_DATA_DIR")
[[ -n ${AMBIENT_LISTEN:-} ]] && args+=(--listen "$AMBIENT_LISTEN")
[[ -n ${AMBIENT_CONFIG:-} ]] && args+=(--config "$AMBIENT_CONFIG")
echo "up: starting ambientd ${args[*]} (Ctrl-C to stop)"

ambientd_pid=
stop() {
    [[ -n $ambientd_pid ]] && kill -TERM "$ambientd_pid" 2> /dev/null && wait "$ambientd_pid" || true
}
trap stop EXIT
trap 'exit 0' INT TERM
"$build/bin/ambientd" "${args[@]}" &
ambientd_pid=$!
if [[ -n ${AMBIENT_UP_SECONDS:-} ]]; then
    sleep "$AMBIENT_UP_SECONDS"
    kill -TERM "$ambientd_pid"
fi
status=0
wait "$ambientd_pid" || status=$?
ambientd_pid=
echo "up: ambientd exited with status $status"
exit "$status"
