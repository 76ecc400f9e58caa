//! Deterministic resource names and ARM paths of one deployment (the API versions are the
//! table's: [`crate::calls`]).
//!
//! Names are derived from the VM name (a scale set's name for a scale-set request) so that
//! re-running a step PUTs the same resources: `{vm}-vnet`, `{vm}-subnet`, `{vm}-nsg`,
//! `{vm}-pip`, `{vm}-nic` (a scale set has no NIC or public IP resource of its own: its instances'
//! are part of it).

use imageferry_contract::{DeploymentRequest, ImageId, ResourceId, ResourceIdError};

/// Address space of a VNet imageferry builds (as `New-AzVM` / `az vm create` do).
pub const VNET_PREFIX: &str = "192.168.0.0/16";
/// Its one subnet.
pub const SUBNET_PREFIX: &str = "192.168.1.0/24";

/// The ARM ids of everything one deployment touches in the target subscription, derived from
/// the request alone: a step trusts these and nothing a message or an answer names instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetNames {
    /// `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub resource_group: ResourceId,
    /// The VM.
    pub vm: ResourceId,
    /// `{vm}-vnet`.
    pub vnet: ResourceId,
    /// The subnet the NIC uses: `{vm}-vnet/subnets/{vm}-subnet`, or the request's `subnetId`.
    pub subnet: ResourceId,
    /// `{vm}-nsg`.
    pub nsg: ResourceId,
    /// `{vm}-pip`.
    pub public_ip: ResourceId,
    /// `{vm}-nic`.
    pub nic: ResourceId,
    /// The scale set of a `scaleSet` request (`…/virtualMachineScaleSets/{name}`).
    pub scale_set: ResourceId,
}

impl TargetNames {
    /// Derives every id from the request (each segment checked by [`ResourceId`]).
    pub fn of(req: &DeploymentRequest) -> Result<Self, ResourceIdError> {
        let t = &req.target;
        let rg = ResourceId::resource_group(&t.subscription_id, &t.resource_group)?;
        let machine = req.machine();
        let vm_name = &machine.name;
        let network = |kind: &str, suffix: &str| {
            rg.clone()
                .provider_child("Microsoft.Network", kind, &format!("{vm_name}-{suffix}"))
        };
        let vnet = network("virtualNetworks", "vnet")?;
        let subnet = match &req.network.subnet_id {
            Some(id) => ResourceId::parse(id)?,
            None => vnet
                .clone()
                .child("subnets", &format!("{vm_name}-subnet"))?,
        };
        Ok(TargetNames {
            vm: rg
                .clone()
                .provider_child("Microsoft.Compute", "virtualMachines", vm_name)?,
            nsg: network("networkSecurityGroups", "nsg")?,
            public_ip: network("publicIPAddresses", "pip")?,
            nic: network("networkInterfaces", "nic")?,
            scale_set: rg.clone().provider_child(
                "Microsoft.Compute",
                "virtualMachineScaleSets",
                vm_name,
            )?,
            subnet,
            vnet,
            resource_group: rg,
        })
    }

    /// Whether `url` (an operation URL from an ARM answer or a message) may be polled for this
    /// deployment's VM: on the ARM endpoint `arm`, and its path either the VM's own (or below it)
    /// or `/subscriptions/{target}/providers/Microsoft.Compute/locations/{region}/operations/{id}`.
    pub fn is_vm_operation(&self, req: &DeploymentRequest, url: &str, arm: &url::Url) -> bool {
        is_operation_of(&self.vm, req, url, arm)
    }

    /// [`TargetNames::is_vm_operation`] for the deployment's scale set.
    pub fn is_scale_set_operation(
        &self,
        req: &DeploymentRequest,
        url: &str,
        arm: &url::Url,
    ) -> bool {
        is_operation_of(&self.scale_set, req, url, arm)
    }
}

/// Whether `url` may be polled for `resource`: on the ARM endpoint `arm`, and its path either the
/// resource's own (or below it) or a Compute operation of the target subscription and region.
fn is_operation_of(
    resource: &ResourceId,
    req: &DeploymentRequest,
    url: &str,
    arm: &url::Url,
) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let same_origin = parsed.scheme() == arm.scheme()
        && parsed.host_str().map(str::to_ascii_lowercase)
            == arm.host_str().map(str::to_ascii_lowercase)
        && parsed.port_or_known_default() == arm.port_or_known_default()
        && parsed.username().is_empty();
    let base = arm.path().trim_end_matches('/');
    // Check the path as written (the parser has already resolved `..`).
    let written = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or_default();
    let Some(path) = written.strip_prefix(base) else {
        return false;
    };
    let Ok(id) = ResourceId::parse(path) else {
        return false;
    };
    if !same_origin {
        return false;
    }
    if id.starts_with(resource) {
        return true;
    }
    let pairs: Vec<(&str, &str)> = id.pairs().collect();
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    matches!(
        pairs.as_slice(),
        [(k0, sub), (k1, ns), (k2, loc), (k3, _)]
            if is(k0, "subscriptions")
                && is(sub, &req.target.subscription_id)
                && is(k1, "providers")
                && is(ns, "Microsoft.Compute")
                && is(k2, "locations")
                && azure_clients::models::region_eq(loc, &req.target.location)
                && is(k3, "operations")
    )
}

/// Paths to read an image definition and version, and the tenant whose token reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePaths {
    /// The image definition.
    pub definition: ResourceId,
    /// The image version.
    pub version: ResourceId,
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
    pub fn of(req: &DeploymentRequest, image: &ImageId) -> Result<Self, ResourceIdError> {
        let t = &req.target;
        let scoped = |kind: &str, gallery: &str| -> Result<ImagePaths, ResourceIdError> {
            let definition = ResourceId::subscription(&t.subscription_id)?
                .child("providers", "Microsoft.Compute")?
                .child("locations", &t.location)?
                .child(kind, gallery)?
                .child("images", image.image())?;
            Ok(ImagePaths {
                version: definition.clone().child("versions", image.version())?,
                definition,
                tenant: t.tenant_id.clone(),
                has_replication_status: false,
            })
        };
        match image {
            ImageId::Gallery { .. } => Ok(ImagePaths {
                definition: image.definition().unwrap_or_default(),
                version: image.resource_id(),
                tenant: req.image.tenant_id.clone().unwrap_or_default(),
                has_replication_status: true,
            }),
            ImageId::Shared { unique_name, .. } => scoped("sharedGalleries", unique_name),
            ImageId::Community { public_name, .. } => scoped("communityGalleries", public_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

    #[test]
    fn names_are_derived_from_the_vm() {
        let mut req = DeploymentRequest::default();
        req.target.subscription_id = SUB.into();
        req.target.resource_group = "rg".into();
        req.target.location = "southcentralus".into();
        req.vm.name = "myVM".into();
        let n = TargetNames::of(&req).unwrap();
        assert_eq!(
            n.vm.to_string(),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/myVM"
            )
        );
        assert_eq!(
            n.subnet.to_string(),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/myVM-vnet/subnets/myVM-subnet"
            )
        );
        assert!(n.nic.to_string().ends_with("/networkInterfaces/myVM-nic"));
        assert!(
            n.public_ip
                .to_string()
                .ends_with("/publicIPAddresses/myVM-pip")
        );
        assert!(
            n.nsg
                .to_string()
                .ends_with("/networkSecurityGroups/myVM-nsg")
        );
        let existing = format!(
            "/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
        );
        req.network.subnet_id = Some(existing.clone());
        assert_eq!(TargetNames::of(&req).unwrap().subnet.to_string(), existing);
        req.vm.name = "..".into();
        assert!(TargetNames::of(&req).is_err());
    }

    #[test]
    fn only_the_vms_own_operations_are_trusted() {
        let mut req = DeploymentRequest::default();
        req.target.subscription_id = SUB.into();
        req.target.resource_group = "rg".into();
        req.target.location = "southcentralus".into();
        req.vm.name = "myVM".into();
        let n = TargetNames::of(&req).unwrap();
        let arm = url::Url::parse("https://management.azure.com/").unwrap();
        let ok = format!(
            "https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/locations/southcentralus/operations/abc?p=1&api-version=2025-04-01"
        );
        assert!(n.is_vm_operation(&req, &ok, &arm));
        assert!(n.is_vm_operation(&req, &format!("https://management.azure.com{}", n.vm), &arm));
        let other = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
        for bad in [
            ok.replace("management.azure.com", "evil.example.com"),
            ok.replace("https://", "http://"),
            ok.replace(SUB, other),
            ok.replace("southcentralus", "westus"),
            ok.replace("/operations/abc", "/operations/../../../x"),
            ok.replace("/operations/abc", "/operations/%2e%2e"),
            format!(
                "https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/otherVM"
            ),
            format!("https://management.azure.com{}/../otherVM", n.vm),
        ] {
            assert!(!n.is_vm_operation(&req, &bad, &arm), "{bad}");
        }
    }

    #[test]
    fn shared_images_are_read_location_scoped_in_the_target() {
        let mut req = DeploymentRequest::default();
        req.target.tenant_id = "t2".into();
        req.target.subscription_id = SUB.into();
        req.target.location = "southcentralus".into();
        let id = ImageId::parse("/SharedGalleries/uniq/Images/img/Versions/1.0.0").unwrap();
        let p = ImagePaths::of(&req, &id).unwrap();
        assert_eq!(
            p.version.to_string(),
            format!(
                "/subscriptions/{SUB}/providers/Microsoft.Compute/locations/southcentralus/sharedGalleries/uniq/images/img/versions/1.0.0"
            )
        );
        assert_eq!(p.tenant, "t2");
        assert!(!p.has_replication_status);
    }
}
