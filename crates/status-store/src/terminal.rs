//! The terminal outcome of a deployment, claimed once: entity `terminal` of the deployment's
//! partition, written with Insert Entity (insert-only: 409 `EntityAlreadyExists` for every writer
//! after the first). The writer that inserts it is the one that publishes the terminal event; any
//! other terminal outcome of the same deployment (a duplicate delivery that failed, a second
//! request, a dead-lettered copy) finds the claim and emits nothing.
//!
//! | property | meaning |
//! |---|---|
//! | `Status` | `succeeded`, `failed` or `rejected` |
//! | `MessageId` | the terminal event's MessageId |
//! | `Step`, `At` | who claimed it, when |
//! | `Published` | set once the event is on the events topic |
//! | `EventParts`, `Event0`… | the event as JSON, in parts of at most [`PART_BYTES`] (a property holds 64 KiB) |
//!
//! The stored event lets a later holder of the same claim (a redelivery of the winner, or the
//! dead-letter reader) publish exactly the winner's event again when the winner did not get to
//! it; Service Bus duplicate detection drops a repeat of its MessageId.

use crate::store::{StatusStore, StoreError};
use azure_clients::table::{Entity, TableError, UpsertMode, is_valid_key};
use imageferry_contract::{DeploymentEvent, Status};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RowKey of the terminal-outcome entity.
pub const TERMINAL_ROW: &str = "terminal";
/// Largest part of the stored event (UTF-8 bytes, so at most as many UTF-16 units: well inside
/// the 64 KiB of a string property).
pub const PART_BYTES: usize = 30_000;
/// Largest event stored with the claim (the entity limit is 1 MiB); a larger one is claimed
/// without it.
pub const MAX_STORED_EVENT: usize = 512 * 1024;

/// The terminal outcome a deployment has.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalClaim {
    /// Its status.
    pub status: Status,
    /// The terminal event's MessageId.
    pub message_id: String,
    /// Whether the event was published.
    pub published: bool,
    /// When it was claimed.
    pub at: Option<OffsetDateTime>,
    /// The event, when it was stored with the claim.
    pub event: Option<Box<DeploymentEvent>>,
}

/// What [`StatusStore::claim_terminal`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This call inserted the claim: publish the event.
    Won,
    /// The deployment already has this terminal outcome (possibly this very event, when a
    /// first attempt reached the service).
    Held(TerminalClaim),
}

impl StatusStore {
    /// Claims the terminal outcome of `event`'s deployment for `event`, published with
    /// `message_id`. Creates the table when it does not exist yet.
    pub async fn claim_terminal(
        &self,
        event: &DeploymentEvent,
        message_id: &str,
    ) -> Result<Claim, StoreError> {
        let id = &event.deployment_id;
        if id.is_empty() || !is_valid_key(id) || !event.status.is_terminal() {
            return Err(StoreError::Invalid(format!(
                "no terminal outcome to claim for deployment {id:?} ({})",
                event.status
            )));
        }
        let entity = claim_entity(event, message_id);
        let inserted = match self.client().insert(self.table(), &entity).await {
            Err(TableError::TableNotFound(_)) => {
                self.ensure_table().await?;
                self.client().insert(self.table(), &entity).await?
            }
            other => other?,
        };
        if inserted {
            return Ok(Claim::Won);
        }
        match self.terminal(id).await? {
            Some(held) => Ok(Claim::Held(held)),
            // Deleted between the insert and the read (by hand): nothing holds it now.
            None => Err(StoreError::Table(TableError::Unavailable(
                "the terminal claim disappeared while it was read".into(),
            ))),
        }
    }

    /// The terminal outcome deployment `id` has, if any.
    pub async fn terminal(&self, id: &str) -> Result<Option<TerminalClaim>, StoreError> {
        if !is_valid_key(id) {
            return Ok(None);
        }
        match self.client().get(self.table(), id, TERMINAL_ROW).await {
            Ok(entity) => Ok(entity.as_ref().and_then(decode_claim)),
            Err(TableError::TableNotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records that the claimed event of deployment `id` is on the events topic.
    pub async fn mark_published(&self, id: &str) -> Result<(), StoreError> {
        let mut entity = Entity::new();
        entity.insert("PartitionKey".into(), id.into());
        entity.insert("RowKey".into(), TERMINAL_ROW.into());
        entity.insert("Published".into(), true.into());
        self.client()
            .upsert(self.table(), &entity, UpsertMode::Merge)
            .await?;
        Ok(())
    }
}

fn claim_entity(event: &DeploymentEvent, message_id: &str) -> Entity {
    let mut e = Entity::new();
    e.insert("PartitionKey".into(), event.deployment_id.clone().into());
    e.insert("RowKey".into(), TERMINAL_ROW.into());
    e.insert("Status".into(), event.status.as_str().into());
    e.insert("Step".into(), event.step.as_str().into());
    e.insert("MessageId".into(), message_id.into());
    e.insert(
        "At".into(),
        event.at.format(&Rfc3339).unwrap_or_default().into(),
    );
    e.insert("Published".into(), false.into());
    let json = serde_json::to_string(event).unwrap_or_default();
    let parts = if json.len() <= MAX_STORED_EVENT {
        split(&json)
    } else {
        Vec::new()
    };
    e.insert("EventParts".into(), json!(parts.len()));
    for (i, part) in parts.into_iter().enumerate() {
        e.insert(format!("Event{i}"), part.into());
    }
    e
}

/// `text` in parts of at most [`PART_BYTES`], cut at character boundaries.
fn split(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(PART_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        parts.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    parts
}

fn decode_claim(e: &Entity) -> Option<TerminalClaim> {
    let text = |k: &str| e.get(k).and_then(Value::as_str);
    let status: Status = serde_json::from_value(json!(text("Status")?)).ok()?;
    let parts = e.get("EventParts").and_then(Value::as_u64).unwrap_or(0);
    let json: Option<String> = (parts > 0)
        .then(|| (0..parts).map(|i| text(&format!("Event{i}"))).collect())
        .flatten();
    Some(TerminalClaim {
        status,
        message_id: text("MessageId").unwrap_or_default().to_owned(),
        published: e.get("Published").and_then(Value::as_bool).unwrap_or(false),
        at: text("At").and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
        event: json
            .and_then(|j| serde_json::from_str(&j).ok())
            .map(Box::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use imageferry_contract::Step;

    #[test]
    fn the_event_is_stored_in_parts_and_read_back_whole() {
        let mut event = DeploymentEvent::new(
            "d-1",
            Status::Rejected,
            Step::DeploymentRequested,
            OffsetDateTime::UNIX_EPOCH,
            "é".repeat(40_000),
        );
        event.raw_body = Some("x".repeat(70_000));
        let entity = claim_entity(&event, "d-1:rejected:m");
        let parts = entity["EventParts"].as_u64().unwrap();
        assert!(parts >= 6, "{parts}");
        for i in 0..parts {
            let part = entity[&format!("Event{i}")].as_str().unwrap();
            assert!(part.len() <= PART_BYTES);
        }
        let claim = decode_claim(&entity).unwrap();
        assert_eq!(claim.status, Status::Rejected);
        assert_eq!(claim.message_id, "d-1:rejected:m");
        assert!(!claim.published);
        assert_eq!(claim.event, Some(Box::new(event)));
    }
}
