#!/usr/bin/env bash
# check_abi.sh PROBE_SO ABI_DIR HEADERS_DIR [--record]
#
# Keeps the promise of ABI.md with a tool instead of care. The ABI of the
# public headers (recorded by abidw from the probe library) is compared with
# the baselines in ABI_DIR/baseline/abi-MAJOR.MINOR.xml:
#   - the baseline of the current MAJOR.MINOR: no change at all, harmless ones
#     included. Changing the ABI means bumping AMB_ABI_MINOR (append-only
#     change) or AMB_ABI_MAJOR, and recording a new baseline with --record;
#   - every older minor of the same major: only append-only changes (struct
#     growth at the end, new enumerators, new types) are allowed.
# --record writes the baseline of the current version (refusing to overwrite
# an existing one: released baselines never change).
set -euo pipefail
probe=$1 abi_dir=$2 headers=$3 mode=${4:-check}

major=$(sed -n 's/^#define AMB_ABI_MAJOR \([0-9]\+\)$/\1/p' "$headers/plugin.h")
minor=$(sed -n 's/^#define AMB_ABI_MINOR \([0-9]\+\)$/\1/p' "$headers/plugin.h")
[[ -n $major && -n $minor ]] || { echo "check_abi: cannot read AMB_ABI_MAJOR/MINOR from $headers/plugin.h"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
abidw --headers-dir "$headers" --drop-private-types --no-show-locs --no-corpus-path \
      --no-comp-dir-path --type-id-style hash --out-file "$work/current.xml" "$probe"

current_baseline="$abi_dir/baseline/abi-$major.$minor.xml"
if [[ $mode == --record ]]; then
    if [[ -e $current_baseline ]]; then
        echo "check_abi: $current_baseline exists; released baselines never change (bump the ABI version first)"
        exit 1
    fi
    mkdir -p "$abi_dir/baseline"
    cp "$work/current.xml" "$current_baseline"
    echo "check_abi: recorded $current_baseline"
    exit 0
fi

if [[ ! -e $current_baseline ]]; then
    echo "check_abi: FAIL: no baseline for ABI $major.$minor ($current_baseline)."
    echo "  After bumping the ABI version, record it: $0 $probe $abi_dir $headers --record"
    exit 1
fi

status=0
if ! abidiff --harmless "$current_baseline" "$work/current.xml" > "$work/same.txt"; then
    echo "check_abi: FAIL: the public headers' ABI differs from the recorded ABI $major.$minor:"
    sed 's/^/  /' "$work/same.txt"
    echo "  An append-only change needs AMB_ABI_MINOR bumped and a new baseline (--record);"
    echo "  anything else needs AMB_ABI_MAJOR bumped. See core/include/ambient/ABI.md."
    status=1
fi

checked=1
for old in "$abi_dir"/baseline/abi-"$major".*.xml; do
    [[ $old == "$current_baseline" ]] && continue
    checked=$((checked + 1))
    if ! abidiff --no-added-syms --suppressions "$abi_dir/append_only.suppr" \
            "$old" "$work/current.xml" > "$work/old.txt"; then
        echo "check_abi: FAIL: incompatible with the older $(basename "$old") (only append-only changes are allowed within a major):"
        sed 's/^/  /' "$work/old.txt"
        status=1
    fi
done
[[ $status == 0 ]] && echo "check_abi: ABI $major.$minor matches its baseline; compatible with $checked baseline(s) of major $major"
exit $status
