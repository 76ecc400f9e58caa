//! Best-effort writes of every published event to the deployment status store (Azure Table
//! Storage, crate `status-store`), so pipelines and operators can follow a deployment without a
//! topic subscription of their own.
//!
//! A write never blocks or fails a step: [`StatusWriter::record`] queues the event (bounded,
//! [`QUEUE`] events) for one background task that writes events in order and retries transient
//! failures a bounded number of times ([`ATTEMPTS`], backoff from 500 ms to 8 s); what still
//! fails, or does not fit the queue, is logged (`status write failed`) and dropped: the events
//! topic stays the source of truth. A missing table (Azurite, the local stand-in) is created
//! once. Enabled by the settings of [`status_store::StatusSettings`]
//! (`IMAGEFERRY_STATUS_TABLE_ENDPOINT`, `AzureWebJobsStorage__tableServiceUri`,
//! `IMAGEFERRY_STATUS_TABLE_CONNECTION`); disabled when none is set.

use azure_clients::TokenProvider;
use azure_clients::table::TableError;
use imageferry_contract::DeploymentEvent;
use status_store::{StatusSettings, StatusStore, StoreError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// Events waiting to be written, at most.
pub const QUEUE: usize = 1024;
/// Write attempts per event.
pub const ATTEMPTS: u32 = 5;

/// Queues events for the status store; a no-op when the store is disabled.
#[derive(Debug, Default)]
pub struct StatusWriter {
    store: Option<StatusStore>,
    tx: OnceLock<mpsc::Sender<DeploymentEvent>>,
}

impl StatusWriter {
    /// No store: `record` does nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Writes to `store`.
    pub fn new(store: StatusStore) -> Self {
        Self {
            store: Some(store),
            tx: OnceLock::new(),
        }
    }

    /// From the settings in the environment; identity-based access uses `tokens`.
    pub fn from_env(tokens: Arc<TokenProvider>) -> Result<Self, azure_clients::ConfigError> {
        let settings = StatusSettings::from_vars(|k| std::env::var(k).ok())?;
        Ok(match settings.store(Some(tokens))? {
            Some(store) => {
                tracing::info!(table = store.table(), "deployment status store enabled");
                Self::new(store)
            }
            None => Self::disabled(),
        })
    }

    /// Whether events are written.
    pub fn is_enabled(&self) -> bool {
        self.store.is_some()
    }

    /// Queues `event` for writing and returns at once. Must be called inside a Tokio runtime
    /// (the writer task starts on first use).
    pub fn record(&self, event: &DeploymentEvent) {
        let Some(store) = &self.store else {
            return;
        };
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(write_loop(store.clone(), rx));
            tx
        });
        if let Err(e) = tx.try_send(event.clone()) {
            tracing::warn!(
                deployment_id = %event.deployment_id,
                status = %event.status,
                reason = %e,
                "status write failed: queue full or closed; the event is on the events topic only"
            );
        }
    }
}

async fn write_loop(store: StatusStore, mut rx: mpsc::Receiver<DeploymentEvent>) {
    let mut table_checked = false;
    while let Some(event) = rx.recv().await {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=ATTEMPTS {
            match store.record(&event).await {
                Ok(_) => break,
                Err(StoreError::Table(TableError::TableNotFound(_))) if !table_checked => {
                    table_checked = true;
                    if let Err(e) = store.ensure_table().await {
                        tracing::warn!(error = %e, "status table could not be created");
                    }
                    continue;
                }
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::info!(deployment_id = %event.deployment_id, attempt, error = %e, "status write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                }
                Err(e) => {
                    tracing::error!(
                        deployment_id = %event.deployment_id,
                        status = %event.status,
                        attempt,
                        error = %e,
                        "status write failed; the event is on the events topic only"
                    );
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_clients::table::{StorageConnection, TableClient};
    use imageferry_contract::{Status, Step};

    #[tokio::test]
    async fn recording_never_waits_for_the_store() {
        // A Table endpoint where nothing listens: every write fails (connection refused).
        let conn = StorageConnection::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1",
        )
        .unwrap();
        let writer = StatusWriter::new(StatusStore::new(
            TableClient::from_connection(conn),
            "deployments",
        ));
        assert!(writer.is_enabled());
        let start = std::time::Instant::now();
        // More events than the queue holds: the overflow is dropped (and logged), nothing blocks.
        for i in 0..(QUEUE + 500) {
            let event = DeploymentEvent::new(
                format!("d-{i}"),
                Status::Accepted,
                Step::DeploymentRequested,
                time::OffsetDateTime::now_utc(),
                "x",
            );
            writer.record(&event);
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(!StatusWriter::disabled().is_enabled());
    }
}
