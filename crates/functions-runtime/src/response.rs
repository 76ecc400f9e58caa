//! HTTP answers to the host: the invocation result, and JSON error bodies.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::invocation::InvocationResult;

/// JSON body of every non-2xx answer. The host discards it (NOTES §4) but logs the failure; it is
/// for people and for the local host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code: `unknown_function`, `bad_request`, `handler_error`,
    /// `handler_panic`, `not_found`.
    pub error: String,
    /// Human-readable detail.
    pub message: String,
    /// Function name, when the request addressed one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub function: Option<String>,
    /// Invocation id, when known.
    #[serde(
        rename = "invocationId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub invocation_id: Option<String>,
}

impl ErrorBody {
    pub(crate) fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
            function: None,
            invocation_id: None,
        }
    }

    pub(crate) fn function(mut self, name: &str) -> Self {
        self.function = Some(name.to_owned());
        self
    }

    pub(crate) fn invocation(mut self, id: &str) -> Self {
        self.invocation_id = Some(id.to_owned());
        self
    }

    pub(crate) fn into_response(self, status: StatusCode) -> Response {
        json_response(status, &self)
    }
}

/// `200` with the result, `Content-Type: application/json` (the host requires it, NOTES §0.4).
pub(crate) fn result_response(result: &InvocationResult) -> Response {
    if result.outputs.is_empty() && result.logs.is_empty() && result.return_value.is_null() {
        // The common answer of a step that only acts on Azure: no serialization needed.
        return (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            EMPTY_RESULT,
        )
            .into_response();
    }
    json_response(StatusCode::OK, result)
}

/// `InvocationResult::default()` as JSON.
const EMPTY_RESULT: &str = r#"{"Outputs":{},"Logs":[],"ReturnValue":null}"#;

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize the answer to the host");
            let body = format!(
                r#"{{"error":"serialization","message":{}}}"#,
                serde_json::Value::String(e.to_string())
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_result_constant_matches_serialization() {
        assert_eq!(
            serde_json::to_string(&InvocationResult::default()).unwrap(),
            EMPTY_RESULT
        );
    }
}
