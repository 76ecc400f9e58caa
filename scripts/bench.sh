#!/usr/bin/env bash
# Builds the release binaries and runs the benchmark driver (crates/bench). Loopback only, bounded
# in count and time (a few minutes on 2 cores, most of it the release build).
# Extra arguments go to the driver: --handler PATH, --start-runs N, --requests N, --warmup N,
# --concurrency N, --rounds N.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p bench --bins
# The real handler, when it builds; otherwise the driver benchmarks noop-handler and says so.
if ! cargo build --release -p imageferry-handlers --bin handler; then
    echo "bench.sh: the handler binary does not build; benchmarking noop-handler in its place" >&2
fi
exec target/release/bench "$@"
