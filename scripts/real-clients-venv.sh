#!/usr/bin/env bash
# Creates (once) a Python virtual environment with the pinned Azure SDK for Python of
# tests/real-clients/requirements.txt, from PyPI, and prints the path of its python.
#
#   export IMAGEFERRY_SDK_PYTHON=$(scripts/real-clients-venv.sh)
#   cargo test -p azure-sim --test real_clients
#
# The venv lives in the tools cache (IMAGEFERRY_TOOLS_DIR, default ~/.cache/imageferry), named
# after the requirements' hash, so a change of pins makes a new one.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=tests/real-clients/requirements.txt
tools_dir=${IMAGEFERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageferry}
hash=$(sha256sum "$requirements" | cut -c1-12)
venv="$tools_dir/sdk-venv-$hash"
python=${PYTHON:-python3}

if [[ ! -x $venv/bin/python || ! -f $venv/.complete ]]; then
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "real-clients-venv.sh: $python not found: install Python 3.9 or newer" >&2
        exit 1
    fi
    echo "real-clients-venv.sh: creating $venv from $requirements (PyPI)" >&2
    rm -rf "$venv"
    mkdir -p "$tools_dir"
    "$python" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    touch "$venv/.complete"
fi
echo "$venv/bin/python"
