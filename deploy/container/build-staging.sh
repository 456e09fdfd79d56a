#!/usr/bin/env bash
# build-staging.sh — the build stage of an Ambient image, run into a staging
# root: what the image copies to / from its build stage, then checked
# against what its runtime stage installs.
#
#   build-staging.sh [options] runner|ambientd STAGE
#
#   runner    STAGE/opt/ambient/bin/ambient-runner, STAGE/opt/ambient/lib/
#             ambient/plugins/ (forges are loaded from there) and the Claude
#             Code CLI's native binary as STAGE/usr/local/bin/claude
#             (deploy/container/Containerfile.runner)
#   ambientd  `cmake --install` of the whole project into STAGE/opt/ambient
#             (deploy/container/Containerfile)
#
# Options:
#   --build-dir DIR      the CMake build directory (default: a temporary one)
#   --cache DIR          keep the CLI's npm tarball here and reuse it
#   --claude-from DIR    copy the CLI from this npm-installed
#                        @anthropic-ai/claude-code package when it is the
#                        pinned version, instead of fetching it (tests)
#   --containerfile FILE read the package list and the pin from FILE
#   --check-only         build nothing: only check what STAGE holds
#
# One source of truth: the Containerfile declares the image (base, the
# runtime stage's packages, the pinned CLI version, user, entrypoint) and its
# build stage runs this script, so the steps exist once. This script reads
# the runtime package list and the pin (ARG CLAUDE_CODE_VERSION; the
# environment's CLAUDE_CODE_VERSION wins, as a --build-arg does in the image
# build) from that Containerfile, and the deploy.image_* tests run it on the
# build machine, so neither side can drift unnoticed.
#
# The check: every shared library a staged binary or plugin needs directly
# (its DT_NEEDED entries) is found on this machine, and the Debian package
# that provides it is one the runtime stage's `apt-get install` names (or
# libc6, which every Debian image has). A package missing from that list is
# named and the script fails: the image would start and die with "cannot
# open shared object file". Libraries those libraries need are their
# packages' dependencies, which apt resolves.
#
# Needs bash, cmake and a C toolchain, the -dev packages, binutils (readelf),
# dpkg, and npm when the CLI is fetched. CMAKE_BUILD_PARALLEL_LEVEL bounds
# the build's jobs (default: nproc).
set -euo pipefail
umask 022 # whatever the caller's umask, the image's files are readable by its user

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
prog=build-staging.sh

die() {
    echo "$prog: $*" >&2
    exit 1
}
usage() {
    sed -n '/^#   build-staging.sh/,/^#   --check-only/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

build_dir='' cache_dir='' claude_from='' containerfile='' check_only=0
while (($#)); do
    case $1 in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --cache) cache_dir=${2:?}; shift 2 ;;
    --claude-from) claude_from=${2:?}; shift 2 ;;
    --containerfile) containerfile=${2:?}; shift 2 ;;
    --check-only) check_only=1; shift ;;
    -h | --help) usage ;;
    -*) echo "$prog: unknown option $1" >&2; usage ;;
    *) break ;;
    esac
done
(($# == 2)) || usage
image=$1
stage=$2
case $image in
runner) containerfile=${containerfile:-$here/Containerfile.runner} ;;
ambientd) containerfile=${containerfile:-$here/Containerfile} ;;
*) echo "$prog: no image \"$image\" (runner or ambientd)" >&2; usage ;;
esac
[[ -f $containerfile ]] || die "no $containerfile"

# ---- what the Containerfile declares ----

# The packages of every `apt-get install` in the last stage (the runtime
# stage), continuation lines joined, options skipped.
runtime_packages() {
    sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba}' "$1" | awk '
        toupper($1) == "FROM" { n = 0 }
        toupper($1) == "RUN" {
            for (i = 2; i < NF; i++) {
                if ($i != "apt-get" || $(i + 1) != "install")
                    continue
                for (j = i + 2; j <= NF && $j !~ /^(&&|\|\||;|\|)$/; j++) {
                    w = $j
                    sub(/;$/, "", w)
                    if (w != "" && w !~ /^-/)
                        p[++n] = w
                }
            }
        }
        END { for (k = 1; k <= n; k++) print p[k] }'
}

# ARG CLAUDE_CODE_VERSION=X of the Containerfile, unless the environment
# sets it (a RUN step sees the build's ARGs as environment variables).
claude_version() {
    if [[ -n ${CLAUDE_CODE_VERSION:-} ]]; then
        echo "$CLAUDE_CODE_VERSION"
        return
    fi
    local v
    v=$(sed -n 's/^ARG[[:space:]]\{1,\}CLAUDE_CODE_VERSION=\([^[:space:]]\{1,\}\)[[:space:]]*$/\1/p' "$1")
    [[ $(wc -l <<< "$v") == 1 && -n $v ]] ||
        die "$1 has no single ARG CLAUDE_CODE_VERSION=VERSION line"
    echo "$v"
}

# ---- build ----

cmake_build() {
    local b=$1 root=$2
    echo "$prog: building $src in $b"
    cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAMBIENT_TESTS=OFF \
        -DAMBIENT_SANITIZE=OFF -DCMAKE_INSTALL_PREFIX=/opt/ambient > /dev/null
    cmake --build "$b" --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" > /dev/null
    # DESTDIR: the paths CMake configured are the image's (/opt/ambient).
    DESTDIR=$root cmake --install "$b" --strip > /dev/null
}

# The "version" of a package.json (npm writes it one key a line).
json_version() {
    sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$1" | head -n 1
}

# The CLI's native binary for this machine: the platform package the
# @anthropic-ai/claude-code wrapper lists as an optional dependency holds one
# self-contained executable (glibc only; no Node at run time). Fetched with
# `npm pack`, so no package's install script runs.
stage_claude() {
    local version=$1 dest=$2 arch pkg tgz tmp
    case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no Claude Code CLI for $(uname -m)" ;;
    esac
    pkg=@anthropic-ai/claude-code-linux-$arch
    tgz=anthropic-ai-claude-code-linux-$arch-$version.tgz
    install -d -m 0755 "$(dirname "$dest")"

    if [[ -n $claude_from ]]; then
        local native=
        for d in "$claude_from/node_modules/$pkg" "$claude_from/../claude-code-linux-$arch"; do
            [[ -f $d/package.json && -x $d/claude ]] && { native=$d; break; }
        done
        if [[ $(json_version "$claude_from/package.json" 2> /dev/null) != "$version" ]]; then
            echo "$prog: $claude_from is not @anthropic-ai/claude-code $version; not using it"
        elif [[ -z $native || $(json_version "$native/package.json") != "$version" ]]; then
            echo "$prog: $claude_from has no $pkg $version; not using it"
        else
            echo "$prog: $pkg $version from $native"
            install -m 0755 "$native/claude" "$dest"
            return
        fi
    fi

    tmp=$(mktemp -d)
    if [[ -n $cache_dir && -s $cache_dir/$tgz ]]; then
        echo "$prog: $pkg $version from $cache_dir/$tgz"
    else
        echo "$prog: fetching $pkg@$version with npm"
        npm pack --loglevel=error --pack-destination "$tmp" "$pkg@$version" > /dev/null ||
            die "npm pack $pkg@$version failed"
        [[ -s $tmp/$tgz ]] || die "npm pack did not write $tgz"
        if [[ -n $cache_dir ]]; then
            mkdir -p "$cache_dir"
            mv "$tmp/$tgz" "$cache_dir/$tgz.part" && mv "$cache_dir/$tgz.part" "$cache_dir/$tgz"
        else
            cache_dir=$tmp
        fi
    fi
    tar -xzf "$cache_dir/$tgz" -C "$tmp" package/package.json package/claude ||
        die "$cache_dir/$tgz is not the $pkg tarball"
    [[ $(json_version "$tmp/package/package.json") == "$version" ]] ||
        die "$cache_dir/$tgz is not version $version"
    install -m 0755 "$tmp/package/claude" "$dest"
    rm -rf "$tmp"
}

# ---- check ----

# Checks the libraries of every file given (see the header).
check_libraries() {
    local cf=$1
    shift
    local -A allowed=([libc6]=1) path_of=() owner=() needed_by=()
    local p f lib line
    for p in $(runtime_packages "$cf"); do allowed[$p]=1; done
    ((${#allowed[@]} > 1)) || die "$cf: no apt-get install in its last stage"

    local failed=0
    for f in "$@"; do
        local ldd_out
        ldd_out=$(ldd "$f" 2>&1) || die "ldd $f failed: $ldd_out"
        if grep -q 'not found' <<< "$ldd_out"; then
            echo "$prog: ${f#"$stage"} needs libraries this machine lacks:" >&2
            grep 'not found' <<< "$ldd_out" >&2
            failed=1
            continue
        fi
        # NEEDED names, resolved to paths as the loader resolves them.
        while read -r lib; do
            line=$(awk -v n="$lib" '
                $1 == n && $2 == "=>" { print $3; exit }
                substr($1, length($1) - length(n)) == "/" n { print $1; exit }' <<< "$ldd_out")
            [[ -n $line ]] || die "${f#"$stage"}: ldd does not show where $lib comes from"
            path_of[$lib]=$line
            needed_by[$lib]+=" ${f#"$stage"}"
        done < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    done
    ((failed == 0)) || exit 1
    ((${#path_of[@]})) || die "no libraries found for $*"

    # One dpkg query for them all; an owner is the package whose file is the
    # same file as the loader's (merged /usr: /lib/... and /usr/lib/...).
    local patterns=()
    for lib in "${!path_of[@]}"; do patterns+=("*/$lib"); done
    local pkg file
    while IFS= read -r line; do
        pkg=${line%%: *}
        file=${line#*: }
        pkg=${pkg%%:*} # drop the architecture
        for lib in "${!path_of[@]}"; do
            [[ ${file##*/} == "$lib" ]] || continue
            [[ $(realpath -e "$file" 2> /dev/null) == $(realpath -e "${path_of[$lib]}") ]] &&
                owner[$lib]=$pkg
        done
    done < <(dpkg -S "${patterns[@]}" 2> /dev/null || true)

    local missing=()
    for lib in $(printf '%s\n' "${!path_of[@]}" | sort); do
        pkg=${owner[$lib]:-}
        if [[ -z $pkg ]]; then
            echo "$prog: ${path_of[$lib]} (needed by${needed_by[$lib]}) belongs to no Debian package" >&2
            failed=1
        elif [[ -z ${allowed[$pkg]:-} ]]; then
            echo "$prog: $lib (needed by${needed_by[$lib]}) is in $pkg, which the runtime stage of $cf does not install" >&2
            [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
        fi
    done
    if ((${#missing[@]})); then
        echo "$prog: add to the runtime stage's apt-get install: ${missing[*]}" >&2
        failed=1
    fi
    ((failed == 0)) || exit 1
    echo "$prog: the libraries of $# files are in packages $cf installs"
}

# ---- the images ----

prefix=$stage/opt/ambient
if ((!check_only)); then
    if [[ -e $stage ]]; then
        [[ -d $stage && -z $(ls -A "$stage") ]] || die "$stage is not an empty directory"
    fi
    install -d -m 0755 "$stage"
    own_build=0
    if [[ -z $build_dir ]]; then
        build_dir=$(mktemp -d)
        own_build=1
    fi
    case $image in
    runner)
        version=$(claude_version "$containerfile")
        # Only the runner and the plugin directory of an install.
        root=$build_dir/install-root
        rm -rf "$root"
        cmake_build "$build_dir" "$root"
        install -d -m 0755 "$prefix/bin" "$prefix/lib/ambient"
        cp -a "$root/opt/ambient/bin/ambient-runner" "$prefix/bin/"
        cp -a "$root/opt/ambient/lib/ambient/plugins" "$prefix/lib/ambient/"
        rm -rf "$root"
        stage_claude "$version" "$stage/usr/local/bin/claude"
        # The CLI runs, and is the pinned one.
        home=$(mktemp -d)
        got=$(env -i HOME="$home" PATH=/usr/bin:/bin "$stage/usr/local/bin/claude" --version 2>&1) ||
            die "the staged claude --version failed: $got"
        rm -rf "$home"
        [[ $got == "$version "* ]] || die "the staged claude is \"$got\", not $version"
        echo "$prog: claude $got"
        ;;
    ambientd)
        cmake_build "$build_dir" "$stage"
        ;;
    esac
    ((own_build)) && rm -rf "$build_dir"
fi

files=()
case $image in
runner) files=("$prefix/bin/ambient-runner" "$stage/usr/local/bin/claude") ;;
ambientd) files=("$prefix/bin/ambientd" "$prefix"/bin/ambient-runner) ;;
esac
for f in "${files[@]}"; do [[ -x $f ]] || die "no $f"; done
shopt -s nullglob
files+=("$prefix"/lib/ambient/plugins/*.so)
check_libraries "$containerfile" "${files[@]}"
echo "$prog: $image staged in $stage"
