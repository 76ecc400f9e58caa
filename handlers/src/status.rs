//! The deployment status store (Azure Table Storage, crate `status-store`) as the handler uses
//! it: the terminal claim that lets exactly one terminal outcome of a deployment be published
//! ([`StatusWriter::claim`], awaited before the event is sent), and best-effort writes of every
//! published event, so pipelines and operators can follow a deployment without a topic
//! subscription of their own.
//!
//! A write never blocks or fails a step: [`StatusWriter::record`] queues the event (bounded,
//! [`QUEUE`] events) for one background task that writes events in order and retries transient
//! failures a bounded number of times ([`ATTEMPTS`], backoff from 500 ms to 8 s); what still
//! fails, or does not fit the queue, is logged (`status write failed`) and dropped: the events
//! topic stays the source of truth. A missing table (Azurite, the local stand-in) is created
//! once. Enabled by the settings of [`status_store::StatusSettings`]
//! (`IMAGEFERRY_STATUS_TABLE_ENDPOINT`, `AzureWebJobsStorage__tableServiceUri`,
//! `IMAGEFERRY_STATUS_TABLE_CONNECTION`); disabled when none is set.

use crate::outcome::StepError;
use azure_clients::TokenProvider;
use azure_clients::table::TableError;
use imageferry_contract::{DeploymentEvent, EventError};
use status_store::{Claim, StatusSettings, StatusStore, StoreError, TerminalClaim};
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

    /// Claims the terminal outcome of `event`'s deployment for `event` (published with
    /// `message_id`) before it is sent. A store that is unavailable is a transient failure (the
    /// step retries); one that refuses for good is logged and the event published without
    /// arbitration (an outcome is never dropped for the store's sake).
    pub async fn claim(
        &self,
        event: &DeploymentEvent,
        message_id: &str,
    ) -> Result<Claimed, StepError> {
        let Some(store) = &self.store else {
            return Ok(Claimed::Unarbitrated);
        };
        if event.deployment_id.is_empty() {
            return Ok(Claimed::Unarbitrated);
        }
        match store.claim_terminal(event, message_id).await {
            Ok(Claim::Won) => Ok(Claimed::Won),
            Ok(Claim::Held(held)) if held.message_id != message_id => Ok(Claimed::Lost(held)),
            Ok(Claim::Held(held)) if held.published => Ok(Claimed::Published),
            Ok(Claim::Held(held)) => Ok(Claimed::Unpublished(held.event)),
            Err(e) if e.is_transient() => Err(StepError::transient(EventError {
                code: "StatusStoreUnavailable".into(),
                message: format!("claiming the terminal outcome in the status store: {e}"),
                hint: None,
            })),
            Err(e) => {
                tracing::error!(
                    deployment_id = %event.deployment_id,
                    status = %event.status,
                    error = %e,
                    "the terminal outcome could not be claimed in the status store; publishing it without arbitration"
                );
                Ok(Claimed::Unarbitrated)
            }
        }
    }

    /// The terminal outcome deployment `id` has claimed, if any (`None` also without a store).
    pub async fn terminal(&self, id: &str) -> Result<Option<TerminalClaim>, StepError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        store.terminal(id).await.map_err(|e| {
            StepError::classified(
                e.is_transient(),
                EventError {
                    code: "StatusStoreUnavailable".into(),
                    message: format!("reading the terminal outcome in the status store: {e}"),
                    hint: None,
                },
            )
        })
    }

    /// Notes that the claimed event of deployment `id` is published (best effort: a claim left
    /// unmarked only makes a later holder of it publish the same MessageId again).
    pub async fn published(&self, id: &str) {
        if let Some(store) = &self.store
            && let Err(e) = store.mark_published(id).await
        {
            tracing::warn!(deployment_id = %id, error = %e, "the terminal claim could not be marked published");
        }
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

/// What [`StatusWriter::claim`] found.
#[derive(Debug)]
pub enum Claimed {
    /// No store (or it refused for good): publish, nothing arbitrates.
    Unarbitrated,
    /// This event is the deployment's terminal outcome: publish it.
    Won,
    /// This very event (same MessageId) was claimed before and is published: nothing to do.
    Published,
    /// This event was claimed before but not published yet (a first attempt did not finish):
    /// publish the stored event (or this one, when the claim did not store it).
    Unpublished(Option<Box<DeploymentEvent>>),
    /// Another terminal outcome holds the deployment: this one is not published.
    Lost(TerminalClaim),
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
