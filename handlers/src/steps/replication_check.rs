//! `replication-check`: the same check as `deployment-requested`, on a backoff schedule, until
//! the version is ready, fails, or the deadline passes (failing with the last progress seen).

use super::Delivery;
use super::checks::{admit, before_deadline, replication};
use super::deployment_requested::handle_replication;
use crate::app::App;
use crate::outcome::StepError;
use imageferry_contract::ReplicationCheck;

/// Runs the step for one delivery.
pub async fn run(app: &App, _d: &Delivery, msg: ReplicationCheck) -> Result<(), StepError> {
    let (image, _) = admit(app, &msg.request)?;
    before_deadline(
        app,
        msg.deadline,
        "waiting for the image version to replicate",
        msg.last_progress.as_ref(),
    )?;
    let state = replication(app, &msg.request, &image).await?;
    handle_replication(app, &msg.request, msg.deadline, msg.attempt, state).await
}
