#!/usr/bin/env bash
# check_abi_selftest.sh CC ABI_DIR HEADERS_DIR — proves check_abi.sh catches
# what ABI.md forbids, on edited copies of the public header:
#   1. a member appended to struct amb_host without a minor bump  -> refused
#   2. the same with AMB_ABI_MINOR bumped and a baseline recorded -> accepted
#   3. a member inserted mid-table, minor bumped, baseline recorded -> refused
#      (it breaks plugins built against 1.0)
set -euo pipefail
cc=$1 abi_dir=$2 headers=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
minor=$(sed -n 's/^#define AMB_ABI_MINOR \([0-9]\+\)$/\1/p' "$headers/plugin.h")
next=$((minor + 1))

# variant NAME SED_SCRIPT: header copy + probe library + a private copy of
# the baselines, so --record never touches the real ones.
variant() {
    local name=$1 script=$2
    mkdir -p "$work/$name/include/ambient" "$work/$name/abi"
    sed -e "$script" "$headers/plugin.h" > "$work/$name/include/ambient/plugin.h"
    cmp -s "$headers/plugin.h" "$work/$name/include/ambient/plugin.h" && { echo "selftest: edit '$script' changed nothing"; exit 1; }
    cp -r "$abi_dir/baseline" "$abi_dir/append_only.suppr" "$work/$name/abi/"
    "$cc" -g -fno-eliminate-unused-debug-types -shared -fPIC -I"$work/$name/include" \
          -Wl,-soname,libambient_abi_probe.so "$abi_dir/probe.c" -o "$work/$name/probe.so"
}
check() { "$abi_dir/check_abi.sh" "$work/$1/probe.so" "$work/$1/abi" "$work/$1/include/ambient" "${@:2}"; }

# The last line of struct amb_host, whatever its last member is.
append='/^struct amb_host {/,/^};/ s|^};$|    int (*added_later)(int);\n};|'
insert='s|^    void \*(\*alloc)(size_t n);$|    int (*inserted)(int);\n&|'
bump="s|^#define AMB_ABI_MINOR $minor\$|#define AMB_ABI_MINOR $next|"

variant appended "$append"
if check appended > "$work/out1"; then echo "selftest: FAIL: appended member without a minor bump was accepted"; exit 1; fi
grep -q "differs from the recorded ABI" "$work/out1"
echo "ok: appending without a minor bump is refused"

variant bumped "$append;$bump"
check bumped --record > /dev/null
check bumped > "$work/out2" || { cat "$work/out2"; echo "selftest: FAIL: append-only change with a minor bump was refused"; exit 1; }
echo "ok: appending with a minor bump and a recorded baseline is accepted"

variant inserted "$insert;$bump"
check inserted --record > /dev/null
if check inserted > "$work/out3"; then echo "selftest: FAIL: a member inserted mid-table was accepted"; exit 1; fi
grep -q "incompatible with the older abi-1.$minor.xml" "$work/out3"
echo "ok: inserting mid-table is refused even with a minor bump"
