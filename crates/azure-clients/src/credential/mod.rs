//! Credentials of the one multi-tenant app registration (`AZURE_CLIENT_ID`), usable in any tenant.
//!
//! Selection: `IMAGEFERRY_CREDENTIAL` = `secret` | `certificate` | `workload-identity` |
//! `managed-identity-federated` picks one explicitly. Unset, the first present wins:
//! 1. `AZURE_CLIENT_SECRET` (client secret);
//! 2. `AZURE_CLIENT_CERTIFICATE_PATH` (PEM with private key and certificate);
//! 3. workload identity, its federated token fetched fresh for every exchange (module
//!    [`federated`]): from `AZURE_FEDERATED_TOKEN_FILE`, else from GitHub Actions' OIDC endpoint
//!    (`ACTIONS_ID_TOKEN_REQUEST_URL` + `ACTIONS_ID_TOKEN_REQUEST_TOKEN`), else from Azure
//!    Pipelines' (`SYSTEM_OIDCREQUESTURI` + `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`, with
//!    `SYSTEM_ACCESSTOKEN`);
//! 4. `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` (the Function App's managed identity, used as a
//!    federated credential of the app registration; `IMAGEFERRY_MANAGED_IDENTITY_CLIENT_ID`
//!    selects a user-assigned identity).
//!
//! The order follows azure_identity's environment → workload identity → managed identity chain.

mod certificate;
mod entra;
pub mod federated;
mod managed_identity;
mod transport;

pub use certificate::CertificateAssertion;
pub(crate) use entra::EntraTokenSource;
pub use federated::{FederatedAssertion, FederatedSource, FederatedTokenError, OidcProvider};
pub use managed_identity::ManagedIdentityAssertion;

use crate::error::ConfigError;
use crate::redact::SecretString;
use std::path::PathBuf;
use url::Url;

/// Which credential kind is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// Client secret.
    Secret,
    /// Client certificate (signed client assertion).
    Certificate,
    /// Workload identity: a federated token from a file or a CI system's OIDC endpoint.
    WorkloadIdentity,
    /// App Service managed identity token for `api://AzureADTokenExchange` as the client assertion.
    ManagedIdentityFederated,
}

impl CredentialKind {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "secret" | "client-secret" => Ok(Self::Secret),
            "certificate" | "client-certificate" => Ok(Self::Certificate),
            "workload-identity" => Ok(Self::WorkloadIdentity),
            "managed-identity-federated" | "managed-identity" => Ok(Self::ManagedIdentityFederated),
            _ => Err(ConfigError::Invalid {
                name: "IMAGEFERRY_CREDENTIAL".into(),
                reason: format!(
                    "{value:?} is not one of secret, certificate, workload-identity, managed-identity-federated"
                ),
            }),
        }
    }
}

/// The credential's secret material.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// A client secret.
    Secret(SecretString),
    /// A PEM file holding the private key and the certificate.
    Certificate(PathBuf),
    /// Workload identity: where its federated token is fetched for every token request.
    WorkloadIdentity(FederatedSource),
    /// The App Service managed identity endpoint.
    ManagedIdentity {
        /// `IDENTITY_ENDPOINT`.
        endpoint: Url,
        /// `IDENTITY_HEADER`, sent as `X-IDENTITY-HEADER`.
        header: SecretString,
        /// Client id of a user-assigned identity (system-assigned if `None`).
        client_id: Option<String>,
    },
}

impl CredentialSource {
    /// The kind of this source.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Self::Secret(_) => CredentialKind::Secret,
            Self::Certificate(_) => CredentialKind::Certificate,
            Self::WorkloadIdentity(_) => CredentialKind::WorkloadIdentity,
            Self::ManagedIdentity { .. } => CredentialKind::ManagedIdentityFederated,
        }
    }
}

/// The app registration and its credential.
#[derive(Debug, Clone)]
pub struct CredentialConfig {
    /// `AZURE_CLIENT_ID`: the multi-tenant app registration.
    pub client_id: String,
    /// `AZURE_TENANT_ID`: the app's home tenant (used for Service Bus tokens), if set.
    pub home_tenant: Option<String>,
    /// The secret material.
    pub source: CredentialSource,
}

impl CredentialConfig {
    /// Reads the variables listed in the [module docs](self) from `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let client_id = get("AZURE_CLIENT_ID").ok_or(ConfigError::Missing("AZURE_CLIENT_ID"))?;
        let home_tenant = get("AZURE_TENANT_ID");
        let kind = match get("IMAGEFERRY_CREDENTIAL") {
            Some(v) => CredentialKind::parse(&v)?,
            None if get("AZURE_CLIENT_SECRET").is_some() => CredentialKind::Secret,
            None if get("AZURE_CLIENT_CERTIFICATE_PATH").is_some() => CredentialKind::Certificate,
            None if federated_present(&get) => CredentialKind::WorkloadIdentity,
            None if get("IDENTITY_ENDPOINT").is_some() => CredentialKind::ManagedIdentityFederated,
            None => return Err(ConfigError::NoCredential),
        };
        let source = match kind {
            CredentialKind::Secret => CredentialSource::Secret(SecretString::new(
                get("AZURE_CLIENT_SECRET").ok_or(ConfigError::Missing("AZURE_CLIENT_SECRET"))?,
            )),
            CredentialKind::Certificate => {
                if get("AZURE_CLIENT_CERTIFICATE_PASSWORD").is_some() {
                    return Err(ConfigError::Invalid {
                        name: "AZURE_CLIENT_CERTIFICATE_PASSWORD".into(),
                        reason: "password-protected (PFX) certificates are not supported; use an unencrypted PEM with the private key and certificate".into(),
                    });
                }
                CredentialSource::Certificate(PathBuf::from(
                    get("AZURE_CLIENT_CERTIFICATE_PATH")
                        .ok_or(ConfigError::Missing("AZURE_CLIENT_CERTIFICATE_PATH"))?,
                ))
            }
            CredentialKind::WorkloadIdentity => {
                CredentialSource::WorkloadIdentity(federated_source(&get)?)
            }
            CredentialKind::ManagedIdentityFederated => {
                let endpoint =
                    get("IDENTITY_ENDPOINT").ok_or(ConfigError::Missing("IDENTITY_ENDPOINT"))?;
                // The platform serves the endpoint on plain http inside the host: loopback on
                // Windows App Service and Container Apps (`http://localhost:42356/msi/token`),
                // a link-local address on Linux App Service and Functions
                // (`http://169.254.x.x:8081/msi/token`). Anything else must be https.
                let endpoint =
                    crate::endpoints::check_platform_endpoint("IDENTITY_ENDPOINT", &endpoint)?;
                CredentialSource::ManagedIdentity {
                    endpoint,
                    header: SecretString::new(
                        get("IDENTITY_HEADER").ok_or(ConfigError::Missing("IDENTITY_HEADER"))?,
                    ),
                    client_id: get("IMAGEFERRY_MANAGED_IDENTITY_CLIENT_ID"),
                }
            }
        };
        Ok(Self {
            client_id,
            home_tenant,
            source,
        })
    }
}

/// Whether a workload identity's federated token is at hand: a token file, or the variables
/// GitHub Actions (with `id-token: write`) or Azure Pipelines (with a service connection) set.
fn federated_present(get: &impl Fn(&str) -> Option<String>) -> bool {
    get("AZURE_FEDERATED_TOKEN_FILE").is_some()
        || get("ACTIONS_ID_TOKEN_REQUEST_URL").is_some()
        || (get("SYSTEM_OIDCREQUESTURI").is_some()
            && get("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID").is_some())
}

/// The workload identity's source: the token file, else GitHub Actions, else Azure Pipelines.
fn federated_source(get: &impl Fn(&str) -> Option<String>) -> Result<FederatedSource, ConfigError> {
    if let Some(path) = get("AZURE_FEDERATED_TOKEN_FILE") {
        return Ok(FederatedSource::File(PathBuf::from(path)));
    }
    if let Some(url) = get("ACTIONS_ID_TOKEN_REQUEST_URL") {
        let request_url = crate::endpoints::check_endpoint("ACTIONS_ID_TOKEN_REQUEST_URL", &url)?;
        let request_token = get("ACTIONS_ID_TOKEN_REQUEST_TOKEN").ok_or_else(|| {
            ConfigError::Invalid {
                name: "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                reason: "not set while ACTIONS_ID_TOKEN_REQUEST_URL is; GitHub Actions sets both for a job with `permissions: id-token: write`".into(),
            }
        })?;
        return Ok(FederatedSource::GitHubActions {
            request_url,
            request_token: SecretString::new(request_token),
        });
    }
    if let Some(uri) = get("SYSTEM_OIDCREQUESTURI") {
        let oidc_request_uri = crate::endpoints::check_endpoint("SYSTEM_OIDCREQUESTURI", &uri)?;
        let service_connection_id = get("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID").ok_or_else(|| {
            ConfigError::Invalid {
                name: "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID".into(),
                reason: "not set: name the workload identity federation service connection (the AzureCLI@2 task sets it; otherwise the `resourceId` in the service connection's URL)".into(),
            }
        })?;
        let access_token = get("SYSTEM_ACCESSTOKEN").ok_or_else(|| ConfigError::Invalid {
            name: "SYSTEM_ACCESSTOKEN".into(),
            reason: "not set: Azure Pipelines gives the job token to a step only when mapped, `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`".into(),
        })?;
        return Ok(FederatedSource::AzurePipelines {
            oidc_request_uri,
            service_connection_id,
            access_token: SecretString::new(access_token),
        });
    }
    Err(ConfigError::Invalid {
        name: "IMAGEFERRY_CREDENTIAL".into(),
        reason: "workload-identity needs AZURE_FEDERATED_TOKEN_FILE, or GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (`permissions: id-token: write`), or Azure Pipelines' SYSTEM_OIDCREQUESTURI, AZURESUBSCRIPTION_SERVICE_CONNECTION_ID and SYSTEM_ACCESSTOKEN".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<CredentialConfig, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        CredentialConfig::from_vars(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn precedence_and_explicit_choice() {
        let all = [
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/t"),
            ("IDENTITY_ENDPOINT", "http://localhost:4141/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ];
        assert_eq!(config(&all).unwrap().source.kind(), CredentialKind::Secret);
        assert_eq!(
            config(&all[2..]).unwrap_err().to_string(),
            "AZURE_CLIENT_ID is not set"
        );
        let mut v = vec![all[0]];
        v.extend_from_slice(&all[2..]);
        assert_eq!(
            config(&v).unwrap().source.kind(),
            CredentialKind::Certificate
        );
        let mut v = vec![all[0]];
        v.extend_from_slice(&all[3..]);
        assert_eq!(
            config(&v).unwrap().source.kind(),
            CredentialKind::WorkloadIdentity
        );
        let mut v = vec![all[0]];
        v.extend_from_slice(&all[4..]);
        assert_eq!(
            config(&v).unwrap().source.kind(),
            CredentialKind::ManagedIdentityFederated
        );
        let mut v = all.to_vec();
        v.push(("IMAGEFERRY_CREDENTIAL", "managed-identity-federated"));
        assert_eq!(
            config(&v).unwrap().source.kind(),
            CredentialKind::ManagedIdentityFederated
        );
        assert!(matches!(config(&all[..1]), Err(ConfigError::NoCredential)));
        v.push(("IMAGEFERRY_CREDENTIAL", "kerberos"));
        assert!(config(&v).is_err());
    }

    #[test]
    fn workload_identity_from_a_file_github_actions_or_azure_pipelines() {
        let gh = [
            ("AZURE_CLIENT_ID", "app"),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://pipelines.actions.githubusercontent.com/x/idtoken?api-version=2.0",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token-value"),
        ];
        let c = config(&gh).unwrap();
        assert!(
            matches!(&c.source, CredentialSource::WorkloadIdentity(FederatedSource::GitHubActions { request_url, .. }) if request_url.query() == Some("api-version=2.0")),
            "{c:?}"
        );
        assert!(!format!("{c:?}").contains("request-token-value"));
        // The token file wins over the OIDC endpoint.
        let mut v = gh.to_vec();
        v.push(("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"));
        assert!(matches!(
            config(&v).unwrap().source,
            CredentialSource::WorkloadIdentity(FederatedSource::File(_))
        ));
        // GitHub sets both; one without the other is named.
        let err = config(&gh[..2]).unwrap_err().to_string();
        assert!(err.contains("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), "{err}");
        // Plain http only to loopback.
        let err = config(&[
            ("AZURE_CLIENT_ID", "app"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://example.com/idtoken"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::InsecureEndpoint { .. }), "{err}");

        let ado = [
            ("AZURE_CLIENT_ID", "app"),
            (
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/org/00000000-0000-0000-0000-000000000001/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken",
            ),
            (
                "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
                "00000000-0000-0000-0000-000000000003",
            ),
            ("SYSTEM_ACCESSTOKEN", "job-access-token"),
        ];
        let c = config(&ado).unwrap();
        assert!(
            matches!(&c.source, CredentialSource::WorkloadIdentity(FederatedSource::AzurePipelines { service_connection_id, .. }) if service_connection_id == "00000000-0000-0000-0000-000000000003"),
            "{c:?}"
        );
        assert!(!format!("{c:?}").contains("job-access-token"));
        // Every Pipelines job has SYSTEM_OIDCREQUESTURI: without a service connection it picks
        // nothing, and the unmapped job token is named with the mapping to add.
        assert!(matches!(config(&ado[..2]), Err(ConfigError::NoCredential)));
        let err = config(&ado[..3]).unwrap_err().to_string();
        assert!(
            err.contains("SYSTEM_ACCESSTOKEN: $(System.AccessToken)"),
            "{err}"
        );
        // Asked for explicitly with nothing at hand: every way is named.
        let err = config(&[
            ("AZURE_CLIENT_ID", "app"),
            ("IMAGEFERRY_CREDENTIAL", "workload-identity"),
        ])
        .unwrap_err()
        .to_string();
        for name in [
            "AZURE_FEDERATED_TOKEN_FILE",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "SYSTEM_OIDCREQUESTURI",
        ] {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn managed_identity_endpoint_may_be_link_local_http() {
        let c = config(&[
            ("AZURE_CLIENT_ID", "app"),
            ("IDENTITY_ENDPOINT", "http://169.254.129.3:8081/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ]);
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn managed_identity_endpoint_must_be_platform_local_or_https() {
        let err = config(&[
            ("AZURE_CLIENT_ID", "app"),
            ("IDENTITY_ENDPOINT", "http://10.1.2.3/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::InsecureEndpoint { .. }));
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let c = config(&[
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "topsecret"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
