//! `imageferry plan`: a dry run of one request: the ARM (and Key Vault) calls the handler would
//! make, in order, with method, path, API version, tenant, auxiliary token or not, and a summary
//! of each body. Paths come from the handler's `TargetNames`/`ImagePaths`, bodies from its
//! `bodies` module and the auxiliary-token rule is the VM create's; the image definition is read
//! (as the handler reads it) when credentials allow, so the VM body matches the image's OS type,
//! generalized/specialized state and Trusted Launch. Nothing is written.
//!
//! After the calls, `doctor`'s checks ([`doctor::check`]) run where credentials allow (an app
//! credential is configured and `--offline` is not given); otherwise the output says they were
//! skipped and why. Exit 1 when a check fails.

use crate::commands::doctor::{self, CheckArgs};
use crate::commands::request_args::RequestArgs;
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::{Credential, Session};
use azure_clients::models::GalleryImage;
use azure_clients::models::permissions_path;
use imageferry_contract::os_profile;
use imageferry_contract::{
    DeploymentRequest, ImageFacts, ImageId, OsState, OsType, ResourceIdError, UpgradeMode,
    scale_set,
};
use imageferry_handlers::bodies;
use imageferry_handlers::calls::{
    Facts, Method, Resource, TargetResource, Token, auxiliary_tenant, calls_for,
    image_definition_get,
};
use imageferry_handlers::image::{ImageInfo, image_info};
use imageferry_handlers::names::{ImagePaths, TargetNames};
use imageferry_handlers::steps::scale_set::bodies as scale_set_bodies;
use serde::Serialize;
use serde_json::Value;

/// Arguments of `plan`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    req: RequestArgs,
    /// Make no Azure call: infer Linux/Windows from the request (generalized, no Trusted
    /// Launch) and skip `doctor`'s checks.
    #[arg(long)]
    offline: bool,
    /// The deployed app's settings for the checks; `--create-resource-group` also plans the
    /// resource-group create (`IMAGEFERRY_CREATE_RESOURCE_GROUP`).
    #[command(flatten)]
    checks: CheckArgs,
    #[command(flatten)]
    out: OutputArgs,
}

/// One call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    step: &'static str,
    method: &'static str,
    path: String,
    api_version: &'static str,
    tenant: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auxiliary_tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    when: Option<&'static str>,
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn join(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn json<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// The calls, in the order the steps make them: the handler's table of its Azure calls
/// ([`imageferry_handlers::calls`]) for this request, with the paths filled in and a summary of
/// each body.
pub fn calls(
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    create_rg: bool,
) -> Result<Vec<Call>, PlanError> {
    let names = TargetNames::of(req).map_err(PlanError::Target)?;
    let paths = ImagePaths::of(req, image).map_err(PlanError::Image)?;
    let facts = Facts {
        request: req,
        image,
        create_resource_group: create_rg,
        marketplace_plan: info.plan.is_some(),
    };
    let t2 = &req.target.tenant_id;
    let mut out = Vec::new();
    for (step, call) in calls_for(&facts) {
        let path = match call.resource {
            Resource::ImageDefinition | Resource::ImageVersion => {
                let path = call.image_path(&paths).unwrap_or_default();
                with_query(path, call.query)
            }
            Resource::Target(_) | Resource::ScaleSetPart(_) => {
                with_query(call.path(&names), call.query)
            }
            Resource::SubnetPermissions => {
                permissions_path(&names.subnet).unwrap_or_else(|_| call.path(&names))
            }
            Resource::MarketplaceAgreement => info
                .plan
                .as_ref()
                .and_then(|p| p.agreement_path(&req.target.subscription_id))
                .map_or_else(|| call.path(&names), |p| p.to_string()),
            Resource::Secret => req
                .machine()
                .admin_password_secret_id
                .clone()
                .unwrap_or_default(),
            Resource::Operation(_) => call.path(&names),
        };
        let tenant = match call.token {
            Token::Image => paths.tenant.clone(),
            Token::Target | Token::TargetWithImageAux => t2.clone(),
            Token::Home => "home tenant (AZURE_TENANT_ID)".to_owned(),
        };
        let auxiliary_tenant = match call.token {
            Token::TargetWithImageAux => auxiliary_tenant(req, image).map(str::to_owned),
            _ => None,
        };
        let body = match (call.method, call.resource) {
            (Method::Put, Resource::Target(t)) => Some(body(req, image, info, &names, t)?),
            (Method::Patch, Resource::Target(TargetResource::ScaleSet)) => Some(format!(
                "a newer version of an existing scale set: imageReference {image}, tags (the same image: tags only, no auxiliary token)"
            )),
            (Method::Post, Resource::ScaleSetPart(_)) => {
                Some("{\"instanceIds\": [the batch's instances]}".to_owned())
            }
            _ => None,
        };
        out.push(Call {
            step: step.as_str(),
            method: call.method.as_str(),
            path,
            api_version: call.api_version(),
            tenant,
            auxiliary_tenant,
            body,
            when: call.note,
        });
    }
    Ok(out)
}

fn with_query(path: String, query: &[(&str, &str)]) -> String {
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if q.is_empty() {
        path
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// A summary of the body of the PUT of `resource`.
fn body(
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    resource: TargetResource,
) -> Result<String, PlanError> {
    let facts = &info.facts;
    Ok(match resource {
        TargetResource::ResourceGroup => {
            let b = json(&bodies::resource_group(req));
            format!("location {}", s(&b, "/location"))
        }
        TargetResource::VirtualNetwork => {
            let b = json(&bodies::virtual_network(req));
            format!(
                "address space {}; subnet {} {}",
                join(&b, "/properties/addressSpace/addressPrefixes"),
                s(&b, "/properties/subnets/0/name"),
                s(&b, "/properties/subnets/0/properties/addressPrefix")
            )
        }
        TargetResource::NetworkSecurityGroup => {
            let nsg = json(&bodies::network_security_group(req, facts.os_type));
            let rules: Vec<String> = nsg
                .pointer("/properties/securityRules")
                .and_then(Value::as_array)
                .map(|rules| rules.iter().map(|r| rule(&r["properties"])).collect())
                .unwrap_or_default();
            rules.join("; ")
        }
        TargetResource::PublicIp => {
            let b = json(&bodies::public_ip(req));
            format!(
                "sku {}, {} allocation",
                s(&b, "/sku/name"),
                s(&b, "/properties/publicIPAllocationMethod")
            )
        }
        TargetResource::NetworkInterface => {
            let nic = json(&bodies::network_interface(req, names));
            let named = |p: &str, label: &str| {
                Some(s(&nic, p))
                    .filter(|v| !v.is_empty())
                    .map(|v| format!(", {label} {v}"))
                    .unwrap_or_default()
            };
            format!(
                "subnet {}{}{}",
                s(&nic, "/properties/ipConfigurations/0/properties/subnet/id"),
                named(
                    "/properties/ipConfigurations/0/properties/publicIPAddress/id",
                    "public IP"
                ),
                named("/properties/networkSecurityGroup/id", "NSG"),
            )
        }
        TargetResource::ScaleSet => scale_set_body(req, image, info, names)?,
        TargetResource::VirtualMachine => {
            let computer_name =
                os_profile::computer_name(&req.vm.name, facts.os_type, facts.os_state)
                    .map_err(PlanError::VmName)?;
            let vm = json(&bodies::virtual_machine(
                req,
                image,
                info,
                names,
                computer_name,
                None,
            ));
            let os = match (facts.os_state, facts.os_type) {
                (OsState::Specialized, _) => "specialized: no osProfile".to_owned(),
                (OsState::Generalized, OsType::Linux) => format!(
                    "Linux, user {}, SSH key only",
                    s(&vm, "/properties/osProfile/adminUsername")
                ),
                (OsState::Generalized, OsType::Windows) => format!(
                    "Windows, user {}, password from Key Vault",
                    s(&vm, "/properties/osProfile/adminUsername")
                ),
            };
            let image_ref = ["id", "sharedGalleryImageId", "communityGalleryImageId"]
                .iter()
                .map(|k| {
                    s(
                        &vm,
                        &format!("/properties/storageProfile/imageReference/{k}"),
                    )
                })
                .find(|v| !v.is_empty())
                .unwrap_or("")
                .to_owned();
            format!(
                "size {}; image {image_ref}; {os}{}",
                s(&vm, "/properties/hardwareProfile/vmSize"),
                if facts.trusted_launch {
                    "; Trusted Launch"
                } else {
                    ""
                }
            )
        }
    })
}

/// A summary of the scale set's PUT body.
fn scale_set_body(
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
) -> Result<String, PlanError> {
    let Some(spec) = &req.scale_set else {
        return Ok(String::new());
    };
    let facts = &info.facts;
    let prefix = scale_set::computer_name_prefix(&spec.name, facts.os_type, facts.os_state)
        .map_err(PlanError::ScaleSetName)?;
    let b = json(&scale_set_bodies::scale_set(
        req, spec, image, info, names, prefix, None,
    ));
    let vm = "/properties/virtualMachineProfile";
    let policy = match spec.upgrade {
        UpgradeMode::Batches => format!(
            "upgrade Manual: imageferry upgrades {}% at a time, health-gated, {} between batches",
            spec.batch_percent(),
            spec.pause_between_batches.as_deref().unwrap_or("no pause")
        ),
        UpgradeMode::Rolling => format!(
            "upgrade Rolling: {}% a batch, at most {}% unhealthy",
            spec.batch_percent(),
            spec.max_unhealthy_percent()
        ),
    };
    let health = spec.health.as_ref().map_or_else(
        || "no health probe".to_owned(),
        |h| {
            format!(
                "{} health probe {}{}, {} min grace",
                s(
                    &b,
                    &format!("{vm}/extensionProfile/extensions/0/properties/type")
                ),
                h.protocol,
                h.path.as_deref().unwrap_or_default(),
                h.grace_minutes()
            )
        },
    );
    Ok(format!(
        "Uniform, {} x {}; image {}; subnet {}, NSG {}{}; {policy}; {health}",
        spec.capacity,
        spec.size,
        image,
        s(
            &b,
            &format!(
                "{vm}/networkProfile/networkInterfaceConfigurations/0/properties/ipConfigurations/0/properties/subnet/id"
            )
        ),
        s(
            &b,
            &format!(
                "{vm}/networkProfile/networkInterfaceConfigurations/0/properties/networkSecurityGroup/id"
            )
        ),
        if spec.public_ip {
            ", a public IP per instance"
        } else {
            ""
        },
    ))
}

/// One NSG rule for people: `Inbound Allow Tcp 22 from 203.0.113.0/24`.
fn rule(p: &Value) -> String {
    let sources = if p["sourceAddressPrefixes"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        join(p, "/sourceAddressPrefixes")
    } else {
        s(p, "/sourceAddressPrefix").to_owned()
    };
    format!(
        "{} {} {} {} from {sources}",
        s(p, "/direction"),
        s(p, "/access"),
        s(p, "/protocol"),
        s(p, "/destinationPortRange")
    )
}

/// Why a request cannot be planned (its ids or VM name break a rule the validation leaves to
/// the handler).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A target id is not a valid ARM id.
    #[error("target: {0}")]
    Target(#[source] ResourceIdError),
    /// The image id's paths are not valid ARM ids.
    #[error("image.id: {0}")]
    Image(#[source] ResourceIdError),
    /// No computer name can be derived from `vm.name`.
    #[error("vm.name: {0}")]
    VmName(#[source] os_profile::OsProfileError),
    /// No computer name prefix can be derived from `scaleSet.name`.
    #[error("scaleSet.name: {0}")]
    ScaleSetName(String),
}

/// Runs `plan`.
pub async fn run(args: Args) -> Exit {
    let req = match args.req.decode() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let image = match req.validate() {
        Ok(i) => i,
        Err(e) => {
            errln!("imageferry: rejected: {e}");
            return Exit::Rejected;
        }
    };
    let inferred = ImageInfo {
        facts: ImageFacts {
            os_type: if req.machine().ssh_public_key.is_some() {
                OsType::Linux
            } else {
                OsType::Windows
            },
            os_state: OsState::Generalized,
            trusted_launch: false,
        },
        plan: None,
    };
    let mut source = "inferred from the request (--offline)";
    let session = if args.offline {
        None
    } else {
        match Session::from_env() {
            Ok(s) => Some(s),
            Err(e) => return usage_error(e),
        }
    };
    let info = match &session {
        None => inferred,
        Some(session) => {
            let paths = match ImagePaths::of(&req, &image) {
                Ok(p) => p,
                Err(e) => return usage_error(format!("image.id: {e}")),
            };
            let call = image_definition_get(&image);
            match session
                .arm()
                .get::<GalleryImage>(
                    &paths.tenant,
                    &paths.definition.to_string(),
                    call.api_version(),
                    call.query,
                )
                .await
            {
                Ok(def) => match image_info(&def, image.version()) {
                    Ok(f) => {
                        source = "read from the image definition";
                        if let Err(e) = req.validate_for_image(&f.facts) {
                            errln!(
                                "imageferry: rejected: the handler would reject this request: {e}"
                            );
                            return Exit::Rejected;
                        }
                        f
                    }
                    Err(e) => {
                        errln!("imageferry: rejected: {e}");
                        return Exit::Rejected;
                    }
                },
                Err(e) => {
                    match session.places().arm(&e) {
                        Some(u) => {
                            errln!(
                                "imageferry: cannot read the image definition: {u}; planning with facts inferred from the request."
                            );
                            errln!("  fix: {}", u.hint());
                        }
                        None => errln!(
                            "imageferry: cannot read the image definition ({e}); planning with facts inferred from the request (`imageferry doctor` finds the cause)."
                        ),
                    }
                    inferred
                }
            }
        }
    };
    let create_rg = args.checks.create_resource_group();
    let calls = match calls(&req, &image, &info, create_rg) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    // doctor's checks, where credentials allow.
    let checks = match &session {
        None => Err("--offline: no Azure call is made"),
        Some(s) if s.credential == Credential::AzureCli => Err(
            "no app credential is configured (AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, a GitHub Actions or Azure Pipelines OIDC token, or a managed identity): the checks run as the app, not as your Azure CLI login; `imageferry doctor` runs them with it",
        ),
        Some(s) => match doctor::check(s, &req, &image, &args.checks).await {
            Ok(report) => Ok(report),
            Err(e) => return usage_error(format!("target: {e}")),
        },
    };
    let exit = match &checks {
        Ok(report) if !report.all_ok() => Exit::Failed,
        _ => Exit::Succeeded,
    };
    if args.out.json() {
        let checks = match &checks {
            Ok(report) => serde_json::json!({"ok": report.all_ok(), "checks": report.checks}),
            Err(why) => serde_json::json!({"skipped": why}),
        };
        print_json(
            &serde_json::json!({"deploymentId": req.deployment_id, "imageFacts": source, "calls": calls, "checks": checks}),
        );
        return exit;
    }
    outln!("plan for {} (image facts {source})", req.deployment_id);
    for (i, c) in calls.iter().enumerate() {
        outln!(
            "{:>2}. [{}] {} {}  (api-version {})",
            i + 1,
            c.step,
            c.method,
            c.path,
            c.api_version
        );
        let aux = c
            .auxiliary_tenant
            .as_ref()
            .map(|t| format!(" + auxiliary token for {t}"))
            .unwrap_or_default();
        outln!("      token: {}{aux}", c.tenant);
        if let Some(b) = &c.body {
            outln!("      body: {b}");
        }
        if let Some(w) = c.when {
            outln!("      when: {w}");
        }
    }
    match &checks {
        Ok(report) => {
            outln!("checks (as `imageferry doctor`):");
            report.print_human();
        }
        Err(why) => outln!("checks skipped: {why}"),
    }
    exit
}
