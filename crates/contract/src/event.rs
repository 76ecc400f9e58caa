//! Events published on the `deployment-events` topic, and the deterministic MessageIds that let
//! Service Bus duplicate detection drop repeats.

use crate::schema_util::Rfc3339;
use crate::steps::ReplicationProgress;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// Where a deployment stands. `succeeded`, `failed` and `rejected` are terminal: every request
/// ends in exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The request passed validation and the allow-lists.
    Accepted,
    /// The image version is not yet replicated to the target region; a check is scheduled.
    WaitingForReplication,
    /// The image version is replicated to the target region.
    Replicated,
    /// The VM create was accepted by ARM; provisioning is being polled.
    Provisioning,
    /// The VM is running (terminal).
    Succeeded,
    /// An Azure error, the deadline or exhausted retries ended the deployment (terminal).
    Failed,
    /// The request is invalid or not allowed (terminal); the event carries the original body.
    Rejected,
}

impl Status {
    /// The wire name, e.g. `waiting-for-replication`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::WaitingForReplication => "waiting-for-replication",
            Status::Replicated => "replicated",
            Status::Provisioning => "provisioning",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
        }
    }

    /// Whether this status ends the deployment.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Rejected)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pipeline step; its wire name is the queue and function name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Validates and accepts a request, then checks replication once.
    DeploymentRequested,
    /// Re-checks replication on a backoff schedule.
    ReplicationCheck,
    /// Builds the network and sends the VM create.
    ImageVersionReplicated,
    /// Polls the VM create until it ends.
    VmProvisioning,
}

impl Step {
    /// All steps, in pipeline order.
    pub const ALL: [Step; 4] = [
        Step::DeploymentRequested,
        Step::ReplicationCheck,
        Step::ImageVersionReplicated,
        Step::VmProvisioning,
    ];

    /// The queue (and function) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::DeploymentRequested => "deployment-requested",
            Step::ReplicationCheck => "replication-check",
            Step::ImageVersionReplicated => "image-version-replicated",
            Step::VmProvisioning => "vm-provisioning",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event on `deployment-events`. Application properties `deploymentId` and `status` repeat
/// the fields of the same name so subscriptions can filter on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "DeploymentEvent")]
pub struct DeploymentEvent {
    /// The request's deployment id (empty if a rejected body had no usable one).
    pub deployment_id: String,
    /// The new status.
    pub status: Status,
    /// The step that emitted the event.
    pub step: Step,
    /// When the event was emitted (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub at: OffsetDateTime,
    /// Human-readable detail.
    pub detail: String,
    /// The VM's resource id (`provisioning`, `succeeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    /// The VM's public IP address (`succeeded`, when one was requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip_address: Option<String>,
    /// The VM's private IP address (`succeeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    /// The scale set's state (`provisioning`, `succeeded`, `failed` of a `scaleSet` request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set: Option<crate::scale_set::ScaleSetState>,
    /// Replication progress in the target region (`waiting-for-replication`, deadline `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ReplicationProgress>,
    /// What went wrong (`failed`, `rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// The accepted request (`accepted`), or the original message body when it was JSON and
    /// small enough to echo whole (`rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// The original message body as text when it was not JSON, or its beginning when it was too
    /// large to echo whole (`rejected`; see `bodyCut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    /// Size of the original message body in bytes (`rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size: Option<u64>,
    /// SHA-256 of the original message body, lower-case hex (`rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// `true` when `rawBody` holds only the beginning of the body (the event must stay well
    /// inside Service Bus's 256 KB message limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_cut: bool,
}

impl DeploymentEvent {
    /// A bare event; fill the optional fields as needed.
    pub fn new(
        deployment_id: impl Into<String>,
        status: Status,
        step: Step,
        at: OffsetDateTime,
        detail: impl Into<String>,
    ) -> Self {
        DeploymentEvent {
            deployment_id: deployment_id.into(),
            status,
            step,
            at,
            detail: detail.into(),
            vm_id: None,
            public_ip_address: None,
            private_ip_address: None,
            scale_set: None,
            progress: None,
            error: None,
            request: None,
            raw_body: None,
            body_size: None,
            body_sha256: None,
            body_cut: false,
        }
    }
}

/// An error in an event: a stable code, ARM's (or the validator's) message, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventError {
    /// E.g. `ValidationFailed`, `LinkedAuthorizationFailed`, `ReplicationFailed`, `DeadlineExceeded`.
    pub code: String,
    /// What happened.
    pub message: String,
    /// How to fix the cause, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// MessageId of an event: `{deploymentId}:{status}` for `succeeded`/`failed` (one per
/// deployment), `{deploymentId}:{status}:{attempt}` for progress. A rejection is identified by the
/// message it rejects: see [`rejected_message_id`].
pub fn event_message_id(deployment_id: &str, status: Status, attempt: u32) -> String {
    if status.is_terminal() {
        format!("{deployment_id}:{status}")
    } else {
        format!("{deployment_id}:{status}:{attempt}")
    }
}

/// Longest MessageId Service Bus accepts.
pub const MAX_MESSAGE_ID_LEN: usize = 128;

/// MessageId of a `rejected` event: `{deploymentId}:rejected:{incoming MessageId}`, so a
/// redelivered message is rejected once while a corrected resend is still reported. When that
/// would exceed 128 characters the incoming MessageId is replaced by its FNV-1a hash.
pub fn rejected_message_id(deployment_id: &str, incoming_message_id: &str) -> String {
    let full = format!("{deployment_id}:rejected:{incoming_message_id}");
    if full.len() <= MAX_MESSAGE_ID_LEN {
        return full;
    }
    let hash = incoming_message_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let id: String = deployment_id.chars().take(80).collect();
    format!("{id}:rejected:{hash:016x}")
}

/// MessageId of a step message: `{deploymentId}:{step}:{attempt}`.
pub fn step_message_id(deployment_id: &str, step: Step, attempt: u32) -> String {
    format!("{deployment_id}:{step}:{attempt}")
}

/// MessageId of a step's continuation after it ran out of its time budget:
/// `{deploymentId}:{step}:{attempt}:continued-{n}` (`n` from 1).
pub fn continuation_message_id(
    deployment_id: &str,
    step: Step,
    attempt: u32,
    continuation: u32,
) -> String {
    format!("{deployment_id}:{step}:{attempt}:continued-{continuation}")
}

/// MessageId of the `n`-th scheduled retry (from 1) of the message whose MessageId was `origin`:
/// `{origin}:retry-{n}`, so a duplicate copy of a failing message schedules the same retry, which
/// duplicate detection drops. When that would exceed 128 characters, `origin` is cut to 80 and
/// its FNV-1a hash appended.
pub fn retry_message_id(origin: &str, n: u32) -> String {
    let full = format!("{origin}:retry-{n}");
    if full.len() <= MAX_MESSAGE_ID_LEN {
        return full;
    }
    let hash = origin.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut cut = 80.min(origin.len());
    while !origin.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}:{hash:016x}:retry-{n}", &origin[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_message_ids_are_deterministic_and_bounded() {
        assert_eq!(
            retry_message_id("web-1:vm-provisioning:3", 2),
            "web-1:vm-provisioning:3:retry-2"
        );
        let long = "é".repeat(100);
        let id = retry_message_id(&long, 4_000_000_000);
        assert!(id.len() <= MAX_MESSAGE_ID_LEN, "{id}");
        assert!(id.ends_with(":retry-4000000000"));
        assert_eq!(id, retry_message_id(&long, 4_000_000_000));
        assert_ne!(id, retry_message_id(&"é".repeat(101), 4_000_000_000));
    }

    #[test]
    fn message_ids_are_deterministic() {
        assert_eq!(
            event_message_id("d-1", Status::Succeeded, 7),
            "d-1:succeeded"
        );
        assert_eq!(event_message_id("d-1", Status::Failed, 2), "d-1:failed");
        assert_eq!(
            event_message_id("d-1", Status::WaitingForReplication, 3),
            "d-1:waiting-for-replication:3"
        );
        assert_eq!(rejected_message_id("d-1", "m-9"), "d-1:rejected:m-9");
        let long = "m".repeat(128);
        let hashed = rejected_message_id("d-1", &long);
        assert!(hashed.len() <= MAX_MESSAGE_ID_LEN && hashed.starts_with("d-1:rejected:"));
        assert_eq!(hashed, rejected_message_id("d-1", &long));
        assert_ne!(hashed, rejected_message_id("d-1", &"n".repeat(128)));
        assert_eq!(
            step_message_id("d-1", Step::ReplicationCheck, 4),
            "d-1:replication-check:4"
        );
    }

    #[test]
    fn status_wire_names_match_serde() {
        for s in [
            Status::Accepted,
            Status::WaitingForReplication,
            Status::Replicated,
            Status::Provisioning,
            Status::Succeeded,
            Status::Failed,
            Status::Rejected,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in Step::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
