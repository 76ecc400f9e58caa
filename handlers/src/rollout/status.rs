//! Reads deployment statuses from the status store: Azure Table Storage, table `deployments`,
//! one entity per deployment with PartitionKey = deployment id, RowKey `status` and the current
//! status in the `Status` property (the layout the handler writes and `imageferry status` reads).
//!
//! One Table REST "Query Entity" GET per deployment
//! (`{endpoint}/{table}(PartitionKey='{id}',RowKey='status')`, JSON without metadata), with an
//! Entra token for Azure Storage in the app's home tenant (role Storage Table Data Reader or
//! Contributor on the table).

use crate::app::App;
use azure_clients::{Endpoints, TokenProvider, check_endpoint};
use imageferry_contract::Status;
use std::sync::Arc;
use url::Url;

/// The Table REST API version sent.
pub const TABLE_API_VERSION: &str = "2019-02-02";
/// Token scope for Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Where one deployment stands, as the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentState {
    /// No entity yet (not accepted yet, or the write is still pending).
    Unknown,
    /// A status.
    Known(Status),
    /// A status this handler does not know (a newer writer).
    Other(String),
}

/// A status read failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the status of {deployment_id} from the status store: {message}")]
pub struct StatusError {
    /// The deployment.
    pub deployment_id: String,
    /// What went wrong (no token or secret in it).
    pub message: String,
}

/// The status store reader.
#[derive(Debug, Clone)]
pub struct StatusStore {
    endpoint: Url,
    table: String,
    tenant: String,
    tokens: Arc<TokenProvider>,
    http: reqwest::Client,
}

impl StatusStore {
    /// From `IMAGEFERRY_STATUS_TABLE_ENDPOINT` (https, or http to loopback) and
    /// `IMAGEFERRY_STATUS_TABLE` (default `deployments`); `None` when the endpoint is unset.
    pub fn from_vars(
        app: &Arc<App>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let Some(endpoint) = var("IMAGEFERRY_STATUS_TABLE_ENDPOINT") else {
            return Ok(None);
        };
        let endpoint = check_endpoint("IMAGEFERRY_STATUS_TABLE_ENDPOINT", endpoint.trim())
            .map_err(|e| e.to_string())?;
        let table = var("IMAGEFERRY_STATUS_TABLE").unwrap_or_else(|| "deployments".into());
        if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "IMAGEFERRY_STATUS_TABLE {table:?} is not a table name"
            ));
        }
        let endpoints = Endpoints::from_env().map_err(|e| e.to_string())?;
        let tokens = TokenProvider::from_env(&endpoints).map_err(|e| e.to_string())?;
        azure_clients::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Some(StatusStore {
            endpoint,
            table,
            tenant: app.config.home_tenant.clone(),
            tokens: Arc::new(tokens),
            http,
        }))
    }

    /// The current status of one deployment.
    pub async fn state(&self, deployment_id: &str) -> Result<DeploymentState, StatusError> {
        let err = |message: String| StatusError {
            deployment_id: deployment_id.into(),
            message,
        };
        // Deployment ids are [a-z0-9-]: nothing to escape inside the quotes.
        if !imageferry_contract::validate::is_deployment_id(deployment_id) {
            return Err(err("not a deployment id".into()));
        }
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "{}/{}(PartitionKey='{deployment_id}',RowKey='status')",
            url.path().trim_end_matches('/'),
            self.table
        ));
        let token = self
            .tokens
            .token(&self.tenant, STORAGE_SCOPE)
            .await
            .map_err(|e| err(format!("no token for Azure Storage: {e}")))?;
        let answer = self
            .http
            .get(url)
            .bearer_auth(token.token.expose())
            .header("x-ms-version", TABLE_API_VERSION)
            .header("Accept", "application/json;odata=nometadata")
            .header("x-ms-date", httpdate(time::OffsetDateTime::now_utc()))
            .send()
            .await
            .map_err(|e| err(format!("request failed: {}", e.without_url())))?;
        let code = answer.status();
        if code == reqwest::StatusCode::NOT_FOUND {
            return Ok(DeploymentState::Unknown);
        }
        if !code.is_success() {
            return Err(err(format!("the table answered {code}")));
        }
        let entity: serde_json::Value = answer
            .json()
            .await
            .map_err(|e| err(format!("the answer is not JSON: {}", e.without_url())))?;
        let status = entity
            .get("Status")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| err("the entity has no Status".into()))?;
        Ok(
            match serde_json::from_value::<Status>(serde_json::Value::String(status.into())) {
                Ok(s) => DeploymentState::Known(s),
                Err(_) => DeploymentState::Other(status.into()),
            },
        )
    }
}

/// RFC 1123 date for `x-ms-date`.
fn httpdate(t: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(FORMAT).unwrap_or_default()
}
