//! Key Vault secrets: `GET {secretId}?api-version=7.4`
//! (learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret).

use crate::arm::RetryPolicy;
use crate::endpoints::{Endpoints, same_origin};
use crate::redact::SecretString;
use crate::token::{TokenError, TokenProvider};
use imageferry_contract::{SecretId, SecretIdError};
use std::fmt;
use std::sync::Arc;
use url::Url;

/// The Key Vault secrets API version.
pub const KEYVAULT_API: &str = "7.4";

/// A secret's value. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    /// The value. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// As a [`SecretString`] (e.g. for `OsProfile::admin_password`).
    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({})", crate::redact::REDACTED)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

/// Reading a secret failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyVaultError {
    /// The secret id is not a Key Vault URL of the configured cloud (or of the explicitly
    /// configured stand-in).
    #[error(
        "secret id {id} is not a Key Vault secret URL (https://{{vault}}{suffix}/secrets/{{name}}[/{{version}}])"
    )]
    UntrustedSecretId {
        /// The refused id.
        id: String,
        /// The cloud's vault suffix.
        suffix: String,
        /// The shape rule it breaks, if it breaks one (else its host is not trusted).
        #[source]
        source: Option<SecretIdError>,
    },
    /// 404: no such secret (or version).
    #[error("secret {id} not found")]
    NotFound {
        /// The secret id.
        id: String,
    },
    /// 401/403: the app may not read it.
    #[error("access to secret {id} denied (HTTP {status}): {message}; {}", forbidden_advice(*.status, .inner.as_deref()))]
    Forbidden {
        /// The secret id.
        id: String,
        /// HTTP status.
        status: u16,
        /// Key Vault's message.
        message: String,
        /// Key Vault's `innererror.code` (`ForbiddenByRbac`, `ForbiddenByPolicy`,
        /// `ForbiddenByFirewall`, `AccessDenied`…), when it gave one.
        inner: Option<String>,
    },
    /// 429/5xx after retries.
    #[error("Key Vault unavailable (HTTP {status})")]
    Unavailable {
        /// HTTP status.
        status: u16,
    },
    /// Another error status.
    #[error("Key Vault error (HTTP {status}): {message}")]
    Other {
        /// HTTP status.
        status: u16,
        /// Key Vault's message.
        message: String,
    },
    /// Network failure after retries, or a vault host that does not resolve (permanent).
    #[error("Key Vault request failed: {0}")]
    Transport(crate::http::TransportError),
    /// No token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The response was not `{"value": ...}`.
    #[error("unexpected Key Vault response: {0}")]
    Decode(String),
}

impl KeyVaultError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Transport(t) => t.is_transient(),
            Self::Token(t) => t.is_transient(),
            _ => false,
        }
    }

    /// What to do about it: the cause Key Vault (or the resolver) named, not a guess. `None` for
    /// transient failures.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::UntrustedSecretId { suffix, .. } => format!(
                "use the secret id of a vault of this cloud: https://<vault>{suffix}/secrets/<name>[/<version>] (the vault's Vault URI plus /secrets/<name>), and list the vault in IMAGEFERRY_ALLOWED_VAULTS"
            ),
            Self::NotFound { .. } => "the vault answered, but has no such secret (or version): create the secret, or fix its name or version in vm.adminPasswordSecretId".into(),
            Self::Forbidden { status, inner, .. } => forbidden_advice(*status, inner.as_deref()).into(),
            Self::Transport(crate::http::TransportError::HostNotFound { host, .. }) => format!(
                "the vault host {host} does not resolve: the vault name in vm.adminPasswordSecretId is wrong or a placeholder (the examples' myvault), or the vault was deleted; use the Vault URI from the vault's Overview page (a vault behind a private endpoint also needs its privatelink DNS zone linked to the app's network)"
            ),
            Self::Token(t) => return t.hint(),
            Self::Other { .. } => "the request to Key Vault was refused as shown; check the secret id".into(),
            Self::Unavailable { .. } | Self::Transport(_) | Self::Decode(_) => return None,
        })
    }
}

/// What a 401/403 of Key Vault asks for, by its `innererror.code`.
fn forbidden_advice(status: u16, inner: Option<&str>) -> &'static str {
    match inner.map(str::to_ascii_lowercase).as_deref() {
        Some("forbiddenbyfirewall") => {
            "the vault's firewall refuses the app's address: allow the Function App's outbound addresses or its virtual network under the vault's Networking settings (or reach it through a private endpoint)"
        }
        Some("forbiddenbypolicy" | "accessdenied") => {
            "the vault uses access policies: add one giving the app's identity Get on secrets (or switch the vault to Azure RBAC and grant the app 'Key Vault Secrets User')"
        }
        _ if status == 401 => {
            "Key Vault did not accept the app's token: the vault must belong to the app's home tenant (AZURE_TENANT_ID), whose token the handler presents; grant the app 'Key Vault Secrets User' on the vault (or a get-secret access policy)"
        }
        _ => "grant the app 'Key Vault Secrets User' on the vault (or a get-secret access policy)",
    }
}

/// `error.innererror.code` of a Key Vault error body (learn.microsoft.com/azure/key-vault/general/rest-error-codes).
fn inner_code(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.pointer("/error/innererror/code")
        .and_then(serde_json::Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// Reads secrets with the app's token for the cloud's Key Vault scope.
#[derive(Clone)]
pub struct KeyVaultSecrets {
    http: crate::http::HttpClient,
    tokens: Arc<TokenProvider>,
    scope: String,
    suffix: String,
    local: Option<Url>,
    retry: RetryPolicy,
}

impl fmt::Debug for KeyVaultSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVaultSecrets")
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl KeyVaultSecrets {
    /// Uses `endpoints.keyvault_scope` and `endpoints.keyvault_suffix`.
    pub fn new(endpoints: &Endpoints, tokens: Arc<TokenProvider>, retry: RetryPolicy) -> Self {
        Self {
            http: crate::http::new_client(),
            tokens,
            scope: endpoints.keyvault_scope.clone(),
            suffix: endpoints.keyvault_suffix.clone(),
            local: endpoints.keyvault_endpoint.clone(),
            retry,
        }
    }

    /// The secret at `secret_id` (`https://{vault}{suffix}/secrets/{name}[/{version}]`), read with
    /// a token from `tenant`.
    pub async fn get(&self, secret_id: &str, tenant: &str) -> Result<SecretValue, KeyVaultError> {
        let mut url = self.check_secret_id(secret_id)?.id.url().clone();
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", KEYVAULT_API);
        let token = self.tokens.token(tenant, &self.scope).await?;
        let raw = crate::http::send_with_retries(&self.retry, "Key Vault get secret", || {
            self.http.get(url.clone()).bearer_auth(token.token.expose())
        })
        .await
        .map_err(KeyVaultError::Transport)?;
        let id = secret_id.to_owned();
        let message = || {
            crate::arm::ErrorDetail::parse(&raw.body)
                .map(|d| format!("{}: {}", d.code, d.message))
                .unwrap_or_default()
        };
        match raw.status {
            200 => {
                #[derive(serde::Deserialize)]
                struct Bundle {
                    value: String,
                }
                let bundle: Bundle = serde_json::from_slice(&raw.body)
                    .map_err(|e| KeyVaultError::Decode(e.to_string()))?;
                Ok(SecretValue(SecretString::new(bundle.value)))
            }
            404 => Err(KeyVaultError::NotFound { id }),
            401 | 403 => Err(KeyVaultError::Forbidden {
                id,
                status: raw.status,
                message: message(),
                inner: inner_code(&raw.body),
            }),
            s if s == 429 || s >= 500 => Err(KeyVaultError::Unavailable { status: s }),
            s => Err(KeyVaultError::Other {
                status: s,
                message: message(),
            }),
        }
    }

    /// Whether `secret_id` may be read: the contract's secret-id shape ([`SecretId`]) on a vault
    /// of the configured cloud (`https://{vault}{suffix}`, port 443) or on the origin of the
    /// explicitly configured stand-in (`Endpoints::keyvault_endpoint`). A loopback URL in a
    /// message is never enough by itself.
    pub fn check_secret_id(&self, secret_id: &str) -> Result<TrustedSecretId, KeyVaultError> {
        let refuse = |source| KeyVaultError::UntrustedSecretId {
            id: secret_id.to_owned(),
            suffix: self.suffix.clone(),
            source,
        };
        let id = SecretId::parse(secret_id).map_err(|e| refuse(Some(e)))?;
        if id.is_vault_of(&self.suffix) {
            let vault = Some(id.host());
            return Ok(TrustedSecretId { id, vault });
        }
        if self
            .local
            .as_ref()
            .is_some_and(|l| same_origin(id.url(), l))
        {
            return Ok(TrustedSecretId { id, vault: None });
        }
        Err(refuse(None))
    }
}

/// A secret id [`KeyVaultSecrets::check_secret_id`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedSecretId {
    /// The id.
    pub id: SecretId,
    /// The vault's host (`myvault.vault.azure.net`), to hold against an allow-list; `None` for
    /// the explicitly configured stand-in, which is no vault of any allow-list.
    pub vault: Option<String>,
}
