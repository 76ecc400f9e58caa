//! Benchmark of the custom-handler runtime against bare axum baselines (issue 2, item 6).
//!
//! Binaries: `bare-hello` and `bare-echo` (baselines), `noop-handler` (the runtime with a no-op
//! function) and `bench` (the driver, run by `scripts/bench.sh`). Everything runs on loopback, is
//! bounded in count and time, and prints one table.
//!
//! Method: start-up is spawn → first HTTP answer on `GET /`, polled every 100 µs, binaries
//! interleaved. Throughput is a closed loop of keep-alive HTTP/1 connections on a single-threaded
//! client, the same host-encoded request for both targets, rounds in ABBA order on fresh processes;
//! the goal uses the median of per-round ratios, which resists bursts of background load on a
//! shared machine. The client shares the CPUs with the server, as the Functions host does.

pub mod baseline;
pub mod driver;
pub mod load;
pub mod options;
pub mod process;
pub mod report;
pub mod rss;
pub mod stage;
pub mod startup;
pub mod stats;
pub mod workload;

/// Function name `noop-handler` serves.
pub const NOOP_FUNCTION: &str = "noop";

/// Everything that can stop a benchmark step.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A binary could not be started.
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// Binary path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The process exited before answering `GET /`.
    #[error("{path} exited before it was ready ({status})")]
    ExitedEarly {
        /// Binary path.
        path: String,
        /// Exit status.
        status: std::process::ExitStatus,
    },
    /// The process did not answer `GET /` in time.
    #[error("{path} did not answer GET / within {seconds} s")]
    NotReady {
        /// Binary path.
        path: String,
        /// Time waited.
        seconds: u64,
    },
    /// A socket or `/proc` operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The load generator saw failures.
    #[error("load against {target}: {detail}")]
    Load {
        /// Target binary.
        target: String,
        /// What went wrong.
        detail: String,
    },
}
