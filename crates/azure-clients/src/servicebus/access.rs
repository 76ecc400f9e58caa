//! Who the clients are to a namespace: its endpoint and how requests are authorized (a SAS
//! token made from the connection string's key, or an Entra token), read from the app settings
//! the way the Functions Service Bus trigger reads its connection.

use super::connection::ServiceBusConnection;
use super::sas::sas_token;
use crate::endpoints::Endpoints;
use crate::error::ConfigError;
use crate::redact::SecretString;
use crate::token::{TokenError, TokenProvider};
use std::sync::Arc;
use time::OffsetDateTime;
use url::Url;

/// SAS tokens are minted per request and live this long.
const SAS_LIFETIME_SECS: i64 = 3600;

#[derive(Clone)]
enum Auth {
    Sas {
        key_name: String,
        key: SecretString,
    },
    Entra {
        tokens: Arc<TokenProvider>,
        tenant: String,
        scope: String,
    },
}

/// A namespace endpoint with its credentials. Cheap to clone.
#[derive(Clone)]
pub(crate) struct NamespaceAccess {
    pub(crate) endpoint: Url,
    auth: Auth,
}

impl std::fmt::Debug for NamespaceAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Sas { key_name, .. } => format!("SAS ({key_name})"),
            Auth::Entra { tenant, .. } => format!("Entra (tenant {tenant})"),
        };
        f.debug_struct("NamespaceAccess")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &auth)
            .finish()
    }
}

impl NamespaceAccess {
    /// `ServiceBusConnection` (a connection string, SAS auth) wins; otherwise
    /// `ServiceBusConnection__fullyQualifiedNamespace` with Entra tokens for
    /// `endpoints.servicebus_scope` in `AZURE_TENANT_ID` (the app's home tenant).
    pub(crate) fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        tokens: Arc<TokenProvider>,
        endpoints: &Endpoints,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(cs) = get("ServiceBusConnection") {
            return Ok(Self::from_connection(ServiceBusConnection::parse(&cs)?));
        }
        let namespace =
            get("ServiceBusConnection__fullyQualifiedNamespace").ok_or(ConfigError::Missing(
                "ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace",
            ))?;
        let tenant = get("AZURE_TENANT_ID").ok_or(ConfigError::Missing("AZURE_TENANT_ID"))?;
        let endpoint = crate::endpoints::check_endpoint(
            "ServiceBusConnection__fullyQualifiedNamespace",
            &format!("https://{}/", namespace.trim().trim_end_matches('/')),
        )?;
        Ok(Self::with_entra(
            endpoint,
            tokens,
            tenant,
            endpoints.servicebus_scope.clone(),
        ))
    }

    /// SAS auth from a parsed connection string.
    pub(crate) fn from_connection(connection: ServiceBusConnection) -> Self {
        Self {
            endpoint: connection.endpoint,
            auth: Auth::Sas {
                key_name: connection.key_name,
                key: connection.key,
            },
        }
    }

    /// Entra auth: a token for `scope` in `tenant` per request (cached by the provider).
    pub(crate) fn with_entra(
        endpoint: Url,
        tokens: Arc<TokenProvider>,
        tenant: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        Self {
            endpoint,
            auth: Auth::Entra {
                tokens,
                tenant: tenant.into(),
                scope: scope.into(),
            },
        }
    }

    /// The URL of `path` below the namespace endpoint.
    pub(crate) fn url(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "{}/{}",
            self.endpoint.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        ));
        url
    }

    /// The `Authorization` value for a request about `entity` (a SAS token signs the entity's
    /// URL, the way the SDKs do).
    pub(crate) async fn authorization(&self, entity: &str) -> Result<SecretString, TokenError> {
        match &self.auth {
            Auth::Sas { key_name, key } => {
                let resource = self.url(entity.trim_end_matches('/'));
                let expiry = OffsetDateTime::now_utc().unix_timestamp() + SAS_LIFETIME_SECS;
                Ok(sas_token(resource.as_str(), key_name, key, expiry))
            }
            Auth::Entra {
                tokens,
                tenant,
                scope,
            } => {
                let token = tokens.token(tenant, scope).await?;
                Ok(SecretString::new(format!(
                    "Bearer {}",
                    token.token.expose()
                )))
            }
        }
    }
}
