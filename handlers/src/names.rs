//! Deterministic resource names and ARM paths of one deployment, and the API versions used.
//!
//! Names are derived from the VM name so that re-running a step PUTs the same resources:
//! `{vm}-vnet`, `{vm}-subnet`, `{vm}-nsg`, `{vm}-pip`, `{vm}-nic`.

use imageferry_contract::{DeploymentRequest, ImageId};

/// Microsoft.Compute virtual machines (ComputeRP stable 2025-04-01).
pub const COMPUTE_API: &str = "2025-04-01";
/// Microsoft.Compute galleries (GalleryRP stable 2025-03-03).
pub const GALLERY_API: &str = "2025-03-03";
/// Microsoft.Network (stable 2024-05-01: the newest version all four saved examples share).
pub const NETWORK_API: &str = "2024-05-01";
/// Microsoft.Resources resource groups (stable 2024-03-01, `CreateResourceGroup.json`).
pub const RESOURCES_API: &str = "2024-03-01";

/// Address space of a VNet imageferry builds (as `New-AzVM` / `az vm create` do).
pub const VNET_PREFIX: &str = "192.168.0.0/16";
/// Its one subnet.
pub const SUBNET_PREFIX: &str = "192.168.1.0/24";

/// The ARM paths of everything one deployment touches in the target subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetNames {
    /// `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub resource_group: String,
    /// The VM.
    pub vm: String,
    /// `{vm}-vnet`.
    pub vnet: String,
    /// The subnet the NIC uses: `{vm}-vnet/subnets/{vm}-subnet`, or the request's `subnetId`.
    pub subnet: String,
    /// `{vm}-nsg`.
    pub nsg: String,
    /// `{vm}-pip`.
    pub public_ip: String,
    /// `{vm}-nic`.
    pub nic: String,
}

impl TargetNames {
    /// Derives every name from the request.
    pub fn of(req: &DeploymentRequest) -> Self {
        let t = &req.target;
        let rg = format!(
            "/subscriptions/{}/resourceGroups/{}",
            t.subscription_id, t.resource_group
        );
        let vm_name = &req.vm.name;
        let network = |kind: &str, suffix: &str| {
            format!("{rg}/providers/Microsoft.Network/{kind}/{vm_name}-{suffix}")
        };
        let vnet = network("virtualNetworks", "vnet");
        let subnet = req
            .network
            .subnet_id
            .clone()
            .unwrap_or_else(|| format!("{vnet}/subnets/{vm_name}-subnet"));
        TargetNames {
            vm: format!("{rg}/providers/Microsoft.Compute/virtualMachines/{vm_name}"),
            nsg: network("networkSecurityGroups", "nsg"),
            public_ip: network("publicIPAddresses", "pip"),
            nic: network("networkInterfaces", "nic"),
            subnet,
            vnet,
            resource_group: rg,
        }
    }
}

/// Paths to read an image definition and version, and the tenant whose token reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePaths {
    /// The image definition.
    pub definition: String,
    /// The image version.
    pub version: String,
    /// Tenant of the token for both GETs.
    pub tenant: String,
    /// Whether the version GET reports `replicationStatus` (gallery form only; shared and
    /// community versions are location-scoped: found means available in that location).
    pub has_replication_status: bool,
}

impl ImagePaths {
    /// For a gallery id: the gallery's own paths with the tenant-1 token. For shared and
    /// community ids: the location-scoped paths under the target subscription with the target
    /// tenant's token (GalleryRP 2025-03-03 `SharedGalleryImageVersions_Get`,
    /// `CommunityGalleryImageVersions_Get`).
    pub fn of(req: &DeploymentRequest, image: &ImageId) -> Self {
        let t = &req.target;
        let scoped = |kind: &str, gallery: &str, image: &str, version: &str| {
            let definition = format!(
                "/subscriptions/{}/providers/Microsoft.Compute/locations/{}/{kind}/{gallery}/images/{image}",
                t.subscription_id, t.location
            );
            ImagePaths {
                version: format!("{definition}/versions/{version}"),
                definition,
                tenant: t.tenant_id.clone(),
                has_replication_status: false,
            }
        };
        match image {
            ImageId::Gallery { .. } => ImagePaths {
                definition: image.definition_id().unwrap_or_default(),
                version: image.to_string(),
                tenant: req.image.tenant_id.clone().unwrap_or_default(),
                has_replication_status: true,
            },
            ImageId::Shared {
                unique_name,
                image,
                version,
            } => scoped("sharedGalleries", unique_name, image, version),
            ImageId::Community {
                public_name,
                image,
                version,
            } => scoped("communityGalleries", public_name, image, version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_derived_from_the_vm() {
        let mut req = DeploymentRequest::default();
        req.target.subscription_id = "sub".into();
        req.target.resource_group = "rg".into();
        req.vm.name = "myVM".into();
        let n = TargetNames::of(&req);
        assert_eq!(
            n.vm,
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/myVM"
        );
        assert_eq!(
            n.subnet,
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/myVM-vnet/subnets/myVM-subnet"
        );
        assert!(n.nic.ends_with("/networkInterfaces/myVM-nic"));
        assert!(n.public_ip.ends_with("/publicIPAddresses/myVM-pip"));
        assert!(n.nsg.ends_with("/networkSecurityGroups/myVM-nsg"));
        req.network.subnet_id = Some("/existing".into());
        assert_eq!(TargetNames::of(&req).subnet, "/existing");
    }

    #[test]
    fn shared_images_are_read_location_scoped_in_the_target() {
        let mut req = DeploymentRequest::default();
        req.target.tenant_id = "t2".into();
        req.target.subscription_id = "sub2".into();
        req.target.location = "southcentralus".into();
        let id = ImageId::parse("/SharedGalleries/uniq/Images/img/Versions/1.0.0").unwrap();
        let p = ImagePaths::of(&req, &id);
        assert_eq!(
            p.version,
            "/subscriptions/sub2/providers/Microsoft.Compute/locations/southcentralus/sharedGalleries/uniq/images/img/versions/1.0.0"
        );
        assert_eq!(p.tenant, "t2");
        assert!(!p.has_replication_status);
    }
}
