//! Typed ARM models: what the pipeline reads, and the bodies it PUTs.
//!
//! Tolerant by design: unknown fields are ignored, unknown enum values are kept
//! (`Other(String)`), every field is optional on input. Shapes follow the azure-rest-api-specs
//! examples and schemas under `reference/arm/`.

#[macro_use]
mod common;
mod authorization;
mod compute;
mod gallery;
mod marketplace;
mod network;
mod resources;
mod scale_set;

pub use authorization::{
    AUTHORIZATION_API, Permission, PermissionList, RoleDefinition, RoleDefinitionProperties,
    action_matches, permissions_path,
};
pub use common::{
    ChildResource, MaybeEmpty, Plan, Provisioned, ProvisioningOnly, ProvisioningState, Sku,
    SubResource, Tolerant, TrackedResource, normalize_region, region_eq,
};
pub use compute::{
    DeleteOption, HardwareProfile, ImageReference, InstanceViewStatus, LinuxConfiguration,
    ManagedDiskParameters, NetworkInterfaceReference, NetworkInterfaceReferenceProperties,
    NetworkProfile, OsDisk, OsProfile, SecurityProfile, SecurityType, SshConfiguration,
    SshPublicKey, StorageProfile, UefiSettings, VirtualMachine, VirtualMachineInstanceView,
    VirtualMachineProperties,
};
pub use gallery::{
    AggregatedReplicationState, CommunityGalleryImageVersion, DirectSharedImageVersion,
    DirectSharedImageVersionProperties, GalleryIdentifier, GalleryImage, GalleryImageFeature,
    GalleryImageIdentifier, GalleryImageProperties, GalleryImageVersion,
    GalleryImageVersionProperties, GalleryImageVersionStorageProfile, GalleryOsDiskImage,
    HyperVGeneration, ImagePurchasePlan, OsState, OsType, PublishingProfile, RegionReadiness,
    RegionalReplicationStatus, ReplicationState, ReplicationStatus, SharedGalleryImageVersion,
    TargetRegion,
};
pub use marketplace::{
    MARKETPLACE_ORDERING_API, MarketplaceAgreement, MarketplaceAgreementProperties,
};
pub use network::{
    AddressSpace, IpConfiguration, IpConfigurationProperties, NetworkInterface,
    NetworkInterfaceProperties, NetworkSecurityGroup, NetworkSecurityGroupProperties,
    PublicIpAddress, PublicIpAddressProperties, PublicIpSku, SecurityRule, SecurityRuleProperties,
    Subnet, SubnetProperties, VirtualNetwork, VirtualNetworkProperties,
};
pub use resources::{ResourceGroup, ResourceGroupProperties};
pub use scale_set::{
    InstanceIds, RollingUpgradePolicy, RollingUpgradeProgress, RollingUpgradeRunningStatus,
    RollingUpgradeStatus, RollingUpgradeStatusProperties, ScaleSetExtension,
    ScaleSetExtensionProfile, ScaleSetExtensionProperties, ScaleSetIpConfiguration,
    ScaleSetIpConfigurationProperties, ScaleSetNetworkProfile, ScaleSetNicConfiguration,
    ScaleSetNicConfigurationProperties, ScaleSetOsProfile, ScaleSetProperties,
    ScaleSetPublicIpConfiguration, ScaleSetPublicIpConfigurationProperties, ScaleSetSku,
    ScaleSetStorageProfile, ScaleSetUpdateProperties, ScaleSetUpdateStorageProfile,
    ScaleSetUpdateVmProfile, ScaleSetVm, ScaleSetVmInstanceView, ScaleSetVmProfile,
    ScaleSetVmProperties, UpgradePolicy, VirtualMachineScaleSet, VirtualMachineScaleSetUpdate,
    VmHealth,
};
