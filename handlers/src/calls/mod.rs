//! The pipeline's Azure calls, described once: for each call the step that makes it, the method,
//! what it addresses (a path template, filled from the handler's [`TargetNames`] for the
//! deployment's own resources), the API version, whose token it carries, when it applies, and the
//! RBAC actions it needs with the role that grants each one and the scope the role holds.
//!
//! The steps take their API versions and the paths of the deployment's resources from this
//! [`table`]; `imageferry plan` renders it for one request and `imageferry doctor` checks the
//! actions it lists against the app's permissions; the least-privilege roles of
//! `infra/target/main.bicep` read their action lists from `infra/target/actions.json`, which
//! [`roles`] reads too, and the tests below keep the two equal. It lives in the handler crate
//! because it describes what the handler does (the steps read it) and the CLI already depends on
//! the handler for its names and bodies.

pub mod roles;
pub mod table;

pub use roles::{Role, Scope};
pub use table::*;

use crate::names::TargetNames;
use imageferry_contract::{DeploymentRequest, ImageId, Step};

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Read.
    Get,
    /// Create or replace.
    Put,
    /// Update part of a resource.
    Patch,
    /// An action (`…/start`, `…/manualupgrade`).
    Post,
    /// Delete.
    Delete,
}

impl Method {
    /// `GET`, `PUT`, ….
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// The REST API a call belongs to, and so its `api-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Microsoft.Compute virtual machines and their operations (ComputeRP stable 2025-04-01).
    Compute,
    /// Microsoft.Compute galleries, shared and community galleries (GalleryRP stable 2025-03-03).
    Gallery,
    /// Microsoft.Network (stable 2024-05-01: the newest version all four saved examples share).
    Network,
    /// Microsoft.Resources resource groups (stable 2024-03-01, `CreateResourceGroup.json`).
    Resources,
    /// Microsoft.Authorization permissions (azure-clients' model of it).
    Authorization,
    /// Microsoft.MarketplaceOrdering agreements (azure-clients' model of it).
    MarketplaceOrdering,
    /// Key Vault secrets (the data plane, azure-clients' `KeyVaultSecrets`).
    KeyVault,
}

impl Api {
    /// The `api-version` sent.
    pub const fn version(self) -> &'static str {
        match self {
            Api::Compute => "2025-04-01",
            Api::Gallery => "2025-03-03",
            Api::Network => "2024-05-01",
            Api::Resources => "2024-03-01",
            Api::Authorization => azure_clients::models::AUTHORIZATION_API,
            Api::MarketplaceOrdering => azure_clients::models::MARKETPLACE_ORDERING_API,
            Api::KeyVault => azure_clients::KEYVAULT_API,
        }
    }
}

/// Whose token a call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The image's tenant: tenant 1 for a gallery image, the target tenant for a direct-shared
    /// or community image ([`crate::names::ImagePaths::tenant`]).
    Image,
    /// The target tenant (tenant 2).
    Target,
    /// The target tenant, with an auxiliary token for tenant 1 when the image is a gallery
    /// image of another tenant (the cross-tenant linked access check).
    TargetWithImageAux,
    /// The app's home tenant (`AZURE_TENANT_ID`): Key Vault.
    Home,
}

/// What a call addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The image definition (gallery, or location-scoped shared/community).
    ImageDefinition,
    /// The image version (gallery, or location-scoped shared/community).
    ImageVersion,
    /// One of the deployment's own resources, derived from the request.
    Target(TargetResource),
    /// `Permissions - List For Resource` on the request's existing subnet.
    SubnetPermissions,
    /// The terms agreement of the image's Marketplace plan in the target subscription.
    MarketplaceAgreement,
    /// The operation URL Azure answered a long-running write with.
    Operation(Api),
    /// The Key Vault secret of the Windows password.
    Secret,
    /// A collection or an action under the deployment's scale set.
    ScaleSetPart(ScaleSetPart),
}

/// What a call under the scale set addresses (a path below [`TargetNames::scale_set`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleSetPart {
    /// `…/virtualMachines`: the instances (`VirtualMachineScaleSetVMs - List`).
    Instances,
    /// `…/manualupgrade`: upgrade chosen instances to the model.
    ManualUpgrade,
    /// `…/rollingUpgrades/latest`: the rolling upgrade's status.
    LatestRollingUpgrade,
}

impl ScaleSetPart {
    /// The path below the scale set.
    pub const fn suffix(self) -> &'static str {
        match self {
            ScaleSetPart::Instances => "/virtualMachines",
            ScaleSetPart::ManualUpgrade => "/manualupgrade",
            ScaleSetPart::LatestRollingUpgrade => "/rollingUpgrades/latest",
        }
    }
}

/// The deployment's own resources ([`TargetNames`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetResource {
    /// The target resource group.
    ResourceGroup,
    /// `{vm}-vnet`, with its subnet `{vm}-subnet`.
    VirtualNetwork,
    /// `{vm}-nsg`.
    NetworkSecurityGroup,
    /// `{vm}-pip`.
    PublicIp,
    /// `{vm}-nic`.
    NetworkInterface,
    /// The VM.
    VirtualMachine,
    /// The scale set of a `scaleSet` request.
    ScaleSet,
}

impl TargetResource {
    /// The resource's id for one deployment.
    pub fn id(self, names: &TargetNames) -> &imageferry_contract::ResourceId {
        match self {
            TargetResource::ResourceGroup => &names.resource_group,
            TargetResource::VirtualNetwork => &names.vnet,
            TargetResource::NetworkSecurityGroup => &names.nsg,
            TargetResource::PublicIp => &names.public_ip,
            TargetResource::NetworkInterface => &names.nic,
            TargetResource::VirtualMachine => &names.vm,
            TargetResource::ScaleSet => &names.scale_set,
        }
    }
}

impl Resource {
    /// The path template (what `plan` shows when it has no request to fill it).
    pub const fn template(self) -> &'static str {
        const RG: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}";
        match self {
            Resource::ImageDefinition => {
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{gallery}/images/{image}, or /subscriptions/{targetSub}/providers/Microsoft.Compute/locations/{region}/{sharedGalleries|communityGalleries}/{name}/images/{image}"
            }
            Resource::ImageVersion => "{the image definition}/versions/{version}",
            Resource::Target(TargetResource::ResourceGroup) => RG,
            Resource::Target(TargetResource::VirtualNetwork) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/virtualNetworks/{vm}-vnet"
            }
            Resource::Target(TargetResource::NetworkSecurityGroup) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/networkSecurityGroups/{vm}-nsg"
            }
            Resource::Target(TargetResource::PublicIp) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/publicIPAddresses/{vm}-pip"
            }
            Resource::Target(TargetResource::NetworkInterface) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/networkInterfaces/{vm}-nic"
            }
            Resource::Target(TargetResource::VirtualMachine) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachines/{vm}"
            }
            Resource::Target(TargetResource::ScaleSet) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/{scaleSet}"
            }
            Resource::ScaleSetPart(ScaleSetPart::Instances) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/{scaleSet}/virtualMachines"
            }
            Resource::ScaleSetPart(ScaleSetPart::ManualUpgrade) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/{scaleSet}/manualupgrade"
            }
            Resource::ScaleSetPart(ScaleSetPart::LatestRollingUpgrade) => {
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/{scaleSet}/rollingUpgrades/latest"
            }
            Resource::SubnetPermissions => {
                "{network.subnetId}/providers/Microsoft.Authorization/permissions"
            }
            Resource::MarketplaceAgreement => {
                "/subscriptions/{targetSub}/providers/Microsoft.MarketplaceOrdering/offerTypes/virtualmachine/publishers/{publisher}/offers/{product}/plans/{plan}/agreements/current"
            }
            Resource::Operation(_) => "the write's Azure-AsyncOperation (or Location) URL",
            Resource::Secret => "{vm.adminPasswordSecretId}",
        }
    }
}

/// Which requests make the pipeline perform a call, or need an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Every request.
    Always,
    /// No `network.subnetId`: the pipeline builds `{vm}-vnet` with its subnet.
    OwnNetwork,
    /// `network.subnetId`: an existing subnet.
    ExistingSubnet,
    /// A `vm` request (one VM).
    Vm,
    /// A `scaleSet` request.
    ScaleSet,
    /// A `scaleSet` request with `upgrade = "batches"`.
    ScaleSetBatches,
    /// A `scaleSet` request with `upgrade = "rolling"`.
    ScaleSetRolling,
    /// `vm.publicIp` (a VM request: a scale set's per-instance addresses are part of it).
    PublicIp,
    /// `IMAGEFERRY_CREATE_RESOURCE_GROUP=true`.
    CreateResourceGroup,
    /// A `/subscriptions/…/galleries/…` image, read with the tenant-1 token.
    GalleryImage,
    /// A `/SharedGalleries/…` image, read with the tenant-2 token.
    SharedImage,
    /// A `/CommunityGalleries/…` image, read with the tenant-2 token.
    CommunityImage,
    /// An image whose definition carries a `purchasePlan` (built from a Marketplace image).
    MarketplacePlan,
    /// `vm.adminPasswordSecretId` (a generalized Windows image).
    WindowsPassword,
}

/// What decides [`When`] for one request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The request.
    pub request: &'a DeploymentRequest,
    /// Its validated image id.
    pub image: &'a ImageId,
    /// `IMAGEFERRY_CREATE_RESOURCE_GROUP`.
    pub create_resource_group: bool,
    /// Whether the image definition carries a `purchasePlan`.
    pub marketplace_plan: bool,
}

impl When {
    /// Whether the request described by `facts` is one of these.
    pub fn holds(self, facts: &Facts<'_>) -> bool {
        let req = facts.request;
        match self {
            When::Always => true,
            When::OwnNetwork => req.network.subnet_id.is_none(),
            When::ExistingSubnet => req.network.subnet_id.is_some(),
            When::Vm => req.scale_set.is_none(),
            When::ScaleSet => req.scale_set.is_some(),
            When::ScaleSetBatches => req
                .scale_set
                .as_ref()
                .is_some_and(|s| s.upgrade == imageferry_contract::UpgradeMode::Batches),
            When::ScaleSetRolling => req
                .scale_set
                .as_ref()
                .is_some_and(|s| s.upgrade == imageferry_contract::UpgradeMode::Rolling),
            When::PublicIp => req.scale_set.is_none() && req.vm.public_ip,
            When::CreateResourceGroup => facts.create_resource_group,
            When::GalleryImage => matches!(facts.image, ImageId::Gallery { .. }),
            When::SharedImage => matches!(facts.image, ImageId::Shared { .. }),
            When::CommunityImage => matches!(facts.image, ImageId::Community { .. }),
            When::MarketplacePlan => facts.marketplace_plan,
            When::WindowsPassword => req.machine().admin_password_secret_id.is_some(),
        }
    }
}

/// One RBAC action a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The action (a data action for Key Vault).
    pub action: &'static str,
    /// The role that grants it.
    pub role: Role,
    /// Where the role must hold it.
    pub scope: Scope,
    /// Which requests need it (besides the call's own [`AzureCall::when`]).
    pub when: When,
    /// Why the call needs it.
    pub why: &'static str,
}

/// The function that makes a call: one of the pipeline's steps, or a rollout function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// A step of one deployment.
    Step(Step),
    /// `image-version-published`: starts the rollouts of a new version.
    ImageVersionPublished,
}

impl Function {
    /// The function's (and its queue's) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Step(s) => s.as_str(),
            Function::ImageVersionPublished => "image-version-published",
        }
    }
}

/// One Azure call of the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct AzureCall {
    /// The functions that make it, in pipeline order.
    pub by: &'static [Function],
    /// The method.
    pub method: Method,
    /// What it addresses.
    pub resource: Resource,
    /// Its query besides `api-version`.
    pub query: &'static [(&'static str, &'static str)],
    /// Its API (and so its `api-version`).
    pub api: Api,
    /// Whose token it carries.
    pub token: Token,
    /// Which requests make it.
    pub when: When,
    /// How often or on what condition, when it is not simply once.
    pub note: Option<&'static str>,
    /// The actions it needs.
    pub grants: &'static [Grant],
}

impl AzureCall {
    /// The `api-version` it sends.
    pub const fn api_version(&self) -> &'static str {
        self.api.version()
    }

    /// The path of the deployment's own resource this call addresses: the id [`TargetNames`]
    /// derives from the request. For a call whose path comes from elsewhere (the image's
    /// paths: [`AzureCall::image_path`]; an operation URL Azure answered; the secret id; a
    /// permissions or agreement path) it is the resource's template, which no step sends.
    pub fn path(&self, names: &TargetNames) -> String {
        match self.resource {
            Resource::Target(t) => t.id(names).to_string(),
            Resource::ScaleSetPart(part) => format!("{}{}", names.scale_set, part.suffix()),
            other => other.template().to_owned(),
        }
    }

    /// The path of the image definition or version this call addresses; `None` for a call on
    /// anything else.
    pub fn image_path(&self, paths: &crate::names::ImagePaths) -> Option<String> {
        match self.resource {
            Resource::ImageDefinition => Some(paths.definition.to_string()),
            Resource::ImageVersion => Some(paths.version.to_string()),
            _ => None,
        }
    }

    /// Whether the request described by `facts` makes this call.
    pub fn applies(&self, facts: &Facts<'_>) -> bool {
        self.when.holds(facts)
    }

    /// The actions of this call the request described by `facts` needs.
    pub fn grants_for<'a>(&'a self, facts: &'a Facts<'_>) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants
            .iter()
            .filter(move |g| self.applies(facts) && g.when.holds(facts))
    }
}

/// The tenant of the auxiliary token a [`Token::TargetWithImageAux`] call carries: the image's
/// tenant when the image is a gallery image of another tenant than the target's.
pub fn auxiliary_tenant<'a>(req: &'a DeploymentRequest, image: &ImageId) -> Option<&'a str> {
    match (image, req.image.tenant_id.as_deref()) {
        (ImageId::Gallery { .. }, Some(t1)) if !t1.eq_ignore_ascii_case(&req.target.tenant_id) => {
            Some(t1)
        }
        _ => None,
    }
}

/// Every action the request described by `facts` needs from `role`, in call order, each once,
/// with the first call's reason.
pub fn required_grants(facts: &Facts<'_>, role: Role) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for call in CALLS {
        for g in call.grants_for(facts) {
            if g.role == role
                && !out
                    .iter()
                    .any(|o| o.action == g.action && o.scope == g.scope)
            {
                out.push(*g);
            }
        }
    }
    out
}

/// The calls one deployment described by `facts` makes, in pipeline order, one entry per step
/// that makes the call.
pub fn calls_for(facts: &Facts<'_>) -> Vec<(Step, &'static AzureCall)> {
    let mut out = Vec::new();
    for step in Step::ALL {
        for call in CALLS {
            if call.by.contains(&Function::Step(step)) && call.applies(facts) {
                out.push((step, call));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
