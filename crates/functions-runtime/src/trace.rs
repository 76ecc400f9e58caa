//! W3C trace context across Service Bus messages, the way the Azure SDKs carry it.
//!
//! A sender SDK stores a `traceparent` in the message's `Diagnostic-Id` application property
//! (Microsoft Learn, "Distributed tracing and correlation through Service Bus messaging"). The
//! Functions host hands application properties to a custom handler in
//! `Metadata.ApplicationProperties`, so the runtime continues the trace from there: each
//! invocation gets a new span id under the incoming trace id, its log lines carry `trace_id` and
//! `span_id`, and [`TraceContext::current`] gives handlers the `traceparent` to put into the
//! `Diagnostic-Id` of the messages they send, so one chain of messages is one trace.

use std::fmt;

/// Application property holding a W3C `traceparent` (set by every Azure SDK sender).
pub const DIAGNOSTIC_ID: &str = "Diagnostic-Id";

/// HTTP header of W3C trace context (the host's `HttpClient` may send it with an invocation).
pub const TRACEPARENT: &str = "traceparent";

/// The trace context of one invocation: the trace it belongs to, its own span id and the span
/// it continues.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    parent_span_id: Option<u64>,
    sampled: bool,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// A new trace (no usable incoming context), sampled.
    pub fn root() -> Self {
        Self {
            trace_id: nonzero_u128(),
            span_id: nonzero_u64(),
            parent_span_id: None,
            sampled: true,
        }
    }

    /// A new span continuing `parent` (same trace id and sampling decision).
    pub fn child_of(parent: &Self) -> Self {
        Self {
            trace_id: parent.trace_id,
            span_id: nonzero_u64(),
            parent_span_id: Some(parent.span_id),
            sampled: parent.sampled,
        }
    }

    /// Parses a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); `None` for anything else,
    /// including the legacy hierarchical `Request-Id` format (`|abc.1.`), all-zero ids and
    /// version `ff`. Later versions are read by their version-00 prefix, as the spec asks.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let t = traceparent.trim();
        let bytes = t.as_bytes();
        // ASCII only, so the byte offsets below are character boundaries.
        if !t.is_ascii() || bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
            return None;
        }
        let version = hex_u64(&t[0..2])?;
        if version == 0xff || (version == 0 && bytes.len() != 55) {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_id = u128::from_str_radix(lower_hex(&t[3..35])?, 16).ok()?;
        let span_id = hex_u64(&t[36..52])?;
        let flags = hex_u64(&t[53..55])?;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            parent_span_id: None,
            sampled: flags & 1 == 1,
        })
    }

    /// The context an invocation runs in: a child of the message's `Diagnostic-Id`, or of the
    /// request's `traceparent` header when it is in the same trace (the host's own span, itself
    /// a child of the message's) or when the message has none; otherwise a new trace.
    pub fn for_invocation(diagnostic_id: Option<&str>, header: Option<&str>) -> Self {
        let message = diagnostic_id.and_then(Self::parse);
        let host = header.and_then(Self::parse);
        let parent = match (message, host) {
            (Some(m), Some(h)) if h.trace_id == m.trace_id => Some(h),
            (Some(m), _) => Some(m),
            (None, h) => h,
        };
        parent.map_or_else(Self::root, |p| Self::child_of(&p))
    }

    /// The same context with span id `hex` (16 hex digits; unchanged if invalid). For an
    /// exporter that assigns span ids itself.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn with_span_id(self, hex: &str) -> Self {
        match hex_u64(hex) {
            Some(span_id) if span_id != 0 && hex.len() == 16 => Self { span_id, ..self },
            _ => self,
        }
    }

    /// The `traceparent` naming this span: the value for an outgoing message's `Diagnostic-Id`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id(),
            self.span_id(),
            u8::from(self.sampled)
        )
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// This span's id, 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The id of the span this one continues, if any.
    pub fn parent_span_id(&self) -> Option<String> {
        self.parent_span_id.map(|id| format!("{id:016x}"))
    }

    /// The W3C `sampled` flag.
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The trace context of the invocation being handled on this task, if any. Set by the runtime
    /// around the handler's future; tasks a handler spawns do not inherit it (pass it along).
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|c| *c).ok()
    }

    /// Runs `future` with `self` as [`TraceContext::current`].
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }
}

fn lower_hex(s: &str) -> Option<&str> {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some(s)
}

fn hex_u64(s: &str) -> Option<u64> {
    u64::from_str_radix(lower_hex(s)?, 16).ok()
}

fn nonzero_u128() -> u128 {
    loop {
        let v = uuid::Uuid::new_v4().as_u128();
        if v != 0 {
            return v;
        }
    }
}

fn nonzero_u64() -> u64 {
    loop {
        let v = uuid::Uuid::new_v4().as_u64_pair().0;
        if v != 0 {
            return v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_the_w3c_example_and_round_trips() {
        let t = TraceContext::parse(SAMPLE).unwrap();
        assert_eq!(t.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(t.span_id(), "b7ad6b7169203331");
        assert!(t.sampled());
        assert_eq!(t.traceparent(), SAMPLE);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "|0af7651916cd43dd8448eb211c80319c.b7ad6b7169203331.",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333ü-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
        // A future version with extra fields is read by its 00 prefix.
        assert!(TraceContext::parse(&format!("01{}-what", &SAMPLE[2..])).is_some());
    }

    #[test]
    fn invocation_continues_the_message_and_prefers_the_host_span_of_the_same_trace() {
        let from_message = TraceContext::for_invocation(Some(SAMPLE), None);
        assert_eq!(from_message.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(
            from_message.parent_span_id().as_deref(),
            Some("b7ad6b7169203331")
        );
        assert_ne!(from_message.span_id(), "b7ad6b7169203331");

        let host = "00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01";
        let under_host = TraceContext::for_invocation(Some(SAMPLE), Some(host));
        assert_eq!(
            under_host.parent_span_id().as_deref(),
            Some("1111111111111111")
        );

        let other_trace = "00-99999999999999999999999999999999-1111111111111111-01";
        let kept = TraceContext::for_invocation(Some(SAMPLE), Some(other_trace));
        assert_eq!(kept.trace_id(), "0af7651916cd43dd8448eb211c80319c");

        let header_only = TraceContext::for_invocation(None, Some(other_trace));
        assert_eq!(header_only.trace_id(), "99999999999999999999999999999999");

        let root = TraceContext::for_invocation(Some("garbage"), None);
        assert_eq!(root.parent_span_id(), None);
        assert_eq!(root.traceparent().len(), 55);
    }

    #[tokio::test]
    async fn current_is_set_only_inside_the_scope() {
        assert_eq!(TraceContext::current(), None);
        let t = TraceContext::root();
        let seen = t.scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(t));
    }
}
