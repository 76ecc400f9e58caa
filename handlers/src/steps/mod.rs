//! The four functions, one module each, and the runner that turns a step's outcome into the
//! answer the Functions host expects.
//!
//! - `Ok` → 200: the message completes.
//! - rejected / failed → the terminal event is published, then 200.
//! - transient → 500 so the host abandons the message and Service Bus redelivers it; on the
//!   delivery numbered `IMAGEFERRY_MAX_DELIVERY_COUNT` a `failed` event (`RetriesExhausted`) is
//!   published instead and the message completes, so nothing dies unexplained in the DLQ.

mod checks;
pub mod deployment_requested;
pub mod image_version_replicated;
pub mod replication_check;
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
use time::OffsetDateTime;
use tracing::Instrument as _;

/// Registers one step: decode, run the step module's `run`, then [`finish`], all inside a
/// `step` span carrying the `deploymentId`, so every line the step logs names its deployment.
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
                // ERROR level: enabled whenever any line is, so every line names the deployment.
                let span = tracing::error_span!("step", deploymentId = %deployment_id);
                async move {
                    let outcome = match body {
                        Ok(body) => $module::run(&app, &delivery, body).await,
                        Err(e) => undecodable(&delivery, &e),
                    };
                    finish(&app, &delivery, &deployment_id, &raw_body, outcome).await
                }
                .instrument(span)
            },
        )
    }};
}

/// The four functions, registered under their queue names. Nothing else is served.
pub fn functions(app: Arc<App>) -> Functions {
    Functions::new()
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
    let msg = inv.event;
    let delivery = Delivery {
        step,
        message_id: msg
            .message_id
            .unwrap_or_else(|| inv.context.invocation_id.clone()),
        delivery_count: msg.delivery_count.unwrap_or(max_delivery_count),
        enqueued_time: msg.enqueued_time,
    };
    (delivery, msg.body, msg.raw_body)
}

fn undecodable(d: &Delivery, e: &BodyDecodeError) -> Result<(), StepError> {
    Err(StepError::rejected(
        "UndecodableBody",
        format!(
            "the message body is not a valid {} message: {}",
            d.step, e.message
        ),
        Some("send a JSON body matching the published schema (schemas/)".into()),
    ))
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
            match serde_json::from_str::<serde_json::Value>(raw_body) {
                Ok(json) => event.request = Some(json),
                Err(_) => event.raw_body = Some(raw_body.to_string()),
            }
            let id = rejected_message_id(deployment_id, &delivery.message_id);
            (event, Some(id))
        }
        Err(StepError::Failed { error, progress }) => {
            let mut event = event(app, deployment_id, Status::Failed, step, &error);
            event.progress = progress.map(|p| *p);
            (event, None)
        }
        Err(StepError::Transient(error)) => {
            if delivery.delivery_count < app.config.max_delivery_count {
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
        Err(StepError::Transient(error) | StepError::Rejected(error))
        | Err(StepError::Failed { error, .. }) => Err(Redeliver {
            step,
            delivery_count: delivery.delivery_count,
            error,
        }),
    }
}

fn event(
    app: &App,
    deployment_id: &str,
    status: Status,
    step: Step,
    error: &EventError,
) -> DeploymentEvent {
    let mut e = DeploymentEvent::new(
        deployment_id,
        status,
        step,
        app.clock.now(),
        error.message.clone(),
    );
    e.error = Some(error.clone());
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
