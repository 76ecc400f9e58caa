#!/usr/bin/env bash
# Rehearses the article's az CLI flow ("Share gallery VM images across Azure tenants": az login
# into tenant 1, get a token, az login into tenant 2, get a token, az vm create --image <the
# tenant-1 image version id>) against the local stack, `imageferry dev --keep`, and checks that
# it ends with a running VM in tenant 2. See docs/REHEARSE.md.
#
#   scripts/rehearse-az.sh            # start the stack, rehearse, stop the stack
#   scripts/rehearse-az.sh --keep     # leave the stack (and the az profile) running afterwards
#
# az CLI comes from PyPI into a virtual environment in the tools cache (IMAGEFERRY_TOOLS_DIR,
# default ~/.cache/imageferry), once. The stand-in serves HTTPS for az on a free port with a
# certificate it generates (AZURE_SIM_TLS_LISTEN, AZURE_SIM_TLS_CA_OUT); az trusts it through
# REQUESTS_CA_BUNDLE. az's own profile lives in the run's folder, never in ~/.azure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

keep=false
[[ ${1:-} == --keep ]] && keep=true

AZ_VERSION=${AZ_CLI_VERSION:-2.91.0}
tools_dir=${IMAGEFERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageferry}
az_venv="$tools_dir/az-venv-$AZ_VERSION"
az="$az_venv/bin/az"

# The ids of the stand-in's default scenario (docs/DESIGN.md, "azure-sim").
TENANT_1=11111111-1111-4111-8111-111111111111
TENANT_2=22222222-2222-4222-8222-222222222222
SUB_1=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa
SUB_2=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb
APP_ID=33333333-3333-4333-8333-333333333333
APP_SECRET=local-sim-secret
IMAGE_VERSION_ID="/subscriptions/$SUB_1/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0"
RG=myResourceGroup
VM=${REHEARSE_VM_NAME:-rehearsalVM}

t0=$(date +%s)
step() { printf '== [%3ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

if [[ ! -x $az || ! -f $az_venv/.complete ]]; then
    step "installing azure-cli==$AZ_VERSION from PyPI into $az_venv (once)"
    rm -rf "$az_venv"
    mkdir -p "$tools_dir"
    python3 -m venv "$az_venv"
    "$az_venv/bin/pip" install --quiet --disable-pip-version-check "azure-cli==$AZ_VERSION"
    touch "$az_venv/.complete"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/imageferry-rehearsal.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ca="$work/azure-sim-ca.pem"
arm="https://127.0.0.1:$port"

step "starting the local stack: imageferry dev --keep (stand-in HTTPS on $arm; log $work/dev.log)"
AZURE_SIM_TLS_LISTEN="127.0.0.1:$port" AZURE_SIM_TLS_CA_OUT="$ca" \
    cargo run --quiet -p imageferry -- dev --keep >"$work/dev.log" 2>&1 &
dev_pid=$!
stop_stack() {
    if [[ $keep == false ]] && kill -0 "$dev_pid" 2>/dev/null; then
        kill -TERM "$dev_pid" 2>/dev/null || true
        wait "$dev_pid" 2>/dev/null || true
    fi
}
trap stop_stack EXIT

for _ in $(seq 1 600); do
    grep -q '^keeping' "$work/dev.log" 2>/dev/null && break
    if ! kill -0 "$dev_pid" 2>/dev/null; then
        echo "rehearse-az.sh: imageferry dev stopped before keeping the stack:" >&2
        tail -20 "$work/dev.log" >&2
        exit 1
    fi
    sleep 1
done
grep -q '^keeping' "$work/dev.log" || { echo "rehearse-az.sh: the stack did not come up in 10 minutes" >&2; exit 1; }
[[ -s $ca ]] || { echo "rehearse-az.sh: the stand-in wrote no CA certificate to $ca" >&2; exit 1; }

export AZURE_CONFIG_DIR="$work/az" REQUESTS_CA_BUNDLE="$ca" HOME="$work/home"
mkdir -p "$HOME"
run() { printf '   $ %s\n' "$*"; "$@"; }

step "registering the stand-in as a cloud"
# MSAL's instance discovery only asks login.microsoftonline.com; Microsoft's switch for
# clouds it does not know (Azure Stack) turns it off.
run "$az" config set core.instance_discovery=false core.collect_telemetry=false --only-show-errors
run "$az" cloud register --name ImageferryLocal --endpoint-resource-manager "$arm/" --only-show-errors
run "$az" cloud set --name ImageferryLocal --only-show-errors

step "the article: sign in to tenant 1, get a token"
run "$az" login --service-principal -u "$APP_ID" -p "$APP_SECRET" --tenant "$TENANT_1" -o none --only-show-errors
run "$az" account get-access-token --query expiresOn -o tsv
step "the article: sign in to tenant 2, get a token"
run "$az" login --service-principal -u "$APP_ID" -p "$APP_SECRET" --tenant "$TENANT_2" -o none --only-show-errors
run "$az" account get-access-token --query expiresOn -o tsv

step "waiting until the image version is replicated to the VM's region"
for _ in $(seq 1 120); do
    state=$("$az" sig image-version show --subscription "$SUB_1" -g myGalleryRG -r myGallery -i myImageDefinition -e 1.0.0 \
        --expand ReplicationStatus --query "replicationStatus.summary[?region=='South Central US'].state | [0]" -o tsv)
    [[ $state == Completed ]] && break
    sleep 1
done
echo "   South Central US: $state"

step "the article: az vm create --image <tenant-1 image version id> in tenant 2"
vm_start=$(date +%s)
run "$az" vm create --subscription "$SUB_2" --resource-group "$RG" --name "$VM" \
    --image "$IMAGE_VERSION_ID" --admin-username azureuser --generate-ssh-keys --only-show-errors
vm_secs=$(( $(date +%s) - vm_start ))

power=$("$az" vm show -d --subscription "$SUB_2" -g "$RG" -n "$VM" --query powerState -o tsv)
step "done: $VM in tenant 2 is '$power' (az vm create took ${vm_secs}s; the whole rehearsal $(( $(date +%s) - t0 ))s)"
if [[ $power != "VM running" ]]; then
    echo "rehearse-az.sh: the VM is not running" >&2
    exit 1
fi
if [[ $keep == true ]]; then
    echo "the stack keeps running (imageferry dev pid $dev_pid); az is set up with:"
    echo "  export AZURE_CONFIG_DIR=$AZURE_CONFIG_DIR REQUESTS_CA_BUNDLE=$ca"
fi
