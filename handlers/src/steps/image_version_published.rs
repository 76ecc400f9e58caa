//! `image-version-published`: an Event Grid `ResourceWriteSuccess` event for a gallery image
//! version write starts the rollout configured for its image definition: one
//! `deployment-requested` per target of ring 0 (deterministic deployment ids, so a repeated event
//! creates nothing twice), then a scheduled `rollout-check` when more rings follow.
//!
//! Refused (event `event-rejected`): top-level fields neither Event Grid schema documents (named),
//! not a version write, an unparsable subject, a gallery that is not allow-listed. Ignored with a log line: no rollout for the definition, a version excluded
//! from latest or past its end of life. Halted before it starts (`rollout-halted`): a target
//! region the version does not replicate to.

use super::checks::allowed_gallery;
use crate::app::App;
use crate::calls::PUBLISHED_VERSION_GET;
use crate::outcome::StepError;
use crate::rollout::Rollouts;
use crate::rollout::event::{
    EventError as EventParseError, RESOURCE_WRITE_SUCCESS, ResourceEvent, VERSION_WRITE,
};
use crate::rollout::fanout::{publish, start_ring, table_error, terminal_event};
use crate::rollout::state::{RunState, may_take_over};
use azure_clients::models::{GalleryImageVersion, region_eq};
use functions_runtime::BodyDecodeError;
use imageferry_contract::image_id::resource_id_eq;
use imageferry_contract::rollout::RolloutStatus;
use imageferry_contract::{EventError, ImageId};
use serde_json::Value;
use std::cmp::Ordering;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The typed event of a body the runtime decoded as JSON, or why it is refused: top-level fields
/// neither schema documents (`UnknownFields`), or not an event (`NotAResourceEvent`).
pub fn admit(body: Result<Value, BodyDecodeError>) -> Result<ResourceEvent, StepError> {
    body.map_err(|e| EventParseError::Shape(e.message))
        .and_then(ResourceEvent::from_json)
        .map_err(|e| match e {
            EventParseError::UnknownFields(_) => StepError::rejected(
                "UnknownFields",
                e.to_string(),
                Some(
                    "send the event as Event Grid delivers it (Event Grid schema or CloudEvents 1.0), with no other top-level field"
                        .into(),
                ),
            ),
            e => StepError::rejected("NotAResourceEvent", e.to_string(), None),
        })
}

/// Runs the step on one event; `Ok` carries the log line.
pub async fn run(
    app: &App,
    rollouts: &Rollouts,
    event: ResourceEvent,
) -> Result<String, StepError> {
    if event.event_type != RESOURCE_WRITE_SUCCESS
        || !event.operation_name.eq_ignore_ascii_case(VERSION_WRITE)
    {
        return Err(StepError::rejected(
            "NotAVersionWrite",
            format!(
                "event {} is {} / {}, not {RESOURCE_WRITE_SUCCESS} / {VERSION_WRITE}",
                event.id, event.event_type, event.operation_name
            ),
            Some(
                "filter the Event Grid subscription on data.operationName (infra/publisher)".into(),
            ),
        ));
    }
    let image = ImageId::parse(&event.subject).map_err(|e| {
        StepError::rejected(
            "NotAVersionId",
            format!("subject {:?}: {e}", event.subject),
            None,
        )
    })?;
    if !matches!(image, ImageId::Gallery { .. }) {
        return Err(StepError::rejected(
            "NotAVersionId",
            format!("subject {:?} is not a gallery version id", event.subject),
            None,
        ));
    }
    allowed_gallery(
        app,
        &image,
        "add the gallery to IMAGEFERRY_ALLOWED_GALLERIES, or remove its Event Grid subscription",
    )?;
    let definition = image.definition_id().unwrap_or_default();
    let Some(rollout) = rollouts.config.rollout_for(&definition) else {
        let line = format!(
            "no rollout in {} for {definition}: version {} ignored",
            rollouts.source,
            image.version()
        );
        tracing::info!(image = %image, "{line}");
        return Ok(line);
    };
    let tenant = event
        .tenant_id
        .clone()
        .unwrap_or_else(|| app.config.home_tenant.clone());
    let version: GalleryImageVersion = app
        .arm
        .get(
            &tenant,
            &image.to_string(),
            PUBLISHED_VERSION_GET.api_version(),
            PUBLISHED_VERSION_GET.query,
        )
        .await
        .map_err(|e| StepError::arm("reading the published image version", &e))?;
    let profile = version.properties.publishing_profile.unwrap_or_default();
    if profile.exclude_from_latest == Some(true) {
        let line = format!("{image} is excluded from latest: not rolled out");
        tracing::info!(image = %image, "{line}");
        return Ok(line);
    }
    if let Some(eol) = profile
        .end_of_life_date
        .as_deref()
        .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok())
        && eol <= app.clock.now()
    {
        let line = format!("{image} reached its end of life ({eol}): not rolled out");
        tracing::info!(image = %image, "{line}");
        return Ok(line);
    }
    let regions: Vec<&str> = profile
        .target_regions
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let missing: Vec<String> = rollout
        .rings
        .iter()
        .flat_map(|r| &r.targets)
        .filter(|t| !regions.iter().any(|r| region_eq(r, &t.location)))
        .map(|t| format!("{} ({})", t.name, t.location))
        .collect();
    let version_id = image.to_string();
    let definition = image.image().to_string();
    let (states, current) = rollouts.current(&rollout.name, &definition).await?;
    // A terminal event before ring 0 started (blocked, or regions not targeted).
    let not_started = |status: RolloutStatus, error: EventError| {
        let event = terminal_event(
            app,
            &rollout.name,
            &version_id,
            status,
            (0, &rollout.rings[0].name),
            error,
        );
        publish(app, event)
    };
    if let Some(current) = &current {
        if resource_id_eq(&current.version_id, &version_id) {
            let line = format!(
                "rollout {} of {version_id} was already started ({}): repeated event ignored",
                rollout.name,
                current.state.as_str()
            );
            tracing::info!("{line}");
            return Ok(line);
        }
        let on = ImageId::parse(&current.version_id)
            .map(|i| i.version().to_string())
            .unwrap_or_default();
        if imageferry_contract::gallery_version::compare(image.version(), &on)
            == Some(Ordering::Less)
        {
            let line = format!(
                "rollout {} is on the newer version {on}: {version_id} is not rolled out",
                rollout.name
            );
            tracing::info!("{line}");
            return Ok(line);
        }
        if !may_take_over(current.state, rollout.supersede) {
            let error = EventError {
                code: "RolloutBlocked".into(),
                message: format!(
                    "rollout {} is {} on {}, and its supersede rule is {:?}: {version_id} is not rolled out",
                    rollout.name,
                    current.state.as_str(),
                    current.version_id,
                    rollout.supersede.as_str()
                ),
                hint: Some(
                    "wait for the older rollout to complete, or set supersede = \"halted\" or \"halted-or-running\" and publish again"
                        .into(),
                ),
            };
            not_started(RolloutStatus::RolloutBlocked, error).await?;
            return Ok(format!("rollout {} of {version_id} blocked", rollout.name));
        }
    }
    if !missing.is_empty() {
        let error = EventError {
            code: "RegionNotTargeted".into(),
            message: format!(
                "{version_id} does not replicate to the region of {}; it lists: {}",
                missing.join(", "),
                regions.join(", ")
            ),
            hint: Some(
                "add the regions to the version's target regions, or fix the rollout's targets"
                    .into(),
            ),
        };
        not_started(RolloutStatus::RolloutHalted, error).await?;
        states
            .set(
                &rollout.name,
                &definition,
                &version_id,
                RunState::Halted,
                app.clock.now(),
            )
            .await
            .map_err(|e| table_error("recording the rollout's state", &e))?;
        return Ok(format!(
            "rollout {} of {version_id} halted before ring 0: regions not targeted",
            rollout.name
        ));
    }
    // The ring's clock starts now (the event's own time may be far in the past when Event Grid
    // retried it); the check's MessageId does not depend on it, so a repeat is still dropped.
    let started = app.clock.now();
    let ids = start_ring(
        app,
        rollout,
        &image,
        Some(&tenant),
        0,
        started,
        rollouts.status.as_ref().map(|_| rollouts.check_interval),
    )
    .await?;
    // Recorded after the ring's messages went out: a redelivery after a partial send starts the
    // ring again (same ids and MessageIds) instead of finding it already recorded.
    states
        .set(
            &rollout.name,
            &definition,
            &version_id,
            RunState::Running,
            app.clock.now(),
        )
        .await
        .map_err(|e| table_error("recording the rollout's state", &e))?;
    Ok(format!(
        "rollout {} of {version_id}: ring 0 started ({})",
        rollout.name,
        ids.join(", ")
    ))
}
