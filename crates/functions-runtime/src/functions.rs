//! The [`Functions`] builder: function name → Tower service, turned into an axum router.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
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
    Arc<dyn Fn(String, HeaderMap, Bytes) -> BoxFuture<'static, Response> + Send + Sync + 'static>;

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
    /// If `name` is empty, contains `/`, or is already registered.
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
    /// If `name` is empty, contains `/`, or is already registered.
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
            !name.is_empty() && !name.contains('/'),
            "function name {name:?} must be one non-empty path segment"
        );
        assert!(
            !self.handlers.contains_key(name),
            "function {name:?} is registered twice"
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
        let handlers = Arc::new(self.handlers);
        Router::new()
            .route("/", get(ready))
            .route("/{function}", post(dispatch))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(handlers)
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

async fn dispatch(
    State(handlers): State<Arc<HashMap<String, Handler>>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let found = handlers.get(&function).or_else(|| {
        // Function names are case-insensitive on the host side.
        handlers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&function))
            .map(|(_, h)| h)
    });
    match found {
        Some(handler) => handler(function, headers, body).await,
        None => {
            tracing::error!(function = %function, "invocation for a function this handler does not serve");
            ErrorBody::new(
                "unknown_function",
                format!("no function named {function:?} is registered"),
            )
            .function(&function)
            .into_response(StatusCode::NOT_FOUND)
        }
    }
}

async fn not_found(method: http::Method, uri: http::Uri) -> Response {
    ErrorBody::new("not_found", format!("no route for {method} {}", uri.path()))
        .into_response(StatusCode::NOT_FOUND)
}
