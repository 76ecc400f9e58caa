//! The handler's own settings (the Azure clients read theirs: `AZURE_CLIENT_ID`,
//! `AZURE_TENANT_ID`, `AZURE_AUTHORITY_HOST`, `IMAGEFERRY_ARM_ENDPOINT`, `ServiceBusConnection`, …).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `IMAGEFERRY_ALLOWED_GALLERIES` | comma-separated gallery ids (`/subscriptions/…/galleries/{g}`, `/SharedGalleries/{name}`, `/CommunityGalleries/{name}`) or `*` | required |
//! | `IMAGEFERRY_ALLOWED_TARGETS` | comma-separated `tenant/subscription[/resourceGroup]` or `*` | required |
//! | `IMAGEFERRY_DEFAULT_DEADLINE` | deadline of a request that names none | `24h` |
//! | `IMAGEFERRY_REPLICATION_BACKOFF_INITIAL` | first replication re-check delay | `15s` |
//! | `IMAGEFERRY_REPLICATION_BACKOFF_CAP` | longest replication re-check delay | `60s` |
//! | `IMAGEFERRY_PROVISIONING_POLL` | delay between VM provisioning polls | `15s` |
//! | `IMAGEFERRY_MAX_DELIVERY_COUNT` | the queues' MaxDeliveryCount; the last delivery records `failed` | `10` |
//! | `IMAGEFERRY_CREATE_RESOURCE_GROUP` | create a missing target resource group (`true`/`false`) | `false` |
//! | `IMAGEFERRY_EVENTS_TOPIC` | topic for deployment events | `deployment-events` |
//! | `AZURE_TENANT_ID` | the app's home tenant (Key Vault reads use its token) | required |
//! | `IMAGEFERRY_ALLOWED_VAULTS` | comma-separated Key Vault names or host names secret ids may use, or `*` (any vault of the cloud) | `*` |
//! | `IMAGEFERRY_STEP_BUDGET` | longest time one step may take, retries and waits included; keep it well under the host's `functionTimeout` | `4m` |
//! | `IMAGEFERRY_OUTAGE_BUDGET` | how long a deployment's step keeps retrying a transient failure (scheduled retries) before it records `failed` | `30m` |
//! | `IMAGEFERRY_RETRY_BACKOFF_INITIAL` | delay before the first scheduled retry (doubling, with jitter, at least the service's `Retry-After`) | `5s` |
//! | `IMAGEFERRY_RETRY_BACKOFF_CAP` | longest delay between scheduled retries | `5m` |
//!
//! Durations are human durations (`imageferry_contract::duration`): `30s`, `90m`, `2h`, `1d`,
//! `500ms`, combined forms such as `1h30m`, or plain seconds.

use imageferry_contract::{ImageId, ResourceId};
use std::time::Duration;

/// A settings problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// One entry of `IMAGEFERRY_ALLOWED_TARGETS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedTarget {
    /// Target tenant id.
    pub tenant_id: String,
    /// Target subscription id.
    pub subscription_id: String,
    /// Only this resource group, when given.
    pub resource_group: Option<String>,
}

impl AllowedTarget {
    /// The ARM scope this entry opens: `/subscriptions/{s}` or `/subscriptions/{s}/resourceGroups/{rg}`
    /// (`None` if the entry's names break the resource id rules).
    pub fn scope(&self) -> Option<ResourceId> {
        let sub = ResourceId::subscription(&self.subscription_id).ok()?;
        match &self.resource_group {
            Some(rg) => sub.child("resourceGroups", rg).ok(),
            None => Some(sub),
        }
    }
}

/// An allow-list: everything (`*`) or the listed entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowList<T> {
    /// `*`.
    Any,
    /// The listed entries only.
    Only(Vec<T>),
}

/// The handler's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Galleries images may come from.
    pub allowed_galleries: AllowList<ResourceId>,
    /// Tenants/subscriptions/resource groups VMs may be created in.
    pub allowed_targets: AllowList<AllowedTarget>,
    /// Deadline of a request that names none, counted from its first enqueue.
    pub default_deadline: Duration,
    /// First replication re-check delay (doubles up to the cap).
    pub replication_backoff_initial: Duration,
    /// Longest replication re-check delay.
    pub replication_backoff_cap: Duration,
    /// Delay between VM provisioning polls.
    pub provisioning_poll: Duration,
    /// The queues' MaxDeliveryCount: on this delivery a transient failure is recorded as `failed`.
    pub max_delivery_count: u32,
    /// Create a missing target resource group.
    pub create_resource_group: bool,
    /// Topic for deployment events.
    pub events_topic: String,
    /// The app's home tenant (Key Vault secrets are read with its token).
    pub home_tenant: String,
    /// Key Vaults secret ids may name (vault names or host names, lower case).
    pub allowed_vaults: AllowList<String>,
    /// Longest time one step may take, retries and `Retry-After` waits included.
    pub step_budget: Duration,
    /// How long a step message keeps being retried (scheduled retries) after its first transient
    /// failure before the deployment records `failed`.
    pub outage_budget: Duration,
    /// Delay before the first scheduled retry.
    pub retry_backoff_initial: Duration,
    /// Longest delay between scheduled retries.
    pub retry_backoff_cap: Duration,
}

impl Config {
    /// Settings with the documented defaults and the given allow-lists (for tests and tools).
    pub fn new(
        home_tenant: impl Into<String>,
        allowed_galleries: AllowList<ResourceId>,
        allowed_targets: AllowList<AllowedTarget>,
    ) -> Self {
        Config {
            allowed_galleries,
            allowed_targets,
            default_deadline: Duration::from_secs(24 * 3600),
            replication_backoff_initial: Duration::from_secs(15),
            replication_backoff_cap: Duration::from_secs(60),
            provisioning_poll: Duration::from_secs(15),
            max_delivery_count: 10,
            create_resource_group: false,
            events_topic: "deployment-events".into(),
            home_tenant: home_tenant.into(),
            allowed_vaults: AllowList::Any,
            step_budget: Duration::from_secs(4 * 60),
            outage_budget: Duration::from_secs(30 * 60),
            retry_backoff_initial: Duration::from_secs(5),
            retry_backoff_cap: Duration::from_secs(5 * 60),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads settings through `var` (a missing or empty value counts as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| {
            get(name).ok_or_else(|| ConfigError {
                name,
                reason: "required".into(),
            })
        };
        let galleries = parse_galleries(&required("IMAGEFERRY_ALLOWED_GALLERIES")?)?;
        let targets = parse_targets(&required("IMAGEFERRY_ALLOWED_TARGETS")?)?;
        let mut config = Config::new(required("AZURE_TENANT_ID")?, galleries, targets);
        let duration = |name: &'static str, default: Duration| match get(name) {
            None => Ok(default),
            Some(v) => imageferry_contract::duration::parse_duration(&v).map_err(|e| ConfigError {
                name,
                reason: e.to_string(),
            }),
        };
        config.default_deadline = duration("IMAGEFERRY_DEFAULT_DEADLINE", config.default_deadline)?;
        config.replication_backoff_initial = duration(
            "IMAGEFERRY_REPLICATION_BACKOFF_INITIAL",
            config.replication_backoff_initial,
        )?;
        config.replication_backoff_cap = duration(
            "IMAGEFERRY_REPLICATION_BACKOFF_CAP",
            config.replication_backoff_cap,
        )?;
        config.provisioning_poll =
            duration("IMAGEFERRY_PROVISIONING_POLL", config.provisioning_poll)?;
        config.step_budget = duration("IMAGEFERRY_STEP_BUDGET", config.step_budget)?;
        if config.step_budget < Duration::from_secs(1) {
            return Err(ConfigError {
                name: "IMAGEFERRY_STEP_BUDGET",
                reason: "must be at least 1s (and well under the host's functionTimeout)".into(),
            });
        }
        config.outage_budget = duration("IMAGEFERRY_OUTAGE_BUDGET", config.outage_budget)?;
        config.retry_backoff_initial = duration(
            "IMAGEFERRY_RETRY_BACKOFF_INITIAL",
            config.retry_backoff_initial,
        )?;
        config.retry_backoff_cap =
            duration("IMAGEFERRY_RETRY_BACKOFF_CAP", config.retry_backoff_cap)?;
        if config.retry_backoff_initial.is_zero()
            || config.retry_backoff_initial > config.retry_backoff_cap
        {
            return Err(ConfigError {
                name: "IMAGEFERRY_RETRY_BACKOFF_INITIAL",
                reason: "must be more than 0 and not exceed IMAGEFERRY_RETRY_BACKOFF_CAP".into(),
            });
        }
        if let Some(v) = get("IMAGEFERRY_ALLOWED_VAULTS") {
            config.allowed_vaults = parse_vaults(&v)?;
        }
        if config.replication_backoff_initial > config.replication_backoff_cap {
            return Err(ConfigError {
                name: "IMAGEFERRY_REPLICATION_BACKOFF_INITIAL",
                reason: "must not exceed IMAGEFERRY_REPLICATION_BACKOFF_CAP".into(),
            });
        }
        if let Some(v) = get("IMAGEFERRY_MAX_DELIVERY_COUNT") {
            config.max_delivery_count =
                v.trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| ConfigError {
                        name: "IMAGEFERRY_MAX_DELIVERY_COUNT",
                        reason: format!(
                            "{v:?} is not a positive integer (use the queues' MaxDeliveryCount)"
                        ),
                    })?;
        }
        if let Some(v) = get("IMAGEFERRY_CREATE_RESOURCE_GROUP") {
            config.create_resource_group = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(ConfigError {
                        name: "IMAGEFERRY_CREATE_RESOURCE_GROUP",
                        reason: format!("{v:?} is not true or false"),
                    });
                }
            };
        }
        if let Some(v) = get("IMAGEFERRY_EVENTS_TOPIC") {
            config.events_topic = v.trim().to_string();
        }
        Ok(config)
    }

    /// Whether images may come from this image's gallery.
    pub fn gallery_allowed(&self, image: &ImageId) -> bool {
        match &self.allowed_galleries {
            AllowList::Any => true,
            AllowList::Only(list) => {
                let gallery = image.gallery();
                list.contains(&gallery)
            }
        }
    }

    /// Whether `id` lies inside a scope `IMAGEFERRY_ALLOWED_TARGETS` opens in `tenant`: a
    /// resource-group entry opens only that resource group, a subscription entry the whole
    /// subscription (`*`: anything).
    pub fn scope_allowed(&self, tenant: &str, id: &ResourceId) -> bool {
        match &self.allowed_targets {
            AllowList::Any => true,
            AllowList::Only(list) => list.iter().any(|t| {
                t.tenant_id.eq_ignore_ascii_case(tenant)
                    && t.scope().is_some_and(|scope| id.starts_with(&scope))
            }),
        }
    }

    /// Whether a secret may be read from the vault at `host` (`{vault}.vault.azure.net`).
    pub fn vault_allowed(&self, host: &str) -> bool {
        match &self.allowed_vaults {
            AllowList::Any => true,
            AllowList::Only(list) => {
                let host = host.to_ascii_lowercase();
                let name = host.split('.').next().unwrap_or_default();
                list.iter()
                    .any(|v| *v == host || (!v.contains('.') && v == name))
            }
        }
    }

    /// Whether VMs may be created in this tenant, subscription and resource group.
    pub fn target_allowed(&self, tenant: &str, subscription: &str, resource_group: &str) -> bool {
        match &self.allowed_targets {
            AllowList::Any => true,
            AllowList::Only(list) => list.iter().any(|t| {
                t.tenant_id.eq_ignore_ascii_case(tenant)
                    && t.subscription_id.eq_ignore_ascii_case(subscription)
                    && t.resource_group
                        .as_deref()
                        .is_none_or(|rg| rg.eq_ignore_ascii_case(resource_group))
            }),
        }
    }

    /// Delay before scheduled retry number `attempt` (1-based), before jitter and `Retry-After`:
    /// initial × 2^(attempt-1), capped.
    pub fn retry_backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.retry_backoff_initial
            .saturating_mul(factor)
            .min(self.retry_backoff_cap)
    }

    /// Delay before replication re-check number `attempt` (1-based): initial × 2^(attempt-1),
    /// capped.
    pub fn replication_backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.replication_backoff_initial
            .saturating_mul(factor)
            .min(self.replication_backoff_cap)
    }
}

fn parse_galleries(value: &str) -> Result<AllowList<ResourceId>, ConfigError> {
    const NAME: &str = "IMAGEFERRY_ALLOWED_GALLERIES";
    if value.trim() == "*" {
        return Ok(AllowList::Any);
    }
    let mut list = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        // The forms `ImageId::gallery` produces, parsed with the same resource id rules.
        let parsed = ResourceId::parse(entry).ok().filter(|id| {
            let kinds: Vec<String> = id.kinds().map(str::to_ascii_lowercase).collect();
            match kinds
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["subscriptions", "resourcegroups", "providers", "galleries"] => id
                    .get("providers")
                    .is_some_and(|p| p.eq_ignore_ascii_case("Microsoft.Compute")),
                ["sharedgalleries"] | ["communitygalleries"] => true,
                _ => false,
            }
        });
        let Some(id) = parsed else {
            return Err(ConfigError {
                name: NAME,
                reason: format!(
                    "{entry:?} is not a gallery id (/subscriptions/{{sub}}/resourceGroups/{{rg}}/providers/Microsoft.Compute/galleries/{{name}}, /SharedGalleries/{{name}} or /CommunityGalleries/{{name}})"
                ),
            });
        };
        list.push(id);
    }
    Ok(AllowList::Only(list))
}

fn parse_vaults(value: &str) -> Result<AllowList<String>, ConfigError> {
    if value.trim() == "*" {
        return Ok(AllowList::Any);
    }
    let mut list = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let host = entry
            .strip_prefix("https://")
            .unwrap_or(entry)
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return Err(ConfigError {
                name: "IMAGEFERRY_ALLOWED_VAULTS",
                reason: format!("{entry:?} is not a vault name or host name"),
            });
        }
        list.push(host);
    }
    Ok(AllowList::Only(list))
}

fn parse_targets(value: &str) -> Result<AllowList<AllowedTarget>, ConfigError> {
    const NAME: &str = "IMAGEFERRY_ALLOWED_TARGETS";
    if value.trim() == "*" {
        return Ok(AllowList::Any);
    }
    let mut list = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = entry.split('/').collect();
        let valid = matches!(parts.len(), 2 | 3)
            && imageferry_contract::validate::is_guid(parts[0])
            && AllowedTarget {
                tenant_id: parts[0].into(),
                subscription_id: parts[1].into(),
                resource_group: parts.get(2).map(|s| s.to_string()),
            }
            .scope()
            .is_some();
        if !valid {
            return Err(ConfigError {
                name: NAME,
                reason: format!("{entry:?} is not tenant/subscription[/resourceGroup]"),
            });
        }
        list.push(AllowedTarget {
            tenant_id: parts[0].into(),
            subscription_id: parts[1].into(),
            resource_group: parts.get(2).map(|s| s.to_string()),
        });
    }
    Ok(AllowList::Only(list))
}

/// A human duration ([`imageferry_contract::duration::parse_duration`], the one parser of the
/// handler and the CLI), `None` when it is not one.
pub fn parse_duration(value: &str) -> Option<Duration> {
    imageferry_contract::duration::parse_duration(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AZURE_TENANT_ID", "11111111-1111-4111-8111-111111111111"),
            ("IMAGEFERRY_ALLOWED_GALLERIES", GALLERY),
            (
                "IMAGEFERRY_ALLOWED_TARGETS",
                "22222222-2222-4222-8222-222222222222/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/myResourceGroup",
            ),
        ]
    }

    #[test]
    fn defaults_and_allow_lists() {
        let c = Config::from_vars(vars(&base())).unwrap();
        assert_eq!(c.default_deadline, Duration::from_secs(86_400));
        assert_eq!(c.replication_backoff_cap, Duration::from_secs(60));
        assert_eq!(c.max_delivery_count, 10);
        assert!(!c.create_resource_group);
        assert_eq!(c.events_topic, "deployment-events");
        let image = ImageId::parse(&format!(
            "{}/IMAGES/x/versions/1.0.0",
            GALLERY.to_uppercase()
        ))
        .unwrap();
        assert!(c.gallery_allowed(&image));
        let other = ImageId::parse("/SharedGalleries/u/Images/x/Versions/1.0.0").unwrap();
        assert!(!c.gallery_allowed(&other));
        assert!(c.target_allowed(
            "22222222-2222-4222-8222-222222222222",
            "BBBBBBBB-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
            "myresourcegroup"
        ));
        assert!(!c.target_allowed(
            "22222222-2222-4222-8222-222222222222",
            "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
            "otherRG"
        ));
    }

    #[test]
    fn overrides_and_errors() {
        let mut v = base();
        v.extend([
            ("IMAGEFERRY_DEFAULT_DEADLINE", "2h"),
            ("IMAGEFERRY_REPLICATION_BACKOFF_INITIAL", "100ms"),
            ("IMAGEFERRY_REPLICATION_BACKOFF_CAP", "1s"),
            ("IMAGEFERRY_MAX_DELIVERY_COUNT", "3"),
            ("IMAGEFERRY_CREATE_RESOURCE_GROUP", "true"),
            (
                "IMAGEFERRY_ALLOWED_GALLERIES",
                "/SharedGalleries/u, /CommunityGalleries/p",
            ),
        ]);
        let c = Config::from_vars(vars(&v)).unwrap();
        assert_eq!(c.default_deadline, Duration::from_secs(7200));
        assert_eq!(c.max_delivery_count, 3);
        assert!(c.create_resource_group);
        assert_eq!(
            [1, 2, 3, 4, 5, 9].map(|a| c.replication_backoff(a).as_millis()),
            [100, 200, 400, 800, 1000, 1000]
        );
        assert_eq!(
            c.allowed_galleries,
            AllowList::Only(vec![
                ResourceId::parse("/SharedGalleries/u").unwrap(),
                ResourceId::parse("/CommunityGalleries/p").unwrap()
            ])
        );

        for (name, value) in [
            (
                "IMAGEFERRY_ALLOWED_GALLERIES",
                "/subscriptions/x/resourceGroups/y",
            ),
            ("IMAGEFERRY_ALLOWED_TARGETS", "tenant-only"),
            (
                "IMAGEFERRY_ALLOWED_TARGETS",
                "22222222-2222-4222-8222-222222222222/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/..",
            ),
            (
                "IMAGEFERRY_ALLOWED_GALLERIES",
                "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/g/providers/Microsoft.Compute/galleries/%2e%2e",
            ),
            ("IMAGEFERRY_STEP_BUDGET", "0s"),
            ("IMAGEFERRY_ALLOWED_VAULTS", "bad vault"),
            ("IMAGEFERRY_DEFAULT_DEADLINE", "soon"),
            ("IMAGEFERRY_MAX_DELIVERY_COUNT", "0"),
            ("IMAGEFERRY_CREATE_RESOURCE_GROUP", "maybe"),
        ] {
            let mut v = base();
            v.push((name, value));
            let err = Config::from_vars(vars(&v)).unwrap_err();
            assert_eq!(err.name, name, "{err}");
        }
        let err = Config::from_vars(vars(&[])).unwrap_err();
        assert_eq!(err.name, "IMAGEFERRY_ALLOWED_GALLERIES");
    }

    #[test]
    fn a_resource_group_entry_opens_only_that_resource_group() {
        let c = Config::from_vars(vars(&base())).unwrap();
        let t2 = "22222222-2222-4222-8222-222222222222";
        let subnet = |rg: &str| {
            ResourceId::parse(&format!("/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v/subnets/s")).unwrap()
        };
        assert!(c.scope_allowed(t2, &subnet("MYRESOURCEGROUP")));
        assert!(!c.scope_allowed(t2, &subnet("otherRG")));
        assert!(!c.scope_allowed(t2, &subnet("myResourceGroup2")));
        assert!(!c.scope_allowed(
            "33333333-3333-4333-8333-333333333333",
            &subnet("myResourceGroup")
        ));
        let mut v = base();
        v.push((
            "IMAGEFERRY_ALLOWED_TARGETS",
            "22222222-2222-4222-8222-222222222222/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
        ));
        let whole = Config::from_vars(vars(&v)).unwrap();
        assert!(whole.scope_allowed(t2, &subnet("otherRG")));
    }

    #[test]
    fn vault_allow_list_and_step_budget() {
        let c = Config::from_vars(vars(&base())).unwrap();
        assert_eq!(c.step_budget, Duration::from_secs(240));
        assert!(c.vault_allowed("anything.vault.azure.net"));
        let mut v = base();
        v.extend([
            (
                "IMAGEFERRY_ALLOWED_VAULTS",
                "myvault, https://other.vault.azure.net/",
            ),
            ("IMAGEFERRY_STEP_BUDGET", "90s"),
        ]);
        let c = Config::from_vars(vars(&v)).unwrap();
        assert_eq!(c.step_budget, Duration::from_secs(90));
        assert!(c.vault_allowed("MyVault.vault.azure.net"));
        assert!(c.vault_allowed("other.vault.azure.net"));
        assert!(!c.vault_allowed("evil.vault.azure.net"));
        assert!(!c.vault_allowed("myvault2.vault.azure.net"));
    }

    #[test]
    fn outage_budget_and_retry_backoff() {
        let c = Config::from_vars(vars(&base())).unwrap();
        assert_eq!(c.outage_budget, Duration::from_secs(30 * 60));
        assert_eq!(
            [1, 2, 3, 7, 30].map(|a| c.retry_backoff(a).as_secs()),
            [5, 10, 20, 300, 300]
        );
        let mut v = base();
        v.extend([
            ("IMAGEFERRY_OUTAGE_BUDGET", "2m"),
            ("IMAGEFERRY_RETRY_BACKOFF_INITIAL", "500ms"),
            ("IMAGEFERRY_RETRY_BACKOFF_CAP", "4s"),
        ]);
        let c = Config::from_vars(vars(&v)).unwrap();
        assert_eq!(c.outage_budget, Duration::from_secs(120));
        assert_eq!(
            [1, 2, 4, 9].map(|a| c.retry_backoff(a).as_millis()),
            [500, 1000, 4000, 4000]
        );
        for (name, value) in [
            ("IMAGEFERRY_OUTAGE_BUDGET", "forever"),
            ("IMAGEFERRY_RETRY_BACKOFF_INITIAL", "0s"),
            ("IMAGEFERRY_RETRY_BACKOFF_INITIAL", "10m"),
        ] {
            let mut v = base();
            v.push((name, value));
            let err = Config::from_vars(vars(&v)).unwrap_err();
            assert_eq!(err.name, name, "{err}");
        }
    }
}
