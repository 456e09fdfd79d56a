#!/usr/bin/env bash
# up.sh — the quick start's main command: installs what is missing, builds
# Ambient, starts the test Kubernetes API server (tests/kubesim) and runs
# ambientd with the sample config (deploy/ambient.conf), the controller and
# the api role pointed at kubesim, until Ctrl-C.
#
# Environment:
#   AMBIENT_BUILD_DIR    build directory (default: build/release)
#   AMBIENT_UP_SECONDS   stop by itself after this many seconds (smoke tests)
#   AMBIENT_CONTROLLER_PORT  port of /metrics, /healthz, /readyz (default 9090)
#   AMBIENT_API_PORT     port of the REST API (default 8080)
#   AMBIENT_LIVE_PORT    port of the live service: WebSocket, SSE, events (default 8081)
#   AMBIENT_SKIP_DEPS=1  do not check/install packages
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AMBIENT_BUILD_DIR:-$root/build/release}
conf=$root/deploy/ambient.conf

[[ ${AMBIENT_SKIP_DEPS:-0} == 1 ]] || "$root/deploy/dev/install-deps.sh"

if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAMBIENT_TESTS=OFF > /dev/null
fi
cmake --build "$build" -j"$(nproc)" > /dev/null
echo "up: built $("$build/bin/ambientd" --version)"

run_dir=$(mktemp -d)
kubesim_pid=
ambientd_pid=
cleanup() {
    [[ -n $ambientd_pid ]] && kill -TERM "$ambientd_pid" 2> /dev/null && wait "$ambientd_pid" || true
    [[ -n $kubesim_pid ]] && kill -TERM "$kubesim_pid" 2> /dev/null && wait "$kubesim_pid" || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

crd_args=()
[[ -d $root/deploy/crds ]] && crd_args=(--crd-dir "$root/deploy/crds")
mkdir -p "$run_dir/certs"
"$root/tests/kubesim/kubesim" --port 0 --tls-port 0 --cert-dir "$run_dir/certs" "${crd_args[@]}" \
    > "$run_dir/kubesim.out" 2> "$run_dir/kubesim.err" &
kubesim_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on https://' "$run_dir/kubesim.out" && break
    kill -0 "$kubesim_pid" 2> /dev/null || { cat "$run_dir/kubesim.err"; echo "up: kubesim failed to start"; exit 1; }
    sleep 0.1
done
https_url=$(sed -n 's/^listening on \(https:.*\)$/\1/p' "$run_dir/kubesim.out")
[[ -n $https_url ]] || { echo "up: kubesim did not report its address"; exit 1; }
echo "up: kubesim (test Kubernetes API) at $https_url — try:"
echo "    kubectl --server=$https_url --insecure-skip-tls-verify --token=kubesim-admin get agenticsessions -A"

# The sample config, pointed at kubesim with the controller role on.
echo kubesim-admin > "$run_dir/token"
# (libconfig resolves @include relative to the including file's directory.)
cp "$conf" "$run_dir/sample.conf"
cat > "$run_dir/ambient.conf" <<CONF
@include "sample.conf"
kube = { server = "$https_url"; token_file = "$run_dir/token"; ca_file = "$run_dir/certs/cert.pem"; };
controller = { listen = "127.0.0.1:${AMBIENT_CONTROLLER_PORT:-9090}"; lease = { namespace = "default"; }; };
api = { listen = "127.0.0.1:${AMBIENT_API_PORT:-8080}";
        live = { listen = "127.0.0.1:${AMBIENT_LIVE_PORT:-8081}"; dir = "$run_dir/events"; }; };
CONF
"$build/bin/ambientd" --check-config "$run_dir/ambient.conf"
echo "up: starting ambientd with $conf against kubesim (Ctrl-C to stop)"
echo "up: metrics and probes on http://127.0.0.1:${AMBIENT_CONTROLLER_PORT:-9090}/metrics"
echo "up: REST API on http://127.0.0.1:${AMBIENT_API_PORT:-8080} — try:"
echo "    curl -H 'Authorization: Bearer kubesim-admin' http://127.0.0.1:${AMBIENT_API_PORT:-8080}/api/projects"
echo "up: live updates (WebSocket, SSE) on http://127.0.0.1:${AMBIENT_LIVE_PORT:-8081}"
echo "up: nothing runs Jobs here: a session stays Pending until you move its Job on, e.g."
echo "    KUBESIM_SERVER=$https_url $root/tests/kubesim/kubesimctl job start PROJECT SESSION-runner"
echo "    KUBESIM_SERVER=$https_url $root/tests/kubesim/kubesimctl job succeed PROJECT SESSION-runner"
"$build/bin/ambientd" --config "$run_dir/ambient.conf" &
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
