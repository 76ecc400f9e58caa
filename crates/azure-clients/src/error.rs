//! Configuration errors (bad or missing settings), shared by every client's constructor.

/// A setting is missing, malformed or refused. The message names the setting and the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A URL setting does not parse or uses an unsupported scheme.
    #[error("{name}={value:?} is not a valid endpoint URL: {reason}")]
    InvalidUrl {
        /// Setting name.
        name: String,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// `http://` to a non-loopback host.
    #[error(
        "{name}={url} uses plain http to a non-loopback host; use https (http is accepted only for 127.0.0.0/8, ::1 and localhost)"
    )]
    InsecureEndpoint {
        /// Setting name.
        name: String,
        /// The refused URL.
        url: String,
    },
    /// `IMAGEFERRY_CLOUD` names no known cloud.
    #[error(
        "IMAGEFERRY_CLOUD={0:?} is not a known cloud; use AzurePublicCloud, AzureUSGovernment or AzureChinaCloud"
    )]
    UnknownCloud(String),
    /// A setting has a value that cannot be used.
    #[error("{name}: {reason}")]
    Invalid {
        /// Setting name.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// No credential could be selected from the environment.
    #[error(
        "no credential configured: set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, or IDENTITY_ENDPOINT+IDENTITY_HEADER (managed identity as federated credential), or run in GitHub Actions with `permissions: id-token: write` or in Azure Pipelines with AZURESUBSCRIPTION_SERVICE_CONNECTION_ID and SYSTEM_ACCESSTOKEN (workload identity from the job's OIDC endpoint), optionally choosing with IMAGEFERRY_CREDENTIAL"
    )]
    NoCredential,
    /// The client certificate file could not be used.
    #[error("client certificate {path}: {reason}")]
    Certificate {
        /// Path of the PEM file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}
