#!/usr/bin/env bash
# A longer chaos run than CI's (crates/cli/tests/chaos.rs: 200 deployments, one-minute outages):
# COUNT deployments (default 1000) with KILLS handler SIGKILLs (default 20), each followed by a
# complete token-endpoint outage of OUTAGE (default 2m), then ARM answering 503 to every request
# for OUTAGE, 20% ARM 429/5xx throughout, duplicate deliveries and
# requests, the Service Bus stand-in killed and restarted, and one more deployment SIGKILLed on
# its last delivery (it must end failed/DeadLettered). Exit status 0 only when every deployment
# succeeded and every check held (see the `chaos`, `dead-letter`, `checks` and `violation`
# lines). Extra arguments go to `imageferry dev`.
set -euo pipefail
cd "$(dirname "$0")/.."

outage=${OUTAGE:-2m}
cargo build --release -p imageferry -p imageferry-handlers -p azure-sim --bins
exec target/release/imageferry dev --chaos --count "${COUNT:-1000}" --chaos-kills "${KILLS:-20}" \
    --chaos-token-refusal 1 --chaos-token-outage "$outage" --chaos-arm-outage "$outage" \
    --timeout "${TIMEOUT:-3600}" "$@"
