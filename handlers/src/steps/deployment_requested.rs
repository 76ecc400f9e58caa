//! `deployment-requested`: validate, check the allow-lists and the image, accept, then either
//! hand over to `image-version-replicated` or schedule the first `replication-check`.

use super::Delivery;
use super::checks::{admit, before_deadline, entry_deadline, image_facts, replication};
use crate::app::App;
use crate::image::Replication;
use crate::outcome::StepError;
use imageferry_contract::{
    DeploymentEvent, DeploymentRequest, ReplicatedStep, ReplicationCheck, Status, Step,
};
use std::time::Duration;

/// Runs the step for one delivery.
pub async fn run(app: &App, d: &Delivery, req: DeploymentRequest) -> Result<(), StepError> {
    let (image, _) = admit(app, &req)?;
    if let (Some(deadline), Some(enqueued)) = (req.deadline, d.enqueued_time)
        && deadline <= enqueued
    {
        return Err(StepError::rejected(
            "ValidationFailed",
            "deadline: is before the request was sent",
            None,
        ));
    }
    let deadline = entry_deadline(app, &req, d.enqueued_time);
    before_deadline(app, deadline, "waiting to accept the request", None)?;
    image_facts(app, &req, &image).await?;
    let mut accepted = DeploymentEvent::new(
        &req.deployment_id,
        Status::Accepted,
        d.step,
        app.clock.now(),
        format!("accepted: {} in {}", image, req.target.location),
    );
    accepted.request = serde_json::to_value(&req).ok();
    app.publish(&accepted, 0, None).await?;
    let state = replication(app, &req, &image).await?;
    handle_replication(app, &req, deadline, 0, state).await
}

/// What `deployment-requested` and `replication-check` do with a replication state: hand over
/// when ready, schedule check `attempt + 1` when not, fail or reject otherwise.
pub(crate) async fn handle_replication(
    app: &App,
    req: &DeploymentRequest,
    deadline: time::OffsetDateTime,
    attempt: u32,
    state: Replication,
) -> Result<(), StepError> {
    let id = &req.deployment_id;
    match state {
        Replication::Ready(_) => {
            let next = ReplicatedStep {
                request: req.clone(),
                deadline,
                attempt,
                continuation: 0,
            };
            app.send_step(Step::ImageVersionReplicated, id, attempt, &next, Duration::ZERO)
                .await
        }
        Replication::Waiting(progress) => {
            let next_attempt = attempt.saturating_add(1);
            let until_deadline = (deadline - app.clock.now()).try_into().unwrap_or(Duration::ZERO);
            let delay = app.config.replication_backoff(next_attempt).min(until_deadline);
            let next = ReplicationCheck {
                request: req.clone(),
                attempt: next_attempt,
                deadline,
                last_progress: Some(progress.clone()),
            };
            app.send_step(Step::ReplicationCheck, id, next_attempt, &next, delay)
                .await?;
            let step = if attempt == 0 {
                Step::DeploymentRequested
            } else {
                Step::ReplicationCheck
            };
            let mut event = DeploymentEvent::new(
                id,
                Status::WaitingForReplication,
                step,
                app.clock.now(),
                format!(
                    "image version is {} in {}; next check in {}s",
                    progress.state,
                    progress.region,
                    delay.as_secs()
                ),
            );
            event.progress = Some(progress);
            app.publish(&event, attempt, None).await
        }
        Replication::Failed(progress) => Err(StepError::Failed {
            error: imageferry_contract::EventError {
                code: "ReplicationFailed".into(),
                message: format!(
                    "replication of the image version to {} failed (state {}, provisioningState {}){}",
                    progress.region,
                    progress.state,
                    progress.provisioning_state.as_deref().unwrap_or("unknown"),
                    progress
                        .details
                        .as_deref()
                        .filter(|d| !d.is_empty())
                        .map_or_else(String::new, |d| format!(": {d}"))
                ),
                hint: Some(
                    "fix or re-publish the image version in the gallery, then send the request again"
                        .into(),
                ),
            },
            progress: Some(Box::new(progress)),
        }),
        Replication::NotInRegion => Err(StepError::failed(
            "ImageNotInRegion",
            format!(
                "the image version is not available in {}: a direct-shared or community version is visible only in the regions it is replicated to",
                req.target.location
            ),
            Some(
                "ask the image's publisher to add the region to the version's target regions (or pick a region it is replicated to), then send the request again"
                    .into(),
            ),
        )),
        Replication::NotTargeted(regions) => Err(StepError::rejected(
            "RegionNotTargeted",
            format!(
                "the image version is not replicated to {}; it lists: {}",
                req.target.location,
                regions.join(", ")
            ),
            Some(
                "pick one of the listed regions, or add the region to the version's target regions"
                    .into(),
            ),
        )),
    }
}
