//! ARM request bodies for the resources one deployment creates, built from azure-clients'
//! typed models (shaped after the saved azure-rest-api-specs examples in
//! `reference/arm/examples/`: `CreateResourceGroup.json`, `VirtualNetworkCreateSubnet.json`,
//! `NetworkSecurityGroupCreateWithRule.json`, `PublicIpAddressCreateCustomizedValues.json`,
//! `NetworkInterfaceCreate.json`, `VirtualMachine_Create_*.json`).
//!
//! Every resource carries the tag `imageferry-deployment: <deploymentId>` plus the request's tags.
//! The VM is created the way `az vm create` does it: `managedDisk.storageAccountType` always set,
//! and (unlike ARM's `Detach` default) the OS disk and the NIC are deleted with the VM.

use crate::image::ImageInfo;
use crate::names::{SUBNET_PREFIX, TargetNames, VNET_PREFIX};
use azure_clients::SecretString;
use azure_clients::models::{
    HardwareProfile, ImageReference, NetworkInterface, NetworkProfile, NetworkSecurityGroup,
    OsDisk, OsProfile, PublicIpAddress, ResourceGroup, SecurityProfile, StorageProfile,
    VirtualMachine, VirtualMachineProperties, VirtualNetwork,
};
use imageferry_contract::{DEPLOYMENT_TAG, DeploymentRequest, ImageId, OsType};
use std::collections::BTreeMap;

/// The OS disk's storage type for a VM size. `az vm create` defaults a VM's OS disk to
/// `Premium_LRS` (azure-cli `_validators.py`, "set default storage SKU"); sizes without premium
/// storage cannot take it, so they get `StandardSSD_LRS`. Premium support is read from the size
/// name: an `s` among the capability letters after the vCPU count (`Standard_D2s_v5`,
/// `Standard_B1ls`, `Standard_E4ads_v5`) or the older `DS`/`GS`/`FS`/`LS` families.
pub fn os_disk_storage(vm_size: &str) -> &'static str {
    let name = vm_size
        .strip_prefix("Standard_")
        .unwrap_or(vm_size)
        .split('_')
        .next()
        .unwrap_or_default();
    let family: String = name
        .chars()
        .take_while(|c| c.is_ascii_uppercase())
        .collect();
    let capabilities = name.trim_start_matches(|c: char| c.is_ascii_uppercase());
    let capabilities = capabilities.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    if family.len() > 1 && family.ends_with('S') || capabilities.contains('s') {
        "Premium_LRS"
    } else {
        "StandardSSD_LRS"
    }
}

/// The tags of every resource of this deployment.
pub fn tags(req: &DeploymentRequest) -> BTreeMap<String, String> {
    let mut tags = req.machine().tags.clone();
    tags.insert(DEPLOYMENT_TAG.into(), req.deployment_id.clone());
    tags
}

/// Resource group PUT body.
pub fn resource_group(req: &DeploymentRequest) -> ResourceGroup {
    ResourceGroup {
        tags: tags(req),
        ..ResourceGroup::new(&req.target.location)
    }
}

/// VNet `{vm}-vnet` 192.168.0.0/16 with subnet `{vm}-subnet` 192.168.1.0/24.
pub fn virtual_network(req: &DeploymentRequest) -> VirtualNetwork {
    VirtualNetwork {
        tags: tags(req),
        ..VirtualNetwork::with_subnet(
            &req.target.location,
            VNET_PREFIX,
            format!("{}-subnet", req.machine().name),
            SUBNET_PREFIX,
        )
    }
}

/// NSG opening SSH 22 (Linux) or RDP 3389 (Windows) only from `network.allowInboundFrom`;
/// no rule at all when the list is empty, `*` only when asked for.
pub fn network_security_group(req: &DeploymentRequest, os: OsType) -> NetworkSecurityGroup {
    let (name, port) = match os {
        OsType::Linux => ("allow-ssh", 22),
        OsType::Windows => ("allow-rdp", 3389),
    };
    NetworkSecurityGroup {
        tags: tags(req),
        ..NetworkSecurityGroup::allow_inbound_tcp_from(
            &req.target.location,
            name,
            port,
            1000,
            &req.network.allow_inbound_from,
        )
    }
}

/// Static Standard public IP `{vm}-pip`.
pub fn public_ip(req: &DeploymentRequest) -> PublicIpAddress {
    PublicIpAddress {
        tags: tags(req),
        ..PublicIpAddress::standard_static(&req.target.location)
    }
}

/// NIC `{vm}-nic` in the subnet, with the NSG and (optionally) the public IP.
pub fn network_interface(req: &DeploymentRequest, names: &TargetNames) -> NetworkInterface {
    NetworkInterface {
        tags: tags(req),
        ..NetworkInterface::new(
            &req.target.location,
            names.subnet.to_string(),
            req.vm.public_ip.then(|| names.public_ip.to_string()),
            Some(names.nsg.to_string()),
        )
    }
}

/// The VM PUT body. `computer_name` is `None` for a specialized image (no `osProfile`);
/// `password` is the Windows administrator password read from Key Vault (it never prints:
/// [`SecretString`]). Trusted Launch images get `securityProfile` with secure boot and vTPM;
/// Marketplace-derived images get the definition's `plan`.
pub fn virtual_machine(
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    computer_name: Option<String>,
    password: Option<SecretString>,
) -> VirtualMachine {
    let image_reference = match image {
        ImageId::Gallery { .. } => ImageReference::gallery(image.to_string()),
        ImageId::Shared { .. } => ImageReference::shared_gallery(image.to_string()),
        ImageId::Community { .. } => ImageReference::community_gallery(image.to_string()),
    };
    let user = req.vm.admin_username.clone().unwrap_or_default();
    let os_profile = computer_name.map(|name| match info.facts.os_type {
        OsType::Linux => OsProfile::linux_ssh(
            name,
            user,
            req.vm.ssh_public_key.clone().unwrap_or_default(),
        ),
        OsType::Windows => OsProfile::password(
            name,
            user,
            password.unwrap_or_else(|| SecretString::new(String::new())),
        ),
    });
    VirtualMachine {
        location: req.target.location.clone(),
        tags: tags(req),
        plan: info.plan.clone(),
        properties: VirtualMachineProperties {
            hardware_profile: Some(HardwareProfile {
                vm_size: req.vm.size.clone(),
            }),
            storage_profile: Some(StorageProfile {
                image_reference: Some(image_reference),
                os_disk: Some(OsDisk::from_image(
                    Some(format!("{}-osdisk", req.vm.name)),
                    os_disk_storage(&req.vm.size),
                )),
            }),
            os_profile,
            network_profile: Some(NetworkProfile::primary_nic(names.nic.to_string())),
            security_profile: info
                .facts
                .trusted_launch
                .then(SecurityProfile::trusted_launch),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_clients::models::Plan;
    use imageferry_contract::{ImageFacts, OsState};
    use serde_json::json;

    fn request() -> DeploymentRequest {
        let mut req = DeploymentRequest {
            deployment_id: "d-1".into(),
            ..Default::default()
        };
        req.target.subscription_id = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb".into();
        req.target.resource_group = "rg".into();
        req.target.location = "southcentralus".into();
        req.vm.name = "myVM".into();
        req.vm.size = "Standard_D2s_v5".into();
        req.vm.admin_username = Some("azureuser".into());
        req.vm.ssh_public_key = Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA".into());
        req.vm.tags.insert("team".into(), "web".into());
        req
    }

    fn names(req: &DeploymentRequest) -> TargetNames {
        TargetNames::of(req).unwrap()
    }

    #[test]
    fn os_disk_storage_follows_the_size() {
        for (size, storage) in [
            ("Standard_D2s_v5", "Premium_LRS"),
            ("Standard_B1ls", "Premium_LRS"),
            ("Standard_DS2_v2", "Premium_LRS"),
            ("Standard_E4ads_v5", "Premium_LRS"),
            ("Standard_D2_v5", "StandardSSD_LRS"),
            ("Standard_A1_v2", "StandardSSD_LRS"),
            ("Standard_D2ad_v5", "StandardSSD_LRS"),
        ] {
            assert_eq!(os_disk_storage(size), storage, "{size}");
        }
    }

    const LINUX: ImageInfo = ImageInfo {
        facts: ImageFacts {
            os_type: OsType::Linux,
            os_state: OsState::Generalized,
            trusted_launch: false,
        },
        plan: None,
    };

    #[test]
    fn linux_vm_matches_the_ssh_example_shape() {
        let req = request();
        let image = ImageId::parse("/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/i/versions/1.0.0").unwrap();
        let body = virtual_machine(
            &req,
            &image,
            &LINUX,
            &names(&req),
            Some("myVM".into()),
            None,
        );
        let v = serde_json::to_value(&body).unwrap();
        let p = &v["properties"];
        assert_eq!(p["hardwareProfile"]["vmSize"], "Standard_D2s_v5");
        assert_eq!(
            p["storageProfile"]["imageReference"],
            json!({"id": image.to_string()})
        );
        let disk = &p["storageProfile"]["osDisk"];
        assert_eq!(disk["createOption"], "FromImage");
        assert_eq!(disk["deleteOption"], "Delete");
        assert_eq!(disk["managedDisk"]["storageAccountType"], "Premium_LRS");
        assert_eq!(p["osProfile"]["computerName"], "myVM");
        assert_eq!(
            p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["path"],
            "/home/azureuser/.ssh/authorized_keys"
        );
        assert_eq!(
            p["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"],
            true
        );
        assert!(p["osProfile"].get("adminPassword").is_none());
        assert!(p.get("securityProfile").is_none());
        assert!(v.get("plan").is_none());
        assert_eq!(
            v["tags"],
            json!({"imageferry-deployment": "d-1", "team": "web"})
        );
        assert_eq!(
            p["networkProfile"]["networkInterfaces"][0]["properties"],
            json!({"primary": true, "deleteOption": "Delete"})
        );
    }

    #[test]
    fn windows_password_is_in_the_body_but_never_in_debug() {
        let req = request();
        let image = ImageId::parse("/SharedGalleries/u/Images/i/Versions/1.0.0").unwrap();
        let info = ImageInfo {
            facts: ImageFacts {
                os_type: OsType::Windows,
                trusted_launch: true,
                ..LINUX.facts
            },
            plan: None,
        };
        let body = virtual_machine(
            &req,
            &image,
            &info,
            &names(&req),
            Some("myVM".into()),
            Some(SecretString::new("P@ssw0rd-very-secret")),
        );
        assert!(!format!("{body:?}").contains("P@ssw0rd-very-secret"));
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v["properties"]["osProfile"]["adminPassword"],
            "P@ssw0rd-very-secret"
        );
        assert_eq!(
            v["properties"]["storageProfile"]["imageReference"],
            json!({"sharedGalleryImageId": "/SharedGalleries/u/Images/i/Versions/1.0.0"})
        );
        assert_eq!(
            v["properties"]["securityProfile"]["securityType"],
            "TrustedLaunch"
        );
        assert_eq!(
            v["properties"]["securityProfile"]["uefiSettings"]["vTpmEnabled"],
            true
        );
    }

    #[test]
    fn specialized_vm_has_no_os_profile_and_marketplace_vm_has_the_plan() {
        let req = request();
        let image = ImageId::parse("/CommunityGalleries/p/Images/i/Versions/1.0.0").unwrap();
        let info = ImageInfo {
            facts: ImageFacts {
                os_state: OsState::Specialized,
                ..LINUX.facts
            },
            plan: Some(Plan {
                name: "byol".into(),
                publisher: "paloaltonetworks".into(),
                product: "vmseries-flex".into(),
                promotion_code: None,
            }),
        };
        let v = serde_json::to_value(virtual_machine(
            &req,
            &image,
            &info,
            &names(&req),
            None,
            None,
        ))
        .unwrap();
        assert!(v["properties"].get("osProfile").is_none());
        assert!(
            v["properties"]["storageProfile"]["imageReference"]["communityGalleryImageId"]
                .is_string()
        );
        assert_eq!(
            v["plan"],
            json!({"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"})
        );
    }

    #[test]
    fn nsg_opens_only_the_requested_prefixes() {
        let mut req = request();
        let none = serde_json::to_value(network_security_group(&req, OsType::Linux)).unwrap();
        assert_eq!(none["properties"]["securityRules"], json!([]));
        req.network.allow_inbound_from = vec!["203.0.113.0/24".into(), "198.51.100.7".into()];
        let two = serde_json::to_value(network_security_group(&req, OsType::Windows)).unwrap();
        let rule = &two["properties"]["securityRules"][0];
        assert_eq!(rule["properties"]["destinationPortRange"], "3389");
        assert_eq!(
            rule["properties"]["sourceAddressPrefixes"],
            json!(["203.0.113.0/24", "198.51.100.7"])
        );
        req.network.allow_inbound_from = vec!["*".into()];
        let any = serde_json::to_value(network_security_group(&req, OsType::Linux)).unwrap();
        assert_eq!(
            any["properties"]["securityRules"][0]["properties"]["sourceAddressPrefix"],
            "*"
        );
        assert_eq!(
            any["properties"]["securityRules"][0]["properties"]["destinationPortRange"],
            "22"
        );
    }

    #[test]
    fn nic_references_subnet_nsg_and_public_ip() {
        let mut req = request();
        req.vm.public_ip = true;
        let names = names(&req);
        let nic = serde_json::to_value(network_interface(&req, &names)).unwrap();
        let ip = &nic["properties"]["ipConfigurations"][0]["properties"];
        assert_eq!(ip["subnet"]["id"], names.subnet.to_string());
        assert_eq!(ip["publicIPAddress"]["id"], names.public_ip.to_string());
        assert_eq!(
            nic["properties"]["networkSecurityGroup"]["id"],
            names.nsg.to_string()
        );
        req.vm.public_ip = false;
        let nic = serde_json::to_value(network_interface(&req, &names)).unwrap();
        assert!(
            nic["properties"]["ipConfigurations"][0]["properties"]
                .get("publicIPAddress")
                .is_none()
        );
    }
}
