//! The Function App's managed identity as a federated credential of the app registration.
//!
//! The managed identity's token for the cloud's token-exchange audience
//! ([`Cloud::token_exchange_audience`](crate::Cloud::token_exchange_audience):
//! `api://AzureADTokenExchange`, `...USGov`, `...China`) is the client assertion of the app
//! registration in every tenant (learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
//! It is fetched from the App Service identity endpoint
//! (learn.microsoft.com/azure/app-service/overview-managed-identity, "REST endpoint reference"):
//! `GET {IDENTITY_ENDPOINT}?resource={audience}&api-version=2019-08-01[&client_id=..]`
//! with header `X-IDENTITY-HEADER: {IDENTITY_HEADER}`.
//!
//! Why not azure_identity's `ManagedIdentityCredential`: in 1.0 it reads `IDENTITY_ENDPOINT` and
//! `IDENTITY_HEADER` only from the process environment (its `env` option is `cfg(test)`), so it
//! cannot be configured from [`CredentialConfig::from_vars`](super::CredentialConfig::from_vars) or
//! pointed at an in-process stand-in. The token exchange itself still goes through azure_identity's
//! `ClientAssertionCredential`.

use crate::redact::SecretString;
use serde::Deserialize;
use std::fmt;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;
use url::Url;

const API_VERSION: &str = "2019-08-01";
/// Reuse the managed-identity token while it has at least this long to live.
const REUSE_MARGIN: Duration = Duration::minutes(5);

/// Why the managed identity endpoint gave no token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ManagedIdentityError {
    /// Unreachable, 5xx or 429: retry later.
    #[error("managed identity endpoint unavailable: {0}")]
    Unavailable(String),
    /// Refused (4xx) or answered nonsense.
    #[error("managed identity endpoint refused the request: {0}")]
    Refused(String),
}

#[derive(Deserialize)]
struct MiTokenResponse {
    access_token: String,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Fetches (and reuses) the managed identity's token-exchange token.
pub struct ManagedIdentityAssertion {
    http: crate::http::HttpClient,
    endpoint: Url,
    header: SecretString,
    client_id: Option<String>,
    audience: &'static str,
    cached: Mutex<Option<(SecretString, OffsetDateTime)>>,
}

impl fmt::Debug for ManagedIdentityAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityAssertion")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityAssertion {
    /// Uses the endpoint and header App Service provides; `client_id` picks a user-assigned
    /// identity; `audience` is the cloud's token-exchange audience.
    pub fn new(
        http: crate::http::HttpClient,
        endpoint: Url,
        header: SecretString,
        client_id: Option<String>,
        audience: &'static str,
    ) -> Self {
        Self {
            http,
            endpoint,
            header,
            client_id,
            audience,
            cached: Mutex::new(None),
        }
    }

    /// The managed identity's token for the token-exchange audience.
    pub async fn assertion(&self) -> Result<SecretString, ManagedIdentityError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && *expires - REUSE_MARGIN > OffsetDateTime::now_utc()
        {
            return Ok(token.clone());
        }
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("resource", self.audience)
            .append_pair("api-version", API_VERSION);
        if let Some(id) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", id);
        }
        let response = self
            .http
            .get(url)
            .header("X-IDENTITY-HEADER", self.header.expose())
            .send()
            .await
            .map_err(|e| ManagedIdentityError::Unavailable(crate::http::error_text(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ManagedIdentityError::Unavailable(crate::http::error_text(&e)))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ManagedIdentityError::Unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(ManagedIdentityError::Refused(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(512)])
            )));
        }
        let parsed: MiTokenResponse = serde_json::from_slice(&body).map_err(|e| {
            ManagedIdentityError::Refused(format!("unexpected token response: {e}"))
        })?;
        let now = OffsetDateTime::now_utc();
        let expires = number(parsed.expires_on.as_ref())
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .or_else(|| number(parsed.expires_in.as_ref()).map(|s| now + Duration::seconds(s)))
            .unwrap_or(now + Duration::minutes(10));
        let token = SecretString::new(parsed.access_token);
        *cached = Some((token.clone(), expires));
        Ok(token)
    }
}

/// `expires_on` is a string of Unix seconds in the 2019-08-01 API; accept a number too.
fn number(v: Option<&serde_json::Value>) -> Option<i64> {
    match v? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
