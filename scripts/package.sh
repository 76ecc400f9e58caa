#!/usr/bin/env bash
# Builds the Function App package for Azure: the `handler` binary (release, x86_64 Linux), host.json,
# every function folder (each `*/function.json` at the repo root) and the rollout configuration
# (rollouts.toml), staged in target/functionapp/ and zipped to target/functionapp.zip.
# With --cli (or --cli-only) it also builds the release binary of the `imageferry` CLI that pipelines
# download instead of compiling it: target/release-assets/imageferry-<target>.tar.gz (the binary
# alone, mode 0755) and its checksum file imageferry-<target>.tar.gz.sha256 (`sha256sum -c` format).
# The release workflow (examples/github-actions/release.yml) publishes both as release assets.
#
#   scripts/package.sh                    # build, stage, zip the Function App
#   scripts/package.sh --cli              # the same, and the CLI archive
#   scripts/package.sh --cli-only         # only the CLI archive
#   scripts/package.sh --no-build         # package already built binaries
#   scripts/package.sh --binary PATH      # stage this handler (no build; tests use the debug build)
#   scripts/package.sh --cli-binary PATH  # archive this CLI binary (no build; implies --cli)
#   scripts/package.sh --out DIR          # write DIR/functionapp/, DIR/functionapp.zip and
#                                         # DIR/release-assets/ (default: target)
#
# Target: a static x86_64-unknown-linux-musl binary when the toolchain allows it (the Rust target
# installed, `rustup target add x86_64-unknown-linux-musl`, and a musl C compiler for ring's C and
# assembly parts: Debian's `musl-tools`). A static binary runs on any worker image whatever its
# glibc. Otherwise x86_64-unknown-linux-gnu, and the script prints the newest glibc symbol version
# the binary needs (the worker's glibc must be at least that). IMAGEFERRY_PACKAGE_TARGET=<triple>
# forces a target. The CLI archive is named after the target it was built for: a pipeline that
# downloads imageferry-x86_64-unknown-linux-musl.tar.gz gets a binary that runs on any x86_64 Linux
# runner.
#
# azd runs this as the `prepackage` hook of the `handler` service (azure.yaml) and deploys the zip.
# Linux function apps start the custom handler by executing `handler` (host.json
# `defaultExecutablePath`), so the file must keep its executable bit inside the zip: `zip` and
# Python's zipfile both store the Unix mode, and this script checks the entry afterwards. Package on
# Linux or macOS; a zip made on Windows loses the bit.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
binary=
cli_binary=
app=1
cli=0
out=target
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-build) build=0 ;;
        --binary) binary=${2:?--binary needs a path}; shift ;;
        --cli) cli=1 ;;
        --cli-only) cli=1; app=0 ;;
        --cli-binary) cli_binary=${2:?--cli-binary needs a path}; cli=1; shift ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        *) echo "package.sh: unknown argument $1 (use --cli, --cli-only, --no-build, --binary PATH, --cli-binary PATH, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done

musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu
musl_ready() {
    command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$musl" \
        && { command -v x86_64-linux-musl-gcc >/dev/null 2>&1 || command -v musl-gcc >/dev/null 2>&1; }
}
if [[ -n ${IMAGEFERRY_PACKAGE_TARGET:-} ]]; then
    target_triple=$IMAGEFERRY_PACKAGE_TARGET
elif musl_ready; then
    target_triple=$musl
else
    target_triple=$gnu
    echo "package.sh: no musl toolchain (rustup target add $musl; apt-get install musl-tools): building for glibc" >&2
fi

host_triple=$(rustc -vV | sed -n 's/^host: //p')
if [[ $host_triple == "$target_triple" ]]; then
    cargo_target=()
    release_dir=target/release
else
    # Cross build (musl, or gnu from another host: needs CARGO_TARGET_<TRIPLE>_LINKER).
    cargo_target=(--target "$target_triple")
    release_dir=target/$target_triple/release
fi

# Static, or the glibc floor the binary needs.
linkage() {
    command -v objdump >/dev/null 2>&1 || return 0
    if objdump -p "$2" | grep -q 'NEEDED'; then
        glibc=$(objdump -T "$2" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -u | tail -n 1 || true)
        echo "package.sh: $1 is dynamically linked and needs ${glibc:-no versioned glibc symbols} (Debian 12 has GLIBC_2.36)"
    else
        echo "package.sh: $1 is statically linked (no shared libraries needed)"
    fi
}

if [[ $cli -eq 1 ]]; then
    if [[ -z $cli_binary ]]; then
        cli_binary=$release_dir/imageferry
        if [[ $build -eq 1 ]]; then
            cargo build --release --locked -p imageferry --bin imageferry "${cargo_target[@]}"
        fi
    fi
    [[ -f $cli_binary ]] || { echo "package.sh: $cli_binary not found (build it, or drop --no-build)" >&2; exit 1; }
    assets=$out/release-assets
    asset=imageferry-$target_triple.tar.gz
    mkdir -p "$assets"
    cli_stage=$(mktemp -d)
    trap 'rm -rf "$cli_stage"' EXIT
    cp "$cli_binary" "$cli_stage/imageferry"
    chmod 0755 "$cli_stage/imageferry"
    "$cli_stage/imageferry" --version >/dev/null || { echo "package.sh: $cli_binary does not run here" >&2; exit 1; }
    linkage "imageferry ($target_triple)" "$cli_stage/imageferry"
    tar -C "$cli_stage" --owner=0 --group=0 --numeric-owner -czf "$assets/$asset" imageferry
    (cd "$assets" && sha256sum "$asset" > "$asset.sha256")
    echo "package.sh: $assets/$asset ($(du -h "$assets/$asset" | cut -f1)), checksum in $asset.sha256"
fi
[[ $app -eq 1 ]] || exit 0

if [[ -z $binary ]]; then
    binary=$release_dir/handler
    if [[ $build -eq 1 ]]; then
        cargo build --release --locked -p imageferry-handlers --bin handler "${cargo_target[@]}"
    fi
fi
[[ -f $binary ]] || { echo "package.sh: $binary not found (build it, or drop --no-build)" >&2; exit 1; }

# Every function folder: one per queue, each with its function.json.
functions=()
for f in */function.json; do
    functions+=("$(dirname "$f")")
done
[[ ${#functions[@]} -gt 0 ]] || { echo "package.sh: no */function.json found" >&2; exit 1; }
[[ -f rollouts.toml ]] || { echo "package.sh: rollouts.toml is missing (the rollout configuration; may list no rollouts)" >&2; exit 1; }

stage=$out/functionapp
zip_path=$out/functionapp.zip
rm -rf "$stage" "$zip_path"
mkdir -p "$stage"
cp host.json rollouts.toml "$stage/"
for f in "${functions[@]}"; do
    mkdir -p "$stage/$f"
    cp "$f/function.json" "$stage/$f/"
done
cp "$binary" "$stage/handler"
chmod 0755 "$stage/handler"

# Static or the glibc floor: Flex Consumption Linux workers run Debian 12 images (GLIBC_2.36).
linkage handler "$stage/handler"

(
    cd "$stage"
    entries=(host.json rollouts.toml handler "${functions[@]}")
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
    wanted = ["host.json", "handler", "rollouts.toml"] + [f"{f}/function.json" for f in functions]
    missing = [n for n in wanted if n not in names]
    if missing:
        sys.exit(f"package.sh: {path} lacks {missing}")
    mode = z.getinfo("handler").external_attr >> 16
    if not mode & stat.S_IXUSR:
        sys.exit(f"package.sh: handler in {path} is not executable (mode {oct(mode)})")
    print(f"package.sh: {path}: {len(names)} entries, {len(functions)} functions, handler mode {oct(stat.S_IMODE(mode))}")
PY
