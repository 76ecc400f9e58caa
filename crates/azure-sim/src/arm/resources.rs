//! Generic resource handling: resource groups and tracked resources (idempotent PUT with 201 on
//! create / 200 on update, GET, DELETE), RBAC per action, and rendering with `provisioningState`.
//!
//! Response shapes follow reference/arm/examples (CreateResourceGroup.json, the network
//! *Create.json examples, the VirtualMachine_Create_* examples and the gallery examples).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::errors::{location_required, method_not_allowed, resource_not_found, rg_not_found};
use super::{ArmResult, Ctx, auth, gallery, health, lro, network, schema, vm};
use crate::http::Reply;
use crate::sim::rg_id;
use crate::state::{RegionReplication, Resource, State, key};

/// Resource types the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    VirtualNetwork,
    Subnet,
    PublicIp,
    Nsg,
    Nic,
    VirtualMachine,
    VmExtension,
    ScaleSet,
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    Disk,
}

impl Kind {
    pub(crate) fn from_path(namespace: &str, types: &[String]) -> Option<Self> {
        let t = format!("{namespace}/{}", types.join("/")).to_ascii_lowercase();
        Some(match t.as_str() {
            "microsoft.network/virtualnetworks" => Kind::VirtualNetwork,
            "microsoft.network/virtualnetworks/subnets" => Kind::Subnet,
            "microsoft.network/publicipaddresses" => Kind::PublicIp,
            "microsoft.network/networksecuritygroups" => Kind::Nsg,
            "microsoft.network/networkinterfaces" => Kind::Nic,
            "microsoft.compute/virtualmachines" => Kind::VirtualMachine,
            "microsoft.compute/virtualmachines/extensions" => Kind::VmExtension,
            // Only its collection reaches here: a scale set's own paths are `ArmPath::ScaleSet`.
            "microsoft.compute/virtualmachinescalesets" => Kind::ScaleSet,
            "microsoft.compute/galleries" => Kind::Gallery,
            "microsoft.compute/galleries/images" => Kind::GalleryImage,
            "microsoft.compute/galleries/images/versions" => Kind::GalleryImageVersion,
            "microsoft.compute/disks" => Kind::Disk,
            _ => return None,
        })
    }

    /// Canonical ARM type name.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Kind::VirtualNetwork => "Microsoft.Network/virtualNetworks",
            Kind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Kind::PublicIp => "Microsoft.Network/publicIPAddresses",
            Kind::Nsg => "Microsoft.Network/networkSecurityGroups",
            Kind::Nic => "Microsoft.Network/networkInterfaces",
            Kind::VirtualMachine => "Microsoft.Compute/virtualMachines",
            Kind::VmExtension => "Microsoft.Compute/virtualMachines/extensions",
            Kind::ScaleSet => "Microsoft.Compute/virtualMachineScaleSets",
            Kind::Gallery => "Microsoft.Compute/galleries",
            Kind::GalleryImage => "Microsoft.Compute/galleries/images",
            Kind::GalleryImageVersion => "Microsoft.Compute/galleries/images/versions",
            Kind::Disk => "Microsoft.Compute/disks",
        }
    }

    pub(crate) fn namespace(self) -> &'static str {
        self.type_name().split('/').next().unwrap_or_default()
    }
}

/// What a type-specific PUT handler decided.
pub(crate) struct Prepared {
    /// Body to store (without `provisioningState`).
    pub(crate) body: Value,
    /// Simulated seconds until the operation ends (0 = synchronous).
    pub(crate) duration: f64,
    /// Ends `Failed` with this error.
    pub(crate) fail: Option<(String, String)>,
    /// Image versions: regions to replicate.
    pub(crate) replication: Vec<RegionReplication>,
}

fn invalid_type(ctx: &Ctx, namespace: &str, types: &[String]) -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "InvalidResourceType",
        format!(
            "The resource type '{}' could not be found in the namespace '{namespace}' for api version '{}'.",
            types.join("/"),
            ctx.api_version
        ),
    )
}

/// A resource under `/providers/{namespace}/...`: an instance, a collection (one more type
/// than names) or an action on an instance (`…/virtualMachines/{vm}/powerOff`).
pub(crate) fn resource(
    ctx: &Ctx,
    sub: &str,
    rg: &str,
    namespace: &str,
    types: &[String],
    names: &[String],
) -> ArmResult {
    if namespace.eq_ignore_ascii_case("Microsoft.Resources")
        && types
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("deployments"))
    {
        return super::deployments::handle(ctx, sub, rg, types, names);
    }
    if types.len() == names.len() + 1 {
        if let Some(kind) = Kind::from_path(namespace, types) {
            let parent = (!names.is_empty()).then(|| {
                let path = ctx.req.path.trim_end_matches('/');
                path.rsplit_once('/').map_or(path, |(p, _)| p).to_owned()
            });
            return super::listing::collection(ctx, sub, rg, kind, parent.as_deref());
        }
        let parent_types = &types[..names.len()];
        if let Some(kind) = Kind::from_path(namespace, parent_types) {
            let path = ctx.req.path.trim_end_matches('/');
            let (id, action) = path.rsplit_once('/').unwrap_or((path, ""));
            return action_on(ctx, sub, rg, kind, id, action);
        }
        return Err(invalid_type(ctx, namespace, types));
    }
    let Some(kind) = Kind::from_path(namespace, types) else {
        return Err(invalid_type(ctx, namespace, types));
    };
    let id = ctx.req.path.trim_end_matches('/').to_owned();
    let verb = match ctx.req.method {
        Method::GET | Method::HEAD => "read",
        Method::DELETE => "delete",
        _ => "write",
    };
    let action = format!("{}/{verb}", kind.type_name());
    require(ctx, &action, &id)?;
    let rgid = rg_id(sub, rg);
    {
        let st = ctx.sim.state();
        if !st.resources.contains_key(&key(&rgid)) {
            return Err(rg_not_found(rg));
        }
    }
    let display = format!("{}/{}", kind.namespace(), interleave(types, names));
    match ctx.req.method {
        Method::GET => get(ctx, kind, &id, rg, &display),
        Method::HEAD => Ok(match get(ctx, kind, &id, rg, &display) {
            Ok(_) => Reply::json(StatusCode::NO_CONTENT, Value::Null),
            Err(e) => Reply::json(e.status, Value::Null),
        }),
        Method::PUT => put(ctx, kind, &id, names),
        Method::PATCH => patch(ctx, kind, &id, rg, &display),
        Method::DELETE => super::deletion::delete(ctx, kind, &id),
        _ => Err(method_not_allowed(ctx)),
    }
}

/// A POST action or a GET view below an instance.
fn action_on(ctx: &Ctx, sub: &str, rg: &str, kind: Kind, id: &str, action: &str) -> ArmResult {
    let a = action.to_ascii_lowercase();
    match (kind, &ctx.req.method, a.as_str()) {
        (Kind::VirtualMachine, &Method::GET, "instanceview") => {
            require(
                ctx,
                "Microsoft.Compute/virtualMachines/instanceView/read",
                id,
            )?;
            super::instance_view::get(ctx, sub, rg, id)
        }
        (Kind::VirtualMachine, &Method::POST, "poweroff" | "start" | "restart" | "deallocate") => {
            require(
                ctx,
                &format!("Microsoft.Compute/virtualMachines/{action}/action"),
                id,
            )?;
            super::instance_view::power_action(ctx, rg, id, &a)
        }
        _ => Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource type '{}/{action}' could not be found in the namespace '{}' for api version '{}'.",
                kind.type_name().split_once('/').map_or("", |(_, t)| t),
                kind.namespace(),
                ctx.api_version
            ),
        )),
    }
}

fn interleave(types: &[String], names: &[String]) -> String {
    types
        .iter()
        .zip(names)
        .map(|(t, n)| format!("{t}/{n}"))
        .collect::<Vec<_>>()
        .join("/")
}

fn get(ctx: &Ctx, kind: Kind, id: &str, rg: &str, display: &str) -> ArmResult {
    let st = ctx.sim.state();
    let now = st.clock.now();
    if kind == Kind::Subnet {
        let (vnet_id, name) = id.rsplit_once("/subnets/").unwrap_or((id, ""));
        let subnet = st
            .resources
            .get(&key(vnet_id))
            .map(|v| render(v, now, false))
            .and_then(|v| network::find_subnet(&v, name));
        return subnet
            .map(|s| Reply::json(StatusCode::OK, s))
            .ok_or_else(|| resource_not_found(display, rg));
    }
    let Some(r) = st.resources.get(&key(id)) else {
        return Err(resource_not_found(display, rg));
    };
    let expand = ctx.req.query("$expand").unwrap_or_default();
    let mut body = render(r, now, expand.eq_ignore_ascii_case("ReplicationStatus"));
    if st.deletions.contains_key(&key(id)) {
        body["properties"]["provisioningState"] = "Deleting".into();
    }
    if kind == Kind::VirtualMachine && expand.eq_ignore_ascii_case("instanceView") {
        body["properties"]["instanceView"] = super::instance_view::view(ctx.sim, &st, r, now);
    }
    Ok(Reply::json(StatusCode::OK, body))
}

/// The body as a GET returns it now, `Deleting` while a deletion runs.
pub(crate) fn render_current(st: &State, r: &Resource, now: f64) -> Value {
    let mut body = render(r, now, false);
    if st.deletions.contains_key(&key(&r.id)) {
        body["properties"]["provisioningState"] = "Deleting".into();
    }
    body
}

/// Finishes the deletions due by `now`: removes the resources (and what is under their ids)
/// and what refers to them (a NIC's public IP link, a disk's `managedBy`).
pub(crate) fn reap(st: &mut State, now: f64) {
    let due: Vec<String> = st
        .deletions
        .iter()
        .filter(|(_, end)| **end <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for k in due {
        st.deletions.remove(&k);
        let removed = st.resources.get(&k).cloned();
        delete_with_children(st, &k);
        st.vm_power.remove(&k);
        if let Some(r) = removed {
            super::deletion::unlink(st, &r);
        }
    }
}

/// Merge-patches `patch` into `target` (objects merged member by member, other values
/// replaced, `null` removes), as ARM's PATCH does for the update models.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(existing) =
                    t.get_mut(k).filter(|e| e.is_object() && v.is_object())
                {
                    merge_patch(existing, v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// PATCH (VirtualMachines - Update, the network `updateTags`, …): merges the body into the
/// stored resource; only `tags` for network resources (their PATCH model is `TagsObject`);
/// a VM's `imageReference` may not change (409 `PropertyChangeNotAllowed`).
fn patch(ctx: &Ctx, kind: Kind, id: &str, rg: &str, display: &str) -> ArmResult {
    let body = parse_body(ctx)?;
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    let Some(existing) = st.resources.get(&key(id)).cloned() else {
        return Err(resource_not_found(display, rg));
    };
    let network = kind.namespace() == "Microsoft.Network";
    if network
        && body
            .as_object()
            .is_some_and(|o| o.keys().any(|k| k != "tags"))
    {
        return Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'Only tags can be updated with PATCH (TagsObject); use PUT to change other properties.'.",
        ));
    }
    if kind == Kind::VirtualMachine
        && let Some(new_ref) = body["properties"]["storageProfile"].get("imageReference")
    {
        let old = &existing.body["properties"]["storageProfile"]["imageReference"];
        let mut merged = old.clone();
        merge_patch(&mut merged, new_ref);
        if super::vm::normalized_ref(old) != super::vm::normalized_ref(&merged) {
            return Err(Reply::arm_error_target(
                StatusCode::CONFLICT,
                "PropertyChangeNotAllowed",
                "Changing property 'imageReference' is not allowed.",
                Some("imageReference"),
            ));
        }
    }
    let mut updated = existing.clone();
    merge_patch(&mut updated.body, &body);
    if let Some(m) = updated.body["properties"]["osProfile"].as_object_mut() {
        m.remove("adminPassword");
    }
    if kind == Kind::VirtualMachine {
        schema::validate_vm(&updated.body)?;
    }
    updated.put_count += 1;
    updated.creating = false;
    let duration = if network {
        0.0
    } else {
        ctx.sim.scenario.lro.network_secs
    };
    updated.ready_at = now + duration;
    updated.fail = false;
    let location = updated.body["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rendered = render(&updated, now, false);
    st.resources.insert(key(id), updated);
    let mut reply = Reply::json(StatusCode::OK, rendered);
    if duration > 0.0 {
        reply = lro::start(
            ctx,
            &mut st,
            kind,
            id,
            &location,
            now,
            now + duration,
            None,
            reply,
        );
    }
    Ok(reply)
}

/// The body as a GET returns it at simulated time `now`.
pub(crate) fn render(r: &Resource, now: f64, expand_replication: bool) -> Value {
    let mut b = r.body.clone();
    let state = r.provisioning_state(now);
    if !b["properties"].is_object() {
        b["properties"] = json!({});
    }
    b["properties"]["provisioningState"] = Value::String(state.to_owned());
    network::stamp_children(&mut b, state);
    if expand_replication && !r.replication.is_empty() {
        b["properties"]["replicationStatus"] = gallery::replication_status(&r.replication, now);
    }
    b
}

fn put(ctx: &Ctx, kind: Kind, id: &str, names: &[String]) -> ArmResult {
    let body = parse_body(ctx)?;
    match kind {
        Kind::VirtualMachine => schema::validate_vm(&body)?,
        Kind::VmExtension => schema::validate_vm_extension(&body)?,
        Kind::GalleryImageVersion => schema::validate_gallery_image_version(&body)?,
        Kind::GalleryImage => schema::validate_gallery_image(&body)?,
        _ => {}
    }
    let name = names.last().cloned().unwrap_or_default();
    let mut st = ctx.sim.state();
    // An extension's location is optional (ResourceWithOptionalLocation): its VM's.
    let parent_location = || {
        let parent = id.rsplitn(3, '/').nth(2).unwrap_or_default();
        st.resources
            .get(&key(parent))
            .and_then(|p| p.body["location"].as_str().map(str::to_owned))
    };
    let Some(location) = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| (kind == Kind::VmExtension).then(|| parent_location().unwrap_or_default()))
    else {
        return Err(location_required());
    };
    let mut body = body;
    if body.get("location").is_none() {
        body["location"] = Value::String(location.clone());
    }
    let now = st.clock.now();
    // Nested resources need their parent (ARM's ParentResourceNotFound).
    if names.len() > 1 {
        let parent = id.rsplitn(3, '/').nth(2).unwrap_or_default().to_owned();
        if !st.resources.contains_key(&key(&parent)) {
            return Err(Reply::arm_error(
                StatusCode::NOT_FOUND,
                "ParentResourceNotFound",
                format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                    names[..names.len() - 1].join("/")
                ),
            ));
        }
    }
    let existing = st.resources.get(&key(id)).cloned();
    same_location(existing.as_ref(), id, &name, &location)?;
    let lro_settings = &ctx.sim.scenario.lro;
    let prepared = match kind {
        Kind::VirtualMachine => vm::prepare(ctx, &st, id, &name, existing.as_ref(), body)?,
        Kind::Nic => {
            network::authorize_nic_links(ctx, &body)?;
            Prepared {
                body: network::prepare(&st, kind, id, &name, body)?,
                duration: lro_settings.network_secs,
                fail: None,
                replication: Vec::new(),
            }
        }
        Kind::VirtualNetwork | Kind::PublicIp | Kind::Nsg => Prepared {
            body: network::prepare(&st, kind, id, &name, body)?,
            duration: lro_settings.network_secs,
            fail: None,
            replication: Vec::new(),
        },
        Kind::Disk => Prepared {
            body: super::disks::prepare(id, &name, body),
            duration: lro_settings.network_secs,
            fail: None,
            replication: Vec::new(),
        },
        Kind::Gallery | Kind::GalleryImage => Prepared {
            body: gallery::prepare_definition(kind, id, &name, body),
            duration: lro_settings.gallery_secs,
            fail: None,
            replication: Vec::new(),
        },
        Kind::GalleryImageVersion => gallery::prepare_version(ctx, id, &name, now, body),
        Kind::VmExtension => health::prepare_vm_extension(ctx, id, &name, body),
        Kind::ScaleSet => return Err(super::errors::method_not_allowed(ctx)),
        Kind::Subnet => {
            return Err(Reply::arm_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "HttpMethodNotSupported",
                "azure-sim creates subnets only as part of the virtual network PUT.",
            ));
        }
    };
    let created = existing.is_none();
    let put_count = existing.as_ref().map_or(0, |e| e.put_count) + 1;
    let ready_at = now + prepared.duration;
    let mut prepared = prepared;
    if kind == Kind::VirtualMachine {
        super::disks::attach_os_disk(
            &mut st,
            &mut prepared.body,
            id,
            existing.as_ref(),
            now + prepared.duration,
        );
    }
    let mut resource = Resource {
        id: existing
            .as_ref()
            .map_or_else(|| id.to_owned(), |e| e.id.clone()),
        resource_type: kind.type_name().to_owned(),
        body: prepared.body,
        put_count,
        creating: created,
        ready_at,
        fail: prepared.fail.is_some(),
        replication: prepared.replication,
    };
    if kind == Kind::GalleryImageVersion && !created {
        // An update keeps the regions already replicated.
        if let Some(e) = &existing {
            gallery::merge_replication(&mut resource.replication, &e.replication);
        }
    }
    let end = if resource.replication.is_empty() {
        ready_at
    } else {
        gallery::home_region_end(&resource.replication)
    };
    let mut body = render(&resource, now, false);
    if created && body["properties"]["provisioningState"] == "Updating" {
        body["properties"]["provisioningState"] = "Creating".into();
    }
    if kind == Kind::VirtualMachine
        && let Some(md) =
            body["properties"]["storageProfile"]["osDisk"]["managedDisk"].as_object_mut()
    {
        // A PUT's response does not name the disk (the VirtualMachine_Create_* examples' 200
        // and 201 bodies); GET does (VirtualMachine_Get.json).
        md.remove("id");
    }
    st.resources.insert(key(id), resource);
    let mut reply = Reply::json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        body,
    );
    if end > now {
        reply = lro::start(
            ctx,
            &mut st,
            kind,
            id,
            &location,
            now,
            end,
            prepared.fail,
            reply,
        );
    }
    network::link_references(&mut st, kind, id);
    Ok(reply)
}

/// A resource cannot move: a PUT naming another location than the existing resource's is 409
/// `InvalidResourceLocation`.
pub(crate) fn same_location(
    existing: Option<&Resource>,
    id: &str,
    name: &str,
    location: &str,
) -> ArmResult<()> {
    match existing
        .and_then(|e| e.body["location"].as_str())
        .filter(|old| !super::region::same(old, location))
    {
        Some(old) => Err(Reply::arm_error(
            StatusCode::CONFLICT,
            "InvalidResourceLocation",
            format!(
                "The resource '{name}' already exists in location '{old}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'. Please select a new resource name.",
                id.split('/').nth(4).unwrap_or_default()
            ),
        )),
        None => Ok(()),
    }
}

/// RBAC check for the primary caller.
pub(crate) fn require(ctx: &Ctx, action: &str, scope: &str) -> ArmResult<()> {
    if auth::authorized(ctx.sim, &ctx.caller, action, scope) {
        Ok(())
    } else {
        Err(auth::authorization_failed(&ctx.caller, action, scope))
    }
}

pub(crate) fn parse_body(ctx: &Ctx) -> ArmResult<Value> {
    match ctx.req.json() {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'The request body must be a JSON object.'.",
        )),
        Err(e) => Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{e}'."),
        )),
    }
}

/// A referenced resource (NIC → subnet/public IP/NSG, VM → NIC) must exist in the same region
/// (Network RP's `InvalidResourceReference` text).
pub(crate) fn referenced(st: &State, target: &str, by: &str, location: &str) -> ArmResult<Value> {
    let (lookup_id, subnet) = match target.rsplit_once("/subnets/") {
        Some((vnet, name)) => (vnet, Some(name)),
        None => (target, None),
    };
    let found = lookup(st, lookup_id).filter(|r| {
        r["location"]
            .as_str()
            .is_some_and(|l| super::region::same(l, location))
    });
    let found = match subnet {
        Some(name) => found.and_then(|v| network::find_subnet(&v, name)),
        None => found,
    };
    found.ok_or_else(|| {
        Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidResourceReference",
            format!(
                "Resource {target} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
            ),
        )
    })
}

/// Looks up a stored resource body rendered at the current time.
pub(crate) fn lookup(st: &State, id: &str) -> Option<Value> {
    let now = st.clock.now();
    st.resources.get(&key(id)).map(|r| render(r, now, false))
}

/// DELETE (synchronous in the simulator): removes the resource and everything under its id;
/// 200 when it existed, 204 when it did not (ARM's delete semantics).
pub(crate) fn delete_with_children(st: &mut State, id: &str) -> Reply {
    let k = key(id);
    let prefix = format!("{k}/");
    let existed = st.resources.remove(&k).is_some();
    st.deletions
        .retain(|dk, _| dk != &k && !dk.starts_with(&prefix));
    st.resources.retain(|rk, _| !rk.starts_with(&prefix));
    Reply::json(
        if existed {
            StatusCode::OK
        } else {
            StatusCode::NO_CONTENT
        },
        Value::Null,
    )
}
