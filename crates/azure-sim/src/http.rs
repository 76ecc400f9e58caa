//! Request/response plumbing shared by the Entra, ARM, Key Vault and inspection handlers.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

/// A buffered incoming request.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) raw_query: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Base URL of the listener the request came in on (`http://…` or `https://…`).
    pub(crate) base: String,
}

impl Req {
    /// A query parameter (name compared case-insensitively, like ARM does).
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A header value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as `application/x-www-form-urlencoded`.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// A response plus what the request log needs to know about it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Value,
    /// Error code (ARM `error.code` or Entra `error`), for the request log.
    pub(crate) error_code: Option<String>,
}

impl Reply {
    /// A JSON reply.
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            error_code: None,
        }
    }

    /// An ARM-style error: `{"error":{"code","message"[,"target"]}}` (CloudError / common-types
    /// ErrorResponse, reference/arm/schemas/common-types).
    pub(crate) fn arm_error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::arm_error_target(status, code, message, None)
    }

    /// An ARM-style error with a `target`.
    pub(crate) fn arm_error_target(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        target: Option<&str>,
    ) -> Self {
        let mut err = json!({"code": code, "message": message.into()});
        if let Some(t) = target {
            err["target"] = Value::String(t.to_owned());
        }
        Self {
            status,
            headers: Vec::new(),
            body: json!({ "error": err }),
            error_code: Some(code.to_owned()),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn into_response(self) -> Response {
        let body = if self.body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(serde_json::to_vec(&self.body).expect("json"))
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert(
            "x-ms-request-id",
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid is ascii"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// The method of a request as an RBAC verb.
pub(crate) fn is_write(method: &Method) -> bool {
    matches!(*method, Method::PUT | Method::PATCH | Method::POST)
}
