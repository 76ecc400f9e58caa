//! DELETE of VMs, disks and network resources as long-running operations, with Azure's in-use
//! refusals, the VM's `deleteOption`s and `forceDeletion`.
//!
//! A DELETE of an existing resource answers 202 with `Azure-AsyncOperation`, `Location` and
//! `Retry-After` (NetworkSecurityGroupDelete.json, VirtualMachine_Delete_Force.json,
//! NetworkInterfaceDelete.json); GET shows `provisioningState: Deleting` until the operation
//! ends, then 404; the operation's `Location` answers 204. A DELETE of a missing resource
//! answers 204 (the examples' `204`). In-use refusals (400, texts as Azure answers them, see the
//! crate README for which were confirmed from which source):
//! - `NicInUse`: a NIC a VM still references;
//! - `PublicIPAddressInUse`: a public IP still on a NIC's IP configuration;
//! - `InUseNetworkSecurityGroupCannotBeDeleted`: an NSG on a NIC or a subnet;
//! - `InUseSubnetCannotBeDeleted`: a VNet whose subnet holds a NIC's IP configuration;
//! - 409 `OperationNotAllowed`: a disk attached to a VM (`managedBy`).
//!
//! A VM's deletion takes its OS disk and the NICs whose `deleteOption` is `Delete` with it
//! (learn.microsoft.com "Delete a VM and its attached resources": the option defaults to
//! `Detach`); `forceDeletion=true` skips the guest shutdown (shorter in simulated time). A scale
//! set's deletion (`forceDeletion` either way) takes `scale_sets.delete_secs`, its instances and
//! their NICs with it, and stops its rolling upgrade.

use http::StatusCode;
use serde_json::Value;

use super::resources::{Kind, delete_with_children, reap};
use super::{ArmResult, Ctx, lro};
use crate::http::Reply;
use crate::state::{Resource, State, key};

fn in_use(code: &str, message: String) -> Reply {
    Reply::arm_error(StatusCode::BAD_REQUEST, code, message)
}

/// Resources of `type_name` whose rendered body satisfies `uses`.
fn users(st: &State, type_name: &str, uses: impl Fn(&Value) -> bool) -> Vec<String> {
    st.resources
        .values()
        .filter(|r| r.resource_type.eq_ignore_ascii_case(type_name))
        .filter(|r| {
            !st.deletions.contains_key(&key(&r.id)) || type_name.ends_with("virtualMachines")
        })
        .filter(|r| uses(&r.body))
        .map(|r| r.id.clone())
        .collect()
}

fn same(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| key(a) == key(b))
}

/// The NIC ids a VM body references.
fn vm_nics(vm: &Value) -> Vec<(String, String)> {
    vm["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            let id = n["id"].as_str()?.to_owned();
            let option = n["properties"]["deleteOption"]
                .as_str()
                .unwrap_or("Detach")
                .to_owned();
            Some((id, option))
        })
        .collect()
}

/// Why `id` (of `kind`) cannot be deleted now, if it cannot.
fn refusal(st: &State, kind: Kind, id: &str) -> Option<Reply> {
    match kind {
        Kind::Nic => {
            let vms = users(st, Kind::VirtualMachine.type_name(), |vm| {
                vm_nics(vm).iter().any(|(n, _)| key(n) == key(id))
            });
            vms.first().map(|vm| {
                in_use(
                    "NicInUse",
                    format!(
                        "Network Interface {id} is used by existing resource {vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic."
                    ),
                )
            })
        }
        Kind::PublicIp => {
            let r = st.resources.get(&key(id))?;
            let config = r.body["properties"]["ipConfiguration"]["id"].as_str()?;
            let nic = config
                .split("/ipConfigurations/")
                .next()
                .unwrap_or_default();
            st.resources.contains_key(&key(nic)).then(|| {
                in_use(
                    "PublicIPAddressInUse",
                    format!(
                        "Public IP address {id} can not be deleted since it is still allocated to resource {config}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip."
                    ),
                )
            })
        }
        Kind::Nsg => {
            let mut holders = users(st, Kind::Nic.type_name(), |nic| {
                same(nic["properties"]["networkSecurityGroup"]["id"].as_str(), id)
            });
            for vnet in st
                .resources
                .values()
                .filter(|r| r.resource_type == Kind::VirtualNetwork.type_name())
            {
                for s in vnet.body["properties"]["subnets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if same(s["properties"]["networkSecurityGroup"]["id"].as_str(), id) {
                        holders.push(s["id"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
            (!holders.is_empty()).then(|| {
                in_use(
                    "InUseNetworkSecurityGroupCannotBeDeleted",
                    format!(
                        "Network security group {id} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
                        holders.join(", ")
                    ),
                )
            })
        }
        Kind::VirtualNetwork => {
            let prefix = format!("{}/subnets/", key(id));
            // A scale-set instance's NIC (stored under the instance) holds its subnet too.
            st.resources
                .values()
                .filter(|r| {
                    r.resource_type == Kind::Nic.type_name()
                        || r.resource_type == super::vmss::INSTANCE_NIC_TYPE
                })
                .flat_map(|nic| {
                    nic.body["properties"]["ipConfigurations"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .find_map(|c| {
                    let subnet = c["properties"]["subnet"]["id"].as_str()?;
                    key(subnet).starts_with(&prefix).then(|| {
                        let name = subnet.rsplit('/').next().unwrap_or_default();
                        in_use(
                            "InUseSubnetCannotBeDeleted",
                            format!(
                                "Subnet {name} is in use by {} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
                                c["id"].as_str().unwrap_or_default()
                            ),
                        )
                    })
                })
        }
        Kind::Disk => {
            let r = st.resources.get(&key(id))?;
            let vm = r.body["managedBy"].as_str()?;
            st.resources.contains_key(&key(vm)).then(|| {
                Reply::arm_error(
                    StatusCode::CONFLICT,
                    "OperationNotAllowed",
                    format!(
                        "Disk {} is attached to VM {vm}.",
                        r.body["name"].as_str().unwrap_or_default()
                    ),
                )
            })
        }
        _ => None,
    }
}

/// How long the deletion of `kind` takes (simulated seconds).
fn duration(ctx: &Ctx, kind: Kind, force: bool) -> f64 {
    let lro = &ctx.sim.scenario.lro;
    match kind {
        Kind::VirtualMachine if force => lro.network_secs,
        Kind::VirtualMachine => lro.vm_delete_secs,
        Kind::Gallery | Kind::GalleryImage | Kind::GalleryImageVersion => lro.gallery_secs,
        Kind::ScaleSet => ctx.sim.scenario.scale_sets.delete_secs,
        _ => lro.network_secs,
    }
}

/// `DELETE` of a resource of `kind` at `id`.
pub(crate) fn delete(ctx: &Ctx, kind: Kind, id: &str) -> ArmResult {
    if kind == Kind::Subnet {
        return Err(Reply::arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "HttpMethodNotSupported",
            "azure-sim deletes subnets only with their virtual network.",
        ));
    }
    let force = match ctx.req.query("forceDeletion") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(Reply::arm_error_target(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!("The value '{v}' of parameter 'forceDeletion' is invalid."),
                Some("forceDeletion"),
            ));
        }
    };
    if force && kind != Kind::VirtualMachine && kind != Kind::ScaleSet {
        return Err(Reply::arm_error_target(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!(
                "Parameter 'forceDeletion' is not supported for resource type '{}'.",
                kind.type_name()
            ),
            Some("forceDeletion"),
        ));
    }
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    reap(&mut st, now);
    let Some(r) = st.resources.get(&key(id)).cloned() else {
        return Ok(Reply::json(StatusCode::NO_CONTENT, Value::Null));
    };
    if let Some(refused) = refusal(&st, kind, id) {
        return Err(refused);
    }
    let end = st
        .deletions
        .get(&key(id))
        .copied()
        .unwrap_or(now + duration(ctx, kind, force));
    st.deletions.insert(key(id), end);
    if kind == Kind::VirtualMachine {
        for dependent in with_vm(&r) {
            let at = st.deletions.get(&key(&dependent)).copied().unwrap_or(end);
            st.deletions.insert(key(&dependent), at.min(end).max(end));
        }
        if let Some(p) = st.vm_power.get_mut(&key(id)) {
            p.transition = Some(("stopping", end));
        }
    }
    super::vmss::deleting(&mut st, &key(id), now);
    if end <= now {
        reap(&mut st, now);
        return Ok(Reply::json(StatusCode::OK, Value::Null));
    }
    let location = r.body["location"].as_str().unwrap_or_default().to_owned();
    let (reply, _) = lro::accepted(
        ctx,
        &mut st,
        kind.namespace(),
        id,
        &location,
        now,
        end,
        None,
        204,
    );
    Ok(reply)
}

/// What goes with a VM: its OS disk and NICs whose `deleteOption` is `Delete`.
fn with_vm(vm: &Resource) -> Vec<String> {
    let mut out: Vec<String> = vm_nics(&vm.body)
        .into_iter()
        .filter(|(_, o)| o.eq_ignore_ascii_case("Delete"))
        .map(|(id, _)| id)
        .collect();
    let os = &vm.body["properties"]["storageProfile"]["osDisk"];
    if os["deleteOption"]
        .as_str()
        .is_some_and(|o| o.eq_ignore_ascii_case("Delete"))
        && let Some(disk) = os["managedDisk"]["id"].as_str()
    {
        out.push(disk.to_owned());
    }
    out
}

/// After `removed` is gone: what referred to it lets go (a public IP's NIC link, a disk's VM).
pub(crate) fn unlink(st: &mut State, removed: &Resource) {
    match removed.resource_type.as_str() {
        "Microsoft.Network/networkInterfaces" => {
            let nic = key(&removed.id);
            for r in st.resources.values_mut() {
                if r.resource_type == "Microsoft.Network/publicIPAddresses"
                    && r.body["properties"]["ipConfiguration"]["id"]
                        .as_str()
                        .is_some_and(|c| key(c).starts_with(&format!("{nic}/")))
                    && let Some(p) = r.body["properties"].as_object_mut()
                {
                    p.remove("ipConfiguration");
                }
            }
        }
        "Microsoft.Compute/virtualMachines" => super::disks::detach(st, &removed.id),
        _ => {}
    }
}

/// `DELETE /subscriptions/{sub}/resourceGroups/{rg}`: everything in the group goes, in
/// dependency order (no in-use refusals), then the group; 202 with a subscription-level
/// `Location` (ForceDeleteVMsInResourceGroup.json). `forceDeletionTypes` may name
/// `Microsoft.Compute/virtualMachines` and `Microsoft.Compute/virtualMachineScaleSets`.
pub(crate) fn delete_group(ctx: &Ctx, st: &mut State, rg_id: &str) -> ArmResult {
    let mut force_vms = false;
    if let Some(types) = ctx.req.query("forceDeletionTypes") {
        for t in types.split(',').map(str::trim) {
            if t.eq_ignore_ascii_case("Microsoft.Compute/virtualMachines") {
                force_vms = true;
            } else if !t.eq_ignore_ascii_case("Microsoft.Compute/virtualMachineScaleSets") {
                return Err(Reply::arm_error_target(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    format!(
                        "The resource type '{t}' is not supported in 'forceDeletionTypes'. Supported types: Microsoft.Compute/virtualMachines, Microsoft.Compute/virtualMachineScaleSets."
                    ),
                    Some("forceDeletionTypes"),
                ));
            }
        }
    }
    let now = st.clock.now();
    let k = key(rg_id);
    let prefix = format!("{k}/");
    let lro = &ctx.sim.scenario.lro;
    let has_vm = st.resources.iter().any(|(rk, r)| {
        rk.starts_with(&prefix) && r.resource_type == Kind::VirtualMachine.type_name()
    });
    let has_scale_set = st
        .resources
        .iter()
        .any(|(rk, r)| rk.starts_with(&prefix) && r.resource_type == Kind::ScaleSet.type_name());
    let mut secs = if has_vm && !force_vms {
        lro.vm_delete_secs
    } else {
        lro.network_secs
    };
    if has_scale_set {
        // A scale set's deletion takes as long with or without force (`scale_sets.delete_secs`).
        secs = secs.max(ctx.sim.scenario.scale_sets.delete_secs);
    }
    let end = st.deletions.get(&k).copied().unwrap_or(now + secs);
    let contents: Vec<String> = st
        .resources
        .keys()
        .filter(|rk| rk.starts_with(&prefix))
        .cloned()
        .collect();
    for c in contents {
        super::vmss::deleting(st, &c, now);
        st.deletions.insert(c, end);
    }
    st.deletions.insert(k.clone(), end);
    if end <= now {
        reap(st, now);
        delete_with_children(st, rg_id);
        return Ok(Reply::json(StatusCode::OK, Value::Null));
    }
    let location = st
        .resources
        .get(&k)
        .and_then(|r| r.body["location"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let (reply, _) = lro::accepted(
        ctx,
        st,
        "Microsoft.Resources",
        rg_id,
        &location,
        now,
        end,
        None,
        200,
    );
    Ok(reply)
}
