//! OpenTelemetry export (cargo feature `otel`): the spans go to an OTLP/HTTP endpoint when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter also reads the other standard
//! `OTEL_EXPORTER_OTLP_*` and `OTEL_SERVICE_NAME` settings). Each invocation span continues the
//! message's trace and has the span id that log lines and outgoing `Diagnostic-Id`s carry.

use std::sync::OnceLock;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::trace::TraceContext;

/// The setting that turns the export on.
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The export layer, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the exporter can be built;
/// otherwise `None` and the reason (to be logged once logging is up).
pub(crate) fn layer_from_env<S>() -> (Option<impl Layer<S>>, Option<String>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(endpoint) = std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|e| !e.trim().is_empty())
    else {
        return (None, None);
    };
    let exporter = match SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => return (None, Some(format!("{ENDPOINT_ENV}={endpoint}: {e}"))),
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("functions-runtime");
    let _ = PROVIDER.set(provider);
    (
        Some(tracing_opentelemetry::layer().with_tracer(tracer)),
        None,
    )
}

/// Flushes and stops the exporter (at the end of [`run`](crate::run)).
pub(crate) fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        tracing::warn!(error = %e, "OpenTelemetry exporter did not shut down cleanly");
    }
}

/// Makes `span` (the invocation span) a child of `trace`'s parent and returns `trace` with the
/// exported span's id, so logs, outgoing messages and the exported trace agree. Without an
/// export layer, `trace` is returned unchanged.
pub(crate) fn continue_trace(span: &tracing::Span, trace: TraceContext) -> TraceContext {
    let Ok(trace_id) = TraceId::from_hex(&trace.trace_id()) else {
        return trace;
    };
    let flags = if trace.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    if let Some(parent) = trace
        .parent_span_id()
        .and_then(|id| SpanId::from_hex(&id).ok())
    {
        let remote = SpanContext::new(trace_id, parent, flags, true, TraceState::default());
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let context = span.context();
    let exported = context.span().span_context().clone();
    if exported.is_valid() && exported.trace_id() == trace_id {
        trace.with_span_id(&exported.span_id().to_string())
    } else {
        trace
    }
}
