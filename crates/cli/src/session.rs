//! What every Azure-facing command needs: endpoints, a token provider (the handler's credential
//! chain from the environment, or the Azure CLI's login), and the clients built on them.

use azure_clients::{
    AccessToken, ArmClient, ConfigError, Endpoints, RetryPolicy, SecretString, ServiceBusSender,
    TokenError, TokenProvider, TokenSource,
};
use futures::future::BoxFuture;
use status_store::{StatusSettings, StatusStore};
use std::sync::Arc;
use time::OffsetDateTime;

/// Where tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The app registration (secret, certificate, workload identity, managed identity), as the handler.
    App,
    /// `az account get-access-token` (a person at a terminal).
    AzureCli,
}

/// Endpoints and tokens.
pub struct Session {
    /// Cloud endpoints (`IMAGEFERRY_CLOUD`, `AZURE_AUTHORITY_HOST`, `IMAGEFERRY_ARM_ENDPOINT`).
    pub endpoints: Endpoints,
    /// Tokens for any tenant and scope.
    pub tokens: Arc<TokenProvider>,
    /// Which credential.
    pub credential: Credential,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Session {
    /// The handler's credential chain when `AZURE_CLIENT_ID` and a credential are set (or
    /// `IMAGEFERRY_CREDENTIAL` names one); otherwise, or with `IMAGEFERRY_CREDENTIAL=azure-cli`,
    /// the Azure CLI's login.
    pub fn from_env() -> Result<Self, ConfigError> {
        let endpoints = Endpoints::from_env()?;
        let wants_cli =
            var("IMAGEFERRY_CREDENTIAL").is_some_and(|v| v.eq_ignore_ascii_case("azure-cli"));
        if !wants_cli {
            match TokenProvider::from_vars(&endpoints, |k| {
                if k == "IMAGEFERRY_CREDENTIAL" {
                    None
                } else {
                    var(k)
                }
            }) {
                Ok(tokens) => {
                    return Ok(Self {
                        endpoints,
                        tokens: Arc::new(tokens),
                        credential: Credential::App,
                    });
                }
                Err(ConfigError::NoCredential | ConfigError::Missing("AZURE_CLIENT_ID")) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            endpoints,
            tokens: Arc::new(TokenProvider::with_source(Arc::new(AzureCli))),
            credential: Credential::AzureCli,
        })
    }

    /// ARM with the default retry policy.
    pub fn arm(&self) -> ArmClient {
        ArmClient::new(
            self.endpoints.clone(),
            self.tokens.clone(),
            RetryPolicy::default(),
        )
    }

    /// The Service Bus sender of `ServiceBusConnection` / `ServiceBusConnection__fullyQualifiedNamespace`.
    pub fn bus(&self) -> Result<ServiceBusSender, ConfigError> {
        ServiceBusSender::from_env(self.tokens.clone(), &self.endpoints)
    }

    /// Where the services are, to name the one a request could not reach.
    pub fn places(&self) -> crate::network::Places {
        let table = match StatusSettings::from_vars(var) {
            Ok(StatusSettings::Entra { endpoint, .. }) => Some(endpoint),
            Ok(StatusSettings::Connection { connection, .. }) => Some(connection.table_endpoint),
            _ => None,
        };
        crate::network::Places {
            authority: self.endpoints.authority_host.clone(),
            arm: self.endpoints.arm.clone(),
            bus: self.bus().ok().map(|b| b.endpoint().clone()),
            table,
        }
    }

    /// The status store; an error naming the settings when none is configured.
    pub fn status_store(&self) -> Result<StatusStore, ConfigError> {
        StatusSettings::from_vars(var)?
            .store(Some(self.tokens.clone()))?
            .ok_or(ConfigError::Missing(
                "IMAGEFERRY_STATUS_TABLE_ENDPOINT (the Function App storage account's Table service URL, e.g. https://<account>.table.core.windows.net/) or IMAGEFERRY_STATUS_TABLE_CONNECTION",
            ))
    }
}

/// Tokens from `az account get-access-token --tenant T --scope S`.
struct AzureCli;

impl TokenSource for AzureCli {
    fn fetch(
        &self,
        tenant: &str,
        scope: &str,
    ) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        let tenant = tenant.to_owned();
        let scope = scope.to_owned();
        Box::pin(async move {
            let out = tokio::process::Command::new("az")
                .args(["account", "get-access-token", "--output", "json", "--tenant", &tenant, "--scope", &scope])
                .output()
                .await
                .map_err(|e| TokenError::Credential {
                    tenant: tenant.clone(),
                    reason: format!(
                        "no app credential is configured (AZURE_CLIENT_ID + AZURE_CLIENT_SECRET, certificate or federated token) and the Azure CLI could not run ({e}); install it and run `az login`"
                    ),
                })?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("failed")
                    .trim();
                return Err(TokenError::Credential {
                    tenant: tenant.clone(),
                    reason: format!(
                        "az account get-access-token: {first} (run `az login --tenant {tenant}`)"
                    ),
                });
            }
            #[derive(serde::Deserialize)]
            struct Answer {
                #[serde(rename = "accessToken")]
                access_token: String,
                expires_on: Option<i64>,
            }
            let a: Answer =
                serde_json::from_slice(&out.stdout).map_err(|e| TokenError::Credential {
                    tenant: tenant.clone(),
                    reason: format!("az account get-access-token answered something else: {e}"),
                })?;
            let expires_on = a
                .expires_on
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .unwrap_or_else(|| OffsetDateTime::now_utc() + time::Duration::minutes(30));
            Ok(AccessToken {
                token: SecretString::new(a.access_token),
                expires_on,
            })
        })
    }
}
