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
        matches!(self, Self::Unavailable { .. })
    }

    /// The AADSTS code, if Entra gave one.
    pub fn aadsts_code(&self) -> Option<&str> {
        match self {
            Self::AppNotConsented { .. } => Some("700016"),
            Self::InvalidClientSecret { .. } => Some("7000215"),
            Self::ExpiredClientSecret { .. } => Some("7000222"),
            Self::UnknownTenant { .. } => Some("90002"),
            Self::Entra { codes, .. } if !codes.is_empty() => Some(codes),
            _ => None,
        }
    }
}
