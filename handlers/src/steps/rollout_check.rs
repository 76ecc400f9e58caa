//! `rollout-check`: is ring n of a version's rollout done? Every deployment succeeded → start
//! ring n+1 (or publish `rollout-completed` after the last ring); one failed or was rejected →
//! `rollout-halted` naming them; still running → check again later, until the ring's timeout,
//! which halts the rollout too. Statuses come from the status store.
//!
//! Trust: the message is untrusted. Unknown fields and an `attempt` above the contract's
//! `MAX_ATTEMPT` are refused when it is decoded, a `ringStartedAt` in the future is `rejected`,
//! and only a rollout the status store says is running on exactly this version is acted on (any
//! other check is dropped with a log line). Date arithmetic saturates; a ring that is neither
//! done nor timed out after `MAX_ATTEMPT` checks halts (`TooManyChecks`), so every chain of
//! checks ends in a recorded outcome.

use crate::app::App;
use crate::outcome::StepError;
use crate::rollout::Rollouts;
use crate::rollout::fanout::{
    RingVerdict, judge, publish, ring_ids, schedule_check, start_ring, status_error, table_error,
    terminal_event,
};
use crate::rollout::state::RunState;
use imageferry_contract::image_id::resource_id_eq;
use imageferry_contract::rollout::{RolloutCheck, RolloutEvent, RolloutStatus};
use imageferry_contract::{EventError, ImageId};
use std::time::Duration;

/// Runs the step for one check; `Ok` carries the log line.
pub async fn run(app: &App, rollouts: &Rollouts, check: RolloutCheck) -> Result<String, StepError> {
    let Some(rollout) = rollouts
        .config
        .rollouts
        .iter()
        .find(|r| r.name == check.rollout)
    else {
        let line = format!(
            "rollout {} is no longer in {}: check of {} dropped",
            check.rollout, rollouts.source, check.version_id
        );
        tracing::warn!("{line}");
        return Ok(line);
    };
    check.check_times(app.clock.now()).map_err(|e| {
        StepError::rejected(
            "InvalidRolloutCheck",
            format!("rollout-check of rollout {}: {e}", check.rollout),
            Some(FORGED_HINT.into()),
        )
    })?;
    let image = ImageId::parse(&check.version_id)
        .map_err(|e| StepError::rejected("NotAVersionId", format!("versionId: {e}"), None))?;
    let ring = check.ring as usize;
    let Some(this_ring) = rollout.rings.get(ring) else {
        return Err(StepError::rejected(
            "NoSuchRing",
            format!("rollout {} has no ring {ring}", rollout.name),
            None,
        ));
    };
    let Some(store) = &rollouts.status else {
        return Err(StepError::failed(
            "NoStatusStore",
            "IMAGEFERRY_STATUS_TABLE_ENDPOINT is not set: ring results cannot be read",
            Some("set IMAGEFERRY_STATUS_TABLE_ENDPOINT (infra/ sets it)".into()),
        ));
    };
    let definition = image.image().to_string();
    let (states, current) = rollouts.current(&rollout.name, &definition).await?;
    let Some(current) = current else {
        // Only a version whose rollout image-version-published recorded as running is checked:
        // a check for anything else starts nothing.
        let line = format!(
            "rollout {} was never started on {}: check dropped",
            rollout.name, check.version_id
        );
        tracing::warn!("{line}");
        return Ok(line);
    };
    let ours = resource_id_eq(&current.version_id, &check.version_id);
    if ours && current.state != RunState::Running {
        let line = format!(
            "rollout {} of {} is already {}: check of ring {ring} dropped",
            rollout.name,
            check.version_id,
            current.state.as_str()
        );
        tracing::info!("{line}");
        return Ok(line);
    }
    if !ours {
        // A newer version took the rollout over (image-version-published allowed it under the
        // rollout's supersede rule): this version starts no further ring.
        let newer = current.version_id;
        let mut event = terminal_event(
            app,
            &rollout.name,
            &check.version_id,
            RolloutStatus::RolloutSuperseded,
            (check.ring, &this_ring.name),
            EventError {
                code: "Superseded".into(),
                message: format!(
                    "rollout {} moved on to {newer}; ring {} of {} and later rings are not started",
                    rollout.name,
                    ring + 1,
                    check.version_id
                ),
                hint: None,
            },
        );
        event.deployment_ids = ring_ids(rollout, &check.version_id, ring);
        publish(app, event).await?;
        return Ok(format!(
            "rollout {} of {}: superseded by {newer}",
            rollout.name, check.version_id
        ));
    }
    let record = |state: RunState| {
        let (rollout, definition, version) = (&rollout.name, &definition, &check.version_id);
        async move {
            states
                .set(rollout, definition, version, state, app.clock.now())
                .await
                .map_err(|e| table_error("recording the rollout's state", &e))
        }
    };
    let ids = ring_ids(rollout, &check.version_id, ring);
    let mut states = Vec::with_capacity(ids.len());
    for id in &ids {
        let state = store.state(id).await.map_err(|e| status_error(&e))?;
        states.push((id.clone(), state));
    }
    let halt = |code: &str, message: String, hint: &str| {
        let error = EventError {
            code: code.into(),
            message,
            hint: Some(hint.into()),
        };
        let mut event = terminal_event(
            app,
            &rollout.name,
            &check.version_id,
            RolloutStatus::RolloutHalted,
            (check.ring, &this_ring.name),
            error,
        );
        event.deployment_ids = ids.clone();
        async {
            publish(app, event).await?;
            record(RunState::Halted).await
        }
    };
    match judge(&states) {
        RingVerdict::Halt(failed) => {
            let list: Vec<String> = failed.iter().map(|(id, s)| format!("{id} {s}")).collect();
            halt(
                "RingFailed",
                format!(
                    "ring {ring} ({}) of rollout {}: {}; later rings are not started",
                    this_ring.name,
                    rollout.name,
                    list.join(", ")
                ),
                "see the deployments' failed or rejected events for the cause; publish a new version to try again",
            )
            .await?;
            Ok(format!("rollout {} halted at ring {ring}", rollout.name))
        }
        RingVerdict::Succeeded if ring + 1 < rollout.rings.len() => {
            let started = start_ring(
                app,
                rollout,
                &image,
                check.image_tenant_id.as_deref(),
                ring + 1,
                app.clock.now(),
                rollouts.status.as_ref().map(|_| rollouts.check_interval),
            )
            .await?;
            Ok(format!(
                "rollout {}: ring {ring} succeeded, ring {} started ({})",
                rollout.name,
                ring + 1,
                started.join(", ")
            ))
        }
        RingVerdict::Succeeded => {
            publish(
                app,
                RolloutEvent {
                    rollout: rollout.name.clone(),
                    version_id: check.version_id.clone(),
                    status: RolloutStatus::RolloutCompleted,
                    ring: check.ring,
                    ring_name: this_ring.name.clone(),
                    at: app.clock.now(),
                    detail: format!("every ring of rollout {} succeeded", rollout.name),
                    deployment_ids: ids.clone(),
                    error: None,
                },
            )
            .await?;
            record(RunState::Completed).await?;
            Ok(format!("rollout {} completed", rollout.name))
        }
        RingVerdict::Running => {
            // Checked arithmetic: a forged `ringStartedAt` or a huge timeout saturates instead
            // of panicking.
            let timeout =
                Duration::from_secs(u64::from(rollout.ring_timeout_minutes).saturating_mul(60));
            if app.clock.now() >= check.ring_deadline(timeout) {
                halt(
                    "RingTimedOut",
                    format!(
                        "ring {ring} ({}) of rollout {} did not finish within {} minutes",
                        this_ring.name, rollout.name, rollout.ring_timeout_minutes
                    ),
                    "see the deployments' events; raise ringTimeoutMinutes if rings need longer",
                )
                .await?;
                return Ok(format!(
                    "rollout {} halted: ring {ring} timed out",
                    rollout.name
                ));
            }
            let Some(next) = check.next() else {
                halt(
                    "TooManyChecks",
                    format!(
                        "ring {ring} ({}) of rollout {} was checked {} times without finishing",
                        this_ring.name, rollout.name, check.attempt
                    ),
                    "see the deployments' events; lower ringTimeoutMinutes or raise IMAGEFERRY_ROLLOUT_CHECK_INTERVAL",
                )
                .await?;
                return Ok(format!(
                    "rollout {} halted: ring {ring} ran out of checks",
                    rollout.name
                ));
            };
            schedule_check(app, &next, rollouts.check_interval).await?;
            Ok(format!(
                "rollout {}: ring {ring} still running",
                rollout.name
            ))
        }
    }
}

/// Advice on a refused `rollout-check`.
const FORGED_HINT: &str =
    "rollout-check messages are scheduled by imageferry itself; do not send them by hand";
