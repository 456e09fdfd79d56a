#!/bin/sh
# npm-deps.sh — `npm ci` in api/web when node_modules is missing or was
# installed from another package-lock.json (its hash is kept beside it).
# Run by deploy/dev/install-deps.sh and by the CMake target before a build.
set -eu
cd "$(dirname "$0")/.."
want=$(sha256sum package-lock.json | cut -d' ' -f1)
have=$(cat node_modules/.ambient-lock.sha256 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    echo "npm-deps: npm ci in api/web"
    # Never let playwright download a browser: the tests use Debian's chromium.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > node_modules/.ambient-lock.sha256
fi
