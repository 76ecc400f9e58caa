//! Where the store is, from app settings (the handler's) or the environment (the CLI's).

use crate::store::StatusStore;
use azure_clients::table::{StorageConnection, TableAuth, TableClient};
use azure_clients::{ConfigError, TokenProvider};
use std::sync::Arc;

/// The settings read by [`StatusSettings::from_vars`], in order of precedence.
///
/// | variable | meaning |
/// |---|---|
/// | `IMAGEFERRY_STATUS_TABLE_CONNECTION` | a storage connection string (account key, SharedKeyLite), e.g. `UseDevelopmentStorage=true` for Azurite |
/// | `IMAGEFERRY_STATUS_TABLE_ENDPOINT` | the Table service URL, identity-based (Entra token for `https://storage.azure.com/.default`) |
/// | `AzureWebJobsStorage__tableServiceUri` | the same, from the Function App's identity-based storage settings |
/// | `IMAGEFERRY_STATUS_TABLE_TENANT` | tenant of the storage account's Entra tokens (default `AZURE_TENANT_ID`) |
/// | `IMAGEFERRY_STATUS_TABLE` | table name (default `deployments`) |
///
/// None of the first three set: the store is disabled.
pub const TABLE_SETTINGS: [&str; 5] = [
    "IMAGEFERRY_STATUS_TABLE_CONNECTION",
    "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
    "AzureWebJobsStorage__tableServiceUri",
    "IMAGEFERRY_STATUS_TABLE_TENANT",
    "IMAGEFERRY_STATUS_TABLE",
];

/// Resolved store settings (no secrets printed by `Debug`).
#[derive(Debug, Clone)]
pub enum StatusSettings {
    /// No store configured.
    Disabled,
    /// Account-key access.
    Connection {
        /// The parsed connection string.
        connection: StorageConnection,
        /// Table name.
        table: String,
    },
    /// Identity-based access.
    Entra {
        /// Table service URL.
        endpoint: url::Url,
        /// Tenant of the tokens.
        tenant: String,
        /// Table name.
        table: String,
    },
}

impl StatusSettings {
    /// Reads the settings listed in [`TABLE_SETTINGS`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let table = get("IMAGEFERRY_STATUS_TABLE").unwrap_or_else(|| crate::TABLE.to_owned());
        if let Some(cs) = get("IMAGEFERRY_STATUS_TABLE_CONNECTION") {
            return Ok(Self::Connection {
                connection: StorageConnection::parse(&cs)?,
                table,
            });
        }
        let (name, value) = match (
            get("IMAGEFERRY_STATUS_TABLE_ENDPOINT"),
            get("AzureWebJobsStorage__tableServiceUri"),
        ) {
            (Some(v), _) => ("IMAGEFERRY_STATUS_TABLE_ENDPOINT", v),
            (None, Some(v)) => ("AzureWebJobsStorage__tableServiceUri", v),
            (None, None) => return Ok(Self::Disabled),
        };
        let endpoint = azure_clients::check_endpoint(name, &value)?;
        let tenant = get("IMAGEFERRY_STATUS_TABLE_TENANT")
            .or_else(|| get("AZURE_TENANT_ID"))
            .ok_or(ConfigError::Missing(
                "IMAGEFERRY_STATUS_TABLE_TENANT or AZURE_TENANT_ID (tenant of the status table's storage account)",
            ))?;
        Ok(Self::Entra {
            endpoint,
            tenant,
            table,
        })
    }

    /// The store, with `tokens` for identity-based access; `None` when disabled.
    pub fn store(
        &self,
        tokens: Option<Arc<TokenProvider>>,
    ) -> Result<Option<StatusStore>, ConfigError> {
        match self {
            Self::Disabled => Ok(None),
            Self::Connection { connection, table } => Ok(Some(StatusStore::new(
                TableClient::from_connection(connection.clone()),
                table,
            ))),
            Self::Entra {
                endpoint,
                tenant,
                table,
            } => {
                let tokens = tokens.ok_or(ConfigError::NoCredential)?;
                let auth = TableAuth::Entra {
                    tokens,
                    tenant: tenant.clone(),
                };
                Ok(Some(StatusStore::new(
                    TableClient::new(endpoint.clone(), auth),
                    table,
                )))
            }
        }
    }
}
