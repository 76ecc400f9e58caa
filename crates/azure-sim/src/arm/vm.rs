//! Virtual machine PUT rules: the cross-tenant image rule (`x-ms-authorization-auxiliary`),
//! replication to the VM's region, generalized vs specialized, Trusted Launch, direct-shared and
//! community images, immutable `imageReference`.
//!
//! Error texts:
//! - LinkedAuthorizationFailed (both variants): reference/arm/NOTES.md §3.
//! - "The gallery image {id} is not available in {region} region. Please contact image owner to
//!   replicate to this region, or change your requested region." (404 GalleryImageNotFound):
//!   MicrosoftDocs/azure-docs articles/virtual-machines/troubleshooting-shared-images.md and the
//!   404 body quoted in pulumi/pulumi-aws#5129 and Azure/AgentBaker#8373.
//! - "Parameter 'osProfile' is not allowed." / "Required parameter 'osProfile' is missing (null)."
//!   (400 InvalidParameter): same troubleshooting article; hashicorp/terraform#30096.
//! - "The provided gallery image only supports creation of VMs and VM Scale Sets with
//!   'TrustedLaunch' security type." (400 BadRequest): quoted in Azure/build-vm-image#32 and a
//!   terraform error log; "Use of TrustedLaunch setting is not supported for the provided image..."
//!   (BadRequest): Azure/azure-cli#27975.
//! - "Changing property 'imageReference' is not allowed." (409 PropertyChangeNotAllowed):
//!   MicrosoftDocs AKS troubleshooting "changing-property-imagereference-not-allowed".

use http::StatusCode;
use serde_json::{Value, json};

use super::auth::{self, Caller};
use super::gallery;
use super::path::{GalleryImageRef, parse_direct_ref};
use super::resources::{Prepared, referenced};
use super::{ArmResult, Ctx};
use crate::http::Reply;
use crate::sim::gallery_id;
use crate::state::{State, key, version_provisioning_state};

/// What the VM's image resolves to.
struct ImageFacts {
    os_type: String,
    os_state: String,
    security_type: Option<String>,
    hyper_v_generation: String,
}

const VERSION_READ: &str = "Microsoft.Compute/galleries/images/versions/read";

fn invalid_parameter(message: &str, target: &str) -> Reply {
    Reply::arm_error_target(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        message,
        Some(target),
    )
}

fn not_available(image: &str, region: &str) -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "GalleryImageNotFound",
        format!(
            "The gallery image {image} is not available in {region} region. Please contact image owner to replicate to this region, or change your requested region."
        ),
    )
}

/// Validates a VM PUT and builds the stored body.
pub(crate) fn prepare(
    ctx: &Ctx,
    st: &State,
    id: &str,
    name: &str,
    existing: Option<&crate::state::Resource>,
    mut body: Value,
) -> ArmResult<Prepared> {
    let location = body["location"].as_str().unwrap_or_default().to_owned();
    let image_ref = body["properties"]["storageProfile"]["imageReference"].clone();
    if let Some(e) = existing {
        let old = &e.body["properties"]["storageProfile"]["imageReference"];
        if normalized(old) != normalized(&image_ref) {
            return Err(Reply::arm_error_target(
                StatusCode::CONFLICT,
                "PropertyChangeNotAllowed",
                "Changing property 'imageReference' is not allowed.",
                Some("imageReference"),
            ));
        }
    }
    let sub = id.split('/').nth(2).unwrap_or_default().to_owned();
    let facts = resolve_image(ctx, st, id, &sub, &location, &image_ref)?;

    let has_os_profile = body["properties"]
        .get("osProfile")
        .is_some_and(|p| !p.is_null());
    if facts.os_state == "Specialized" && has_os_profile {
        return Err(invalid_parameter(
            "Parameter 'osProfile' is not allowed.",
            "osProfile",
        ));
    }
    if facts.os_state == "Generalized" && !has_os_profile {
        return Err(invalid_parameter(
            "Required parameter 'osProfile' is missing (null).",
            "osProfile",
        ));
    }
    let vm_security = body["properties"]["securityProfile"]["securityType"]
        .as_str()
        .map(str::to_owned);
    match (facts.security_type.as_deref(), vm_security.as_deref()) {
        (Some("TrustedLaunch"), s) if s != Some("TrustedLaunch") => {
            return Err(Reply::arm_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The provided gallery image only supports creation of VMs and VM Scale Sets with 'TrustedLaunch' security type.",
            ));
        }
        (None, Some("TrustedLaunch")) if facts.hyper_v_generation == "V1" => {
            return Err(Reply::arm_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Use of TrustedLaunch setting is not supported for the provided image. Please select Trusted Launch Supported Gen2 OS Image. For more information, see https://aka.ms/TrustedLaunch-FAQ.",
            ));
        }
        _ => {}
    }
    for nic in body["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(nic_id) = nic["id"].as_str() {
            referenced(st, nic_id, id, &location)?;
        }
    }

    decorate(&mut body, id, name, existing, &facts);
    let fail = ctx
        .sim
        .scenario
        .lro
        .fail_vms
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
        .then(|| {
            (
                "OSProvisioningTimedOut".to_owned(),
                format!(
                    "OS Provisioning for VM '{name}' did not finish in the allotted time. The VM may still finish provisioning successfully. Please check provisioning state later."
                ),
            )
        });
    Ok(Prepared {
        body,
        duration: ctx.sim.scenario.lro.vm_secs,
        fail,
        replication: Vec::new(),
    })
}

fn normalized(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_ascii_lowercase()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "exactVersion")
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Server-populated fields, as in the VirtualMachine_Create_* example responses; secrets
/// (`adminPassword`) are never echoed.
fn decorate(
    body: &mut Value,
    id: &str,
    name: &str,
    existing: Option<&crate::state::Resource>,
    facts: &ImageFacts,
) {
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    body["type"] = json!("Microsoft.Compute/virtualMachines");
    let props = &mut body["properties"];
    let (vm_id, created) = existing
        .map(|e| {
            (
                e.body["properties"]["vmId"].clone(),
                e.body["properties"]["timeCreated"].clone(),
            )
        })
        .unwrap_or_else(|| {
            (
                Value::String(uuid::Uuid::new_v4().to_string()),
                Value::String(
                    time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                ),
            )
        });
    props["vmId"] = vm_id;
    props["timeCreated"] = created;
    if let Some(os) = props.get_mut("osProfile").filter(|p| p.is_object()) {
        if let Some(m) = os.as_object_mut() {
            m.remove("adminPassword");
            m.remove("customData");
        }
        if os.get("secrets").is_none() {
            os["secrets"] = json!([]);
        }
        if facts.os_type == "Windows" {
            if os.get("windowsConfiguration").is_none() {
                os["windowsConfiguration"] =
                    json!({"provisionVMAgent": true, "enableAutomaticUpdates": true});
            }
        } else if os.get("linuxConfiguration").is_none() {
            os["linuxConfiguration"] = json!({"disablePasswordAuthentication": false});
        }
    }
    let sp = &mut props["storageProfile"];
    if !sp["osDisk"].is_object() {
        sp["osDisk"] = json!({"createOption": "FromImage"});
    }
    let disk = &mut sp["osDisk"];
    disk["osType"] = Value::String(facts.os_type.clone());
    if disk.get("name").is_none() {
        disk["name"] = Value::String(format!("{name}_OsDisk_1"));
    }
    if disk.get("diskSizeGB").is_none() {
        disk["diskSizeGB"] = json!(30);
    }
    if sp.get("dataDisks").is_none() {
        sp["dataDisks"] = json!([]);
    }
}

/// Resolves and authorizes the image reference; returns its facts.
fn resolve_image(
    ctx: &Ctx,
    st: &State,
    vm_id: &str,
    vm_sub: &str,
    location: &str,
    image_ref: &Value,
) -> ArmResult<ImageFacts> {
    let now = st.clock.now();
    if let Some(image_id) = image_ref["id"].as_str() {
        let Some(r) = GalleryImageRef::parse(image_id) else {
            return Err(invalid_parameter(
                &format!("The value of parameter imageReference.id '{image_id}' is invalid."),
                "imageReference.id",
            ));
        };
        authorize_linked(ctx, vm_id, image_id, &r)?;
        let image_def_id = r.image_id();
        let version_id = match &r.version {
            Some(v) => format!("{image_def_id}/versions/{v}"),
            None => gallery::latest_version(st, &image_def_id).ok_or_else(|| {
                Reply::arm_error(
                    StatusCode::NOT_FOUND,
                    "GalleryImageNotFound",
                    format!("There is no latest image version exists for \"{image_def_id}\""),
                )
            })?,
        };
        let def = st
            .resources
            .get(&key(&image_def_id))
            .ok_or_else(|| not_available(image_id, location))?;
        let version = st
            .resources
            .get(&key(&version_id))
            .ok_or_else(|| not_available(image_id, location))?;
        check_replicated(version, image_id, location, now)?;
        return Ok(facts_of(&def.body));
    }
    for (field, kind, community) in [
        ("sharedGalleryImageId", "SharedGalleries", false),
        ("communityGalleryImageId", "CommunityGalleries", true),
    ] {
        let Some(direct) = image_ref[field].as_str() else {
            continue;
        };
        let Some((gname, image, version)) = parse_direct_ref(direct, kind) else {
            return Err(invalid_parameter(
                &format!("The value of parameter imageReference.{field} '{direct}' is invalid."),
                &format!("imageReference.{field}"),
            ));
        };
        let g = if community {
            gallery::by_public_name(ctx, &gname)
        } else {
            gallery::by_unique_name(ctx, &gname)
                .filter(|g| gallery::shared_with(g, &ctx.caller.tenant, vm_sub))
        }
        .ok_or_else(|| not_available(direct, location))?;
        let image_def_id = format!("{}/images/{image}", gallery_id(g));
        let version_id = match version {
            Some(v) => format!("{image_def_id}/versions/{v}"),
            None => gallery::latest_version(st, &image_def_id)
                .ok_or_else(|| not_available(direct, location))?,
        };
        let def = st
            .resources
            .get(&key(&image_def_id))
            .ok_or_else(|| not_available(direct, location))?;
        let v = st
            .resources
            .get(&key(&version_id))
            .ok_or_else(|| not_available(direct, location))?;
        check_replicated(v, direct, location, now)?;
        return Ok(facts_of(&def.body));
    }
    // A platform (marketplace) image: publisher/offer/sku/version. Not modelled beyond its OS.
    let offer = image_ref["offer"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(ImageFacts {
        os_type: if offer.contains("windows") {
            "Windows"
        } else {
            "Linux"
        }
        .to_owned(),
        os_state: "Generalized".to_owned(),
        security_type: None,
        hyper_v_generation: "V2".to_owned(),
    })
}

fn facts_of(def: &Value) -> ImageFacts {
    let p = &def["properties"];
    let security_type = p["features"].as_array().and_then(|fs| {
        fs.iter()
            .find(|f| {
                f["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("SecurityType"))
            })
            .and_then(|f| f["value"].as_str().map(str::to_owned))
    });
    ImageFacts {
        os_type: p["osType"].as_str().unwrap_or("Linux").to_owned(),
        os_state: p["osState"].as_str().unwrap_or("Generalized").to_owned(),
        security_type,
        hyper_v_generation: p["hyperVGeneration"].as_str().unwrap_or("V1").to_owned(),
    }
}

fn check_replicated(
    v: &crate::state::Resource,
    shown_id: &str,
    location: &str,
    now: f64,
) -> ArmResult<()> {
    let succeeded = version_provisioning_state(&v.replication, now) == "Succeeded";
    let in_region = v.replication.iter().any(|r| {
        super::region::same(&r.name, location)
            && r.state(now) == crate::state::ReplicationState::Completed
    });
    if succeeded && in_region {
        Ok(())
    } else {
        Err(not_available(shown_id, location))
    }
}

/// The linked-scope rule: reading an image in another subscription needs read there, and when that
/// subscription is in another tenant, an auxiliary token for that tenant whose principal can read.
fn authorize_linked(ctx: &Ctx, vm_id: &str, image_id: &str, r: &GalleryImageRef) -> ArmResult<()> {
    let Some(image_tenant) = ctx.sim.scenario.tenant_of_subscription(&r.sub) else {
        return Err(not_available(image_id, "any"));
    };
    let lacks_read = |who: &Caller| !auth::authorized(ctx.sim, who, VERSION_READ, image_id);
    let linked_scope_denied = || {
        Reply::arm_error(
            StatusCode::FORBIDDEN,
            "LinkedAuthorizationFailed",
            format!(
                "The client has permission to perform action 'Microsoft.Compute/virtualMachines/write' on scope '{vm_id}'; however, it does not have permission to perform action 'read' on the linked scope(s) '{image_id}' or the linked scope(s) are invalid."
            ),
        )
    };
    if image_tenant.id.eq_ignore_ascii_case(&ctx.caller.tenant) {
        return if lacks_read(&ctx.caller) {
            Err(linked_scope_denied())
        } else {
            Ok(())
        };
    }
    let aux = ctx
        .aux
        .iter()
        .find(|a| a.tenant.eq_ignore_ascii_case(&image_tenant.id));
    match aux {
        None => Err(Reply::arm_error(
            StatusCode::FORBIDDEN,
            "LinkedAuthorizationFailed",
            format!(
                "The client has permission to perform action '{VERSION_READ}' on scope '{vm_id}', however the current tenant '{}' is not authorized to access linked subscription '{}'.",
                ctx.caller.tenant, r.sub
            ),
        )),
        Some(a) if lacks_read(a) => Err(linked_scope_denied()),
        Some(_) => Ok(()),
    }
}
