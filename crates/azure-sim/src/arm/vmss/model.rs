//! The scale-set model: PUT (create and full update), PATCH (`VirtualMachineScaleSetUpdate`),
//! GET and DELETE, and what a model or capacity change does to the instances.
//!
//! Rules: the image rules of a VM (`vm::check_image`: the cross-tenant linked check on every write
//! whose body carries `imageReference`, replication to the region, generalized / specialized,
//! Trusted Launch, plan, OS profile with `computerNamePrefix` checked as a computer name); a PATCH
//! whose body leaves `imageReference` out is not checked against the image at all (ARM checks the
//! linked scopes the request body names: Azure/azure-cli#14924, #15575). Subnets (and an NSG) of
//! `networkInterfaceConfigurations` must exist in the region and be joinable
//! (`.../subnets/join/action`, else 403 `LinkedAuthorizationFailed`, the text of Azure's scale-set
//! linked checks quoted in MicrosoftDocs' AKS and Service Fabric troubleshooting articles).

use http::StatusCode;
use serde_json::{Value, json};

use super::super::errors::location_required;
use super::super::resources::{Kind, parse_body, referenced, render, same_location};
use super::super::vm::{self, ImageInputs};
use super::super::{ArmResult, Ctx, auth, deletion, health, lro, schema};
use super::{Instance, ScaleSet, instances, rolling};
use crate::http::Reply;
use crate::state::{Resource, State, key};

const SUBNET_JOIN: &str = "Microsoft.Network/virtualNetworks/subnets/join/action";
const NSG_JOIN: &str = "Microsoft.Network/networkSecurityGroups/join/action";
const TYPE: &str = "Microsoft.Compute/virtualMachineScaleSets";

fn invalid_parameter(message: String, target: &str) -> Reply {
    Reply::arm_error_target(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        message,
        Some(target),
    )
}

/// `PUT`: create, or update with a full body.
pub(super) fn put(ctx: &Ctx, id: &str, name: &str) -> ArmResult {
    let body = parse_body(ctx)?;
    schema::validate_scale_set(&body)?;
    let Some(location) = body["location"].as_str().map(str::to_owned) else {
        return Err(location_required());
    };
    if body["properties"]["orchestrationMode"]
        .as_str()
        .is_some_and(|m| m.eq_ignore_ascii_case("Flexible"))
    {
        return Err(invalid_parameter(
            "azure-sim serves scale sets in Uniform orchestration only; orchestrationMode 'Flexible' is not modelled.".to_owned(),
            "orchestrationMode",
        ));
    }
    let mut st = ctx.sim.state();
    let existing = st.resources.get(&key(id)).cloned();
    same_location(existing.as_ref(), id, name, &location)?;
    let profile = &body["properties"]["virtualMachineProfile"];
    if !profile.is_object() {
        return Err(invalid_parameter(
            "Required parameter 'virtualMachineProfile' is missing (null).".to_owned(),
            "virtualMachineProfile",
        ));
    }
    let facts = check_image(ctx, &st, id, &location, profile, &body["plan"])?;
    check_network(ctx, &st, id, &location, profile)?;
    let stored = decorate(body, id, name, existing.as_ref(), &facts.os_type);
    Ok(apply(
        ctx,
        &mut st,
        id,
        &location,
        stored,
        existing,
        facts.version_id,
        Some(facts.os_type),
    ))
}

/// `PATCH`: merges the `VirtualMachineScaleSetUpdate` body into the model. Only a body that
/// carries `imageReference` is checked against the image.
pub(super) fn patch(ctx: &Ctx, id: &str, name: &str) -> ArmResult {
    let body = parse_body(ctx)?;
    schema::validate_scale_set_update(&body)?;
    let mut st = ctx.sim.state();
    let Some(existing) = st.resources.get(&key(id)).cloned() else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{TYPE}/{name}' was not found."),
        ));
    };
    let location = existing.body["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut merged = existing.body.clone();
    for field in ["tags", "sku", "plan", "identity", "zones", "properties"] {
        if let Some(v) = body.get(field) {
            merge(&mut merged[field], v);
        }
    }
    let image = &body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"];
    let (version_id, os_type) = if image.is_object() {
        // A new image replaces the old reference (its fields are not merged).
        merged["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] =
            image.clone();
        let profile = &merged["properties"]["virtualMachineProfile"];
        let facts = check_image(ctx, &st, id, &location, profile, &merged["plan"])?;
        (facts.version_id, Some(facts.os_type))
    } else {
        (None, None)
    };
    if body["properties"]["virtualMachineProfile"]
        .get("networkProfile")
        .is_some()
    {
        check_network(
            ctx,
            &st,
            id,
            &location,
            &merged["properties"]["virtualMachineProfile"],
        )?;
    }
    let os = os_type.clone().unwrap_or_else(|| {
        st.scale_sets
            .0
            .get(&key(id))
            .map(|s| s.os_type.clone())
            .unwrap_or_else(|| "Linux".to_owned())
    });
    let stored = decorate(merged, id, name, Some(&existing), &os);
    Ok(apply(
        ctx,
        &mut st,
        id,
        &location,
        stored,
        Some(existing),
        version_id,
        os_type,
    ))
}

/// RFC 7396 JSON merge: objects merge member by member, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (k, v) in p {
                if v.is_null() {
                    if let Some(t) = target.as_object_mut() {
                        t.remove(k);
                    }
                } else {
                    merge(&mut target[k], v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The image rules of a VM applied to the scale set's profile.
fn check_image(
    ctx: &Ctx,
    st: &State,
    id: &str,
    location: &str,
    profile: &Value,
    plan: &Value,
) -> ArmResult<vm::ImageFacts> {
    // The prefix is checked as a computer name (Azure appends the instance's suffix to it).
    let os_profile = profile.get("osProfile").filter(|p| p.is_object()).map(|p| {
        let mut p = p.clone();
        p["computerName"] = p["computerNamePrefix"].clone();
        p
    });
    vm::check_image(
        ctx,
        st,
        id,
        location,
        &ImageInputs {
            image_ref: &profile["storageProfile"]["imageReference"],
            os_profile: os_profile.as_ref(),
            security_type: profile["securityProfile"]["securityType"].as_str(),
            plan,
        },
    )
}

/// Subnets and NSGs of the NIC configurations exist in the region and may be joined.
fn check_network(
    ctx: &Ctx,
    st: &State,
    id: &str,
    location: &str,
    profile: &Value,
) -> ArmResult<()> {
    let mut links = Vec::new();
    for cfg in profile["networkProfile"]["networkInterfaceConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for ipc in cfg["properties"]["ipConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(subnet) = ipc["properties"]["subnet"]["id"].as_str() {
                links.push((SUBNET_JOIN, subnet));
            }
        }
        if let Some(nsg) = cfg["properties"]["networkSecurityGroup"]["id"].as_str() {
            links.push((NSG_JOIN, nsg));
        }
    }
    for (action, scope) in links {
        referenced(st, scope, id, location)?;
        if !auth::authorized(ctx.sim, &ctx.caller, action, scope) {
            return Err(Reply::arm_error(
                StatusCode::FORBIDDEN,
                "LinkedAuthorizationFailed",
                format!(
                    "The client has permission to perform action '{TYPE}/write' on scope '{id}'; however, it does not have permission to perform action '{action}' on the linked scope(s) '{scope}' or the linked scope(s) are invalid."
                ),
            ));
        }
    }
    Ok(())
}

fn set_default(obj: &mut Value, field: &str, value: Value) {
    if obj.is_object() && obj.get(field).is_none_or(Value::is_null) {
        obj[field] = value;
    }
}

/// Server-populated fields as in VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage.json's
/// responses; secrets (`adminPassword`, `customData`, extensions' `protectedSettings`) are never
/// stored or echoed.
fn decorate(
    mut body: Value,
    id: &str,
    name: &str,
    existing: Option<&Resource>,
    os_type: &str,
) -> Value {
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    body["type"] = json!(TYPE);
    let unique = existing
        .map(|e| e.body["properties"]["uniqueId"].clone())
        .filter(|u| u.is_string())
        .unwrap_or_else(|| Value::String(uuid::Uuid::new_v4().to_string()));
    let props = &mut body["properties"];
    props["uniqueId"] = unique;
    set_default(props, "singlePlacementGroup", json!(true));
    set_default(props, "upgradePolicy", json!({"mode": "Manual"}));
    let profile = &mut props["virtualMachineProfile"];
    if let Some(os) = profile.get_mut("osProfile").filter(|p| p.is_object()) {
        if let Some(m) = os.as_object_mut() {
            m.remove("adminPassword");
            m.remove("customData");
        }
        set_default(os, "secrets", json!([]));
        if os_type == "Windows" {
            set_default(
                os,
                "windowsConfiguration",
                json!({"provisionVMAgent": true, "enableAutomaticUpdates": true}),
            );
        } else {
            set_default(
                os,
                "linuxConfiguration",
                json!({"disablePasswordAuthentication": false}),
            );
        }
    }
    for cfg in profile
        .pointer_mut("/networkProfile/networkInterfaceConfigurations")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let p = &mut cfg["properties"];
        set_default(p, "dnsSettings", json!({"dnsServers": []}));
        set_default(p, "enableAcceleratedNetworking", json!(false));
        for ipc in p
            .get_mut("ipConfigurations")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            set_default(
                &mut ipc["properties"],
                "privateIPAddressVersion",
                json!("IPv4"),
            );
        }
    }
    for ext in profile
        .pointer_mut("/extensionProfile/extensions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = ext["properties"].as_object_mut() {
            p.remove("protectedSettings");
            p.remove("protectedSettingsFromKeyVault");
        }
    }
    body
}

/// The upgrade policy mode (`Manual` when not given).
pub(super) fn mode(body: &Value) -> String {
    body["properties"]["upgradePolicy"]["mode"]
        .as_str()
        .unwrap_or("Manual")
        .to_ascii_lowercase()
}

/// The failure an instance created or upgraded with `profile` ends with (an Application Health
/// extension whose settings break the documented rules).
pub(super) fn extension_failure(profile: &Value) -> Option<(String, String)> {
    let ext = health::in_profile(profile)?;
    health::extension_failure(ext["name"].as_str().unwrap_or_default(), &ext["properties"])
}

/// Stores a written model and applies it: new instances for a capacity increase, the highest
/// instance ids removed for a decrease, and a changed model rolled out as the upgrade policy says
/// (Manual: instances stay on their model until `manualupgrade`; Automatic: all at once; Rolling:
/// a rolling upgrade).
#[allow(clippy::too_many_arguments)]
fn apply(
    ctx: &Ctx,
    st: &mut State,
    id: &str,
    location: &str,
    body: Value,
    existing: Option<Resource>,
    version_id: Option<String>,
    os_type: Option<String>,
) -> Reply {
    let now = st.clock.now();
    let settings = &ctx.sim.scenario.scale_sets;
    let created = existing.is_none();
    let k = key(id);
    let profile = body["properties"]["virtualMachineProfile"].clone();
    let version_id = version_id.or_else(|| instances::model_version(st, &profile, location));
    let fail = extension_failure(&profile);
    let capacity = body["sku"]["capacity"].as_u64().unwrap_or(0);
    let mut set = st
        .scale_sets
        .0
        .get(&k)
        .cloned()
        .unwrap_or_else(|| ScaleSet {
            id: id.to_owned(),
            name: body["name"].as_str().unwrap_or_default().to_owned(),
            location: location.to_owned(),
            os_type: "Linux".to_owned(),
            next_instance: 0,
            instances: Default::default(),
            rolling: None,
        });
    if let Some(os) = os_type {
        set.os_type = os;
    }
    let mut end = now + settings.update_secs;
    let mut touched = false;
    // Capacity: scale in removes the highest ids (the default scale-in policy's tie-break).
    while set.instances.len() as u64 > capacity {
        let Some(last) = set.instances.keys().next_back().copied() else {
            break;
        };
        set.instances.remove(&last);
    }
    while (set.instances.len() as u64) < capacity {
        let n = set.next_instance;
        set.next_instance += 1;
        let until = now + settings.instance_secs;
        set.instances.insert(
            n,
            Instance {
                profile: profile.clone(),
                version_id: version_id.clone(),
                started: until,
                busy: Some(super::Busy {
                    creating: true,
                    until,
                    profile: profile.clone(),
                    version_id: version_id.clone(),
                    fail: fail.clone(),
                }),
                failed: None,
                vm_id: uuid::Uuid::new_v4().to_string(),
                disk_suffix: uuid::Uuid::new_v4().simple().to_string(),
                time_created: health::wall_time(st, now),
            },
        );
        end = end.max(until);
        touched = true;
    }
    let out_of_date: Vec<u64> = set
        .instances
        .iter()
        .filter(|(_, i)| !instances::runs_model(i, &profile))
        .map(|(n, _)| *n)
        .collect();
    if !out_of_date.is_empty() {
        match mode(&body).as_str() {
            "automatic" => {
                let until = now + settings.instance_secs;
                for n in &out_of_date {
                    if let Some(i) = set.instances.get_mut(n) {
                        instances::start_upgrade(
                            i,
                            until,
                            &profile,
                            version_id.clone(),
                            fail.clone(),
                        );
                    }
                }
                end = end.max(until);
                touched = true;
            }
            "rolling" => rolling::model_changed(&mut set, &body, out_of_date, now),
            _ => {}
        }
    }
    st.scale_sets.0.insert(k.clone(), set);
    let resource = Resource {
        id: existing
            .as_ref()
            .map_or_else(|| id.to_owned(), |e| e.id.clone()),
        resource_type: TYPE.to_owned(),
        body,
        put_count: existing.as_ref().map_or(0, |e| e.put_count) + 1,
        creating: created,
        ready_at: end,
        fail: touched && fail.is_some(),
        replication: Vec::new(),
    };
    let mut shown = render(&resource, now, false);
    if created {
        shown["properties"]["provisioningState"] = json!("Creating");
    }
    st.resources.insert(k, resource);
    let reply = Reply::json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        shown,
    );
    lro::start(
        ctx,
        st,
        Kind::ScaleSet,
        id,
        location,
        now,
        end,
        fail.filter(|_| touched),
        reply,
    )
}

/// `GET`: the model as stored (`Deleting` while a DELETE runs).
pub(super) fn get(ctx: &Ctx, id: &str) -> ArmResult {
    let st = ctx.sim.state();
    let now = st.clock.now();
    let k = key(id);
    let Some(r) = st.resources.get(&k) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{TYPE}' '{id}' was not found."),
        ));
    };
    let mut body = render(r, now, false);
    if st.deletions.contains_key(&k) {
        body["properties"]["provisioningState"] = json!("Deleting");
    }
    Ok(Reply::json(StatusCode::OK, body))
}

/// `DELETE [?forceDeletion=true|false]`: the one DELETE of `arm::deletion` (202, a
/// long-running operation; the scale set, its instances and their NICs are gone when it ends,
/// a running rolling upgrade stops at once); 204 when there is nothing to delete.
pub(super) fn delete(ctx: &Ctx, id: &str) -> ArmResult {
    deletion::delete(ctx, Kind::ScaleSet, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_rfc_7396() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge(
            &mut t,
            &json!({"b": {"c": 5, "d": null}, "l": [9], "n": "x"}),
        );
        assert_eq!(t, json!({"a": 1, "b": {"c": 5}, "l": [9], "n": "x"}));
    }

    #[test]
    fn decorate_strips_secrets_and_fills_defaults() {
        let body = json!({"location": "westus", "properties": {"virtualMachineProfile": {
            "osProfile": {"computerNamePrefix": "web", "adminUsername": "u", "adminPassword": "secret", "customData": "x"},
            "networkProfile": {"networkInterfaceConfigurations": [{"name": "n", "properties": {"ipConfigurations": [{"name": "i", "properties": {}}]}}]},
            "extensionProfile": {"extensions": [{"name": "h", "properties": {"protectedSettings": {"k": "v"}}}]}
        }}});
        let d = decorate(body, "/x/ss", "ss", None, "Linux");
        let p = &d["properties"]["virtualMachineProfile"];
        assert!(p["osProfile"].get("adminPassword").is_none());
        assert!(p["osProfile"].get("customData").is_none());
        assert_eq!(p["osProfile"]["secrets"], json!([]));
        assert!(
            p["extensionProfile"]["extensions"][0]["properties"]
                .get("protectedSettings")
                .is_none()
        );
        assert_eq!(
            p["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["ipConfigurations"]
                [0]["properties"]["privateIPAddressVersion"],
            "IPv4"
        );
        assert_eq!(d["properties"]["upgradePolicy"]["mode"], "Manual");
        assert!(d["properties"]["uniqueId"].is_string());
    }
}
