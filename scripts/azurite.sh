#!/usr/bin/env bash
# Installs Azurite (Microsoft's storage emulator, https://github.com/Azure/Azurite) from npm into a
# cache directory, once, and prints the path of its Table service binary `azurite-table`.
#
#   scripts/azurite.sh            # install if needed, print the binary's path
#   export AZURITE_TABLE_BIN=$(scripts/azurite.sh)
#
# The Rust test `azure-clients --test table_azurite` starts that binary itself on 127.0.0.1 with
# port 0 (in-memory, a temporary workspace) and reads the port from its start-up line. It is
# skipped, with a message, when no binary is found and CI is not set; with CI=true it fails instead.
set -euo pipefail

version=${AZURITE_VERSION:-3}
tools_dir=${IMAGEFERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageferry}
prefix="$tools_dir/azurite"
bin="$prefix/node_modules/.bin/azurite-table"

if [[ ! -x $bin ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "azurite.sh: npm not found: install Node.js 18 or newer" >&2
        exit 1
    fi
    mkdir -p "$prefix"
    echo "azurite.sh: installing azurite@$version from npm into $prefix" >&2
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
fi
echo "$bin"
