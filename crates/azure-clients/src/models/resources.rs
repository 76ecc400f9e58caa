//! `Microsoft.Resources/resourceGroups`.

use super::common::ProvisioningState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A resource group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceGroup {
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
    /// Properties (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<ResourceGroupProperties>,
}

/// `ResourceGroupProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceGroupProperties {
    /// Provisioning state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
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
