#!/usr/bin/env bash
# test_install.sh BUILD_DIR EXAMPLE_DIR CC
# Installs the build into a fresh prefix, checks the installed layout, builds
# docs/examples/hello against the *installed* headers via pkg-config (its
# Makefile, as a plugin author would), and has the installed ambientd find it
# in PREFIX/lib/ambient/plugins without any plugin_dir setting.
set -euo pipefail
build=$1 example=$2 cc=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/ambientd lib/ambient/plugins include/ambient/plugin.h include/ambient/ABI.md \
         lib/pkgconfig/ambient-plugin.pc share/ambient/ambient.conf; do
    [[ -e $prefix/$f ]] || { echo "FAIL: $prefix/$f was not installed"; exit 1; }
done
echo "ok: installed layout"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --variable=plugindir ambient-plugin) -ef $prefix/lib/ambient/plugins ]] \
    || { echo "FAIL: pkg-config plugindir is not under the prefix"; exit 1; }
cp "$example/hello.c" "$example/Makefile" "$work/"
make -s -C "$work" CC="$cc" hello.so
nm -D --defined-only "$work/hello.so" | awk '$2 ~ /^[TW]$/ {print $3}' | grep -qx amb_plugin_entry
echo "ok: built the example against the installed headers"

mkdir -p "$prefix/lib/ambient/plugins"
cp "$work/hello.so" "$prefix/lib/ambient/plugins/"
cat > "$work/ambient.conf" <<CONF
plugins = ("hello");
hello = { greeting = "hi from out of tree"; };
CONF
out=$("$prefix/bin/ambientd" --check-config "$work/ambient.conf")
echo "$out"
[[ $out =~ ^hello\ 0\.1\.0\ \(ABI\ [0-9]+\.[0-9]+\)\ .*/lib/ambient/plugins/hello\.so:\ kinds:\ none\;\ forges:\ none\;\ routes:\ GET\ /api/hello$ ]] \
    || { echo "FAIL: unexpected --check-config output"; exit 1; }
echo "ok: installed ambientd found and loaded the plugin"

"$prefix/bin/ambientd" --config "$work/ambient.conf" 2> "$work/run.log" &
pid=$!
for _ in $(seq 100); do
    grep -q '"msg":"ambientd running"' "$work/run.log" && break
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || { cat "$work/run.log"; echo "FAIL: ambientd exited non-zero"; exit 1; }
grep -q '"component":"hello","msg":"started","greeting":"hi from out of tree"' "$work/run.log" \
    || { cat "$work/run.log"; echo "FAIL: the plugin did not start with its config"; exit 1; }
echo "ok: the plugin ran in the installed ambientd and stopped cleanly"
