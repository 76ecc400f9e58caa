//! The dead-letter functions: one per step queue, triggered by its dead-letter sub-queue
//! (`<queue>/$DeadLetterQueue`, function `<queue>-dead-letters`). Service Bus dead-letters a
//! message its consumers never completed (the handler killed during every delivery up to the
//! queue's `maxDeliveryCount`, or the time to live spent while nothing read the queue); without
//! these functions such a deployment would never end.
//!
//! For the deployment the message is about (its `deploymentId`, or `request.deploymentId`):
//! - no terminal outcome yet → `failed` with code `DeadLettered`, naming the dead-letter reason and
//!   description, claimed and published like any terminal outcome;
//! - an outcome claimed but not published (the handler died between the two) → that outcome is
//!   published;
//! - an outcome published → only a log line.
//!
//! The message completes in every case. A transient failure (the status store or the events topic
//! down) answers 500: a dead-letter sub-queue cannot be sent to, so the broker's next delivery is
//! the retry. Without a status store nothing tells whether the deployment already ended, and
//! `failed` is published (it may then be a second terminal event: see the README).

use crate::app::App;
use crate::outcome::StepError;
use crate::runner::{Delivery, Ending, Function, Report, Terminal};
use crate::steps::{DeploymentId, sniff_deployment_id};
use functions_runtime::BodyDecodeError;
use imageferry_contract::{DeploymentEvent, EventError, Status, Step};
use std::fmt;
use std::future::Future;

/// A step queue's dead-letter sub-queue, as the name of the function that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterQueue(pub Step);

impl DeadLetterQueue {
    /// The function's name: `<queue>-dead-letters`.
    pub fn function_name(self) -> String {
        format!("{}-dead-letters", self.0)
    }

    /// The entity its trigger reads: `<queue>/$DeadLetterQueue`.
    pub fn entity(self) -> String {
        azure_clients::servicebus::dead_letter_path(self.0.as_str())
    }
}

impl fmt::Display for DeadLetterQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.function_name())
    }
}

/// The dead-letter function of one step queue.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetters(pub Step);

/// A dead-lettered step message: only its deployment matters (empty when the body names no
/// valid one).
#[derive(Debug, Clone)]
pub struct DeadLettered {
    /// The deployment id.
    pub deployment_id: String,
}

impl Function for DeadLetters {
    type Report = DeadLetterReport;
    /// Any body arrives here (it is whatever the step refused to complete).
    type Wire = serde_json::Value;
    type Message = DeadLettered;

    fn name(&self) -> DeadLetterQueue {
        DeadLetterQueue(self.0)
    }

    /// A dead-letter sub-queue cannot be sent to: the broker's next delivery is the retry.
    fn schedules_retries(&self) -> bool {
        false
    }

    fn admit(
        &self,
        _wire: Result<serde_json::Value, BodyDecodeError>,
        raw_body: &str,
    ) -> Result<DeadLettered, StepError> {
        Ok(DeadLettered {
            deployment_id: sniff_deployment_id(raw_body),
        })
    }

    fn about(&self, message: Result<&DeadLettered, &str>) -> DeploymentId {
        DeploymentId(match message {
            Ok(m) => m.deployment_id.clone(),
            Err(raw) => sniff_deployment_id(raw),
        })
    }

    fn run<'a>(
        &'a self,
        app: &'a App,
        delivery: &'a Delivery<DeadLetterQueue>,
        message: DeadLettered,
    ) -> impl Future<Output = Result<String, StepError>> + Send + 'a {
        record(app, self.0, delivery, message)
    }
}

/// Records what the dead-lettered message means for its deployment; the line for the log.
async fn record(
    app: &App,
    step: Step,
    delivery: &Delivery<DeadLetterQueue>,
    message: DeadLettered,
) -> Result<String, StepError> {
    let (reason, description) = delivery
        .dead_letter
        .clone()
        .unwrap_or_else(|| ("unknown".into(), String::new()));
    let id = message.deployment_id;
    if id.is_empty() {
        tracing::warn!(queue = %step, message_id = %delivery.message_id, %reason, %description, "a dead-lettered message names no deployment; nothing to record");
        return Ok(format!("no deployment named; {reason}"));
    }
    match app.status.terminal(&id).await? {
        Some(claim) if claim.published => {
            tracing::info!(deployment_id = %id, queue = %step, message_id = %delivery.message_id, %reason, status = %claim.status, "a dead-lettered message of a deployment that already ended");
            Ok(format!("already {}; {reason}", claim.status))
        }
        Some(claim) if claim.event.is_some() => {
            let event = claim.event.expect("checked");
            tracing::warn!(deployment_id = %id, queue = %step, %reason, status = %claim.status, "a dead-lettered message of a deployment whose outcome was claimed but not published: publishing it");
            app.publish(&event, 0, Some(claim.message_id)).await?;
            Ok(format!("published the claimed {}; {reason}", claim.status))
        }
        _ => {
            let failed = dead_lettered_event(app, step, delivery, &id, &reason, &description);
            let emitted = app.publish_event(&failed, 0, None).await?;
            Ok(match emitted.note(&id) {
                None => format!("failed: DeadLettered ({reason})"),
                Some(why) => format!("failed: DeadLettered ({reason}; {why})"),
            })
        }
    }
}

/// The `failed` event of a deployment whose step message was dead-lettered.
fn dead_lettered_event(
    app: &App,
    step: Step,
    delivery: &Delivery<DeadLetterQueue>,
    id: &str,
    reason: &str,
    description: &str,
) -> DeploymentEvent {
    let hint = match reason {
        "MaxDeliveryCountExceeded" => {
            "the step never completed this message (its handler failed or was killed on every delivery): see the handler's log lines for this deployment; once the cause is fixed, send the request again with the same deploymentId (nothing is created twice)"
        }
        "TTLExpiredException" => {
            "the message waited longer than its time to live: the function app was stopped, or could not read the queue; send the request again with the same deploymentId"
        }
        _ => {
            "the message was dead-lettered before the deployment ended; send the request again with the same deploymentId (nothing is created twice)"
        }
    };
    let detail = if description.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}: {description}")
    };
    let message = format!(
        "the {step} message {} was dead-lettered by Service Bus after {} deliveries ({detail})",
        delivery.message_id, delivery.delivery_count
    );
    let mut event = DeploymentEvent::new(id, Status::Failed, step, app.clock.now(), &message);
    event.error = Some(EventError {
        code: "DeadLettered".into(),
        message,
        hint: Some(hint.into()),
    });
    event
}

/// The dead-letter functions' outcomes: they record their own event in their work; a failure
/// of that is told as a `failed` event of the deployment, like a step's.
#[derive(Debug)]
pub struct DeadLetterReport;

impl Report for DeadLetterReport {
    type Name = DeadLetterQueue;
    type About = DeploymentId;
    type Done = String;
    type Event = DeploymentEvent;

    fn span(about: &DeploymentId) -> tracing::Span {
        tracing::Span::current().record("deploymentId", about.0.as_str());
        tracing::error_span!("dead_letter", deploymentId = %about.0)
    }

    fn done(line: String) -> Option<String> {
        Some(line)
    }

    fn event(
        app: &App,
        queue: DeadLetterQueue,
        _delivery: &Delivery<DeadLetterQueue>,
        about: &DeploymentId,
        _raw_body: &str,
        ending: Ending,
    ) -> Terminal<DeploymentEvent> {
        let (Ending::Rejected(error) | Ending::Failed { error, .. }) = ending;
        let mut event = DeploymentEvent::new(
            &about.0,
            Status::Failed,
            queue.0,
            app.clock.now(),
            &error.message,
        );
        event.error = Some(error);
        Terminal {
            event,
            status: Status::Failed.as_str(),
            message_id: None,
        }
    }

    async fn publish(
        app: &App,
        terminal: &Terminal<DeploymentEvent>,
    ) -> Result<Option<String>, StepError> {
        let emitted = app.publish_event(&terminal.event, 0, None).await?;
        Ok(emitted.note(&terminal.event.deployment_id))
    }
}
