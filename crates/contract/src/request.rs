//! The `deployment-requested` message body (the public request).
//!
//! Fields are lenient on input (a missing string is empty, a missing section is empty) so that
//! [`DeploymentRequest::validate`](crate::validate) can report *every* problem with its JSON path
//! instead of serde's first error. The JSON Schema still marks them required.

use crate::scale_set::ScaleSetSpec;
use crate::schema_util::{self, OptionalRfc3339};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A request to create one VM in a target tenant from a gallery image version, or to create a
/// scale set from it (or update the scale set to it): exactly one of `vm` and `scaleSet`.
///
/// Top-level field names deliberately avoid Service Bus system property names: the Functions host
/// copies top-level body fields into the trigger metadata. Unknown fields are refused (at every
/// level), so a body can never carry a field named like a system property.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "DeploymentRequest", transform = schema_util::require_request)]
pub struct DeploymentRequest {
    /// Idempotency key: 1–40 characters of `[a-z0-9-]`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,40}$"))]
    pub deployment_id: String,
    /// The image version to create the VM from.
    #[serde(default)]
    pub image: ImageRef,
    /// Where the VM goes.
    #[serde(default)]
    pub target: Target,
    /// The VM itself (absent when the request names a `scaleSet`).
    #[serde(default, skip_serializing_if = "VmSpec::is_unset")]
    pub vm: VmSpec,
    /// The scale set to create, or to update to this version (instead of `vm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set: Option<ScaleSetSpec>,
    /// Network options; without `subnetId` a VNet 192.168.0.0/16 with subnet 192.168.1.0/24 is built.
    #[serde(default)]
    pub network: NetworkSpec,
    /// When to give up (RFC 3339). Defaults to the handler's configured deadline after acceptance.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "OptionalRfc3339")]
    pub deadline: Option<OffsetDateTime>,
}

/// The source image version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema_util::require_image)]
pub struct ImageRef {
    /// A gallery image version id
    /// (`/subscriptions/…/providers/Microsoft.Compute/galleries/{g}/images/{i}/versions/{v}`),
    /// a direct-shared id (`/SharedGalleries/{unique}/Images/{i}/Versions/{v}`) or a community id
    /// (`/CommunityGalleries/{name}/Images/{i}/Versions/{v}`).
    #[serde(default)]
    pub id: String,
    /// The gallery's tenant (tenant 1). Required for a gallery resource id; unused for shared and
    /// community galleries, which are read with the target tenant's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// The target tenant, subscription, resource group and region.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema_util::require_target)]
pub struct Target {
    /// Target tenant (tenant 2), a GUID.
    #[serde(default)]
    pub tenant_id: String,
    /// Target subscription, a GUID.
    #[serde(default)]
    pub subscription_id: String,
    /// Target resource group (created if missing and the handler allows it).
    #[serde(default)]
    pub resource_group: String,
    /// Azure region name, e.g. `southcentralus`; the image version must be replicated there.
    #[serde(default)]
    pub location: String,
}

/// The VM to create. OS type, generalized/specialized and Trusted Launch come from the image
/// definition, not from here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema_util::require_vm)]
pub struct VmSpec {
    /// VM name (1–59 characters so that the derived `{name}-vnet` fits; Windows: at most 15).
    #[serde(default)]
    pub name: String,
    /// VM size, e.g. `Standard_D2s_v5`.
    #[serde(default)]
    pub size: String,
    /// Administrator account; required for generalized images, not allowed for specialized ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_username: Option<String>,
    /// OpenSSH public key (Linux, generalized images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
    /// Key Vault secret id holding the administrator password (Windows, generalized images).
    /// The handler reads it with its own identity; the password never travels in a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password_secret_id: Option<String>,
    /// Create a static Standard public IP address.
    #[serde(default)]
    pub public_ip: bool,
    /// Extra tags for every created resource (`imageferry-deployment` is reserved).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Network options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// An existing subnet (`/subscriptions/{target sub}/resourceGroups/…/virtualNetworks/{v}/subnets/{s}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Source prefixes allowed to reach SSH 22 (Linux) or RDP 3389 (Windows): CIDR blocks or single
    /// addresses; `*` (anywhere) must be asked for explicitly. Empty: no inbound rule.
    #[serde(default)]
    pub allow_inbound_from: Vec<String>,
}

impl VmSpec {
    /// Whether nothing of it is given (a `scaleSet` request has no `vm`).
    pub fn is_unset(&self) -> bool {
        *self == VmSpec::default()
    }
}

impl DeploymentRequest {
    /// The machine fields both targets have (name, size, admin account, public IP, tags): the
    /// VM's, or the scale set's ([`ScaleSetSpec::as_vm`]).
    pub fn machine(&self) -> std::borrow::Cow<'_, VmSpec> {
        match &self.scale_set {
            Some(s) => std::borrow::Cow::Owned(s.as_vm()),
            None => std::borrow::Cow::Borrowed(&self.vm),
        }
    }

    /// The JSON path of the machine fields: `scaleSet` or `vm`.
    pub fn machine_path(&self) -> &'static str {
        if self.scale_set.is_some() {
            "scaleSet"
        } else {
            "vm"
        }
    }

    /// The deadline of this request: its own, or `accepted_at + default`. The sum is checked:
    /// past the last representable instant (year 9999) it is that instant, never a panic.
    pub fn effective_deadline(
        &self,
        accepted_at: OffsetDateTime,
        default: std::time::Duration,
    ) -> OffsetDateTime {
        self.deadline
            .unwrap_or_else(|| saturating_add(accepted_at, default))
    }
}

/// `at + by`, or the last representable instant when that overflows.
pub fn saturating_add(at: OffsetDateTime, by: std::time::Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_offset(at.offset()))
}
