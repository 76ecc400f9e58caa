//! The one function runner: every function of the handler (the four deployment steps and the two
//! rollout functions) is a [`Function`] run by a [`Runner`], which turns one delivery into the
//! answer the Functions host expects and is served as a Tower service ([`Serve::serve`]).
//!
//! What the runner does for every function, in this order:
//! 1. **Delivery trust** ([`Delivery`]): an unknown delivery count, or a body whose top-level
//!    fields are named like Service Bus system properties (the host copies them over those
//!    properties) cannot be trusted: the delivery counts as the last one, and its enqueue time is
//!    dropped. [`Function::trusts_count`] lets a function whose schema has such fields (Event
//!    Grid's `id` and `subject`) keep the count when only those are shadowed.
//! 2. **Admission** ([`Function::admit`]): the body the runtime decoded once becomes the typed
//!    message, or a rejection. [`undecodable`] is the one classifier for bodies that do not decode
//!    (every unknown top-level field named, or the decode error).
//! 3. **The step budget** (`within_budget`): the work never runs longer than
//!    `IMAGEFERRY_STEP_BUDGET`, counted from the moment the delivery arrived; past it the outcome
//!    is transient (`StepBudgetExceeded`).
//! 4. **The outcome** ([`Report`], one per family of events: deployment events for the steps,
//!    rollout events for the rollout functions):
//!    - `Ok` → 200, the message completes;
//!    - rejected / failed → the terminal event is published, then 200 (a deployment's terminal
//!      event only after it won the status store's claim: see [`crate::emit`]);
//!    - transient → a scheduled retry ([`crate::retry`]): the body goes to the function's own
//!      queue again, visible after a backoff, and the message completes (200); once the outage
//!      budget (`IMAGEFERRY_OUTAGE_BUDGET`) is spent, a failed outcome with code
//!      `RetriesExhausted` instead. Only when the retry cannot be sent is the answer 500
//!      ([`Redeliver`]: Service Bus redelivers), unless this is the last delivery
//!      (`IMAGEFERRY_MAX_DELIVERY_COUNT`, or an untrusted count): then `RetriesExhausted` too;
//!    - the terminal event cannot be published: a transient cause is retried the same way (the
//!      work runs again; every step is idempotent); otherwise, or when even that fails, one
//!      error line (the last resort) names what the outcome is about, the outcome and the
//!      cause, and the message completes.
//!
//! Every line of an invocation is logged inside the span [`Report::span`] opens (`step` with the
//! `deploymentId`, or `rollout` with the rollout, version and ring).
//!
//! ## Where the next changes go
//! - **A new function** (issue 19's `deployment-teardown`, a rollout `resume`/`start` message):
//!   one [`Function`] implementation (for a deployment step, a [`crate::steps::DeploymentStep`] with
//!   its `Step`; for a rollout message, a type like [`crate::rollout::Check`]) and one
//!   [`Serve::serve`] line; trust, budget, undecodable bodies, terminal events and redelivery come
//!   with it. A new terminal status (`deleted`) is the [`Report`]'s business.
//! - **Retries**: `on_transient` is the one place a transient failure is decided
//!   ([`crate::retry::decide`]); a new function gets scheduled retries by being a [`Function`].
//! - **One terminal outcome**: [`Report::publish`] of the deployment events goes through
//!   [`App::publish`], which claims the terminal outcome in the status store first; a new
//!   terminal status (`deleted`) is claimed the same way.

use crate::app::App;
use crate::outcome::StepError;
use crate::retry::{self, Decision, Retries};
use functions_runtime::{
    BodyDecodeError, Functions, Invocation, InvocationResult, ServiceBusMessage, service_fn,
};
use imageferry_contract::{EventError, ReplicationProgress, Step};
use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tracing::Instrument as _;

/// One function of the handler: what its messages decode into, what it does with them, and how
/// its outcomes are told. The [`Runner`] does everything else.
pub trait Function: Send + Sync + 'static {
    /// How the function's outcomes are told (deployment events or rollout events).
    type Report: Report;
    /// What the runtime decodes the body into, once.
    type Wire: DeserializeOwned + Send + 'static;
    /// The typed message the work runs on.
    type Message: Send + 'static;

    /// The function (and queue) name.
    fn name(&self) -> NameOf<Self>;

    /// Whether the delivery count is trustworthy although a body field shadowed the system
    /// properties `shadowed` (never empty here). By default it is not: no step schema has a field
    /// named like a system property, so such a body is forged.
    fn trusts_count(&self, shadowed: &[String]) -> bool {
        shadowed.is_empty()
    }

    /// Whether a transient failure is retried by a scheduled message to the function's own
    /// queue (the default). A function whose queue cannot be sent to (a dead-letter sub-queue)
    /// answers 500 instead, and the broker delivers the message again.
    fn schedules_retries(&self) -> bool {
        true
    }

    /// The typed message, or why the body is refused (`Rejected`).
    fn admit(
        &self,
        wire: Result<Self::Wire, BodyDecodeError>,
        raw_body: &str,
    ) -> Result<Self::Message, StepError>;

    /// What the outcome is about: from the message, or (a refused body) best effort from its text.
    fn about(&self, message: Result<&Self::Message, &str>) -> AboutOf<Self>;

    /// The work.
    fn run<'a>(
        &'a self,
        app: &'a App,
        delivery: &'a Delivery<NameOf<Self>>,
        message: Self::Message,
    ) -> impl Future<Output = Result<<Self::Report as Report>::Done, StepError>> + Send + 'a;
}

/// The name type of `F`'s functions.
pub type NameOf<F> = <<F as Function>::Report as Report>::Name;
/// What `F`'s outcomes are about.
pub type AboutOf<F> = <<F as Function>::Report as Report>::About;

/// A family of terminal events: how the outcomes of its functions are logged and published.
pub trait Report: Send + Sync + 'static {
    /// How the family names its functions (a [`Step`] for the deployment steps).
    type Name: Copy + Display + Send + Sync + 'static;
    /// What an outcome is about (a deployment; a rollout, version and ring).
    type About: Display + Send + Sync + 'static;
    /// What a completed run returns.
    type Done: Send;
    /// The terminal event.
    type Event: Send + Sync;

    /// The span every line of the invocation is logged in; may also record fields on the
    /// runtime's invocation span (the current span when this is called).
    fn span(about: &Self::About) -> tracing::Span;

    /// The line for the host's invocation log of a run that completed, if it has one.
    fn done(done: Self::Done) -> Option<String>;

    /// The terminal event of `ending` for a message of function `name`.
    fn event(
        app: &App,
        name: Self::Name,
        delivery: &Delivery<Self::Name>,
        about: &Self::About,
        raw_body: &str,
        ending: Ending,
    ) -> Terminal<Self::Event>;

    /// Publishes a terminal event; `Some(why)` when it was not sent (another outcome holds the
    /// deployment, or it went out before).
    fn publish<'a>(
        app: &'a App,
        terminal: &'a Terminal<Self::Event>,
    ) -> impl Future<Output = Result<Option<String>, StepError>> + Send + 'a;
}

/// How a message ends when its work did not complete it.
#[derive(Debug, Clone)]
pub enum Ending {
    /// The message is refused (bad input).
    Rejected(EventError),
    /// A permanent failure, or a transient one on the last delivery (`RetriesExhausted`).
    Failed {
        /// What happened and how to fix it.
        error: EventError,
        /// Replication progress last seen (deployment deadlines).
        progress: Option<Box<ReplicationProgress>>,
    },
}

/// A terminal event ready to publish.
#[derive(Debug, Clone)]
pub struct Terminal<E> {
    /// The event.
    pub event: E,
    /// Its status, for logs.
    pub status: &'static str,
    /// The MessageId, when not the event's default one (rejections: one per refused message).
    pub message_id: Option<String>,
}

/// One delivery of a message, as a function sees it.
#[derive(Debug, Clone)]
pub struct Delivery<N = Step> {
    /// The function being run (its [`Step`] for the deployment steps).
    pub step: N,
    /// The message's MessageId (or the invocation id when the host sent none).
    pub message_id: String,
    /// 1 on the first delivery (the last allowed one when the host sent none).
    pub delivery_count: u32,
    /// When the message was first enqueued, if known and trusted.
    pub enqueued_time: Option<OffsetDateTime>,
    /// When this delivery reached the handler (the step budget counts from here).
    pub started: Instant,
    /// The delivery count may be the body's (or is unknown): this delivery is treated as the
    /// last one.
    pub untrusted_count: bool,
    /// Where the message stands in its chain of scheduled retries (from its application
    /// properties; untrusted, see [`crate::retry`]).
    pub retries: Retries,
    /// The message's CorrelationId, carried by its retries.
    pub correlation_id: Option<String>,
    /// `DeadLetterReason` and `DeadLetterErrorDescription`, the application properties Service
    /// Bus gives a dead-lettered message (read only by the dead-letter functions).
    pub dead_letter: Option<(String, String)>,
}

/// The function failed transiently; the host abandons the message so it is redelivered.
#[derive(Debug, thiserror::Error)]
#[error("{function}: transient failure (delivery {delivery_count}): {}: {}", .error.code, .error.message)]
pub struct Redeliver {
    function: String,
    delivery_count: u32,
    error: EventError,
}

/// Runs one function: [`Runner::invoke`] is the whole life of one delivery. Registered with
/// [`Serve::serve`] as a Tower service (`service_fn`).
pub struct Runner<F> {
    app: Arc<App>,
    function: Arc<F>,
}

impl<F> Clone for Runner<F> {
    fn clone(&self) -> Self {
        Runner {
            app: self.app.clone(),
            function: self.function.clone(),
        }
    }
}

/// What the runtime hands a runner: the invocation with the body decoded into `W`, or why not.
pub type Incoming<W> = Invocation<ServiceBusMessage<Result<W, BodyDecodeError>>>;

impl<F: Function> Runner<F> {
    /// The runner of `function`.
    pub fn new(app: Arc<App>, function: F) -> Self {
        Runner {
            app,
            function: Arc::new(function),
        }
    }

    /// One delivery: trust, admission, the work within the budget, then the outcome, all inside
    /// the function's span.
    pub fn invoke(
        &self,
        invocation: Incoming<F::Wire>,
    ) -> impl Future<Output = Result<InvocationResult, Redeliver>> + Send + use<F> {
        let (app, function) = (self.app.clone(), self.function.clone());
        let (delivery, wire, raw_body) =
            arrive(function.as_ref(), invocation, app.config.max_delivery_count);
        let message = function.admit(wire, &raw_body);
        let about = function.about(message.as_ref().map_err(|_| raw_body.as_str()));
        let span = F::Report::span(&about);
        async move {
            let outcome = match message {
                Ok(message) => {
                    let work = function.run(&app, &delivery, message);
                    within_budget(&app, delivery.started, work).await
                }
                Err(refused) => Err(refused),
            };
            let retries = function.schedules_retries();
            end::<F::Report>(&app, &delivery, &about, &raw_body, retries, outcome).await
        }
        .instrument(span)
    }
}

/// Registers functions with their [`Runner`].
pub trait Serve {
    /// Adds `function` under its name.
    fn serve<F: Function>(self, app: &Arc<App>, function: F) -> Self;
}

impl Serve for Functions {
    fn serve<F: Function>(self, app: &Arc<App>, function: F) -> Self {
        let name = function.name().to_string();
        let runner = Runner::new(app.clone(), function);
        self.service_bus(
            &name,
            service_fn(move |invocation: Incoming<F::Wire>| runner.invoke(invocation)),
        )
    }
}

/// The delivery, the decoded body and its text. An untrusted count (see [`Delivery`]) makes this
/// the last delivery, so a transient failure records its outcome instead of dying unexplained in
/// the dead-letter queue; nothing of the metadata a body may have replaced is kept then.
fn arrive<F: Function>(
    function: &F,
    invocation: Incoming<F::Wire>,
    max_delivery_count: u32,
) -> (
    Delivery<NameOf<F>>,
    Result<F::Wire, BodyDecodeError>,
    String,
) {
    let started = Instant::now();
    let message = invocation.event;
    let untrusted_count = message.delivery_count.is_none()
        || (!message.shadowed.is_empty() && !function.trusts_count(&message.shadowed));
    let message_id = message
        .message_id
        .unwrap_or(invocation.context.invocation_id);
    let retries = Retries::from_properties(&message.application_properties, &message_id);
    let property = |k: &str| {
        message
            .application_properties
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    let dead_letter = property("DeadLetterReason").map(|reason| {
        (
            reason,
            property("DeadLetterErrorDescription").unwrap_or_default(),
        )
    });
    let delivery = Delivery {
        step: function.name(),
        message_id,
        delivery_count: message.delivery_count.unwrap_or(max_delivery_count),
        enqueued_time: message.enqueued_time.filter(|_| !untrusted_count),
        started,
        untrusted_count,
        retries,
        correlation_id: message.correlation_id,
        dead_letter,
    };
    (delivery, message.body, message.raw_body)
}

/// Runs `work` within the step budget (`IMAGEFERRY_STEP_BUDGET`) counted from `started`, the
/// moment the delivery reached the handler: past it the work is dropped and the outcome is
/// transient (`StepBudgetExceeded`). Every function runs its work through here, which keeps the
/// README's "Time budget" true for all of them.
pub(crate) async fn within_budget<T>(
    app: &App,
    started: Instant,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let budget = app.config.step_budget;
    match tokio::time::timeout_at((started + budget).into(), work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(over_budget(budget)),
    }
}

fn over_budget(budget: Duration) -> StepError {
    StepError::transient(EventError {
        code: "StepBudgetExceeded".into(),
        message: format!(
            "the step did not finish within its budget of {}s (IMAGEFERRY_STEP_BUDGET)",
            budget.as_secs()
        ),
        hint: None,
    })
}

/// Why a body that does not decode into a `what` message is refused: its top-level fields that
/// `known` (the fields the body's schema has) lacks, all named, or else the decode error. `schema`
/// names the schema in the hint. A field named like a Service Bus system property is unknown to
/// every schema: the Functions host would copy it over that property.
pub fn undecodable(
    what: impl Display,
    known: impl FnOnce(&serde_json::Value) -> &'static [&'static str],
    schema: &str,
    raw_body: &str,
    e: &BodyDecodeError,
) -> StepError {
    let unknown = serde_json::from_str::<serde_json::Value>(raw_body)
        .map(|json| imageferry_contract::fields::unknown_among(known(&json), &json))
        .unwrap_or_default();
    if unknown.is_empty() {
        StepError::rejected(
            "UndecodableBody",
            format!(
                "the message body is not a valid {what} message: {}",
                e.message
            ),
            Some(format!("send a JSON body matching {schema}")),
        )
    } else {
        StepError::rejected(
            "UnknownFields",
            format!(
                "the {what} message has unknown top-level fields: {}",
                unknown.join(", ")
            ),
            Some(format!(
                "remove them: only the fields of {schema} are accepted; a field named like a Service Bus system property (DeliveryCount, MessageId, EnqueuedTimeUtc, ...) would be copied over that property by the Functions host"
            )),
        )
    }
}

/// Whether a transient failure may still be redelivered: not on the last delivery, and not when
/// the count cannot be trusted.
fn may_redeliver<N>(app: &App, delivery: &Delivery<N>) -> bool {
    delivery.delivery_count < app.config.max_delivery_count && !delivery.untrusted_count
}

/// What a transient failure became.
enum AfterTransient {
    /// A retry is scheduled: the message completes with this log line.
    Scheduled(String),
    /// The outcome of the message.
    Ending(Ending),
}

/// What a transient failure of the work becomes (see [`crate::retry`]): a scheduled retry, or
/// `RetriesExhausted` once the outage budget is spent; 500 ([`Redeliver`]) only when the retry
/// cannot be sent and the message may still be redelivered, or when the function does not
/// schedule retries (`scheduled` false).
async fn on_transient<N: Display>(
    app: &App,
    delivery: &Delivery<N>,
    raw_body: &str,
    scheduled: bool,
    error: EventError,
    retry_after: Option<Duration>,
) -> Result<AfterTransient, Redeliver> {
    if !scheduled {
        tracing::warn!(step = %delivery.step, delivery = delivery.delivery_count, code = %error.code, message = %error.message, "transient failure; the message will be delivered again");
        return Err(redeliver(delivery, error));
    }
    let now = app.clock.now();
    let retries = &delivery.retries;
    match retry::decide(&app.config, retries, now, &error, retry_after) {
        Decision::GiveUp(exhausted) => Ok(AfterTransient::Ending(Ending::Failed {
            error: exhausted,
            progress: None,
        })),
        Decision::Retry(next) => {
            let queue = delivery.step.to_string();
            let message = retry::message(
                app,
                retries,
                &next,
                raw_body,
                delivery.correlation_id.clone(),
                &queue,
            );
            let retry::Next {
                attempt,
                delay,
                since,
            } = next;
            match retry::schedule(app, &queue, message).await {
                Ok(()) => {
                    tracing::warn!(step = %delivery.step, retry = attempt, delay_ms = delay.as_millis() as u64, code = %error.code, message = %error.message, "transient failure; retry scheduled");
                    Ok(AfterTransient::Scheduled(format!(
                        "transient failure ({}); retry {attempt} in {}",
                        error.code,
                        retry::human(delay)
                    )))
                }
                Err(StepError::Transient { error: send, .. }) if may_redeliver(app, delivery) => {
                    tracing::warn!(step = %delivery.step, delivery = delivery.delivery_count, code = %error.code, send_code = %send.code, send = %send.message, "transient failure and the retry could not be scheduled; the message will be redelivered");
                    Err(redeliver(delivery, error))
                }
                Err(
                    StepError::Transient { error: send, .. }
                    | StepError::Rejected(send)
                    | StepError::Failed { error: send, .. },
                ) => {
                    let tried = (now - since).try_into().unwrap_or(Duration::ZERO);
                    let exhausted =
                        retry::exhausted(&app.config, retries, tried, &error, Some(&send));
                    Ok(AfterTransient::Ending(Ending::Failed {
                        error: exhausted,
                        progress: None,
                    }))
                }
            }
        }
    }
}

fn redeliver<N: Display>(delivery: &Delivery<N>, error: EventError) -> Redeliver {
    Redeliver {
        function: delivery.step.to_string(),
        delivery_count: delivery.delivery_count,
        error,
    }
}

/// Turns the outcome into the host's answer, publishing the terminal event if there is one.
async fn end<R: Report>(
    app: &App,
    delivery: &Delivery<R::Name>,
    about: &R::About,
    raw_body: &str,
    scheduled: bool,
    outcome: Result<R::Done, StepError>,
) -> Result<InvocationResult, Redeliver> {
    let step = delivery.step;
    let prefix = format!("{step} {about} (delivery {})", delivery.delivery_count);
    let ending = match outcome {
        Ok(done) => {
            tracing::info!(%step, delivery = delivery.delivery_count, "step done");
            let line = R::done(done).unwrap_or_else(|| "done".into());
            return Ok(InvocationResult::default().log(format!("{prefix}: {line}")));
        }
        Err(StepError::Rejected(error)) => Ending::Rejected(error),
        Err(StepError::Failed { error, progress }) => Ending::Failed { error, progress },
        Err(StepError::Transient { error, retry_after }) => {
            match on_transient(app, delivery, raw_body, scheduled, error, retry_after).await? {
                AfterTransient::Scheduled(line) => {
                    return Ok(InvocationResult::default().log(format!("{prefix}: {line}")));
                }
                AfterTransient::Ending(ending) => ending,
            }
        }
    };
    let (Ending::Rejected(outcome) | Ending::Failed { error: outcome, .. }) = &ending;
    let (code, detail) = (outcome.code.clone(), outcome.message.clone());
    let terminal = R::event(app, step, delivery, about, raw_body, ending);
    let status = terminal.status;
    tracing::info!(%step, delivery = delivery.delivery_count, status, %code, %detail, "terminal outcome");
    let summary = format!("{prefix}: {status}: {code}");
    let cause = match R::publish(app, &terminal).await {
        Ok(None) => return Ok(InvocationResult::default().log(summary)),
        Ok(Some(why)) => return Ok(InvocationResult::default().log(format!("{summary} ({why})"))),
        // The outcome stands; publishing it is retried like any transient failure (the work
        // runs again and reaches it again).
        Err(StepError::Transient { error, retry_after }) => {
            tracing::warn!(%step, delivery = delivery.delivery_count, status, code = %error.code, message = %error.message, "publishing the terminal event failed");
            match on_transient(
                app,
                delivery,
                raw_body,
                scheduled,
                error.clone(),
                retry_after,
            )
            .await?
            {
                AfterTransient::Scheduled(line) => {
                    return Ok(InvocationResult::default()
                        .log(format!("{summary} (not published yet: {line})")));
                }
                AfterTransient::Ending(_) => error,
            }
        }
        Err(StepError::Rejected(error) | StepError::Failed { error, .. }) => error,
    };
    // Nothing more can be done for this message: leave a trace naming what the outcome is
    // about, the outcome that could not be published, and why.
    tracing::error!(
        %step,
        %about,
        status,
        outcome_code = %code,
        outcome = %detail,
        cause_code = %cause.code,
        cause = %cause.message,
        delivery = delivery.delivery_count,
        "the terminal event could not be published; the outcome is only in this log line"
    );
    Ok(InvocationResult::default().log(format!(
        "{summary} (not published: {}: {})",
        cause.code, cause.message
    )))
}
