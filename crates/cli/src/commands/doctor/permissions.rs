//! The permission lines: the actions the table of the pipeline's calls
//! ([`imageferry_handlers::calls`]) says a request needs, per role and scope, against the app's
//! effective permissions there (`Microsoft.Authorization/permissions`).

use super::fixes::RoleFix;
use super::is_not_found;
use super::report::{Check, Missing, Report};
use azure_clients::models::{PermissionList, permissions_path};
use imageferry_contract::ResourceId;
use imageferry_handlers::calls::{
    Facts, Grant, Role, SUBNET_PERMISSIONS_GET, Scope, required_grants,
};
use imageferry_handlers::names::TargetNames;

/// The actions of one role checked at one scope.
pub(super) struct PermissionGroup {
    /// The report line.
    name: &'static str,
    role: Role,
    scope: ResourceId,
    grants: Vec<Grant>,
}

impl PermissionGroup {
    fn actions(&self) -> Vec<&'static str> {
        self.grants.iter().map(|g| g.action).collect()
    }
}

/// The report line of a role's actions at one scope.
fn line_name(role: Role, scope: Scope) -> &'static str {
    match (role, scope) {
        (Role::Deployer, Scope::Subnet) => "permissions on the subnet",
        (Role::Deployer, _) => "permissions in the target resource group",
        (Role::ResourceGroupCreator, _) => "permissions to create the resource group",
        (Role::SharedImageReader, _) => "permissions to read the shared image",
        (Role::MarketplaceTermsReader, _) => "permissions to read the Marketplace terms",
        (Role::GalleryReader | Role::KeyVaultSecretsUser, _) => "permissions",
    }
}

/// The actions the request needs from the target tenant's roles, grouped by the scope where
/// they are checked (the table's [`Scope`]): the target resource group (the subscription while
/// the group does not exist yet), an existing `network.subnetId` itself for the subnet join
/// (the group otherwise), the subscription for the other roles; each group in the order its
/// role lists the actions.
pub(super) fn permission_groups(
    facts: &Facts<'_>,
    names: &TargetNames,
    subscription: &ResourceId,
    rg_exists: bool,
) -> Vec<PermissionGroup> {
    let existing_subnet = facts.request.network.subnet_id.is_some();
    let group_scope = if rg_exists {
        &names.resource_group
    } else {
        subscription
    };
    let mut groups: Vec<PermissionGroup> = Vec::new();
    for role in Role::TARGET {
        for grant in required_grants(facts, role) {
            let (scope, line) = match grant.scope {
                Scope::Subnet if existing_subnet => (&names.subnet, Scope::Subnet),
                Scope::Subnet | Scope::ResourceGroup => (group_scope, Scope::ResourceGroup),
                other => (subscription, other),
            };
            let name = line_name(role, line);
            match groups.iter_mut().find(|g| g.name == name && g.role == role) {
                Some(g) => g.grants.push(grant),
                None => groups.push(PermissionGroup {
                    name,
                    role,
                    scope: scope.clone(),
                    grants: vec![grant],
                }),
            }
        }
    }
    // In the order the role lists them (infra/target/actions.json).
    for g in &mut groups {
        let listed = g.role.granted_actions();
        g.grants
            .sort_by_key(|grant| listed.iter().position(|a| a == grant.action));
    }
    groups
}

/// One permissions line: `GET {scope}/providers/Microsoft.Authorization/permissions` against the
/// group's actions.
pub(super) async fn permissions(
    r: &mut Report,
    arm: &azure_clients::ArmClient,
    places: &crate::network::Places,
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
    let actions = group.actions();
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
                .grants
                .iter()
                .filter(|g| !perms.allows(g.action))
                .map(|g| Missing {
                    action: g.action,
                    why: g.why,
                })
                .collect();
            if missing.is_empty() {
                (
                    true,
                    format!(
                        "the {} actions the pipeline needs here ({}) on {scope}",
                        actions.len(),
                        group.role.actions_key().unwrap_or_default()
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
        Err(e) => match places.arm(&e) {
            Some(u) => (false, u.to_string(), Some(u.hint())),
            None => (false, e.to_string(), Some(fix())),
        },
    };
    r.checks.push(Check {
        name: group.name.into(),
        ok,
        detail,
        fix,
        role: Some(group.role),
        scope: Some(scope.to_string()),
        actions,
        missing,
    });
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
        self.get(
            tenant,
            path,
            SUBNET_PERMISSIONS_GET.api_version(),
            SUBNET_PERMISSIONS_GET.query,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imageferry_contract::{DeploymentRequest, ImageId};

    const SUBNET_JOIN: &str = "Microsoft.Network/virtualNetworks/subnets/join/action";

    fn facts<'a>(req: &'a DeploymentRequest, image: &'a ImageId, create_rg: bool) -> Facts<'a> {
        Facts {
            request: req,
            image,
            create_resource_group: create_rg,
            marketplace_plan: false,
        }
    }

    fn example() -> (DeploymentRequest, ImageId) {
        let req: DeploymentRequest = serde_json::from_str(include_str!(
            "../../../../../examples/deployment-request.linux.json"
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
        // Own network, public IP: every deployer action a VM needs on the group (all but the
        // scale set's).
        let groups = permission_groups(&facts(&req, &image, false), &names, &sub, true);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].scope, names.resource_group);
        let mut deployer: Vec<&str> = Role::Deployer
            .granted_actions()
            .iter()
            .map(String::as_str)
            .filter(|a| !a.contains("virtualMachineScaleSets"))
            .collect();
        let mut checked = groups[0].actions();
        deployer.sort_unstable();
        checked.sort_unstable();
        assert_eq!(checked, deployer);
        // The same request as a scale set: the scale set's actions, no VM, NIC or public IP ones.
        let mut scale_set = req.clone();
        let mut spec: imageferry_contract::ScaleSetSpec =
            serde_json::from_value(serde_json::to_value(&req.vm).unwrap()).unwrap();
        spec.capacity = 2;
        scale_set.scale_set = Some(spec);
        scale_set.vm = Default::default();
        let ss_names = TargetNames::of(&scale_set).unwrap();
        let groups = permission_groups(&facts(&scale_set, &image, false), &ss_names, &sub, true);
        let checked = groups[0].actions();
        assert!(
            checked.contains(&"Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action")
        );
        assert!(
            !checked
                .iter()
                .any(|a| a.starts_with("Microsoft.Compute/virtualMachines/")
                    || a.contains("networkInterfaces")
                    || a.contains("publicIPAddresses")),
            "{checked:?}"
        );
        // The group is created by the app: the deployer's actions on the subscription (no group
        // to hold the role yet) and the creator's there.
        let groups = permission_groups(&facts(&req, &image, true), &names, &sub, false);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].scope.clone(), groups[1].scope.clone()),
            (sub.clone(), sub.clone())
        );
        assert_eq!(
            groups[1].actions(),
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
        let groups = permission_groups(&facts(&req, &image, false), &names, &sub, true);
        assert_eq!(groups.len(), 2);
        assert!(
            groups[0]
                .actions()
                .iter()
                .all(|a| !a.contains("virtualNetworks") && !a.contains("publicIPAddresses")),
            "{:?}",
            groups[0].actions()
        );
        assert_eq!(groups[0].actions().len(), 13);
        assert_eq!(groups[1].scope.to_string(), subnet);
        assert_eq!(groups[1].actions(), [SUBNET_JOIN]);
        // A community image: the reader's two community actions on the subscription.
        let community =
            ImageId::parse("/CommunityGalleries/pub-1/Images/img/Versions/1.0.0").unwrap();
        let groups = permission_groups(&facts(&req, &community, false), &names, &sub, true);
        let reader = groups
            .iter()
            .find(|g| g.role == Role::SharedImageReader)
            .unwrap();
        assert_eq!(reader.scope, sub);
        assert_eq!(
            reader.actions(),
            [
                "Microsoft.Compute/locations/communityGalleries/images/read",
                "Microsoft.Compute/locations/communityGalleries/images/versions/read"
            ]
        );
    }
}
