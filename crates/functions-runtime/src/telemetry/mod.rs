//! Logging: JSON lines on stdout, which the Functions host forwards to its logs.

mod filter;
mod json;
mod subscriber;

pub use filter::{FilterError, LogFilter};
pub use subscriber::{JsonSubscriber, Sink};

/// Installs the JSON subscriber on stdout, filtered by `RUST_LOG` (default `info`; see
/// [`LogFilter`] for the syntax).
///
/// Each line carries the current span's fields (function, invocation id, message id, delivery
/// count). Stdout, not stderr: the host treats every stderr line as an error. A `RUST_LOG` that
/// cannot be parsed falls back to `info` and says so in a warning line. Calling it again, or
/// after another subscriber was installed, does nothing.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install);
}

fn install() {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let (filter, rejected) = match LogFilter::parse(&spec) {
        Ok(filter) => (filter, None),
        Err(error) => (
            LogFilter::parse("info").expect("static filter"),
            Some(error),
        ),
    };
    if tracing::subscriber::set_global_default(JsonSubscriber::stdout(filter)).is_ok()
        && let Some(error) = rejected
    {
        tracing::warn!(%error, "RUST_LOG ignored; logging at info");
    }
}
