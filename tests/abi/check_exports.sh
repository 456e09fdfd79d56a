#!/usr/bin/env bash
# check_exports.sh PLUGIN.so... — each plugin must export exactly one defined
# function, the entry symbol amb_plugin_entry (hidden visibility for the rest).
set -euo pipefail
status=0
for so in "$@"; do
    # Defined dynamic symbols that are functions (T/W), minus the ELF init/fini
    # the toolchain may add.
    funcs=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWi]$/ && $3 !~ /^_(init|fini)$/ {print $3}')
    if [[ $funcs != amb_plugin_entry ]]; then
        echo "FAIL: $so exports: $(echo $funcs | tr '\n' ' ') (expected only amb_plugin_entry)"
        status=1
    else
        echo "ok: $so exports only amb_plugin_entry"
    fi
done
exit $status
