//! A VM's instance view (`GET …/virtualMachines/{vm}/instanceView`, and
//! `properties.instanceView` with `$expand=instanceView`) and its power actions (`powerOff`,
//! `start`, `restart`, `deallocate`: POST, 202 + `Azure-AsyncOperation`/`Location`).
//!
//! Shape: reference/arm/examples/compute/VirtualMachine_Get_InstanceView.json
//! (`computerName`, `osName`, `osVersion`, `vmAgent{vmAgentVersion, statuses, extensionHandlers}`,
//! `disks[{name, statuses}]`, `hyperVGeneration`, `statuses[ProvisioningState/…, PowerState/…]`),
//! `vmHealth` per `VirtualMachineHealthStatus` (virtualMachine.json) when the Application Health
//! extension reports one ([`super::health::vm_health`]).
//! Power codes: `PowerState/starting|running|stopping|stopped|deallocating|deallocated`
//! (learn.microsoft.com "States and billing status of Azure Virtual Machines").

use http::StatusCode;
use serde_json::{Value, json};

use super::errors::resource_not_found;
use super::{ArmResult, Ctx, lro};
use crate::http::Reply;
use crate::sim::Sim;
use crate::state::{Power, Resource, State, key};

/// An `InstanceViewStatus` (`code`, `level`: `Error` for a `…/failed` code, else `Info`,
/// `displayStatus`, and `time` when given), as VMs and scale-set instances report them.
pub(crate) fn status(code: &str, display: &str, time: Option<String>) -> Value {
    let level = if code.ends_with("/failed") {
        "Error"
    } else {
        "Info"
    };
    let mut s = json!({"code": code, "level": level, "displayStatus": display});
    if let Some(t) = time {
        s["time"] = json!(t);
    }
    s
}

/// The guest agent's `vmAgent` report of a running VM or instance (the example's agent version).
pub(crate) fn vm_agent(time: String) -> Value {
    json!({
        "vmAgentVersion": "2.7.41491.949",
        "statuses": [{
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Ready",
            "message": "GuestAgent is running and accepting new configurations.",
            "time": time
        }]
    })
}

/// The `displayStatus` of `PowerState/{code}`.
pub(crate) fn display_power(code: &str) -> &'static str {
    match code {
        "starting" => "VM starting",
        "running" => "VM running",
        "stopping" => "VM stopping",
        "stopped" => "VM stopped",
        "deallocating" => "VM deallocating",
        "deallocated" => "VM deallocated",
        "restarting" => "VM restarting",
        _ => "VM state unknown",
    }
}

/// The instance view at `now`.
pub(crate) fn view(sim: &Sim, st: &State, vm: &Resource, now: f64) -> Value {
    let k = key(&vm.id);
    let deleting = st.deletions.contains_key(&k);
    let provisioning = if deleting {
        "Deleting"
    } else {
        vm.provisioning_state(now)
    };
    let power = match provisioning {
        "Creating" => "starting",
        "Failed" => "stopped",
        _ => st.vm_power.get(&k).map_or("running", |p| p.at(now)),
    };
    let body = &vm.body;
    let p = &body["properties"];
    let time = super::health::wall_time(st, now);
    let state_code = provisioning.to_ascii_lowercase();
    let provisioning_display = match provisioning {
        "Succeeded" => "Provisioning succeeded".to_owned(),
        "Failed" => "Provisioning failed".to_owned(),
        other => other.to_owned(),
    };
    let provisioning_status = status(
        &format!("ProvisioningState/{state_code}"),
        &provisioning_display,
        (provisioning == "Succeeded" || provisioning == "Failed").then(|| time.clone()),
    );
    let statuses = vec![
        provisioning_status,
        status(&format!("PowerState/{power}"), display_power(power), None),
    ];
    let disk_name = p["storageProfile"]["osDisk"]["name"].clone();
    let os_windows = p["storageProfile"]["osDisk"]["osType"] == "Windows";
    let mut v = json!({
        "computerName": p["osProfile"]["computerName"].as_str().unwrap_or(body["name"].as_str().unwrap_or_default()),
        "osName": if os_windows { "Windows" } else { "Linux" },
        "vmAgent": vm_agent(time.clone()),
        "disks": [{
            "name": disk_name,
            "statuses": [status(
                &format!("ProvisioningState/{state_code}"),
                if provisioning == "Succeeded" { "Provisioning succeeded" } else { provisioning },
                Some(time),
            )]
        }],
        "hyperVGeneration": "V2",
        "statuses": statuses
    });
    v["vmAgent"]["extensionHandlers"] = json!([]);
    if power != "running" {
        // A VM that is not running has no guest agent report.
        v["vmAgent"]["statuses"] = json!([]);
    }
    if let Some(h) = super::health::vm_health(sim, st, &vm.id) {
        v["vmHealth"] = h;
    }
    v
}

/// `GET …/virtualMachines/{vm}/instanceView`.
pub(crate) fn get(ctx: &Ctx, _sub: &str, rg: &str, id: &str) -> ArmResult {
    let st = ctx.sim.state();
    let now = st.clock.now();
    let Some(vm) = st.resources.get(&key(id)) else {
        let name = id.rsplit('/').next().unwrap_or_default();
        return Err(resource_not_found(
            &format!("Microsoft.Compute/virtualMachines/{name}"),
            rg,
        ));
    };
    Ok(Reply::json(StatusCode::OK, view(ctx.sim, &st, vm, now)))
}

/// `POST …/virtualMachines/{vm}/{powerOff|start|restart|deallocate}`.
pub(crate) fn power_action(ctx: &Ctx, rg: &str, id: &str, action: &str) -> ArmResult {
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    let Some(vm) = st.resources.get(&key(id)).cloned() else {
        let name = id.rsplit('/').next().unwrap_or_default();
        return Err(resource_not_found(
            &format!("Microsoft.Compute/virtualMachines/{name}"),
            rg,
        ));
    };
    let state = vm.provisioning_state(now);
    if st.deletions.contains_key(&key(id)) || state == "Creating" || state == "Updating" {
        return Err(Reply::arm_error(
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            format!(
                "Operation '{action}' is not allowed on VM '{}' since the VM is {}.",
                vm.body["name"].as_str().unwrap_or_default(),
                if st.deletions.contains_key(&key(id)) {
                    "marked for deletion"
                } else {
                    "being provisioned"
                }
            ),
        ));
    }
    let secs = ctx.sim.scenario.lro.network_secs;
    let end = now + secs;
    let (transition, target) = match action {
        "poweroff" => ("stopping", "stopped"),
        "deallocate" => ("deallocating", "deallocated"),
        "restart" => ("restarting", "running"),
        _ => ("starting", "running"),
    };
    st.vm_power.insert(
        key(id),
        Power {
            state: target,
            transition: Some((transition, end)),
        },
    );
    let location = vm.body["location"].as_str().unwrap_or_default().to_owned();
    let (reply, _) = lro::accepted(
        ctx,
        &mut st,
        "Microsoft.Compute",
        id,
        &location,
        now,
        end,
        None,
        200,
    );
    Ok(reply)
}
