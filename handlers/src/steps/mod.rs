//! The four deployment steps and the two rollout functions, one module each, and the runner
//! that turns a step's outcome into the answer the Functions host expects (the rollout
//! functions are registered by [`crate::rollout::functions`] with the same budget and
//! classification).
//!
//! - `Ok` → 200: the message completes.
//! - rejected / failed → the terminal event is published, then 200.
//! - transient → 500 so the host abandons the message and Service Bus redelivers it; on the
//!   delivery numbered `IMAGEFERRY_MAX_DELIVERY_COUNT` a `failed` event (`RetriesExhausted`) is
//!   published instead and the message completes, so nothing dies unexplained in the DLQ.
//! - a step never runs longer than `IMAGEFERRY_STEP_BUDGET` (then it is transient).
//! - a body with top-level fields named like Service Bus system properties cannot be trusted for
//!   its delivery count: it is refused at once, and treated as on its last delivery.
//! - when even the terminal event cannot be published, an error log line names the deployment
//!   and the cause.

mod checks;
pub mod deployment_requested;
pub mod image_version_published;
pub mod image_version_replicated;
pub mod replication_check;
pub mod rollout_check;
pub mod vm_provisioning;

use crate::app::App;
use crate::outcome::StepError;
use functions_runtime::{
    BodyDecodeError, Functions, Invocation, InvocationResult, ServiceBusMessage, service_fn,
};
use imageferry_contract::validate::is_deployment_id;
use imageferry_contract::{
    DeploymentEvent, DeploymentRequest, EventError, ImageVersionReplicated, ReplicationCheck,
    Status, Step, VmProvisioning, rejected_message_id,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tracing::Instrument as _;

/// Largest original body a `rejected` event echoes (as JSON-escaped text); the rest is cut.
/// With the event's other fields this keeps it well inside Service Bus Standard's 256 KB.
pub const MAX_ECHO: usize = 64 * 1024;
/// Longest error message an event carries.
pub const MAX_ERROR_MESSAGE: usize = 16 * 1024;

/// Registers one step: decode, run the step module's `run` within the step budget, then
/// [`finish`], all inside a `step` span carrying the `deploymentId`, so every line the step logs
/// names its deployment.
macro_rules! step_service {
    ($app:expr, $step:expr, $module:ident, $ty:ty) => {{
        let app = $app;
        service_fn(
            move |inv: Invocation<ServiceBusMessage<Result<$ty, BodyDecodeError>>>| {
                let app = app.clone();
                let (delivery, body, raw_body) = start($step, inv, app.config.max_delivery_count);
                let deployment_id = match &body {
                    Ok(body) => body.deployment_id().to_string(),
                    Err(_) => sniff_deployment_id(&raw_body),
                };
                // On the invocation span too, so the runtime's own lines for this invocation
                // (failed, panicked) name the deployment as well.
                tracing::Span::current().record("deploymentId", deployment_id.as_str());
                // ERROR level: enabled whenever any line is, so every line names the deployment.
                let span = tracing::error_span!("step", deploymentId = %deployment_id);
                async move {
                    let outcome = match body {
                        Ok(body) => {
                            let run = $module::run(&app, &delivery, body);
                            within_budget(&app, delivery.started, run).await
                        }
                        Err(e) => undecodable(&delivery, &raw_body, &e),
                    };
                    finish(&app, &delivery, &deployment_id, &raw_body, outcome).await
                }
                .instrument(span)
            },
        )
    }};
}

/// The runtime's invocation span plus an empty `deploymentId`, which each step records as soon
/// as it knows the deployment, so that every line of the invocation names it, including the
/// runtime's own (invocation failed, handler panicked).
fn invocation_span(f: &functions_runtime::SpanFields<'_>) -> tracing::Span {
    tracing::error_span!(
        "invocation",
        function = f.function,
        invocation_id = f.invocation_id,
        message_id = f.message_id,
        delivery_count = f.delivery_count,
        trace_id = f.trace_id,
        span_id = tracing::field::Empty,
        deploymentId = tracing::field::Empty,
    )
}

/// The four deployment steps, registered under their queue names (the two rollout functions are
/// added by [`crate::rollout::functions`]). Nothing else is served.
pub fn functions(app: Arc<App>) -> Functions {
    Functions::new()
        .invocation_span(invocation_span)
        .service_bus(
            Step::DeploymentRequested.as_str(),
            step_service!(
                app.clone(),
                Step::DeploymentRequested,
                deployment_requested,
                DeploymentRequest
            ),
        )
        .service_bus(
            Step::ReplicationCheck.as_str(),
            step_service!(
                app.clone(),
                Step::ReplicationCheck,
                replication_check,
                ReplicationCheck
            ),
        )
        .service_bus(
            Step::ImageVersionReplicated.as_str(),
            step_service!(
                app.clone(),
                Step::ImageVersionReplicated,
                image_version_replicated,
                ImageVersionReplicated
            ),
        )
        .service_bus(
            Step::VmProvisioning.as_str(),
            step_service!(app, Step::VmProvisioning, vm_provisioning, VmProvisioning),
        )
}

/// One delivery of a message, as a step sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The step (function) being run.
    pub step: Step,
    /// The message's MessageId (or the invocation id when the host sent none).
    pub message_id: String,
    /// 1 on the first delivery.
    pub delivery_count: u32,
    /// When the message was first enqueued, if known.
    pub enqueued_time: Option<OffsetDateTime>,
    /// When this delivery reached the handler (the step budget counts from here).
    pub started: Instant,
    /// The body has top-level fields named like system properties: the delivery count may be
    /// the body's, so this delivery is treated as the last one.
    pub untrusted_count: bool,
}

/// The handler failed transiently; the host abandons the message so it is redelivered.
#[derive(Debug, thiserror::Error)]
#[error("{step}: transient failure (delivery {delivery_count}): {}: {}", .error.code, .error.message)]
pub struct Redeliver {
    step: Step,
    delivery_count: u32,
    error: EventError,
}

/// The deployment id a step message is about.
pub trait HasDeploymentId {
    /// The `deploymentId` of the request inside.
    fn deployment_id(&self) -> &str;
}

impl HasDeploymentId for imageferry_contract::DeploymentRequest {
    fn deployment_id(&self) -> &str {
        &self.deployment_id
    }
}
impl HasDeploymentId for ReplicationCheck {
    fn deployment_id(&self) -> &str {
        &self.request.deployment_id
    }
}
impl HasDeploymentId for ImageVersionReplicated {
    fn deployment_id(&self) -> &str {
        &self.request().deployment_id
    }
}
impl HasDeploymentId for VmProvisioning {
    fn deployment_id(&self) -> &str {
        &self.request.deployment_id
    }
}

/// The delivery, the body and its text. An unknown delivery count (a body field named like
/// `DeliveryCount` may have overwritten it) counts as the last delivery (`max_delivery_count`),
/// so a transient failure records `failed` instead of dying unexplained in the dead-letter queue.
fn start<T>(
    step: Step,
    inv: Invocation<ServiceBusMessage<Result<T, BodyDecodeError>>>,
    max_delivery_count: u32,
) -> (Delivery, Result<T, BodyDecodeError>, String) {
    let started = Instant::now();
    let msg = inv.event;
    let untrusted_count = msg.delivery_count.is_none() || !msg.shadowed.is_empty();
    let delivery = Delivery {
        step,
        message_id: msg
            .message_id
            .unwrap_or_else(|| inv.context.invocation_id.clone()),
        delivery_count: msg.delivery_count.unwrap_or(max_delivery_count),
        // The runtime treats a shadowed system property as absent; a body that shadowed one may
        // have replaced the enqueue time too, so nothing of the metadata is trusted then.
        enqueued_time: msg.enqueued_time.filter(|_| !untrusted_count),
        started,
        untrusted_count,
    };
    (delivery, msg.body, msg.raw_body)
}

/// Runs `work` within the step budget (`IMAGEFERRY_STEP_BUDGET`) counted from `started`, the
/// moment the delivery reached the handler: past it the work is dropped and the outcome is
/// transient (`StepBudgetExceeded`), so the message is redelivered, or recorded `failed` on its
/// last delivery. Every function of the app (the four steps and the two rollout functions) runs
/// its work through here, which keeps the README's "Time budget" true for all six.
pub(crate) async fn within_budget<T>(
    app: &App,
    started: Instant,
    work: impl std::future::Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let budget = app.config.step_budget;
    match tokio::time::timeout_at((started + budget).into(), work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(over_budget(budget)),
    }
}

fn over_budget(budget: Duration) -> StepError {
    StepError::Transient(EventError {
        code: "StepBudgetExceeded".into(),
        message: format!(
            "the step did not finish within its budget of {}s (IMAGEFERRY_STEP_BUDGET)",
            budget.as_secs()
        ),
        hint: None,
    })
}

fn undecodable(d: &Delivery, raw_body: &str, e: &BodyDecodeError) -> Result<(), StepError> {
    let unknown = serde_json::from_str::<serde_json::Value>(raw_body)
        .map(|json| imageferry_contract::fields::unknown(d.step, &json))
        .unwrap_or_default();
    let error = if unknown.is_empty() {
        StepError::rejected(
            "UndecodableBody",
            format!(
                "the message body is not a valid {} message: {}",
                d.step, e.message
            ),
            Some("send a JSON body matching the published schema (schemas/)".into()),
        )
    } else {
        StepError::rejected(
            "UnknownFields",
            format!(
                "the {} message has unknown top-level fields: {}",
                d.step,
                unknown.join(", ")
            ),
            Some(
                "remove them: only the schema's fields are accepted (schemas/); a field named like a Service Bus system property (DeliveryCount, MessageId, EnqueuedTimeUtc, ...) would be copied over that property by the Functions host"
                    .into(),
            ),
        )
    };
    Err(error)
}

/// Turns a step's outcome into the host answer, publishing the terminal event if there is one.
async fn finish(
    app: &App,
    delivery: &Delivery,
    deployment_id: &str,
    raw_body: &str,
    outcome: Result<(), StepError>,
) -> Result<InvocationResult, Redeliver> {
    let step = delivery.step;
    let log_prefix = format!(
        "{step} {deployment_id:?} (delivery {})",
        delivery.delivery_count
    );
    let terminal = match outcome {
        Ok(()) => {
            tracing::info!(%step, deployment_id, delivery = delivery.delivery_count, "step done");
            return Ok(InvocationResult::default().log(format!("{log_prefix}: done")));
        }
        Err(StepError::Rejected(error)) => {
            // A rejected body's id may be anything; the event (and its MessageId) only carries a
            // valid one. The original body goes along in full.
            let deployment_id = if is_deployment_id(deployment_id) {
                deployment_id
            } else {
                ""
            };
            let mut event = event(app, deployment_id, Status::Rejected, step, &error);
            echo_body(&mut event, raw_body);
            let id = rejected_message_id(deployment_id, &delivery.message_id);
            (event, Some(id))
        }
        Err(StepError::Failed { error, progress }) => {
            let mut event = event(app, deployment_id, Status::Failed, step, &error);
            event.progress = progress.map(|p| *p);
            (event, None)
        }
        Err(StepError::Transient(error)) => {
            if delivery.delivery_count < app.config.max_delivery_count && !delivery.untrusted_count
            {
                tracing::warn!(%step, deployment_id, delivery = delivery.delivery_count, code = %error.code, message = %error.message, "transient failure; the message will be redelivered");
                return Err(Redeliver {
                    step,
                    delivery_count: delivery.delivery_count,
                    error,
                });
            }
            let exhausted = EventError {
                code: "RetriesExhausted".into(),
                message: format!(
                    "gave up after {} deliveries; last error: {}: {}",
                    delivery.delivery_count, error.code, error.message
                ),
                hint: error.hint.clone(),
            };
            (
                event(app, deployment_id, Status::Failed, step, &exhausted),
                None,
            )
        }
    };
    let (event, message_id) = terminal;
    let summary = format!(
        "{log_prefix}: {}: {}",
        event.status,
        event.error.as_ref().map_or("", |e| e.code.as_str())
    );
    tracing::info!(%step, deployment_id, status = %event.status, code = event.error.as_ref().map(|e| e.code.as_str()), "terminal outcome");
    match app.publish(&event, 0, message_id).await {
        Ok(()) => Ok(InvocationResult::default().log(summary)),
        Err(StepError::Transient(error))
            if delivery.delivery_count < app.config.max_delivery_count
                && !delivery.untrusted_count =>
        {
            tracing::warn!(%step, deployment_id, status = %event.status, code = %error.code, message = %error.message, "publishing the terminal event failed; the message will be redelivered");
            Err(Redeliver {
                step,
                delivery_count: delivery.delivery_count,
                error,
            })
        }
        Err(StepError::Transient(error) | StepError::Rejected(error))
        | Err(StepError::Failed { error, .. }) => {
            // Nothing more can be done for this message: leave a trace naming the deployment,
            // the outcome that could not be published, and why.
            tracing::error!(
                %step,
                deployment_id,
                status = %event.status,
                outcome_code = event.error.as_ref().map(|e| e.code.as_str()),
                outcome = %event.detail,
                cause_code = %error.code,
                cause = %error.message,
                delivery = delivery.delivery_count,
                "the terminal event could not be published; the deployment's outcome is only in this log line"
            );
            Ok(InvocationResult::default().log(format!(
                "{summary} (not published: {}: {})",
                error.code, error.message
            )))
        }
    }
}

/// Puts the original body into a `rejected` event: whole when it is JSON and small, otherwise
/// its beginning as text up to [`MAX_ECHO`] (JSON-escaped), marked `bodyCut`; always with the
/// body's size and SHA-256.
fn echo_body(event: &mut DeploymentEvent, raw_body: &str) {
    event.body_size = Some(raw_body.len() as u64);
    event.body_sha256 = Some(sha256_hex(raw_body.as_bytes()));
    if raw_body.len() <= MAX_ECHO
        && let Ok(json) = serde_json::from_str::<serde_json::Value>(raw_body)
        && serde_json::to_string(&json).is_ok_and(|s| s.len() <= MAX_ECHO)
    {
        event.request = Some(json);
        return;
    }
    let mut escaped = 0usize;
    let mut end = 0usize;
    for (i, c) in raw_body.char_indices() {
        escaped += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if escaped > MAX_ECHO {
            break;
        }
        end = i + c.len_utf8();
    }
    event.body_cut = end < raw_body.len();
    event.raw_body = Some(raw_body[..end].to_string());
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Cuts an event's error message to [`MAX_ERROR_MESSAGE`] bytes (at a character boundary).
fn bounded_message(mut message: String) -> String {
    if message.len() > MAX_ERROR_MESSAGE {
        let mut end = MAX_ERROR_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("… (cut)");
    }
    message
}

fn event(
    app: &App,
    deployment_id: &str,
    status: Status,
    step: Step,
    error: &EventError,
) -> DeploymentEvent {
    let message = bounded_message(error.message.clone());
    let mut e = DeploymentEvent::new(
        deployment_id,
        status,
        step,
        app.clock.now(),
        message.clone(),
    );
    e.error = Some(EventError {
        message,
        ..error.clone()
    });
    e
}

/// Best effort: the `deploymentId` (or `request.deploymentId`) of an undecodable body.
fn sniff_deployment_id(raw: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(raw) else {
        return String::new();
    };
    let id = json
        .get("deploymentId")
        .or_else(|| json.get("request").and_then(|r| r.get("deploymentId")))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if is_deployment_id(id) {
        id.to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected() -> DeploymentEvent {
        DeploymentEvent::new(
            "d",
            Status::Rejected,
            Step::DeploymentRequested,
            OffsetDateTime::UNIX_EPOCH,
            "x",
        )
    }

    #[test]
    fn small_json_bodies_are_echoed_whole_with_size_and_hash() {
        let mut e = rejected();
        echo_body(&mut e, r#"{"a":1}"#);
        assert_eq!(e.request, Some(serde_json::json!({"a": 1})));
        assert_eq!(e.body_size, Some(7));
        // sha256('{"a":1}')
        assert_eq!(
            e.body_sha256.as_deref(),
            Some("015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862")
        );
        assert!(!e.body_cut && e.raw_body.is_none());
    }

    #[test]
    fn large_or_escape_heavy_bodies_are_cut_within_the_bound() {
        for raw in [
            "x".repeat(250 * 1024),
            "\u{1}".repeat(100 * 1024),
            format!("{{\"k\":\"{}\"}}", "\"".repeat(60 * 1024)),
            "é".repeat(100 * 1024),
        ] {
            let mut e = rejected();
            echo_body(&mut e, &raw);
            assert!(e.body_cut, "{} bytes", raw.len());
            assert!(e.request.is_none());
            let echoed = e.raw_body.as_deref().unwrap();
            assert!(raw.starts_with(echoed));
            assert!(serde_json::to_string(echoed).unwrap().len() <= MAX_ECHO + 2);
            assert!(serde_json::to_string(&e).unwrap().len() < 100 * 1024);
            assert_eq!(e.body_size, Some(raw.len() as u64));
        }
    }

    #[test]
    fn error_messages_are_bounded() {
        let long = "é".repeat(MAX_ERROR_MESSAGE);
        let cut = bounded_message(long);
        assert!(cut.len() <= MAX_ERROR_MESSAGE + "… (cut)".len());
        assert!(cut.ends_with("(cut)"));
        assert_eq!(bounded_message("short".into()), "short");
    }
}
