//! azure_core's `HttpClient` over our reqwest client (azure_core is built without its own reqwest).
//!
//! Local stand-ins: azure_identity refuses an authority host that is not `https`. When the
//! configured `AZURE_AUTHORITY_HOST` is an `http://` loopback URL (already validated by
//! [`check_endpoint`](crate::endpoints::check_endpoint)), azure_identity is given the same URL with
//! `https` and an explicit port, and this transport sends requests for exactly that origin over
//! `http`. Every other URL is sent as is, so production and local runs are the same code.
//!
//! Token endpoint answers of 5xx/429 are turned into `HttpResponse` errors here, because
//! azure_identity would otherwise try to parse a non-JSON error page and lose the status.

use async_trait::async_trait;
use azure_core::error::{Error, ErrorKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::request::{Body, Request};
use azure_core::http::{AsyncRawResponse, HttpClient, Method, RawResponse, StatusCode};
use std::collections::HashMap;
use url::Url;

/// Sends azure_identity's requests with reqwest.
#[derive(Debug)]
pub(crate) struct ReqwestTransport {
    http: crate::http::HttpClient,
    /// `(https origin given to azure_identity, real http origin)` for a loopback authority.
    downgrade: Option<(Url, Url)>,
}

impl ReqwestTransport {
    /// `authority` is the configured authority host. Returns the transport and the authority host
    /// to give azure_identity.
    pub(crate) fn new(http: impl Into<crate::http::HttpClient>, authority: &Url) -> (Self, Url) {
        let http = http.into();
        if authority.scheme() == "http" {
            let mut https = authority.clone();
            let port = authority.port_or_known_default();
            https.set_scheme("https").expect("http -> https");
            https.set_port(port).expect("host URL has a port");
            let transport = Self {
                http,
                downgrade: Some((https.clone(), authority.clone())),
            };
            (transport, https)
        } else {
            (
                Self {
                    http,
                    downgrade: None,
                },
                authority.clone(),
            )
        }
    }

    fn real_url(&self, url: &Url) -> Url {
        match &self.downgrade {
            Some((https, http)) if crate::endpoints::same_origin(url, https) => {
                let mut real = url.clone();
                real.set_scheme("http").expect("https -> http");
                real.set_port(http.port_or_known_default())
                    .expect("host URL has a port");
                real
            }
            _ => url.clone(),
        }
    }
}

#[async_trait]
impl HttpClient for ReqwestTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let url = self.real_url(request.url());
        let method = match request.method() {
            Method::Delete => reqwest::Method::DELETE,
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Patch => reqwest::Method::PATCH,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            other => {
                return Err(Error::with_message(
                    ErrorKind::Other,
                    format!("unsupported method {other:?}"),
                ));
            }
        };
        let mut builder = self.http.request(method, url);
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = match request.body() {
            Body::Bytes(bytes) => builder.body(bytes.clone()),
            Body::SeekableStream(_) => {
                return Err(Error::with_message(
                    ErrorKind::Other,
                    "streaming request bodies are not used by the token requests",
                ));
            }
        };
        let response = builder.send().await.map_err(|e| {
            match crate::http::TransportError::from_reqwest(&e, None) {
                // Kept typed, so that the credential can tell a name that does not exist.
                unresolved @ crate::http::TransportError::HostNotFound { .. } => {
                    Error::new(ErrorKind::Connection, unresolved)
                }
                crate::http::TransportError::Failed(text) => {
                    let kind = if e.is_connect() {
                        ErrorKind::Connection
                    } else {
                        ErrorKind::Io
                    };
                    Error::with_message(kind, text)
                }
            }
        })?;
        let status = StatusCode::from(response.status().as_u16());
        let mut headers = HashMap::new();
        for (k, v) in response.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(
                    HeaderName::from(k.as_str().to_owned()),
                    HeaderValue::from(v.to_owned()),
                );
            }
        }
        let headers = Headers::from(headers);
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::with_message(ErrorKind::Io, crate::http::error_text(&e)))?;
        let code = u16::from(status);
        let json = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
        if (code >= 500 || code == 429) && !json {
            return Err(Error::with_message(
                ErrorKind::HttpResponse {
                    status,
                    error_code: None,
                    raw_response: Some(Box::new(RawResponse::from_bytes(status, headers, body))),
                },
                format!("token endpoint answered HTTP {code}"),
            ));
        }
        Ok(AsyncRawResponse::from_bytes(status, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_authority_is_downgraded_only_for_its_origin() {
        let authority = Url::parse("http://127.0.0.1:4567/").unwrap();
        let (t, given) = ReqwestTransport::new(reqwest::Client::new(), &authority);
        assert_eq!(given.as_str(), "https://127.0.0.1:4567/");
        let tok = Url::parse("https://127.0.0.1:4567/t/oauth2/v2.0/token").unwrap();
        assert_eq!(
            t.real_url(&tok).as_str(),
            "http://127.0.0.1:4567/t/oauth2/v2.0/token"
        );
        let other = Url::parse("https://127.0.0.1:9999/x").unwrap();
        assert_eq!(t.real_url(&other), other);
        let (t, given) = ReqwestTransport::new(
            reqwest::Client::new(),
            &Url::parse("https://login.microsoftonline.com").unwrap(),
        );
        assert_eq!(given.as_str(), "https://login.microsoftonline.com/");
        let u = Url::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap();
        assert_eq!(t.real_url(&u), u);
    }

    #[test]
    fn localhost_without_port_keeps_port_80() {
        let (t, given) = ReqwestTransport::new(
            reqwest::Client::new(),
            &Url::parse("http://localhost/").unwrap(),
        );
        assert_eq!(given.as_str(), "https://localhost:80/");
        let u = Url::parse("https://localhost:80/t/oauth2/v2.0/token").unwrap();
        assert_eq!(
            t.real_url(&u).as_str(),
            "http://localhost/t/oauth2/v2.0/token"
        );
    }
}
