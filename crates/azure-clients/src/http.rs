//! The one reqwest client configuration used by every client in this crate (rustls with ring).

use std::sync::{Once, OnceLock};
use std::time::Duration;

static RING_PROVIDER: Once = Once::new();

/// Installs rustls' ring crypto provider as the process default, once, for code that builds its
/// own rustls configuration. (reqwest itself is built with `rustls-tls`, which uses ring.)
/// If another provider was installed first (by the embedding binary), that one is kept.
pub fn install_crypto_provider() {
    RING_PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A handle to an HTTP client: by default the process's shared reqwest client, built on first
/// use. Dereferences to [`reqwest::Client`].
///
/// The shared client uses rustls (ring), follows no redirects (ARM and Entra never need them, and
/// following one would leak the bearer token to another host), and bounds connect and request
/// time. It is built once, lazily: building a client parses the web PKI roots into a TLS
/// configuration, which dominated the handler's start when ARM, Entra, Service Bus and Key Vault
/// each built their own at start-up (measured with `scripts/bench.sh`).
#[derive(Clone, Debug, Default)]
pub enum HttpClient {
    /// The process's shared client.
    #[default]
    Shared,
    /// A client of the caller's.
    Custom(reqwest::Client),
}

impl std::ops::Deref for HttpClient {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
        match self {
            HttpClient::Custom(c) => c,
            HttpClient::Shared => CLIENT.get_or_init(|| {
                install_crypto_provider();
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(Duration::from_secs(60))
                    .build()
                    .expect("reqwest client with rustls builds")
            }),
        }
    }
}

impl From<reqwest::Client> for HttpClient {
    fn from(c: reqwest::Client) -> Self {
        HttpClient::Custom(c)
    }
}

/// The shared client (see [`HttpClient`]); nothing is built until the first request.
pub fn new_client() -> HttpClient {
    HttpClient::Shared
}

/// A reqwest error as text without its URL (URLs may carry SAS signatures or secret ids).
pub(crate) fn error_text(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_decode() || e.is_body() {
        "response body failed"
    } else {
        "request failed"
    };
    let mut msg = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// A response read to the end.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends the request `build` makes, retrying on 429, 5xx and connection errors with
/// [`RetryPolicy`](crate::arm::RetryPolicy) backoff (or the server's `Retry-After`), within its
/// attempt and total-time budget. Returns the last response whatever its status; `Err` only when
/// the last attempt got no response.
pub(crate) async fn send_with_retries(
    policy: &crate::arm::RetryPolicy,
    what: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<RawResponse, String> {
    let start = std::time::Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let outcome = match build().send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(bytes) => Ok(RawResponse {
                        status,
                        headers,
                        body: bytes.to_vec(),
                    }),
                    Err(e) => Err(error_text(&e)),
                }
            }
            Err(e) => Err(error_text(&e)),
        };
        let (retryable, server_wait) = match &outcome {
            Ok(r) if r.status == 429 || r.status >= 500 => {
                (true, crate::arm::retry_after_header(&r.headers))
            }
            Ok(_) => (false, None),
            Err(_) => (true, None),
        };
        if !retryable {
            return outcome;
        }
        let delay = server_wait.unwrap_or_else(|| policy.backoff(attempt));
        if attempt >= policy.max_attempts.max(1) || start.elapsed() + delay > policy.max_total {
            return outcome;
        }
        tracing::info!(
            what,
            attempt,
            status = outcome.as_ref().map(|r| r.status).unwrap_or(0),
            delay_ms = delay.as_millis() as u64,
            "retrying request"
        );
        tokio::time::sleep(delay).await;
    }
}
