//! The scale set's request bodies, built from azure-clients' typed models and shaped after
//! reference/arm/examples/scaleset (`VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage.json`,
//! `VirtualMachineScaleSet_Update_*.json`, `VirtualMachineScaleSet_UpdateInstances_*.json`).
//!
//! - The PUT: Uniform orchestration, no overprovisioning (instance ids stay those Azure gives the
//!   `capacity` instances), upgrade policy `Manual` for `batches` and `Rolling` (with the request's
//!   batch, health and pause numbers) for `rolling`; one NIC configuration on the subnet with the
//!   NSG imageferry builds for the VM case, a Standard public IP per instance only when asked; the
//!   OS disk as a VM's (managed, the storage type from the size; a Uniform instance's disk goes
//!   with the instance, there is no `deleteOption` to set); the Application Health extension
//!   (`ApplicationHealthLinux`/`ApplicationHealthWindows`, publisher `Microsoft.ManagedServices`,
//!   `typeHandlerVersion` 2.0 for Rich health states) when the request has `health`.
//! - The PATCH of a newer version: `properties.virtualMachineProfile.storageProfile.imageReference`
//!   and the tags; the PATCH that only moves the tags to another deployment leaves the image out.
//! - `manualupgrade`: `{"instanceIds": [...]}`.

use crate::bodies::{os_disk_storage, tags};
use crate::image::ImageInfo;
use crate::names::TargetNames;
use azure_clients::SecretString;
use azure_clients::models::{
    ImageReference, InstanceIds, LinuxConfiguration, OsDisk, RollingUpgradePolicy,
    ScaleSetExtension, ScaleSetExtensionProfile, ScaleSetExtensionProperties,
    ScaleSetIpConfiguration, ScaleSetIpConfigurationProperties, ScaleSetNetworkProfile,
    ScaleSetNicConfiguration, ScaleSetNicConfigurationProperties, ScaleSetOsProfile,
    ScaleSetProperties, ScaleSetPublicIpConfiguration, ScaleSetPublicIpConfigurationProperties,
    ScaleSetSku, ScaleSetStorageProfile, ScaleSetVmProfile, SecurityProfile, Sku, SshConfiguration,
    SshPublicKey, SubResource, UpgradePolicy, VirtualMachineScaleSet, VirtualMachineScaleSetUpdate,
};
use imageferry_contract::{
    DeploymentRequest, HealthProbe, ImageId, OsType, ScaleSetSpec, UpgradeMode,
};

/// Publisher of the Application Health extension.
pub const HEALTH_PUBLISHER: &str = "Microsoft.ManagedServices";
/// The extension's name in the scale set's `extensionProfile`.
pub const HEALTH_EXTENSION: &str = "HealthExtension";

/// The image reference of `image` (gallery id, direct-shared or community id).
pub fn image_reference(image: &ImageId) -> ImageReference {
    match image {
        ImageId::Gallery { .. } => ImageReference::gallery(image.to_string()),
        ImageId::Shared { .. } => ImageReference::shared_gallery(image.to_string()),
        ImageId::Community { .. } => ImageReference::community_gallery(image.to_string()),
    }
}

/// `PT{n}S`, the ISO 8601 duration the rolling upgrade policy takes.
fn iso_seconds(d: std::time::Duration) -> String {
    format!("PT{}S", d.as_secs())
}

/// The upgrade policy of `spec`: `Manual` (imageferry upgrades the batches) or `Rolling`.
pub fn upgrade_policy(spec: &ScaleSetSpec) -> UpgradePolicy {
    match spec.upgrade {
        UpgradeMode::Batches => UpgradePolicy {
            mode: Some(UpgradeMode::Batches.policy_mode().into()),
            rolling_upgrade_policy: None,
        },
        UpgradeMode::Rolling => UpgradePolicy {
            mode: Some(UpgradeMode::Rolling.policy_mode().into()),
            rolling_upgrade_policy: Some(RollingUpgradePolicy {
                max_batch_instance_percent: Some(spec.batch_percent()),
                max_unhealthy_instance_percent: Some(spec.max_unhealthy_percent()),
                max_unhealthy_upgraded_instance_percent: Some(spec.max_unhealthy_percent()),
                pause_time_between_batches: Some(iso_seconds(spec.pause())),
            }),
        },
    }
}

/// The Application Health extension for `probe` (Rich health states, probing every 5 seconds,
/// one probe to change state, `gracePeriod` the probe's grace).
pub fn health_extension(probe: &HealthProbe, os: OsType) -> ScaleSetExtension {
    let mut settings = serde_json::json!({
        "protocol": probe.protocol.as_str(),
        "intervalInSeconds": 5,
        "numberOfProbes": 1,
        "gracePeriod": probe.grace().as_secs(),
    });
    if let Some(port) = probe.effective_port() {
        settings["port"] = port.into();
    }
    if let Some(path) = &probe.path {
        settings["requestPath"] = path.clone().into();
    }
    ScaleSetExtension {
        name: HEALTH_EXTENSION.into(),
        properties: ScaleSetExtensionProperties {
            publisher: HEALTH_PUBLISHER.into(),
            extension_type: match os {
                OsType::Linux => "ApplicationHealthLinux",
                OsType::Windows => "ApplicationHealthWindows",
            }
            .into(),
            type_handler_version: "2.0".into(),
            auto_upgrade_minor_version: Some(true),
            settings: Some(settings),
        },
    }
}

/// The scale set PUT body. `prefix` is `None` for a specialized image (no `osProfile`);
/// `password` is the Windows administrator password read from Key Vault.
pub fn scale_set(
    req: &DeploymentRequest,
    spec: &ScaleSetSpec,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    prefix: Option<String>,
    password: Option<SecretString>,
) -> VirtualMachineScaleSet {
    let os = info.facts.os_type;
    let user = spec.admin_username.clone().unwrap_or_default();
    let os_profile = prefix.map(|prefix| match os {
        OsType::Linux => ScaleSetOsProfile {
            computer_name_prefix: prefix,
            linux_configuration: Some(LinuxConfiguration {
                disable_password_authentication: Some(true),
                ssh: Some(SshConfiguration {
                    public_keys: vec![SshPublicKey {
                        path: format!("/home/{user}/.ssh/authorized_keys"),
                        key_data: spec.ssh_public_key.clone().unwrap_or_default(),
                    }],
                }),
            }),
            admin_username: user,
            admin_password: None,
        },
        OsType::Windows => ScaleSetOsProfile {
            computer_name_prefix: prefix,
            admin_username: user,
            admin_password: Some(password.unwrap_or_else(|| SecretString::new(String::new()))),
            linux_configuration: None,
        },
    });
    let os_disk = OsDisk {
        name: None,
        delete_option: None,
        ..OsDisk::from_image(None, os_disk_storage(&spec.size))
    };
    let ip_configuration = ScaleSetIpConfiguration {
        name: format!("{}-ipconfig", spec.name),
        properties: ScaleSetIpConfigurationProperties {
            subnet: Some(SubResource::new(names.subnet.to_string())),
            primary: Some(true),
            public_ip_address_configuration: spec.public_ip.then(|| {
                ScaleSetPublicIpConfiguration {
                    name: format!("{}-pip", spec.name),
                    sku: Some(Sku {
                        name: "Standard".into(),
                        tier: Some("Regional".into()),
                    }),
                    properties: ScaleSetPublicIpConfigurationProperties {
                        idle_timeout_in_minutes: Some(15),
                    },
                }
            }),
        },
    };
    VirtualMachineScaleSet {
        location: req.target.location.clone(),
        tags: tags(req),
        plan: info.plan.clone(),
        sku: Some(ScaleSetSku {
            name: spec.size.clone(),
            tier: Some("Standard".into()),
            capacity: Some(u64::from(spec.capacity)),
        }),
        properties: ScaleSetProperties {
            upgrade_policy: Some(upgrade_policy(spec)),
            virtual_machine_profile: Some(ScaleSetVmProfile {
                os_profile,
                storage_profile: Some(ScaleSetStorageProfile {
                    image_reference: Some(image_reference(image)),
                    os_disk: Some(os_disk),
                }),
                network_profile: Some(ScaleSetNetworkProfile {
                    network_interface_configurations: vec![ScaleSetNicConfiguration {
                        name: format!("{}-nic", spec.name),
                        properties: ScaleSetNicConfigurationProperties {
                            primary: Some(true),
                            network_security_group: Some(SubResource::new(names.nsg.to_string())),
                            ip_configurations: vec![ip_configuration],
                        },
                    }],
                }),
                security_profile: info
                    .facts
                    .trusted_launch
                    .then(SecurityProfile::trusted_launch),
                extension_profile: spec.health.as_ref().map(|h| ScaleSetExtensionProfile {
                    extensions: vec![health_extension(h, os)],
                }),
            }),
            overprovision: Some(false),
            orchestration_mode: Some("Uniform".into()),
            provisioning_state: None,
        },
        ..Default::default()
    }
}

/// The PATCH to a newer version: the image reference and the deployment's tags.
pub fn image_update(req: &DeploymentRequest, image: &ImageId) -> VirtualMachineScaleSetUpdate {
    VirtualMachineScaleSetUpdate::image(image_reference(image), Some(tags(req)))
}

/// The PATCH that moves the scale set to this deployment without changing its image: the tags
/// only (no `imageReference`, so no auxiliary token).
pub fn tags_update(req: &DeploymentRequest) -> VirtualMachineScaleSetUpdate {
    VirtualMachineScaleSetUpdate {
        tags: Some(tags(req)),
        properties: None,
    }
}

/// The `manualupgrade` body.
pub fn manual_upgrade(instance_ids: &[String]) -> InstanceIds {
    InstanceIds {
        instance_ids: instance_ids.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imageferry_contract::{HealthProtocol, ImageFacts, OsState};
    use serde_json::json;

    fn request() -> DeploymentRequest {
        serde_json::from_str(include_str!(
            "../../../../examples/deployment-request.scale-set.json"
        ))
        .unwrap()
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
    fn the_put_follows_the_example_with_the_network_and_the_health_extension() {
        let mut req = request();
        let image = req.validate().unwrap();
        let names = TargetNames::of(&req).unwrap();
        let spec = req.scale_set.clone().unwrap();
        let v = serde_json::to_value(scale_set(
            &req,
            &spec,
            &image,
            &LINUX,
            &names,
            Some("web-fleet".into()),
            None,
        ))
        .unwrap();
        assert_eq!(
            v["sku"],
            json!({"name": "Standard_D2s_v5", "tier": "Standard", "capacity": 4})
        );
        let p = &v["properties"];
        assert_eq!(p["orchestrationMode"], "Uniform");
        assert_eq!(p["overprovision"], false);
        assert_eq!(p["upgradePolicy"], json!({"mode": "Manual"}));
        let vm = &p["virtualMachineProfile"];
        assert_eq!(
            vm["storageProfile"]["imageReference"],
            json!({"id": image.to_string()})
        );
        assert!(vm["storageProfile"]["osDisk"].get("deleteOption").is_none());
        assert_eq!(vm["osProfile"]["computerNamePrefix"], "web-fleet");
        let nic = &vm["networkProfile"]["networkInterfaceConfigurations"][0]["properties"];
        assert_eq!(nic["networkSecurityGroup"]["id"], names.nsg.to_string());
        let ip = &nic["ipConfigurations"][0]["properties"];
        assert_eq!(ip["subnet"]["id"], names.subnet.to_string());
        assert!(ip.get("publicIPAddressConfiguration").is_none());
        let ext = &vm["extensionProfile"]["extensions"][0]["properties"];
        assert_eq!(ext["type"], "ApplicationHealthLinux");
        assert_eq!(ext["publisher"], HEALTH_PUBLISHER);
        assert_eq!(
            ext["settings"],
            json!({"protocol": "http", "port": 80, "requestPath": "/health",
                   "intervalInSeconds": 5, "numberOfProbes": 1, "gracePeriod": 600})
        );
        assert_eq!(v["tags"]["imageferry-deployment"], "web-fleet-1-1-0");

        // Rolling, a public IP per instance, no health probe path for tcp.
        let mut spec = spec;
        spec.upgrade = UpgradeMode::Rolling;
        spec.public_ip = true;
        spec.health = Some(HealthProbe {
            protocol: HealthProtocol::Tcp,
            port: Some(5000),
            path: None,
            grace_minutes: Some(3),
        });
        req.scale_set = Some(spec.clone());
        let v = serde_json::to_value(scale_set(
            &req,
            &spec,
            &image,
            &LINUX,
            &names,
            Some("web-fleet".into()),
            None,
        ))
        .unwrap();
        let p = &v["properties"];
        assert_eq!(
            p["upgradePolicy"],
            json!({"mode": "Rolling", "rollingUpgradePolicy": {
                "maxBatchInstancePercent": 25, "maxUnhealthyInstancePercent": 20,
                "maxUnhealthyUpgradedInstancePercent": 20, "pauseTimeBetweenBatches": "PT30S"}})
        );
        let ip = &p["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]
            ["properties"]["ipConfigurations"][0]["properties"];
        assert_eq!(
            ip["publicIPAddressConfiguration"]["sku"],
            json!({"name": "Standard", "tier": "Regional"})
        );
        let settings = &p["virtualMachineProfile"]["extensionProfile"]["extensions"][0]["properties"]
            ["settings"];
        assert_eq!(
            settings,
            &json!({"protocol": "tcp", "port": 5000, "intervalInSeconds": 5, "numberOfProbes": 1, "gracePeriod": 180})
        );
    }

    #[test]
    fn the_image_patch_carries_the_image_and_the_tags_patch_does_not() {
        let req = request();
        let image = req.validate().unwrap();
        let with = image_update(&req, &image);
        assert!(with.carries_image());
        let v = serde_json::to_value(&with).unwrap();
        assert_eq!(
            v["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["id"],
            image.to_string()
        );
        assert_eq!(v["tags"]["env"], "canary");
        let tags = tags_update(&req);
        assert!(!tags.carries_image());
        assert!(
            serde_json::to_value(&tags)
                .unwrap()
                .get("properties")
                .is_none()
        );
        assert_eq!(
            serde_json::to_value(manual_upgrade(&["1".into(), "2".into()])).unwrap(),
            json!({"instanceIds": ["1", "2"]})
        );
    }
}
