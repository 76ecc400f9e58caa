//! `Microsoft.Resources/resourceGroups`.

use super::common::{MaybeEmpty, ProvisioningState};
use serde::{Deserialize, Serialize};

/// A resource group (its `properties` are read-only and left out of a create body).
pub type ResourceGroup = super::TrackedResource<ResourceGroupProperties>;

/// `ResourceGroupProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceGroupProperties {
    /// Provisioning state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

impl MaybeEmpty for ResourceGroupProperties {
    fn is_empty(&self) -> bool {
        self.provisioning_state.is_none()
    }
}

impl ResourceGroup {
    /// A create body for `location`.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            ..Self::default()
        }
    }
}
