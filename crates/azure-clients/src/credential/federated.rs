//! The workload identity's federated token (the client assertion of the app registration), fetched
//! fresh for every token exchange, so a credential outlives the few minutes a CI system's token
//! lives:
//!
//! - **a token file** (`AZURE_FEDERATED_TOKEN_FILE`, Kubernetes workload identity and anything that
//!   writes one): read again for every exchange;
//! - **GitHub Actions' OIDC endpoint** (a job with `permissions: id-token: write` gets
//!   `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`):
//!   `GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=api%3A%2F%2FAzureADTokenExchange` with
//!   `Authorization: Bearer {ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, answer `{"value": "<jwt>"}`
//!   (what `core.getIDToken` of actions/toolkit, used by azure/login, sends);
//! - **Azure Pipelines' OIDC endpoint** (`SYSTEM_OIDCREQUESTURI`, the service connection id in
//!   `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`, the job token in `SYSTEM_ACCESSTOKEN`):
//!   `POST {SYSTEM_OIDCREQUESTURI}?api-version=7.1&serviceConnectionId={id}` with
//!   `Authorization: Bearer {SYSTEM_ACCESSTOKEN}`, `X-TFS-FedAuthRedirect: Suppress` and an empty
//!   body, answer `{"oidcToken": "<jwt>"}` (what azure_identity's `AzurePipelinesCredential` sends;
//!   it is not used itself because it reads `SYSTEM_OIDCREQUESTURI` only from the process
//!   environment, as its managed identity credential does).
//!
//! Errors name the endpoint (without its query) and never carry the request token.

use crate::redact::{REDACTED, SecretString};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use url::Url;

/// The Azure DevOps REST API version of the OIDC token request (as the Azure SDKs send it).
const PIPELINES_API_VERSION: &str = "7.1";

/// Where the workload identity's federated token comes from.
#[derive(Debug, Clone)]
pub enum FederatedSource {
    /// A file holding the token, read again for every exchange (`AZURE_FEDERATED_TOKEN_FILE`).
    File(PathBuf),
    /// GitHub Actions' OIDC endpoint.
    GitHubActions {
        /// `ACTIONS_ID_TOKEN_REQUEST_URL`.
        request_url: Url,
        /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
        request_token: SecretString,
    },
    /// Azure Pipelines' OIDC endpoint for one service connection.
    AzurePipelines {
        /// `SYSTEM_OIDCREQUESTURI`.
        oidc_request_uri: Url,
        /// `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`.
        service_connection_id: String,
        /// `SYSTEM_ACCESSTOKEN`.
        access_token: SecretString,
    },
}

/// The CI system whose OIDC endpoint issues the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcProvider {
    /// GitHub Actions.
    GitHubActions,
    /// Azure Pipelines.
    AzurePipelines,
}

impl fmt::Display for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GitHubActions => "GitHub Actions",
            Self::AzurePipelines => "Azure Pipelines",
        })
    }
}

/// Why no federated token could be had. Never carries the request token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FederatedTokenError {
    /// The token file is missing, unreadable or empty.
    #[error("federated token file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The OIDC endpoint could not be reached (DNS, connection, timeout).
    #[error("{provider} OIDC endpoint {endpoint} unreachable: {reason}")]
    Unreachable {
        /// Whose endpoint.
        provider: OidcProvider,
        /// The endpoint, without its query.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// The OIDC endpoint answered an error status.
    #[error("{provider} OIDC endpoint {endpoint} answered HTTP {status}{detail}")]
    Status {
        /// Whose endpoint.
        provider: OidcProvider,
        /// The endpoint, without its query.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// `: ` and the start of the answer, when it said something.
        detail: String,
    },
    /// The OIDC endpoint answered 200 without a token.
    #[error("{provider} OIDC endpoint {endpoint} answered without a token: {reason}")]
    Malformed {
        /// Whose endpoint.
        provider: OidcProvider,
        /// The endpoint, without its query.
        endpoint: String,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl FederatedTokenError {
    /// Whether trying again later may help (unreachable, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::File { .. } | Self::Malformed { .. } => false,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::File { .. } => Some(
                "AZURE_FEDERATED_TOKEN_FILE must name a file holding the current federated token (the platform that mounts it refreshes it); in GitHub Actions or Azure Pipelines leave it unset and imageferry asks the job's OIDC endpoint itself",
            ),
            Self::Status {
                provider: OidcProvider::GitHubActions,
                status: 401 | 403 | 404,
                ..
            } => Some(
                "the job needs `permissions: id-token: write`, and ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN must be the running job's (they are valid only while it runs)",
            ),
            Self::Status {
                provider: OidcProvider::AzurePipelines,
                status: 400..=499,
                ..
            } => Some(
                "map the job token into the step (`env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`), and set AZURESUBSCRIPTION_SERVICE_CONNECTION_ID to the id of a workload identity federation service connection this pipeline may use",
            ),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct GitHubAnswer {
    value: Option<String>,
}

#[derive(Deserialize)]
struct PipelinesAnswer {
    #[serde(rename = "oidcToken")]
    oidc_token: Option<String>,
}

/// Fetches the federated token from its [`FederatedSource`], every time it is asked.
pub struct FederatedAssertion {
    http: crate::http::HttpClient,
    source: FederatedSource,
    audience: &'static str,
}

impl fmt::Debug for FederatedAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedAssertion")
            .field("source", &self.source)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl FederatedAssertion {
    /// `audience` is the cloud's token-exchange audience (asked of GitHub Actions; Azure
    /// Pipelines' tokens always carry `api://AzureADTokenExchange`).
    pub fn new(
        http: crate::http::HttpClient,
        source: FederatedSource,
        audience: &'static str,
    ) -> Self {
        Self {
            http,
            source,
            audience,
        }
    }

    /// A fresh federated token.
    pub async fn assertion(&self) -> Result<SecretString, FederatedTokenError> {
        match &self.source {
            FederatedSource::File(path) => read_file(path).await,
            FederatedSource::GitHubActions {
                request_url,
                request_token,
            } => {
                let provider = OidcProvider::GitHubActions;
                let mut url = request_url.clone();
                url.query_pairs_mut().append_pair("audience", self.audience);
                let request = self
                    .http
                    .get(url)
                    .bearer_auth(request_token.expose())
                    .header(reqwest::header::ACCEPT, "application/json");
                let body = send(provider, request_url, request_token, request).await?;
                let answer: GitHubAnswer = parse(provider, request_url, &body)?;
                token(provider, request_url, answer.value)
            }
            FederatedSource::AzurePipelines {
                oidc_request_uri,
                service_connection_id,
                access_token,
            } => {
                let provider = OidcProvider::AzurePipelines;
                let mut url = oidc_request_uri.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", PIPELINES_API_VERSION)
                    .append_pair("serviceConnectionId", service_connection_id);
                let request = self
                    .http
                    .post(url)
                    .bearer_auth(access_token.expose())
                    .header("X-TFS-FedAuthRedirect", "Suppress")
                    .header(reqwest::header::CONTENT_LENGTH, "0");
                let body = send(provider, oidc_request_uri, access_token, request).await?;
                let answer: PipelinesAnswer = parse(provider, oidc_request_uri, &body)?;
                token(provider, oidc_request_uri, answer.oidc_token)
            }
        }
    }
}

async fn read_file(path: &std::path::Path) -> Result<SecretString, FederatedTokenError> {
    let error = |reason: String| FederatedTokenError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| error(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(error("the file is empty".into()));
    }
    Ok(SecretString::new(token))
}

/// The endpoint as errors show it: scheme, host, port and path; no query, no user info.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Sends `request`; the body of a 2xx answer, or the error naming the endpoint.
async fn send(
    provider: OidcProvider,
    endpoint: &Url,
    secret: &SecretString,
    request: reqwest::RequestBuilder,
) -> Result<Vec<u8>, FederatedTokenError> {
    let unreachable = |reason: String| FederatedTokenError::Unreachable {
        provider,
        endpoint: shown(endpoint),
        reason,
    };
    let response = request
        .send()
        .await
        .map_err(|e| unreachable(crate::http::error_text(&e)))?;
    let status = response.status();
    // The ids the services' support asks for (azure_identity keeps the same two for Pipelines).
    let trace = ["x-vss-e2eid", "x-msedge-ref", "x-github-request-id"]
        .iter()
        .filter_map(|h| {
            let v = response.headers().get(*h)?.to_str().ok()?;
            Some(format!("{h}: {v}"))
        })
        .collect::<Vec<_>>();
    let body = response
        .bytes()
        .await
        .map_err(|e| unreachable(crate::http::error_text(&e)))?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let first = text.lines().next().unwrap_or_default().trim();
    let mut said: Vec<String> = Vec::new();
    if !first.is_empty() {
        said.push(scrub(first, secret));
    }
    said.extend(trace);
    Err(FederatedTokenError::Status {
        provider,
        endpoint: shown(endpoint),
        status: status.as_u16(),
        detail: if said.is_empty() {
            String::new()
        } else {
            format!(": {}", said.join("; "))
        },
    })
}

/// `text` with the request token, should the endpoint echo it, replaced by [`REDACTED`].
fn scrub(text: &str, secret: &SecretString) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret.expose(), REDACTED)
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    provider: OidcProvider,
    endpoint: &Url,
    body: &[u8],
) -> Result<T, FederatedTokenError> {
    serde_json::from_slice(body).map_err(|e| FederatedTokenError::Malformed {
        provider,
        endpoint: shown(endpoint),
        reason: format!("not the expected JSON ({e})"),
    })
}

fn token(
    provider: OidcProvider,
    endpoint: &Url,
    value: Option<String>,
) -> Result<SecretString, FederatedTokenError> {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(v) => Ok(SecretString::new(v)),
        None => Err(FederatedTokenError::Malformed {
            provider,
            endpoint: shown(endpoint),
            reason: match provider {
                OidcProvider::GitHubActions => "no \"value\" in the answer".into(),
                OidcProvider::AzurePipelines => "no \"oidcToken\" in the answer".into(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_shown_without_query_or_user_info() {
        let u = Url::parse(
            "https://user:pw@pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0&x=1",
        )
        .unwrap();
        assert_eq!(
            shown(&u),
            "https://pipelines.actions.githubusercontent.com/abc/idtoken"
        );
    }

    #[test]
    fn echoed_request_tokens_are_scrubbed() {
        let s = SecretString::new("req-token-123");
        assert_eq!(
            scrub("bad token req-token-123 given", &s),
            format!("bad token {REDACTED} given")
        );
    }
}
