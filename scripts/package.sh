#!/usr/bin/env bash
# Builds the Function App package for Azure: the `handler` binary (release, x86_64 Linux), host.json
# and the four function folders, staged in target/functionapp/ and zipped to target/functionapp.zip.
#
#   scripts/package.sh            # build, stage, zip
#   scripts/package.sh --no-build # stage and zip an already built binary
#
# azd runs this as the `prepackage` hook of the `handler` service (azure.yaml) and deploys the zip.
# Linux function apps start the custom handler by executing `handler` (host.json
# `defaultExecutablePath`), so the file must keep its executable bit inside the zip: `zip` and
# Python's zipfile both store the Unix mode, and this script checks the entry afterwards. Package on
# Linux or macOS; a zip made on Windows loses the bit.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
    case $arg in
        --no-build) build=0 ;;
        *) echo "package.sh: unknown argument $arg (use --no-build)" >&2; exit 2 ;;
    esac
done

target_triple=x86_64-unknown-linux-gnu
host_triple=$(rustc -vV | sed -n 's/^host: //p')
if [[ $host_triple == "$target_triple" ]]; then
    cargo_target=()
    binary=target/release/handler
else
    # Cross build: needs `rustup target add x86_64-unknown-linux-gnu` and a linker for it
    # (CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER).
    cargo_target=(--target "$target_triple")
    binary=target/$target_triple/release/handler
fi

if [[ $build -eq 1 ]]; then
    cargo build --release --locked -p imageferry-handlers --bin handler "${cargo_target[@]}"
fi
[[ -f $binary ]] || { echo "package.sh: $binary not found (build it, or drop --no-build)" >&2; exit 1; }

functions=(deployment-requested replication-check image-version-replicated vm-provisioning)
stage=target/functionapp
zip_path=target/functionapp.zip
rm -rf "$stage" "$zip_path"
mkdir -p "$stage"
cp host.json "$stage/"
for f in "${functions[@]}"; do
    [[ -f $f/function.json ]] || { echo "package.sh: $f/function.json is missing" >&2; exit 1; }
    mkdir -p "$stage/$f"
    cp "$f/function.json" "$stage/$f/"
done
cp "$binary" "$stage/handler"
chmod 0755 "$stage/handler"

# The Flex Consumption Linux workers run Debian 12 images; report the newest glibc symbol the
# binary needs so a build on a newer distribution is noticed before deployment.
if command -v objdump >/dev/null 2>&1; then
    glibc=$(objdump -T "$stage/handler" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -u | tail -n 1 || true)
    echo "package.sh: handler needs ${glibc:-no versioned glibc symbols} (Debian 12 has GLIBC_2.36)"
fi

(
    cd "$stage"
    entries=(host.json handler "${functions[@]}")
    if command -v zip >/dev/null 2>&1; then
        zip -q -r -X ../functionapp.zip "${entries[@]}"
    else
        python3 -m zipfile -c ../functionapp.zip "${entries[@]}"
    fi
)

# Check the package: every entry present, `handler` executable (Unix mode in the external attributes).
python3 - "$zip_path" "${functions[@]}" <<'PY'
import stat, sys, zipfile
path, functions = sys.argv[1], sys.argv[2:]
with zipfile.ZipFile(path) as z:
    names = set(z.namelist())
    wanted = ["host.json", "handler"] + [f"{f}/function.json" for f in functions]
    missing = [n for n in wanted if n not in names]
    if missing:
        sys.exit(f"package.sh: {path} lacks {missing}")
    mode = z.getinfo("handler").external_attr >> 16
    if not mode & stat.S_IXUSR:
        sys.exit(f"package.sh: handler in {path} is not executable (mode {oct(mode)})")
    print(f"package.sh: {path}: {len(names)} entries, handler mode {oct(stat.S_IMODE(mode))}")
PY
