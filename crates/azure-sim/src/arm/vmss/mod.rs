//! Virtual machine scale sets, Uniform orchestration (`Microsoft.Compute/virtualMachineScaleSets`):
//! PUT / GET / PATCH / DELETE of the scale set, its instances (`virtualMachines`, their instance
//! view with `latestModelApplied` and `vmHealth`), `manualupgrade`, `osRollingUpgrade`,
//! `rollingUpgrades/latest` and `rollingUpgrades/cancel`, capacity changes and the upgrade policy
//! (Manual, Automatic, Rolling with its batch / health limits / pause) on the simulated clock.
//!
//! Shapes: reference/arm/examples/scaleset (create, update, manualupgrade, osRollingUpgrade,
//! rollingUpgrades/latest, delete, VM list) and reference/arm/schemas/virtualMachineScaleSet.json;
//! the instance body also follows azure-rest-api-specs ComputeRP 2025-04-01
//! `VirtualMachineScaleSetVM_Get_WithUserData.json` (`name` `{scaleSet}_{id}`, `type`
//! `Microsoft.Compute/virtualMachines`, NIC ids under the instance, OS disk
//! `{scaleSet}_{scaleSet}_{id}_OsDisk_1_{hex}`, `exactVersion`). Why Uniform, the sources of the
//! behaviour and the error codes: crates/azure-sim/README.md "Scale sets".
//!
//! State: the scale set is a stored resource like any other; its instances (and their NICs) are
//! stored resources under its id, rewritten from [`ScaleSet`] (the per-instance model, upgrades
//! and the rolling upgrade) whenever simulated time is advanced ([`advance`], run by
//! `arm::catch_up` before every ARM request and inspection). A DELETE is the one of
//! `arm::deletion` (the scale set's id and everything under it go when it ends).

mod instances;
mod model;
mod rolling;

pub(crate) use instances::NIC_TYPE as INSTANCE_NIC_TYPE;

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::{method_not_allowed, resource_not_found, rg_not_found};
use super::resources::require;
use super::{ArmResult, Ctx};
use crate::http::Reply;
use crate::sim::{Sim, rg_id};
use crate::state::{State, key};

/// Scale-set timings (simulated seconds), scenario section `[scale_sets]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSetSettings {
    /// Creating one instance, or upgrading it to the latest model (all instances of one batch or
    /// one `manualupgrade` run in parallel).
    #[serde(default = "default_instance_secs")]
    pub instance_secs: f64,
    /// A model update that changes no instance (a PATCH in Manual mode, a capacity decrease).
    #[serde(default = "default_update_secs")]
    pub update_secs: f64,
    /// Deleting the scale set with its instances.
    #[serde(default = "default_delete_secs")]
    pub delete_secs: f64,
    /// How long a rolling upgrade waits for an upgraded instance to report healthy before it
    /// counts as unhealthy (Microsoft documents 5 minutes for OS image upgrades).
    #[serde(default = "default_health_wait_secs")]
    pub health_wait_secs: f64,
}

fn default_instance_secs() -> f64 {
    60.0
}
fn default_update_secs() -> f64 {
    5.0
}
fn default_delete_secs() -> f64 {
    30.0
}
fn default_health_wait_secs() -> f64 {
    300.0
}

impl Default for ScaleSetSettings {
    fn default() -> Self {
        Self {
            instance_secs: default_instance_secs(),
            update_secs: default_update_secs(),
            delete_secs: default_delete_secs(),
            health_wait_secs: default_health_wait_secs(),
        }
    }
}

/// Every scale set's instances and upgrade, by the scale set's storage key.
#[derive(Debug, Default)]
pub(crate) struct Fleet(pub(crate) BTreeMap<String, ScaleSet>);

/// One scale set's simulation state.
#[derive(Debug, Clone)]
pub(crate) struct ScaleSet {
    /// Canonical id.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) location: String,
    /// The OS of its image (for defaults in the instance bodies).
    pub(crate) os_type: String,
    pub(crate) next_instance: u64,
    pub(crate) instances: BTreeMap<u64, Instance>,
    /// The latest rolling upgrade (kept after it ends, for `rollingUpgrades/latest`).
    pub(crate) rolling: Option<rolling::Upgrade>,
}

/// One instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    /// The `virtualMachineProfile` it runs.
    pub(crate) profile: Value,
    /// The gallery image version it runs (id), if any.
    pub(crate) version_id: Option<String>,
    /// When its OS (and extensions) last started: the health extension's clock.
    pub(crate) started: f64,
    /// Creating or upgrading until.
    pub(crate) busy: Option<Busy>,
    /// Its provisioning failed (code, message).
    pub(crate) failed: Option<(String, String)>,
    pub(crate) vm_id: String,
    /// Hex suffix of its OS disk name.
    pub(crate) disk_suffix: String,
    pub(crate) time_created: String,
}

/// Work in progress on an instance.
#[derive(Debug, Clone)]
pub(crate) struct Busy {
    pub(crate) creating: bool,
    pub(crate) until: f64,
    /// The model (and image version) it runs once done.
    pub(crate) profile: Value,
    pub(crate) version_id: Option<String>,
    pub(crate) fail: Option<(String, String)>,
}

const READ: &str = "Microsoft.Compute/virtualMachineScaleSets/read";
const WRITE: &str = "Microsoft.Compute/virtualMachineScaleSets/write";
const DELETE: &str = "Microsoft.Compute/virtualMachineScaleSets/delete";
const VM_READ: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read";
const VM_VIEW: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read";
const MANUAL_UPGRADE: &str = "Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action";
const OS_UPGRADE: &str = "Microsoft.Compute/virtualMachineScaleSets/osRollingUpgrade/action";
const ROLLING_READ: &str = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/read";
const ROLLING_CANCEL: &str = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/action";

/// What a request under the scale set asks for.
enum Call {
    Get,
    Head,
    Put,
    Patch,
    Delete,
    List,
    Instance(String),
    InstanceView(String),
    ManualUpgrade,
    OsUpgrade,
    LatestUpgrade,
    CancelUpgrade,
}

/// A request under `.../virtualMachineScaleSets/{name}`.
pub(crate) fn handle(ctx: &Ctx, sub: &str, rg: &str, name: &str, rest: &[String]) -> ArmResult {
    let id = format!(
        "{}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}",
        rg_id(sub, rg)
    );
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let segs: Vec<&str> = lower.iter().map(String::as_str).collect();
    let m = &ctx.req.method;
    let (action, call) = match (segs.as_slice(), m) {
        ([], &Method::GET) => (READ, Call::Get),
        ([], &Method::HEAD) => (READ, Call::Head),
        ([], &Method::PUT) => (WRITE, Call::Put),
        ([], &Method::PATCH) => (WRITE, Call::Patch),
        ([], &Method::DELETE) => (DELETE, Call::Delete),
        (["virtualmachines"], &Method::GET) => (VM_READ, Call::List),
        (["virtualmachines", _], &Method::GET) => (VM_READ, Call::Instance(rest[1].clone())),
        (["virtualmachines", _, "instanceview"], &Method::GET) => {
            (VM_VIEW, Call::InstanceView(rest[1].clone()))
        }
        (["manualupgrade"], &Method::POST) => (MANUAL_UPGRADE, Call::ManualUpgrade),
        (["osrollingupgrade"], &Method::POST) => (OS_UPGRADE, Call::OsUpgrade),
        (["rollingupgrades", "latest"], &Method::GET) => (ROLLING_READ, Call::LatestUpgrade),
        (["rollingupgrades", "cancel"], &Method::POST) => (ROLLING_CANCEL, Call::CancelUpgrade),
        (
            []
            | ["virtualmachines", ..]
            | ["manualupgrade"]
            | ["osrollingupgrade"]
            | ["rollingupgrades", _],
            _,
        ) => return Err(method_not_allowed(ctx)),
        _ => {
            return Err(Reply::arm_error(
                StatusCode::NOT_FOUND,
                "InvalidResourceType",
                format!(
                    "The resource type 'virtualMachineScaleSets/{}' could not be found in the namespace 'Microsoft.Compute' for api version '{}'.",
                    rest.join("/"),
                    ctx.api_version
                ),
            ));
        }
    };
    require(ctx, action, &id)?;
    if !ctx
        .sim
        .state()
        .resources
        .contains_key(&key(&rg_id(sub, rg)))
    {
        return Err(rg_not_found(rg));
    }
    let missing = || {
        resource_not_found(
            &format!("Microsoft.Compute/virtualMachineScaleSets/{name}"),
            rg,
        )
    };
    let exists = ctx.sim.state().scale_sets.0.contains_key(&key(&id));
    if matches!(call, Call::Head) && !exists {
        return Ok(Reply::json(StatusCode::NOT_FOUND, Value::Null));
    }
    match call {
        Call::Put => model::put(ctx, &id, name),
        Call::Delete => model::delete(ctx, &id),
        _ if !exists => Err(missing()),
        Call::Get => model::get(ctx, &id),
        // Check existence (204), as the HEAD of any other resource.
        Call::Head => {
            model::get(ctx, &id).map(|_| Reply::json(StatusCode::NO_CONTENT, Value::Null))
        }
        Call::Patch => model::patch(ctx, &id, name),
        Call::List => instances::list(ctx, &id),
        Call::Instance(i) => instances::get(ctx, &id, rg, &i, false),
        Call::InstanceView(i) => instances::get(ctx, &id, rg, &i, true),
        Call::ManualUpgrade => rolling::manual_upgrade(ctx, &id),
        Call::OsUpgrade => rolling::start_os_upgrade(ctx, &id),
        Call::LatestUpgrade => rolling::latest(ctx, &id),
        Call::CancelUpgrade => rolling::cancel(ctx, &id),
    }
}

/// Moves every scale set to the current simulated time: finished instance creates and upgrades,
/// rolling-upgrade batches, pauses and health checks; forgets the scale sets whose deletion
/// ended; then rewrites the stored instance resources.
pub(crate) fn advance(sim: &Sim) {
    let mut st = sim.state();
    if st.scale_sets.0.is_empty() {
        return;
    }
    let now = st.clock.now();
    let keys: Vec<String> = st.scale_sets.0.keys().cloned().collect();
    for k in keys {
        rolling::run(sim, &mut st, &k, now);
        if st.scale_sets.0.contains_key(&k) {
            instances::sync(sim, &mut st, &k, now);
        }
    }
}

/// A DELETE of scale set `k` (or of its resource group) began: a running rolling upgrade stops
/// (its `osRollingUpgrade` operations end `Canceled`). Nothing for a key that is no scale set.
pub(crate) fn deleting(st: &mut State, k: &str, now: f64) {
    let Some(mut set) = st.scale_sets.0.get(k).cloned() else {
        return;
    };
    if rolling::abandon(st, &mut set, now) {
        st.scale_sets.0.insert(k.to_owned(), set);
    }
}

/// The scale set's stored resource is gone (its DELETE or its resource group's ended): forget it.
fn orphaned(st: &State, k: &str) -> bool {
    !st.resources.contains_key(k)
}
