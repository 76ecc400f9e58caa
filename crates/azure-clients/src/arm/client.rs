//! [`ArmClient`]: GET/PUT/PATCH/POST against ARM with retries, LRO polling and the
//! auxiliary-tenant header.

use super::error::ArmError;
use super::lro::{OperationRef, OperationState, OperationStatus, OperationStatusBody, PollKind};
use super::retry::{RetryPolicy, retry_after};
use crate::endpoints::{Endpoints, same_origin};
use crate::redact::SecretString;
use crate::token::TokenProvider;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;

use url::Url;

/// ARM accepts at most three tokens in `x-ms-authorization-auxiliary`
/// (learn.microsoft.com/azure/azure-resource-manager/management/authenticate-multi-tenant).
pub const MAX_AUXILIARY_TOKENS: usize = 3;
const AUX_HEADER: &str = "x-ms-authorization-auxiliary";
const MAX_PAGES: usize = 100;

/// A write of one resource: a PUT (create-or-update), a PATCH (update) or a POST (an action such
/// as `manualupgrade`).
#[derive(Debug)]
pub struct PutRequest<'a, B> {
    /// Tenant owning the target subscription (the primary token's tenant).
    pub tenant: &'a str,
    /// Tenants whose tokens go into `x-ms-authorization-auxiliary` (at most 3), e.g. the gallery's.
    pub aux_tenants: &'a [&'a str],
    /// Resource path, e.g. `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub path: &'a str,
    /// `api-version`.
    pub api_version: &'a str,
    /// The resource body.
    pub body: &'a B,
}

impl<B> Clone for PutRequest<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for PutRequest<'_, B> {}

/// The answer to a PUT: 200/201 (maybe still provisioning) or 202.
#[derive(Debug, Clone)]
pub struct Accepted<T> {
    /// HTTP status (200, 201 or 202).
    pub status: u16,
    /// The response body, if there was one.
    pub body: Option<T>,
    /// The operation to poll, if ARM returned `Azure-AsyncOperation` or `Location`.
    pub operation: Option<OperationRef>,
}

/// A response after retries.
struct Raw {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn error(&self) -> ArmError {
        ArmError::from_response(self.status, &self.body, retry_after(&self.headers))
    }
}

/// ARM client for one cloud (or a local stand-in). Cheap to clone.
#[derive(Clone)]
pub struct ArmClient {
    http: crate::http::HttpClient,
    endpoints: Arc<Endpoints>,
    tokens: Arc<TokenProvider>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.endpoints.arm.as_str())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client for `endpoints.arm`, with tokens for `endpoints.arm_scope`.
    pub fn new(endpoints: Endpoints, tokens: Arc<TokenProvider>, retry: RetryPolicy) -> Self {
        Self {
            http: crate::http::new_client(),
            endpoints: Arc::new(endpoints),
            tokens,
            retry,
        }
    }

    /// The configured endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// GET a resource; 404 is [`ArmError::NotFound`].
    pub async fn get<T: DeserializeOwned>(
        &self,
        tenant: &str,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ArmError> {
        self.get_optional(tenant, path, api_version, query)
            .await?
            .ok_or_else(|| ArmError::NotFound {
                code: "NotFound".into(),
                message: format!("{path} does not exist"),
            })
    }

    /// GET a resource; 404 (or `ResourceNotFound`/`ResourceGroupNotFound`) is `None`.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        tenant: &str,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<T>, ArmError> {
        let url = self.url(path, api_version, query)?;
        let raw = self
            .send(reqwest::Method::GET, url, tenant, &[], None)
            .await?;
        if (200..300).contains(&raw.status) {
            return decode(&raw.body).map(Some);
        }
        match raw.error() {
            ArmError::NotFound { .. } => Ok(None),
            e => Err(e),
        }
    }

    /// GET a list (`{value: [...], nextLink}`), following `nextLink` on the ARM host only.
    pub async fn list<T: DeserializeOwned>(
        &self,
        tenant: &str,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, ArmError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            #[serde(default)]
            next_link: Option<String>,
        }
        let mut url = self.url(path, api_version, query)?;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let raw = self
                .send(reqwest::Method::GET, url, tenant, &[], None)
                .await?;
            if !(200..300).contains(&raw.status) {
                return Err(raw.error());
            }
            let page: Page<T> = decode(&raw.body)?;
            items.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = self.check_followed(&next)?,
                None => return Ok(items),
            }
        }
        Err(ArmError::Decode(format!("more than {MAX_PAGES} pages")))
    }

    /// PUT a resource once (with retries on 429/5xx). Returns the status, body and the operation
    /// to poll. Auxiliary tokens are sent on every attempt, the first included.
    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        req: PutRequest<'_, B>,
    ) -> Result<Accepted<T>, ArmError> {
        self.write(reqwest::Method::PUT, req).await
    }

    /// PATCH a resource once, as [`ArmClient::put`] does (auxiliary tokens only when the caller
    /// names tenants: a body that leaves a cross-tenant reference out needs none).
    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        req: PutRequest<'_, B>,
    ) -> Result<Accepted<T>, ArmError> {
        self.write(reqwest::Method::PATCH, req).await
    }

    /// POST an action (`req.path` is the action's path, e.g. `…/manualupgrade`) once, as
    /// [`ArmClient::put`] does.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        req: PutRequest<'_, B>,
    ) -> Result<Accepted<T>, ArmError> {
        self.write(reqwest::Method::POST, req).await
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        req: PutRequest<'_, B>,
    ) -> Result<Accepted<T>, ArmError> {
        if req.aux_tenants.len() > MAX_AUXILIARY_TOKENS {
            return Err(ArmError::TooManyAuxiliaryTokens(req.aux_tenants.len()));
        }
        let url = self.url(req.path, req.api_version, &[])?;
        let body = serde_json::to_vec(req.body)
            .map_err(|e| ArmError::InvalidRequest(format!("body: {e}")))?;
        let raw = self
            .send(method, url, req.tenant, req.aux_tenants, Some(body))
            .await?;
        if !(200..300).contains(&raw.status) {
            return Err(raw.error());
        }
        let operation = self.operation_from(&raw, req.path, req.api_version)?;
        let body = if raw.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(decode(&raw.body)?)
        };
        Ok(Accepted {
            status: raw.status,
            body,
            operation,
        })
    }

    /// PUT a resource and follow its operation to the end (bounded by the policy's
    /// `operation_timeout`); returns the final resource. Without an operation header, a body whose
    /// `properties.provisioningState` is not terminal is polled with GETs until it is
    /// (the async-operations doc's fallback).
    pub async fn put_and_wait<B: Serialize, T: DeserializeOwned>(
        &self,
        req: PutRequest<'_, B>,
    ) -> Result<T, ArmError> {
        let accepted: Accepted<serde_json::Value> = self.put(req).await?;
        let body = match accepted.operation {
            Some(op) => return self.wait(req.tenant, &op).await,
            None => match accepted.body {
                Some(body) => body,
                None => self.get(req.tenant, req.path, req.api_version, &[]).await?,
            },
        };
        let body = self
            .wait_for_provisioning(req.tenant, req.path, req.api_version, body)
            .await?;
        serde_json::from_value(body).map_err(|e| ArmError::Decode(e.to_string()))
    }

    async fn wait_for_provisioning(
        &self,
        tenant: &str,
        path: &str,
        api_version: &str,
        mut body: serde_json::Value,
    ) -> Result<serde_json::Value, ArmError> {
        let start = Instant::now();
        loop {
            let state = body
                .pointer("/properties/provisioningState")
                .and_then(|v| v.as_str())
                .map(OperationState::parse);
            match state {
                None | Some(OperationState::Succeeded) => return Ok(body),
                Some(s @ (OperationState::Failed | OperationState::Canceled)) => {
                    return Err(ArmError::OperationFailed {
                        state: s.as_str().to_owned(),
                        code: format!("ProvisioningState/{}", s.as_str()),
                        message: format!("{path} ended in provisioningState {}", s.as_str()),
                    });
                }
                Some(_) => {}
            }
            let delay = self.retry.poll_interval;
            if start.elapsed() + delay > self.retry.operation_timeout {
                return Err(ArmError::OperationTimeout(start.elapsed()));
            }
            tokio::time::sleep(delay).await;
            body = self.get(tenant, path, api_version, &[]).await?;
        }
    }

    /// Follows `op` until it ends (bounded by `operation_timeout`) and returns the resource.
    pub async fn wait<T: DeserializeOwned>(
        &self,
        tenant: &str,
        op: &OperationRef,
    ) -> Result<T, ArmError> {
        let start = Instant::now();
        let mut delay = op.retry_after().unwrap_or(self.retry.poll_interval);
        loop {
            if start.elapsed() + delay > self.retry.operation_timeout {
                return Err(ArmError::OperationTimeout(start.elapsed()));
            }
            tokio::time::sleep(delay).await;
            let status = self.operation_status(tenant, op).await?;
            match status.state {
                OperationState::Succeeded => {
                    return match status.resource {
                        Some(body) => serde_json::from_value(body)
                            .map_err(|e| ArmError::Decode(e.to_string())),
                        None => {
                            self.get(tenant, &op.resource_path, &op.api_version, &[])
                                .await
                        }
                    };
                }
                OperationState::Failed | OperationState::Canceled => {
                    let error = status.error.unwrap_or_default();
                    return Err(ArmError::from_operation(status.state.as_str(), &error));
                }
                _ => delay = status.retry_after.unwrap_or(self.retry.poll_interval),
            }
        }
    }

    /// Polls `op` once. The URL must be on the ARM endpoint and inside the subscription of
    /// `op.resource_path`.
    pub async fn operation_status(
        &self,
        tenant: &str,
        op: &OperationRef,
    ) -> Result<OperationStatus, ArmError> {
        let url = self.check_operation(op)?;
        let raw = self
            .send(reqwest::Method::GET, url, tenant, &[], None)
            .await?;
        let wait = retry_after(&raw.headers);
        match op.kind {
            PollKind::AzureAsyncOperation => {
                if !(200..300).contains(&raw.status) {
                    return Err(raw.error());
                }
                let body: OperationStatusBody = decode(&raw.body)?;
                Ok(OperationStatus {
                    state: body.status,
                    error: body.error,
                    percent_complete: body.percent_complete,
                    retry_after: wait,
                    resource: None,
                })
            }
            PollKind::Location => match raw.status {
                202 => Ok(OperationStatus {
                    state: OperationState::InProgress,
                    error: None,
                    percent_complete: None,
                    retry_after: wait,
                    resource: None,
                }),
                200..=299 => Ok(OperationStatus {
                    state: OperationState::Succeeded,
                    error: None,
                    percent_complete: None,
                    retry_after: None,
                    resource: serde_json::from_slice(&raw.body).ok(),
                }),
                // The operation's own failure is reported as an error status on the Location URL;
                // auth and missing-URL errors stay errors of this request.
                400 | 409 | 422 => Ok(OperationStatus {
                    state: OperationState::Failed,
                    error: super::error::ErrorDetail::parse(&raw.body),
                    percent_complete: None,
                    retry_after: None,
                    resource: None,
                }),
                _ => Err(raw.error()),
            },
        }
    }

    fn operation_from(
        &self,
        raw: &Raw,
        path: &str,
        api_version: &str,
    ) -> Result<Option<OperationRef>, ArmError> {
        let header = |name: &str| {
            raw.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        let (kind, url) = if let Some(u) = header("azure-asyncoperation") {
            (PollKind::AzureAsyncOperation, u)
        } else if let (201 | 202, Some(u)) = (raw.status, header("location")) {
            (PollKind::Location, u)
        } else {
            return Ok(None);
        };
        let op = OperationRef {
            kind,
            url,
            resource_path: path.to_owned(),
            api_version: api_version.to_owned(),
            retry_after_secs: retry_after(&raw.headers).map(|d| d.as_secs()),
        };
        // Refuse at once rather than when polling.
        self.check_operation(&op)?;
        Ok(Some(op))
    }

    /// The URL of `path` on the ARM endpoint, built by pushing the path's segments one by one
    /// (each percent-encoded as a segment). Empty, `.`/`..` (or all-dot), percent-encoded and
    /// control-character segments are refused: a path can never navigate out of itself.
    fn url(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Url, ArmError> {
        let segments = path_segments(path)
            .ok_or_else(|| ArmError::InvalidRequest(format!("resource path {path:?}")))?;
        let mut url = self.endpoints.arm.clone();
        url.set_fragment(None);
        {
            let mut p = url
                .path_segments_mut()
                .map_err(|()| ArmError::InvalidRequest("ARM endpoint cannot be a base".into()))?;
            p.pop_if_empty();
            p.extend(segments);
        }
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.append_pair("api-version", api_version);
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// A URL from a response may be followed only if it is on the configured ARM endpoint.
    fn check_followed(&self, url: &str) -> Result<Url, ArmError> {
        let refuse = || ArmError::UntrustedUrl {
            url: url.to_owned(),
            expected: self.endpoints.arm.as_str().to_owned(),
        };
        let parsed = Url::parse(url).map_err(|_| refuse())?;
        if same_origin(&parsed, &self.endpoints.arm) && parsed.username().is_empty() {
            Ok(parsed)
        } else {
            Err(refuse())
        }
    }

    /// An operation URL may be followed only on the ARM endpoint *and* inside the subscription
    /// of the resource it belongs to (`/subscriptions/{s}/…` of `op.resource_path`), with no
    /// `.`/`..` or percent-encoded segment in its path.
    fn check_operation(&self, op: &OperationRef) -> Result<Url, ArmError> {
        let url = self.check_followed(&op.url)?;
        let refuse = |why: &str| ArmError::UntrustedUrl {
            url: op.url.clone(),
            expected: format!(
                "{} under the subscription of {} ({why})",
                self.endpoints.arm.as_str(),
                op.resource_path
            ),
        };
        let base = self.endpoints.arm.path().trim_end_matches('/');
        let rest = url
            .path()
            .strip_prefix(base)
            .filter(|r| r.starts_with('/'))
            .ok_or_else(|| refuse("outside the endpoint's path"))?;
        // The parsed URL has resolved dot segments already; look at the text as sent.
        let text_path = op.url.split(['?', '#']).next().unwrap_or_default();
        if text_path.contains("/.") || text_path.contains('%') || text_path.contains('\\') {
            return Err(refuse("dot segments"));
        }
        let path = path_segments(rest).ok_or_else(|| refuse("malformed path"))?;
        let resource = path_segments(&op.resource_path).ok_or_else(|| refuse("resource path"))?;
        let subscription = |segments: &[&str]| match segments {
            [kind, sub, ..] if kind.eq_ignore_ascii_case("subscriptions") => Some(sub.to_string()),
            _ => None,
        };
        match (subscription(&path), subscription(&resource)) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => Ok(url),
            _ => Err(refuse("another subscription")),
        }
    }

    /// Sends with retries on 429, 5xx and connection errors, honouring `Retry-After`, within the
    /// policy's attempt and time budget. Tokens (primary and auxiliary) are fetched before the
    /// first attempt and sent on every attempt. Returns the last response (any status).
    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        tenant: &str,
        aux_tenants: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<Raw, ArmError> {
        if aux_tenants.len() > MAX_AUXILIARY_TOKENS {
            return Err(ArmError::TooManyAuxiliaryTokens(aux_tenants.len()));
        }
        let scope = self.endpoints.arm_scope.as_str();
        let token = self.tokens.token(tenant, scope).await?;
        let mut aux = Vec::with_capacity(aux_tenants.len());
        for t in aux_tenants {
            aux.push(format!(
                "Bearer {}",
                self.tokens.token(t, scope).await?.token.expose()
            ));
        }
        let aux = SecretString::new(aux.join(", "));
        let what = format!("ARM {method} {}", url.path());
        let raw = crate::http::send_with_retries(&self.retry, &what, || {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if !aux.is_empty() {
                request = request.header(AUX_HEADER, aux.expose());
            }
            if let Some(b) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            request
        })
        .await
        .map_err(ArmError::Transport)?;
        tracing::debug!(method = %method, path = url.path(), status = raw.status, "ARM response");
        Ok(Raw {
            status: raw.status,
            headers: raw.headers,
            body: raw.body,
        })
    }
}

/// The segments of an absolute resource path (`/a/b/…`, one trailing `/` ignored), or `None`
/// when a segment is empty, only dots, percent-encoded, or holds `\`, `?`, `#`, `:`, whitespace
/// or control characters.
fn path_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let ok = segments.iter().all(|s| {
        !s.is_empty()
            && !s.bytes().all(|b| b == b'.')
            && !s.contains(['%', '\\', '?', '#', ':'])
            && !s.chars().any(|c| c.is_control() || c.is_whitespace())
    });
    ok.then_some(segments)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(body).map_err(|e| ArmError::Decode(e.to_string()))
}
