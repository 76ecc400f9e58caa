//! `Microsoft.Compute/virtualMachineScaleSets` (ComputeRP 2025-04-01, Uniform orchestration):
//! the scale set (`VirtualMachineScaleSet`, the parts the pipeline sets or reads), the update
//! body (`VirtualMachineScaleSetUpdate`), its instances (`VirtualMachineScaleSetVM` with the
//! instance view and `vmHealth`), the `manualupgrade` body and the rolling upgrade status.
//! Shapes: reference/arm/examples/scaleset and reference/arm/schemas/virtualMachineScaleSet.json.

use super::common::{Plan, ProvisioningState, SubResource};
use super::compute::{
    ImageReference, InstanceViewStatus, LinuxConfiguration, OsDisk, SecurityProfile,
};
use crate::arm::ErrorDetail;
use crate::redact::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A scale set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualMachineScaleSet {
    /// Resource id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Region.
    pub location: String,
    /// Tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The Marketplace plan of the image, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Instance size and count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<ScaleSetSku>,
    /// Properties.
    pub properties: ScaleSetProperties,
}

/// The scale set's `sku`: instance size, tier and capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetSku {
    /// e.g. `Standard_D2s_v5`.
    pub name: String,
    /// `Standard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Number of instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

/// `VirtualMachineScaleSetProperties` (the parts the pipeline sets or reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetProperties {
    /// `Manual` or `Rolling` (with the policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_policy: Option<UpgradePolicy>,
    /// What every instance runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine_profile: Option<ScaleSetVmProfile>,
    /// Whether Azure creates extra instances and deletes them (`false` here: instance ids stay
    /// 0..capacity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overprovision: Option<bool>,
    /// `Uniform` (what imageferry creates) or `Flexible`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestration_mode: Option<String>,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `UpgradePolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpgradePolicy {
    /// `Manual`, `Automatic` or `Rolling`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The rolling upgrade's batches and limits (`Rolling`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_upgrade_policy: Option<RollingUpgradePolicy>,
}

/// `RollingUpgradePolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollingUpgradePolicy {
    /// Percent of all instances upgraded at a time (5–100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch_instance_percent: Option<u32>,
    /// Percent of all instances that may be unhealthy, checked before each batch (5–100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unhealthy_instance_percent: Option<u32>,
    /// Percent of the upgraded instances that may be unhealthy, checked after each batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unhealthy_upgraded_instance_percent: Option<u32>,
    /// ISO 8601 pause between batches (`PT30S`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_time_between_batches: Option<String>,
}

/// `VirtualMachineScaleSetVMProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetVmProfile {
    /// Computer name prefix and admin account; absent for a specialized image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_profile: Option<ScaleSetOsProfile>,
    /// Image and OS disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<ScaleSetStorageProfile>,
    /// The NIC configuration every instance gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_profile: Option<ScaleSetNetworkProfile>,
    /// Trusted Launch settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<SecurityProfile>,
    /// Extensions (the Application Health extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_profile: Option<ScaleSetExtensionProfile>,
}

impl ScaleSetVmProfile {
    /// The image the model names (gallery, shared or community id).
    pub fn image(&self) -> Option<&str> {
        self.storage_profile
            .as_ref()?
            .image_reference
            .as_ref()?
            .gallery_image()
    }
}

/// `VirtualMachineScaleSetStorageProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetStorageProfile {
    /// The image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_reference: Option<ImageReference>,
    /// The OS disk (no name: Azure names each instance's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_disk: Option<OsDisk>,
}

/// `VirtualMachineScaleSetOSProfile`. The admin password never prints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetOsProfile {
    /// Prefix of every instance's computer name (1–15 characters).
    pub computer_name_prefix: String,
    /// Admin user.
    pub admin_username: String,
    /// Admin password (Windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<SecretString>,
    /// Linux settings (SSH keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_configuration: Option<LinuxConfiguration>,
}

/// `VirtualMachineScaleSetNetworkProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetNetworkProfile {
    /// The NIC configurations.
    pub network_interface_configurations: Vec<ScaleSetNicConfiguration>,
}

/// `VirtualMachineScaleSetNetworkConfiguration`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetNicConfiguration {
    /// Its name.
    pub name: String,
    /// Properties.
    pub properties: ScaleSetNicConfigurationProperties,
}

/// `VirtualMachineScaleSetNetworkConfigurationProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetNicConfigurationProperties {
    /// The primary NIC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// The NSG every instance's NIC uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// Its IP configurations.
    pub ip_configurations: Vec<ScaleSetIpConfiguration>,
}

/// `VirtualMachineScaleSetIPConfiguration`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetIpConfiguration {
    /// Its name.
    pub name: String,
    /// Properties.
    pub properties: ScaleSetIpConfigurationProperties,
}

/// `VirtualMachineScaleSetIPConfigurationProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetIpConfigurationProperties {
    /// The subnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubResource>,
    /// The primary configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// A public IP address per instance.
    #[serde(
        rename = "publicIPAddressConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub public_ip_address_configuration: Option<ScaleSetPublicIpConfiguration>,
}

/// `VirtualMachineScaleSetPublicIPAddressConfiguration`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetPublicIpConfiguration {
    /// Its name.
    pub name: String,
    /// `{name: Standard, tier: Regional}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<super::common::Sku>,
    /// Properties.
    pub properties: ScaleSetPublicIpConfigurationProperties,
}

/// `VirtualMachineScaleSetPublicIPAddressConfigurationProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetPublicIpConfigurationProperties {
    /// Idle timeout of the address (4–30 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_in_minutes: Option<u32>,
}

/// `VirtualMachineScaleSetExtensionProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetExtensionProfile {
    /// The extensions.
    pub extensions: Vec<ScaleSetExtension>,
}

/// `VirtualMachineScaleSetExtension`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetExtension {
    /// Its name.
    pub name: String,
    /// Properties.
    pub properties: ScaleSetExtensionProperties,
}

/// `VirtualMachineScaleSetExtensionProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetExtensionProperties {
    /// e.g. `Microsoft.ManagedServices`.
    pub publisher: String,
    /// e.g. `ApplicationHealthLinux`.
    #[serde(rename = "type")]
    pub extension_type: String,
    /// e.g. `2.0`.
    pub type_handler_version: String,
    /// Take newer minor versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_upgrade_minor_version: Option<bool>,
    /// The extension's public settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

/// `VirtualMachineScaleSetUpdate`: a PATCH body. Only what it names changes; a body without
/// `imageReference` is not checked against the image (and needs no auxiliary token).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualMachineScaleSetUpdate {
    /// Tags (replace the scale set's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<ScaleSetUpdateProperties>,
}

/// `VirtualMachineScaleSetUpdateProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetUpdateProperties {
    /// The upgrade policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_policy: Option<UpgradePolicy>,
    /// The model's changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine_profile: Option<ScaleSetUpdateVmProfile>,
}

/// `VirtualMachineScaleSetUpdateVMProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetUpdateVmProfile {
    /// The storage profile's changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<ScaleSetUpdateStorageProfile>,
}

/// `VirtualMachineScaleSetUpdateStorageProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetUpdateStorageProfile {
    /// The new image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_reference: Option<ImageReference>,
}

impl VirtualMachineScaleSetUpdate {
    /// A PATCH of the model's image (and the tags, when given).
    pub fn image(image: ImageReference, tags: Option<BTreeMap<String, String>>) -> Self {
        Self {
            tags,
            properties: Some(ScaleSetUpdateProperties {
                upgrade_policy: None,
                virtual_machine_profile: Some(ScaleSetUpdateVmProfile {
                    storage_profile: Some(ScaleSetUpdateStorageProfile {
                        image_reference: Some(image),
                    }),
                }),
            }),
        }
    }

    /// Whether the body carries an image reference (the auxiliary token's rule).
    pub fn carries_image(&self) -> bool {
        self.properties
            .as_ref()
            .and_then(|p| p.virtual_machine_profile.as_ref())
            .and_then(|v| v.storage_profile.as_ref())
            .is_some_and(|s| s.image_reference.is_some())
    }
}

/// `VirtualMachineScaleSetVMInstanceRequiredIDs`: the `manualupgrade` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceIds {
    /// The instance ids.
    pub instance_ids: Vec<String>,
}

/// `VirtualMachineScaleSetVM`: one instance, as the `virtualMachines` list returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetVm {
    /// Its id (`…/virtualMachines/{instanceId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The instance id (`0`, `1`, …).
    pub instance_id: String,
    /// Properties.
    pub properties: ScaleSetVmProperties,
}

/// `VirtualMachineScaleSetVMProperties` (what the pipeline reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetVmProperties {
    /// Whether it runs the scale set's current model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_model_applied: Option<bool>,
    /// Provisioning state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
    /// The image it runs (`exactVersion`: the version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<ScaleSetStorageProfile>,
    /// Its instance view (`$expand=instanceView`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_view: Option<ScaleSetVmInstanceView>,
}

/// `VirtualMachineScaleSetVMInstanceView` (statuses and `vmHealth`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSetVmInstanceView {
    /// Provisioning and power statuses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<InstanceViewStatus>,
    /// What the Application Health extension reports (absent without it, or while it starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_health: Option<VmHealth>,
}

/// `VirtualMachineHealthStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VmHealth {
    /// `HealthState/healthy`, `HealthState/unhealthy`, `HealthState/unknown`,
    /// `HealthState/initializing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<InstanceViewStatus>,
}

impl ScaleSetVm {
    /// The version it runs (`storageProfile.imageReference.exactVersion`).
    pub fn exact_version(&self) -> Option<&str> {
        self.properties
            .storage_profile
            .as_ref()?
            .image_reference
            .as_ref()?
            .exact_version
            .as_deref()
    }

    /// `vmHealth.status.code`, when reported.
    pub fn health_code(&self) -> Option<&str> {
        self.properties
            .instance_view
            .as_ref()?
            .vm_health
            .as_ref()?
            .status
            .as_ref()
            .map(|s| s.code.as_str())
    }

    /// Why its provisioning failed: the instance view's `ProvisioningState/failed` status.
    pub fn provisioning_error(&self) -> Option<String> {
        let view = self.properties.instance_view.as_ref()?;
        view.statuses
            .iter()
            .find(|s| {
                s.code
                    .to_ascii_lowercase()
                    .starts_with("provisioningstate/failed")
            })
            .map(|s| {
                s.message
                    .clone()
                    .or_else(|| s.display_status.clone())
                    .unwrap_or_else(|| s.code.clone())
            })
    }
}

/// `RollingUpgradeStatusInfo` (`rollingUpgrades/latest`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollingUpgradeStatus {
    /// Properties.
    pub properties: RollingUpgradeStatusProperties,
}

/// `RollingUpgradeStatusInfoProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollingUpgradeStatusProperties {
    /// The policy it runs with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<RollingUpgradePolicy>,
    /// Where it stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_status: Option<RollingUpgradeRunningStatus>,
    /// Instance counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<RollingUpgradeProgress>,
    /// Why it stopped (`details[]` name the instances: `target` is the instance id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// `RollingUpgradeRunningStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollingUpgradeRunningStatus {
    /// `RollingForward`, `Cancelled`, `Completed` or `Faulted`.
    pub code: String,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// `Start` or `Cancel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
}

/// `RollingUpgradeProgressInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollingUpgradeProgress {
    /// Upgraded.
    pub successful_instance_count: u32,
    /// Failed to upgrade.
    pub failed_instance_count: u32,
    /// Being upgraded.
    pub in_progress_instance_count: u32,
    /// Not yet.
    pub pending_instance_count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../../reference/arm/examples/scaleset/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_the_examples() {
        let ex = example("VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage.json");
        let ss: VirtualMachineScaleSet =
            serde_json::from_value(ex["responses"]["201"]["body"].clone()).unwrap();
        assert_eq!(ss.sku.as_ref().unwrap().capacity, Some(3));
        assert_eq!(
            ss.properties.provisioning_state,
            Some(ProvisioningState::Creating)
        );
        let profile = ss.properties.virtual_machine_profile.unwrap();
        assert!(profile.image().unwrap().ends_with("/images/mySharedImage"));
        let nic = &profile
            .network_profile
            .unwrap()
            .network_interface_configurations[0];
        assert!(
            nic.properties.ip_configurations[0]
                .properties
                .subnet
                .is_some()
        );

        let list = example("VirtualMachineScaleSetVM_List_MaximumSet_Gen.json");
        let vms: Vec<ScaleSetVm> =
            serde_json::from_value(list["responses"]["200"]["body"]["value"].clone()).unwrap();
        assert!(!vms.is_empty());
        assert!(vms[0].properties.latest_model_applied.is_some());

        let latest = example("VirtualMachineScaleSetRollingUpgrade_GetLatest_MaximumSet_Gen.json");
        let status: RollingUpgradeStatus =
            serde_json::from_value(latest["responses"]["200"]["body"].clone()).unwrap();
        assert!(status.properties.running_status.is_some());
    }

    #[test]
    fn an_image_patch_carries_the_image_and_a_tags_patch_does_not() {
        let with = VirtualMachineScaleSetUpdate::image(ImageReference::gallery("/x"), None);
        assert!(with.carries_image());
        assert_eq!(
            serde_json::to_value(&with).unwrap(),
            serde_json::json!({"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": "/x"}}}}})
        );
        let tags = VirtualMachineScaleSetUpdate {
            tags: Some([("a".to_string(), "b".to_string())].into()),
            properties: None,
        };
        assert!(!tags.carries_image());
        assert_eq!(
            serde_json::to_value(&tags).unwrap(),
            serde_json::json!({"tags": {"a": "b"}})
        );
    }
}
