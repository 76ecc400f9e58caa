//! The [`Functions`] builder: function name → Tower service, turned into an axum router.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::error_handling::HandleError;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post_service};
use futures::future::{self, BoxFuture};
use http::{StatusCode, header};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt as _};

use crate::Error;
use crate::invocation::{IntoInvocationResult, Invocation, InvocationResult};
use crate::invoke;
use crate::message::{BodyDecodeError, MessageBody, ServiceBusMessage};
use crate::response::ErrorBody;
use crate::trigger::TriggerOptions;

/// Default request body limit. Premium Service Bus messages reach 100 MB and the host's
/// double encoding can almost double them; the only caller is the host on loopback.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024 * 1024;

/// One function as the router calls it: the host's HTTP request in, the answer out. This is
/// the service [`Functions::layer`] wraps.
pub type FunctionService = BoxCloneSyncService<Request, Response, Infallible>;

/// A registered handler after its answer type is unified.
pub(crate) type Handler<B> =
    BoxCloneSyncService<Invocation<ServiceBusMessage<B>>, InvocationResult, Error>;

/// What builds a function's service once the body limit and undecodable handler are known.
type Build = Box<dyn FnOnce(&Shared) -> FunctionService + Send>;
type Wrap = Box<dyn Fn(FunctionService) -> FunctionService + Send>;

/// What the runtime knows of an invocation when it opens the invocation's span.
#[derive(Debug, Clone, Copy)]
pub struct SpanFields<'a> {
    /// The function (folder) name.
    pub function: &'a str,
    /// The host's invocation id.
    pub invocation_id: &'a str,
    /// The Service Bus MessageId, if the trigger metadata has one.
    pub message_id: Option<&'a str>,
    /// The Service Bus DeliveryCount, if the trigger metadata has one.
    pub delivery_count: Option<u32>,
    /// The W3C trace id this invocation continues.
    pub trace_id: &'a str,
}

/// Opens the span every line of one invocation is logged in (see [`Functions::invocation_span`]).
pub type SpanFn = fn(&SpanFields<'_>) -> tracing::Span;

/// The default invocation span: `invocation` with `function`, `invocation_id`, `message_id`,
/// `delivery_count`, `trace_id` and an empty `span_id` the runtime records. At ERROR level, so
/// that it is enabled whenever any line is (`RUST_LOG=warn` too).
pub fn default_invocation_span(f: &SpanFields<'_>) -> tracing::Span {
    tracing::error_span!(
        "invocation",
        function = f.function,
        invocation_id = f.invocation_id,
        message_id = f.message_id,
        delivery_count = f.delivery_count,
        trace_id = f.trace_id,
        span_id = tracing::field::Empty,
    )
}

/// Settings every function shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) body_limit: usize,
    pub(crate) undecodable: Option<Handler<BodyDecodeError>>,
    pub(crate) span: SpanFn,
}

/// The functions this handler serves, by function (folder) name.
pub struct Functions {
    functions: Vec<(String, Build)>,
    layers: Vec<Wrap>,
    shared: Shared,
}

impl Default for Functions {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("functions", &self.names())
            .field("layers", &self.layers.len())
            .field("body_limit", &self.shared.body_limit)
            .field("undecodable", &self.shared.undecodable.is_some())
            .finish()
    }
}

impl Functions {
    /// No functions yet.
    pub fn new() -> Self {
        Self {
            functions: Vec::new(),
            layers: Vec::new(),
            shared: Shared {
                body_limit: DEFAULT_BODY_LIMIT,
                undecodable: None,
                span: default_invocation_span,
            },
        }
    }

    /// Registers a `serviceBusTrigger` function with the default [`TriggerOptions`]
    /// (`dataType` string, any single `Data` entry).
    ///
    /// `B` is the body type (see [`ServiceBusMessage`]); the service may answer `()`,
    /// [`InvocationResult`] or anything else [`IntoInvocationResult`].
    ///
    /// # Panics
    /// If `name` is not a valid function name (letters, digits, `-`, `_`) or is already registered.
    pub fn service_bus<B, M, S>(self, name: &str, service: S) -> Self
    where
        B: MessageBody<M>,
        M: 'static,
        S: Service<Invocation<ServiceBusMessage<B>>> + Clone + Send + Sync + 'static,
        S::Response: IntoInvocationResult + 'static,
        S::Error: Into<Error> + 'static,
        S::Future: Send + 'static,
    {
        self.service_bus_with(name, TriggerOptions::default(), service)
    }

    /// Registers a `serviceBusTrigger` function whose binding has a `dataType` or name to honour.
    ///
    /// # Panics
    /// If `name` is not a valid function name (letters, digits, `-`, `_`) or is already registered.
    pub fn service_bus_with<B, M, S>(
        mut self,
        name: &str,
        options: TriggerOptions,
        service: S,
    ) -> Self
    where
        B: MessageBody<M>,
        M: 'static,
        S: Service<Invocation<ServiceBusMessage<B>>> + Clone + Send + Sync + 'static,
        S::Response: IntoInvocationResult + 'static,
        S::Error: Into<Error> + 'static,
        S::Future: Send + 'static,
    {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "function name {name:?} must be letters, digits, '-' or '_' (Azure Functions names)"
        );
        assert!(
            !self
                .functions
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name)),
            "function {name:?} is registered twice (names are case-insensitive)"
        );
        let handler = boxed(service);
        let function: Arc<str> = Arc::from(name);
        let options = Arc::new(options);
        let build: Build = Box::new(move |shared: &Shared| {
            BoxCloneSyncService::new(invoke::ServiceBusFunction::<B, M> {
                marker: std::marker::PhantomData,
                function,
                options,
                handler,
                shared: shared.clone(),
            })
        });
        self.functions.push((name.to_owned(), build));
        self
    }

    /// The service that receives messages whose body does not decode into a function's body
    /// type, with the decode error as body. Without one, such a message is answered `422`
    /// with an error log line: the host abandons it, and Service Bus dead-letters it after the
    /// queue's max delivery count. Functions whose body type is `Result<T, BodyDecodeError>`
    /// receive undecodable bodies themselves.
    pub fn undecodable<S>(mut self, service: S) -> Self
    where
        S: Service<Invocation<ServiceBusMessage<BodyDecodeError>>> + Clone + Send + Sync + 'static,
        S::Response: IntoInvocationResult + 'static,
        S::Error: Into<Error> + 'static,
        S::Future: Send + 'static,
    {
        self.shared.undecodable = Some(boxed(service));
        self
    }

    /// Opens each invocation's span with `span` instead of [`default_invocation_span`]: an app
    /// adds its own fields (declared `tracing::field::Empty`, recorded by its handler on
    /// `tracing::Span::current()`, which is the invocation span until the handler enters one of
    /// its own), and the runtime's own lines for the invocation (failed, panicked, undecodable)
    /// carry them too. Keep the default's fields, including the empty `span_id` the runtime
    /// records.
    pub fn invocation_span(mut self, span: SpanFn) -> Self {
        self.shared.span = span;
        self
    }

    /// Wraps every function (registered before or after this call) in `layer`: timeouts,
    /// concurrency limits, metrics. The layered service sees the host's HTTP request; an error
    /// it returns (a timeout, an overloaded limiter) is answered `500` with an error log line,
    /// so the host abandons the message. Layers added later wrap the earlier ones.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<FunctionService> + Send + 'static,
        L::Service: Service<Request, Response = Response> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Error: Into<Error> + Send + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.layers.push(Box::new(move |inner: FunctionService| {
            BoxCloneSyncService::new(HandleError::new(
                layer.layer(inner),
                |e: <L::Service as Service<Request>>::Error| future::ready(layer_error(e.into())),
            ))
        }));
        self
    }

    /// Maximum accepted request body size (default [`DEFAULT_BODY_LIMIT`]); larger requests get `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.shared.body_limit = bytes;
        self
    }

    /// The registered function names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.functions.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }

    /// The axum router: `GET /` readiness, `POST /<FunctionName>`, JSON 404 for anything else.
    pub fn into_router(self) -> Router {
        let Self {
            functions,
            layers,
            shared,
        } = self;
        let mut router = Router::new().route("/", get(ready));
        let mut by_name: HashMap<String, (Arc<str>, FunctionService)> = HashMap::new();
        for (name, build) in functions {
            let service = layers
                .iter()
                .fold(build(&shared), |inner, wrap| wrap(inner));
            // One static route per function: no path extraction or lookup on the hot path.
            router = router.route(&format!("/{name}"), post_service(service.clone()));
            by_name.insert(
                name.to_ascii_lowercase(),
                (Arc::from(name.as_str()), service),
            );
        }
        let by_name = Arc::new(by_name);
        router.fallback(move |request: Request| fallback(Arc::clone(&by_name), request))
    }
}

/// A user service with its answer turned into an [`InvocationResult`] and its error into [`Error`].
fn boxed<R, S>(service: S) -> Handler<R>
where
    R: Send + 'static,
    S: Service<Invocation<ServiceBusMessage<R>>> + Clone + Send + Sync + 'static,
    S::Response: IntoInvocationResult + 'static,
    S::Error: Into<Error> + 'static,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(
        service
            .map_err(Into::into)
            .and_then(|answer: S::Response| future::ready(answer.into_invocation_result())),
    )
}

fn layer_error(error: Error) -> Response {
    let message = invoke::error_chain(error.as_ref());
    tracing::error!(error = %message, "a layer failed the invocation; answering 500 so the host abandons the message");
    ErrorBody::new("layer_error", message).into_response(StatusCode::INTERNAL_SERVER_ERROR)
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

/// Anything but an exact route: a function name in another case (the host treats names
/// case-insensitively), an unknown function (404 JSON), or no route at all (404 JSON).
fn fallback(
    functions: Arc<HashMap<String, (Arc<str>, FunctionService)>>,
    request: Request,
) -> BoxFuture<'static, Response> {
    let path = request.uri().path().to_owned();
    let segment = path
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'));
    let answer = match (request.method() == http::Method::POST, segment) {
        (true, Some(function)) => match functions.get(&function.to_ascii_lowercase()) {
            Some((_, service)) => {
                let service = service.clone();
                return Box::pin(async move {
                    match service.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                });
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
        },
        _ => ErrorBody::new(
            "not_found",
            format!("no route for {} {path}", request.method()),
        )
        .into_response(StatusCode::NOT_FOUND),
    };
    Box::pin(future::ready(answer))
}
