//! A scale-set target: the request's `scaleSet` (instead of `vm`), its rules, the scheduled
//! `vm-provisioning` message that follows a scale set's create or upgrade, and what events say
//! about it.
//!
//! A scale set is created from the first version a request names and updated in place by every
//! newer one: its name never carries the version. Orchestration is Uniform (the README's "Scale
//! sets" says why). `upgrade = "batches"` makes imageferry upgrade the instances itself
//! (`manualupgrade`, `batchPercent` of them at a time, each batch health-gated, a pause between
//! batches); `upgrade = "rolling"` leaves it to the scale set's rolling upgrade policy (built from
//! the same numbers) and follows `rollingUpgrades/latest`.

use crate::health::HealthProbe;
use crate::request::VmSpec;
use crate::schema_util::Rfc3339;
use crate::steps::PendingOperation;
use crate::validate::{OsState, OsType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// Largest `capacity`: a Uniform scale set in one placement group (`singlePlacementGroup`, the
/// default) holds at most 100 instances.
pub const MAX_CAPACITY: u32 = 100;
/// Default `batchPercent` (the rolling upgrade policy's `maxBatchInstancePercent` default).
pub const DEFAULT_BATCH_PERCENT: u32 = 20;
/// Default `maxUnhealthyPercent` (the policy's `maxUnhealthyInstancePercent` default).
pub const DEFAULT_MAX_UNHEALTHY_PERCENT: u32 = 20;
/// Longest `pauseBetweenBatches` imageferry accepts (its own bound: a typo must not stall a
/// rollout for days).
pub const MAX_PAUSE: Duration = Duration::from_secs(24 * 3600);
/// Longest computer name prefix (`VirtualMachineScaleSetOSProfile.computerNamePrefix`: "must be
/// 1 to 15 characters long").
pub const MAX_COMPUTER_NAME_PREFIX: usize = 15;

/// How a newer version reaches the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpgradeMode {
    /// Upgrade policy `Manual`: imageferry upgrades the out-of-date instances itself,
    /// `batchPercent` at a time, waiting for each batch to be healthy.
    #[default]
    Batches,
    /// Upgrade policy `Rolling`: the scale set upgrades itself; imageferry follows
    /// `rollingUpgrades/latest`. Needs `health`.
    Rolling,
}

impl UpgradeMode {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeMode::Batches => "batches",
            UpgradeMode::Rolling => "rolling",
        }
    }

    /// The scale set's `upgradePolicy.mode`.
    pub fn policy_mode(self) -> &'static str {
        match self {
            UpgradeMode::Batches => "Manual",
            UpgradeMode::Rolling => "Rolling",
        }
    }
}

/// The scale set to create, then keep on the newest version. The admin fields, `publicIp` and
/// `tags` mean what they mean for a VM (`publicIp`: one public IP per instance).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = require_scale_set)]
pub struct ScaleSetSpec {
    /// Scale-set name (1–59 characters, as a VM name; never containing the version: the scale
    /// set is updated in place).
    #[serde(default)]
    pub name: String,
    /// Number of instances (1–100), used when the scale set is created.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub capacity: u32,
    /// Instance size, e.g. `Standard_D2s_v5`.
    #[serde(default)]
    pub size: String,
    /// `batches` (default) or `rolling`.
    #[serde(default)]
    pub upgrade: UpgradeMode,
    /// Percent of the instances upgraded at a time (default 20; 1–100, rolling 5–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub batch_percent: Option<u32>,
    /// More than this percent of all instances unhealthy halts the upgrade (default 20; 0–100,
    /// rolling 5–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100))]
    pub max_unhealthy_percent: Option<u32>,
    /// Pause after a healthy batch before the next one (`30s`, `5m`; default none; at most 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_between_batches: Option<String>,
    /// The Application Health probe every instance runs; the upgrade waits for each instance to
    /// report healthy (required with `rolling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthProbe>,
    /// Administrator account; required for generalized images, not allowed for specialized ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_username: Option<String>,
    /// OpenSSH public key (Linux, generalized images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
    /// Key Vault secret id holding the administrator password (Windows, generalized images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password_secret_id: Option<String>,
    /// One public IP address per instance (`publicIPAddressConfiguration`).
    #[serde(default)]
    pub public_ip: bool,
    /// Extra tags for the scale set and its network (`imageferry-deployment` is reserved).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn require_scale_set(s: &mut schemars::Schema) {
    crate::schema_util::require(s, &["name", "capacity", "size"]);
}

impl ScaleSetSpec {
    /// The fields a VM has too, as a [`VmSpec`] (the rules of those fields are the VM's).
    pub fn as_vm(&self) -> VmSpec {
        VmSpec {
            name: self.name.clone(),
            size: self.size.clone(),
            admin_username: self.admin_username.clone(),
            ssh_public_key: self.ssh_public_key.clone(),
            admin_password_secret_id: self.admin_password_secret_id.clone(),
            public_ip: self.public_ip,
            tags: self.tags.clone(),
        }
    }

    /// `batchPercent` or its default.
    pub fn batch_percent(&self) -> u32 {
        self.batch_percent.unwrap_or(DEFAULT_BATCH_PERCENT)
    }

    /// `maxUnhealthyPercent` or its default.
    pub fn max_unhealthy_percent(&self) -> u32 {
        self.max_unhealthy_percent
            .unwrap_or(DEFAULT_MAX_UNHEALTHY_PERCENT)
    }

    /// `pauseBetweenBatches` (zero when not given or not a duration: validation reports that).
    pub fn pause(&self) -> Duration {
        self.pause_between_batches
            .as_deref()
            .and_then(|p| crate::duration::parse_duration(p).ok())
            .unwrap_or(Duration::ZERO)
    }

    /// How many instances one batch of `total` upgrades: `batchPercent` of them, rounded up,
    /// at least one.
    pub fn batch_size(&self, total: usize) -> usize {
        let percent = self.batch_percent().clamp(1, 100) as usize;
        total.saturating_mul(percent).div_ceil(100).max(1)
    }

    /// Whether `unhealthy` of `total` instances is more than `maxUnhealthyPercent` allows.
    pub fn too_unhealthy(&self, unhealthy: usize, total: usize) -> bool {
        unhealthy > 0
            && unhealthy.saturating_mul(100)
                > total.saturating_mul(self.max_unhealthy_percent() as usize)
    }

    /// Every rule of the scale-set-only fields, as (field, message) relative to `scaleSet`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |field: &str, message: String| out.push((field.to_string(), message));
        if self.name.contains(crate::rollout::VERSION_PLACEHOLDER) {
            add(
                "name",
                "a scale set is updated in place by every new version: its name must not contain {version}".into(),
            );
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            add(
                "capacity",
                if self.capacity == 0 {
                    format!("required: 1-{MAX_CAPACITY} instances")
                } else {
                    format!(
                        "at most {MAX_CAPACITY} instances (one placement group of a Uniform scale set)"
                    )
                },
            );
        }
        let rolling = self.upgrade == UpgradeMode::Rolling;
        let (batch_min, unhealthy_min) = if rolling { (5, 5) } else { (1, 0) };
        if let Some(b) = self.batch_percent
            && !(batch_min..=100).contains(&b)
        {
            add(
                "batchPercent",
                if rolling {
                    "must be 5-100 with rolling (the policy's maxBatchInstancePercent)".into()
                } else {
                    "must be 1-100".into()
                },
            );
        }
        if let Some(u) = self.max_unhealthy_percent
            && !(unhealthy_min..=100).contains(&u)
        {
            add(
                "maxUnhealthyPercent",
                if rolling {
                    "must be 5-100 with rolling (the policy's maxUnhealthyInstancePercent)".into()
                } else {
                    "must be 0-100".into()
                },
            );
        }
        if let Some(p) = &self.pause_between_batches {
            match crate::duration::parse_duration(p) {
                Err(e) => add("pauseBetweenBatches", e.to_string()),
                Ok(d) if d > MAX_PAUSE => add("pauseBetweenBatches", "at most 24h".into()),
                Ok(_) => {}
            }
        }
        match &self.health {
            None if rolling => add(
                "health",
                "required with rolling: a rolling upgrade needs a health source (the Application Health extension)".into(),
            ),
            None => {}
            Some(h) => {
                for (field, message) in h.problems() {
                    add(&format!("health.{field}"), message);
                }
            }
        }
        out
    }
}

/// The computer name prefix of a scale set's instances (`osProfile.computerNamePrefix`), derived
/// from its name as a VM's computer name is ([`crate::os_profile::computer_name`]: letters, digits
/// and `-`), cut to 15 characters (Azure appends each instance's 6 characters); `None` for a
/// specialized image. `Err` (the reason) when nothing usable is left.
pub fn computer_name_prefix(
    name: &str,
    os_type: OsType,
    os_state: OsState,
) -> Result<Option<String>, String> {
    if os_state == OsState::Specialized {
        return Ok(None);
    }
    let derived: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(MAX_COMPUTER_NAME_PREFIX)
        .collect();
    let derived = derived.trim_matches('-').to_string();
    if derived.is_empty() || derived.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "no {os_type} computer name prefix can be derived from {name:?}: its letters, digits and '-' must not be empty or only digits"
        ));
    }
    Ok(Some(derived))
}

/// The health of one instance as imageferry judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceHealth {
    /// The instance id (`0`, `1`, …).
    pub instance_id: String,
    /// What it reports: `HealthState/healthy`, `HealthState/unhealthy`, … (the instance view's
    /// `vmHealth.status.code`), or its provisioning state when that is what stands in the way
    /// (`ProvisioningState/failed`).
    pub health: String,
}

/// Where a scale set stands, in events about it (`provisioning`, `succeeded`, `failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleSetState {
    /// The scale set's resource id.
    pub id: String,
    /// The image version being rolled out (its name, e.g. `1.1.0`).
    pub version: String,
    /// Instances in the scale set.
    pub instances: u32,
    /// Instances running `version`.
    pub on_version: u32,
    /// The batch in flight, or the one that halted (`batches` only; 1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// The instances of that batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_instances: Vec<String>,
    /// Instances that are not healthy, with what they report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy: Vec<InstanceHealth>,
}

/// What a scheduled scale-set check does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ScaleSetPhase {
    /// The PUT that created the scale set: follow its operation, then settle.
    #[serde(rename_all = "camelCase")]
    Create {
        /// The PUT's operation, while it runs (absent: the scale set itself is read).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<PendingOperation>,
    },
    /// Every instance runs the version: wait for all of them to be Succeeded and healthy.
    #[serde(rename_all = "camelCase")]
    Settle {
        /// When the instances must be healthy.
        #[serde(with = "time::serde::rfc3339")]
        #[schemars(with = "Rfc3339")]
        healthy_by: OffsetDateTime,
    },
    /// The PATCH of the model: follow its operation, then start the upgrade.
    #[serde(rename_all = "camelCase")]
    Update {
        /// The PATCH's operation, while it runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<PendingOperation>,
    },
    /// `batches`: upgrade these instances (`manualupgrade`), unless they are already.
    #[serde(rename_all = "camelCase")]
    StartBatch {
        /// 1-based batch number.
        #[serde(deserialize_with = "crate::steps::bounded")]
        #[schemars(range(max = 1_000_000))]
        number: u32,
        /// The instances of the batch, decided when the previous batch ended.
        instance_ids: Vec<String>,
    },
    /// `batches`: follow the batch's `manualupgrade`, then wait for its instances to be healthy.
    #[serde(rename_all = "camelCase")]
    Batch {
        /// 1-based batch number.
        #[serde(deserialize_with = "crate::steps::bounded")]
        #[schemars(range(max = 1_000_000))]
        number: u32,
        /// The instances of the batch.
        instance_ids: Vec<String>,
        /// The `manualupgrade` operation, while it runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<PendingOperation>,
        /// When the batch's instances must be healthy (set once the operation ended).
        #[serde(
            default,
            with = "time::serde::rfc3339::option",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(with = "crate::schema_util::OptionalRfc3339")]
        healthy_by: Option<OffsetDateTime>,
    },
    /// `rolling`: follow `rollingUpgrades/latest` until it completes, faults or is cancelled.
    Rolling {},
}

/// The scale-set form of `vm-provisioning`: one check of a scale set's create or upgrade, then
/// the next one scheduled, or the end. Told apart from the VM form by its `scaleSetId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "ScaleSetProvisioning")]
pub struct ScaleSetProvisioning {
    /// The accepted request (a `scaleSet` request).
    pub request: crate::request::DeploymentRequest,
    /// 1 for the first check, then 2, 3, … (at most [`crate::steps::MAX_ATTEMPT`]).
    #[serde(deserialize_with = "crate::steps::bounded")]
    #[schemars(range(max = 1_000_000))]
    pub attempt: u32,
    /// The effective deadline.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub deadline: OffsetDateTime,
    /// The scale set's resource id (must be the one the request names).
    pub scale_set_id: String,
    /// What this check does.
    pub phase: ScaleSetPhase,
}

/// Body of `vm-provisioning`: the VM form, or the scale-set form (a body with a top-level
/// `scaleSetId`). Both are checks scheduled by imageferry itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProvisioningMessage {
    /// A VM create.
    Vm(crate::steps::VmProvisioning),
    /// A scale set's create or upgrade.
    ScaleSet(ScaleSetProvisioning),
}

impl<'de> Deserialize<'de> for ProvisioningMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        if value.get("scaleSetId").is_some() {
            serde_json::from_value(value)
                .map(ProvisioningMessage::ScaleSet)
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(ProvisioningMessage::Vm)
                .map_err(D::Error::custom)
        }
    }
}

impl ProvisioningMessage {
    /// The request inside either form.
    pub fn request(&self) -> &crate::request::DeploymentRequest {
        match self {
            ProvisioningMessage::Vm(m) => &m.request,
            ProvisioningMessage::ScaleSet(m) => &m.request,
        }
    }
}

/// Largest number of instance ids a message may name (a batch is at most the whole scale set).
pub const MAX_BATCH_IDS: usize = MAX_CAPACITY as usize;

impl ScaleSetProvisioning {
    /// The phase's instance ids, if any.
    pub fn instance_ids(&self) -> &[String] {
        match &self.phase {
            ScaleSetPhase::StartBatch { instance_ids, .. }
            | ScaleSetPhase::Batch { instance_ids, .. } => instance_ids,
            _ => &[],
        }
    }

    /// The phase's operation, if any.
    pub fn operation(&self) -> Option<&PendingOperation> {
        match &self.phase {
            ScaleSetPhase::Create { operation }
            | ScaleSetPhase::Update { operation }
            | ScaleSetPhase::Batch { operation, .. } => operation.as_ref(),
            _ => None,
        }
    }

    /// Refuses what only a forged message carries: instance ids that are not instance ids (or
    /// too many of them), and a `healthyBy` further than `grace` (plus clock skew) after `now`.
    pub fn check(&self, now: OffsetDateTime, grace: Duration) -> Result<(), String> {
        let ids = self.instance_ids();
        if ids.len() > MAX_BATCH_IDS {
            return Err(format!(
                "{} instance ids; a batch names at most {MAX_BATCH_IDS}",
                ids.len()
            ));
        }
        if let Some(bad) = ids
            .iter()
            .find(|i| i.is_empty() || i.len() > 10 || !i.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "instance id {bad:?} is not a scale-set instance id"
            ));
        }
        if matches!(&self.phase, ScaleSetPhase::StartBatch { instance_ids, .. } | ScaleSetPhase::Batch { instance_ids, .. } if instance_ids.is_empty())
        {
            return Err("a batch without instances".into());
        }
        let healthy_by = match &self.phase {
            ScaleSetPhase::Settle { healthy_by } => Some(*healthy_by),
            ScaleSetPhase::Batch { healthy_by, .. } => *healthy_by,
            _ => None,
        };
        let latest = crate::request::saturating_add(
            crate::request::saturating_add(now, grace),
            crate::rollout::MAX_CLOCK_SKEW,
        );
        if let Some(t) = healthy_by
            && t > latest
        {
            return Err(format!(
                "healthyBy {t} is further away than the grace period allows"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_round_up_and_the_unhealthy_limit_is_strict() {
        let spec = ScaleSetSpec {
            batch_percent: Some(25),
            ..Default::default()
        };
        assert_eq!(spec.batch_size(4), 1);
        assert_eq!(spec.batch_size(5), 2);
        assert_eq!(spec.batch_size(0), 1);
        assert_eq!(ScaleSetSpec::default().batch_size(10), 2);
        // 20%: 1 of 5 is allowed, 1 of 4 is not.
        let d = ScaleSetSpec::default();
        assert!(!d.too_unhealthy(1, 5));
        assert!(d.too_unhealthy(1, 4));
        assert!(!d.too_unhealthy(0, 4));
        let strict = ScaleSetSpec {
            max_unhealthy_percent: Some(0),
            ..Default::default()
        };
        assert!(strict.too_unhealthy(1, 100));
    }

    #[test]
    fn rules_of_the_scale_set_fields() {
        let spec = ScaleSetSpec {
            name: "web-{version}".into(),
            capacity: 101,
            upgrade: UpgradeMode::Rolling,
            batch_percent: Some(2),
            max_unhealthy_percent: Some(101),
            pause_between_batches: Some("5 parsecs".into()),
            ..Default::default()
        };
        let fields: Vec<String> = spec.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(
            fields,
            [
                "name",
                "capacity",
                "batchPercent",
                "maxUnhealthyPercent",
                "pauseBetweenBatches",
                "health"
            ]
        );
        let ok = ScaleSetSpec {
            name: "web".into(),
            capacity: 4,
            batch_percent: Some(1),
            max_unhealthy_percent: Some(0),
            pause_between_batches: Some("30s".into()),
            ..Default::default()
        };
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());
        assert_eq!(ok.pause(), Duration::from_secs(30));
    }

    #[test]
    fn prefixes_are_cut_to_fifteen() {
        let p = |n| computer_name_prefix(n, OsType::Linux, OsState::Generalized);
        assert_eq!(p("web").unwrap().as_deref(), Some("web"));
        assert_eq!(
            p("a-very-long_scale.set-name").unwrap().as_deref(),
            Some("a-very-longscal")
        );
        assert_eq!(p("web--------------x").unwrap().as_deref(), Some("web"));
        assert!(p("123").is_err());
        assert_eq!(
            computer_name_prefix("x", OsType::Windows, OsState::Specialized).unwrap(),
            None
        );
    }

    #[test]
    fn provisioning_forms_are_told_apart_by_the_scale_set_id() {
        let vm = json!({"request": {"deploymentId": "a"}, "attempt": 1, "deadline": "2026-01-01T00:00:00Z", "vmId": "/v"});
        assert!(matches!(
            serde_json::from_value::<ProvisioningMessage>(vm).unwrap(),
            ProvisioningMessage::Vm(_)
        ));
        let ss = json!({"request": {"deploymentId": "b"}, "attempt": 1, "deadline": "2026-01-01T00:00:00Z",
                        "scaleSetId": "/s", "phase": {"kind": "rolling"}});
        let m = serde_json::from_value::<ProvisioningMessage>(ss).unwrap();
        assert_eq!(m.request().deployment_id, "b");
        let mixed = json!({"request": {}, "attempt": 1, "deadline": "2026-01-01T00:00:00Z",
                           "scaleSetId": "/s", "vmId": "/v", "phase": {"kind": "rolling"}});
        let e = serde_json::from_value::<ProvisioningMessage>(mixed).unwrap_err();
        assert!(e.to_string().contains("vmId"), "{e}");
    }

    #[test]
    fn phases_are_tagged_and_forged_fields_refused() {
        let message = |phase: serde_json::Value| {
            json!({
                "request": {"deploymentId": "d"}, "attempt": 1, "deadline": "2026-01-01T00:00:00Z",
                "scaleSetId": "/x", "phase": phase
            })
        };
        let m: ScaleSetProvisioning = serde_json::from_value(message(
            json!({"kind": "startBatch", "number": 2, "instanceIds": ["2", "3"]}),
        ))
        .unwrap();
        assert_eq!(m.instance_ids(), ["2", "3"]);
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        assert!(m.check(now, Duration::from_secs(600)).is_ok());
        let e = serde_json::from_value::<ScaleSetProvisioning>(message(
            json!({"kind": "rolling", "extra": 1}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
        let forged: ScaleSetProvisioning = serde_json::from_value(message(
            json!({"kind": "startBatch", "number": 1, "instanceIds": ["../1"]}),
        ))
        .unwrap();
        assert!(forged.check(now, Duration::ZERO).is_err());
        let far: ScaleSetProvisioning = serde_json::from_value(message(
            json!({"kind": "batch", "number": 1, "instanceIds": ["1"], "healthyBy": "2027-01-01T00:00:00Z"}),
        ))
        .unwrap();
        assert!(
            far.check(now, Duration::from_secs(600))
                .unwrap_err()
                .contains("healthyBy")
        );
        let round = serde_json::to_value(&m).unwrap();
        assert_eq!(round["phase"]["kind"], "startBatch");
    }
}
