//! Azure Compute Gallery: image definitions and versions (GalleryRP 2025-03-03), and the
//! location-scoped direct-shared / community image versions.

use super::common::{ProvisioningState, Tolerant, region_eq};
use imageferry_contract::GalleryVersion;
/// The contract's OS type and state: one type each in the project (GalleryRP
/// `OperatingSystemTypes`, `OperatingSystemStateTypes`), read here as [`Tolerant`] values.
pub use imageferry_contract::{OsState, OsType};
use serde::{Deserialize, Serialize};

string_enum! {
    /// `ReplicationState` of one region.
    ReplicationState {
        /// `Unknown`.
        Unknown = "Unknown",
        /// `Replicating`.
        Replicating = "Replicating",
        /// `Completed`.
        Completed = "Completed",
        /// `Failed`.
        Failed = "Failed",
    }
}

string_enum! {
    /// `AggregatedReplicationState` over all regions.
    AggregatedReplicationState {
        /// `Unknown`.
        Unknown = "Unknown",
        /// `InProgress`.
        InProgress = "InProgress",
        /// `Completed`.
        Completed = "Completed",
        /// `Failed`.
        Failed = "Failed",
    }
}

string_enum! {
    /// `HyperVGeneration`.
    HyperVGeneration {
        /// `V1`.
        V1 = "V1",
        /// `V2`.
        V2 = "V2",
    }
}

/// A gallery image version, as read with `$expand=ReplicationStatus` (its `location` may be a
/// display name).
pub type GalleryImageVersion = super::TrackedResource<GalleryImageVersionProperties>;

/// `GalleryImageVersionProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryImageVersionProperties {
    /// Where the version is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishing_profile: Option<PublishingProfile>,
    /// Source and disk images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<GalleryImageVersionStorageProfile>,
    /// Read-only provisioning state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only; present with `$expand=ReplicationStatus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<ReplicationStatus>,
}

/// `GalleryImageVersionPublishingProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublishingProfile {
    /// Regions the version replicates to.
    pub target_regions: Vec<TargetRegion>,
    /// Default replica count per region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<i32>,
    /// Read-only publish time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_date: Option<String>,
    /// End of life, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_life_date: Option<String>,
    /// Excluded from `latest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_from_latest: Option<bool>,
    /// Default storage account type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_account_type: Option<String>,
}

/// `TargetRegion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetRegion {
    /// Region display name, e.g. "West US 2".
    pub name: String,
    /// Replicas in this region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regional_replica_count: Option<i32>,
    /// Storage account type, e.g. `Standard_LRS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_account_type: Option<String>,
    /// Excluded from `latest` in this region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_from_latest: Option<bool>,
}

/// `GalleryImageVersionStorageProfile` (the parts the pipeline reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryImageVersionStorageProfile {
    /// The source the version was created from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<super::SubResource>,
    /// The OS disk image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_disk_image: Option<GalleryOsDiskImage>,
}

/// OS disk image of a version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryOsDiskImage {
    /// Size in GiB (read-only).
    #[serde(rename = "sizeInGB", skip_serializing_if = "Option::is_none")]
    pub size_in_gb: Option<i32>,
    /// Host caching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_caching: Option<String>,
}

/// `ReplicationStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicationStatus {
    /// Over all regions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregated_state: Option<AggregatedReplicationState>,
    /// Per region.
    pub summary: Vec<RegionalReplicationStatus>,
}

/// `RegionalReplicationStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegionalReplicationStatus {
    /// Region display name.
    pub region: String,
    /// State in this region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ReplicationState>,
    /// Details (e.g. the failure reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Progress in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<i32>,
}

impl GalleryImageVersion {
    /// Whether `region` is one of the publishing target regions.
    pub fn targets_region(&self, region: &str) -> bool {
        self.properties
            .publishing_profile
            .as_ref()
            .is_some_and(|p| p.target_regions.iter().any(|t| region_eq(&t.name, region)))
    }

    /// The names of the publishing target regions, as the version lists them.
    pub fn target_region_names(&self) -> Vec<String> {
        self.properties
            .publishing_profile
            .iter()
            .flat_map(|p| p.target_regions.iter().map(|t| t.name.clone()))
            .collect()
    }

    /// The replication status of `region`, if reported.
    pub fn region_status(&self, region: &str) -> Option<&RegionalReplicationStatus> {
        self.properties
            .replication_status
            .as_ref()?
            .summary
            .iter()
            .find(|s| region_eq(&s.region, region))
    }

    /// Whether the version can be used in `region` now ([`RegionReadiness::Ready`]).
    pub fn is_ready_in(&self, region: &str) -> bool {
        self.readiness_in(region) == RegionReadiness::Ready
    }

    /// The one replication verdict of the project (the handler's steps, `imageferry
    /// wait-replicated` and `doctor` all read it). GalleryRP documents `replicationStatus.summary`
    /// as "a summary of replication status for each region" and `aggregatedState` as "the
    /// aggregated replication status based on all the regional replication status flags"
    /// (`ReplicationStatus`): so the target region's own entry decides, and the aggregate only
    /// speaks for a region without one.
    /// - `Completed` there is ready while the version as a whole is `Updating` (the publisher is
    ///   adding a region: `az sig image-version update` keeps the version `Updating` until the
    ///   new region is done, Azure/azure-cli#16632) or `Failed` because another region failed;
    ///   while the version is still being created it waits.
    /// - `Failed` there fails.
    /// - Anything else there (`Replicating`, `Unknown`) waits, even when another region failed
    ///   and the aggregate (and `provisioningState`) say `Failed`: that region's failure is not
    ///   this one's, and the caller's deadline bounds the wait.
    /// - Without an entry for the region, the aggregated state and `provisioningState` decide:
    ///   either `Failed` fails, `Succeeded` with `Completed` is ready, anything else waits.
    pub fn readiness_in(&self, region: &str) -> RegionReadiness {
        let targets = self
            .properties
            .publishing_profile
            .as_ref()
            .map(|p| p.target_regions.as_slice())
            .unwrap_or_default();
        if !targets.is_empty() && !self.targets_region(region) {
            return RegionReadiness::NotTargeted;
        }
        let provisioning = self.properties.provisioning_state.as_ref();
        if let Some(status) = self.region_status(region) {
            return match (&status.state, provisioning) {
                (Some(ReplicationState::Failed), _) => RegionReadiness::Failed,
                (
                    Some(ReplicationState::Completed),
                    Some(
                        ProvisioningState::Succeeded
                        | ProvisioningState::Updating
                        | ProvisioningState::Failed,
                    ),
                ) => RegionReadiness::Ready,
                _ => RegionReadiness::Waiting,
            };
        }
        let aggregated = self
            .properties
            .replication_status
            .as_ref()
            .and_then(|s| s.aggregated_state.as_ref());
        match (provisioning, aggregated) {
            (Some(ProvisioningState::Failed), _)
            | (_, Some(AggregatedReplicationState::Failed)) => RegionReadiness::Failed,
            (Some(ProvisioningState::Succeeded), Some(AggregatedReplicationState::Completed)) => {
                RegionReadiness::Ready
            }
            _ => RegionReadiness::Waiting,
        }
    }
}

/// Whether an image version can be used in one region ([`GalleryImageVersion::readiness_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionReadiness {
    /// Replicated there: a VM can be created from it.
    Ready,
    /// Not yet (still replicating, or the version is still being created).
    Waiting,
    /// Replication to this region failed (or the version failed with no per-region status).
    Failed,
    /// The region is not one of the version's target regions.
    NotTargeted,
}

/// A gallery image definition.
pub type GalleryImage = super::TrackedResource<GalleryImageProperties>;

/// `GalleryImageProperties` (the parts the pipeline reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryImageProperties {
    /// `Windows` or `Linux`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_type: Option<Tolerant<OsType>>,
    /// `Generalized` or `Specialized`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_state: Option<Tolerant<OsState>>,
    /// `V1` or `V2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hyper_v_generation: Option<HyperVGeneration>,
    /// Publisher/offer/sku.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<GalleryImageIdentifier>,
    /// Features such as `{name: SecurityType, value: TrustedLaunch}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<GalleryImageFeature>,
    /// The Marketplace plan of the image it was built from (`ImagePurchasePlan`): a VM from it
    /// must carry the same top-level `plan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_plan: Option<ImagePurchasePlan>,
    /// Read-only provisioning state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `GalleryImageIdentifier`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryImageIdentifier {
    /// Publisher.
    pub publisher: String,
    /// Offer.
    pub offer: String,
    /// SKU.
    pub sku: String,
}

/// `GalleryImageFeature`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryImageFeature {
    /// Feature name, e.g. `SecurityType`.
    pub name: String,
    /// Feature value, e.g. `TrustedLaunch`.
    pub value: String,
    /// The first version the feature applies to (`startsAtVersion`); every version when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at_version: Option<String>,
}

impl GalleryImageFeature {
    /// Whether the feature applies to image version `version`: always without
    /// `startsAtVersion`, else when `version >= startsAtVersion` in ARM's version order
    /// ([`GalleryVersion`]). A name that is not `major.minor.patch` on either side (Azure
    /// refuses one when it is set) cannot be ordered: the feature is taken to apply.
    pub fn applies_to(&self, version: &str) -> bool {
        let Some(start) = &self.starts_at_version else {
            return true;
        };
        match (GalleryVersion::parse(version), GalleryVersion::parse(start)) {
            (Ok(v), Ok(start)) => v >= start,
            _ => true,
        }
    }
}

/// `ImagePurchasePlan` of a gallery image definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImagePurchasePlan {
    /// The plan id.
    pub name: String,
    /// The publisher id.
    pub publisher: String,
    /// The product id.
    pub product: String,
}

impl From<&ImagePurchasePlan> for super::Plan {
    fn from(p: &ImagePurchasePlan) -> Self {
        Self {
            name: p.name.clone(),
            publisher: p.publisher.clone(),
            product: p.product.clone(),
            promotion_code: None,
        }
    }
}

impl GalleryImage {
    /// The `SecurityType` feature's value for version `version`, if any (`TrustedLaunch`,
    /// `TrustedLaunchSupported`, `ConfidentialVM`, ...): a feature with `startsAtVersion` only
    /// applies from that version on. `None` for `version` means "whatever version": every feature.
    pub fn security_type(&self, version: Option<&str>) -> Option<&str> {
        self.properties
            .features
            .iter()
            .filter(|f| version.is_none_or(|v| f.applies_to(v)))
            .find(|f| f.name.eq_ignore_ascii_case("SecurityType"))
            .map(|f| f.value.as_str())
    }

    /// Whether VMs from version `version` must be created as Trusted Launch VMs
    /// (feature `SecurityType=TrustedLaunch` applying to that version).
    pub fn is_trusted_launch(&self, version: Option<&str>) -> bool {
        self.security_type(version)
            .is_some_and(|v| v.eq_ignore_ascii_case("TrustedLaunch"))
    }

    /// The `plan` a VM from this image must carry, if the image has a purchase plan.
    pub fn vm_plan(&self) -> Option<super::Plan> {
        self.properties
            .purchase_plan
            .as_ref()
            .filter(|p| !p.name.is_empty())
            .map(super::Plan::from)
    }

    /// Whether the image is generalized (a VM from it needs an `osProfile`).
    pub fn is_generalized(&self) -> bool {
        self.properties.os_state == Some(Tolerant::Known(OsState::Generalized))
    }
}

/// The unique id of a direct-shared or community gallery.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryIdentifier {
    /// e.g. `/SharedGalleries/{galleryUniqueName}/Images/{image}/Versions/{version}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

/// A direct-shared (`sharedGalleries`) or community (`communityGalleries`) image version, read with
/// the location-scoped GET `/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/...`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DirectSharedImageVersion {
    /// Version name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Resource type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The unique id (use it as `sharedGalleryImageId` / `communityGalleryImageId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<GalleryIdentifier>,
    /// Properties.
    pub properties: DirectSharedImageVersionProperties,
}

/// `SharedGalleryImageVersionProperties` / `CommunityGalleryImageVersionProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DirectSharedImageVersionProperties {
    /// Publish time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_date: Option<String>,
    /// End of life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_life_date: Option<String>,
    /// Excluded from `latest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_from_latest: Option<bool>,
}

/// A direct-shared gallery image version.
pub type SharedGalleryImageVersion = DirectSharedImageVersion;
/// A community gallery image version.
pub type CommunityGalleryImageVersion = DirectSharedImageVersion;

impl super::common::MaybeEmpty for GalleryImageProperties {}

impl super::common::MaybeEmpty for GalleryImageVersionProperties {}
