//! In-process fakes (plain axum on 127.0.0.1:0) shared by the integration tests.
#![allow(dead_code)]

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use azure_clients::{AccessToken, SecretString, TokenError, TokenProvider, TokenSource};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Serves `router` on an ephemeral loopback port; returns its base URL.
pub async fn serve(router: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Url::parse(&format!("http://{addr}/")).unwrap()
}

/// Variables from a list of pairs.
pub fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// One request the fake Entra received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub tenant: String,
    pub form: HashMap<String, String>,
}

/// What the fake Entra answers for a tenant.
#[derive(Clone)]
pub enum Answer {
    Token,
    /// Entra-style JSON error: status, AADSTS code, description.
    Error(u16, i64, &'static str),
    /// A non-JSON error page.
    Page(u16),
}

/// A managed-identity request: query parameters and the `X-IDENTITY-HEADER` value.
pub type MiRequest = (HashMap<String, String>, Option<String>);

#[derive(Default)]
pub struct EntraState {
    pub requests: Mutex<Vec<TokenRequest>>,
    pub answers: Mutex<HashMap<String, Answer>>,
    pub delay: Mutex<Duration>,
    pub issued: AtomicUsize,
    pub mi_requests: Mutex<Vec<MiRequest>>,
}

impl EntraState {
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// A fake Entra v2 token endpoint plus an App Service managed identity endpoint (`/msi/token`).
pub async fn fake_entra() -> (Url, Arc<EntraState>) {
    let state = Arc::new(EntraState::default());
    let router = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
        .route("/msi/token", axum::routing::get(msi))
        .with_state(state.clone());
    (serve(router).await, state)
}

async fn token(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.requests.lock().unwrap().push(TokenRequest {
        tenant: tenant.clone(),
        form: form.clone(),
    });
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = state
        .answers
        .lock()
        .unwrap()
        .get(&tenant)
        .cloned()
        .unwrap_or(Answer::Token);
    match answer {
        Answer::Token => {
            let n = state.issued.fetch_add(1, Ordering::SeqCst);
            let scope = form.get("scope").cloned().unwrap_or_default();
            axum::Json(serde_json::json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": format!("at-{tenant}-{scope}-{n}"),
            }))
            .into_response()
        }
        Answer::Error(status, code, description) => (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": format!("AADSTS{code}: {description} Trace ID: 0000 Correlation ID: 1111 Timestamp: 2026-01-01 00:00:00Z"),
                "error_codes": [code],
                "timestamp": "2026-01-01 00:00:00Z",
                "trace_id": "0000",
                "correlation_id": "1111",
            })),
        )
            .into_response(),
        Answer::Page(status) => (
            StatusCode::from_u16(status).unwrap(),
            "<html>Service Unavailable</html>",
        )
            .into_response(),
    }
}

pub const MI_HEADER: &str = "mi-header-secret-value";
pub const MI_TOKEN: &str = "mi-federated-assertion-token";

async fn msi(
    State(state): State<Arc<EntraState>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let header = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .mi_requests
        .lock()
        .unwrap()
        .push((query.clone(), header.clone()));
    if header.as_deref() != Some(MI_HEADER) {
        return (StatusCode::UNAUTHORIZED, "bad identity header").into_response();
    }
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    axum::Json(serde_json::json!({
        "access_token": MI_TOKEN,
        "expires_on": expires.to_string(),
        "resource": query.get("resource"),
        "token_type": "Bearer",
        "client_id": "mi-client",
    }))
    .into_response()
}

/// Tokens `t-{tenant}` that never expire; counts fetches.
#[derive(Default)]
pub struct StaticTokens {
    pub fetches: AtomicUsize,
}

impl TokenSource for StaticTokens {
    fn fetch(
        &self,
        tenant: &str,
        _scope: &str,
    ) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let token = format!("t-{tenant}");
        async move {
            Ok(AccessToken {
                token: SecretString::new(token),
                expires_on: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            })
        }
        .boxed()
    }
}

pub fn static_tokens() -> Arc<TokenProvider> {
    Arc::new(TokenProvider::with_source(
        Arc::new(StaticTokens::default()),
    ))
}

/// Captures tracing output into a buffer for the duration of the returned guard.
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// One request a fake ARM received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// How many earlier requests had the same method and path.
    pub seen: usize,
    pub at: std::time::Instant,
}

impl Recorded {
    /// `http://host:port` of the server, from the `Host` header.
    pub fn origin(&self) -> String {
        format!("http://{}", self.headers["host"])
    }
}

pub type Log = Arc<Mutex<Vec<Recorded>>>;

/// A fake server answering every request with `handler`; records requests.
pub async fn fake_server<F>(handler: F) -> (Url, Log)
where
    F: Fn(&Recorded) -> Response + Send + Sync + 'static,
{
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let handler = Arc::new(handler);
    let state = (log.clone(), handler);
    let router = Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: HeaderMap,
              body: String| {
            let (log, handler) = state.clone();
            async move {
                let headers: HashMap<String, String> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                let recorded = {
                    let mut log = log.lock().unwrap();
                    let seen = log
                        .iter()
                        .filter(|r| r.method == method.as_str() && r.path == uri.path())
                        .count();
                    let r = Recorded {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        query: uri.query().unwrap_or("").to_owned(),
                        headers,
                        body,
                        seen,
                        at: std::time::Instant::now(),
                    };
                    log.push(r.clone());
                    r
                };
                handler(&recorded)
            }
        },
    );
    (serve(router).await, log)
}

/// A JSON response with extra headers.
pub fn json(status: u16, body: serde_json::Value, headers: &[(&str, String)]) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    for (k, v) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    response
}

/// An ARM error body.
pub fn arm_error(status: u16, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({"error": {"code": code, "message": message}}),
        &[],
    )
}
