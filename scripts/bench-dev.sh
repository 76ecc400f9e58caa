#!/usr/bin/env bash
# The end-to-end benchmark: COUNT deployments (default 1000) through the local stack that
# `imageferry dev` starts (Azure stand-in, durable Service Bus stand-in, local Functions host, the
# real handler), release builds, with no simulated Azure latency (replication and long-running
# operations complete at once: azure-sim time scale 1e6) and short polls. Prints deployments/s,
# p50/p99 time to terminal, ARM writes per deployment, token requests per tenant and Service Bus
# operations per deployment. Figures only: nothing here is a timed test.
# Extra arguments go to `imageferry dev` (e.g. --set IMAGEFERRY_PROVISIONING_POLL=50ms).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p imageferry -p imageferry-handlers -p azure-sim --bins
# Run the binary directly (not through cargo run): it then uses the release handler and
# azure-sim next to it without rebuilding.
exec target/release/imageferry dev --bench --count "${COUNT:-1000}" "$@"
