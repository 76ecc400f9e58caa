//! What the scale set's instances say, and what imageferry makes of it: which instances run the
//! version (`latestModelApplied` while the model names it, and `exactVersion` when reported) and
//! whether each is healthy.
//!
//! Health, per instance: its provisioning state first (`Failed` is unhealthy at once, anything
//! but `Succeeded` is still pending); then, with a health probe, the instance view's
//! `vmHealth.status.code` (`HealthState/healthy` is healthy; `HealthState/initializing` or no
//! `vmHealth` yet is pending; `HealthState/unhealthy` and `HealthState/unknown` are unhealthy
//! once the grace period is over and pending before, as the Application Health extension's
//! documentation tells a starting application's states). Without a probe, `Succeeded` is healthy.

use azure_clients::models::{ProvisioningState, ScaleSetVm};
use imageferry_contract::{InstanceHealth, ScaleSetSpec};

/// `vmHealth.status.code` of a healthy instance.
pub const HEALTHY: &str = "HealthState/healthy";
/// `vmHealth.status.code` while the extension waits for the application.
pub const INITIALIZING: &str = "HealthState/initializing";

/// One instance as imageferry sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its instance id.
    pub id: String,
    /// It runs the version being rolled out.
    pub on_version: bool,
    /// It is being created or upgraded.
    pub busy: bool,
    /// What it reports.
    pub health: Health,
}

/// An instance's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Healthy.
    Healthy,
    /// Not yet: still provisioning, or the application has not answered yet (what it reports).
    Pending(String),
    /// Failed provisioning, or unhealthy / unknown after the grace period (what it reports).
    Unhealthy(String),
    /// Unhealthy or unknown, but the grace period is not over (what it reports).
    Doubtful(String),
}

/// The scale set's instances.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// By instance id, in numeric order.
    pub instances: Vec<Instance>,
}

impl Fleet {
    /// Reads the instances (`virtualMachines` with `$expand=instanceView`); `version` is the
    /// version name being rolled out; `probe` whether a health probe runs.
    pub fn read(vms: &[ScaleSetVm], version: &str, probe: bool) -> Fleet {
        let mut instances: Vec<Instance> = vms
            .iter()
            .map(|vm| {
                let on_model = vm.properties.latest_model_applied == Some(true);
                let on_version = on_model
                    && vm
                        .exact_version()
                        .is_none_or(|v| v.eq_ignore_ascii_case(version));
                let state = vm.properties.provisioning_state.as_ref();
                let busy = !matches!(
                    state,
                    Some(ProvisioningState::Succeeded | ProvisioningState::Failed)
                );
                let health = match state {
                    Some(ProvisioningState::Failed) => {
                        Health::Unhealthy(vm.provisioning_error().map_or_else(
                            || "ProvisioningState/failed".to_string(),
                            |m| format!("ProvisioningState/failed: {m}"),
                        ))
                    }
                    Some(ProvisioningState::Succeeded) if !probe => Health::Healthy,
                    Some(ProvisioningState::Succeeded) => match vm.health_code() {
                        Some(c) if c.eq_ignore_ascii_case(HEALTHY) => Health::Healthy,
                        Some(c) if c.eq_ignore_ascii_case(INITIALIZING) => {
                            Health::Pending(c.to_string())
                        }
                        Some(c) => Health::Doubtful(c.to_string()),
                        None => Health::Pending("no vmHealth reported yet".into()),
                    },
                    other => Health::Pending(format!(
                        "ProvisioningState/{}",
                        other.map_or("unknown".to_string(), |s| s.to_string().to_lowercase())
                    )),
                };
                Instance {
                    id: vm.instance_id.clone(),
                    on_version,
                    busy,
                    health,
                }
            })
            .collect();
        instances.sort_by_key(|i| (i.id.len(), i.id.clone()));
        Fleet { instances }
    }

    /// Number of instances.
    pub fn total(&self) -> usize {
        self.instances.len()
    }

    /// Instances running the version.
    pub fn on_version(&self) -> usize {
        self.instances.iter().filter(|i| i.on_version).count()
    }

    /// The instances not on the version and not being upgraded, in id order.
    pub fn out_of_date(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter(|i| !i.on_version && !i.busy)
            .map(|i| i.id.clone())
            .collect()
    }

    /// The instance `id`.
    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The next batch: `spec`'s batch size of the out-of-date instances, in id order.
    pub fn next_batch(&self, spec: &ScaleSetSpec) -> Vec<String> {
        let mut ids = self.out_of_date();
        ids.truncate(spec.batch_size(self.total()));
        ids
    }

    /// How `ids` (all instances when `None`) stand, with the grace period over or not.
    pub fn judge(&self, ids: Option<&[String]>, grace_over: bool) -> Verdict {
        let mut v = Verdict::default();
        for i in &self.instances {
            if ids.is_some_and(|ids| !ids.contains(&i.id)) {
                continue;
            }
            let not_on_version = || {
                if i.busy {
                    "upgrading".to_string()
                } else {
                    "not on the version".to_string()
                }
            };
            match (&i.health, i.on_version) {
                (Health::Unhealthy(h), _) => v.unhealthy.push(health(&i.id, h)),
                (Health::Healthy, true) => v.healthy += 1,
                (Health::Doubtful(h), _) if grace_over => v.unhealthy.push(health(&i.id, h)),
                (Health::Healthy, false) if grace_over => {
                    v.unhealthy.push(health(&i.id, &not_on_version()))
                }
                (Health::Pending(h), _) if grace_over => v.unhealthy.push(health(&i.id, h)),
                (Health::Healthy, false) => v.pending.push(health(&i.id, &not_on_version())),
                (Health::Doubtful(h) | Health::Pending(h), _) => v.pending.push(health(&i.id, h)),
            }
        }
        v
    }

    /// The instances that are unhealthy without doubt now (failed, or reporting unhealthy or
    /// unknown), whatever the grace period: what counts before a batch starts.
    pub fn unhealthy_now(&self) -> Vec<InstanceHealth> {
        self.instances
            .iter()
            .filter_map(|i| match &i.health {
                Health::Unhealthy(h) | Health::Doubtful(h) => Some(health(&i.id, h)),
                _ => None,
            })
            .collect()
    }
}

fn health(id: &str, what: &str) -> InstanceHealth {
    InstanceHealth {
        instance_id: id.to_string(),
        health: what.to_string(),
    }
}

/// How a set of instances stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Healthy and on the version.
    pub healthy: usize,
    /// Still on their way.
    pub pending: Vec<InstanceHealth>,
    /// Unhealthy (see [`Health`]).
    pub unhealthy: Vec<InstanceHealth>,
}

impl Verdict {
    /// Every instance judged is healthy and on the version.
    pub fn all_healthy(&self) -> bool {
        self.pending.is_empty() && self.unhealthy.is_empty()
    }
}

/// `instance 2 (HealthState/unhealthy), instance 3 (upgrading)`.
pub fn describe(list: &[InstanceHealth]) -> String {
    list.iter()
        .map(|h| format!("instance {} ({})", h.instance_id, h.health))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vm(id: &str, latest: bool, version: &str, state: &str, health: Option<&str>) -> ScaleSetVm {
        let mut v = json!({
            "instanceId": id,
            "properties": {
                "latestModelApplied": latest,
                "provisioningState": state,
                "storageProfile": {"imageReference": {"id": "/x", "exactVersion": version}},
                "instanceView": {"statuses": []}
            }
        });
        if let Some(h) = health {
            v["properties"]["instanceView"]["vmHealth"] = json!({"status": {"code": h}});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn instances_are_judged_by_model_state_and_health() {
        let vms = [
            vm("10", true, "1.1.0", "Succeeded", Some(HEALTHY)),
            vm(
                "2",
                true,
                "1.1.0",
                "Succeeded",
                Some("HealthState/unhealthy"),
            ),
            vm("3", false, "1.0.0", "Succeeded", Some(HEALTHY)),
            vm("4", true, "1.1.0", "Updating", None),
            vm("5", true, "1.1.0", "Failed", None),
        ];
        let f = Fleet::read(&vms, "1.1.0", true);
        let ids: Vec<&str> = f.instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["2", "3", "4", "5", "10"]);
        assert_eq!(f.on_version(), 4);
        assert_eq!(f.out_of_date(), ["3"]);
        let within = f.judge(None, false);
        assert_eq!(within.healthy, 1);
        assert_eq!(within.unhealthy.len(), 1, "{within:?}"); // the failed one
        assert_eq!(within.pending.len(), 3);
        let over = f.judge(Some(&["2".into(), "10".into()]), true);
        assert_eq!(over.healthy, 1);
        assert_eq!(
            describe(&over.unhealthy),
            "instance 2 (HealthState/unhealthy)"
        );
        assert_eq!(f.unhealthy_now().len(), 2);
        // Without a probe, Succeeded is healthy.
        let f = Fleet::read(&vms, "1.1.0", false);
        assert!(f.judge(Some(&["2".into()]), true).all_healthy());
    }
}
