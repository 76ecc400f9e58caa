//! Errors of the Table client.

/// A Table Storage operation failed. Messages never contain keys, tokens or signatures.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// 401: no or bad credentials (wrong account key, token for another audience).
    #[error("table service refused the credentials ({code}): {message}")]
    Unauthorized {
        /// `x-ms-error-code`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// 403: authenticated but not allowed (missing *Storage Table Data Contributor/Reader*).
    #[error(
        "not allowed on table {table} ({code}): {message}; the identity needs the role Storage Table Data Contributor (writes) or Storage Table Data Reader (reads) on the storage account"
    )]
    Forbidden {
        /// The table.
        table: String,
        /// `x-ms-error-code`, e.g. `AuthorizationPermissionMismatch`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// 404 `TableNotFound`.
    #[error("table {0} does not exist")]
    TableNotFound(String),
    /// 429, 5xx or no answer after the retries.
    #[error("table service unavailable: {0}")]
    Unavailable(String),
    /// The account's host name does not resolve (permanent until the endpoint or DNS is fixed).
    #[error(
        "table service host {host} does not resolve ({detail}); check IMAGEFERRY_STATUS_TABLE_ENDPOINT (the storage account name) and the app's DNS"
    )]
    HostNotFound {
        /// The host name.
        host: String,
        /// The resolver's answer.
        detail: String,
    },
    /// Any other refusal (400 `InvalidInput`, `PropertyValueTooLarge`, …).
    #[error("table service answered {status} ({code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// `x-ms-error-code`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The answer was not the documented JSON.
    #[error("table service answer did not decode: {0}")]
    Decode(String),
    /// A key or table name that cannot be used.
    #[error("invalid table request: {0}")]
    InvalidRequest(String),
    /// No token for the storage scope.
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
}

impl TableError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            TableError::Unavailable(_) => true,
            TableError::Token(t) => t.is_transient(),
            _ => false,
        }
    }
}
