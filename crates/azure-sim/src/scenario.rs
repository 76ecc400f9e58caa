//! The scenario: the tenants, principals, role assignments, galleries, secrets and faults the
//! simulator starts with. Loaded from TOML or JSON; see the crate README for the format.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The default scenario shipped with the crate (`scenarios/default.toml`).
const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.toml");

/// Errors loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax or shape error.
    #[error("invalid TOML scenario: {0}")]
    Toml(#[from] toml::de::Error),
    /// JSON syntax or shape error.
    #[error("invalid JSON scenario: {0}")]
    Json(#[from] serde_json::Error),
    /// A reference inside the scenario does not resolve.
    #[error("inconsistent scenario: {0}")]
    Inconsistent(String),
}

/// Everything the simulator knows at start.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Entra tenants and the subscriptions they own.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// App registrations (multi-tenant service principals).
    #[serde(default)]
    pub apps: Vec<AppRegistration>,
    /// The Function App's system-assigned managed identity, if any.
    #[serde(default)]
    pub managed_identity: Option<ManagedIdentity>,
    /// Issuer of workload-identity tokens minted by `/_sim/federated-token`.
    #[serde(default = "default_workload_issuer")]
    pub workload_issuer: String,
    /// Custom role definitions that role assignments may name (`Role::Custom`).
    #[serde(default)]
    pub custom_roles: Vec<CustomRole>,
    /// Azure RBAC role assignments.
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignment>,
    /// Resource groups that exist at start.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroupSeed>,
    /// Compute galleries with image definitions and versions.
    #[serde(default)]
    pub galleries: Vec<GallerySeed>,
    /// The default Key Vault: served at the stand-in's own host (`/secrets/{name}`) and at
    /// `{name}.vault.localhost`.
    #[serde(default)]
    pub key_vault: KeyVaultSeed,
    /// More vaults, each named by the request host's first label (`{name}.vault.localhost`).
    #[serde(default)]
    pub key_vaults: Vec<KeyVaultSeed>,
    /// ARM list behaviour.
    #[serde(default)]
    pub arm: ArmSettings,
    /// Marketplace plans whose terms a subscription has accepted (`az vm image terms accept`).
    #[serde(default)]
    pub marketplace_terms: Vec<MarketplaceTerms>,
    /// Durations of long-running operations.
    #[serde(default)]
    pub lro: LroSettings,
    /// Injected faults and the time scale.
    #[serde(default)]
    pub faults: Faults,
    /// Scale-set timings (instance create/upgrade, delete, rolling-upgrade health wait).
    #[serde(default)]
    pub scale_sets: ScaleSetSettings,
    /// What applications answer the Application Health extension (default: healthy).
    #[serde(default)]
    pub health: Vec<HealthRule>,
}

pub use crate::arm::health::{AppHealth, HealthRule};
pub use crate::arm::vmss::ScaleSetSettings;

fn default_workload_issuer() -> String {
    "https://azure-sim.local/workload-identity".to_owned()
}

/// An Entra tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant id (GUID).
    pub id: String,
    /// Display name (informational).
    #[serde(default)]
    pub name: String,
    /// Subscription ids owned by this tenant.
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

/// A multi-tenant app registration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRegistration {
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Client secret, if the app has one.
    #[serde(default)]
    pub secret: Option<String>,
    /// Tenants where a service principal exists (home tenant + consented tenants).
    #[serde(default)]
    pub consented_tenants: Vec<String>,
    /// Service-principal object id per tenant; derived from (client id, tenant) when absent.
    #[serde(default)]
    pub object_ids: BTreeMap<String, String>,
    /// Federated identity credentials (issuer + subject).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Registered certificate credentials.
    #[serde(default)]
    pub certificates: Vec<CertificateCredential>,
}

/// A certificate credential: matched by the assertion's `x5t#S256` header; when the RSA public
/// key is given (JWK `n`/`e`, base64url) the assertion's RS256 signature is verified too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateCredential {
    /// SHA-256 thumbprint of the certificate, base64url (the `x5t#S256` header value).
    pub thumbprint: String,
    /// RSA modulus, base64url big-endian.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian (usually `AQAB`).
    #[serde(default)]
    pub e: Option<String>,
}

impl std::fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRegistration")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("consented_tenants", &self.consented_tenants)
            .field("federated_credentials", &self.federated_credentials)
            .finish_non_exhaustive()
    }
}

impl AppRegistration {
    /// The service principal's object id in `tenant` (distinct per tenant).
    pub fn object_id(&self, tenant: &str) -> String {
        self.object_ids
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(tenant))
            .map(|(_, oid)| oid.clone())
            .unwrap_or_else(|| derived_guid(&format!("{}|{}", self.client_id, tenant)))
    }

    /// Whether a service principal for this app exists in `tenant`.
    pub fn is_consented(&self, tenant: &str) -> bool {
        self.consented_tenants
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tenant))
    }
}

/// A federated identity credential on an app registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// Expected `iss` of the client assertion.
    pub issuer: String,
    /// Expected `sub` of the client assertion.
    pub subject: String,
    /// Expected `aud` (default `api://AzureADTokenExchange`).
    #[serde(default = "default_exchange_audience")]
    pub audience: String,
}

fn default_exchange_audience() -> String {
    "api://AzureADTokenExchange".to_owned()
}

/// The App Service managed identity of the Function App.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentity {
    /// Tenant of the identity.
    pub tenant: String,
    /// Client id of the identity.
    pub client_id: String,
    /// Object (principal) id of the identity.
    pub object_id: String,
    /// Value the caller must send in `X-IDENTITY-HEADER` (`IDENTITY_HEADER`).
    pub identity_header: String,
}

impl std::fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("object_id", &self.object_id)
            .finish_non_exhaustive()
    }
}

/// A role: one of the built-in roles the simulator understands, or a custom role of the
/// scenario's `custom_roles`, by name (TOML `role = { Custom = "imageferry VM deployer" }`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Role {
    /// `*/read`.
    Reader,
    /// `*` except the `Microsoft.Authorization/*/Write`… notActions (the simulator does not model
    /// role-assignment writes).
    Contributor,
    /// `*`.
    Owner,
    /// A custom role of `custom_roles` (its `name`).
    Custom(String),
}

/// A custom role definition (`Microsoft.Authorization/roleDefinitions` with `type: CustomRole`,
/// shape of azure-rest-api-specs' `GetRoleDefinitionByName.json`): its name and its one
/// `Permission`. Actions may use `*` wildcards; matching ignores case, as RBAC does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRole {
    /// `roleName`.
    pub name: String,
    /// `permissions[0].actions`.
    pub actions: Vec<String>,
    /// `permissions[0].notActions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
}

/// A role's effective `Permission` (`actions`, `notActions`; the simulator grants no data actions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermission {
    /// Allowed actions (with `*` wildcards).
    pub actions: Vec<String>,
    /// Actions taken out again.
    pub not_actions: Vec<String>,
}

/// The built-in Contributor's `notActions`, as `az role definition list --name Contributor` shows them.
const CONTRIBUTOR_NOT_ACTIONS: [&str; 11] = [
    "Microsoft.Authorization/*/Delete",
    "Microsoft.Authorization/*/Write",
    "Microsoft.Authorization/elevateAccess/Action",
    "Microsoft.Blueprint/blueprintAssignments/write",
    "Microsoft.Blueprint/blueprintAssignments/delete",
    "Microsoft.Compute/galleries/share/action",
    "Microsoft.Purview/consents/write",
    "Microsoft.Purview/consents/delete",
    "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
    "Microsoft.Subscription/cancel/action",
    "Microsoft.Subscription/enable/action",
];

/// Whether the RBAC pattern `pattern` (`*` matches any run of characters) matches `action`,
/// ignoring ASCII case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn m(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| m(rest, &a[i..])),
            Some((c, rest)) => {
                a.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && m(rest, &a[1..])
            }
        }
    }
    m(pattern.as_bytes(), action.as_bytes())
}

impl RolePermission {
    /// Whether this permission grants `action` (e.g. `Microsoft.Compute/virtualMachines/write`):
    /// an action matches and no notAction does.
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| action_matches(a, action))
            && !self.not_actions.iter().any(|n| action_matches(n, action))
    }
}

/// A role assignment. `principal` is a service principal object id, an app's client id (matches
/// that app's service principal in every tenant) or the managed identity's object id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignment {
    /// Object id or client id.
    pub principal: String,
    /// The role.
    pub role: Role,
    /// ARM scope (subscription, resource group or resource id).
    pub scope: String,
}

/// A resource group that exists at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceGroupSeed {
    /// Subscription id.
    pub subscription: String,
    /// Name.
    pub name: String,
    /// Location (e.g. `southcentralus`).
    pub location: String,
}

/// A compute gallery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GallerySeed {
    /// Subscription id.
    pub subscription: String,
    /// Resource group (created if not listed in `resource_groups`).
    pub resource_group: String,
    /// Gallery name.
    pub name: String,
    /// Location.
    pub location: String,
    /// Direct-shared / community sharing.
    #[serde(default)]
    pub sharing: Sharing,
    /// Image definitions.
    #[serde(default)]
    pub images: Vec<ImageSeed>,
}

/// How a gallery is shared beyond RBAC.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    /// Tenants the gallery is direct-shared with (permissions `Groups`).
    #[serde(default)]
    pub groups_tenants: Vec<String>,
    /// Subscriptions the gallery is direct-shared with.
    #[serde(default)]
    pub groups_subscriptions: Vec<String>,
    /// Public name when shared to the community (permissions `Community`).
    #[serde(default)]
    pub community_public_name: Option<String>,
}

/// An image definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSeed {
    /// Definition name.
    pub name: String,
    /// `Linux` or `Windows`.
    pub os_type: String,
    /// `Generalized` or `Specialized`.
    pub os_state: String,
    /// `V1` or `V2`.
    #[serde(default = "default_hyperv")]
    pub hyper_v_generation: String,
    /// Features, e.g. `SecurityType = "TrustedLaunch"`.
    #[serde(default)]
    pub features: BTreeMap<String, String>,
    /// `startsAtVersion` of features, e.g. `SecurityType = "2.0.0"`: the feature applies only to
    /// versions from that one on.
    #[serde(default)]
    pub features_start_at: BTreeMap<String, String>,
    /// The Marketplace plan of the image it was built from (`purchasePlan`).
    #[serde(default)]
    pub purchase_plan: Option<PurchasePlanSeed>,
    /// Identifier publisher.
    #[serde(default = "default_publisher")]
    pub publisher: String,
    /// Identifier offer.
    #[serde(default)]
    pub offer: Option<String>,
    /// Identifier sku.
    #[serde(default)]
    pub sku: Option<String>,
    /// Versions.
    #[serde(default)]
    pub versions: Vec<VersionSeed>,
}

fn default_hyperv() -> String {
    "V2".to_owned()
}
fn default_publisher() -> String {
    "imageferry".to_owned()
}

/// An image version and its replication plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSeed {
    /// Version name, e.g. `1.0.0`.
    pub name: String,
    /// Target regions.
    pub regions: Vec<RegionSeed>,
    /// Exclude from `latest`.
    #[serde(default)]
    pub exclude_from_latest: bool,
}

/// One target region of a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSeed {
    /// Display name as Azure returns it, e.g. `South Central US`.
    pub name: String,
    /// Seconds (simulated) until replication completes, counted from simulator start.
    #[serde(default)]
    pub replication_secs: f64,
    /// Replication fails in this region instead of completing.
    #[serde(default)]
    pub fail: bool,
    /// The publisher added this region after publishing: while it replicates, the version's
    /// `provisioningState` is `Updating` (the other regions stay usable).
    #[serde(default)]
    pub added: bool,
}

/// `purchasePlan` of an image definition (GalleryRP `ImagePurchasePlan`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchasePlanSeed {
    /// Plan id.
    pub name: String,
    /// Publisher id.
    pub publisher: String,
    /// Product id (the Marketplace offer).
    pub product: String,
}

/// Accepted Marketplace terms of one plan in one subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceTerms {
    /// Subscription that accepted the terms.
    pub subscription: String,
    /// Publisher id.
    pub publisher: String,
    /// Product id.
    pub product: String,
    /// Plan id.
    pub plan: String,
}

impl MarketplaceTerms {
    /// Whether these are the terms of `plan` in `subscription`.
    pub fn covers(&self, subscription: &str, plan: &PurchasePlanSeed) -> bool {
        self.subscription.eq_ignore_ascii_case(subscription)
            && self.publisher.eq_ignore_ascii_case(&plan.publisher)
            && self.product.eq_ignore_ascii_case(&plan.product)
            && self.plan.eq_ignore_ascii_case(&plan.name)
    }
}

/// A VM create that fails with an injected error, `times` times, then succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmFailure {
    /// VM name (case-insensitive).
    pub vm: String,
    /// `OSProvisioningTimedOut`, `AllocationFailed`, `ZonalAllocationFailed` (the create
    /// operation ends `Failed`) or `SkuNotAvailable` (the PUT is refused, 409).
    pub code: String,
    /// How many PUTs of that VM fail (default: every one).
    #[serde(default = "always")]
    pub times: u32,
}

fn always() -> u32 {
    u32::MAX
}

/// ARM list behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmSettings {
    /// Items per page of a list GET (then `nextLink`).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
}

fn default_page_size() -> usize {
    100
}

impl Default for ArmSettings {
    fn default() -> Self {
        Self {
            page_size: default_page_size(),
        }
    }
}

/// A Key Vault (RBAC authorization model, soft delete on, as new vaults are).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVaultSeed {
    /// Vault name (the host's first label).
    #[serde(default = "default_vault_name")]
    pub name: String,
    /// Tenant whose tokens the vault accepts (default: the managed identity's, else the first).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Subscription of the vault's ARM id (named in 403 answers; default: the tenant's first).
    #[serde(default)]
    pub subscription: Option<String>,
    /// Resource group of the vault's ARM id.
    #[serde(default = "default_vault_group")]
    pub resource_group: String,
    /// Region of the vault.
    #[serde(default = "default_vault_location")]
    pub location: String,
    /// Days a deleted secret stays recoverable (`softDeleteRetentionInDays`, 7–90).
    #[serde(default = "default_retention")]
    pub soft_delete_retention_days: u32,
    /// Key Vault data-plane role assignments (scope: the vault, or `secrets/{name}`).
    #[serde(default)]
    pub role_assignments: Vec<VaultRoleAssignment>,
    /// Secrets.
    #[serde(default)]
    pub secrets: Vec<SecretSeed>,
}

fn default_vault_name() -> String {
    "imageferry-local".to_owned()
}
fn default_vault_group() -> String {
    "imageferry-rg".to_owned()
}
fn default_vault_location() -> String {
    "southcentralus".to_owned()
}
fn default_retention() -> u32 {
    90
}

impl Default for KeyVaultSeed {
    fn default() -> Self {
        Self {
            name: default_vault_name(),
            tenant: None,
            subscription: None,
            resource_group: default_vault_group(),
            location: default_vault_location(),
            soft_delete_retention_days: default_retention(),
            role_assignments: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

/// A Key Vault built-in data-plane role.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum VaultRole {
    /// Key Vault Secrets User: `secrets/getSecret/action`, `secrets/readMetadata/action`.
    #[serde(rename = "Key Vault Secrets User")]
    SecretsUser,
    /// Key Vault Secrets Officer: `secrets/*`.
    #[serde(rename = "Key Vault Secrets Officer")]
    SecretsOfficer,
    /// Key Vault Reader: `secrets/readMetadata/action` (no values).
    #[serde(rename = "Key Vault Reader")]
    Reader,
    /// Key Vault Administrator: `vaults/*` data actions.
    #[serde(rename = "Key Vault Administrator")]
    Administrator,
}

impl VaultRole {
    /// Whether the role's data actions include `action` (`Microsoft.KeyVault/vaults/secrets/…`).
    pub fn allows(self, action: &str) -> bool {
        let patterns: &[&str] = match self {
            Self::SecretsUser => &[
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            ],
            Self::SecretsOfficer => &["Microsoft.KeyVault/vaults/secrets/*"],
            Self::Reader => &["Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
            Self::Administrator => &["Microsoft.KeyVault/vaults/*"],
        };
        patterns.iter().any(|p| action_matches(p, action))
    }
}

/// A data-plane role assignment on a vault (`scope` empty = the vault; `secrets/{name}` = one
/// secret). `principal` = object id or client id, as for ARM role assignments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultRoleAssignment {
    /// Object id or client id.
    pub principal: String,
    /// The role.
    pub role: VaultRole,
    /// Below the vault: `secrets/{name}`; empty for the whole vault.
    #[serde(default)]
    pub scope: String,
}

/// A Key Vault secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSeed {
    /// Secret name.
    pub name: String,
    /// Secret value.
    pub value: String,
    /// Principals (object id or client id) holding Key Vault Secrets User on this secret.
    #[serde(default)]
    pub readers: Vec<String>,
}

impl std::fmt::Debug for SecretSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSeed")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("readers", &self.readers)
            .finish()
    }
}

/// Durations (simulated seconds) of long-running PUTs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LroSettings {
    /// Virtual machines.
    #[serde(default = "default_vm_secs")]
    pub vm_secs: f64,
    /// Network resources (VNet, public IP, NSG, NIC), disks, and a forced VM deletion.
    #[serde(default = "default_network_secs")]
    pub network_secs: f64,
    /// Deleting a VM (graceful shutdown first).
    #[serde(default = "default_vm_delete_secs")]
    pub vm_delete_secs: f64,
    /// A template deployment's own bookkeeping, on top of its resources' operations.
    #[serde(default = "default_network_secs")]
    pub deployment_secs: f64,
    /// Gallery image definitions / galleries.
    #[serde(default = "default_network_secs")]
    pub gallery_secs: f64,
    /// `Retry-After` seconds advertised on LRO responses.
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
    /// Replication time (simulated seconds) per region for versions created by a PUT.
    #[serde(default = "default_replication_secs")]
    pub replication_secs: f64,
    /// Names of VMs whose provisioning ends `Failed` (`OSProvisioningTimedOut`).
    #[serde(default)]
    pub fail_vms: Vec<String>,
    /// Injected VM create failures with their codes.
    #[serde(default)]
    pub vm_failures: Vec<VmFailure>,
    /// VM extensions (`.../virtualMachines/{vm}/extensions/{name}` PUT).
    #[serde(default = "default_vm_extension_secs")]
    pub vm_extension_secs: f64,
}

fn default_vm_extension_secs() -> f64 {
    10.0
}

fn default_replication_secs() -> f64 {
    120.0
}

fn default_vm_secs() -> f64 {
    30.0
}
fn default_vm_delete_secs() -> f64 {
    10.0
}
fn default_network_secs() -> f64 {
    2.0
}
fn default_retry_after() -> u64 {
    1
}

impl Default for LroSettings {
    fn default() -> Self {
        Self {
            vm_secs: default_vm_secs(),
            network_secs: default_network_secs(),
            vm_delete_secs: default_vm_delete_secs(),
            deployment_secs: default_network_secs(),
            gallery_secs: default_network_secs(),
            retry_after_secs: default_retry_after(),
            replication_secs: default_replication_secs(),
            fail_vms: Vec::new(),
            vm_failures: Vec::new(),
            vm_extension_secs: default_vm_extension_secs(),
        }
    }
}

/// Injected faults (applied to ARM and Key Vault requests) and the time scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Fraction (0..=1) of requests answered 429 with `Retry-After`.
    #[serde(default)]
    pub throttle_rate: f64,
    /// Fraction (0..=1) of requests answered 500/503.
    #[serde(default)]
    pub server_error_rate: f64,
    /// Added latency per request, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// `Retry-After` seconds on 429.
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
    /// RNG seed for fault decisions.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated seconds per real second (60 = a minute of replication per second).
    #[serde(default = "default_scale")]
    pub time_scale: f64,
}

fn default_seed() -> u64 {
    42
}
fn default_scale() -> f64 {
    1.0
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            throttle_rate: 0.0,
            server_error_rate: 0.0,
            latency_ms: 0,
            retry_after_secs: default_retry_after(),
            seed: default_seed(),
            time_scale: default_scale(),
        }
    }
}

impl Scenario {
    /// The default scenario (`scenarios/default.toml`), mirroring the seeds in docs/DESIGN.md.
    pub fn seed() -> Self {
        Self::from_toml(DEFAULT_SCENARIO).expect("the bundled default scenario is valid")
    }

    /// Parses a TOML scenario.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = toml::from_str(text)?;
        s.check()?;
        Ok(s)
    }

    /// Parses a JSON scenario.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_json::from_str(text)?;
        s.check()?;
        Ok(s)
    }

    /// Loads a scenario file; `.json` files are JSON, anything else TOML.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    /// The tenant owning `subscription`.
    pub fn tenant_of_subscription(&self, subscription: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.subscriptions
                .iter()
                .any(|s| s.eq_ignore_ascii_case(subscription))
        })
    }

    /// The tenant with id `id`.
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// The app with client id `client_id`.
    pub fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The effective permission of `role`: a built-in role's definition, or the custom role of
    /// that name (`None` when the scenario defines no such custom role).
    pub fn role_permission(&self, role: &Role) -> Option<RolePermission> {
        let owned = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        Some(match role {
            Role::Reader => RolePermission {
                actions: owned(&["*/read"]),
                not_actions: Vec::new(),
            },
            Role::Contributor => RolePermission {
                actions: owned(&["*"]),
                not_actions: owned(&CONTRIBUTOR_NOT_ACTIONS),
            },
            Role::Owner => RolePermission {
                actions: owned(&["*"]),
                not_actions: Vec::new(),
            },
            Role::Custom(name) => {
                let c = self.custom_roles.iter().find(|c| c.name == *name)?;
                RolePermission {
                    actions: c.actions.clone(),
                    not_actions: c.not_actions.clone(),
                }
            }
        })
    }

    /// Whether `role` grants `action`.
    pub fn role_allows(&self, role: &Role, action: &str) -> bool {
        self.role_permission(role).is_some_and(|p| p.allows(action))
    }

    fn check(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError::Inconsistent(m));
        for rule in &self.health {
            rule.check()
                .or_else(|e| bad(format!("health rule {rule:?}: {e}")))?;
        }
        for (i, c) in self.custom_roles.iter().enumerate() {
            if self.custom_roles[..i].iter().any(|o| o.name == c.name) {
                return bad(format!("custom role {:?} is defined twice", c.name));
            }
        }
        for ra in &self.role_assignments {
            if let Role::Custom(name) = &ra.role
                && !self.custom_roles.iter().any(|c| c.name == *name)
            {
                return bad(format!(
                    "role assignment of {} on {} names custom role {name:?}, which custom_roles does not define",
                    ra.principal, ra.scope
                ));
            }
        }
        for rg in &self.resource_groups {
            if self.tenant_of_subscription(&rg.subscription).is_none() {
                return bad(format!(
                    "resource group {} is in subscription {} which no tenant owns",
                    rg.name, rg.subscription
                ));
            }
        }
        for g in &self.galleries {
            if self.tenant_of_subscription(&g.subscription).is_none() {
                return bad(format!(
                    "gallery {} is in subscription {} which no tenant owns",
                    g.name, g.subscription
                ));
            }
            for i in &g.images {
                if !matches!(i.os_state.as_str(), "Generalized" | "Specialized") {
                    return bad(format!(
                        "image {}: osState must be Generalized or Specialized",
                        i.name
                    ));
                }
                if !matches!(i.os_type.as_str(), "Linux" | "Windows") {
                    return bad(format!("image {}: osType must be Linux or Windows", i.name));
                }
                for f in i.features_start_at.keys() {
                    if !i.features.contains_key(f) {
                        return bad(format!(
                            "image {}: features_start_at names {f}, which is not in features",
                            i.name
                        ));
                    }
                }
            }
        }
        for a in &self.apps {
            for t in &a.consented_tenants {
                if self.tenant(t).is_none() {
                    return bad(format!(
                        "app {} consented in unknown tenant {t}",
                        a.client_id
                    ));
                }
            }
        }
        for f in &self.lro.vm_failures {
            if !matches!(
                f.code.as_str(),
                "OSProvisioningTimedOut"
                    | "AllocationFailed"
                    | "ZonalAllocationFailed"
                    | "SkuNotAvailable"
            ) {
                return bad(format!("lro.vm_failures: unknown code {}", f.code));
            }
        }
        let mut names = vec![self.key_vault.name.to_ascii_lowercase()];
        for v in &self.key_vaults {
            let n = v.name.to_ascii_lowercase();
            if names.contains(&n) {
                return bad(format!("key vault {} is defined twice", v.name));
            }
            names.push(n);
        }
        for v in std::iter::once(&self.key_vault).chain(&self.key_vaults) {
            if !(7..=90).contains(&v.soft_delete_retention_days) {
                return bad(format!(
                    "key vault {}: soft_delete_retention_days must be 7 to 90",
                    v.name
                ));
            }
            if let Some(t) = &v.tenant
                && self.tenant(t).is_none()
            {
                return bad(format!("key vault {} names unknown tenant {t}", v.name));
            }
        }
        if self.arm.page_size == 0 {
            return bad("arm.page_size must be > 0".to_owned());
        }
        if self.faults.time_scale.is_nan() || self.faults.time_scale <= 0.0 {
            return bad("faults.time_scale must be > 0".to_owned());
        }
        Ok(())
    }
}

/// A stable GUID-formatted string derived from `seed` (SHA-256).
pub(crate) fn derived_guid(seed: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_has_the_documented_ids() {
        let s = Scenario::seed();
        let t1 = s.tenant("11111111-1111-4111-8111-111111111111").unwrap();
        assert_eq!(t1.subscriptions, ["aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"]);
        let app = s.app("33333333-3333-4333-8333-333333333333").unwrap();
        assert!(app.is_consented("22222222-2222-4222-8222-222222222222"));
        assert_ne!(
            app.object_id("11111111-1111-4111-8111-111111111111"),
            app.object_id("22222222-2222-4222-8222-222222222222")
        );
        assert_eq!(s.galleries[0].images.len(), 5);
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Scenario::seed();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("local-sim-secret"));
        assert!(!dbg.contains(&s.key_vault.secrets[0].value));
    }

    #[test]
    fn roles_grant_what_their_definitions_say() {
        let s = Scenario::from_toml(
            r#"
[[tenants]]
id = "t"
subscriptions = ["s"]

[[custom_roles]]
name = "deployer"
actions = ["Microsoft.Compute/virtualMachines/write", "Microsoft.Network/*/read"]
not_actions = ["Microsoft.Network/publicIPAddresses/read"]

[[role_assignments]]
principal = "app"
role = { Custom = "deployer" }
scope = "/subscriptions/s/resourceGroups/rg"
"#,
        )
        .unwrap();
        let custom = &s.role_assignments[0].role;
        assert_eq!(custom, &Role::Custom("deployer".into()));
        assert!(s.role_allows(custom, "microsoft.compute/virtualmachines/WRITE"));
        assert!(s.role_allows(custom, "Microsoft.Network/networkInterfaces/read"));
        assert!(!s.role_allows(custom, "Microsoft.Network/publicIPAddresses/read"));
        assert!(!s.role_allows(custom, "Microsoft.Compute/virtualMachines/read"));
        assert!(!s.role_allows(custom, "Microsoft.Compute/disks/write"));
        assert!(s.role_allows(&Role::Reader, "Microsoft.Compute/disks/read"));
        assert!(!s.role_allows(&Role::Reader, "Microsoft.Compute/disks/write"));
        assert!(s.role_allows(&Role::Contributor, "Microsoft.Compute/disks/write"));
        assert!(!s.role_allows(
            &Role::Contributor,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(s.role_allows(
            &Role::Owner,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!s.role_allows(&Role::Custom("nobody".into()), "*"));
    }

    #[test]
    fn a_custom_role_must_be_defined() {
        let err = Scenario::from_toml(
            "[[role_assignments]]\nprincipal = \"app\"\nrole = { Custom = \"missing\" }\nscope = \"/subscriptions/s\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"missing\""), "{err}");
    }

    #[test]
    fn inconsistent_scenario_is_rejected() {
        let err = Scenario::from_toml(
            "[[resource_groups]]\nsubscription = \"x\"\nname = \"rg\"\nlocation = \"westus\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, ScenarioError::Inconsistent(_)));
    }
}
