//! `imageferry doctor`: a preflight of one target, in both tenants, as the app itself. Every line
//! is ✓ or ✗ with the fix; the exit code is 1 when any line is ✗. `plan` runs the same checks
//! ([`check`]) after its list of calls.
//!
//! Checks, in order: a token in the gallery's tenant and in the target tenant (AADSTS700016 →
//! not consented, with the consent URL); the image version readable with the tenant-1 token
//! (Reader on the gallery); the version's replication to the target region; the target resource
//! group; the permissions the pipeline needs there (`Microsoft.Authorization/permissions`)
//! against the actions the handler's table of its Azure calls ([`imageferry_handlers::calls`])
//! lists for the request, whose roles are those of `infra/target/main.bicep`
//! (`infra/target/actions.json`); the allow-lists; the Key Vault secret of a Windows password.
//!
//! One module a concern: `report` (the lines), `tokens`, `image` (readable, replicated, plan),
//! `target_group`, `permissions` (the permission lines and the ARM read behind them), `fixes`
//! (the role fix text), `allow_lists`, `secret`.

mod allow_lists;
mod fixes;
pub(crate) mod image;
mod permissions;
mod report;
mod secret;
mod target_group;
mod tokens;

pub use report::Report;

use crate::commands::request_args::RequestArgs;
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::{Credential, Session};
use fixes::RoleFix;
use imageferry_contract::{DeploymentRequest, ImageId, ResourceId, ResourceIdError};
use imageferry_handlers::calls::Facts;
use imageferry_handlers::names::TargetNames;

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

/// Runs `doctor`.
pub async fn run(args: Args) -> Exit {
    let req = match args.req.decode() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
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
        Some(t1) => tokens::token_ok(&mut r, session, t1, "gallery tenant").await,
        None => {
            r.ok(
                "token in gallery tenant",
                format!("{image}: a shared/community gallery needs no tenant-1 token"),
            );
            false
        }
    };
    let t2_ok = tokens::token_ok(&mut r, session, &t2, "target tenant").await;
    let arm = session.arm();
    let places = session.places();

    // 2. The image version as tenant 1 (Reader), and 3. its replication to the region.
    let mut plan = false;
    if let (Some(t1), true, ImageId::Gallery { .. }) = (&t1, t1_ok, image) {
        plan = image::readable_and_replicated(&mut r, &arm, &places, t1, req, image, &app).await;
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
    let create_rg = args.create_resource_group();
    let role = RoleFix {
        app: &app,
        req,
        image,
        create_rg,
    };
    if t2_ok {
        let rg_exists =
            target_group::resource_group(&mut r, &arm, &places, req, &names, create_rg, &role)
                .await;
        let facts = Facts {
            request: req,
            image,
            create_resource_group: create_rg,
            marketplace_plan: plan,
        };
        for group in permissions::permission_groups(&facts, &names, &subscription, rg_exists) {
            permissions::permissions(&mut r, &arm, &places, &t2, &group, &role, rg_exists).await;
        }
    }

    // 6. Allow-lists of the deployed app.
    allow_lists::allow_lists(&mut r, args, req, image);

    // 7. Key Vault secret of a Windows password.
    if let Some(secret) = &req.machine().admin_password_secret_id {
        secret::readable(&mut r, session, secret, &app).await;
    }
    Ok(r)
}

fn app_id() -> String {
    std::env::var("AZURE_CLIENT_ID").unwrap_or_else(|_| "<app client id>".into())
}

/// The detail and fix of an ARM error: a network failure named as such with its own fix, else
/// the error with its hint (or `fallback`).
fn arm_failure(
    e: &azure_clients::ArmError,
    places: &crate::network::Places,
    fallback: impl FnOnce() -> String,
) -> (String, String) {
    match places.arm(e) {
        Some(u) => (u.to_string(), u.hint()),
        None => (e.to_string(), e.hint().unwrap_or_else(fallback)),
    }
}

fn is_not_found(e: &azure_clients::ArmError) -> bool {
    matches!(e, azure_clients::ArmError::NotFound { .. })
}
