//! Capacity failures (`AllocationFailed`, `ZonalAllocationFailed`, `OverconstrainedAllocationRequest`,
//! `SkuNotAvailable`) are Azure running out of a size in a region or zone for a while: the VM
//! create is tried again later, scheduled, while the deadline allows, and only then reported.
//!
//! A retry runs `image-version-replicated` again, which finds the failed VM of this deployment
//! and PUTs it again. The retry number travels in the steps' `attempt` counters:
//! `attempt = retry × RETRY_STRIDE + n`, so every message of a retry has a new `MessageId`
//! (Service Bus duplicate detection would drop a repeated one).

use crate::app::App;
use crate::outcome::StepError;
use azure_clients::arm::ArmError;
use imageferry_contract::{DeploymentEvent, DeploymentRequest, ReplicatedStep, Status, Step};
use std::time::Duration;
use time::OffsetDateTime;

/// Step attempts per capacity retry (replication checks and VM polls stay far below it).
pub const RETRY_STRIDE: u32 = 10_000;

/// Most capacity retries (the attempt numbers stay under the contract's `MAX_ATTEMPT`; at the
/// 30-minute cap this is over a day of retrying).
pub const MAX_RETRIES: u32 = imageferry_contract::steps::MAX_ATTEMPT / RETRY_STRIDE - 1;

/// Delay before capacity retry `retry` (1, 2, …): 2 minutes, doubling, at most 30 minutes.
pub fn delay(retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(10));
    Duration::from_secs(120)
        .saturating_mul(factor)
        .min(Duration::from_secs(30 * 60))
}

/// The capacity retry a step `attempt` belongs to.
pub fn retry_of(attempt: u32) -> u32 {
    attempt / RETRY_STRIDE
}

/// The first attempt number of retry `retry`.
pub fn base(retry: u32) -> u32 {
    retry.saturating_mul(RETRY_STRIDE)
}

/// After a capacity failure `error` of retry `retry` (0 = the first create): schedules
/// `image-version-replicated` for retry `retry + 1` and publishes a progress event, or, when the
/// deadline would pass first, reports the failure (`failed` with ARM's code and hint).
pub async fn retry_later(
    app: &App,
    req: &DeploymentRequest,
    deadline: OffsetDateTime,
    retry: u32,
    error: &ArmError,
    step: Step,
) -> Result<(), StepError> {
    let next = retry + 1;
    let wait = delay(next);
    let now = app.clock.now();
    if now + wait >= deadline || next > MAX_RETRIES {
        return Err(StepError::arm(
            &format!("creating the VM (capacity retries until the deadline: {retry})"),
            error,
        ));
    }
    let id = &req.deployment_id;
    let message = ReplicatedStep {
        request: req.clone(),
        deadline,
        attempt: base(next),
        continuation: 0,
    };
    app.send_step(Step::ImageVersionReplicated, id, base(next), &message, wait)
        .await?;
    let event = DeploymentEvent::new(
        id,
        Status::Provisioning,
        step,
        now,
        format!(
            "no capacity for VM {} ({}); trying again in {}s (retry {next})",
            req.vm.name,
            error.code(),
            wait.as_secs()
        ),
    );
    app.publish(&event, base(next), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_number_their_messages_apart() {
        assert_eq!(delay(1), Duration::from_secs(120));
        assert_eq!(delay(2), Duration::from_secs(240));
        assert_eq!(delay(9), Duration::from_secs(1800));
        assert_eq!(retry_of(base(3) + 17), 3);
        assert_eq!(retry_of(5), 0);
        assert!(base(MAX_RETRIES) + RETRY_STRIDE - 1 <= imageferry_contract::steps::MAX_ATTEMPT);
    }
}
