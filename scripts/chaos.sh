#!/usr/bin/env bash
# A longer chaos run than CI's (crates/cli/tests/chaos.rs: 200 deployments): COUNT deployments
# (default 1000) with KILLS handler SIGKILLs (default 20), 20% ARM 429/5xx, token-endpoint
# outages, duplicate deliveries and requests, and the Service Bus stand-in killed and restarted.
# Exit status 0 only when every deployment succeeded and every check held (see the `checks` and
# `violation` lines). Extra arguments go to `imageferry dev`, e.g. `--chaos-token-refusal 1`
# for complete token outages.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p imageferry -p imageferry-handlers -p azure-sim --bins
exec target/release/imageferry dev --chaos --count "${COUNT:-1000}" --chaos-kills "${KILLS:-20}" --timeout "${TIMEOUT:-1800}" "$@"
