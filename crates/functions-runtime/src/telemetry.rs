//! Logging setup: JSON lines on stdout, which the Functions host forwards to its logs.

use tracing_subscriber::EnvFilter;

/// Installs a JSON `tracing` subscriber on stdout, filtered by `RUST_LOG` (default `info`).
///
/// Each line carries the current span's fields (function, invocation id, message id, delivery
/// count). Stdout, not stderr: the host treats every stderr line as an error. Calling it again, or
/// after another subscriber was installed, does nothing.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_installed = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .try_init();
}
