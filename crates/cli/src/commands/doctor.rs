//! `imageferry doctor`: a preflight of one target, in both tenants, as the app itself. Every line
//! is ✓ or ✗ with the fix; the exit code is 1 when any line is ✗.
//!
//! Checks, in order: a token in the gallery's tenant and in the target tenant (AADSTS700016 →
//! not consented, with the consent URL); the image version readable with the tenant-1 token
//! (Reader on the gallery); the version's replication to the target region; the target resource
//! group; the permissions on it (`Microsoft.Authorization/permissions`) against every action the
//! network, VM and resource-group writes need; the allow-lists; the Key Vault secret of a Windows
//! password.

use crate::commands::consent_url::consent_url;
use crate::commands::request_args::RequestArgs;
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::{Credential, Session};
use azure_clients::models::{GalleryImageVersion, ProvisioningState, ReplicationState};
use azure_clients::{KeyVaultSecrets, RetryPolicy, TokenError};
use imageferry_contract::{DeploymentRequest, ImageId};
use imageferry_handlers::names::{GALLERY_API, RESOURCES_API};
use serde::{Deserialize, Serialize};

/// API version of `Microsoft.Authorization/permissions`.
pub const PERMISSIONS_API: &str = "2022-04-01";

/// Arguments of `doctor`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    req: RequestArgs,
    /// The deployed app's `IMAGEFERRY_ALLOWED_GALLERIES` (default: the variable).
    #[arg(long, env = "IMAGEFERRY_ALLOWED_GALLERIES")]
    allowed_galleries: Option<String>,
    /// The deployed app's `IMAGEFERRY_ALLOWED_TARGETS` (default: the variable).
    #[arg(long, env = "IMAGEFERRY_ALLOWED_TARGETS")]
    allowed_targets: Option<String>,
    /// Whether the app may create a missing resource group (`IMAGEFERRY_CREATE_RESOURCE_GROUP`).
    #[arg(long, env = "IMAGEFERRY_CREATE_RESOURCE_GROUP")]
    create_resource_group: Option<bool>,
    #[command(flatten)]
    out: OutputArgs,
}

/// One line of the report.
#[derive(Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// ✓ or ✗.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it (✗ lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.0.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        });
    }
    fn bad(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        });
    }
}

/// `PermissionGetResult`.
#[derive(Deserialize)]
struct Permissions {
    #[serde(default)]
    value: Vec<Permission>,
}

/// `Permission`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Permission {
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    not_actions: Vec<String>,
}

/// Whether RBAC `pattern` (with `*` wildcards, case-insensitive) matches `action`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn m(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| m(rest, &a[i..])),
            Some((c, rest)) => {
                a.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && m(rest, &a[1..])
            }
        }
    }
    m(pattern.as_bytes(), action.as_bytes())
}

fn granted(perms: &[Permission], action: &str) -> bool {
    perms.iter().any(|p| {
        p.actions.iter().any(|a| action_matches(a, action))
            && !p.not_actions.iter().any(|n| action_matches(n, action))
    })
}

/// The actions the pipeline's writes in the target resource group need.
pub fn required_actions(req: &DeploymentRequest, create_rg: bool) -> Vec<&'static str> {
    let mut v = vec!["Microsoft.Resources/subscriptions/resourceGroups/read"];
    if create_rg {
        v.push("Microsoft.Resources/subscriptions/resourceGroups/write");
    }
    if req.network.subnet_id.is_none() {
        v.extend([
            "Microsoft.Network/virtualNetworks/write",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.Network/networkSecurityGroups/write",
            "Microsoft.Network/networkSecurityGroups/join/action",
        ]);
    }
    if req.vm.public_ip {
        v.extend([
            "Microsoft.Network/publicIPAddresses/write",
            "Microsoft.Network/publicIPAddresses/join/action",
        ]);
    }
    v.extend([
        "Microsoft.Network/networkInterfaces/write",
        "Microsoft.Network/networkInterfaces/join/action",
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Compute/virtualMachines/read",
    ]);
    v
}

/// Runs `doctor`.
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
        Err(e) => return usage_error(format!("the request is invalid: {e}")),
    };
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let app = std::env::var("AZURE_CLIENT_ID").unwrap_or_else(|_| "<app client id>".into());
    let mut r = Report::default();
    if session.credential == Credential::AzureCli {
        r.bad(
            "credential",
            "no app credential configured: checks run as your Azure CLI login, not as the app",
            "set AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a certificate / federated token) to check as the app",
        );
    }
    let t2 = req.target.tenant_id.clone();
    let t1 = req
        .image
        .tenant_id
        .clone()
        .filter(|_| image.needs_aux_token());

    // 1. Tokens in both tenants.
    let t1_ok = match &t1 {
        Some(t1) => token_ok(&mut r, &session, t1, "gallery tenant").await,
        None => {
            r.ok(
                "token in gallery tenant",
                format!("{image}: a shared/community gallery needs no tenant-1 token"),
            );
            false
        }
    };
    let t2_ok = token_ok(&mut r, &session, &t2, "target tenant").await;
    let arm = session.arm();

    // 2. The image version as tenant 1 (Reader), and 3. its replication to the region.
    if let (Some(t1), true, ImageId::Gallery { .. }) = (&t1, t1_ok, &image) {
        let path = image.to_string();
        match arm
            .get::<GalleryImageVersion>(t1, &path, GALLERY_API, &[("$expand", "ReplicationStatus")])
            .await
        {
            Ok(v) => {
                r.ok("image version readable as tenant 1", path.clone());
                replication(&mut r, &v, &req.target.location);
            }
            Err(e) if e.code() == "AuthorizationFailed" => r.bad(
                "image version readable as tenant 1",
                format!("the app may not read {path} (AuthorizationFailed): Reader is missing"),
                format!(
                    "in tenant {t1}: az role assignment create --assignee {app} --role Reader --scope {}",
                    image.gallery_id()
                ),
            ),
            Err(e) if is_not_found(&e) => r.bad(
                "image version readable as tenant 1",
                format!("{path} does not exist ({})", e.code()),
                "check the image version id (subscription, resource group, gallery, definition, version)",
            ),
            Err(e) => r.bad("image version readable as tenant 1", e.to_string(), e.hint().unwrap_or_else(|| "see the error".into())),
        }
    }

    if t1.is_some() && !t1_ok {
        r.bad(
            "image version readable as tenant 1",
            "not checked: no token in the gallery's tenant",
            "fix the token line above first",
        );
    }
    if !t2_ok {
        r.bad(
            "target resource group and permissions",
            "not checked: no token in the target tenant",
            "fix the token line above first",
        );
    }

    // 4. The target resource group, and 5. the permissions there.
    let t = &req.target;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/{}",
        t.subscription_id, t.resource_group
    );
    let create_rg = args.create_resource_group.unwrap_or(false);
    if t2_ok {
        match arm.get::<serde_json::Value>(&t2, &rg, RESOURCES_API, &[]).await {
            Ok(_) => r.ok("target resource group", rg.clone()),
            Err(e) if is_not_found(&e) && create_rg => r.ok(
                "target resource group",
                format!("{rg} does not exist; the app creates it (IMAGEFERRY_CREATE_RESOURCE_GROUP=true)"),
            ),
            Err(e) if is_not_found(&e) => r.bad(
                "target resource group",
                format!("{rg} does not exist"),
                format!("create it (az group create -n {} -l {} --subscription {}) or set IMAGEFERRY_CREATE_RESOURCE_GROUP=true with Contributor on the subscription", t.resource_group, t.location, t.subscription_id),
            ),
            Err(e) if e.code() == "AuthorizationFailed" => r.bad(
                "target resource group",
                format!("the app may not read {rg} (AuthorizationFailed): Contributor is missing there, or the group does not exist"),
                format!("{} (create the group first if it does not exist)", contributor_fix(&app, &t2, &rg)),
            ),
            Err(e) if e.code() == "InvalidAuthenticationTokenTenant" || e.code() == "SubscriptionNotFound" => r.bad(
                "target resource group",
                format!("subscription {} is not in tenant {t2} ({})", t.subscription_id, e.code()),
                "check target.tenantId and target.subscriptionId",
            ),
            Err(e) => r.bad("target resource group", e.to_string(), e.hint().unwrap_or_else(|| "see the error".into())),
        }
        let scope = if create_rg {
            format!("/subscriptions/{}", t.subscription_id)
        } else {
            rg.clone()
        };
        let path = format!("{scope}/providers/Microsoft.Authorization/permissions");
        match arm.list_permissions(&t2, &path).await {
            Ok(perms) => {
                let missing: Vec<&str> = required_actions(&req, create_rg)
                    .into_iter()
                    .filter(|a| !granted(&perms, a))
                    .collect();
                if missing.is_empty() {
                    r.ok(
                        "permissions in the target resource group",
                        format!("every network, VM and resource-group action on {scope}"),
                    );
                } else {
                    r.bad(
                        "permissions in the target resource group",
                        format!("missing on {scope}: {}", missing.join(", ")),
                        contributor_fix(&app, &t2, &scope),
                    );
                }
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => r.bad(
                "permissions in the target resource group",
                e.to_string(),
                contributor_fix(&app, &t2, &scope),
            ),
        }
    }

    // 6. Allow-lists of the deployed app.
    allow_lists(&mut r, &args, &req, &image);

    // 7. Key Vault secret of a Windows password.
    if let Some(secret) = &req.vm.admin_password_secret_id {
        let home = std::env::var("AZURE_TENANT_ID").unwrap_or_default();
        let kv = KeyVaultSecrets::new(
            &session.endpoints,
            session.tokens.clone(),
            RetryPolicy::default(),
        );
        match kv.get(secret, &home).await {
            Ok(_) => r.ok("Key Vault secret readable", secret.clone()),
            Err(e) => r.bad(
                "Key Vault secret readable",
                e.to_string(),
                format!("grant the app the role Key Vault Secrets User on the secret or vault (az role assignment create --assignee {app} --role \"Key Vault Secrets User\" --scope <vault id>)"),
            ),
        }
    }

    let ok = r.0.iter().all(|c| c.ok);
    if args.out.json() {
        print_json(&serde_json::json!({"ok": ok, "checks": r.0}));
    } else {
        for c in &r.0 {
            println!("{} {}: {}", if c.ok { "✓" } else { "✗" }, c.name, c.detail);
            if let Some(f) = &c.fix {
                println!("    fix: {f}");
            }
        }
    }
    if ok { Exit::Succeeded } else { Exit::Failed }
}

/// A token for ARM in `tenant`: ✓, or ✗ with the consent URL for AADSTS700016.
async fn token_ok(r: &mut Report, session: &Session, tenant: &str, role: &str) -> bool {
    let name = format!("token in {role} {tenant}");
    match session
        .tokens
        .token(tenant, &session.endpoints.arm_scope)
        .await
    {
        Ok(_) => {
            r.ok(&name, "the app signs in there");
            true
        }
        Err(TokenError::AppNotConsented {
            consent_url: url,
            client_id,
            ..
        }) => {
            r.bad(
                &name,
                format!("AADSTS700016: app {client_id} is not consented in tenant {tenant}"),
                format!("an administrator of {tenant} opens {url}"),
            );
            false
        }
        Err(e) => {
            let fix = match e.aadsts_code() {
                Some("90002") => "check the tenant id".to_owned(),
                _ => format!(
                    "fix the app's credential; if the app is not consented there: {}",
                    consent_url(tenant, &app_id())
                ),
            };
            r.bad(&name, e.to_string(), fix);
            false
        }
    }
}

fn app_id() -> String {
    std::env::var("AZURE_CLIENT_ID").unwrap_or_else(|_| "<app client id>".into())
}

fn is_not_found(e: &azure_clients::ArmError) -> bool {
    matches!(e, azure_clients::ArmError::NotFound { .. })
}

fn contributor_fix(app: &str, tenant: &str, scope: &str) -> String {
    format!(
        "in tenant {tenant}: az role assignment create --assignee {app} --role Contributor --scope {scope}"
    )
}

fn replication(r: &mut Report, v: &GalleryImageVersion, region: &str) {
    const NAME: &str = "replicated to the target region";
    if !v.targets_region(region) {
        let regions: Vec<String> = v
            .properties
            .publishing_profile
            .as_ref()
            .map(|p| p.target_regions.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default();
        r.bad(
            NAME,
            format!("the version does not replicate to {region}; it targets {}", regions.join(", ")),
            format!("add {region} to the version's target regions (az sig image-version update … --add publishingProfile.targetRegions name={region}) or pick a listed region"),
        );
        return;
    }
    let status = v.region_status(region);
    if v.is_ready_in(region) {
        r.ok(NAME, format!("{region}: Completed"));
    } else if status.and_then(|s| s.state.clone()) == Some(ReplicationState::Failed)
        || v.properties.provisioning_state == Some(ProvisioningState::Failed)
    {
        r.bad(
            NAME,
            format!("replication to {region} failed"),
            "fix or re-publish the image version",
        );
    } else {
        let pc = status
            .and_then(|s| s.progress)
            .map(|p| format!(" {p}%"))
            .unwrap_or_default();
        r.ok(
            NAME,
            format!("{region}: replicating{pc} (the pipeline waits for it)"),
        );
    }
}

fn allow_lists(r: &mut Report, args: &Args, req: &DeploymentRequest, image: &ImageId) {
    let (Some(g), Some(t)) = (&args.allowed_galleries, &args.allowed_targets) else {
        r.bad(
            "allow-lists",
            "not checked: the deployed app's IMAGEFERRY_ALLOWED_GALLERIES / IMAGEFERRY_ALLOWED_TARGETS are not known here",
            "pass --allowed-galleries and --allowed-targets (the Function App's settings: az functionapp config appsettings list)",
        );
        return;
    };
    let vars = |k: &str| match k {
        "IMAGEFERRY_ALLOWED_GALLERIES" => Some(g.clone()),
        "IMAGEFERRY_ALLOWED_TARGETS" => Some(t.clone()),
        "AZURE_TENANT_ID" => {
            Some(std::env::var("AZURE_TENANT_ID").unwrap_or_else(|_| "doctor".into()))
        }
        _ => None,
    };
    let config = match imageferry_handlers::Config::from_vars(vars) {
        Ok(c) => c,
        Err(e) => {
            r.bad("allow-lists", e.to_string(), "fix the setting's syntax");
            return;
        }
    };
    if config.gallery_allowed(image) {
        r.ok("gallery allowed", image.gallery_id());
    } else {
        r.bad(
            "gallery allowed",
            format!(
                "{} is not in IMAGEFERRY_ALLOWED_GALLERIES",
                image.gallery_id()
            ),
            format!("add {} to IMAGEFERRY_ALLOWED_GALLERIES", image.gallery_id()),
        );
    }
    let tg = &req.target;
    if config.target_allowed(&tg.tenant_id, &tg.subscription_id, &tg.resource_group) {
        r.ok(
            "target allowed",
            format!(
                "{}/{}/{}",
                tg.tenant_id, tg.subscription_id, tg.resource_group
            ),
        );
    } else {
        r.bad(
            "target allowed",
            format!(
                "{}/{}/{} is not in IMAGEFERRY_ALLOWED_TARGETS",
                tg.tenant_id, tg.subscription_id, tg.resource_group
            ),
            format!(
                "add {}/{} (or …/{}) to IMAGEFERRY_ALLOWED_TARGETS",
                tg.tenant_id, tg.subscription_id, tg.resource_group
            ),
        );
    }
}

/// `list_permissions` on the ARM client: GET of a permissions list (follows no nextLink: the
/// answer for one scope is one page).
trait PermissionsExt {
    async fn list_permissions(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<Vec<Permission>, azure_clients::ArmError>;
}

impl PermissionsExt for azure_clients::ArmClient {
    async fn list_permissions(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<Vec<Permission>, azure_clients::ArmError> {
        let p: Permissions = self.get(tenant, path, PERMISSIONS_API, &[]).await?;
        Ok(p.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_wildcards_and_not_actions() {
        assert!(action_matches(
            "*",
            "Microsoft.Compute/virtualMachines/write"
        ));
        assert!(action_matches(
            "*/read",
            "Microsoft.Compute/virtualMachines/read"
        ));
        assert!(!action_matches(
            "*/read",
            "Microsoft.Compute/virtualMachines/write"
        ));
        assert!(action_matches(
            "microsoft.network/*",
            "Microsoft.Network/virtualNetworks/write"
        ));
        let contributor = [Permission {
            actions: vec!["*".into()],
            not_actions: vec!["Microsoft.Authorization/*/Write".into()],
        }];
        assert!(granted(
            &contributor,
            "Microsoft.Compute/virtualMachines/write"
        ));
        assert!(!granted(
            &contributor,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        let reader = [Permission {
            actions: vec!["*/read".into()],
            not_actions: vec![],
        }];
        assert!(!granted(
            &reader,
            "Microsoft.Network/networkInterfaces/join/action"
        ));
    }
}
