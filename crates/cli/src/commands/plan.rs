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
use imageferry_contract::os_profile;
use imageferry_contract::{DeploymentRequest, ImageFacts, ImageId, OsState, OsType, Step};
use imageferry_handlers::bodies;
use imageferry_handlers::image::{ImageInfo, image_info};
use imageferry_handlers::names::{
    COMPUTE_API, GALLERY_API, ImagePaths, NETWORK_API, RESOURCES_API, TargetNames,
};
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

/// The calls, in the order the steps make them.
pub fn calls(
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    create_rg: bool,
) -> Result<Vec<Call>, String> {
    let facts = &info.facts;
    let names = TargetNames::of(req).map_err(|e| format!("target: {e}"))?;
    let paths = ImagePaths::of(req, image).map_err(|e| format!("image.id: {e}"))?;
    let t2 = req.target.tenant_id.clone();
    let call =
        |step: Step, method, path: String, api_version, tenant: &str, body: Option<String>| Call {
            step: step.as_str(),
            method,
            path,
            api_version,
            tenant: tenant.to_owned(),
            auxiliary_tenant: None,
            body,
            when: None,
        };
    let mut out = Vec::new();
    // deployment-requested: the definition (facts), then the version (replication).
    out.push(call(
        Step::DeploymentRequested,
        "GET",
        paths.definition.to_string(),
        GALLERY_API,
        &paths.tenant,
        None,
    ));
    let version_path = if paths.has_replication_status {
        format!("{}?$expand=ReplicationStatus", paths.version)
    } else {
        paths.version.to_string()
    };
    out.push(Call {
        when: Some("again on every replication-check until replicated"),
        ..call(
            Step::DeploymentRequested,
            "GET",
            version_path,
            GALLERY_API,
            &paths.tenant,
            None,
        )
    });
    // image-version-replicated: re-verify, existing VM, password, resource group, network, VM.
    let ivr = Step::ImageVersionReplicated;
    out.push(call(
        ivr,
        "GET",
        paths.definition.to_string(),
        GALLERY_API,
        &paths.tenant,
        None,
    ));
    out.push(call(
        ivr,
        "GET",
        paths.version.to_string(),
        GALLERY_API,
        &paths.tenant,
        None,
    ));
    out.push(call(
        ivr,
        "GET",
        names.vm.to_string(),
        COMPUTE_API,
        &t2,
        Some("an existing VM of this deployment is reused, any other is a conflict".into()),
    ));
    if let Some(secret) = &req.vm.admin_password_secret_id {
        out.push(Call {
            when: Some(
                "Windows: read with the app's home-tenant token; nothing is written if it fails",
            ),
            ..call(
                ivr,
                "GET",
                secret.clone(),
                "7.4",
                "home tenant (AZURE_TENANT_ID)",
                None,
            )
        });
    }
    out.push(call(
        ivr,
        "GET",
        names.resource_group.to_string(),
        RESOURCES_API,
        &t2,
        None,
    ));
    if create_rg {
        let b = json(&bodies::resource_group(req));
        out.push(Call {
            when: Some("only if the group does not exist"),
            ..call(
                ivr,
                "PUT",
                names.resource_group.to_string(),
                RESOURCES_API,
                &t2,
                Some(format!("location {}", s(&b, "/location"))),
            )
        });
    }
    if req.network.subnet_id.is_none() {
        let b = json(&bodies::virtual_network(req));
        out.push(call(
            ivr,
            "PUT",
            names.vnet.to_string(),
            NETWORK_API,
            &t2,
            Some(format!(
                "address space {}; subnet {} {}",
                join(&b, "/properties/addressSpace/addressPrefixes"),
                s(&b, "/properties/subnets/0/name"),
                s(&b, "/properties/subnets/0/properties/addressPrefix")
            )),
        ));
    }
    let nsg = json(&bodies::network_security_group(req, facts.os_type));
    let rules: Vec<String> = nsg
        .pointer("/properties/securityRules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|r| {
                    let p = &r["properties"];
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
                })
                .collect()
        })
        .unwrap_or_default();
    out.push(call(
        ivr,
        "PUT",
        names.nsg.to_string(),
        NETWORK_API,
        &t2,
        Some(rules.join("; ")),
    ));
    if req.vm.public_ip {
        let b = json(&bodies::public_ip(req));
        out.push(call(
            ivr,
            "PUT",
            names.public_ip.to_string(),
            NETWORK_API,
            &t2,
            Some(format!(
                "sku {}, {} allocation",
                s(&b, "/sku/name"),
                s(&b, "/properties/publicIPAllocationMethod")
            )),
        ));
    }
    let nic = json(&bodies::network_interface(req, &names));
    out.push(call(
        ivr,
        "PUT",
        names.nic.to_string(),
        NETWORK_API,
        &t2,
        Some(format!(
            "subnet {}{}{}",
            s(&nic, "/properties/ipConfigurations/0/properties/subnet/id"),
            Some(s(
                &nic,
                "/properties/ipConfigurations/0/properties/publicIPAddress/id"
            ))
            .filter(|p| !p.is_empty())
            .map(|p| format!(", public IP {p}"))
            .unwrap_or_default(),
            Some(s(&nic, "/properties/networkSecurityGroup/id"))
                .filter(|p| !p.is_empty())
                .map(|p| format!(", NSG {p}"))
                .unwrap_or_default(),
        )),
    ));
    let computer_name = os_profile::computer_name(&req.vm.name, facts.os_type, facts.os_state)
        .map_err(|e| format!("vm.name: {e}"))?;
    let vm = json(&bodies::virtual_machine(
        req,
        image,
        info,
        &names,
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
    // The handler's rule: a gallery image from another tenant goes with an auxiliary token for it.
    let aux = match (image, req.image.tenant_id.as_deref()) {
        (ImageId::Gallery { .. }, Some(t1)) if !t1.eq_ignore_ascii_case(&t2) => Some(t1.to_owned()),
        _ => None,
    };
    out.push(Call {
        auxiliary_tenant: aux,
        ..call(
            ivr,
            "PUT",
            names.vm.to_string(),
            COMPUTE_API,
            &t2,
            Some(format!(
                "size {}; image {image_ref}; {os}{}",
                s(&vm, "/properties/hardwareProfile/vmSize"),
                if facts.trusted_launch {
                    "; Trusted Launch"
                } else {
                    ""
                }
            )),
        )
    });
    out.push(Call {
        when: Some("every IMAGEFERRY_PROVISIONING_POLL until Succeeded or Failed, then the NIC and public IP for the addresses"),
        ..call(Step::VmProvisioning, "GET", "the VM create's Azure-AsyncOperation URL, or the VM".into(), COMPUTE_API, &t2, None)
    });
    Ok(out)
}

/// Runs `plan`.
pub async fn run(args: Args) -> Exit {
    let body = match args.req.build() {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let req: DeploymentRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => return usage_error(format!("the request does not decode: {e}")),
    };
    let image = match req.validate() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("imageferry: rejected: {e}");
            return Exit::Rejected;
        }
    };
    let inferred = ImageInfo {
        facts: ImageFacts {
            os_type: if req.vm.ssh_public_key.is_some() {
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
            match session
                .arm()
                .get::<GalleryImage>(
                    &paths.tenant,
                    &paths.definition.to_string(),
                    GALLERY_API,
                    &[],
                )
                .await
            {
                Ok(def) => match image_info(&def, image.version()) {
                    Ok(f) => {
                        source = "read from the image definition";
                        if let Err(e) = req.validate_for_image(&f.facts) {
                            eprintln!(
                                "imageferry: rejected: the handler would reject this request: {e}"
                            );
                            return Exit::Rejected;
                        }
                        f
                    }
                    Err(e) => {
                        eprintln!("imageferry: rejected: {e}");
                        return Exit::Rejected;
                    }
                },
                Err(e) => {
                    eprintln!(
                        "imageferry: cannot read the image definition ({e}); planning with facts inferred from the request (`imageferry doctor` finds the cause)."
                    );
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
            "no app credential is configured (AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, or a managed identity): the checks run as the app, not as your Azure CLI login; `imageferry doctor` runs them with it",
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
    println!("plan for {} (image facts {source})", req.deployment_id);
    for (i, c) in calls.iter().enumerate() {
        println!(
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
        println!("      token: {}{aux}", c.tenant);
        if let Some(b) = &c.body {
            println!("      body: {b}");
        }
        if let Some(w) = c.when {
            println!("      when: {w}");
        }
    }
    match &checks {
        Ok(report) => {
            println!("checks (as `imageferry doctor`):");
            report.print_human();
        }
        Err(why) => println!("checks skipped: {why}"),
    }
    exit
}
