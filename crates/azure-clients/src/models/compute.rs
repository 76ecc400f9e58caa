//! `Microsoft.Compute/virtualMachines` (ComputeRP 2025-04-01 shapes).

use super::common::ProvisioningState;
use crate::redact::SecretString;
use serde::{Deserialize, Serialize};

/// A virtual machine.
pub type VirtualMachine = super::TrackedResource<VirtualMachineProperties>;

/// `VirtualMachineProperties` (the parts the pipeline sets or reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualMachineProperties {
    /// VM size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<HardwareProfile>,
    /// Image and OS disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<StorageProfile>,
    /// OS settings; must be absent for a specialized image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_profile: Option<OsProfile>,
    /// NICs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_profile: Option<NetworkProfile>,
    /// Trusted Launch settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<SecurityProfile>,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
    /// VM unique id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    /// The instance view (read-only; present when read with `$expand=instanceView`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_view: Option<VirtualMachineInstanceView>,
}

/// `VirtualMachineInstanceView` (the part the pipeline reads: `statuses`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualMachineInstanceView {
    /// The resource status information (computeRPCommon `InstanceViewStatus`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<InstanceViewStatus>,
}

/// `InstanceViewStatus`: e.g. `{code: "ProvisioningState/failed/AllocationFailed", level:
/// "Error", displayStatus: "Provisioning failed", message: "Allocation failed. …"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceViewStatus {
    /// The status code.
    pub code: String,
    /// `Info`, `Warning` or `Error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The short label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_status: Option<String>,
    /// The detailed message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// The prefix of the instance-view status code of a failed provisioning:
/// `ProvisioningState/failed/{ARM error code}`.
const PROVISIONING_FAILED: &str = "provisioningstate/failed/";

impl super::TrackedResource<VirtualMachineProperties> {
    /// Why the VM's provisioning failed, as an ARM error detail, from its instance view: the
    /// status `ProvisioningState/failed/{code}` carries the create's error code (e.g.
    /// `AllocationFailed`, `OSProvisioningTimedOut`) and message. `None` without an instance
    /// view or such a status.
    pub fn provisioning_error(&self) -> Option<crate::arm::ErrorDetail> {
        self.properties
            .instance_view
            .as_ref()?
            .statuses
            .iter()
            .find_map(|s| {
                let code = s
                    .code
                    .get(..PROVISIONING_FAILED.len())
                    .filter(|p| p.eq_ignore_ascii_case(PROVISIONING_FAILED))
                    .map(|_| &s.code[PROVISIONING_FAILED.len()..])?;
                Some(crate::arm::ErrorDetail {
                    code: code.to_string(),
                    message: s
                        .message
                        .clone()
                        .or_else(|| s.display_status.clone())
                        .unwrap_or_default(),
                    ..Default::default()
                })
            })
    }
}

/// `HardwareProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HardwareProfile {
    /// e.g. `Standard_D2s_v5`.
    pub vm_size: String,
}

/// `StorageProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageProfile {
    /// The image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_reference: Option<ImageReference>,
    /// The OS disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_disk: Option<OsDisk>,
}

/// `ImageReference`: exactly one of `id` (gallery image or version), `sharedGalleryImageId`,
/// `communityGalleryImageId`, or a marketplace publisher/offer/sku/version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageReference {
    /// A gallery image definition or version id (tenant 1's, with the auxiliary header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `/SharedGalleries/{unique}/Images/{image}/Versions/{version}` (direct shared gallery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_gallery_image_id: Option<String>,
    /// `/CommunityGalleries/{public}/Images/{image}/Versions/{version}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_gallery_image_id: Option<String>,
    /// Marketplace publisher.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Marketplace offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// Marketplace SKU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Marketplace version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Resolved version (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_version: Option<String>,
}

impl ImageReference {
    /// The image this reference names (gallery id, shared or community id), if any.
    pub fn gallery_image(&self) -> Option<&str> {
        self.id
            .as_deref()
            .or(self.shared_gallery_image_id.as_deref())
            .or(self.community_gallery_image_id.as_deref())
    }

    /// A gallery image (version) by ARM id.
    pub fn gallery(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }

    /// A direct-shared gallery image version.
    pub fn shared_gallery(id: impl Into<String>) -> Self {
        Self {
            shared_gallery_image_id: Some(id.into()),
            ..Self::default()
        }
    }

    /// A community gallery image version.
    pub fn community_gallery(id: impl Into<String>) -> Self {
        Self {
            community_gallery_image_id: Some(id.into()),
            ..Self::default()
        }
    }
}

/// `OSDisk`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OsDisk {
    /// Disk name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `FromImage` for VMs from an image.
    pub create_option: String,
    /// `ReadWrite`, `ReadOnly`, `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caching: Option<String>,
    /// `Windows` or `Linux` (read-only for images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    /// Managed disk parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_disk: Option<ManagedDiskParameters>,
    /// Size in GiB.
    #[serde(rename = "diskSizeGB", skip_serializing_if = "Option::is_none")]
    pub disk_size_gb: Option<i32>,
    /// What happens to the disk when the VM is deleted (ARM's default is `Detach`: it stays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
}

string_enum! {
    /// `DiskDeleteOptionTypes` / `DeleteOptions`: what happens to a disk or NIC when its VM is
    /// deleted.
    DeleteOption {
        /// Deleted with the VM.
        Delete = "Delete",
        /// Kept (ARM's default).
        Detach = "Detach",
    }
}

impl OsDisk {
    /// `createOption: FromImage` with a managed disk of `storage_account_type` (always sent, as
    /// `az vm create` does), deleted with the VM.
    pub fn from_image(name: Option<String>, storage_account_type: impl Into<String>) -> Self {
        Self {
            name,
            create_option: "FromImage".into(),
            caching: Some("ReadWrite".into()),
            delete_option: Some(DeleteOption::Delete),
            managed_disk: Some(ManagedDiskParameters {
                storage_account_type: Some(storage_account_type.into()),
                id: None,
            }),
            ..Self::default()
        }
    }
}

/// `ManagedDiskParameters`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManagedDiskParameters {
    /// e.g. `Premium_LRS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_account_type: Option<String>,
    /// Disk id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `OSProfile`. The admin password never prints (`Debug` shows it redacted).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OsProfile {
    /// Host name.
    pub computer_name: String,
    /// Admin user.
    pub admin_username: String,
    /// Admin password (Windows, or Linux with password authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<SecretString>,
    /// Linux settings (SSH keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_configuration: Option<LinuxConfiguration>,
    /// Windows settings, passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_configuration: Option<serde_json::Value>,
}

/// `LinuxConfiguration`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LinuxConfiguration {
    /// Disable password login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_password_authentication: Option<bool>,
    /// SSH keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshConfiguration>,
}

/// `SshConfiguration`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SshConfiguration {
    /// Keys.
    pub public_keys: Vec<SshPublicKey>,
}

/// `SshPublicKey`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SshPublicKey {
    /// e.g. `/home/azureuser/.ssh/authorized_keys`.
    pub path: String,
    /// The OpenSSH public key.
    pub key_data: String,
}

impl OsProfile {
    /// Linux with SSH key login only.
    pub fn linux_ssh(
        computer_name: impl Into<String>,
        admin_username: impl Into<String>,
        public_key: impl Into<String>,
    ) -> Self {
        let admin_username = admin_username.into();
        Self {
            computer_name: computer_name.into(),
            linux_configuration: Some(LinuxConfiguration {
                disable_password_authentication: Some(true),
                ssh: Some(SshConfiguration {
                    public_keys: vec![SshPublicKey {
                        path: format!("/home/{admin_username}/.ssh/authorized_keys"),
                        key_data: public_key.into(),
                    }],
                }),
            }),
            admin_username,
            ..Self::default()
        }
    }

    /// Username and password (Windows, or Linux with password authentication).
    pub fn password(
        computer_name: impl Into<String>,
        admin_username: impl Into<String>,
        password: SecretString,
    ) -> Self {
        Self {
            computer_name: computer_name.into(),
            admin_username: admin_username.into(),
            admin_password: Some(password),
            ..Self::default()
        }
    }
}

/// `NetworkProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkProfile {
    /// NICs.
    pub network_interfaces: Vec<NetworkInterfaceReference>,
}

/// `NetworkInterfaceReference`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkInterfaceReference {
    /// NIC id.
    pub id: String,
    /// Properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<NetworkInterfaceReferenceProperties>,
}

/// `NetworkInterfaceReferenceProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkInterfaceReferenceProperties {
    /// Primary NIC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// What happens to the NIC when the VM is deleted (ARM's default is `Detach`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
}

impl NetworkProfile {
    /// One primary NIC, deleted with the VM.
    pub fn primary_nic(nic_id: impl Into<String>) -> Self {
        Self {
            network_interfaces: vec![NetworkInterfaceReference {
                id: nic_id.into(),
                properties: Some(NetworkInterfaceReferenceProperties {
                    primary: Some(true),
                    delete_option: Some(DeleteOption::Delete),
                }),
            }],
        }
    }
}

string_enum! {
    /// `SecurityTypes`.
    SecurityType {
        /// `TrustedLaunch`.
        TrustedLaunch = "TrustedLaunch",
        /// `ConfidentialVM`.
        ConfidentialVm = "ConfidentialVM",
        /// `Standard`.
        Standard = "Standard",
    }
}

/// `SecurityProfile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityProfile {
    /// e.g. `TrustedLaunch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_type: Option<SecurityType>,
    /// Secure boot and vTPM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uefi_settings: Option<UefiSettings>,
}

/// `UefiSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UefiSettings {
    /// Secure boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_boot_enabled: Option<bool>,
    /// Virtual TPM.
    #[serde(rename = "vTpmEnabled", skip_serializing_if = "Option::is_none")]
    pub v_tpm_enabled: Option<bool>,
}

impl SecurityProfile {
    /// Trusted Launch with secure boot and vTPM on.
    pub fn trusted_launch() -> Self {
        Self {
            security_type: Some(SecurityType::TrustedLaunch),
            uefi_settings: Some(UefiSettings {
                secure_boot_enabled: Some(true),
                v_tpm_enabled: Some(true),
            }),
        }
    }
}

impl super::common::MaybeEmpty for VirtualMachineProperties {}
