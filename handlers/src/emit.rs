//! Sending step messages and events with deterministic MessageIds (Service Bus duplicate
//! detection drops repeats), `CorrelationId` = deployment id, and application properties
//! `deploymentId` and `status` on events so topic subscriptions can filter on them.

use crate::app::App;
use crate::outcome::StepError;
use crate::status::Claimed;
use azure_clients::OutgoingMessage;
use imageferry_contract::{
    DeploymentEvent, EventError, Status, Step, event_message_id, saturating_add, step_message_id,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

const JSON: &str = "application/json";

impl App {
    /// Publishes `event` on the events topic. Terminal events get `{id}:{status}`, progress events
    /// `{id}:{status}:{attempt}` as MessageId, unless `message_id` overrides it (rejections).
    ///
    /// A `succeeded` or `failed` event is the deployment's one terminal outcome only if it wins
    /// the status store's claim first ([`crate::status::StatusWriter::claim`]): a different
    /// outcome already claimed means this one is not published (logged, `Ok`); the same one
    /// claimed but not yet published is published again with its MessageId (Service Bus drops
    /// the duplicate). A `rejected` event is about one message, not the deployment: it is
    /// published without a claim, and a corrected resend still ends in its own outcome.
    pub async fn publish(
        &self,
        event: &DeploymentEvent,
        attempt: u32,
        message_id: Option<String>,
    ) -> Result<(), StepError> {
        self.publish_event(event, attempt, message_id)
            .await
            .map(drop)
    }

    /// [`App::publish`], saying whether the event went out.
    pub async fn publish_event(
        &self,
        event: &DeploymentEvent,
        attempt: u32,
        message_id: Option<String>,
    ) -> Result<Emitted, StepError> {
        let message_id = message_id
            .unwrap_or_else(|| event_message_id(&event.deployment_id, event.status, attempt));
        if !event.status.is_terminal() || event.status == Status::Rejected {
            self.send_event(event, message_id).await?;
            return Ok(Emitted::Sent);
        }
        match self.status.claim(event, &message_id).await? {
            Claimed::Unarbitrated => {
                self.send_event(event, message_id).await?;
                Ok(Emitted::Sent)
            }
            Claimed::Won => {
                self.send_event(event, message_id).await?;
                self.status.published(&event.deployment_id).await;
                Ok(Emitted::Sent)
            }
            Claimed::Published => {
                tracing::info!(deployment_id = %event.deployment_id, status = %event.status, %message_id, "terminal event already published");
                Ok(Emitted::AlreadySent)
            }
            Claimed::Unpublished(stored) => {
                let stored = stored.map_or_else(|| event.clone(), |e| *e);
                tracing::info!(deployment_id = %event.deployment_id, status = %stored.status, %message_id, "terminal outcome claimed earlier but not published: publishing it");
                self.send_event(&stored, message_id).await?;
                self.status.published(&event.deployment_id).await;
                Ok(Emitted::Sent)
            }
            Claimed::Lost(held) => {
                let code = event.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
                tracing::warn!(
                    deployment_id = %event.deployment_id,
                    status = %event.status,
                    code,
                    detail = %event.detail,
                    held_status = %held.status,
                    held_message_id = %held.message_id,
                    "terminal outcome not published: the deployment already has its terminal outcome (status store claim)"
                );
                Ok(Emitted::Lost(held.status))
            }
        }
    }

    /// Sends `event` with `message_id` and queues it for the status store.
    async fn send_event(
        &self,
        event: &DeploymentEvent,
        message_id: String,
    ) -> Result<(), StepError> {
        let body = serde_json::to_string(event).map_err(|e| internal("event", &e))?;
        let mut application_properties = BTreeMap::new();
        application_properties.insert("deploymentId".into(), event.deployment_id.clone());
        application_properties.insert("status".into(), event.status.as_str().into());
        let message = OutgoingMessage {
            body,
            content_type: JSON.into(),
            message_id: Some(message_id),
            correlation_id: Some(event.deployment_id.clone()).filter(|id| !id.is_empty()),
            scheduled_enqueue_time: None,
            time_to_live: None,
            label: Some(event.status.as_str().into()),
            application_properties,
        };
        self.send(&self.config.events_topic, message).await?;
        self.status.record(event);
        Ok(())
    }

    /// Sends `body` to `step`'s queue as attempt `attempt`, visible after `delay`.
    pub async fn send_step<T: Serialize>(
        &self,
        step: Step,
        deployment_id: &str,
        attempt: u32,
        body: &T,
        delay: Duration,
    ) -> Result<(), StepError> {
        let message_id = step_message_id(deployment_id, step, attempt);
        self.send_step_with_id(step, deployment_id, message_id, body, delay)
            .await
    }

    /// Like [`App::send_step`] with an explicit MessageId (continuations).
    pub async fn send_step_with_id<T: Serialize>(
        &self,
        step: Step,
        deployment_id: &str,
        message_id: String,
        body: &T,
        delay: Duration,
    ) -> Result<(), StepError> {
        let text = serde_json::to_string(body).map_err(|e| internal("step message", &e))?;
        let scheduled = (!delay.is_zero()).then(|| saturating_add(self.clock.now(), delay));
        let message = OutgoingMessage {
            body: text,
            content_type: JSON.into(),
            message_id: Some(message_id),
            correlation_id: Some(deployment_id.to_string()),
            scheduled_enqueue_time: scheduled,
            time_to_live: None,
            label: Some(step.as_str().into()),
            application_properties: BTreeMap::new(),
        };
        self.send(step.as_str(), message).await
    }

    /// Sends one message, continuing the invocation's trace: `Diagnostic-Id` holds the
    /// invocation's `traceparent`, as the Azure SDKs set it, so the next step (or an events
    /// subscriber) continues the same trace. Service Bus answers are classified: 429, 5xx and
    /// network failures are transient (redelivery may help); 401, 403, 404, 413 and other
    /// refusals are permanent (`failed` at once: sending the same message again gets the same
    /// answer).
    pub(crate) async fn send(
        &self,
        entity: &str,
        mut message: OutgoingMessage,
    ) -> Result<(), StepError> {
        if let Some(trace) = functions_runtime::TraceContext::current() {
            message
                .application_properties
                .insert(functions_runtime::DIAGNOSTIC_ID.into(), trace.traceparent());
        }
        self.bus.send(entity, message).await.map_err(|e| {
            let transient = e.is_transient();
            let error = EventError {
                code: if transient {
                    "ServiceBusSendFailed"
                } else {
                    "ServiceBusSendRefused"
                }
                .into(),
                message: format!("sending to {entity}: {e}"),
                hint: (!transient).then(|| {
                    "check the Service Bus entity, the app's Azure Service Bus Data Sender role (or SAS rights) and the message size limit".into()
                }),
            };
            StepError::classified(transient, error)
        })
    }
}

/// Whether [`App::publish_event`] sent the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// It is on the events topic.
    Sent,
    /// The same terminal event was published before.
    AlreadySent,
    /// Not published: the deployment's terminal outcome is this other status.
    Lost(Status),
}

impl Emitted {
    /// For the invocation's log line: why nothing went out, if nothing did.
    pub fn note(self, deployment_id: &str) -> Option<String> {
        match self {
            Emitted::Sent => None,
            Emitted::AlreadySent => Some("already published".into()),
            Emitted::Lost(held) => Some(format!(
                "not published: deployment {deployment_id} already {held}"
            )),
        }
    }
}

fn internal(what: &str, e: &serde_json::Error) -> StepError {
    StepError::failed(
        "InternalError",
        format!("serializing the {what}: {e}"),
        None,
    )
}
