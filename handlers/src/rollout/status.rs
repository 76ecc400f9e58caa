//! Reads deployment statuses for `rollout-check` from the deployment status store (crate
//! `status-store`: table `deployments`, PartitionKey = deployment id, RowKey `status`, property
//! `Status`), with the same settings the handler's status writer uses
//! (`IMAGEFERRY_STATUS_TABLE_ENDPOINT` with an Entra token, `AzureWebJobsStorage__tableServiceUri`,
//! or `IMAGEFERRY_STATUS_TABLE_CONNECTION`). Reading needs Storage Table Data Reader (the app has
//! Data Contributor on the account).

use super::state::RolloutStates;
use azure_clients::table::{TableAuth, TableClient};
use azure_clients::{Endpoints, TokenProvider};
use imageferry_contract::Status;
use status_store::{StatusSettings, StatusStore};
use std::sync::Arc;

/// Where one deployment stands, as the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentState {
    /// No entity yet (not accepted yet, or the write is still queued).
    Unknown,
    /// The current status.
    Known(Status),
}

/// A status read failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the status of {deployment_id} from the status store: {message}")]
pub struct StatusError {
    /// The deployment.
    pub deployment_id: String,
    /// What went wrong (no token or secret in it).
    pub message: String,
    /// Whether trying again later may work.
    pub transient: bool,
}

/// The status store, read side.
#[derive(Debug, Clone)]
pub struct StatusReader {
    store: StatusStore,
}

impl StatusReader {
    /// From the status store settings, with the rollout states kept in the same table; `None`
    /// when no store is configured.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(Self, RolloutStates)>, String> {
        let settings = StatusSettings::from_vars(&var).map_err(|e| e.to_string())?;
        let (client, table) = match settings {
            StatusSettings::Disabled => return Ok(None),
            StatusSettings::Connection { connection, table } => {
                (TableClient::from_connection(connection), table)
            }
            StatusSettings::Entra {
                endpoint,
                tenant,
                table,
            } => {
                let endpoints = Endpoints::from_vars(&var).map_err(|e| e.to_string())?;
                let tokens = Arc::new(
                    TokenProvider::from_vars(&endpoints, &var).map_err(|e| e.to_string())?,
                );
                (
                    TableClient::new(endpoint, TableAuth::Entra { tokens, tenant }),
                    table,
                )
            }
        };
        Ok(Some((
            StatusReader {
                store: StatusStore::new(client.clone(), table.clone()),
            },
            RolloutStates::new(client, table),
        )))
    }

    /// A reader over `store` (tests).
    pub fn new(store: StatusStore) -> Self {
        StatusReader { store }
    }

    /// The current status of one deployment.
    pub async fn state(&self, deployment_id: &str) -> Result<DeploymentState, StatusError> {
        match self.store.get(deployment_id).await {
            Ok(Some(s)) => Ok(DeploymentState::Known(s.status)),
            Ok(None) => Ok(DeploymentState::Unknown),
            Err(e) => Err(StatusError {
                deployment_id: deployment_id.into(),
                transient: e.is_transient(),
                message: e.to_string(),
            }),
        }
    }
}
