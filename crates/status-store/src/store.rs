//! [`StatusStore`]: record events, read statuses and timelines.

use crate::entity::{
    DeploymentStatus, EventRecord, decode_event, decode_status, event_entity, status_and_time,
    status_entity,
};
use azure_clients::table::{TableClient, TableError, UpsertMode, odata_string};
use imageferry_contract::{DeploymentEvent, Status};

/// Most statuses `list` reads before sorting by time.
const LIST_SCAN_LIMIT: usize = 5000;
/// Most events `events` returns.
const EVENTS_LIMIT: usize = 1000;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The Table service failed or refused.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The event cannot be stored (no deployment id).
    #[error("event cannot be stored: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Table(t) if t.is_transient())
    }
}

/// What [`StatusStore::record`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The event and the new current status.
    EventAndStatus,
    /// The event only: the current status is terminal or newer.
    EventOnly,
}

/// Which deployments [`StatusStore::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this image version: a version name (`1.2.3`) or a full image version id.
    pub image_version: Option<String>,
    /// Only this target tenant.
    pub target_tenant: Option<String>,
    /// At most this many (most recent first); 0 means 50.
    pub limit: usize,
}

impl ListFilter {
    /// The OData `$filter` for the status entities.
    pub fn odata(&self) -> String {
        let mut parts = vec![format!("RowKey eq {}", odata_string(crate::STATUS_ROW))];
        if let Some(s) = self.status {
            parts.push(format!("Status eq {}", odata_string(s.as_str())));
        }
        if let Some(v) = &self.image_version {
            let prop = if v.contains('/') {
                "ImageId"
            } else {
                "ImageVersion"
            };
            parts.push(format!("{prop} eq {}", odata_string(v)));
        }
        if let Some(t) = &self.target_tenant {
            parts.push(format!("TargetTenantId eq {}", odata_string(t)));
        }
        parts.join(" and ")
    }
}

/// Deployment statuses in one table (see the crate docs for the layout). Cheap to clone.
#[derive(Debug, Clone)]
pub struct StatusStore {
    client: TableClient,
    table: String,
}

impl StatusStore {
    /// A store in `table` of `client`'s account.
    pub fn new(client: TableClient, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The rollout-state entities of the same table.
    pub fn rollouts(&self) -> crate::rollout::RolloutStates {
        crate::rollout::RolloutStates::new(self.client.clone(), self.table.clone())
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The Table client.
    pub(crate) fn client(&self) -> &TableClient {
        &self.client
    }

    /// Creates the table if it does not exist (Bicep creates it in Azure; Azurite needs this).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        self.client.create_table(&self.table).await?;
        Ok(())
    }

    /// Records `event`: upserts its event entity, then merges the status entity unless the
    /// current status is terminal (a terminal status never moves back; only `succeeded` or
    /// `failed` replace `rejected`) or later than the event.
    /// Idempotent: recording the same event again writes the same rows.
    pub async fn record(&self, event: &DeploymentEvent) -> Result<Recorded, StoreError> {
        if event.deployment_id.is_empty()
            || !azure_clients::table::is_valid_key(&event.deployment_id)
        {
            return Err(StoreError::Invalid(format!(
                "deployment id {:?} is not a usable key",
                event.deployment_id
            )));
        }
        self.client
            .upsert(&self.table, &event_entity(event), UpsertMode::Replace)
            .await?;
        let current = self
            .client
            .get(&self.table, &event.deployment_id, crate::STATUS_ROW)
            .await?;
        let keep_current =
            current
                .as_ref()
                .and_then(status_and_time)
                .is_some_and(|(status, at)| {
                    if status.is_terminal() {
                        // A rejection is about one message: the claimed outcome of a deployment
                        // (succeeded, failed) of a corrected resend replaces it.
                        status != event.status
                            && !(status == Status::Rejected
                                && event.status != Status::Rejected
                                && event.status.is_terminal())
                    } else {
                        !event.status.is_terminal() && at > event.at
                    }
                });
        if keep_current {
            return Ok(Recorded::EventOnly);
        }
        self.client
            .upsert(&self.table, &status_entity(event), UpsertMode::Merge)
            .await?;
        Ok(Recorded::EventAndStatus)
    }

    /// The current status of deployment `id`, if the store knows it.
    pub async fn get(&self, id: &str) -> Result<Option<DeploymentStatus>, StoreError> {
        if !azure_clients::table::is_valid_key(id) {
            return Ok(None);
        }
        let entity = absent_if_no_table(self.client.get(&self.table, id, crate::STATUS_ROW).await)?;
        Ok(entity.flatten().as_ref().and_then(decode_status))
    }

    /// The events of deployment `id`, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<EventRecord>, StoreError> {
        let filter = format!(
            "PartitionKey eq {} and RowKey ge 'event-' and RowKey lt 'event.'",
            odata_string(id)
        );
        let entities = absent_if_no_table(
            self.client
                .query_all(&self.table, Some(&filter), EVENTS_LIMIT)
                .await,
        )?
        .unwrap_or_default();
        let mut events: Vec<EventRecord> = entities.iter().filter_map(decode_event).collect();
        events.sort_by_key(|e| e.at);
        Ok(events)
    }

    /// The deployments matching `filter`, most recently updated first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<DeploymentStatus>, StoreError> {
        let entities = absent_if_no_table(
            self.client
                .query_all(&self.table, Some(&filter.odata()), LIST_SCAN_LIMIT)
                .await,
        )?
        .unwrap_or_default();
        let mut out: Vec<DeploymentStatus> = entities.iter().filter_map(decode_status).collect();
        out.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
        out.truncate(if filter.limit == 0 { 50 } else { filter.limit });
        Ok(out)
    }
}

/// Reads of a table that does not exist yet (created by the first write when Bicep did not)
/// find nothing.
fn absent_if_no_table<T>(r: Result<T, TableError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(TableError::TableNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
