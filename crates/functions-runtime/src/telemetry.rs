//! Logging: JSON lines on stdout (which the Functions host forwards to its logs), built from
//! `tracing-subscriber`'s registry, its JSON formatter and an `EnvFilter` read from `RUST_LOG`.
//!
//! A line looks like
//! `{"timestamp":"…","level":"INFO","message":"step done","target":"imageferry_handlers::runner",
//! "spans":[{"name":"invocation","function":"…","invocation_id":"…","message_id":"…",
//! "delivery_count":1,"trace_id":"…","span_id":"…"},{"name":"step","deploymentId":"…"}]}`:
//! the event's own fields at the top level, and every enclosing span, outermost first, with
//! its fields, however deep the nesting.

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, filter::LevelFilter};

/// The JSON line layer, writing to `writer`. [`init_tracing`] installs it on stdout; use it
/// directly to compose a subscriber of your own (another writer, more layers).
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_ansi(false)
        .with_writer(writer)
}

/// The filter `spec` describes, in the full `RUST_LOG` syntax of `tracing-subscriber`'s
/// [`EnvFilter`] (`info`, `azure_clients=debug`, `[invocation{function=vm-provisioning}]=debug`,
/// ...); an empty `spec` means `info`.
pub fn env_filter(spec: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse(spec)
}

/// Installs the JSON layer on stdout, filtered by `RUST_LOG` (default `info`), plus, when built
/// with the `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` is set, an OpenTelemetry exporter.
///
/// Stdout, not stderr: the host treats every stderr line as an error. A `RUST_LOG` that cannot be
/// parsed falls back to `info` and says why in a warning line. Calling it again, or after another
/// subscriber was installed, does nothing.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install);
}

fn install() {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let (filter, rejected) = match env_filter(&spec) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let subscriber =
        tracing_subscriber::registry().with(json_layer(std::io::stdout).with_filter(filter));
    #[cfg(feature = "otel")]
    let (subscriber, otel_error) = {
        let (layer, error) = crate::otel::layer_from_env();
        let filter = env_filter(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
        (subscriber.with(layer.with_filter(filter)), error)
    };
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return;
    }
    if let Some(error) = rejected {
        tracing::warn!(%error, rust_log = %spec, "RUST_LOG ignored; logging at info");
    }
    #[cfg(feature = "otel")]
    if let Some(error) = otel_error {
        tracing::warn!(%error, "OpenTelemetry export is off: the exporter cannot be built");
    }
}

/// Flushes what the optional exporter still holds; a no-op without the `otel` feature.
pub fn shutdown() {
    #[cfg(feature = "otel")]
    crate::otel::shutdown();
}
