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

/// A request that got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host name does not exist in DNS (the resolver answered "no such name", not "try
    /// again"): no retry changes that until the name, or the DNS the app uses, is fixed.
    #[error("host {host} does not resolve ({detail})")]
    HostNotFound {
        /// The host name asked for.
        host: String,
        /// The resolver's answer.
        detail: String,
    },
    /// Connection refused or reset, a timeout, a TLS failure, a resolver that did not answer:
    /// trying again later may work.
    #[error("{0}")]
    Failed(String),
}

impl TransportError {
    /// Whether trying again later may succeed (everything but a name that does not exist).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Failed(_))
    }

    /// The host that does not resolve, if that is what happened.
    pub fn unresolved_host(&self) -> Option<&str> {
        match self {
            Self::HostNotFound { host, .. } => Some(host),
            Self::Failed(_) => None,
        }
    }

    /// Classifies a reqwest error of a request to `url`.
    pub(crate) fn from_reqwest(e: &reqwest::Error, url: Option<&url::Url>) -> Self {
        let text = error_text(e);
        let host = url
            .or(e.url())
            .and_then(|u| u.host_str())
            .map(str::to_owned);
        match host {
            Some(host) if e.is_connect() && is_no_such_name(&text) => {
                Self::HostNotFound { host, detail: text }
            }
            _ => Self::Failed(text),
        }
    }
}

/// Whether a connection error's text (the whole source chain) is the resolver saying the name
/// does not exist. hyper-util's resolver reports `dns error` followed by the system resolver's
/// message: `getaddrinfo`'s `EAI_NONAME` / `EAI_NODATA` as glibc, musl, macOS and Windows word
/// them. `EAI_AGAIN` ("Temporary failure in name resolution": no DNS server answered) is not
/// one of them: that may pass.
pub(crate) fn is_no_such_name(text: &str) -> bool {
    const NO_SUCH_NAME: [&str; 5] = [
        "name or service not known",
        "no address associated with hostname",
        "nodename nor servname provided, or not known",
        "name does not resolve",
        "no such host is known",
    ];
    let t = text.to_ascii_lowercase();
    t.contains("dns error") && NO_SUCH_NAME.iter().any(|m| t.contains(m))
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
/// the last attempt got no response. A host that does not resolve is not retried.
pub(crate) async fn send_with_retries(
    policy: &crate::arm::RetryPolicy,
    what: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<RawResponse, TransportError> {
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
                    Err(e) => Err(TransportError::Failed(error_text(&e))),
                }
            }
            Err(e) => Err(TransportError::from_reqwest(&e, None)),
        };
        let (retryable, server_wait) = match &outcome {
            Ok(r) if r.status == 429 || r.status >= 500 => {
                (true, crate::arm::retry_after_header(&r.headers))
            }
            Ok(_) => (false, None),
            Err(e) => (e.is_transient(), None),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_name_the_resolver_does_not_know_is_permanent() {
        for text in [
            "connection failed: client error (Connect): dns error: failed to lookup address information: Name or service not known",
            "connection failed: client error (Connect): dns error: failed to lookup address information: nodename nor servname provided, or not known",
            "connection failed: dns error: No such host is known. (os error 11001)",
        ] {
            assert!(is_no_such_name(text), "{text}");
        }
        for text in [
            "connection failed: client error (Connect): dns error: failed to lookup address information: Temporary failure in name resolution",
            "connection failed: client error (Connect): tcp connect error: Connection refused (os error 111)",
            // The words alone, without the resolver's `dns error`, are not enough.
            "request failed: Name or service not known",
        ] {
            assert!(!is_no_such_name(text), "{text}");
        }
    }

    #[tokio::test]
    async fn a_host_that_does_not_resolve_is_named_and_not_retried() {
        let policy = crate::arm::RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(2),
            ..crate::arm::RetryPolicy::default()
        };
        let started = std::time::Instant::now();
        // `.invalid` never resolves (RFC 2606).
        let url = "https://imageferry-no-such-vault.invalid/secrets/x";
        let err = send_with_retries(&policy, "test", || new_client().get(url))
            .await
            .unwrap_err();
        match &err {
            TransportError::HostNotFound { host, .. } => {
                assert_eq!(host, "imageferry-no-such-vault.invalid");
                assert!(!err.is_transient());
                assert!(started.elapsed() < Duration::from_secs(2), "not retried");
            }
            // A machine whose resolver does not answer at all cannot tell.
            TransportError::Failed(text) if text.contains("Temporary failure") => {
                eprintln!("skipped: this machine's resolver does not answer ({text})");
            }
            other => panic!("expected HostNotFound, got {other:?}"),
        }
        let refused = send_with_retries(
            &crate::arm::RetryPolicy {
                max_attempts: 1,
                ..policy
            },
            "test",
            || new_client().get("http://127.0.0.1:9/"),
        )
        .await
        .unwrap_err();
        assert!(refused.is_transient(), "{refused:?}");
    }
}
