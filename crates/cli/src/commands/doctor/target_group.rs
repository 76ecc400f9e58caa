//! The target resource group: readable with the target tenant's token, or missing (and then
//! created by the app only with `IMAGEFERRY_CREATE_RESOURCE_GROUP=true`).

use super::fixes::RoleFix;
use super::is_not_found;
use super::report::Report;
use imageferry_contract::DeploymentRequest;
use imageferry_handlers::calls::{RESOURCE_GROUP_GET, Role};
use imageferry_handlers::names::TargetNames;

/// The resource group line; whether the group exists.
pub(super) async fn resource_group(
    r: &mut Report,
    arm: &azure_clients::ArmClient,
    places: &crate::network::Places,
    req: &DeploymentRequest,
    names: &TargetNames,
    create_rg: bool,
    role: &RoleFix<'_>,
) -> bool {
    let t = &req.target;
    let t2 = &t.tenant_id;
    let rg = &names.resource_group;
    let mut rg_exists = true;
    match arm.get::<serde_json::Value>(t2, &RESOURCE_GROUP_GET.path(names), RESOURCE_GROUP_GET.api_version(), RESOURCE_GROUP_GET.query).await {
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
            format!("{} (it creates the group if it does not exist); {}", role.deploy(false), role.fallback(Role::Deployer, rg)),
        ),
        Err(e) if e.code() == "InvalidAuthenticationTokenTenant" || e.code() == "SubscriptionNotFound" => r.bad(
            "target resource group",
            format!("subscription {} is not in tenant {t2} ({})", t.subscription_id, e.code()),
            "check target.tenantId and target.subscriptionId",
        ),
        Err(e) => {
            let (detail, fix) = super::arm_failure(&e, places, || "see the error".into());
            r.bad("target resource group", detail, fix);
        }
    }
    rg_exists
}
