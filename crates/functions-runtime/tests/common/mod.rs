//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use functions_runtime::{
    BodyDecodeError, Error, Functions, Invocation, InvocationResult, ServiceBusMessage,
    TriggerOptions, service_fn,
};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// Path of a file in the repository's `reference/functions` folder.
pub fn reference(name: &str) -> String {
    format!(
        "{}/../../reference/functions/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Reads a reference file.
pub fn read_reference(name: &str) -> String {
    std::fs::read_to_string(reference(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An answer from the router.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Value,
}

/// Sends `request` through the router in process.
pub async fn send(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "answer is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Answer {
        status,
        content_type,
        body,
    }
}

/// `POST /<function>` with a JSON body and optional invocation id header.
pub fn post(function: &str, body: impl Into<Body>, invocation_id: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(format!("/{function}"))
        .header("content-type", "application/json; charset=utf-8");
    if let Some(id) = invocation_id {
        builder = builder.header("x-azure-functions-invocationid", id);
    }
    builder.body(body.into()).unwrap()
}

/// Converts the JavaScript-literal notation of `host-pr5028-queue-request.txt` to JSON: unquoted
/// keys get quotes, single-quoted strings become JSON strings. Only what that file uses.
pub fn js_literal_to_json(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    let chars: Vec<char> = literal.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .map(|p| i + 1 + p)
                .expect("unterminated string");
            let content: String = chars[i + 1..end].iter().collect();
            out.push_str(&serde_json::to_string(&content).unwrap());
            i = end + 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push_str(&serde_json::to_string(&word).unwrap());
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The `n`-th top-level `{...}` block of `text` (braces inside quotes are skipped).
pub fn brace_block(text: &str, n: usize) -> &str {
    let bytes = text.as_bytes();
    let mut found = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let start = i;
            let mut depth = 0;
            let mut quote: Option<u8> = None;
            while i < bytes.len() {
                let b = bytes[i];
                match quote {
                    Some(q) if b == q => quote = None,
                    Some(_) => {}
                    None if b == b'\'' || b == b'"' => quote = Some(b),
                    None if b == b'{' => depth += 1,
                    None if b == b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    None => {}
                }
                i += 1;
            }
            if found == n {
                return &text[start..=i];
            }
            found += 1;
        }
        i += 1;
    }
    panic!("no block {n}");
}

/// What a recording function has received (the Result form: undecodable bodies reach it too).
pub type Seen<T> = Arc<Mutex<Vec<Invocation<ServiceBusMessage<Result<T, BodyDecodeError>>>>>>;

/// A router with one function `name` (trigger `options`) that records what it receives.
pub fn recording<T>(name: &str, options: TriggerOptions) -> (Router, Seen<T>)
where
    T: serde::de::DeserializeOwned + Send + Sync + Clone + 'static,
{
    let seen: Seen<T> = Arc::default();
    let sink = Arc::clone(&seen);
    let router = Functions::new()
        .service_bus_with(
            name,
            options,
            service_fn(
                move |inv: Invocation<ServiceBusMessage<Result<T, BodyDecodeError>>>| {
                    let sink = Arc::clone(&sink);
                    async move {
                        sink.lock().unwrap().push(inv);
                        Ok::<_, Error>(InvocationResult::default())
                    }
                },
            ),
        )
        .into_router();
    (router, seen)
}

/// Log lines captured by [`capture_logs`].
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    /// Every captured line, parsed.
    pub fn json(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the runtime's JSON layer (at `filter`) on this thread, writing into the returned
/// lines, until the guard drops. Use with a current-thread runtime (`#[tokio::test]`), and only
/// in test binaries whose every test installs it first: `tracing` caches per-callsite interest,
/// and a callsite first reached by a test without a subscriber may stay silent for the others.
pub fn capture_logs(filter: &str) -> (Lines, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let lines = Lines::default();
    let writer = lines.clone();
    let layer = functions_runtime::telemetry::json_layer(move || writer.clone())
        .with_filter(functions_runtime::telemetry::env_filter(filter).unwrap());
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (lines, guard)
}
