#!/usr/bin/env bash
# test_install.sh BUILD_DIR EXAMPLE_DIR CC
# Installs the build into a fresh prefix, checks the installed layout, builds
# docs/examples/hello against the *installed* headers via pkg-config (its
# Makefile, as a plugin author would), and has the installed ambientd find it
# in PREFIX/lib/ambient/plugins without any plugin_dir setting, and the
# installed api plugin serve the example's route.
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

cp "$example/hello.c" "$example/Makefile" "$work/"
# The example's Makefile takes PKG_CONFIG_PATH on make's command line...
env -u PKG_CONFIG_PATH make -s -C "$work" CC="$cc" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" hello.so
nm -D --defined-only "$work/hello.so" | awk '$2 ~ /^[TW]$/ {print $3}' | grep -qx amb_plugin_entry
make -s -C "$work" clean
# ...and from the environment.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --variable=plugindir ambient-plugin) -ef $prefix/lib/ambient/plugins ]] \
    || { echo "FAIL: pkg-config plugindir is not under the prefix"; exit 1; }
make -s -C "$work" CC="$cc" hello.so
nm -D --defined-only "$work/hello.so" | awk '$2 ~ /^[TW]$/ {print $3}' | grep -qx amb_plugin_entry
echo "ok: built the example against the installed headers (PKG_CONFIG_PATH on make's command line, and in the environment)"

mkdir -p "$prefix/lib/ambient/plugins"
cp "$work/hello.so" "$prefix/lib/ambient/plugins/"
cat > "$work/ambient.conf" <<CONF
plugins = ("hello");
hello = { greeting = "hi from out of tree"; };
CONF
# The same plugin next to the installed api plugin, which serves its route.
cat > "$work/served.conf" <<CONF
plugins = ("hello", "api");
hello = { greeting = "hi from out of tree"; };
api = { listen = "127.0.0.1:0"; threads = 1; };
CONF
out=$("$prefix/bin/ambientd" --check-config "$work/ambient.conf")
echo "$out"
[[ $out =~ ^hello\ 0\.1\.0\ \(ABI\ [0-9]+\.[0-9]+\)\ .*/lib/ambient/plugins/hello\.so:\ kinds:\ none\;\ forges:\ none\;\ routes:\ GET\ /api/hello$ ]] \
    || { echo "FAIL: unexpected --check-config output"; exit 1; }
echo "ok: installed ambientd found and loaded the plugin"

"$prefix/bin/ambientd" --config "$work/ambient.conf" 2> "$work/run.log" &
pid=$!
for _ in $(seq 600); do  # up to 60 s: a loaded machine is slow
    grep -q '"msg":"ambientd running"' "$work/run.log" && break
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || { cat "$work/run.log"; echo "FAIL: ambientd exited non-zero"; exit 1; }
grep -q '"component":"hello","msg":"started","greeting":"hi from out of tree"' "$work/run.log" \
    || { cat "$work/run.log"; echo "FAIL: the plugin did not start with its config"; exit 1; }
echo "ok: the plugin ran in the installed ambientd and stopped cleanly"

"$prefix/bin/ambientd" --config "$work/served.conf" 2> "$work/served.log" &
pid=$!
address=
for _ in $(seq 600); do  # up to 60 s: a loaded machine is slow
    address=$(sed -n 's/.*"msg":"api listening","address":"\([^"]*\)".*/\1/p' "$work/served.log")
    [[ -n $address ]] && break
    sleep 0.1
done
[[ -n $address ]] || { kill -TERM "$pid"; cat "$work/served.log"; echo "FAIL: api did not listen"; exit 1; }
body=$(curl -sS "http://$address/api/hello?name=plugin-author")
kill -TERM "$pid"
wait "$pid" || { cat "$work/served.log"; echo "FAIL: ambientd exited non-zero"; exit 1; }
[[ $body == '{"greeting":"hi from out of tree","name":"plugin-author"}' ]] \
    || { echo "FAIL: GET /api/hello answered: $body"; exit 1; }
echo "ok: the installed api plugin served the out-of-tree plugin's route"
