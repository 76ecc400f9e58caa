//! The roles that grant the pipeline's actions, and where each is assigned. The target
//! tenant's least-privilege roles are those of `infra/target/main.bicep`, whose action lists are
//! `infra/target/actions.json` (read here with `include_str!`); the others are built-in roles.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A role that grants some of the pipeline's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// *imageferry VM deployer* (`deployerActions`), on the target resource group.
    Deployer,
    /// *imageferry resource group creator* (`resourceGroupCreatorActions`), on the subscription,
    /// deployed with `allowCreateResourceGroup=true` for `IMAGEFERRY_CREATE_RESOURCE_GROUP=true`.
    ResourceGroupCreator,
    /// *imageferry shared image reader* (`sharedImageReaderActions`), on the subscription,
    /// deployed with `allowSharedGalleryImages=true` for direct-shared and community images.
    SharedImageReader,
    /// *imageferry Marketplace terms reader* (`marketplaceTermsReaderActions`), on the
    /// subscription (`allowMarketplaceTermsCheck`, on by default), for images with a purchase plan.
    MarketplaceTermsReader,
    /// The built-in Reader on the gallery, in the gallery's tenant (tenant 1).
    GalleryReader,
    /// The built-in Key Vault Secrets User on the vault, in the app's home tenant.
    KeyVaultSecretsUser,
}

impl Role {
    /// The least-privilege roles of `infra/target/main.bicep`, in the target tenant.
    pub const TARGET: [Role; 4] = [
        Role::Deployer,
        Role::ResourceGroupCreator,
        Role::SharedImageReader,
        Role::MarketplaceTermsReader,
    ];

    /// The key of `infra/target/actions.json` (and the variable of `main.bicep`) that lists the
    /// role's actions; `None` for a built-in role.
    pub const fn actions_key(self) -> Option<&'static str> {
        match self {
            Role::Deployer => Some("deployerActions"),
            Role::ResourceGroupCreator => Some("resourceGroupCreatorActions"),
            Role::SharedImageReader => Some("sharedImageReaderActions"),
            Role::MarketplaceTermsReader => Some("marketplaceTermsReaderActions"),
            Role::GalleryReader | Role::KeyVaultSecretsUser => None,
        }
    }

    /// The built-in role that also grants these actions (broader), for a fix without the
    /// least-privilege template: Reader for the terms read, Contributor for the rest.
    pub const fn builtin_fallback(self) -> &'static str {
        match self {
            Role::MarketplaceTermsReader | Role::GalleryReader => "Reader",
            Role::KeyVaultSecretsUser => "Key Vault Secrets User",
            _ => "Contributor",
        }
    }

    /// The role's actions as `infra/target/actions.json` lists them (empty for a built-in role).
    pub fn granted_actions(self) -> &'static [String] {
        self.actions_key()
            .and_then(|key| TARGET_ROLE_ACTIONS.get(key))
            .map_or(&[], Vec::as_slice)
    }
}

/// Where a role must hold an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// The target resource group (the subscription while the group does not exist yet).
    ResourceGroup,
    /// The subnet the NIC joins: the target resource group for the pipeline's own VNet, the
    /// request's `network.subnetId` otherwise.
    Subnet,
    /// The target subscription.
    Subscription,
    /// The gallery, in tenant 1.
    Gallery,
    /// The Key Vault of the secret, in the home tenant.
    Vault,
}

/// `infra/target/actions.json`: the action lists of the target tenant's roles.
pub const ACTIONS_JSON: &str = include_str!("../../../infra/target/actions.json");

static TARGET_ROLE_ACTIONS: LazyLock<BTreeMap<String, Vec<String>>> = LazyLock::new(|| {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(flatten)]
        roles: BTreeMap<String, serde_json::Value>,
    }
    // A malformed file fails the tests (and `main.bicep`'s loadJsonContent) before it ships.
    let file: File = serde_json::from_str(ACTIONS_JSON).unwrap_or(File {
        roles: BTreeMap::new(),
    });
    file.roles
        .into_iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect()
});
