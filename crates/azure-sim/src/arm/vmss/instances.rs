//! Scale-set instances: their bodies (VirtualMachineScaleSetVM), instance views
//! (VirtualMachineScaleSetVMInstanceView, with `vmHealth` from the Application Health extension),
//! the `virtualMachines` list (`$expand=instanceView`, `$filter=properties/latestModelApplied eq
//! true|false`) and the stored records `/_sim/resources` shows (instances and their NICs).
//!
//! Shapes: reference/arm/examples/scaleset/VirtualMachineScaleSetVM_List_MaximumSet_Gen.json and
//! ComputeRP 2025-04-01 VirtualMachineScaleSetVM_Get_WithUserData.json; statuses as in
//! reference/arm/examples/compute/VirtualMachine_Get_InstanceView.json
//! (`ProvisioningState/succeeded` "Provisioning succeeded", `PowerState/running` "VM running").

use http::StatusCode;
use serde_json::{Value, json};

use super::super::errors::resource_not_found;
use super::super::health::{self, HealthCode, Target};
use super::super::instance_view::{self, status};
use super::super::resources::render;
use super::super::{ArmResult, Ctx, gallery};
use super::{Instance, ScaleSet};
use crate::http::Reply;
use crate::sim::Sim;
use crate::state::{Resource, State, key, region_usable};

/// Stored type of an instance record.
pub(super) const INSTANCE_TYPE: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines";
/// Stored type of an instance's NIC record (its ARM path; its body says
/// `Microsoft.Network/networkInterfaces` as the Network RP's scale-set NIC GET does).
pub(crate) const NIC_TYPE: &str =
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces";

/// The gallery image version a model's `imageReference` runs when an instance is created or
/// upgraded now: the version it names, or its definition's latest version replicated to
/// `location` (an image that is not replicated there is not rolled out, as Microsoft documents for
/// automatic OS image upgrades).
pub(crate) fn model_version(st: &State, profile: &Value, location: &str) -> Option<String> {
    let id = profile["storageProfile"]["imageReference"]["id"].as_str()?;
    let r = super::super::path::GalleryImageRef::parse(id)?;
    if let Some(v) = &r.version {
        return Some(format!("{}/versions/{v}", r.image_id()));
    }
    let latest = gallery::latest_version(st, &r.image_id())?;
    let now = st.clock.now();
    st.resources
        .get(&key(&latest))
        .filter(|v| region_usable(&v.replication, location, now))
        .map(|_| latest)
}

/// Whether an instance runs (or is being created with) `profile`.
pub(super) fn runs_model(i: &Instance, profile: &Value) -> bool {
    i.profile == *profile
}

/// Starts replacing an instance's OS disk with `profile`'s image, done at `until`.
pub(super) fn start_upgrade(
    i: &mut Instance,
    until: f64,
    profile: &Value,
    version_id: Option<String>,
    fail: Option<(String, String)>,
) {
    i.busy = Some(super::Busy {
        creating: false,
        until,
        profile: profile.clone(),
        version_id,
        fail,
    });
}

/// The version name (`1.1.0`) of a version id.
fn version_name(version_id: &Option<String>) -> Option<&str> {
    version_id.as_deref().and_then(|v| v.rsplit('/').next())
}

/// The health instance `n` reports at simulated time `t`: `None` while it is created or
/// upgraded, when its provisioning failed, or when its model has no (working) Application Health
/// extension.
pub(super) fn health_at(
    sim: &Sim,
    st: &State,
    set: &ScaleSet,
    n: u64,
    i: &Instance,
    t: f64,
) -> Option<HealthCode> {
    if i.failed.is_some() || i.busy.as_ref().is_some_and(|b| b.until > t) {
        return None;
    }
    let ext = health::in_profile(&i.profile)?;
    let settings = health::settings(&ext["properties"]).ok()?;
    let id = n.to_string();
    let target = Target::Instance {
        scale_set: &set.name,
        instance: &id,
        version: version_name(&i.version_id),
    };
    Some(health::code_after(
        &settings,
        health::answer(sim, st, &target),
        t - i.started,
    ))
}

/// When instance `n` (done at `i.started`) reports healthy: at once without a health extension,
/// `None` if its application never answers healthy.
pub(super) fn healthy_from(
    sim: &Sim,
    st: &State,
    set: &ScaleSet,
    n: u64,
    i: &Instance,
) -> Option<f64> {
    if i.failed.is_some() {
        return None;
    }
    let Some(ext) = health::in_profile(&i.profile) else {
        return Some(i.started);
    };
    let settings = health::settings(&ext["properties"]).ok()?;
    let id = n.to_string();
    let target = Target::Instance {
        scale_set: &set.name,
        instance: &id,
        version: version_name(&i.version_id),
    };
    health::healthy_after(&settings, health::answer(sim, st, &target)).map(|d| i.started + d)
}

fn instance_id(set: &ScaleSet, n: u64) -> String {
    format!("{}/virtualMachines/{n}", set.id)
}

/// The computer name: the prefix plus the instance id in base 36, six digits (`test000000`).
fn computer_name(prefix: &str, n: u64) -> String {
    let mut digits = Vec::new();
    let mut v = n;
    for _ in 0..6 {
        let d = (v % 36) as u32;
        digits.push(std::char::from_digit(d, 36).unwrap_or('0'));
        v /= 36;
    }
    digits.reverse();
    format!("{prefix}{}", digits.into_iter().collect::<String>())
}

fn nic_ids(set: &ScaleSet, n: u64, profile: &Value) -> Vec<(String, Value)> {
    profile["networkProfile"]["networkInterfaceConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|cfg| {
            let name = cfg["name"].as_str().unwrap_or("nic");
            (
                format!("{}/networkInterfaces/{name}", instance_id(set, n)),
                cfg.clone(),
            )
        })
        .collect()
}

/// The instance body (without `instanceView` and `provisioningState`).
fn body(set: &ScaleSet, n: u64, i: &Instance, model: &Value) -> Value {
    let p = &i.profile;
    let id = instance_id(set, n);
    let rg_prefix = set.id.split("/providers/").next().unwrap_or_default();
    let disk = format!("{}_{}_{n}_OsDisk_1_{}", set.name, set.name, i.disk_suffix);
    let mut image = p["storageProfile"]["imageReference"].clone();
    if let Some(v) = version_name(&i.version_id) {
        image["exactVersion"] = json!(v);
    }
    let os_disk = &p["storageProfile"]["osDisk"];
    let mut os = p["osProfile"].clone();
    if let Some(m) = os.as_object_mut() {
        let prefix = m
            .remove("computerNamePrefix")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| set.name.clone());
        m.insert("computerName".into(), json!(computer_name(&prefix, n)));
        m.insert("allowExtensionOperations".into(), json!(true));
        m.insert("requireGuestProvisionSignal".into(), json!(true));
    }
    let extensions: Vec<Value> = p["extensionProfile"]["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let name = e["name"].as_str().unwrap_or_default();
            let mut props = e["properties"].clone();
            props["provisioningState"] = json!(if i.failed.is_some() {
                "Failed"
            } else {
                "Succeeded"
            });
            json!({
                "name": name,
                "id": format!("{id}/extensions/{name}"),
                "type": "Microsoft.Compute/virtualMachines/extensions",
                "location": set.location,
                "properties": props
            })
        })
        .collect();
    let mut b = json!({
        "name": format!("{}_{n}", set.name),
        "id": id,
        "type": "Microsoft.Compute/virtualMachines",
        "location": set.location,
        "tags": model["tags"].as_object().cloned().unwrap_or_default(),
        "instanceId": n.to_string(),
        "sku": {"name": model["sku"]["name"], "tier": model["sku"]["tier"].as_str().unwrap_or("Standard")},
        "properties": {
            "latestModelApplied": runs_model(i, &model["properties"]["virtualMachineProfile"]),
            "modelDefinitionApplied": "VirtualMachineScaleSet",
            "networkProfileConfiguration": {"networkInterfaceConfigurations": p["networkProfile"]["networkInterfaceConfigurations"].clone()},
            "vmId": i.vm_id,
            "hardwareProfile": {},
            "storageProfile": {
                "imageReference": image,
                "osDisk": {
                    "osType": set.os_type,
                    "name": disk,
                    "createOption": "FromImage",
                    "caching": os_disk["caching"].as_str().unwrap_or("ReadWrite"),
                    "managedDisk": {
                        "storageAccountType": os_disk["managedDisk"]["storageAccountType"].as_str().unwrap_or("Standard_LRS"),
                        "id": format!("{rg_prefix}/providers/Microsoft.Compute/disks/{disk}")
                    },
                    "diskSizeGB": os_disk["diskSizeGB"].as_u64().unwrap_or(30),
                    "deleteOption": "Delete"
                },
                "dataDisks": []
            },
            "osProfile": os,
            "networkProfile": {"networkInterfaces": nic_ids(set, n, p).into_iter().map(|(id, cfg)| json!({
                "id": id,
                "properties": {"primary": cfg["properties"]["primary"].as_bool().unwrap_or(false), "deleteOption": "Delete"}
            })).collect::<Vec<_>>()},
            "timeCreated": i.time_created
        },
        "resources": extensions
    });
    if p.get("securityProfile").is_some() {
        b["properties"]["securityProfile"] = p["securityProfile"].clone();
    }
    b
}

/// The instance view of instance `n` now.
fn instance_view(sim: &Sim, st: &State, set: &ScaleSet, n: u64, i: &Instance) -> Value {
    let now = st.clock.now();
    let p = &i.profile;
    let when = Some(health::wall_time(st, i.started.min(now)));
    let (prov, display) = match (&i.busy, &i.failed) {
        (Some(b), _) if b.creating => ("ProvisioningState/creating", "Creating"),
        (Some(_), _) => ("ProvisioningState/updating", "Updating"),
        (None, Some(_)) => ("ProvisioningState/failed", "Provisioning failed"),
        (None, None) => ("ProvisioningState/succeeded", "Provisioning succeeded"),
    };
    let mut prov_status = status(prov, display, when.clone());
    if let (None, Some((code, message))) = (&i.busy, &i.failed) {
        prov_status["message"] = json!(format!("{code}: {message}"));
    }
    let creating = i.busy.as_ref().is_some_and(|b| b.creating);
    let mut statuses = vec![prov_status];
    if !creating {
        statuses.push(status(
            "PowerState/running",
            instance_view::display_power("running"),
            None,
        ));
    }
    let extensions: Vec<Value> = p["extensionProfile"]["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|_| !creating)
        .map(|e| {
            let failed = i.failed.is_some() && health::is_health_extension(&e["properties"]);
            json!({
                "name": e["name"],
                "type": format!("{}.{}", e["properties"]["publisher"].as_str().unwrap_or_default(), e["properties"]["type"].as_str().unwrap_or_default()),
                "typeHandlerVersion": e["properties"]["typeHandlerVersion"],
                "statuses": [if failed {
                    let mut s = status("ProvisioningState/failed", "Provisioning failed", when.clone());
                    s["message"] = json!(i.failed.as_ref().map(|f| f.1.clone()).unwrap_or_default());
                    s
                } else {
                    status("ProvisioningState/succeeded", "Provisioning succeeded", when.clone())
                }]
            })
        })
        .collect();
    let prefix = p["osProfile"]["computerNamePrefix"]
        .as_str()
        .unwrap_or(&set.name)
        .to_owned();
    let mut view = json!({
        "platformUpdateDomain": n % 5,
        "platformFaultDomain": n % 5,
        "computerName": computer_name(&prefix, n),
        "vmAgent": instance_view::vm_agent(health::wall_time(st, now)),
        "disks": [{"name": format!("{}_{}_{n}_OsDisk_1_{}", set.name, set.name, i.disk_suffix), "statuses": [status("ProvisioningState/succeeded", "Provisioning succeeded", when.clone())]}],
        "extensions": extensions,
        "statuses": statuses
    });
    if let Some(code) = health_at(sim, st, set, n, i, now) {
        view["vmHealth"] = health::vm_health_value(code, health::wall_time(st, now));
    }
    view
}

/// Rewrites the stored records of scale set `k`'s instances and their NICs from its state.
pub(super) fn sync(_sim: &Sim, st: &mut State, k: &str, now: f64) {
    let Some(set) = st.scale_sets.0.get(k).cloned() else {
        return;
    };
    let Some(model) = st.resources.get(k).map(|r| r.body.clone()) else {
        return;
    };
    let prefix = format!("{k}/virtualmachines/");
    st.resources.retain(|rk, _| !rk.starts_with(&prefix));
    for (n, i) in &set.instances {
        let b = body(&set, *n, i, &model);
        let id = instance_id(&set, *n);
        let (creating, ready_at) = match &i.busy {
            Some(busy) => (busy.creating, busy.until),
            None => (false, i.started.min(now)),
        };
        for (nic_id, cfg) in nic_ids(&set, *n, &i.profile) {
            let ipcs: Vec<Value> = cfg["properties"]["ipConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|ipc| {
                    let name = ipc["name"].as_str().unwrap_or_default();
                    json!({"name": name, "id": format!("{nic_id}/ipConfigurations/{name}"),
                           "properties": {"subnet": ipc["properties"]["subnet"], "privateIPAllocationMethod": "Dynamic",
                                          "privateIPAddressVersion": "IPv4", "primary": ipc["properties"]["primary"].as_bool().unwrap_or(true)}})
                })
                .collect();
            let nic = json!({
                "name": cfg["name"], "id": nic_id, "location": set.location,
                "type": "Microsoft.Network/networkInterfaces",
                "properties": {"ipConfigurations": ipcs, "primary": cfg["properties"]["primary"],
                               "virtualMachine": {"id": id}}
            });
            st.resources.insert(
                key(&nic_id),
                Resource {
                    id: nic_id,
                    resource_type: NIC_TYPE.to_owned(),
                    body: nic,
                    put_count: 0,
                    creating,
                    ready_at,
                    fail: false,
                    replication: Vec::new(),
                },
            );
        }
        st.resources.insert(
            key(&id),
            Resource {
                id,
                resource_type: INSTANCE_TYPE.to_owned(),
                body: b,
                put_count: 0,
                creating,
                ready_at,
                fail: i.busy.is_none() && i.failed.is_some(),
                replication: Vec::new(),
            },
        );
    }
}

/// An instance rendered for a GET: the stored record, with its instance view when asked.
fn rendered(sim: &Sim, st: &State, set: &ScaleSet, n: u64, with_view: bool) -> Option<Value> {
    let r = st.resources.get(&key(&instance_id(set, n)))?;
    let mut b = render(r, st.clock.now(), false);
    if with_view {
        b["properties"]["instanceView"] = instance_view(sim, st, set, n, set.instances.get(&n)?);
    }
    Some(b)
}

/// `GET .../virtualMachines[?$expand=instanceView][&$filter=properties/latestModelApplied eq true|false]`.
pub(super) fn list(ctx: &Ctx, id: &str) -> ArmResult {
    let expand = ctx
        .req
        .query("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    let filter = match ctx.req.query("$filter").map(|f| {
        f.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    }) {
        None => None,
        Some(f) if f == "properties/latestmodelapplied eq true" => Some(true),
        Some(f) if f == "properties/latestmodelapplied eq false" => Some(false),
        Some(f) if f == "startswith(instanceview/statuses/code, 'powerstate') eq true" => None,
        Some(f) => {
            return Err(Reply::arm_error_target(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!(
                    "The value '{f}' of parameter '$filter' is not allowed. Allowed values are 'startswith(instanceView/statuses/code, 'PowerState') eq true', 'properties/latestModelApplied eq true', 'properties/latestModelApplied eq false'."
                ),
                Some("$filter"),
            ));
        }
    };
    let st = ctx.sim.state();
    let Some(set) = st.scale_sets.0.get(&key(id)) else {
        return Ok(Reply::json(StatusCode::OK, json!({"value": []})));
    };
    let value: Vec<Value> = set
        .instances
        .keys()
        .filter_map(|n| rendered(ctx.sim, &st, set, *n, expand))
        .filter(|b| filter.is_none_or(|want| b["properties"]["latestModelApplied"] == json!(want)))
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({"value": value})))
}

/// `GET .../virtualMachines/{n}[?$expand=instanceView]`, or `.../virtualMachines/{n}/instanceView`.
pub(super) fn get(ctx: &Ctx, id: &str, rg: &str, n: &str, view_only: bool) -> ArmResult {
    let st = ctx.sim.state();
    let set = st.scale_sets.0.get(&key(id));
    let found = n.parse::<u64>().ok().and_then(|num| {
        set.filter(|s| s.instances.contains_key(&num))
            .map(|s| (s, num))
    });
    let Some((set, num)) = found else {
        let name = id.rsplit('/').next().unwrap_or_default();
        return Err(resource_not_found(
            &format!("Microsoft.Compute/virtualMachineScaleSets/{name}/virtualMachines/{n}"),
            rg,
        ));
    };
    if view_only {
        let i = &set.instances[&num];
        return Ok(Reply::json(
            StatusCode::OK,
            instance_view(ctx.sim, &st, set, num, i),
        ));
    }
    let expand = ctx
        .req
        .query("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    rendered(ctx.sim, &st, set, num, expand)
        .map(|b| Reply::json(StatusCode::OK, b))
        .ok_or_else(|| resource_not_found(&format!("virtualMachines/{n}"), rg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computer_names_use_six_base_36_digits() {
        assert_eq!(computer_name("test", 0), "test000000");
        assert_eq!(computer_name("web", 37), "web000011");
    }
}
