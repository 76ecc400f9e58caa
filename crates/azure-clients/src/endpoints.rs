//! Where the Azure services are: authority host, ARM endpoint and per-cloud scopes/suffixes.
//!
//! Variables (read with [`Endpoints::from_env`], or [`Endpoints::from_vars`] in tests):
//! - `IMAGEFERRY_CLOUD` = `AzurePublicCloud` (default) | `AzureUSGovernment` | `AzureChinaCloud`
//!   picks every default below;
//! - `AZURE_AUTHORITY_HOST` overrides the Entra authority host;
//! - `IMAGEFERRY_ARM_ENDPOINT` overrides the ARM endpoint (scopes stay the cloud's);
//! - `IMAGEFERRY_SERVICEBUS_SCOPE` overrides the Service Bus token scope;
//! - `IMAGEFERRY_KEYVAULT_ENDPOINT` names a local Key Vault stand-in (its origin is then trusted
//!   for secret ids besides the cloud's vault suffix; unset in Azure).
//!
//! `https://` is required, except `http://` to a loopback address (127.0.0.0/8, `::1`,
//! `localhost`) for local stand-ins and tests.

use crate::error::ConfigError;
use std::net::IpAddr;
use url::Url;

/// A national/sovereign Azure cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// `AzurePublicCloud`.
    Public,
    /// `AzureUSGovernment`.
    UsGovernment,
    /// `AzureChinaCloud`.
    China,
}

impl Cloud {
    /// Parses the `IMAGEFERRY_CLOUD` value (the names `az cloud list` uses, case-insensitive).
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "azurepubliccloud" | "public" => Ok(Self::Public),
            "azureusgovernment" | "usgovernment" => Ok(Self::UsGovernment),
            "azurechinacloud" | "china" => Ok(Self::China),
            _ => Err(ConfigError::UnknownCloud(name.to_owned())),
        }
    }

    /// Audience of the tokens a federated credential accepts in this cloud (the managed
    /// identity's token requested as `resource`): learn.microsoft.com/entra/workload-id/
    /// workload-identity-federation-config-app-trust-managed-identity ("audience":
    /// `api://AzureADTokenExchange` in the global cloud, `...USGov` in Azure Government,
    /// `...China` in Azure operated by 21Vianet).
    pub fn token_exchange_audience(self) -> &'static str {
        match self {
            Self::Public => "api://AzureADTokenExchange",
            Self::UsGovernment => "api://AzureADTokenExchangeUSGov",
            Self::China => "api://AzureADTokenExchangeChina",
        }
    }

    fn defaults(self) -> CloudDefaults {
        // Values: learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure
        // and learn.microsoft.com/azure/china/resources-developer-guide ("endpoints").
        match self {
            Self::Public => CloudDefaults {
                authority: "https://login.microsoftonline.com",
                arm: "https://management.azure.com",
                arm_scope: "https://management.azure.com/.default",
                vault_suffix: ".vault.azure.net",
                vault_scope: "https://vault.azure.net/.default",
            },
            Self::UsGovernment => CloudDefaults {
                authority: "https://login.microsoftonline.us",
                arm: "https://management.usgovcloudapi.net",
                arm_scope: "https://management.usgovcloudapi.net/.default",
                vault_suffix: ".vault.usgovcloudapi.net",
                vault_scope: "https://vault.usgovcloudapi.net/.default",
            },
            Self::China => CloudDefaults {
                authority: "https://login.chinacloudapi.cn",
                arm: "https://management.chinacloudapi.cn",
                arm_scope: "https://management.chinacloudapi.cn/.default",
                vault_suffix: ".vault.azure.cn",
                vault_scope: "https://vault.azure.cn/.default",
            },
        }
    }
}

struct CloudDefaults {
    authority: &'static str,
    arm: &'static str,
    arm_scope: &'static str,
    vault_suffix: &'static str,
    vault_scope: &'static str,
}

/// The Service Bus data-plane scope: tokens are requested for the `https://servicebus.azure.net`
/// resource (learn.microsoft.com/azure/service-bus-messaging/authenticate-application; the
/// docs.azure.cn copy of that page says the same in its current revision, an older localized one
/// names `https://servicebus.chinacloudapi.cn`). `IMAGEFERRY_SERVICEBUS_SCOPE` overrides it.
pub const SERVICEBUS_SCOPE: &str = "https://servicebus.azure.net/.default";

/// Endpoints and scopes of one Azure cloud (or of a local stand-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The cloud the scopes and suffixes come from.
    pub cloud: Cloud,
    /// Entra authority host, e.g. `https://login.microsoftonline.com/`.
    pub authority_host: Url,
    /// ARM endpoint, e.g. `https://management.azure.com/`.
    pub arm: Url,
    /// Scope of ARM tokens, e.g. `https://management.azure.com/.default`.
    pub arm_scope: String,
    /// Host suffix every Key Vault secret id must end with, e.g. `.vault.azure.net`.
    pub keyvault_suffix: String,
    /// Scope of Key Vault tokens, e.g. `https://vault.azure.net/.default`.
    pub keyvault_scope: String,
    /// Scope of Service Bus tokens.
    pub servicebus_scope: String,
    /// A Key Vault stand-in whose origin secret ids may use besides `https://{vault}{suffix}`;
    /// only ever set explicitly (`IMAGEFERRY_KEYVAULT_ENDPOINT`, [`Endpoints::local`]).
    pub keyvault_endpoint: Option<Url>,
}

impl Endpoints {
    /// The defaults of `cloud`.
    pub fn for_cloud(cloud: Cloud) -> Self {
        let d = cloud.defaults();
        Self {
            cloud,
            authority_host: Url::parse(d.authority).expect("static URL"),
            arm: Url::parse(d.arm).expect("static URL"),
            arm_scope: d.arm_scope.to_owned(),
            keyvault_suffix: d.vault_suffix.to_owned(),
            keyvault_scope: d.vault_scope.to_owned(),
            servicebus_scope: SERVICEBUS_SCOPE.to_owned(),
            keyvault_endpoint: None,
        }
    }

    /// Public-cloud scopes with the authority, ARM and the Key Vault stand-in all at one local
    /// stand-in (e.g. azure-sim).
    pub fn local(base: &Url) -> Result<Self, ConfigError> {
        let base = check_endpoint("local endpoint", base.as_str())?;
        Ok(Self {
            authority_host: base.clone(),
            keyvault_endpoint: Some(base.clone()),
            arm: base,
            ..Self::for_cloud(Cloud::Public)
        })
    }

    /// Reads `IMAGEFERRY_CLOUD`, `AZURE_AUTHORITY_HOST` and `IMAGEFERRY_ARM_ENDPOINT` from the
    /// process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Endpoints::from_env`], with variables from `var` (testable without the process env).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let cloud = match get("IMAGEFERRY_CLOUD") {
            Some(name) => Cloud::parse(&name)?,
            None => Cloud::Public,
        };
        let mut endpoints = Self::for_cloud(cloud);
        if let Some(v) = get("AZURE_AUTHORITY_HOST") {
            endpoints.authority_host = check_endpoint("AZURE_AUTHORITY_HOST", &v)?;
        }
        if let Some(v) = get("IMAGEFERRY_ARM_ENDPOINT") {
            endpoints.arm = check_endpoint("IMAGEFERRY_ARM_ENDPOINT", &v)?;
        }
        if let Some(v) = get("IMAGEFERRY_SERVICEBUS_SCOPE") {
            endpoints.servicebus_scope = v.trim().to_owned();
        }
        if let Some(v) = get("IMAGEFERRY_KEYVAULT_ENDPOINT") {
            endpoints.keyvault_endpoint = Some(check_endpoint("IMAGEFERRY_KEYVAULT_ENDPOINT", &v)?);
        }
        Ok(endpoints)
    }
}

/// Parses `value` as an endpoint URL: `https://`, or `http://` to a loopback host only.
pub fn check_endpoint(name: &str, value: &str) -> Result<Url, ConfigError> {
    parse_endpoint(name, value, is_loopback)
}

/// Like [`check_endpoint`], and also accepts plain http to a link-local address (169.254.0.0/16,
/// fe80::/10): the addresses a hosting platform serves its own endpoints on inside the host, such
/// as the App Service managed-identity endpoint on Linux.
pub fn check_platform_endpoint(name: &str, value: &str) -> Result<Url, ConfigError> {
    parse_endpoint(name, value, |url| is_loopback(url) || is_link_local(url))
}

/// Parses `value` and accepts `https://`, or `http://` where `plain_http_ok` says so.
fn parse_endpoint(
    name: &str,
    value: &str,
    plain_http_ok: impl Fn(&Url) -> bool,
) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidUrl {
        name: name.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let url = Url::parse(value.trim()).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if plain_http_ok(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureEndpoint {
            name: name.to_owned(),
            url: url.to_string(),
        }),
        other => Err(invalid(format!("unsupported scheme `{other}` (use https)"))),
    }
}

/// Whether the URL's host is a link-local address (169.254.0.0/16, fe80::/10).
fn is_link_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80,
        _ => false,
    }
}

/// Whether the URL's host is a loopback address (127.0.0.0/8, `::1`) or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether two URLs share scheme, host and port (the origin).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_public_cloud() {
        let e = Endpoints::from_vars(vars(&[])).unwrap();
        assert_eq!(
            e.authority_host.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert_eq!(e.arm.as_str(), "https://management.azure.com/");
        assert_eq!(e.arm_scope, "https://management.azure.com/.default");
        assert_eq!(e.keyvault_suffix, ".vault.azure.net");
    }

    #[test]
    fn sovereign_clouds() {
        let e = Endpoints::from_vars(vars(&[("IMAGEFERRY_CLOUD", "AzureUSGovernment")])).unwrap();
        assert_eq!(e.arm.as_str(), "https://management.usgovcloudapi.net/");
        assert_eq!(
            e.authority_host.as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(e.keyvault_suffix, ".vault.usgovcloudapi.net");
        let e = Endpoints::from_vars(vars(&[("IMAGEFERRY_CLOUD", "AzureChinaCloud")])).unwrap();
        assert_eq!(e.arm_scope, "https://management.chinacloudapi.cn/.default");
        assert_eq!(e.keyvault_suffix, ".vault.azure.cn");
        assert!(matches!(
            Endpoints::from_vars(vars(&[("IMAGEFERRY_CLOUD", "Mars")])),
            Err(ConfigError::UnknownCloud(_))
        ));
    }

    #[test]
    fn overrides_and_loopback_rule() {
        let e = Endpoints::from_vars(vars(&[
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8080"),
            ("IMAGEFERRY_ARM_ENDPOINT", "http://localhost:9090/"),
        ]))
        .unwrap();
        assert_eq!(e.authority_host.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(e.arm.as_str(), "http://localhost:9090/");
        assert_eq!(e.arm_scope, "https://management.azure.com/.default");
        for bad in [
            "http://10.0.0.1:80",
            "http://example.com",
            "http://127.example.com",
        ] {
            let err = Endpoints::from_vars(vars(&[("IMAGEFERRY_ARM_ENDPOINT", bad)])).unwrap_err();
            assert!(matches!(err, ConfigError::InsecureEndpoint { .. }), "{bad}");
            assert!(err.to_string().contains("loopback"), "{err}");
        }
        assert!(check_endpoint("x", "http://[::1]:1/").is_ok());
        assert!(check_endpoint("x", "http://127.1.2.3:1/").is_ok());
        assert!(check_endpoint("x", "ftp://127.0.0.1/").is_err());
        assert!(check_endpoint("x", "not a url").is_err());
    }
}
