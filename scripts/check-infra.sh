#!/usr/bin/env bash
# Static checks of the Bicep in infra/:
#   1. checkov (https://www.checkov.io, framework `bicep`): security and configuration checks;
#      exits non-zero when a check fails. Checks that do not fit this serverless app are skipped
#      inline in the Bicep with `// checkov:skip=CKV_...: reason`.
#   2. syntax: `bicep build infra/main.bicep` when a Bicep CLI is on PATH (`bicep` or `az bicep`);
#      otherwise every .bicep file is parsed with the tree-sitter Bicep grammar (no Bicep CLI can be
#      installed from a package registry: it ships as a GitHub release binary);
#   3. Bicep's rule BCP120 (a resource's name must be known when the deployment starts), which a
#      grammar cannot see: scripts/bicep-deploy-time-names.py.
# checkov and the grammar come from PyPI, installed on first use into their own virtual environment
# (${IMAGEFERRY_TOOLS_DIR:-~/.cache/imageferry}/checkov-venv) so they cannot disturb other Python
# tools; a `checkov` already on PATH is used for step 1. After that install everything runs offline:
# --skip-download (no Prisma Cloud policy download), no update check.
set -euo pipefail
cd "$(dirname "$0")/.."

checkov_req=checkov==3.3.30
grammar_req=(tree-sitter tree-sitter-bicep==1.1.0)

tools_dir=${IMAGEFERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageferry}
venv="$tools_dir/checkov-venv"
py="$venv/bin/python3"

venv_install() { # packages...
    if [[ ! -x $py ]]; then
        mkdir -p "$tools_dir"
        python3 -m venv "$venv"
    fi
    echo "check-infra.sh: installing $* from PyPI into $venv" >&2
    "$py" -m pip install --quiet --disable-pip-version-check "$@"
}

if command -v checkov >/dev/null 2>&1; then
    checkov=$(command -v checkov)
else
    [[ -x $venv/bin/checkov ]] || venv_install "$checkov_req"
    checkov=$venv/bin/checkov
fi

# Offline and quiet: no update check, no platform mapping download.
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export BC_SKIP_MAPPING=TRUE
unset BC_API_KEY PRISMA_API_URL 2>/dev/null || true

status=0
echo "check-infra.sh: checkov $("$checkov" --version 2>/dev/null | tail -n 1) on infra/ (framework bicep)"
checkov_out=$(mktemp)
"$checkov" -d infra --framework bicep --skip-download --compact --quiet | tee "$checkov_out" || status=$?
# A file checkov cannot parse is a file it did not check: fail on that too.
if grep -Eq 'Parsing errors: [1-9]' "$checkov_out"; then
    echo "check-infra.sh: checkov could not parse a file (rerun with LOG_LEVEL=DEBUG to see which)" >&2
    status=1
fi
rm -f "$checkov_out"

if command -v bicep >/dev/null 2>&1; then
    bicep build infra/main.bicep --stdout >/dev/null || status=1
elif command -v az >/dev/null 2>&1 && az bicep version >/dev/null 2>&1; then
    az bicep build --file infra/main.bicep --stdout >/dev/null || status=1
else
    "$py" -c 'import tree_sitter, tree_sitter_bicep' 2>/dev/null || venv_install "${grammar_req[@]}"
    "$py" - infra <<'PY' || status=1
import pathlib, sys
import tree_sitter_bicep
from tree_sitter import Language, Parser

parser = Parser(Language(tree_sitter_bicep.language()))
files = sorted(pathlib.Path(sys.argv[1]).rglob("*.bicep"))
bad = 0

def errors(node):
    if node.type == "ERROR" or node.is_missing:
        yield node
    for child in node.children:
        yield from errors(child)

for path in files:
    for node in errors(parser.parse(path.read_bytes()).root_node):
        bad += 1
        row, col = node.start_point
        print(f"{path}:{row + 1}:{col + 1}: Bicep syntax error", file=sys.stderr)
print(f"check-infra.sh: no Bicep CLI on PATH; tree-sitter Bicep grammar parsed {len(files)} files, {bad} syntax errors")
sys.exit(1 if bad else 0)
PY
fi

# Bicep's BCP120 (names computable at deployment start), which the grammar parse cannot see.
python3 scripts/bicep-deploy-time-names.py infra || status=1

if [[ $status -eq 0 ]]; then
    echo "check-infra.sh: passed"
else
    echo "check-infra.sh: FAILED" >&2
fi
exit "$status"
