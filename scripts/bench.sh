#!/usr/bin/env bash
# Builds the release binaries and runs the benchmark driver (crates/bench): start-up time, no-op
# invocation throughput and latency, RSS and binary size, against bare axum baselines. Loopback
# only, bounded in count and time (about a minute on 2 cores after the release build).
# Extra arguments go to the driver: --handler PATH, --handler-env FILE, --start-runs N (300),
# --requests N, --warmup N, --concurrency N, --rounds N, --in-place (measure target/release as linked
# instead of fresh copies of the binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p bench --bins
# The real handler, when it builds; otherwise the driver benchmarks noop-handler and says so.
if ! cargo build --release -p imageferry-handlers --bin handler; then
    echo "bench.sh: the handler binary does not build; benchmarking noop-handler in its place" >&2
fi
# The handler reads its app settings from the environment, as under the Functions host.
settings=()
for file in local.settings.json crates/bench/handler-settings.env; do
    if [[ -f $file ]]; then
        settings=(--handler-env "$file")
        break
    fi
done
exec target/release/bench "${settings[@]}" "$@"
