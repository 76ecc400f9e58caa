//! The top-level fields of every message, so that a refused body can name *all* its unknown
//! fields (serde stops at the first). The schemas list the same fields with
//! `additionalProperties: false`; a test keeps both in step.

use crate::event::Step;
use serde_json::Value;

/// Top-level fields of a `DeploymentRequest`.
pub const REQUEST: &[&str] = &[
    "deploymentId",
    "image",
    "target",
    "vm",
    "scaleSet",
    "network",
    "deadline",
];
/// Top-level fields of a `ReplicationCheck`.
pub const REPLICATION_CHECK: &[&str] = &["request", "attempt", "deadline", "lastProgress"];
/// Top-level fields of the step form of `image-version-replicated` (`ReplicatedStep`).
pub const REPLICATED_STEP: &[&str] = &["request", "deadline", "attempt", "continuation"];
/// Top-level fields of a `VmProvisioning`.
pub const VM_PROVISIONING: &[&str] = &["request", "attempt", "deadline", "vmId", "operation"];
/// Top-level fields of a `ScaleSetProvisioning` (the scale-set form of `vm-provisioning`).
pub const SCALE_SET_PROVISIONING: &[&str] =
    &["request", "attempt", "deadline", "scaleSetId", "phase"];
/// Top-level fields of a `RolloutCheck` (the `rollout-check` queue).
pub const ROLLOUT_CHECK: &[&str] = &[
    "rollout",
    "versionId",
    "imageTenantId",
    "ring",
    "ringStartedAt",
    "attempt",
];

/// The fields a body for `step`'s queue may have at its top level (for `image-version-replicated`
/// it depends on the form: a top-level `request` object means the step form).
pub fn known(step: Step, body: &Value) -> &'static [&'static str] {
    match step {
        Step::DeploymentRequested => REQUEST,
        Step::ReplicationCheck => REPLICATION_CHECK,
        Step::ImageVersionReplicated if body.get("request").is_some_and(Value::is_object) => {
            REPLICATED_STEP
        }
        Step::ImageVersionReplicated => REQUEST,
        Step::VmProvisioning if body.get("scaleSetId").is_some() => SCALE_SET_PROVISIONING,
        Step::VmProvisioning => VM_PROVISIONING,
    }
}

/// The top-level fields of `body` (a JSON object) that `step`'s message does not have, in body
/// order. Empty for a non-object.
pub fn unknown(step: Step, body: &Value) -> Vec<String> {
    unknown_among(known(step, body), body)
}

/// The top-level fields of `body` (a JSON object) that are not in `known`, in body order. Empty
/// for a non-object.
pub fn unknown_among(known: &[&str], body: &Value) -> Vec<String> {
    body.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !known.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_every_unknown_field() {
        let body = json!({"deploymentId": "a", "DeliveryCount": 1, "MessageId": "x"});
        let mut unknown = unknown(Step::DeploymentRequested, &body);
        unknown.sort();
        assert_eq!(unknown, ["DeliveryCount", "MessageId"]);
        let step = json!({"request": {}, "deadline": "x", "vmId": "v"});
        assert_eq!(
            super::unknown(Step::ImageVersionReplicated, &step),
            ["vmId"]
        );
        assert!(super::unknown(Step::VmProvisioning, &json!("text")).is_empty());
        let check = json!({"rollout": "web", "attempt": 1, "EnqueuedTimeUtc": "x"});
        assert_eq!(unknown_among(ROLLOUT_CHECK, &check), ["EnqueuedTimeUtc"]);
    }
}
