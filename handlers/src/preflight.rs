//! What is checked before the first write, so that a deployment Azure would refuse stops
//! before any resource exists: Azure's OS-profile rules (they live in
//! `imageferry_contract::os_profile`: the computer name derived from `vm.name`, the SSH key, the
//! Windows password read from Key Vault) and, for a Marketplace-derived image, whether the
//! target subscription accepted the plan's terms; for an existing `network.subnetId`, whether
//! the app may join that subnet. A request that breaks a rule ends `rejected` (or `failed` for
//! the secret's value, the terms or the role) naming the field and the fix.

use crate::app::App;
use crate::calls::{MARKETPLACE_TERMS_GET, SUBNET_PERMISSIONS_GET};
use crate::outcome::StepError;
use azure_clients::SecretString;
use azure_clients::arm::ArmError;
use azure_clients::models::{MarketplaceAgreement, PermissionList, Plan, permissions_path};
use imageferry_contract::os_profile::{self, OsProfileError};
use imageferry_contract::{DeploymentRequest, ImageFacts};

fn rejected(e: &OsProfileError) -> StepError {
    StepError::rejected("ValidationFailed", e.to_string(), Some(e.fix()))
}

/// The computer name of the VM (`None` for a specialized image).
pub(crate) fn computer_name(
    req: &DeploymentRequest,
    facts: &ImageFacts,
) -> Result<Option<String>, StepError> {
    os_profile::computer_name(&req.vm.name, facts.os_type, facts.os_state).map_err(|e| rejected(&e))
}

/// The computer name prefix of a scale set's instances (`None` for a specialized image).
pub(crate) fn computer_name_prefix(
    req: &DeploymentRequest,
    facts: &ImageFacts,
) -> Result<Option<String>, StepError> {
    imageferry_contract::scale_set::computer_name_prefix(
        &req.machine().name,
        facts.os_type,
        facts.os_state,
    )
    .map_err(|why| {
        StepError::rejected(
            "ValidationFailed",
            format!("scaleSet.name: {why}"),
            Some("choose a scaleSet.name with letters in it".into()),
        )
    })
}

/// The Windows password read from Key Vault: `failed` (the request is fine, the secret's value
/// is not) without ever showing the value.
pub(crate) fn check_password(password: &SecretString) -> Result<(), StepError> {
    os_profile::check_windows_password(password.expose())
        .map_err(|e| StepError::failed("InvalidAdminPassword", e.to_string(), Some(e.fix())))
}

/// Whether the target subscription accepted the terms of the image's Marketplace `plan`
/// (`MarketplaceAgreements_Get` with the tenant-2 token). Reading needs a role at the
/// subscription (Reader is enough), which the app may not have: then (403, or no such
/// agreement) the VM PUT decides, and its `MarketplacePurchaseEligibilityFailed` carries the
/// same hint.
pub(crate) async fn check_marketplace_terms(
    app: &App,
    req: &DeploymentRequest,
    plan: Option<&Plan>,
) -> Result<(), StepError> {
    let Some(plan) = plan else {
        return Ok(());
    };
    let Some(path) = plan.agreement_path(&req.target.subscription_id) else {
        return Ok(());
    };
    let agreement: Result<Option<MarketplaceAgreement>, ArmError> = app
        .arm
        .get_optional(
            &req.target.tenant_id,
            &path.to_string(),
            MARKETPLACE_TERMS_GET.api_version(),
            MARKETPLACE_TERMS_GET.query,
        )
        .await;
    match agreement {
        Ok(Some(a)) if a.properties.accepted == Some(false) => {
            let error = ArmError::MarketplaceTermsNotAccepted {
                code: "MarketplaceTermsNotAccepted".into(),
                message: format!(
                    "the terms of Marketplace plan {}/{}/{} (the image definition's purchasePlan) are not accepted in subscription {}",
                    plan.publisher, plan.product, plan.name, req.target.subscription_id
                ),
            };
            Err(StepError::arm("checking the Marketplace terms", &error))
        }
        Ok(_) => Ok(()),
        Err(e) if e.is_transient() => Err(StepError::arm("checking the Marketplace terms", &e)),
        Err(_) => Ok(()),
    }
}

/// What a NIC needs on the subnet it joins (Network RP's linked access check).
pub(crate) const SUBNET_JOIN: &str = "Microsoft.Network/virtualNetworks/subnets/join/action";

/// For an existing `network.subnetId`: whether the app may join that subnet, read from its
/// effective permissions there (`Permissions - List For Resource` with the tenant-2 token), so
/// that a missing `subnets/join/action` stops the deployment before the NSG, public IP and NIC
/// exist instead of at the NIC PUT (`LinkedAccessCheckFailed`). When the permissions cannot be
/// read (403: no role there at all reads as an empty list, but a deny or an unusual setup may
/// refuse the read; 404), the NIC PUT decides, with the same hint.
pub(crate) async fn check_subnet_join(
    app: &App,
    req: &DeploymentRequest,
    subnet: &imageferry_contract::ResourceId,
) -> Result<(), StepError> {
    if req.network.subnet_id.is_none() {
        return Ok(());
    }
    let Ok(path) = permissions_path(subnet) else {
        return Ok(());
    };
    let perms: Result<PermissionList, ArmError> = app
        .arm
        .get(
            &req.target.tenant_id,
            &path,
            SUBNET_PERMISSIONS_GET.api_version(),
            SUBNET_PERMISSIONS_GET.query,
        )
        .await;
    match perms {
        Ok(p) if !p.allows(SUBNET_JOIN) => {
            let error = ArmError::LinkedAccessCheckFailed {
                message: format!(
                    "network.subnetId {subnet}: the app has no role there that allows {SUBNET_JOIN}, so the network interface could not join it (checked before any resource was created)"
                ),
            };
            Err(StepError::arm("checking network.subnetId", &error))
        }
        Ok(_) => Ok(()),
        Err(e) if e.is_transient() => Err(StepError::arm("checking network.subnetId", &e)),
        Err(_) => Ok(()),
    }
}
