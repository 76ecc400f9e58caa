//! Messages the pipeline steps send each other. Each carries the original request plus the
//! step's state; none has a top-level field named like a Service Bus system property.

use crate::request::DeploymentRequest;
use crate::schema_util::Rfc3339;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

/// Replication state of the image version in the target region, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationProgress {
    /// The region as the gallery names it (e.g. `South Central US`).
    pub region: String,
    /// `replicationStatus.summary[].state`: Unknown, Replicating, Completed, Failed.
    pub state: String,
    /// Percent complete, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    /// The version's `provisioningState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// `replicationStatus.summary[].details`, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// When this was observed.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub observed_at: OffsetDateTime,
}

/// Body of `replication-check`: check the version's replication again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "ReplicationCheck")]
pub struct ReplicationCheck {
    /// The accepted request.
    pub request: DeploymentRequest,
    /// 1 for the first scheduled check, then 2, 3, … (at most [`MAX_ATTEMPT`]).
    #[serde(deserialize_with = "bounded")]
    #[schemars(range(max = 1_000_000))]
    pub attempt: u32,
    /// The effective deadline (the request's or the configured default).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub deadline: OffsetDateTime,
    /// What the previous check saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_progress: Option<ReplicationProgress>,
}

/// The step form of `image-version-replicated`, sent by `deployment-requested`/`replication-check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicatedStep {
    /// The accepted request.
    pub request: DeploymentRequest,
    /// The effective deadline.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub deadline: OffsetDateTime,
    /// Replication checks made before this (informational; at most [`MAX_ATTEMPT`]).
    #[serde(default, deserialize_with = "bounded")]
    #[schemars(range(max = 1_000_000))]
    pub attempt: u32,
    /// How many times this step already ran out of its time budget and continued in a new
    /// message (0 for the first run); numbers the continuation's MessageId.
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "bounded")]
    #[schemars(range(max = 1_000_000))]
    pub continuation: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Largest attempt or continuation number a step message may carry: far above what any
/// deadline allows (a check a minute for a year is 525,600), far below `u32::MAX`, so counting on
/// never overflows and MessageIds stay distinct.
pub const MAX_ATTEMPT: u32 = 1_000_000;

pub(crate) fn bounded<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n > MAX_ATTEMPT {
        return Err(serde::de::Error::custom(format!(
            "{n} is above the largest attempt number {MAX_ATTEMPT}"
        )));
    }
    Ok(n)
}

/// Body of `image-version-replicated`: either the step form, or a plain `DeploymentRequest`
/// sent by a pipeline that knows the version is replicated (it is re-verified either way).
/// A body with a top-level `request` object is the step form.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(title = "ImageVersionReplicated")]
pub enum ImageVersionReplicated {
    /// Sent by a pipeline step.
    Step(ReplicatedStep),
    /// Sent directly by an image pipeline.
    Request(DeploymentRequest),
}

impl<'de> Deserialize<'de> for ImageVersionReplicated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let is_step = value
            .get("request")
            .is_some_and(serde_json::Value::is_object);
        if is_step {
            serde_json::from_value(value)
                .map(ImageVersionReplicated::Step)
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(ImageVersionReplicated::Request)
                .map_err(D::Error::custom)
        }
    }
}

impl ImageVersionReplicated {
    /// The request inside either form.
    pub fn request(&self) -> &DeploymentRequest {
        match self {
            ImageVersionReplicated::Step(s) => &s.request,
            ImageVersionReplicated::Request(r) => r,
        }
    }
}

/// How to poll an ARM long-running operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OperationKind {
    /// The `Azure-AsyncOperation` header: a status body with `status`.
    AzureAsyncOperation,
    /// The `Location` header: 202 while running, then the final result.
    Location,
}

/// An ARM long-running operation to poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingOperation {
    /// The status URL from the PUT response.
    pub url: String,
    /// Which header it came from.
    pub kind: OperationKind,
}

/// Body of `vm-provisioning`: poll the VM create once, then reschedule or finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "VmProvisioning")]
pub struct VmProvisioning {
    /// The accepted request.
    pub request: DeploymentRequest,
    /// 1 for the first poll, then 2, 3, … (at most [`MAX_ATTEMPT`]).
    #[serde(deserialize_with = "bounded")]
    #[schemars(range(max = 1_000_000))]
    pub attempt: u32,
    /// The effective deadline.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub deadline: OffsetDateTime,
    /// The VM's resource id.
    pub vm_id: String,
    /// The VM PUT's operation, when ARM returned one; otherwise the VM itself is polled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<PendingOperation>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replicated_accepts_both_forms() {
        let plain = json!({"deploymentId": "a", "vm": {"name": "x"}});
        let parsed: ImageVersionReplicated = serde_json::from_value(plain).unwrap();
        assert!(matches!(parsed, ImageVersionReplicated::Request(_)));
        assert_eq!(parsed.request().deployment_id, "a");

        let step = json!({"request": {"deploymentId": "b"}, "deadline": "2026-11-23T06:00:00Z", "attempt": 2});
        let parsed: ImageVersionReplicated = serde_json::from_value(step).unwrap();
        let ImageVersionReplicated::Step(s) = &parsed else {
            panic!("expected the step form, got {parsed:?}")
        };
        assert_eq!((s.request.deployment_id.as_str(), s.attempt), ("b", 2));

        let bad_step = json!({"request": {"deploymentId": "b"}});
        let err = serde_json::from_value::<ImageVersionReplicated>(bad_step).unwrap_err();
        assert!(err.to_string().contains("deadline"), "{err}");
    }
}
