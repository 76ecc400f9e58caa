//! ARM request bodies for the resources one deployment creates, shaped after the saved
//! azure-rest-api-specs examples (`reference/arm/examples/`): `CreateResourceGroup.json`,
//! `VirtualNetworkCreateSubnet.json`, `NetworkSecurityGroupCreateWithRule.json`,
//! `PublicIpAddressCreateCustomizedValues.json`, `NetworkInterfaceCreate.json`,
//! `VirtualMachine_Create_WithSshAuthentication.json`, `..._FromASpecializedSharedImage.json`,
//! `..._FromASharedGalleryImage.json`, `..._FromACommunityGalleryImage.json`.
//!
//! Every resource carries the tag `imageferry-deployment: <deploymentId>` plus the request's tags.

use crate::names::{SUBNET_PREFIX, TargetNames, VNET_PREFIX};
use azure_clients::SecretString;
use imageferry_contract::{
    DEPLOYMENT_TAG, DeploymentRequest, ImageFacts, ImageId, OsState, OsType,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The tags of every resource of this deployment.
pub fn tags(req: &DeploymentRequest) -> BTreeMap<String, String> {
    let mut tags = req.vm.tags.clone();
    tags.insert(DEPLOYMENT_TAG.into(), req.deployment_id.clone());
    tags
}

/// Resource group PUT body.
pub fn resource_group(req: &DeploymentRequest) -> Value {
    json!({ "location": req.target.location, "tags": tags(req) })
}

/// VNet `{vm}-vnet` 192.168.0.0/16 with subnet `{vm}-subnet` 192.168.1.0/24.
pub fn virtual_network(req: &DeploymentRequest) -> Value {
    json!({
        "location": req.target.location,
        "tags": tags(req),
        "properties": {
            "addressSpace": { "addressPrefixes": [VNET_PREFIX] },
            "subnets": [{
                "name": format!("{}-subnet", req.vm.name),
                "properties": { "addressPrefix": SUBNET_PREFIX }
            }]
        }
    })
}

/// NSG opening SSH 22 (Linux) or RDP 3389 (Windows) only from `network.allowInboundFrom`;
/// no rule at all when the list is empty, `*` only when asked for.
pub fn network_security_group(req: &DeploymentRequest, os: OsType) -> Value {
    let (name, port) = match os {
        OsType::Linux => ("allow-ssh", "22"),
        OsType::Windows => ("allow-rdp", "3389"),
    };
    let prefixes = &req.network.allow_inbound_from;
    let mut rules = Vec::new();
    if !prefixes.is_empty() {
        let mut props = json!({
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": port,
            "access": "Allow",
            "priority": 1000,
            "direction": "Inbound"
        });
        if prefixes.iter().any(|p| p == "*") {
            props["sourceAddressPrefix"] = json!("*");
        } else if let [single] = prefixes.as_slice() {
            props["sourceAddressPrefix"] = json!(single);
        } else {
            props["sourceAddressPrefixes"] = json!(prefixes);
        }
        rules.push(json!({ "name": name, "properties": props }));
    }
    json!({
        "location": req.target.location,
        "tags": tags(req),
        "properties": { "securityRules": rules }
    })
}

/// Static Standard public IP `{vm}-pip`.
pub fn public_ip(req: &DeploymentRequest) -> Value {
    json!({
        "location": req.target.location,
        "tags": tags(req),
        "sku": { "name": "Standard", "tier": "Regional" },
        "properties": {
            "publicIPAllocationMethod": "Static",
            "publicIPAddressVersion": "IPv4"
        }
    })
}

/// NIC `{vm}-nic` in the subnet, with the NSG and (optionally) the public IP.
pub fn network_interface(req: &DeploymentRequest, names: &TargetNames) -> Value {
    let mut ip = json!({
        "subnet": { "id": names.subnet },
        "privateIPAllocationMethod": "Dynamic"
    });
    if req.vm.public_ip {
        ip["publicIPAddress"] = json!({ "id": names.public_ip });
    }
    json!({
        "location": req.target.location,
        "tags": tags(req),
        "properties": {
            "ipConfigurations": [{ "name": "ipconfig1", "properties": ip }],
            "networkSecurityGroup": { "id": names.nsg }
        }
    })
}

/// The VM PUT body. `Debug` never shows the password (it is a [`SecretString`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineBody {
    location: String,
    tags: BTreeMap<String, String>,
    properties: VmProperties,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct VmProperties {
    hardware_profile: HardwareProfile,
    storage_profile: StorageProfile,
    #[serde(skip_serializing_if = "Option::is_none")]
    os_profile: Option<OsProfile>,
    network_profile: NetworkProfile,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_profile: Option<SecurityProfile>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct HardwareProfile {
    vm_size: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageProfile {
    image_reference: ImageReference,
    os_disk: OsDisk,
}

/// Exactly one of the three is set (ComputeRP `ImageReference`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageReference {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_gallery_image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    community_gallery_image_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct OsDisk {
    name: String,
    create_option: &'static str,
    caching: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct OsProfile {
    computer_name: String,
    admin_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_password: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linux_configuration: Option<LinuxConfiguration>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct LinuxConfiguration {
    disable_password_authentication: bool,
    ssh: SshConfiguration,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SshConfiguration {
    public_keys: Vec<SshPublicKey>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SshPublicKey {
    path: String,
    key_data: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkProfile {
    network_interfaces: Vec<NetworkInterfaceReference>,
}

#[derive(Debug, Clone, Serialize)]
struct NetworkInterfaceReference {
    id: String,
    properties: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityProfile {
    security_type: &'static str,
    uefi_settings: UefiSettings,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct UefiSettings {
    secure_boot_enabled: bool,
    v_tpm_enabled: bool,
}

/// Builds the VM body. `password` is the Windows administrator password read from Key Vault
/// (generalized Windows images only). Specialized images get no `osProfile`; Trusted Launch
/// images get `securityProfile` with secure boot and vTPM.
pub fn virtual_machine(
    req: &DeploymentRequest,
    image: &ImageId,
    facts: &ImageFacts,
    names: &TargetNames,
    password: Option<SecretString>,
) -> VirtualMachineBody {
    let mut image_reference = ImageReference::default();
    match image {
        ImageId::Gallery { .. } => image_reference.id = Some(image.to_string()),
        ImageId::Shared { .. } => image_reference.shared_gallery_image_id = Some(image.to_string()),
        ImageId::Community { .. } => {
            image_reference.community_gallery_image_id = Some(image.to_string())
        }
    }
    let os_profile = match facts.os_state {
        OsState::Specialized => None,
        OsState::Generalized => {
            let user = req.vm.admin_username.clone().unwrap_or_default();
            let linux_configuration = match facts.os_type {
                OsType::Linux => Some(LinuxConfiguration {
                    disable_password_authentication: true,
                    ssh: SshConfiguration {
                        public_keys: vec![SshPublicKey {
                            path: format!("/home/{user}/.ssh/authorized_keys"),
                            key_data: req.vm.ssh_public_key.clone().unwrap_or_default(),
                        }],
                    },
                }),
                OsType::Windows => None,
            };
            Some(OsProfile {
                computer_name: req.vm.name.clone(),
                admin_username: user,
                admin_password: match facts.os_type {
                    OsType::Windows => password,
                    OsType::Linux => None,
                },
                linux_configuration,
            })
        }
    };
    VirtualMachineBody {
        location: req.target.location.clone(),
        tags: tags(req),
        properties: VmProperties {
            hardware_profile: HardwareProfile {
                vm_size: req.vm.size.clone(),
            },
            storage_profile: StorageProfile {
                image_reference,
                os_disk: OsDisk {
                    name: format!("{}-osdisk", req.vm.name),
                    create_option: "FromImage",
                    caching: "ReadWrite",
                },
            },
            os_profile,
            network_profile: NetworkProfile {
                network_interfaces: vec![NetworkInterfaceReference {
                    id: names.nic.to_string(),
                    properties: json!({ "primary": true }),
                }],
            },
            security_profile: facts.trusted_launch.then_some(SecurityProfile {
                security_type: "TrustedLaunch",
                uefi_settings: UefiSettings {
                    secure_boot_enabled: true,
                    v_tpm_enabled: true,
                },
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const LINUX: ImageFacts = ImageFacts {
        os_type: OsType::Linux,
        os_state: OsState::Generalized,
        trusted_launch: false,
    };

    #[test]
    fn linux_vm_matches_the_ssh_example_shape() {
        let req = request();
        let image = ImageId::parse("/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/i/versions/1.0.0").unwrap();
        let body = virtual_machine(&req, &image, &LINUX, &TargetNames::of(&req).unwrap(), None);
        let v = serde_json::to_value(&body).unwrap();
        let p = &v["properties"];
        assert_eq!(p["hardwareProfile"]["vmSize"], "Standard_D2s_v5");
        assert_eq!(
            p["storageProfile"]["imageReference"],
            json!({"id": image.to_string()})
        );
        assert_eq!(p["storageProfile"]["osDisk"]["createOption"], "FromImage");
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
        assert_eq!(
            v["tags"],
            json!({"imageferry-deployment": "d-1", "team": "web"})
        );
        assert_eq!(
            p["networkProfile"]["networkInterfaces"][0]["properties"]["primary"],
            true
        );
    }

    #[test]
    fn windows_password_is_in_the_body_but_never_in_debug() {
        let req = request();
        let image = ImageId::parse("/SharedGalleries/u/Images/i/Versions/1.0.0").unwrap();
        let facts = ImageFacts {
            os_type: OsType::Windows,
            trusted_launch: true,
            ..LINUX
        };
        let body = virtual_machine(
            &req,
            &image,
            &facts,
            &TargetNames::of(&req).unwrap(),
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
    fn specialized_vm_has_no_os_profile() {
        let req = request();
        let image = ImageId::parse("/CommunityGalleries/p/Images/i/Versions/1.0.0").unwrap();
        let facts = ImageFacts {
            os_state: OsState::Specialized,
            ..LINUX
        };
        let v = serde_json::to_value(virtual_machine(
            &req,
            &image,
            &facts,
            &TargetNames::of(&req).unwrap(),
            None,
        ))
        .unwrap();
        assert!(v["properties"].get("osProfile").is_none());
        assert!(
            v["properties"]["storageProfile"]["imageReference"]["communityGalleryImageId"]
                .is_string()
        );
    }

    #[test]
    fn nsg_opens_only_the_requested_prefixes() {
        let mut req = request();
        let none = network_security_group(&req, OsType::Linux);
        assert_eq!(none["properties"]["securityRules"], json!([]));
        req.network.allow_inbound_from = vec!["203.0.113.0/24".into(), "198.51.100.7".into()];
        let two = network_security_group(&req, OsType::Windows);
        let rule = &two["properties"]["securityRules"][0];
        assert_eq!(rule["properties"]["destinationPortRange"], "3389");
        assert_eq!(
            rule["properties"]["sourceAddressPrefixes"],
            json!(["203.0.113.0/24", "198.51.100.7"])
        );
        req.network.allow_inbound_from = vec!["*".into()];
        let any = network_security_group(&req, OsType::Linux);
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
        let names = TargetNames::of(&req).unwrap();
        let nic = network_interface(&req, &names);
        let ip = &nic["properties"]["ipConfigurations"][0]["properties"];
        assert_eq!(ip["subnet"]["id"], names.subnet.to_string());
        assert_eq!(ip["publicIPAddress"]["id"], names.public_ip.to_string());
        assert_eq!(
            nic["properties"]["networkSecurityGroup"]["id"],
            names.nsg.to_string()
        );
        req.vm.public_ip = false;
        let nic = network_interface(&req, &names);
        assert!(
            nic["properties"]["ipConfigurations"][0]["properties"]
                .get("publicIPAddress")
                .is_none()
        );
    }
}
