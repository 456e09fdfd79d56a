#!/usr/bin/env bash
# run.sh [BUILD_DIR] — builds the libFuzzer targets of the api plugin's
# parsers with clang (ASan + UBSan + libFuzzer) into BUILD_DIR (default: a
# temporary directory, removed afterwards unless something was found), runs
# each for FUZZ_SECONDS (default 20) on a copy of its seed corpus, prints
# executions and coverage, and exits 1 when a target found a crash, a leak,
# undefined behaviour or a hang (reproducer path and hexdump printed).
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   space-separated subset of: http1 ws rest_path live_events local_bodies
#   FUZZ_PARALLEL  1 (default): run the targets at the same time; 0: one by one
#   CC             the compiler (default clang)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-20}
parallel=${FUZZ_PARALLEL:-1}
targets=${FUZZ_TARGETS:-"http1 ws rest_path live_events local_bodies json_parse"}
cc=${CC:-clang}
case $seconds in '' | *[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a number" >&2; exit 2 ;; esac

if [ $# -ge 1 ] && [ -n "$1" ]; then
    build=$1
    own_build=0
    mkdir -p "$build"
else
    build=$(mktemp -d "${TMPDIR:-/tmp}/ambient-fuzz.XXXXXX")
    own_build=1
fi
build=$(cd "$build" && pwd)

pids=()
keep=0
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    rm -rf "$build/corpus"
    if [ "$own_build" = 1 ] && [ "$keep" = 0 ]; then
        rm -rf "$build"
    fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM HUP

# A missing toolchain fails the run: deploy/dev/install-deps.sh installs it.
missing() {
    echo "run.sh: $* (deploy/dev/install-deps.sh installs what the fuzz run needs)" >&2
    exit 1
}

command -v "$cc" >/dev/null 2>&1 || missing "$cc not found (apt-get install clang libclang-rt-14-dev)"
command -v pkg-config >/dev/null 2>&1 || missing "pkg-config not found"
pkgs=(jansson libevent_core libevent_extra libevent_openssl libevent_pthreads openssl yaml-0.1)
pkg-config --exists "${pkgs[@]}" || missing "missing development packages: ${pkgs[*]}"
probe=$build/probe
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$probe.c"
"$cc" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" >"$probe.log" 2>&1 ||
    missing "$cc cannot build a libFuzzer binary (libclang-rt-dev missing?): $(head -c 300 "$probe.log")"
rm -f "$probe" "$probe.c" "$probe.log"

# ---- build ----
# shellcheck disable=SC2054 # the commas belong to the flag
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
read -ra pkg_cflags <<<"$(pkg-config --cflags "${pkgs[@]}")"
read -ra pkg_libs <<<"$(pkg-config --libs "${pkgs[@]}")"
common=(-std=c11 -D_GNU_SOURCE -g -O1 "${san[@]}" -I"$root/core/include" -I"$root/api"
        -I"$root/local" -I"$root/core/src"
        "${pkg_cflags[@]}")
# ours: the project's warnings, as errors; api's own sources: warnings shown
# (the project's gcc build owns -Werror for them)
ours=(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
      -Wno-format-nonliteral -fno-common)
theirs=(-Wall -Wextra -Wno-unused-parameter)
libs=("${pkg_libs[@]}" -lpthread)

sources_of() {
    case $1 in
    http1) echo "tests/fuzz/fuzz_http1.c api/live/http1.c" ;;
    ws) echo "tests/fuzz/fuzz_ws.c api/live/ws.c api/live/http1.c" ;;
    rest_path) echo "tests/fuzz/fuzz_rest_path.c tests/fuzz/stub_host.c tests/fuzz/stub_api.c
                      api/server.c api/path.c api/listen.c api/router.c api/config.c
                      api/live/langfuse_config.c
                      api/rest_conn.c api/conn_guard.c api/live/http1.c" ;;
    live_events) echo "tests/fuzz/fuzz_live_events.c tests/fuzz/stub_host.c tests/fuzz/stub_api.c
                        api/live/jobs.c api/live/messages.c api/live/store.c api/live/sse.c api/live/ws.c
                        api/live/http1.c api/names.c api/wording.c" ;;
    local_bodies) echo "tests/fuzz/fuzz_local_bodies.c local/protobuf.c local/yaml_json.c
                         local/kubeapi_select.c local/merge_patch.c" ;;
    json_parse) echo "tests/fuzz/fuzz_json_parse.c core/src/json_parse.c core/src/object_skim.c" ;;
    *) echo "run.sh: unknown target $1" >&2; return 1 ;;
    esac
}

mkdir -p "$build/obj" "$build/bin" "$build/logs"
echo "== building into $build"
for t in $targets; do
    objs=()
    for src in $(sources_of "$t"); do
        obj=$build/obj/$t/${src//\//_}.o
        mkdir -p "$(dirname "$obj")"
        case $src in
        tests/fuzz/*) flags=("${ours[@]}") ;;
        *) flags=("${theirs[@]}") ;;
        esac
        "$cc" "${common[@]}" "${flags[@]}" -c "$root/$src" -o "$obj"
        objs+=("$obj")
    done
    "$cc" "${san[@]}" "${objs[@]}" "${libs[@]}" -o "$build/bin/fuzz_$t"
    echo "   fuzz_$t"
done

# ---- run ----
run_one() {
    local t=$1
    local work=$build/corpus/$t art=$build/artifacts/$t/
    rm -rf "$work" "$art"
    mkdir -p "$work" "$art"
    cp "$here/corpus/$t/"* "$work/" 2>/dev/null || true
    local dict=()
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    # the outer timeout only guards against libFuzzer itself not stopping
    exec timeout -k 10 $((seconds + 60)) "$build/bin/fuzz_$t" \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$art" "${dict[@]}" "$work" \
        >"$build/logs/$t.log" 2>&1
}

echo "== fuzzing ${seconds}s per target: $targets"
# each run is a background job (its pid is timeout's, which passes a
# TERM on to the fuzzer), so the trap above can stop it at once
declare -A rc pid_of
for t in $targets; do
    run_one "$t" &
    pid_of[$t]=$!
    pids+=("$!")
    if [ "$parallel" != 1 ]; then
        if wait "${pid_of[$t]}"; then rc[$t]=0; else rc[$t]=$?; fi
    fi
done
if [ "$parallel" = 1 ]; then
    for t in $targets; do
        if wait "${pid_of[$t]}"; then rc[$t]=0; else rc[$t]=$?; fi
    done
fi
pids=()

# ---- report ----
failed=0
printf '%-12s %12s %9s %8s %8s %8s %7s  %s\n' target executions exec/s cov features corpus rss_mb result
for t in $targets; do
    log=$build/logs/$t.log
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    arts=$(find "$build/artifacts/$t" -type f 2>/dev/null | sort)
    result=ok
    if [ "${rc[$t]}" != 0 ] || [ -n "$arts" ]; then
        result="FAILED (exit ${rc[$t]})"
        failed=1
    fi
    printf '%-12s %12s %9s %8s %8s %8s %7s  %s\n' "$t" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
        "$(stat peak_rss_mb)" "$result"
done
for t in $targets; do
    arts=$(find "$build/artifacts/$t" -type f 2>/dev/null | sort)
    if [ "${rc[$t]}" = 0 ] && [ -z "$arts" ]; then
        continue
    fi
    keep=1
    echo
    echo "== $t failed; its log: $build/logs/$t.log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|ALARM|    #[0-9]+ )' "$build/logs/$t.log" |
        head -n 30 || tail -n 30 "$build/logs/$t.log"
    for a in $arts; do
        echo "-- reproducer: $a ($(wc -c <"$a") bytes); rerun: $build/bin/fuzz_$t $a"
        od -A x -t x1z -v "$a" | head -n 16
    done
done
if [ "$failed" = 1 ]; then
    echo "run.sh: the fuzzers found something (build dir kept: $build)" >&2
    exit 1
fi
echo "run.sh: no crash, leak, UB or timeout"
