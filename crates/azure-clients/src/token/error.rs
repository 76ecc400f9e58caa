//! Typed Entra token errors whose messages say what to do.

/// Getting a token for (tenant, scope) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// AADSTS700016: the app has no service principal in the tenant (not consented there).
    #[error(
        "AADSTS700016: app {client_id} is not consented in tenant {tenant}; an administrator of that tenant must grant admin consent: {consent_url}"
    )]
    AppNotConsented {
        /// Tenant asked for a token.
        tenant: String,
        /// The app registration's client id.
        client_id: String,
        /// The admin consent URL to open as an administrator of `tenant`.
        consent_url: String,
    },
    /// AADSTS7000215: the client secret is wrong.
    #[error(
        "AADSTS7000215: invalid client secret for app {client_id} (tenant {tenant}); use the secret's value (not its id) and check it has not been rotated"
    )]
    InvalidClientSecret {
        /// Tenant asked for a token.
        tenant: String,
        /// The app registration's client id.
        client_id: String,
    },
    /// AADSTS7000222: the client secret has expired.
    #[error(
        "AADSTS7000222: the client secret of app {client_id} has expired; create a new secret in the app registration"
    )]
    ExpiredClientSecret {
        /// The app registration's client id.
        client_id: String,
    },
    /// AADSTS90002: there is no such tenant (in this cloud).
    #[error(
        "AADSTS90002: tenant {tenant} was not found; check the tenant id and that the authority host matches its cloud"
    )]
    UnknownTenant {
        /// Tenant asked for a token.
        tenant: String,
    },
    /// The federated credential does not match the presented assertion: AADSTS70021 (no matching
    /// federated identity record), 700211 (issuer), 700212 (audience), 700213 (subject), or
    /// 700024 (assertion outside its validity time).
    #[error(
        "AADSTS{code}: federated credential of the app refused in tenant {tenant}: {description}"
    )]
    FederatedCredential {
        /// Tenant asked for a token.
        tenant: String,
        /// The AADSTS number.
        code: String,
        /// Entra's `error_description` (first line).
        description: String,
    },
    /// Another Entra error, with its AADSTS code(s).
    #[error(
        "Entra refused a token for tenant {tenant} (HTTP {status}, AADSTS{codes}): {description}"
    )]
    Entra {
        /// Tenant asked for a token.
        tenant: String,
        /// HTTP status.
        status: u16,
        /// AADSTS numbers, comma-separated (empty if none were given).
        codes: String,
        /// Entra's `error_description`.
        description: String,
    },
    /// The token endpoint (or the managed identity endpoint) is unreachable or answered 5xx/429.
    #[error("token endpoint unavailable for tenant {tenant}: {reason}")]
    Unavailable {
        /// Tenant asked for a token.
        tenant: String,
        /// What happened.
        reason: String,
    },
    /// The authority host does not resolve (DNS has no such name): no retry helps until the
    /// setting or the DNS the app uses is fixed.
    #[error("token endpoint host {host} does not resolve (tenant {tenant})")]
    HostNotFound {
        /// Tenant asked for a token.
        tenant: String,
        /// The host name.
        host: String,
    },
    /// The workload identity's federated token could not be had (its file, or the GitHub Actions
    /// or Azure Pipelines OIDC endpoint).
    #[error("no federated token for tenant {tenant}: {error}")]
    FederatedToken {
        /// Tenant asked for a token.
        tenant: String,
        /// What the token file or the OIDC endpoint did.
        error: crate::credential::FederatedTokenError,
    },
    /// The local credential could not produce an assertion (certificate, token file, managed identity).
    #[error("credential failed for tenant {tenant}: {reason}")]
    Credential {
        /// Tenant asked for a token.
        tenant: String,
        /// What happened.
        reason: String,
    },
    /// The tenant id or scope is malformed.
    #[error("invalid token request: {0}")]
    InvalidRequest(String),
}

impl TokenError {
    /// Whether retrying later may succeed (token endpoint down, 5xx, throttled).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::FederatedToken { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    /// The AADSTS code, if Entra gave one.
    pub fn aadsts_code(&self) -> Option<&str> {
        match self {
            Self::AppNotConsented { .. } => Some("700016"),
            Self::InvalidClientSecret { .. } => Some("7000215"),
            Self::ExpiredClientSecret { .. } => Some("7000222"),
            Self::UnknownTenant { .. } => Some("90002"),
            Self::FederatedCredential { code, .. } => Some(code),
            Self::Entra { codes, .. } if !codes.is_empty() => Some(codes),
            _ => None,
        }
    }

    /// A short code for reports: `AppNotConsented`, `TokenEndpointUnavailable`,
    /// `FederatedTokenUnavailable`, `FederatedTokenRefused`, `AADSTS{n}`, or `TokenError`.
    pub fn code(&self) -> String {
        match self {
            Self::AppNotConsented { .. } => "AppNotConsented".into(),
            Self::Unavailable { .. } => "TokenEndpointUnavailable".into(),
            Self::HostNotFound { .. } => "HostNotFound".into(),
            Self::FederatedToken { error, .. } if error.is_transient() => {
                "FederatedTokenUnavailable".into()
            }
            Self::FederatedToken { .. } => "FederatedTokenRefused".into(),
            other => match other.aadsts_code() {
                Some(code) => format!("AADSTS{code}"),
                None => "TokenError".into(),
            },
        }
    }

    /// What to do about it, for the errors whose fix is known.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::AppNotConsented { consent_url, .. } => {
                return Some(format!(
                    "an administrator of that tenant must grant consent: {consent_url}"
                ));
            }
            Self::FederatedToken { error, .. } => return error.hint().map(str::to_owned),
            Self::InvalidClientSecret { .. } | Self::ExpiredClientSecret { .. } => {
                "create a new client secret in the app registration (in its home tenant) and set AZURE_CLIENT_SECRET to its value"
            }
            Self::HostNotFound { host, .. } => {
                return Some(format!(
                    "the token endpoint's host {host} does not resolve: check AZURE_AUTHORITY_HOST / IMAGEFERRY_CLOUD, and the DNS the app uses"
                ));
            }
            Self::UnknownTenant { .. } => {
                "the tenant id is wrong, or it belongs to another cloud: check the tenant id, and that IMAGEFERRY_CLOUD / AZURE_AUTHORITY_HOST name the cloud that tenant lives in"
            }
            Self::FederatedCredential { code, .. } => match code.as_str() {
                "700211" => {
                    "the federated credential's issuer does not match: on the app registration (Certificates & secrets > Federated credentials) set the issuer to https://login.microsoftonline.com/<home tenant id>/v2.0 for a managed identity (the login host of this cloud), or the workload identity's issuer"
                }
                "700212" => {
                    "the federated credential's audience does not match: it must be api://AzureADTokenExchange (public cloud), api://AzureADTokenExchangeUSGov (Azure Government) or api://AzureADTokenExchangeChina (Azure China), and IMAGEFERRY_CLOUD must name the same cloud"
                }
                "700213" => {
                    "the federated credential's subject does not match: for the Function App's managed identity the subject is the identity's object (principal) id; for workload identity it is the service account subject"
                }
                "700024" => {
                    "the presented assertion is expired or not yet valid: check the clock of the host and that the federated token file is refreshed (in GitHub Actions and Azure Pipelines leave AZURE_FEDERATED_TOKEN_FILE unset: imageferry then asks the job's OIDC endpoint for a fresh token for every exchange)"
                }
                _ => {
                    "no federated credential of the app registration matches the presented token: add one (Certificates & secrets > Federated credentials) whose issuer, subject and audience equal the token's, e.g. issuer https://login.microsoftonline.com/<home tenant id>/v2.0, subject the managed identity's object id, audience api://AzureADTokenExchange (USGov / China for sovereign clouds)"
                }
            },
            _ => return None,
        };
        Some(hint.to_owned())
    }
}
