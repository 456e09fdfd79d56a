#!/usr/bin/env bash
# run.sh — the quick start's test command (and what CI runs): installs what
# is missing, builds with AddressSanitizer and UndefinedBehaviorSanitizer, and
# runs every test with ctest. kubectl is not in Debian's archive: without it
# on PATH the kubectl checks are skipped, and why is printed at the end.
#
# Environment:
#   AMBIENT_BUILD_DIR  build directory (default: build/sanitize)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AMBIENT_BUILD_DIR:-$root/build/sanitize}

"$root/deploy/dev/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DAMBIENT_SANITIZE=ON > /dev/null
cmake --build "$build" -j"$(nproc)"
# Sanitizer reports fail the test that triggered them; leaks included.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600 || status=$?
# ctest shows no output of a skipped test (or of a passing one that skipped a
# part): print the reasons the tests gave.
grep -h " skipped: " "$build/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u || true
exit "$status"
