//! The fix text of the target tenant's roles: deploy `infra/target/main.bicep`, or assign the
//! built-in role that covers the missing actions.

use imageferry_contract::{DeploymentRequest, ImageId, ResourceId};
use imageferry_handlers::calls::Role;

/// The fixes of the target tenant's roles: deploy `infra/target/main.bicep` (the least-privilege
/// roles, docs/ONBOARDING.md step 4), or as a fallback assign the built-in Contributor.
pub(super) struct RoleFix<'a> {
    pub(super) app: &'a str,
    pub(super) req: &'a DeploymentRequest,
    pub(super) image: &'a ImageId,
    pub(super) create_rg: bool,
}

impl RoleFix<'_> {
    /// The `az deployment sub create` of `infra/target/main.bicep` for this target, signed in to
    /// the target tenant (`createTargetResourceGroup=false` leaves an existing group alone).
    pub(super) fn deploy(&self, rg_exists: bool) -> String {
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
    pub(super) fn fallback(&self, role: Role, scope: &ResourceId) -> String {
        let builtin = role.builtin_fallback();
        format!(
            "or, as a fallback, the built-in {builtin}: az role assignment create --assignee {} --role {builtin} --scope {scope}",
            self.app
        )
    }

    /// The join on an existing subnet: the deployer role (assignable in its subscription) there.
    pub(super) fn subnet(&self, subnet: &ResourceId) -> String {
        format!(
            "in tenant {}: az role assignment create --assignee {} --role \"imageferry VM deployer ({})\" --scope {subnet} (the role infra/target/main.bicep defines in that subscription), or, as a fallback, the built-in Network Contributor there",
            self.req.target.tenant_id,
            self.app,
            subnet.subscription_id().unwrap_or_default()
        )
    }
}
