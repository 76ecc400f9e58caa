//! Which version each rollout is on, for the supersede rules: one entity per rollout and image
//! definition (a rollout's pattern may match several) in the status table: PartitionKey
//! `rollout-{name}`, RowKey `definition-{definition name, lower case}` (deployment partitions use
//! RowKeys `status` and `event-…`, so the two never meet), with `VersionId`, `State` (`running`,
//! `halted`, `completed`, `superseded`) and `UpdatedAt`.
//!
//! Writes are upserts, last writer wins: two versions of one image published within the same
//! seconds could race, which a weekly or nightly image pipeline does not do.
//!
//! Written by the handler's rollout steps; read by them (supersede rules) and by `imageferry
//! rollout` (a pipeline's gate on a whole rollout).

use azure_clients::table::{Entity, TableClient, TableError, UpsertMode, odata_string};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the rollout of one version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Rings are being started.
    Running,
    /// A ring failed or timed out.
    Halted,
    /// Every ring succeeded.
    Completed,
    /// A newer version took over.
    Superseded,
}

impl RunState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Halted => "halted",
            RunState::Completed => "completed",
            RunState::Superseded => "superseded",
        }
    }

    /// Whether no further ring of this version starts.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunState::Running)
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunState::Running,
            "halted" => RunState::Halted,
            "completed" => RunState::Completed,
            "superseded" => RunState::Superseded,
            _ => return None,
        })
    }
}

/// The version a rollout is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Its image version id.
    pub version_id: String,
    /// Its state.
    pub state: RunState,
}

/// One rollout of one image definition that is on a given version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRollout {
    /// The rollout's name in the rollout config.
    pub rollout: String,
    /// The image definition (lower case).
    pub definition: String,
    /// Its state.
    pub state: RunState,
    /// When the state was written (RFC 3339), if readable.
    pub updated_at: Option<OffsetDateTime>,
}

/// Most rollout entities one scan reads.
const VERSION_SCAN_LIMIT: usize = 1000;

/// The rollout-state entities.
#[derive(Debug, Clone)]
pub struct RolloutStates {
    client: TableClient,
    table: String,
}

impl RolloutStates {
    /// Over `table` (the status table) with `client`.
    pub fn new(client: TableClient, table: impl Into<String>) -> Self {
        RolloutStates {
            client,
            table: table.into(),
        }
    }

    fn keys(rollout: &str, definition: &str) -> (String, String) {
        (
            format!("rollout-{rollout}"),
            format!("definition-{}", definition.to_ascii_lowercase()),
        )
    }

    /// The version `rollout` is on for image `definition`; `None` before its first version.
    pub async fn current(
        &self,
        rollout: &str,
        definition: &str,
    ) -> Result<Option<Current>, TableError> {
        let (pk, rk) = Self::keys(rollout, definition);
        let entity = match self.client.get(&self.table, &pk, &rk).await {
            Ok(e) => e,
            Err(TableError::TableNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(entity.and_then(|e| {
            Some(Current {
                version_id: e.get("VersionId")?.as_str()?.to_string(),
                state: RunState::parse(e.get("State")?.as_str()?)?,
            })
        }))
    }

    /// Every rollout-state entity, as (version id, rollout), by rollout name: one query, which
    /// `imageferry rollout` splits into the rollouts on its version and the others.
    pub async fn all(&self) -> Result<Vec<(String, VersionRollout)>, TableError> {
        // Partition keys `rollout-…` sort between `rollout-` and `rollout.` ('.' follows '-').
        let filter = format!(
            "PartitionKey ge {} and PartitionKey lt {}",
            odata_string("rollout-"),
            odata_string("rollout.")
        );
        let entities = match self
            .client
            .query_all(&self.table, Some(&filter), VERSION_SCAN_LIMIT)
            .await
        {
            Ok(e) => e,
            Err(TableError::TableNotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut out: Vec<(String, VersionRollout)> = entities
            .iter()
            .filter_map(|e| {
                let text = |name: &str| e.get(name).and_then(|v| v.as_str());
                Some((
                    text("VersionId")?.to_string(),
                    VersionRollout {
                        rollout: text("PartitionKey")?.strip_prefix("rollout-")?.to_string(),
                        definition: text("RowKey")?.strip_prefix("definition-")?.to_string(),
                        state: RunState::parse(text("State")?)?,
                        updated_at: text("UpdatedAt")
                            .and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok()),
                    },
                ))
            })
            .collect();
        out.sort_by(|a, b| a.1.rollout.cmp(&b.1.rollout));
        Ok(out)
    }

    /// Records that `rollout` is on `version_id` of image `definition`, in `state`.
    pub async fn set(
        &self,
        rollout: &str,
        definition: &str,
        version_id: &str,
        state: RunState,
        at: OffsetDateTime,
    ) -> Result<(), TableError> {
        let (pk, rk) = Self::keys(rollout, definition);
        let mut entity = Entity::new();
        entity.insert("PartitionKey".into(), Value::from(pk));
        entity.insert("RowKey".into(), Value::from(rk));
        entity.insert("VersionId".into(), Value::from(version_id));
        entity.insert("State".into(), Value::from(state.as_str()));
        entity.insert(
            "UpdatedAt".into(),
            Value::from(at.format(&Rfc3339).unwrap_or_default()),
        );
        match self
            .client
            .upsert(&self.table, &entity, UpsertMode::Replace)
            .await
        {
            Err(TableError::TableNotFound(_)) => {
                self.client.create_table(&self.table).await?;
                self.client
                    .upsert(&self.table, &entity, UpsertMode::Replace)
                    .await
            }
            other => other,
        }
    }
}

/// Whether a newer version may start while the rollout is on `current` under `rule`.
pub fn may_take_over(current: RunState, rule: imageferry_contract::rollout::Supersede) -> bool {
    use imageferry_contract::rollout::Supersede;
    match (current, rule) {
        (RunState::Completed | RunState::Superseded, _) => true,
        (RunState::Halted, Supersede::Never) => false,
        (RunState::Halted, _) => true,
        (RunState::Running, Supersede::HaltedOrRunning) => true,
        (RunState::Running, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supersede_rules() {
        use imageferry_contract::rollout::Supersede::*;
        for rule in [Never, Halted, HaltedOrRunning] {
            assert!(may_take_over(RunState::Completed, rule));
            assert!(may_take_over(RunState::Superseded, rule));
        }
        assert!(!may_take_over(RunState::Halted, Never));
        assert!(may_take_over(RunState::Halted, Halted));
        assert!(may_take_over(RunState::Halted, HaltedOrRunning));
        assert!(!may_take_over(RunState::Running, Never));
        assert!(!may_take_over(RunState::Running, Halted));
        assert!(may_take_over(RunState::Running, HaltedOrRunning));
    }
}
