#!/usr/bin/env bash
# Static checks of the Bicep in infra/ with checkov (https://www.checkov.io, framework `bicep`).
# Installs checkov from PyPI on first use, into its own virtual environment
# (${IMAGEFERRY_TOOLS_DIR:-~/.cache/imageferry}/checkov-venv) so it cannot disturb other Python
# tools; a `checkov` already on PATH is used as it is. Runs offline apart from that install:
# --skip-download (no Prisma Cloud policy download), no version check, no telemetry.
# Exits non-zero when a check fails. Checks that do not fit a serverless app are skipped inline in
# the Bicep with `// checkov:skip=CKV_...: reason`.
# A Bicep CLI, when one is on PATH (`bicep` or `az bicep`), also builds infra/main.bicep.
set -euo pipefail
cd "$(dirname "$0")/.."

tools_dir=${IMAGEFERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageferry}
venv="$tools_dir/checkov-venv"

if command -v checkov >/dev/null 2>&1; then
    checkov=$(command -v checkov)
elif [[ -x $venv/bin/checkov ]]; then
    checkov=$venv/bin/checkov
else
    echo "check-infra.sh: installing checkov from PyPI into $venv" >&2
    mkdir -p "$tools_dir"
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check checkov
    checkov=$venv/bin/checkov
fi

# Offline: no update check, no API key, no telemetry; the guidelines download is skipped below.
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export BC_SKIP_MAPPING=TRUE
unset BC_API_KEY PRISMA_API_URL 2>/dev/null || true

echo "check-infra.sh: $("$checkov" --version 2>/dev/null | tail -n 1) on infra/ (framework bicep)"
status=0
"$checkov" -d infra --framework bicep --skip-download --compact --quiet || status=$?

if command -v bicep >/dev/null 2>&1; then
    bicep build infra/main.bicep --stdout >/dev/null || status=1
elif command -v az >/dev/null 2>&1 && az bicep version >/dev/null 2>&1; then
    az bicep build --file infra/main.bicep --stdout >/dev/null || status=1
else
    echo "check-infra.sh: no Bicep CLI on PATH; skipped 'bicep build' (checkov's parser still read every file)" >&2
fi

if [[ $status -eq 0 ]]; then
    echo "check-infra.sh: passed"
else
    echo "check-infra.sh: FAILED" >&2
fi
exit "$status"
