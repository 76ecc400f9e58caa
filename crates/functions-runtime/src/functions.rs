//! The [`Functions`] builder: function name → Tower service, turned into an axum router.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use tower::Service;

use crate::Error;
use crate::invocation::{Invocation, InvocationResult};
use crate::invoke;
use crate::message::ServiceBusMessage;
use crate::response::ErrorBody;
use crate::trigger::TriggerOptions;

/// Default request body limit. Premium Service Bus messages reach 100 MB and the host's
/// double encoding can almost double them; the only caller is the host on loopback.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024 * 1024;

type Handler =
    Arc<dyn Fn(Arc<str>, HeaderMap, Bytes) -> BoxFuture<'static, Response> + Send + Sync + 'static>;

/// The functions this handler serves, by function (folder) name.
pub struct Functions {
    handlers: HashMap<String, Handler>,
    body_limit: usize,
}

impl Default for Functions {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("Functions")
            .field("functions", &names)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl Functions {
    /// No functions yet.
    pub fn new() -> Self {
        Self {
            handlers: HashMap::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Registers a `serviceBusTrigger` function with the default [`TriggerOptions`]
    /// (`dataType` string, any single `Data` entry).
    ///
    /// # Panics
    /// If `name` is not a valid function name (letters, digits, `-`, `_`) or is already registered.
    pub fn service_bus<T, S>(self, name: &str, service: S) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        S: Service<Invocation<ServiceBusMessage<T>>, Response = InvocationResult>
            + Clone
            + Send
            + 'static,
        S::Error: Into<Error>,
        S::Future: Send,
    {
        self.service_bus_with(name, TriggerOptions::default(), service)
    }

    /// Registers a `serviceBusTrigger` function whose binding has a `dataType` or name to honour.
    ///
    /// # Panics
    /// If `name` is not a valid function name (letters, digits, `-`, `_`) or is already registered.
    pub fn service_bus_with<T, S>(mut self, name: &str, options: TriggerOptions, service: S) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        S: Service<Invocation<ServiceBusMessage<T>>, Response = InvocationResult>
            + Clone
            + Send
            + 'static,
        S::Error: Into<Error>,
        S::Future: Send,
    {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "function name {name:?} must be letters, digits, '-' or '_' (Azure Functions names)"
        );
        assert!(
            !self.handlers.keys().any(|k| k.eq_ignore_ascii_case(name)),
            "function {name:?} is registered twice (names are case-insensitive)"
        );
        // `Mutex` makes the (Send-only) service shareable; each invocation clones it, as Tower
        // services are meant to be used.
        let service = Arc::new(Mutex::new(service));
        let options = Arc::new(options);
        let handler: Handler = Arc::new(move |function_name, headers, body| {
            let service = service
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let options = Arc::clone(&options);
            Box::pin(async move {
                invoke::service_bus::<T, S>(service, &options, &function_name, &headers, body).await
            })
        });
        self.handlers.insert(name.to_owned(), handler);
        self
    }

    /// Maximum accepted request body size (default [`DEFAULT_BODY_LIMIT`]); larger requests get `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The registered function names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }

    /// The axum router: `GET /` readiness, `POST /<FunctionName>`, JSON 404 for anything else.
    pub fn into_router(self) -> Router {
        let limit = self.body_limit;
        let handlers: Arc<HashMap<String, Handler>> = Arc::new(self.handlers);
        let mut router = Router::new().route("/", get(ready));
        // One static route per function: no path extraction or lookup on the hot path.
        for (name, handler) in handlers.iter() {
            let handler = Arc::clone(handler);
            let name: Arc<str> = Arc::from(name.as_str());
            router = router.route(
                &format!("/{name}"),
                post(move |request: Request| {
                    invoke_with(Arc::clone(&handler), Arc::clone(&name), limit, request)
                }),
            );
        }
        router.fallback(move |request: Request| fallback(Arc::clone(&handlers), limit, request))
    }
}

/// The host's readiness probe: any answer will do, so answer at once.
async fn ready() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ready"}"#,
    )
        .into_response()
}

/// Reads the body (bounded) and runs the function's handler.
async fn invoke_with(handler: Handler, name: Arc<str>, limit: usize, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large(&name, limit);
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => handler(name, parts.headers, bytes).await,
        Err(e) => {
            tracing::error!(function = %name, error = %e, "could not read the invocation request body");
            too_large(&name, limit)
        }
    }
}

fn too_large(name: &str, limit: usize) -> Response {
    ErrorBody::new(
        "bad_request",
        format!("invocation request body unreadable or larger than {limit} bytes"),
    )
    .function(name)
    .into_response(StatusCode::PAYLOAD_TOO_LARGE)
}

/// Anything but an exact route: a function name in another case (the host treats names
/// case-insensitively), an unknown function (404 JSON), or no route at all (404 JSON).
async fn fallback(
    handlers: Arc<HashMap<String, Handler>>,
    limit: usize,
    request: Request,
) -> Response {
    let path = request.uri().path().to_owned();
    let segment = path
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'));
    match (request.method() == http::Method::POST, segment) {
        (true, Some(function)) => {
            let found = handlers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(function));
            match found {
                Some((name, handler)) => {
                    invoke_with(
                        Arc::clone(handler),
                        Arc::from(name.as_str()),
                        limit,
                        request,
                    )
                    .await
                }
                None => {
                    tracing::error!(function = %function, "invocation for a function this handler does not serve");
                    ErrorBody::new(
                        "unknown_function",
                        format!("no function named {function:?} is registered"),
                    )
                    .function(function)
                    .into_response(StatusCode::NOT_FOUND)
                }
            }
        }
        _ => ErrorBody::new(
            "not_found",
            format!("no route for {} {path}", request.method()),
        )
        .into_response(StatusCode::NOT_FOUND),
    }
}
