//! Fault injection for `imageferry dev --chaos`: a loopback proxy in front of the Entra stand-in
//! that refuses token requests during outages, and the schedule that SIGKILLs the handler and
//! kills and restarts the Service Bus stand-in mid-run. ARM 429/5xx come from azure-sim's own
//! `[faults]` (set through `POST /_sim/faults`); duplicate deliveries from the local host's
//! `redeliver_after_success` and from requests sent twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The token-endpoint proxy.
#[derive(Clone)]
pub struct TokenProxy {
    inner: Arc<ProxyState>,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    outage_until_ms: AtomicI64,
    /// Refused per ten token requests during an outage (10 = all).
    refuse_per_ten: AtomicU64,
    seen: AtomicU64,
    refused: AtomicU64,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl TokenProxy {
    /// Starts forwarding to `upstream` (azure-sim).
    pub async fn start(upstream: &str) -> Result<Self, std::io::Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            outage_until_ms: AtomicI64::new(0),
            refuse_per_ten: AtomicU64::new(10),
            seen: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { inner, base_url })
    }

    /// Refuses `fraction` (0..=1, in tenths, evenly spread) of the token requests for `length`
    /// from now.
    pub fn outage(&self, length: Duration, fraction: f64) {
        self.inner.refuse_per_ten.store(
            (fraction.clamp(0.0, 1.0) * 10.0).round() as u64,
            Ordering::SeqCst,
        );
        self.inner
            .outage_until_ms
            .store(now_ms() + length.as_millis() as i64, Ordering::SeqCst);
    }

    /// Token requests refused so far.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::SeqCst)
    }
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if path.ends_with("/oauth2/v2.0/token")
        && now_ms() < state.outage_until_ms.load(Ordering::SeqCst)
        && state.seen.fetch_add(1, Ordering::SeqCst) % 10
            < state.refuse_per_ten.load(Ordering::SeqCst)
    {
        state.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            r#"{"error":"temporarily_unavailable","error_description":"The token endpoint is unavailable (outage injected by imageferry dev --chaos)."}"#,
        )
            .into_response();
    }
    let target = format!(
        "{}{}",
        state.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = state.http.request(method, target).body(body);
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let mut out = HeaderMap::new();
            for (name, value) in answer.headers() {
                if !matches!(
                    name.as_str(),
                    "content-length" | "connection" | "transfer-encoding"
                ) {
                    out.insert(name.clone(), value.clone());
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("token proxy: {e}")).into_response(),
    }
}
