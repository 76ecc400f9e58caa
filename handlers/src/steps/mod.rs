//! The four deployment steps, one module each (the rollout functions' work is here too:
//! [`image_version_published`], [`rollout_check`]), and how a deployment step's outcomes are told:
//! [`DeploymentReport`], deployment events on the events topic. The [`crate::runner`] runs every
//! step (delivery trust, step budget, undecodable bodies, redelivery); a step only decodes into its
//! message type and does its work ([`DeploymentStep`]).
//!
//! - rejected → a `rejected` event echoing the original body (cut to [`MAX_ECHO`]), with a
//!   MessageId per refused message, and only a valid `deploymentId`;
//! - failed (or retries exhausted) → a `failed` event, with the replication progress last seen.

mod checks;
pub mod deployment_requested;
pub mod image_version_published;
pub mod image_version_replicated;
pub mod replication_check;
pub mod rollout_check;
pub mod scale_set;
pub mod vm_provisioning;

use crate::app::App;
use crate::dead_letters::DeadLetters;
use crate::outcome::StepError;
use crate::runner::{self, Ending, Function, Report, Serve as _, Terminal};
use functions_runtime::{BodyDecodeError, Functions};
use imageferry_contract::validate::is_deployment_id;
use imageferry_contract::{
    DeploymentEvent, DeploymentRequest, EventError, ImageVersionReplicated, ProvisioningMessage,
    ReplicationCheck, Status, Step, VmProvisioning, fields, rejected_message_id,
};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::runner::Delivery;

/// Largest original body a `rejected` event echoes (as JSON-escaped text); the rest is cut.
/// With the event's other fields this keeps it well inside Service Bus Standard's 256 KB.
pub const MAX_ECHO: usize = 64 * 1024;
/// Longest error message an event carries.
pub const MAX_ERROR_MESSAGE: usize = 16 * 1024;

/// The runtime's invocation span plus an empty `deploymentId`, which the deployment steps record
/// as soon as they know the deployment ([`DeploymentReport::span`]), so that every line of the
/// invocation names it, including the runtime's own (invocation failed, handler panicked).
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

/// The four deployment steps, registered under their queue names, and their dead-letter
/// functions (`<queue>-dead-letters`, [`crate::dead_letters`]); the two rollout functions are
/// added by [`crate::rollout::functions`]. Nothing else is served.
pub fn functions(app: Arc<App>) -> Functions {
    Functions::new()
        .invocation_span(invocation_span)
        .serve(
            &app,
            DeploymentStep::new(Step::DeploymentRequested, |app, d, m| {
                Box::pin(deployment_requested::run(app, d, m))
            }),
        )
        .serve(
            &app,
            DeploymentStep::new(Step::ReplicationCheck, |app, d, m| {
                Box::pin(replication_check::run(app, d, m))
            }),
        )
        .serve(
            &app,
            DeploymentStep::new(Step::ImageVersionReplicated, |app, d, m| {
                Box::pin(image_version_replicated::run(app, d, m))
            }),
        )
        .serve(
            &app,
            DeploymentStep::new(Step::VmProvisioning, |app, d, m| {
                Box::pin(vm_provisioning::run(app, d, m))
            }),
        )
        .serve(&app, DeadLetters(Step::DeploymentRequested))
        .serve(&app, DeadLetters(Step::ReplicationCheck))
        .serve(&app, DeadLetters(Step::ImageVersionReplicated))
        .serve(&app, DeadLetters(Step::VmProvisioning))
}

/// A step's work on one message: its module's `run`.
pub type StepWork<M> =
    for<'a> fn(
        &'a App,
        &'a Delivery,
        M,
    ) -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;

/// A deployment step as a [`Function`]: its [`Step`] (the queue), its message type `M` (decoded
/// once by the runtime; a body that does not decode is rejected naming its unknown fields) and
/// its work. A new step (issue 19's teardown) is one more of these in [`functions`].
pub struct DeploymentStep<M> {
    step: Step,
    work: StepWork<M>,
}

impl<M> DeploymentStep<M> {
    /// Step `step` doing `work`.
    pub fn new(step: Step, work: StepWork<M>) -> Self {
        DeploymentStep { step, work }
    }
}

impl<M> Function for DeploymentStep<M>
where
    M: DeserializeOwned + HasDeploymentId + Send + 'static,
{
    type Report = DeploymentReport;
    type Wire = M;
    type Message = M;

    fn name(&self) -> Step {
        self.step
    }

    fn admit(&self, wire: Result<M, BodyDecodeError>, raw_body: &str) -> Result<M, StepError> {
        let step = self.step;
        wire.map_err(|e| {
            runner::undecodable(
                step,
                |json| fields::known(step, json),
                "the published schema (schemas/)",
                raw_body,
                &e,
            )
        })
    }

    fn about(&self, message: Result<&M, &str>) -> DeploymentId {
        DeploymentId(match message {
            Ok(message) => message.deployment_id().to_string(),
            Err(raw_body) => sniff_deployment_id(raw_body),
        })
    }

    fn run<'a>(
        &'a self,
        app: &'a App,
        delivery: &'a Delivery,
        message: M,
    ) -> impl Future<Output = Result<(), StepError>> + Send + 'a {
        (self.work)(app, delivery, message)
    }
}

/// The deployment a step's outcome is about (empty when a refused body named none that is valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentId(pub String);

impl std::fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The deployment id a step message is about.
pub trait HasDeploymentId {
    /// The `deploymentId` of the request inside.
    fn deployment_id(&self) -> &str;
}

impl HasDeploymentId for DeploymentRequest {
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
impl HasDeploymentId for ProvisioningMessage {
    fn deployment_id(&self) -> &str {
        &self.request().deployment_id
    }
}

/// The deployment steps' outcomes: deployment events on the events topic (recorded in the status
/// store by [`App::publish`]).
#[derive(Debug)]
pub struct DeploymentReport;

impl Report for DeploymentReport {
    type Name = Step;
    type About = DeploymentId;
    type Done = ();
    type Event = DeploymentEvent;

    /// `step` with the `deploymentId`, also recorded on the invocation span so that the
    /// runtime's own lines for this invocation (failed, panicked) name the deployment. At ERROR
    /// level: enabled whenever any line is, so every line names the deployment.
    fn span(about: &DeploymentId) -> tracing::Span {
        tracing::Span::current().record("deploymentId", about.0.as_str());
        tracing::error_span!("step", deploymentId = %about.0)
    }

    fn done((): ()) -> Option<String> {
        None
    }

    fn event(
        app: &App,
        step: Step,
        delivery: &Delivery,
        about: &DeploymentId,
        raw_body: &str,
        ending: Ending,
    ) -> Terminal<DeploymentEvent> {
        let deployment_id = about.0.as_str();
        match ending {
            Ending::Rejected(error) => {
                // A rejected body's id may be anything; the event (and its MessageId) only
                // carries a valid one. The original body goes along in full.
                let deployment_id = if is_deployment_id(deployment_id) {
                    deployment_id
                } else {
                    ""
                };
                let mut event = event(app, deployment_id, Status::Rejected, step, &error);
                echo_body(&mut event, raw_body);
                Terminal {
                    event,
                    status: Status::Rejected.as_str(),
                    message_id: Some(rejected_message_id(deployment_id, &delivery.message_id)),
                }
            }
            Ending::Failed { error, progress } => {
                let mut event = event(app, deployment_id, Status::Failed, step, &error);
                event.progress = progress.map(|p| *p);
                Terminal {
                    event,
                    status: Status::Failed.as_str(),
                    message_id: None,
                }
            }
        }
    }

    async fn publish(
        app: &App,
        terminal: &Terminal<DeploymentEvent>,
    ) -> Result<Option<String>, StepError> {
        let emitted = app
            .publish_event(&terminal.event, 0, terminal.message_id.clone())
            .await?;
        Ok(emitted.note(&terminal.event.deployment_id))
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
pub(crate) fn sniff_deployment_id(raw: &str) -> String {
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
    use time::OffsetDateTime;

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
