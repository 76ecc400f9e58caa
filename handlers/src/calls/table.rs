//! The table: every Azure call of the pipeline, in the order the steps make them.

use super::Function::{ImageVersionPublished, Step as S};
use super::Role::{
    Deployer, GalleryReader, KeyVaultSecretsUser, MarketplaceTermsReader, ResourceGroupCreator,
    SharedImageReader,
};
use super::TargetResource as T;
use super::{Api, AzureCall, Grant, Method, Resource, Role, ScaleSetPart, Scope, Token, When};
use imageferry_contract::{ImageId, Step};

const DR: super::Function = S(Step::DeploymentRequested);
const RC: super::Function = S(Step::ReplicationCheck);
const IVR: super::Function = S(Step::ImageVersionReplicated);
const VP: super::Function = S(Step::VmProvisioning);

const fn grant(action: &'static str, role: Role, scope: Scope, why: &'static str) -> Grant {
    Grant {
        action,
        role,
        scope,
        when: When::Always,
        why,
    }
}

const fn get(by: &'static [super::Function], resource: Resource, api: Api) -> AzureCall {
    AzureCall {
        by,
        method: Method::Get,
        resource,
        query: &[],
        api,
        token: Token::Target,
        when: When::Always,
        note: None,
        grants: &[],
    }
}

const fn put(resource: T, api: Api) -> AzureCall {
    AzureCall {
        method: Method::Put,
        ..get(&[IVR], Resource::Target(resource), api)
    }
}

const RG: Scope = Scope::ResourceGroup;
const SUB: Scope = Scope::Subscription;
const EXPAND_REPLICATION: &[(&str, &str)] = &[("$expand", "ReplicationStatus")];

/// GET of a gallery image definition (tenant 1): OS type and state, features, purchase plan.
pub const GALLERY_IMAGE_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::GalleryImage,
    grants: &[grant(
        "Microsoft.Compute/galleries/images/read",
        GalleryReader,
        Scope::Gallery,
        "GET of the image definition (OS type and state, features, purchase plan)",
    )],
    ..get(&[DR, IVR], Resource::ImageDefinition, Api::Gallery)
};

/// GET of a gallery image version with its replication status (tenant 1).
pub const GALLERY_VERSION_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::GalleryImage,
    query: EXPAND_REPLICATION,
    note: Some("again on every replication-check until replicated"),
    grants: &[grant(
        "Microsoft.Compute/galleries/images/versions/read",
        GalleryReader,
        Scope::Gallery,
        "GET of the version with its replication status",
    )],
    ..get(&[DR, RC, IVR], Resource::ImageVersion, Api::Gallery)
};

/// GET of a direct-shared image definition, location-scoped, with the tenant-2 token.
pub const SHARED_IMAGE_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::SharedImage,
    grants: &[grant(
        "Microsoft.Compute/locations/sharedGalleries/images/read",
        SharedImageReader,
        SUB,
        "GET of the shared image definition (OS type and state, features)",
    )],
    ..get(&[DR, IVR], Resource::ImageDefinition, Api::Gallery)
};

/// GET of a direct-shared image version in the target region (found means replicated there).
pub const SHARED_VERSION_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::SharedImage,
    grants: &[grant(
        "Microsoft.Compute/locations/sharedGalleries/images/versions/read",
        SharedImageReader,
        SUB,
        "GET of the shared version in the target region",
    )],
    ..get(&[DR, RC, IVR], Resource::ImageVersion, Api::Gallery)
};

/// GET of a community image definition, location-scoped, with the tenant-2 token.
pub const COMMUNITY_IMAGE_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::CommunityImage,
    grants: &[grant(
        "Microsoft.Compute/locations/communityGalleries/images/read",
        SharedImageReader,
        SUB,
        "GET of the community image definition (OS type and state, features)",
    )],
    ..get(&[DR, IVR], Resource::ImageDefinition, Api::Gallery)
};

/// GET of a community image version in the target region (found means replicated there).
pub const COMMUNITY_VERSION_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::CommunityImage,
    grants: &[grant(
        "Microsoft.Compute/locations/communityGalleries/images/versions/read",
        SharedImageReader,
        SUB,
        "GET of the community version in the target region",
    )],
    ..get(&[DR, RC, IVR], Resource::ImageVersion, Api::Gallery)
};

/// `image-version-published`: GET of the published version (end of life, exclude from latest).
pub const PUBLISHED_VERSION_GET: AzureCall = AzureCall {
    token: Token::Image,
    when: When::GalleryImage,
    query: EXPAND_REPLICATION,
    grants: GALLERY_VERSION_GET.grants,
    ..get(
        &[ImageVersionPublished],
        Resource::ImageVersion,
        Api::Gallery,
    )
};

/// GET of a VM of the deployment's name: this deployment's is reused, any other is a conflict.
pub const EXISTING_VM_GET: AzureCall = AzureCall {
    when: When::Vm,
    note: Some("an existing VM of this deployment is reused, any other is a conflict"),
    grants: &[grant(
        "Microsoft.Compute/virtualMachines/read",
        Deployer,
        RG,
        "GET of an existing VM of that name, and the provisioning polls",
    )],
    ..get(&[IVR], Resource::Target(T::VirtualMachine), Api::Compute)
};

/// GET of the Windows password, with the app's home-tenant token.
pub const SECRET_GET: AzureCall = AzureCall {
    token: Token::Home,
    when: When::WindowsPassword,
    note: Some("Windows: read with the app's home-tenant token; nothing is written if it fails"),
    grants: &[grant(
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        KeyVaultSecretsUser,
        Scope::Vault,
        "GET of the Windows administrator password (a data action)",
    )],
    ..get(&[IVR], Resource::Secret, Api::KeyVault)
};

/// GET of the Marketplace plan's terms agreement, before the first write.
pub const MARKETPLACE_TERMS_GET: AzureCall = AzureCall {
    when: When::MarketplacePlan,
    note: Some("before the first write; unaccepted terms fail the deployment there"),
    grants: &[grant(
        "Microsoft.MarketplaceOrdering/offertypes/publishers/offers/plans/agreements/read",
        MarketplaceTermsReader,
        SUB,
        "GET of the plan's terms agreement before the first write (else the VM PUT reports unaccepted terms after the network exists)",
    )],
    ..get(
        &[IVR],
        Resource::MarketplaceAgreement,
        Api::MarketplaceOrdering,
    )
};

/// The app's permissions on an existing `network.subnetId`, before the first write.
pub const SUBNET_PERMISSIONS_GET: AzureCall = AzureCall {
    when: When::ExistingSubnet,
    note: Some("before the first write; a missing subnets/join/action fails the deployment there"),
    ..get(&[IVR], Resource::SubnetPermissions, Api::Authorization)
};

/// GET of the target resource group before any write.
pub const RESOURCE_GROUP_GET: AzureCall = AzureCall {
    grants: &[
        grant(
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            Deployer,
            RG,
            "GET of the target resource group before any write",
        ),
        Grant {
            when: When::CreateResourceGroup,
            ..grant(
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                ResourceGroupCreator,
                SUB,
                "GET of the group before it is created",
            )
        },
    ],
    ..get(&[IVR], Resource::Target(T::ResourceGroup), Api::Resources)
};

/// PUT of the missing resource group (`IMAGEFERRY_CREATE_RESOURCE_GROUP=true`).
pub const RESOURCE_GROUP_PUT: AzureCall = AzureCall {
    when: When::CreateResourceGroup,
    note: Some("only if the group does not exist"),
    grants: &[grant(
        "Microsoft.Resources/subscriptions/resourceGroups/write",
        ResourceGroupCreator,
        SUB,
        "PUT of the missing resource group",
    )],
    ..put(T::ResourceGroup, Api::Resources)
};

/// PUT of `{vm}-vnet`, with its subnet `{vm}-subnet` in the body.
pub const VNET_PUT: AzureCall = AzureCall {
    when: When::OwnNetwork,
    grants: &[
        grant(
            "Microsoft.Network/virtualNetworks/write",
            Deployer,
            RG,
            "PUT of {vm}-vnet with its subnet {vm}-subnet in the body",
        ),
        grant(
            "Microsoft.Network/virtualNetworks/subnets/read",
            Deployer,
            RG,
            "the subnet {vm}-subnet, created inside the VNet's PUT (kept in the role: Azure's network permissions list it for subnets; not verified against Azure here)",
        ),
        grant(
            "Microsoft.Network/virtualNetworks/subnets/write",
            Deployer,
            RG,
            "the subnet {vm}-subnet in the VNet's PUT body (kept in the role: Azure's network permissions list subnets/write for creating a subnet; a missing one would fail only on real Azure)",
        ),
    ],
    ..put(T::VirtualNetwork, Api::Network)
};

/// GET of `{vm}-vnet` when its PUT's operation ends, and on a continuation.
pub const VNET_GET: AzureCall = AzureCall {
    when: When::OwnNetwork,
    note: Some("when its PUT's operation ends, and first on a continuation"),
    grants: &[grant(
        "Microsoft.Network/virtualNetworks/read",
        Deployer,
        RG,
        "GET of {vm}-vnet when its PUT's operation ends, and on a continuation",
    )],
    ..get(&[IVR], Resource::Target(T::VirtualNetwork), Api::Network)
};

/// PUT of `{vm}-nsg` (SSH 22 or RDP 3389 from `allowInboundFrom`).
pub const NSG_PUT: AzureCall = AzureCall {
    grants: &[grant(
        "Microsoft.Network/networkSecurityGroups/write",
        Deployer,
        RG,
        "PUT of {vm}-nsg (SSH 22 or RDP 3389 from allowInboundFrom)",
    )],
    ..put(T::NetworkSecurityGroup, Api::Network)
};

/// GET of `{vm}-nsg` when its PUT's operation ends, and on a continuation.
pub const NSG_GET: AzureCall = AzureCall {
    note: VNET_GET.note,
    grants: &[grant(
        "Microsoft.Network/networkSecurityGroups/read",
        Deployer,
        RG,
        "GET of {vm}-nsg when its PUT's operation ends, and on a continuation",
    )],
    ..get(
        &[IVR],
        Resource::Target(T::NetworkSecurityGroup),
        Api::Network,
    )
};

/// PUT of `{vm}-pip` (Standard, static).
pub const PUBLIC_IP_PUT: AzureCall = AzureCall {
    when: When::PublicIp,
    grants: &[grant(
        "Microsoft.Network/publicIPAddresses/write",
        Deployer,
        RG,
        "PUT of {vm}-pip (Standard, static)",
    )],
    ..put(T::PublicIp, Api::Network)
};

/// GET of `{vm}-pip` when its PUT ends, and for the address in `succeeded`.
pub const PUBLIC_IP_GET: AzureCall = AzureCall {
    when: When::PublicIp,
    note: Some(
        "when its PUT's operation ends, on a continuation, and for the address in `succeeded`",
    ),
    grants: &[grant(
        "Microsoft.Network/publicIPAddresses/read",
        Deployer,
        RG,
        "GET of {vm}-pip when its PUT ends, and for the address in `succeeded`",
    )],
    ..get(&[IVR, VP], Resource::Target(T::PublicIp), Api::Network)
};

/// PUT of `{vm}-nic`: joins the subnet, names the NSG and the public IP (linked access checks).
pub const NIC_PUT: AzureCall = AzureCall {
    when: When::Vm,
    grants: &[
        grant(
            "Microsoft.Network/networkInterfaces/write",
            Deployer,
            RG,
            "PUT of {vm}-nic",
        ),
        grant(
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            Deployer,
            Scope::Subnet,
            "the NIC's IP configuration joins the subnet (linked access check)",
        ),
        grant(
            "Microsoft.Network/networkSecurityGroups/join/action",
            Deployer,
            RG,
            "the NIC names the NSG (linked access check)",
        ),
        Grant {
            when: When::PublicIp,
            ..grant(
                "Microsoft.Network/publicIPAddresses/join/action",
                Deployer,
                RG,
                "the NIC's IP configuration names the public IP (linked access check)",
            )
        },
    ],
    ..put(T::NetworkInterface, Api::Network)
};

/// GET of `{vm}-nic` when its PUT ends, and for the private address in `succeeded`.
pub const NIC_GET: AzureCall = AzureCall {
    when: When::Vm,
    note: Some(
        "when its PUT's operation ends, on a continuation, and for the private address in `succeeded`",
    ),
    grants: &[grant(
        "Microsoft.Network/networkInterfaces/read",
        Deployer,
        RG,
        "GET of {vm}-nic when its PUT ends, and for the private address in `succeeded`",
    )],
    ..get(
        &[IVR, VP],
        Resource::Target(T::NetworkInterface),
        Api::Network,
    )
};

/// The network PUTs' `Azure-AsyncOperation`, polled until they end.
pub const NETWORK_OPERATION_GET: AzureCall = AzureCall {
    note: Some("after each network PUT, until its operation ends"),
    grants: &[grant(
        "Microsoft.Network/locations/operations/read",
        Deployer,
        RG,
        "the network PUTs' Azure-AsyncOperation, polled until they end",
    )],
    ..get(&[IVR], Resource::Operation(Api::Network), Api::Network)
};

/// PUT of the VM, with the auxiliary tenant-1 token for a gallery image of another tenant.
pub const VM_PUT: AzureCall = AzureCall {
    token: Token::TargetWithImageAux,
    when: When::Vm,
    grants: &[
        grant(
            "Microsoft.Compute/virtualMachines/write",
            Deployer,
            RG,
            "PUT of the VM, with the auxiliary tenant-1 token",
        ),
        grant(
            "Microsoft.Network/networkInterfaces/join/action",
            Deployer,
            RG,
            "the VM names the NIC (linked authorization check)",
        ),
        grant(
            "Microsoft.Compute/disks/read",
            Deployer,
            RG,
            "the VM PUT creates the OS managed disk in the resource group",
        ),
        grant(
            "Microsoft.Compute/disks/write",
            Deployer,
            RG,
            "the VM PUT creates the OS managed disk in the resource group",
        ),
    ],
    ..put(T::VirtualMachine, Api::Compute)
};

/// The VM create's `Azure-AsyncOperation` (or `Location`), polled by `vm-provisioning`.
pub const VM_OPERATION_GET: AzureCall = AzureCall {
    when: When::Vm,
    note: Some(
        "every IMAGEFERRY_PROVISIONING_POLL until Succeeded or Failed, then the NIC and public IP for the addresses",
    ),
    grants: &[grant(
        "Microsoft.Compute/locations/operations/read",
        Deployer,
        RG,
        "the VM create's Azure-AsyncOperation, polled by vm-provisioning",
    )],
    ..get(&[VP], Resource::Operation(Api::Compute), Api::Compute)
};

/// GET of the VM with its instance view (its state, a failed create's error).
pub const VM_STATE_GET: AzureCall = AzureCall {
    when: When::Vm,
    query: &[("$expand", "instanceView")],
    note: Some("when the create answered no operation URL of the VM's own, and when it ends"),
    grants: EXISTING_VM_GET.grants,
    ..get(&[VP], Resource::Target(T::VirtualMachine), Api::Compute)
};

const SCALE_SET_READ: Grant = grant(
    "Microsoft.Compute/virtualMachineScaleSets/read",
    Deployer,
    RG,
    "GET of the scale set before its PUT or PATCH, and on every check (the model still names this version)",
);

/// GET of the scale set of the request's name: absent, it is created; created by imageferry,
/// it is updated; anything else is a conflict.
pub const SCALE_SET_GET: AzureCall = AzureCall {
    when: When::ScaleSet,
    note: Some(
        "before the write (an existing scale set is updated only if imageferry created it), and on every check of vm-provisioning",
    ),
    grants: &[SCALE_SET_READ],
    ..get(&[IVR, VP], Resource::Target(T::ScaleSet), Api::Compute)
};

/// PUT of the scale set (the first version), with the auxiliary tenant-1 token: the body carries
/// the image.
pub const SCALE_SET_PUT: AzureCall = AzureCall {
    token: Token::TargetWithImageAux,
    when: When::ScaleSet,
    note: Some(
        "when no scale set of that name exists: Uniform, upgrade policy Manual (batches) or Rolling, the NIC configuration on the subnet with the NSG (a public IP per instance when asked), the Application Health extension when `health` is set",
    ),
    grants: &[
        grant(
            "Microsoft.Compute/virtualMachineScaleSets/write",
            Deployer,
            RG,
            "PUT of the scale set (auxiliary tenant-1 token) and PATCH of its model",
        ),
        grant(
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            Deployer,
            Scope::Subnet,
            "the scale set's NIC configuration joins the subnet (linked access check)",
        ),
        grant(
            "Microsoft.Network/networkSecurityGroups/join/action",
            Deployer,
            RG,
            "the scale set's NIC configuration names the NSG (linked access check)",
        ),
    ],
    ..put(T::ScaleSet, Api::Compute)
};

/// PATCH of the scale set's model to a newer version: `imageReference.id` with the auxiliary
/// token, and the tags; a PATCH that does not change the image leaves it (and the token) out.
pub const SCALE_SET_PATCH: AzureCall = AzureCall {
    method: Method::Patch,
    token: Token::TargetWithImageAux,
    when: When::ScaleSet,
    note: Some(
        "a newer version of an existing scale set: imageReference.id with the auxiliary token; the same image under another deployment: the tags only, without imageReference and without the auxiliary token",
    ),
    grants: &[grant(
        "Microsoft.Compute/virtualMachineScaleSets/write",
        Deployer,
        RG,
        "PATCH of the scale set's model (the image reference, the tags)",
    )],
    ..put(T::ScaleSet, Api::Compute)
};

/// The scale set's PUT, PATCH and `manualupgrade` operations, polled by `vm-provisioning`.
pub const SCALE_SET_OPERATION_GET: AzureCall = AzureCall {
    when: When::ScaleSet,
    note: Some("every IMAGEFERRY_PROVISIONING_POLL until the PUT, PATCH or batch operation ends"),
    grants: &[grant(
        "Microsoft.Compute/locations/operations/read",
        Deployer,
        RG,
        "the scale set's PUT, PATCH and manualupgrade operations, polled by vm-provisioning",
    )],
    ..get(&[VP], Resource::Operation(Api::Compute), Api::Compute)
};

/// The scale set's instances with their instance views (model applied, provisioning state,
/// `vmHealth`).
pub const SCALE_SET_INSTANCES_GET: AzureCall = AzureCall {
    when: When::ScaleSet,
    query: &[("$expand", "instanceView")],
    note: Some(
        "on every check: which instances run the model, their provisioning state and vmHealth",
    ),
    grants: &[grant(
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
        Deployer,
        RG,
        "the instances with $expand=instanceView (latestModelApplied, provisioning state, vmHealth)",
    )],
    ..get(
        &[VP],
        Resource::ScaleSetPart(ScaleSetPart::Instances),
        Api::Compute,
    )
};

/// `manualupgrade` of one batch's instances (no image in the body: no auxiliary token).
pub const SCALE_SET_MANUAL_UPGRADE: AzureCall = AzureCall {
    method: Method::Post,
    when: When::ScaleSetBatches,
    note: Some(
        "once per batch, {\"instanceIds\": [...]} of the instances not on the model yet; skipped when they are (a replayed batch changes nothing)",
    ),
    grants: &[grant(
        "Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action",
        Deployer,
        RG,
        "manualupgrade of each batch's instances",
    )],
    ..get(
        &[VP],
        Resource::ScaleSetPart(ScaleSetPart::ManualUpgrade),
        Api::Compute,
    )
};

/// `rollingUpgrades/latest`: the scale set's own rolling upgrade, followed until it ends.
pub const SCALE_SET_ROLLING_LATEST: AzureCall = AzureCall {
    when: When::ScaleSetRolling,
    note: Some("on every check until it is Completed, Faulted or Cancelled"),
    grants: &[grant(
        "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/read",
        Deployer,
        RG,
        "GET of rollingUpgrades/latest while the scale set's rolling upgrade runs",
    )],
    ..get(
        &[VP],
        Resource::ScaleSetPart(ScaleSetPart::LatestRollingUpgrade),
        Api::Compute,
    )
};

/// Every call, in the order the steps make them.
pub const CALLS: &[AzureCall] = &[
    GALLERY_IMAGE_GET,
    SHARED_IMAGE_GET,
    COMMUNITY_IMAGE_GET,
    GALLERY_VERSION_GET,
    SHARED_VERSION_GET,
    COMMUNITY_VERSION_GET,
    PUBLISHED_VERSION_GET,
    EXISTING_VM_GET,
    SECRET_GET,
    MARKETPLACE_TERMS_GET,
    SUBNET_PERMISSIONS_GET,
    RESOURCE_GROUP_GET,
    RESOURCE_GROUP_PUT,
    VNET_PUT,
    VNET_GET,
    NSG_PUT,
    NSG_GET,
    PUBLIC_IP_PUT,
    PUBLIC_IP_GET,
    NIC_PUT,
    NIC_GET,
    NETWORK_OPERATION_GET,
    VM_PUT,
    VM_OPERATION_GET,
    VM_STATE_GET,
    SCALE_SET_GET,
    SCALE_SET_PUT,
    SCALE_SET_PATCH,
    SCALE_SET_OPERATION_GET,
    SCALE_SET_INSTANCES_GET,
    SCALE_SET_MANUAL_UPGRADE,
    SCALE_SET_ROLLING_LATEST,
];

/// The GET of `image`'s definition (gallery, shared or community).
pub fn image_definition_get(image: &ImageId) -> &'static AzureCall {
    match image {
        ImageId::Gallery { .. } => &GALLERY_IMAGE_GET,
        ImageId::Shared { .. } => &SHARED_IMAGE_GET,
        ImageId::Community { .. } => &COMMUNITY_IMAGE_GET,
    }
}

/// The GET of `image`'s version (gallery with its replication status, or location-scoped).
pub fn image_version_get(image: &ImageId) -> &'static AzureCall {
    match image {
        ImageId::Gallery { .. } => &GALLERY_VERSION_GET,
        ImageId::Shared { .. } => &SHARED_VERSION_GET,
        ImageId::Community { .. } => &COMMUNITY_VERSION_GET,
    }
}
