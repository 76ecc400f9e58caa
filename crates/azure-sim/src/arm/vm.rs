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
//! - Marketplace plan: "Creating a virtual machine from Marketplace image or a custom image
//!   sourced from a Marketplace image requires Plan information in the request. VM: '{id}'."
//!   (400 VMMarketplaceInvalidInput), quoted in azure-rest-api-specs#22133 and
//!   MicrosoftDocs/azure-docs#60317; terms not accepted: "Marketplace purchase eligibilty check
//!   returned errors. See inner errors for details." (400 MarketplacePurchaseEligibilityFailed)
//!   with the inner "You have not accepted the legal terms on this subscription: ..." text
//!   (Azure SDK tests, terraform/azure-powershell reports).
//! - Computer names: "Windows computer name cannot be more than 15 characters long, be entirely
//!   numeric, or contain the following characters: ..." / "Linux host name cannot exceed 64
//!   characters in length or contain the following characters: ..." (400 InvalidParameter,
//!   target computerName), as ARM returns them (quoted by azure-cli's own validator).
//! - SSH keys: RSA keys need 2048 bits, ECDSA is not accepted (learn.microsoft.com
//!   "Supported SSH key formats"); "The value of parameter linuxConfiguration.ssh.publicKeys.keyData
//!   is invalid." (400 InvalidParameter).
//! - Windows password: computeRPCommon.json `OSProfile.adminPassword` (8–123 characters, 3 of 4
//!   classes, disallowed values); ARM's "The supplied password must be between 8-123 characters
//!   long and must satisfy at least 3 of password complexity requirements ..." (400
//!   InvalidParameter, target adminPassword).
//! - Injected failures (`lro.vm_failures`): AllocationFailed / ZonalAllocationFailed "Allocation
//!   failed. We do not have sufficient capacity for the requested VM size in this region/zone.
//!   Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
//!   (learn.microsoft.com allocation-failure troubleshooting); SkuNotAvailable (409) "The
//!   requested size for resource '{id}' is currently not available in location '{loc}' zones ''
//!   for subscription '{sub}'. Please try another size or deploy to a different location or
//!   zones. See https://aka.ms/azureskunotavailable for details."

use http::StatusCode;
use serde_json::{Value, json};

use super::auth::{self, Caller};
use super::gallery;
use super::path::{GalleryImageRef, parse_direct_ref};
use super::resources::{Prepared, referenced};
use super::{ArmResult, Ctx};
use crate::http::Reply;
use crate::sim::gallery_id;
use crate::state::{State, key, region_usable};

/// What a VM's (or a scale set's) image resolves to.
pub(crate) struct ImageFacts {
    pub(crate) os_type: String,
    os_state: String,
    security_type: Option<String>,
    hyper_v_generation: String,
    purchase_plan: Option<Value>,
    /// The gallery image version the reference resolves to now (`None`: a platform image).
    pub(crate) version_id: Option<String>,
}

/// The parts of a VM body (or a scale set's `virtualMachineProfile`) the image rules read.
pub(crate) struct ImageInputs<'a> {
    pub(crate) image_ref: &'a Value,
    pub(crate) os_profile: Option<&'a Value>,
    pub(crate) security_type: Option<&'a str>,
    /// The body's top-level `plan`.
    pub(crate) plan: &'a Value,
}

const VERSION_READ: &str = "Microsoft.Compute/galleries/images/versions/read";
/// What a VM PUT needs on each network interface it references (Compute RP's linked check; the
/// message is reference/arm/NOTES.md's LinkedAuthorizationFailed variant with this action).
const NIC_JOIN: &str = "Microsoft.Network/networkInterfaces/join/action";

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
        if normalized_ref(old) != normalized_ref(&image_ref) {
            return Err(Reply::arm_error_target(
                StatusCode::CONFLICT,
                "PropertyChangeNotAllowed",
                "Changing property 'imageReference' is not allowed.",
                Some("imageReference"),
            ));
        }
    }
    let sub = id.split('/').nth(2).unwrap_or_default().to_owned();
    let os_profile = body["properties"]
        .get("osProfile")
        .filter(|p| !p.is_null())
        .cloned();
    let inputs = ImageInputs {
        image_ref: &image_ref,
        os_profile: os_profile.as_ref(),
        security_type: body["properties"]["securityProfile"]["securityType"].as_str(),
        plan: &body["plan"],
    };
    let facts = check_image(ctx, st, id, &location, &inputs)?;
    for nic in body["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(nic_id) = nic["id"].as_str() {
            referenced(st, nic_id, id, &location)?;
            if !auth::authorized(ctx.sim, &ctx.caller, NIC_JOIN, nic_id) {
                return Err(Reply::arm_error(
                    StatusCode::FORBIDDEN,
                    "LinkedAuthorizationFailed",
                    format!(
                        "The client has permission to perform action 'Microsoft.Compute/virtualMachines/write' on scope '{id}'; however, it does not have permission to perform action '{NIC_JOIN}' on the linked scope(s) '{nic_id}' or the linked scope(s) are invalid."
                    ),
                ));
            }
        }
    }

    let fail = match injected_failure(ctx, name) {
        Some(code) if code == "SkuNotAvailable" => {
            return Err(Reply::arm_error(
                StatusCode::CONFLICT,
                "SkuNotAvailable",
                format!(
                    "The requested size for resource '{id}' is currently not available in location '{location}' zones '' for subscription '{sub}'. Please try another size or deploy to a different location or zones. See https://aka.ms/azureskunotavailable for details."
                ),
            ));
        }
        Some(code) => Some(failure_message(&code, name)),
        None => ctx
            .sim
            .scenario
            .lro
            .fail_vms
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
            .then(|| failure_message("OSProvisioningTimedOut", name)),
    };
    decorate(&mut body, id, name, existing, &facts);
    Ok(Prepared {
        body,
        duration: ctx.sim.scenario.lro.vm_secs,
        fail,
        replication: Vec::new(),
    })
}

/// The image rules a VM or scale-set write meets (the scale set's `virtualMachineProfile` in
/// `inputs`): the cross-tenant linked check, replication to `location`, generalized vs
/// specialized, Trusted Launch, the Marketplace plan and the OS profile.
pub(crate) fn check_image(
    ctx: &Ctx,
    st: &State,
    id: &str,
    location: &str,
    inputs: &ImageInputs,
) -> ArmResult<ImageFacts> {
    let sub = id.split('/').nth(2).unwrap_or_default().to_owned();
    let facts = resolve_image(ctx, st, id, &sub, location, inputs.image_ref)?;
    let has_os_profile = inputs.os_profile.is_some();
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
    match (facts.security_type.as_deref(), inputs.security_type) {
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
    check_plan(ctx, inputs.plan, &facts, id, &sub)?;
    if let Some(os) = inputs.os_profile {
        check_os_profile(os, &facts)?;
    }
    Ok(facts)
}

/// The code of the injected failure for this PUT of VM `name`, counting it as used.
fn injected_failure(ctx: &Ctx, name: &str) -> Option<String> {
    let f = ctx
        .sim
        .scenario
        .lro
        .vm_failures
        .iter()
        .find(|f| f.vm.eq_ignore_ascii_case(name))?;
    let mut used = ctx
        .sim
        .vm_failures_used
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let n = used.entry(name.to_ascii_lowercase()).or_default();
    if *n >= f.times {
        return None;
    }
    *n += 1;
    Some(f.code.clone())
}

/// The operation error of an injected VM failure.
fn failure_message(code: &str, name: &str) -> (String, String) {
    let message = match code {
        "OSProvisioningTimedOut" => format!(
            "OS Provisioning for VM '{name}' did not finish in the allotted time. The VM may still finish provisioning successfully. Please check provisioning state later."
        ),
        "ZonalAllocationFailed" => "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance".to_owned(),
        _ => "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance".to_owned(),
    };
    (code.to_owned(), message)
}

/// A Marketplace-derived image needs the same `plan` on the VM, and the VM's subscription must
/// have accepted the plan's terms.
fn check_plan(ctx: &Ctx, sent: &Value, facts: &ImageFacts, id: &str, sub: &str) -> ArmResult<()> {
    let Some(plan) = &facts.purchase_plan else {
        return Ok(());
    };
    let field = |v: &Value, f: &str| v[f].as_str().unwrap_or_default().to_ascii_lowercase();
    if ["name", "publisher", "product"]
        .iter()
        .any(|f| field(sent, f).is_empty() || field(sent, f) != field(plan, f))
    {
        return Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "VMMarketplaceInvalidInput",
            format!(
                "Creating a virtual machine from Marketplace image or a custom image sourced from a Marketplace image requires Plan information in the request. VM: '{id}'."
            ),
        ));
    }
    let seed = crate::scenario::PurchasePlanSeed {
        name: field(plan, "name"),
        publisher: field(plan, "publisher"),
        product: field(plan, "product"),
    };
    if ctx
        .sim
        .scenario
        .marketplace_terms
        .iter()
        .any(|t| t.covers(sub, &seed))
    {
        return Ok(());
    }
    let correlation = uuid::Uuid::new_v4();
    let (publisher, product, name) = (&seed.publisher, &seed.product, &seed.name);
    let mut reply = Reply::arm_error(
        StatusCode::BAD_REQUEST,
        "MarketplacePurchaseEligibilityFailed",
        "Marketplace purchase eligibilty check returned errors. See inner errors for details. ",
    );
    reply.body["error"]["details"] = json!([{
        "code": "BadRequest",
        "message": format!(
            "Offer with PublisherId: '{publisher}', OfferId: '{product}' cannot be purchased due to validation errors. For more information see details. Correlation Id: '{correlation}' You have not accepted the legal terms on this subscription: '{sub}' for this plan. Before the subscription can be used, you need to accept the legal terms of the image. To read and accept legal terms, use the Azure CLI commands described at https://go.microsoft.com/fwlink/?linkid=2110637 or the PowerShell commands available at https://go.microsoft.com/fwlink/?linkid=862451. Alternatively, deploying via the Azure portal provides a UI experience for reading and accepting the legal terms. Offer details: publisher='{publisher}' offer = '{product}', sku = '{name}', Correlation Id: '{correlation}'."
        )
    }]);
    Err(reply)
}

/// Computer name, SSH keys and the Windows password, as ComputeRP checks them.
fn check_os_profile(os: &Value, facts: &ImageFacts) -> ArmResult<()> {
    let windows = facts.os_type == "Windows";
    let computer_name = os["computerName"].as_str().unwrap_or_default();
    if windows {
        const BAD: &str = "`~!@#$%^&*()=+_[]{}\\|;:.'\",<>/?";
        if computer_name.chars().count() > 15
            || computer_name.chars().all(|c| c.is_ascii_digit())
            || computer_name
                .chars()
                .any(|c| BAD.contains(c) || c.is_whitespace())
        {
            return Err(invalid_parameter(
                "Windows computer name cannot be more than 15 characters long, be entirely numeric, or contain the following characters: ` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : . ' \" , < > / ?.",
                "computerName",
            ));
        }
    } else {
        const BAD: &str = "`~!@#$%^&*()=+_[]{}\\|;:'\",<>/?";
        if computer_name.is_empty()
            || computer_name.chars().count() > 64
            || computer_name
                .chars()
                .any(|c| BAD.contains(c) || c.is_whitespace())
        {
            return Err(invalid_parameter(
                "Linux host name cannot exceed 64 characters in length or contain the following characters: ` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : ' \" , < > / ?.",
                "computerName",
            ));
        }
    }
    for key in os["linuxConfiguration"]["ssh"]["publicKeys"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if !ssh_key_accepted(key["keyData"].as_str().unwrap_or_default()) {
            return Err(invalid_parameter(
                "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
                "linuxConfiguration.ssh.publicKeys.keyData",
            ));
        }
    }
    if windows && let Some(password) = os["adminPassword"].as_str() {
        const DISALLOWED: [&str; 10] = [
            "abc@123",
            "P@$$w0rd",
            "P@ssw0rd",
            "P@ssword123",
            "Pa$$word",
            "pass@word1",
            "Password!",
            "Password1",
            "Password22",
            "iloveyou!",
        ];
        let len = password.chars().count();
        let classes = [
            password.chars().any(char::is_uppercase),
            password.chars().any(char::is_lowercase),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if !(8..=123).contains(&len)
            || classes < 3
            || password.chars().any(char::is_control)
            || DISALLOWED.contains(&password)
        {
            return Err(invalid_parameter(
                "The supplied password must be between 8-123 characters long and must satisfy at least 3 of password complexity requirements from the following:\r\n1) Contains an uppercase character\r\n2) Contains a lowercase character\r\n3) Contains a numeric digit\r\n4) Contains a special character\r\n5) Control characters are not allowed",
                "adminPassword",
            ));
        }
    }
    Ok(())
}

/// An `ssh-rsa` key of at least 2048 bits or an `ssh-ed25519` key (RFC 4253 §6.6 blob).
fn ssh_key_accepted(line: &str) -> bool {
    use base64::Engine;
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(data)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(data) else {
        return false;
    };
    let mut fields = Vec::new();
    let mut rest = blob.as_slice();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() - 4 < len {
            return false;
        }
        fields.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    if !rest.is_empty() || fields.first() != Some(&kind.as_bytes()) {
        return false;
    }
    match (kind, fields.as_slice()) {
        ("ssh-ed25519", [_, key]) => key.len() == 32,
        ("ssh-rsa", [_, _e, n]) => {
            let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
            n.first()
                .is_some_and(|top| n.len() * 8 - top.leading_zeros() as usize >= 2048)
        }
        _ => false,
    }
}

/// An `imageReference` compared as Compute compares it (case-insensitive, `exactVersion` aside).
pub(crate) fn normalized_ref(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_ascii_lowercase()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "exactVersion")
                .map(|(k, v)| (k.clone(), normalized_ref(v)))
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
    if disk.get("name").is_none_or(Value::is_null) {
        // Azure names an unnamed OS disk `{vm}_OsDisk_1_{32 hex digits}`.
        let suffix = crate::scenario::derived_guid(&format!("osdisk|{id}")).replace('-', "");
        disk["name"] = Value::String(format!("{name}_OsDisk_1_{suffix}"));
    }
    if disk.get("diskSizeGB").is_none_or(Value::is_null) {
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
        return Ok(facts_of(&def.body, &version_id));
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
        return Ok(facts_of(&def.body, &version_id));
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
        purchase_plan: None,
        version_id: None,
    })
}

fn version_name(version_id: &str) -> &str {
    version_id.rsplit('/').next().unwrap_or_default()
}

/// Numeric order of `1.2.3` (GalleryRP compares versions as numbers).
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The definition's facts for version `version_id`: a feature with `startsAtVersion` applies only
/// to versions from that one on.
fn facts_of(def: &Value, version_id: &str) -> ImageFacts {
    let version = version_name(version_id);
    let p = &def["properties"];
    let security_type = p["features"].as_array().and_then(|fs| {
        fs.iter()
            .filter(|f| {
                f["startsAtVersion"]
                    .as_str()
                    .is_none_or(|start| version_key(version) >= version_key(start))
            })
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
        purchase_plan: p.get("purchasePlan").filter(|v| v.is_object()).cloned(),
        version_id: Some(version_id.to_owned()),
    }
}

fn check_replicated(
    v: &crate::state::Resource,
    shown_id: &str,
    location: &str,
    now: f64,
) -> ArmResult<()> {
    if region_usable(&v.replication, location, now) {
        Ok(())
    } else {
        Err(not_available(shown_id, location))
    }
}

/// The linked-scope rule: reading an image in another subscription needs read there, and when that
/// subscription is in another tenant, an auxiliary token for that tenant whose principal can read.
/// The same texts for a scale set (its write action, its id as the scope: Azure/AKS#2040,
/// Azure/vm-scale-sets#72).
fn authorize_linked(ctx: &Ctx, vm_id: &str, image_id: &str, r: &GalleryImageRef) -> ArmResult<()> {
    let Some(image_tenant) = ctx.sim.scenario.tenant_of_subscription(&r.sub) else {
        return Err(not_available(image_id, "any"));
    };
    let lacks_read = |who: &Caller| !auth::authorized(ctx.sim, who, VERSION_READ, image_id);
    let write = if vm_id
        .to_ascii_lowercase()
        .contains("/microsoft.compute/virtualmachinescalesets/")
    {
        "Microsoft.Compute/virtualMachineScaleSets/write"
    } else {
        "Microsoft.Compute/virtualMachines/write"
    };
    let linked_scope_denied = || {
        Reply::arm_error(
            StatusCode::FORBIDDEN,
            "LinkedAuthorizationFailed",
            format!(
                "The client has permission to perform action '{write}' on scope '{vm_id}'; however, it does not have permission to perform action 'read' on the linked scope(s) '{image_id}' or the linked scope(s) are invalid."
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
