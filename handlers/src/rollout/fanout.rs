//! Starting a ring (one `deployment-requested` per target, deterministic ids and MessageIds),
//! publishing rollout events, and deciding what a ring's statuses mean.

use super::status::DeploymentState;
use crate::app::App;
use crate::outcome::StepError;
use azure_clients::OutgoingMessage;
use imageferry_contract::rollout::{
    Rollout, RolloutCheck, RolloutEvent, RolloutStatus, rollout_deployment_id,
    rollout_event_message_id,
};
use imageferry_contract::{EventError, ImageId, Status, Step, saturating_add};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// The `rollout-check` queue (and function) name.
pub const ROLLOUT_CHECK: &str = "rollout-check";
/// The `image-version-published` queue (and function) name.
pub const IMAGE_VERSION_PUBLISHED: &str = "image-version-published";

/// What a ring's deployment statuses mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingVerdict {
    /// Every deployment succeeded.
    Succeeded,
    /// These deployments failed or were rejected (id, status).
    Halt(Vec<(String, String)>),
    /// Some are still running.
    Running,
}

/// Judges a ring from its deployments' states.
pub fn judge(states: &[(String, DeploymentState)]) -> RingVerdict {
    let failed: Vec<(String, String)> = states
        .iter()
        .filter_map(|(id, s)| match s {
            DeploymentState::Known(st @ (Status::Failed | Status::Rejected)) => {
                Some((id.clone(), st.as_str().to_string()))
            }
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        return RingVerdict::Halt(failed);
    }
    if states
        .iter()
        .all(|(_, s)| *s == DeploymentState::Known(Status::Succeeded))
    {
        RingVerdict::Succeeded
    } else {
        RingVerdict::Running
    }
}

/// The deployment ids of one ring of a version's rollout.
pub fn ring_ids(rollout: &Rollout, version_id: &str, ring: usize) -> Vec<String> {
    rollout
        .ring_targets(ring)
        .map(|t| rollout_deployment_id(version_id, &rollout.name, &t.target.name))
        .collect()
}

/// Sends one `deployment-requested` per target of `ring` and publishes `ring-started`; schedules
/// the ring's first `rollout-check` after `check_after` (`None`: no status store, so nobody can
/// tell when the ring is done; only single-ring rollouts are allowed then). Safe to repeat: the
/// same ids and MessageIds.
pub async fn start_ring(
    app: &App,
    rollout: &Rollout,
    image: &ImageId,
    image_tenant: Option<&str>,
    ring: usize,
    started_at: OffsetDateTime,
    check_after: Option<Duration>,
) -> Result<Vec<String>, StepError> {
    let version_id = image.to_string();
    let mut ids = Vec::new();
    for t in rollout.ring_targets(ring) {
        let id = rollout_deployment_id(&version_id, &rollout.name, &t.target.name);
        let request = t
            .target
            .request(&id, &version_id, image.version(), image_tenant);
        app.send_step(Step::DeploymentRequested, &id, 0, &request, Duration::ZERO)
            .await?;
        ids.push(id);
    }
    let ring_name = rollout.rings[ring].name.clone();
    publish(
        app,
        RolloutEvent {
            rollout: rollout.name.clone(),
            version_id: version_id.clone(),
            status: RolloutStatus::RingStarted,
            ring: ring as u32,
            ring_name: ring_name.clone(),
            at: app.clock.now(),
            detail: format!(
                "ring {ring} ({ring_name}) of rollout {}: {} deployment(s) requested",
                rollout.name,
                ids.len()
            ),
            deployment_ids: ids.clone(),
            error: None,
        },
    )
    .await?;
    if let Some(delay) = check_after {
        let check = RolloutCheck {
            rollout: rollout.name.clone(),
            version_id,
            image_tenant_id: image_tenant.map(str::to_string),
            ring: ring as u32,
            ring_started_at: started_at,
            attempt: 1,
        };
        schedule_check(app, &check, delay).await?;
    }
    Ok(ids)
}

/// Sends `check` to `rollout-check`, visible after `delay`, with a MessageId made of the rollout,
/// the version, the ring and the attempt (duplicates are dropped).
pub async fn schedule_check(
    app: &App,
    check: &RolloutCheck,
    delay: Duration,
) -> Result<(), StepError> {
    let key = rollout_deployment_id(&check.version_id, &check.rollout, "rollout");
    let message = OutgoingMessage {
        body: serde_json::to_string(check).map_err(|e| internal(&e))?,
        content_type: "application/json".into(),
        message_id: Some(format!(
            "{key}:{ROLLOUT_CHECK}:{}:{}",
            check.ring, check.attempt
        )),
        correlation_id: Some(key),
        scheduled_enqueue_time: (!delay.is_zero()).then(|| saturating_add(app.clock.now(), delay)),
        time_to_live: None,
        label: Some(ROLLOUT_CHECK.into()),
        application_properties: BTreeMap::new(),
    };
    app.send(ROLLOUT_CHECK, message).await
}

/// Publishes a rollout event on the events topic (application properties `status`, `rollout`).
pub async fn publish(app: &App, event: RolloutEvent) -> Result<(), StepError> {
    publish_with_id(app, event, None).await
}

/// [`publish`] with an explicit MessageId (rejections: one per refused message).
pub async fn publish_with_id(
    app: &App,
    event: RolloutEvent,
    message_id: Option<String>,
) -> Result<(), StepError> {
    let mut props = BTreeMap::new();
    props.insert("status".to_string(), event.status.as_str().to_string());
    props.insert("rollout".to_string(), event.rollout.clone());
    props.insert("deploymentId".to_string(), String::new());
    let message = OutgoingMessage {
        body: serde_json::to_string(&event).map_err(|e| internal(&e))?,
        content_type: "application/json".into(),
        message_id: Some(message_id.unwrap_or_else(|| {
            rollout_event_message_id(&event.version_id, &event.rollout, event.status, event.ring)
        })),
        correlation_id: None,
        scheduled_enqueue_time: None,
        time_to_live: None,
        label: Some(event.status.as_str().into()),
        application_properties: props,
    };
    tracing::info!(rollout = %event.rollout, version = %event.version_id, status = %event.status, ring = event.ring, detail = %event.detail, "rollout event");
    app.send(&app.config.events_topic, message).await
}

/// An event that ends a rollout or refuses an event, with its error.
pub fn terminal_event(
    app: &App,
    rollout: &str,
    version_id: &str,
    status: RolloutStatus,
    ring: (u32, &str),
    error: EventError,
) -> RolloutEvent {
    RolloutEvent {
        rollout: rollout.into(),
        version_id: version_id.into(),
        status,
        ring: ring.0,
        ring_name: ring.1.into(),
        at: app.clock.now(),
        detail: error.message.clone(),
        deployment_ids: Vec::new(),
        error: Some(error),
    }
}

/// A status-table error while `doing` something: transient (redelivery) or permanent.
pub fn table_error(doing: &str, e: &azure_clients::table::TableError) -> StepError {
    let error = EventError {
        code: "StatusStoreUnavailable".into(),
        message: format!("{doing}: {e}"),
        hint: Some(
            "the app needs Storage Table Data Contributor on the status table's storage account"
                .into(),
        ),
    };
    StepError::classified(e.is_transient(), error)
}

/// A status read failed: the same classification as every other client error.
pub fn status_error(e: &super::status::StatusError) -> StepError {
    let error = EventError {
        code: "StatusStoreUnavailable".into(),
        message: e.to_string(),
        hint: Some(
            "the app needs Storage Table Data Reader (or Contributor) on the status table".into(),
        ),
    };
    StepError::classified(e.transient, error)
}

fn internal(e: &serde_json::Error) -> StepError {
    StepError::failed("InternalError", format!("serializing: {e}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, st: DeploymentState) -> (String, DeploymentState) {
        (id.into(), st)
    }

    #[test]
    fn a_ring_succeeds_only_when_every_deployment_did() {
        use DeploymentState::*;
        assert_eq!(
            judge(&[
                s("a", Known(Status::Succeeded)),
                s("b", Known(Status::Succeeded))
            ]),
            RingVerdict::Succeeded
        );
        assert_eq!(
            judge(&[s("a", Known(Status::Succeeded)), s("b", Unknown)]),
            RingVerdict::Running
        );
        assert_eq!(
            judge(&[
                s("a", Known(Status::Provisioning)),
                s("b", Known(Status::WaitingForReplication))
            ]),
            RingVerdict::Running
        );
        assert_eq!(
            judge(&[
                s("a", Known(Status::Failed)),
                s("b", Known(Status::Succeeded))
            ]),
            RingVerdict::Halt(vec![("a".into(), "failed".into())])
        );
        assert_eq!(
            judge(&[s("a", Unknown), s("b", Known(Status::Rejected))]),
            RingVerdict::Halt(vec![("b".into(), "rejected".into())])
        );
    }
}
