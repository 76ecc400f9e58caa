//! `imageferry doctor`: a preflight of one target, in both tenants, as the app itself. Every line
//! is ✓ or ✗ with the fix; the exit code is 1 when any line is ✗. `plan` runs the same checks
//! ([`check`]) after its list of calls.
//!
//! Checks, in order: a token in the gallery's tenant and in the target tenant (AADSTS700016 →
//! not consented, with the consent URL); the image version readable with the tenant-1 token
//! (Reader on the gallery); the version's replication to the target region; the target resource
//! group; the permissions the pipeline needs there (`Microsoft.Authorization/permissions`)
//! against [`PIPELINE_ACTIONS`], the one list of the actions the handler's ARM calls need, which
//! is also the list of the least-privilege roles of `infra/target/main.bicep` (a test compares
//! them); the allow-lists; the Key Vault secret of a Windows password.

use crate::commands::consent_url::consent_url;
use crate::commands::request_args::RequestArgs;
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::{Credential, Session};
use azure_clients::models::{
    AUTHORIZATION_API, GalleryImage, GalleryImageVersion, PermissionList, ProvisioningState,
    ReplicationState, permissions_path,
};
use azure_clients::{KeyVaultSecrets, RetryPolicy, TokenError};
use imageferry_contract::{DeploymentRequest, ImageId, ResourceId, ResourceIdError};
use imageferry_handlers::names::{GALLERY_API, RESOURCES_API, TargetNames};
use serde::Serialize;

/// Which least-privilege role of `infra/target/main.bicep` grants an action, and so the scope it
/// is assigned at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetRole {
    /// *imageferry VM deployer* (`deployerActions`), on the target resource group.
    Deployer,
    /// *imageferry resource group creator* (`resourceGroupCreatorActions`), on the subscription,
    /// deployed with `allowCreateResourceGroup=true` for `IMAGEFERRY_CREATE_RESOURCE_GROUP=true`.
    ResourceGroupCreator,
    /// *imageferry shared image reader* (`sharedImageReaderActions`), on the subscription,
    /// deployed with `allowSharedGalleryImages=true` for direct-shared and community images.
    SharedImageReader,
    /// *imageferry Marketplace terms reader* (`marketplaceTermsReaderActions`), on the
    /// subscription (`allowMarketplaceTermsCheck`, on by default), for images with a purchase plan.
    MarketplaceTermsReader,
}

impl TargetRole {
    /// The variable of `infra/target/main.bicep` that lists the role's actions.
    pub const fn bicep_variable(self) -> &'static str {
        match self {
            TargetRole::Deployer => "deployerActions",
            TargetRole::ResourceGroupCreator => "resourceGroupCreatorActions",
            TargetRole::SharedImageReader => "sharedImageReaderActions",
            TargetRole::MarketplaceTermsReader => "marketplaceTermsReaderActions",
        }
    }

    /// The built-in role that also grants these actions (broader), for a fix without the
    /// least-privilege template: Reader for the terms read, Contributor for the rest.
    pub const fn builtin_fallback(self) -> &'static str {
        match self {
            TargetRole::MarketplaceTermsReader => "Reader",
            _ => "Contributor",
        }
    }
}

/// Which requests make the pipeline perform an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Every request.
    Always,
    /// No `network.subnetId`: the pipeline builds `{vm}-vnet` with its subnet.
    OwnNetwork,
    /// `vm.publicIp`.
    PublicIp,
    /// `IMAGEFERRY_CREATE_RESOURCE_GROUP=true`.
    CreateResourceGroup,
    /// A `/SharedGalleries/…` image, read with the tenant-2 token.
    SharedImage,
    /// A `/CommunityGalleries/…` image, read with the tenant-2 token.
    CommunityImage,
    /// An image whose definition carries a `purchasePlan` (built from a Marketplace image).
    MarketplacePlan,
}

/// One action of the pipeline's ARM calls in the target subscription.
#[derive(Debug, Clone, Copy)]
pub struct PipelineAction {
    /// The RBAC action.
    pub action: &'static str,
    /// The role of `infra/target/main.bicep` that grants it.
    pub role: TargetRole,
    /// Which requests need it.
    pub when: When,
    /// The call that needs it (handlers/src/steps/image_version_replicated.rs, vm_provisioning.rs).
    pub why: &'static str,
}

const fn act(
    action: &'static str,
    role: TargetRole,
    when: When,
    why: &'static str,
) -> PipelineAction {
    PipelineAction {
        action,
        role,
        when,
        why,
    }
}

/// The subnet join: checked on the subnet itself when the request names an existing one.
const SUBNET_JOIN: &str = "Microsoft.Network/virtualNetworks/subnets/join/action";

/// Every action the pipeline's ARM calls in the target subscription need, in call order: the
/// single source of the least-privilege roles (`infra/target/main.bicep` lists exactly these,
/// per role; docs/ONBOARDING.md explains them).
pub const PIPELINE_ACTIONS: &[PipelineAction] = {
    use TargetRole::{Deployer, MarketplaceTermsReader, ResourceGroupCreator, SharedImageReader};
    use When::*;
    &[
        act(
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            Deployer,
            Always,
            "GET of the target resource group before any write",
        ),
        act(
            "Microsoft.Network/virtualNetworks/read",
            Deployer,
            OwnNetwork,
            "GET of {vm}-vnet when its PUT's operation ends, and on a continuation",
        ),
        act(
            "Microsoft.Network/virtualNetworks/write",
            Deployer,
            OwnNetwork,
            "PUT of {vm}-vnet with its subnet {vm}-subnet in the body",
        ),
        act(
            "Microsoft.Network/virtualNetworks/subnets/read",
            Deployer,
            OwnNetwork,
            "the subnet {vm}-subnet, created inside the VNet's PUT (kept in the role: Azure's network permissions list it for subnets; not verified against Azure here)",
        ),
        act(
            "Microsoft.Network/virtualNetworks/subnets/write",
            Deployer,
            OwnNetwork,
            "the subnet {vm}-subnet in the VNet's PUT body (kept in the role: Azure's network permissions list subnets/write for creating a subnet; a missing one would fail only on real Azure)",
        ),
        act(
            SUBNET_JOIN,
            Deployer,
            Always,
            "the NIC's IP configuration joins the subnet (linked access check)",
        ),
        act(
            "Microsoft.Network/networkSecurityGroups/read",
            Deployer,
            Always,
            "GET of {vm}-nsg when its PUT's operation ends, and on a continuation",
        ),
        act(
            "Microsoft.Network/networkSecurityGroups/write",
            Deployer,
            Always,
            "PUT of {vm}-nsg (SSH 22 or RDP 3389 from allowInboundFrom)",
        ),
        act(
            "Microsoft.Network/networkSecurityGroups/join/action",
            Deployer,
            Always,
            "the NIC names the NSG (linked access check)",
        ),
        act(
            "Microsoft.Network/publicIPAddresses/read",
            Deployer,
            PublicIp,
            "GET of {vm}-pip when its PUT ends, and for the address in `succeeded`",
        ),
        act(
            "Microsoft.Network/publicIPAddresses/write",
            Deployer,
            PublicIp,
            "PUT of {vm}-pip (Standard, static)",
        ),
        act(
            "Microsoft.Network/publicIPAddresses/join/action",
            Deployer,
            PublicIp,
            "the NIC's IP configuration names the public IP (linked access check)",
        ),
        act(
            "Microsoft.Network/networkInterfaces/read",
            Deployer,
            Always,
            "GET of {vm}-nic when its PUT ends, and for the private address in `succeeded`",
        ),
        act(
            "Microsoft.Network/networkInterfaces/write",
            Deployer,
            Always,
            "PUT of {vm}-nic",
        ),
        act(
            "Microsoft.Network/networkInterfaces/join/action",
            Deployer,
            Always,
            "the VM names the NIC (linked authorization check)",
        ),
        act(
            "Microsoft.Compute/virtualMachines/read",
            Deployer,
            Always,
            "GET of an existing VM of that name, and the provisioning polls",
        ),
        act(
            "Microsoft.Compute/virtualMachines/write",
            Deployer,
            Always,
            "PUT of the VM, with the auxiliary tenant-1 token",
        ),
        act(
            "Microsoft.Compute/disks/read",
            Deployer,
            Always,
            "the VM PUT creates the OS managed disk in the resource group",
        ),
        act(
            "Microsoft.Compute/disks/write",
            Deployer,
            Always,
            "the VM PUT creates the OS managed disk in the resource group",
        ),
        act(
            "Microsoft.Compute/locations/operations/read",
            Deployer,
            Always,
            "the VM create's Azure-AsyncOperation, polled by vm-provisioning",
        ),
        act(
            "Microsoft.Network/locations/operations/read",
            Deployer,
            Always,
            "the network PUTs' Azure-AsyncOperation, polled until they end",
        ),
        act(
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            ResourceGroupCreator,
            CreateResourceGroup,
            "GET of the group before it is created",
        ),
        act(
            "Microsoft.Resources/subscriptions/resourceGroups/write",
            ResourceGroupCreator,
            CreateResourceGroup,
            "PUT of the missing resource group",
        ),
        act(
            "Microsoft.Compute/locations/sharedGalleries/images/read",
            SharedImageReader,
            SharedImage,
            "GET of the shared image definition (OS type and state, features)",
        ),
        act(
            "Microsoft.Compute/locations/sharedGalleries/images/versions/read",
            SharedImageReader,
            SharedImage,
            "GET of the shared version in the target region",
        ),
        act(
            "Microsoft.Compute/locations/communityGalleries/images/read",
            SharedImageReader,
            CommunityImage,
            "GET of the community image definition (OS type and state, features)",
        ),
        act(
            "Microsoft.Compute/locations/communityGalleries/images/versions/read",
            SharedImageReader,
            CommunityImage,
            "GET of the community version in the target region",
        ),
        act(
            "Microsoft.MarketplaceOrdering/offertypes/publishers/offers/plans/agreements/read",
            MarketplaceTermsReader,
            MarketplacePlan,
            "GET of the plan's terms agreement before the first write (else the VM PUT reports unaccepted terms after the network exists)",
        ),
    ]
};

impl PipelineAction {
    /// Whether `req` (with `image`, whose definition has a purchase plan when `plan`) makes the
    /// pipeline perform this action.
    pub fn needed_by(
        &self,
        req: &DeploymentRequest,
        image: &ImageId,
        create_rg: bool,
        plan: bool,
    ) -> bool {
        match self.when {
            When::Always => true,
            When::OwnNetwork => req.network.subnet_id.is_none(),
            When::PublicIp => req.vm.public_ip,
            When::CreateResourceGroup => create_rg,
            When::SharedImage => matches!(image, ImageId::Shared { .. }),
            When::CommunityImage => matches!(image, ImageId::Community { .. }),
            When::MarketplacePlan => plan,
        }
    }
}

/// The actions `req` needs from `role`.
pub fn required_actions(
    req: &DeploymentRequest,
    image: &ImageId,
    create_rg: bool,
    plan: bool,
    role: TargetRole,
) -> Vec<&'static str> {
    PIPELINE_ACTIONS
        .iter()
        .filter(|a| a.role == role && a.needed_by(req, image, create_rg, plan))
        .map(|a| a.action)
        .collect()
}

/// The deployed app's settings the checks need besides the request (shared by `doctor` and `plan`).
#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// The deployed app's `IMAGEFERRY_ALLOWED_GALLERIES` (default: the variable).
    #[arg(long, env = "IMAGEFERRY_ALLOWED_GALLERIES")]
    allowed_galleries: Option<String>,
    /// The deployed app's `IMAGEFERRY_ALLOWED_TARGETS` (default: the variable).
    #[arg(long, env = "IMAGEFERRY_ALLOWED_TARGETS")]
    allowed_targets: Option<String>,
    /// Whether the app may create a missing resource group (`IMAGEFERRY_CREATE_RESOURCE_GROUP`).
    #[arg(long, env = "IMAGEFERRY_CREATE_RESOURCE_GROUP")]
    create_resource_group: Option<bool>,
}

impl CheckArgs {
    /// `IMAGEFERRY_CREATE_RESOURCE_GROUP` (default false).
    pub fn create_resource_group(&self) -> bool {
        self.create_resource_group.unwrap_or(false)
    }
}

/// Arguments of `doctor`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    req: RequestArgs,
    #[command(flatten)]
    checks: CheckArgs,
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
    /// Permission lines: the role of `infra/target/main.bicep` the actions belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<TargetRole>,
    /// Permission lines: the scope checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Permission lines: the actions checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<&'static str>,
    /// Permission lines: the actions missing, each with the call that needs it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
}

/// An action the pipeline needs and the scope does not grant.
#[derive(Debug, Serialize)]
pub struct Missing {
    /// The RBAC action.
    pub action: &'static str,
    /// The call that needs it.
    pub why: &'static str,
}

/// Every line of one run of the checks.
#[derive(Default, Debug, Serialize)]
pub struct Report {
    /// The lines, in order.
    pub checks: Vec<Check>,
}

impl Report {
    fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
            role: None,
            scope: None,
            actions: Vec::new(),
            missing: Vec::new(),
        });
    }
    fn bad(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
            role: None,
            scope: None,
            actions: Vec::new(),
            missing: Vec::new(),
        });
    }

    /// Whether every line is ✓.
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The lines for people: `✓ name: detail`, `✗ name: detail` and `    fix: …`.
    pub fn print_human(&self) {
        for c in &self.checks {
            println!("{} {}: {}", if c.ok { "✓" } else { "✗" }, c.name, c.detail);
            if let Some(f) = &c.fix {
                println!("    fix: {f}");
            }
            for m in &c.missing {
                println!("    {}: {}", m.action, m.why);
            }
        }
    }
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
    let r = match check(&session, &req, &image, &args.checks).await {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let ok = r.all_ok();
    if args.out.json() {
        print_json(&serde_json::json!({"ok": ok, "checks": r.checks}));
    } else {
        r.print_human();
    }
    if ok { Exit::Succeeded } else { Exit::Failed }
}

/// Every check of `doctor` for `req` (validated as `image`), as `session`'s credential. `Err` is
/// a request whose target ids are not valid ARM ids.
pub async fn check(
    session: &Session,
    req: &DeploymentRequest,
    image: &ImageId,
    args: &CheckArgs,
) -> Result<Report, ResourceIdError> {
    let names = TargetNames::of(req)?;
    let subscription = ResourceId::subscription(&req.target.subscription_id)?;
    let app = app_id();
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
        Some(t1) => token_ok(&mut r, session, t1, "gallery tenant").await,
        None => {
            r.ok(
                "token in gallery tenant",
                format!("{image}: a shared/community gallery needs no tenant-1 token"),
            );
            false
        }
    };
    let t2_ok = token_ok(&mut r, session, &t2, "target tenant").await;
    let arm = session.arm();

    // 2. The image version as tenant 1 (Reader), and 3. its replication to the region.
    let mut plan = false;
    if let (Some(t1), true, ImageId::Gallery { .. }) = (&t1, t1_ok, image) {
        let path = image.to_string();
        match arm
            .get::<GalleryImageVersion>(t1, &path, GALLERY_API, &[("$expand", "ReplicationStatus")])
            .await
        {
            Ok(v) => {
                r.ok("image version readable as tenant 1", path.clone());
                replication(&mut r, &v, &req.target.location);
                plan = purchase_plan(&arm, t1, image).await;
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

    // 4. The target resource group, and 5. the permissions the pipeline needs.
    let t = &req.target;
    let rg = &names.resource_group;
    let create_rg = args.create_resource_group();
    let role = RoleFix {
        app: &app,
        req,
        image,
        create_rg,
    };
    if t2_ok {
        let mut rg_exists = true;
        match arm.get::<serde_json::Value>(&t2, &rg.to_string(), RESOURCES_API, &[]).await {
            Ok(_) => r.ok("target resource group", rg.to_string()),
            Err(e) if is_not_found(&e) && create_rg => {
                rg_exists = false;
                r.ok(
                    "target resource group",
                    format!("{rg} does not exist; the app creates it (IMAGEFERRY_CREATE_RESOURCE_GROUP=true)"),
                );
            }
            Err(e) if is_not_found(&e) => {
                rg_exists = false;
                r.bad(
                    "target resource group",
                    format!("{rg} does not exist"),
                    format!(
                        "{} (it creates the group and the deployer role on it), or set IMAGEFERRY_CREATE_RESOURCE_GROUP=true on the app and deploy it with allowCreateResourceGroup=true",
                        role.deploy(false)
                    ),
                );
            }
            Err(e) if e.code() == "AuthorizationFailed" => r.bad(
                "target resource group",
                format!("the app may not read {rg} (AuthorizationFailed): the imageferry VM deployer role (or Contributor) is missing there, or the group does not exist"),
                format!("{} (it creates the group if it does not exist); {}", role.deploy(false), role.fallback(TargetRole::Deployer, rg)),
            ),
            Err(e) if e.code() == "InvalidAuthenticationTokenTenant" || e.code() == "SubscriptionNotFound" => r.bad(
                "target resource group",
                format!("subscription {} is not in tenant {t2} ({})", t.subscription_id, e.code()),
                "check target.tenantId and target.subscriptionId",
            ),
            Err(e) => r.bad("target resource group", e.to_string(), e.hint().unwrap_or_else(|| "see the error".into())),
        }
        for group in permission_groups(
            req,
            image,
            &names,
            &subscription,
            create_rg,
            rg_exists,
            plan,
        ) {
            permissions(&mut r, &arm, &t2, &group, &role, rg_exists).await;
        }
    }

    // 6. Allow-lists of the deployed app.
    allow_lists(&mut r, args, req, image);

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
    Ok(r)
}

/// Whether the gallery image's definition carries a `purchasePlan` (then the Marketplace terms
/// are read before the first write). Unknown (unreadable) counts as no plan: the version line
/// above already reports a read problem.
async fn purchase_plan(arm: &azure_clients::ArmClient, t1: &str, image: &ImageId) -> bool {
    let Some(definition) = image.definition_id() else {
        return false;
    };
    arm.get::<GalleryImage>(t1, &definition, GALLERY_API, &[])
        .await
        .is_ok_and(|d| d.properties.purchase_plan.is_some())
}

/// The actions of one role checked at one scope.
struct PermissionGroup {
    /// The report line.
    name: &'static str,
    role: TargetRole,
    scope: ResourceId,
    actions: Vec<&'static str>,
}

/// The actions `req` needs, grouped by the scope where they are checked: the deployer role's on
/// the target resource group (on the subscription while the group does not exist yet), the
/// subnet join on an existing `network.subnetId` itself, the resource-group creator's and the
/// shared-image reader's on the subscription.
fn permission_groups(
    req: &DeploymentRequest,
    image: &ImageId,
    names: &TargetNames,
    subscription: &ResourceId,
    create_rg: bool,
    rg_exists: bool,
    plan: bool,
) -> Vec<PermissionGroup> {
    let existing_subnet = req.network.subnet_id.is_some();
    let deployer: Vec<&'static str> =
        required_actions(req, image, create_rg, plan, TargetRole::Deployer)
            .into_iter()
            .filter(|a| !(existing_subnet && *a == SUBNET_JOIN))
            .collect();
    let mut groups = vec![PermissionGroup {
        name: "permissions in the target resource group",
        role: TargetRole::Deployer,
        scope: if rg_exists {
            names.resource_group.clone()
        } else {
            subscription.clone()
        },
        actions: deployer,
    }];
    if existing_subnet {
        groups.push(PermissionGroup {
            name: "permissions on the subnet",
            role: TargetRole::Deployer,
            scope: names.subnet.clone(),
            actions: vec![SUBNET_JOIN],
        });
    }
    for (name, role) in [
        (
            "permissions to create the resource group",
            TargetRole::ResourceGroupCreator,
        ),
        (
            "permissions to read the shared image",
            TargetRole::SharedImageReader,
        ),
        (
            "permissions to read the Marketplace terms",
            TargetRole::MarketplaceTermsReader,
        ),
    ] {
        let actions = required_actions(req, image, create_rg, plan, role);
        if !actions.is_empty() {
            groups.push(PermissionGroup {
                name,
                role,
                scope: subscription.clone(),
                actions,
            });
        }
    }
    groups
}

/// One permissions line: `GET {scope}/providers/Microsoft.Authorization/permissions` against the
/// group's actions.
async fn permissions(
    r: &mut Report,
    arm: &azure_clients::ArmClient,
    tenant: &str,
    group: &PermissionGroup,
    role: &RoleFix<'_>,
    rg_exists: bool,
) {
    let scope = &group.scope;
    let fix = || {
        if scope
            .kind()
            .is_some_and(|k| k.eq_ignore_ascii_case("subnets"))
        {
            role.subnet(scope)
        } else {
            format!(
                "{}; {}",
                role.deploy(rg_exists),
                role.fallback(group.role, scope)
            )
        }
    };
    let path = match permissions_path(scope) {
        Ok(p) => p,
        Err(e) => {
            r.bad(group.name, e.to_string(), "check the request's target ids");
            return;
        }
    };
    let mut missing = Vec::new();
    let (ok, detail, fix) = match arm.list_permissions(tenant, &path).await {
        Ok(perms) => {
            missing = group
                .actions
                .iter()
                .copied()
                .filter(|a| !perms.allows(a))
                .map(|action| Missing {
                    action,
                    why: PIPELINE_ACTIONS
                        .iter()
                        .find(|p| p.action == action && p.role == group.role)
                        .map_or("", |p| p.why),
                })
                .collect();
            if missing.is_empty() {
                (
                    true,
                    format!(
                        "the {} actions the pipeline needs here ({}) on {scope}",
                        group.actions.len(),
                        group.role.bicep_variable()
                    ),
                    None,
                )
            } else {
                let names: Vec<&str> = missing.iter().map(|m| m.action).collect();
                (
                    false,
                    format!("missing on {scope}: {}", names.join(", ")),
                    Some(fix()),
                )
            }
        }
        // The resource group line above reports a missing group.
        Err(e) if is_not_found(&e) => return,
        Err(e) => (false, e.to_string(), Some(fix())),
    };
    r.checks.push(Check {
        name: group.name.into(),
        ok,
        detail,
        fix,
        role: Some(group.role),
        scope: Some(scope.to_string()),
        actions: group.actions.clone(),
        missing,
    });
}

/// The fixes of the target tenant's roles: deploy `infra/target/main.bicep` (the least-privilege
/// roles, docs/ONBOARDING.md step 4), or as a fallback assign the built-in Contributor.
struct RoleFix<'a> {
    app: &'a str,
    req: &'a DeploymentRequest,
    image: &'a ImageId,
    create_rg: bool,
}

impl RoleFix<'_> {
    /// The `az deployment sub create` of `infra/target/main.bicep` for this target, signed in to
    /// the target tenant (`createTargetResourceGroup=false` leaves an existing group alone).
    fn deploy(&self, rg_exists: bool) -> String {
        let t = &self.req.target;
        let mut params = format!(
            "targetResourceGroup={} appServicePrincipalObjectId=$(az ad sp show --id {} --query id -o tsv)",
            t.resource_group, self.app
        );
        if rg_exists {
            params.push_str(" createTargetResourceGroup=false");
        }
        if self.create_rg {
            params.push_str(" allowCreateResourceGroup=true");
        }
        if !matches!(self.image, ImageId::Gallery { .. }) {
            params.push_str(" allowSharedGalleryImages=true");
        }
        format!(
            "signed in to tenant {} (az login --tenant {}): az deployment sub create --name imageferry-target --subscription {} --location {} --template-file infra/target/main.bicep --parameters {params}",
            t.tenant_id, t.tenant_id, t.subscription_id, t.location
        )
    }

    /// The built-in role that covers `role`'s actions on `scope`, the fallback.
    fn fallback(&self, role: TargetRole, scope: &ResourceId) -> String {
        let builtin = role.builtin_fallback();
        format!(
            "or, as a fallback, the built-in {builtin}: az role assignment create --assignee {} --role {builtin} --scope {scope}",
            self.app
        )
    }

    /// The join on an existing subnet: the deployer role (assignable in its subscription) there.
    fn subnet(&self, subnet: &ResourceId) -> String {
        format!(
            "in tenant {}: az role assignment create --assignee {} --role \"imageferry VM deployer ({})\" --scope {subnet} (the role infra/target/main.bicep defines in that subscription), or, as a fallback, the built-in Network Contributor there",
            self.req.target.tenant_id,
            self.app,
            subnet.subscription_id().unwrap_or_default()
        )
    }
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

fn allow_lists(r: &mut Report, args: &CheckArgs, req: &DeploymentRequest, image: &ImageId) {
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
    ) -> Result<PermissionList, azure_clients::ArmError>;
}

impl PermissionsExt for azure_clients::ArmClient {
    async fn list_permissions(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<PermissionList, azure_clients::ArmError> {
        self.get(tenant, path, AUTHORIZATION_API, &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> (DeploymentRequest, ImageId) {
        let req: DeploymentRequest = serde_json::from_str(include_str!(
            "../../../../examples/deployment-request.linux.json"
        ))
        .unwrap();
        let image = req.validate().unwrap();
        (req, image)
    }

    #[test]
    fn each_request_is_checked_for_the_actions_it_needs_where_it_needs_them() {
        let (req, image) = example();
        let names = TargetNames::of(&req).unwrap();
        let sub = ResourceId::subscription(&req.target.subscription_id).unwrap();
        // Own network, public IP: every deployer action on the group.
        let groups = permission_groups(&req, &image, &names, &sub, false, true, false);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].scope, names.resource_group);
        let deployer: Vec<&str> = PIPELINE_ACTIONS
            .iter()
            .filter(|a| a.role == TargetRole::Deployer)
            .map(|a| a.action)
            .collect();
        assert_eq!(groups[0].actions, deployer);
        // The group is created by the app: the deployer's actions on the subscription (no group
        // to hold the role yet) and the creator's there.
        let groups = permission_groups(&req, &image, &names, &sub, true, false, false);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].scope.clone(), groups[1].scope.clone()),
            (sub.clone(), sub.clone())
        );
        assert_eq!(
            groups[1].actions,
            [
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Resources/subscriptions/resourceGroups/write"
            ]
        );
        // An existing subnet elsewhere, no public IP: no VNet or public IP action, and the
        // join is checked on that subnet.
        let mut req = req;
        let subnet = "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/netRG/providers/Microsoft.Network/virtualNetworks/hub/subnets/vms";
        req.network.subnet_id = Some(subnet.into());
        req.vm.public_ip = false;
        let names = TargetNames::of(&req).unwrap();
        let groups = permission_groups(&req, &image, &names, &sub, false, true, false);
        assert_eq!(groups.len(), 2);
        assert!(
            groups[0]
                .actions
                .iter()
                .all(|a| !a.contains("virtualNetworks") && !a.contains("publicIPAddresses")),
            "{:?}",
            groups[0].actions
        );
        assert_eq!(groups[0].actions.len(), 13);
        assert_eq!(groups[1].scope.to_string(), subnet);
        assert_eq!(groups[1].actions, [SUBNET_JOIN]);
        // A community image: the reader's two community actions on the subscription.
        let community =
            ImageId::parse("/CommunityGalleries/pub-1/Images/img/Versions/1.0.0").unwrap();
        let groups = permission_groups(&req, &community, &names, &sub, false, true, false);
        let reader = groups
            .iter()
            .find(|g| g.role == TargetRole::SharedImageReader)
            .unwrap();
        assert_eq!(reader.scope, sub);
        assert_eq!(
            reader.actions,
            [
                "Microsoft.Compute/locations/communityGalleries/images/read",
                "Microsoft.Compute/locations/communityGalleries/images/versions/read"
            ]
        );
    }
}
