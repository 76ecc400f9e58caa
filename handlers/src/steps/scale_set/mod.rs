//! Scale-set targets: a `scaleSet` request creates the scale set from the first version
//! ([`deploy`], from `image-version-replicated`) and moves it to every newer one, then follows it
//! with scheduled checks on the `vm-provisioning` queue ([`check`], the scale-set form of that
//! queue's message) until every instance runs the version and is healthy.
//!
//! Uniform orchestration (the README's "Scale sets" says why); `batches` upgrades the instances
//! with `manualupgrade` in health-gated batches, `rolling` follows the scale set's own rolling
//! upgrade. Every write whose body carries the image reference carries the auxiliary tenant-1
//! token; the writes that do not change the image leave it out.

pub mod bodies;
mod check;
mod deploy;
pub(crate) mod fleet;

pub(crate) use check::run as check;
pub(crate) use deploy::deploy;

use crate::outcome::StepError;
use imageferry_contract::{DeploymentRequest, ScaleSetSpec};

/// The request's scale set; `rejected` for a VM request (a forged scale-set message).
pub(crate) fn spec(req: &DeploymentRequest) -> Result<&ScaleSetSpec, StepError> {
    req.scale_set.as_ref().ok_or_else(|| {
        StepError::rejected(
            "NotAScaleSet",
            "the request names no scaleSet, but the message is about a scale set",
            Some(
                "vm-provisioning messages are sent by imageferry itself; do not forge them".into(),
            ),
        )
    })
}
