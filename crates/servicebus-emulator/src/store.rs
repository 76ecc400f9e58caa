//! Messages, locks, duplicate-detection history and operation counts, persisted in SQLite
//! (WAL journal, `synchronous=NORMAL`: every committed operation survives the process being
//! killed; only an operating-system crash can lose the last transactions).
//!
//! Each operation is one transaction, so a kill between two operations leaves a consistent state:
//! a send is all in (every subscription copy and the duplicate-detection entry) or not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::config::{NamespaceConfig, Receivable, Sendable};
use crate::filter::MessageProperties;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A message as sent.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// Body bytes.
    pub body: Vec<u8>,
    /// Content type.
    pub content_type: Option<String>,
    /// `MessageId`; a random one is assigned when `None`.
    pub message_id: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `Label`.
    pub label: Option<String>,
    /// `SessionId`.
    pub session_id: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// `ReplyTo`.
    pub reply_to: Option<String>,
    /// `TimeToLive`.
    pub time_to_live: Option<Duration>,
    /// `ScheduledEnqueueTimeUtc`, unix milliseconds.
    pub scheduled_enqueue_ms: Option<i64>,
    /// Application properties.
    pub properties: BTreeMap<String, serde_json::Value>,
}

/// A stored message as a receiver gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// `SequenceNumber` (unique in the namespace).
    pub sequence_number: i64,
    /// Entity path it sits in (queue or subscription).
    pub entity: String,
    /// True when in the entity's dead-letter queue.
    pub dead_letter: bool,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Content type.
    pub content_type: Option<String>,
    /// `MessageId`.
    pub message_id: String,
    /// System properties as sent (`CorrelationId`, `Label`, `To`, `ReplyTo`, `SessionId`).
    pub system: BTreeMap<String, String>,
    /// Application properties (dead-lettered messages carry `DeadLetterReason` and
    /// `DeadLetterErrorDescription`, as Service Bus adds them).
    pub properties: BTreeMap<String, serde_json::Value>,
    /// When it was enqueued (or became visible, for a scheduled message), unix ms.
    pub enqueued_ms: i64,
    /// `ScheduledEnqueueTimeUtc`, unix ms.
    pub scheduled_ms: Option<i64>,
    /// When it expires, unix ms.
    pub expires_ms: Option<i64>,
    /// Deliveries so far, this one included.
    pub delivery_count: u32,
    /// The lock token of this delivery.
    pub lock_token: Option<String>,
    /// Lock expiry, unix ms.
    pub locked_until_ms: Option<i64>,
    /// Time to live as sent.
    pub time_to_live: Option<Duration>,
}

/// What a settle call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Done.
    Ok,
    /// No message holds that lock (completed already, lock expired and taken, wrong token).
    LockLost,
}

/// Outcome of a send to one entity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendOutcome {
    /// Messages stored (a topic message counts once per matching subscription).
    pub stored: usize,
    /// Per message of the batch, in order: dropped by duplicate detection.
    pub duplicate: Vec<bool>,
}

impl SendOutcome {
    /// Messages dropped by duplicate detection.
    pub fn duplicates(&self) -> usize {
        self.duplicate.iter().filter(|d| **d).count()
    }
}

/// Where a message is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whereabouts {
    /// The queue or subscription.
    pub entity: String,
    /// In its dead-letter queue.
    pub dead_letter: bool,
}

/// Counts of one entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EntityCounts {
    /// Entity path.
    pub entity: String,
    /// Visible now, unlocked.
    pub active: u64,
    /// Scheduled for later.
    pub scheduled: u64,
    /// Locked by a receiver.
    pub locked: u64,
    /// In the dead-letter queue.
    pub dead_lettered: u64,
}

/// The SQLite store.
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    dead_letter INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    content_type TEXT,
    system TEXT NOT NULL,
    properties TEXT NOT NULL,
    ttl_ms INTEGER,
    enqueued_ms INTEGER NOT NULL,
    scheduled_ms INTEGER,
    visible_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until_ms INTEGER
);
CREATE INDEX IF NOT EXISTS messages_head ON messages (entity, dead_letter, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_lock ON messages (lock_token);
CREATE TABLE IF NOT EXISTS duplicate_history (
    entity TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (entity, message_id)
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    name TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
";

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of a namespace setting, stored with `make()` on first use.
    pub fn setting_or_insert(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let conn = self.conn();
        if let Some(v) = conn
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?
        {
            return Ok(v);
        }
        let value = make();
        conn.execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2)",
            params![name, value],
        )?;
        Ok(value)
    }

    /// Counts one operation (`send`, `peek-lock`, `complete`, ...), persisted.
    pub fn count(&self, operation: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO operations (name, count) VALUES (?1, 1)
             ON CONFLICT(name) DO UPDATE SET count = count + 1",
            params![operation],
        )?;
        Ok(())
    }

    /// Operation counts since the database was created.
    pub fn operations(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, count FROM operations")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a batch sent to `sendable` in one transaction: duplicate detection on the queue or
    /// topic, then one copy per queue / matching subscription.
    pub fn send(
        &self,
        sendable: &Sendable,
        batch: Vec<NewMessage>,
    ) -> Result<SendOutcome, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut outcome = SendOutcome::default();
        for message in batch {
            let explicit_id = message.message_id.is_some();
            let message_id = message
                .message_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            if let (Some(window), true) = (sendable.duplicate_window, explicit_id) {
                let seen: Option<i64> = tx
                    .query_row(
                        "SELECT at_ms FROM duplicate_history WHERE entity = ?1 AND message_id = ?2",
                        params![sendable.path, message_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if seen.is_some_and(|at| at > now - ms(window)) {
                    outcome.duplicate.push(true);
                    continue;
                }
                tx.execute(
                    "INSERT INTO duplicate_history (entity, message_id, at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(entity, message_id) DO UPDATE SET at_ms = ?3",
                    params![sendable.path, message_id, now],
                )?;
            }
            outcome.duplicate.push(false);
            let mut system = BTreeMap::new();
            for (k, v) in [
                ("CorrelationId", &message.correlation_id),
                ("Label", &message.label),
                ("SessionId", &message.session_id),
                ("To", &message.to),
                ("ReplyTo", &message.reply_to),
            ] {
                if let Some(v) = v {
                    system.insert(k.to_string(), v.clone());
                }
            }
            let mut sys = BTreeMap::new();
            sys.insert("messageid", message_id.clone());
            for (k, v) in &system {
                sys.insert(sys_name(k), v.clone());
            }
            if let Some(ct) = &message.content_type {
                sys.insert("contenttype", ct.clone());
            }
            let view = MessageProperties {
                user: &message.properties,
                sys,
            };
            let system_json = serde_json::to_string(&system).unwrap_or_default();
            let props_json = serde_json::to_string(&message.properties).unwrap_or_default();
            let visible = message.scheduled_enqueue_ms.unwrap_or(now).max(now);
            for target in sendable.targets.iter().filter(|t| t.accepts(&view)) {
                let ttl = [message.time_to_live, target.entity.default_ttl]
                    .into_iter()
                    .flatten()
                    .min();
                tx.execute(
                    "INSERT INTO messages (entity, message_id, body, content_type, system, properties,
                        ttl_ms, enqueued_ms, scheduled_ms, visible_ms, expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        target.entity.path,
                        message_id,
                        message.body,
                        message.content_type,
                        system_json,
                        props_json,
                        message.time_to_live.map(ms),
                        visible,
                        message.scheduled_enqueue_ms,
                        visible,
                        ttl.map(|t| visible.saturating_add(ms(t))),
                    ],
                )?;
                outcome.stored += 1;
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Locks the first available message of `entity` (or its dead-letter queue), moving expired
    /// messages and messages past the maximum delivery count to the dead-letter queue on the way.
    pub fn peek_lock(
        &self,
        entity: &Receivable,
        dead_letter: bool,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = loop {
            let candidate: Option<(i64, i64, Option<i64>, Option<i64>)> = tx
                .query_row(
                    "SELECT seq, delivery_count, expires_ms, locked_until_ms FROM messages
                     WHERE entity = ?1 AND dead_letter = ?2 AND visible_ms <= ?3
                       AND (locked_until_ms IS NULL OR locked_until_ms <= ?3)
                     ORDER BY seq LIMIT 1",
                    params![entity.path, dead_letter, now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((seq, deliveries, expires, _)) = candidate else {
                break None;
            };
            if !dead_letter && expires.is_some_and(|e| e <= now) {
                if entity.dead_letter_on_expiration {
                    dead_letter_in(
                        &tx,
                        seq,
                        "TTLExpiredException",
                        "The message expired and was dead lettered.",
                    )?;
                } else {
                    tx.execute("DELETE FROM messages WHERE seq = ?1", params![seq])?;
                }
                continue;
            }
            if !dead_letter && deliveries as u32 >= entity.max_delivery_count {
                // Its last lock expired unsettled.
                dead_letter_in(
                    &tx,
                    seq,
                    "MaxDeliveryCountExceeded",
                    &max_delivery_description(entity),
                )?;
                continue;
            }
            let token = uuid::Uuid::new_v4().to_string();
            tx.execute(
                "UPDATE messages SET delivery_count = delivery_count + 1, lock_token = ?2,
                    locked_until_ms = ?3 WHERE seq = ?1",
                params![seq, token, now + ms(entity.lock_duration)],
            )?;
            break Some(seq);
        };
        let message = match found {
            Some(seq) => Some(read(&tx, seq)?),
            None => None,
        };
        tx.commit()?;
        Ok(message)
    }

    /// Receive-and-delete (destructive read).
    pub fn receive_and_delete(
        &self,
        entity: &Receivable,
        dead_letter: bool,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let Some(message) = self.peek_lock(entity, dead_letter)? else {
            return Ok(None);
        };
        self.conn().execute(
            "DELETE FROM messages WHERE seq = ?1",
            params![message.sequence_number],
        )?;
        Ok(Some(message))
    }

    fn locked(
        tx: &rusqlite::Transaction<'_>,
        entity: &str,
        dead_letter: bool,
        id: &str,
        token: &str,
        now: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(tx
            .query_row(
                "SELECT seq, delivery_count FROM messages
                 WHERE lock_token = ?1 AND entity = ?2 AND dead_letter = ?3 AND locked_until_ms > ?4
                   AND (message_id = ?5 OR CAST(seq AS TEXT) = ?5)",
                params![token, entity, dead_letter, now, id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Completes (deletes) a locked message.
    pub fn complete(
        &self,
        entity: &Receivable,
        dead_letter: bool,
        id: &str,
        token: &str,
    ) -> Result<Settled, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some((seq, _)) = Self::locked(&tx, &entity.path, dead_letter, id, token, now)? else {
            return Ok(Settled::LockLost);
        };
        tx.execute("DELETE FROM messages WHERE seq = ?1", params![seq])?;
        tx.commit()?;
        Ok(Settled::Ok)
    }

    /// Unlocks (abandons) a locked message; past the maximum delivery count it is dead-lettered.
    pub fn unlock(
        &self,
        entity: &Receivable,
        dead_letter: bool,
        id: &str,
        token: &str,
    ) -> Result<Settled, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some((seq, deliveries)) = Self::locked(&tx, &entity.path, dead_letter, id, token, now)?
        else {
            return Ok(Settled::LockLost);
        };
        if !dead_letter && deliveries as u32 >= entity.max_delivery_count {
            dead_letter_in(
                &tx,
                seq,
                "MaxDeliveryCountExceeded",
                &max_delivery_description(entity),
            )?;
        } else {
            tx.execute(
                "UPDATE messages SET lock_token = NULL, locked_until_ms = NULL WHERE seq = ?1",
                params![seq],
            )?;
        }
        tx.commit()?;
        Ok(Settled::Ok)
    }

    /// Renews a lock for another lock duration; returns the new expiry (unix ms).
    pub fn renew(
        &self,
        entity: &Receivable,
        dead_letter: bool,
        id: &str,
        token: &str,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some((seq, _)) = Self::locked(&tx, &entity.path, dead_letter, id, token, now)? else {
            return Ok(None);
        };
        let until = now + ms(entity.lock_duration);
        tx.execute(
            "UPDATE messages SET locked_until_ms = ?2 WHERE seq = ?1",
            params![seq, until],
        )?;
        tx.commit()?;
        Ok(Some(until))
    }

    /// Counts per queue and subscription.
    pub fn counts(&self, config: &NamespaceConfig) -> Result<Vec<EntityCounts>, StoreError> {
        let now = now_ms();
        let conn = self.conn();
        let mut out = Vec::new();
        for entity in config.receivables() {
            let count = |sql: &str| -> Result<u64, StoreError> {
                Ok(conn.query_row(sql, params![entity.path, now], |r| r.get::<_, i64>(0))? as u64)
            };
            out.push(EntityCounts {
                entity: entity.path.clone(),
                active: count(
                    "SELECT COUNT(*) FROM messages WHERE entity = ?1 AND dead_letter = 0 AND visible_ms <= ?2
                       AND (locked_until_ms IS NULL OR locked_until_ms <= ?2)",
                )?,
                scheduled: count(
                    "SELECT COUNT(*) FROM messages WHERE entity = ?1 AND dead_letter = 0 AND visible_ms > ?2",
                )?,
                locked: count(
                    "SELECT COUNT(*) FROM messages WHERE entity = ?1 AND dead_letter = 0 AND locked_until_ms > ?2",
                )?,
                dead_lettered: count(
                    "SELECT COUNT(*) FROM messages WHERE entity = ?1 AND dead_letter = 1 AND ?2 = ?2",
                )?,
            });
        }
        Ok(out)
    }

    /// Time of the next scheduled message or lock expiry of `entity`, unix ms (for long polls).
    pub fn next_wakeup(&self, entity: &str, dead_letter: bool) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        Ok(self.conn().query_row(
            "SELECT MIN(MAX(visible_ms, COALESCE(locked_until_ms, 0))) FROM messages
             WHERE entity = ?1 AND dead_letter = ?2 AND (visible_ms > ?3 OR locked_until_ms > ?3)",
            params![entity, dead_letter, now],
            |r| r.get(0),
        )?)
    }
}

impl Store {
    /// Where the message with `sequence_number` is (`None`: completed, expired or never stored).
    pub fn whereabouts(&self, sequence_number: i64) -> Result<Option<Whereabouts>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT entity, dead_letter FROM messages WHERE seq = ?1",
                params![sequence_number],
                |r| {
                    Ok(Whereabouts {
                        entity: r.get(0)?,
                        dead_letter: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Of `entities` (queue or subscription paths, each possibly its dead-letter queue), the one
    /// whose next receivable message comes first (visible soonest, then lowest sequence number),
    /// with the time it is (or becomes) visible, unix ms; locked messages count from their lock's
    /// expiry.
    pub fn next_due(
        &self,
        entities: &[(String, bool)],
    ) -> Result<Option<(usize, i64)>, StoreError> {
        let conn = self.conn();
        let mut best: Option<(i64, i64, usize)> = None;
        for (i, (entity, dead_letter)) in entities.iter().enumerate() {
            let found: Option<(i64, i64)> = conn
                .query_row(
                    "SELECT MAX(visible_ms, COALESCE(locked_until_ms, 0)) AS due, seq FROM messages
                     WHERE entity = ?1 AND dead_letter = ?2 ORDER BY due, seq LIMIT 1",
                    params![entity, dead_letter],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((due, seq)) = found
                && best.is_none_or(|(d, s, _)| (due, seq) < (d, s))
            {
                best = Some((due, seq, i));
            }
        }
        Ok(best.map(|(due, _, i)| (i, due)))
    }
}

fn sys_name(name: &str) -> &'static str {
    match name {
        "CorrelationId" => "correlationid",
        "Label" => "label",
        "SessionId" => "sessionid",
        "To" => "to",
        _ => "replyto",
    }
}

fn max_delivery_description(entity: &Receivable) -> String {
    format!(
        "Message could not be consumed after {} delivery attempts.",
        entity.max_delivery_count
    )
}

fn dead_letter_in(
    tx: &rusqlite::Transaction<'_>,
    seq: i64,
    reason: &str,
    description: &str,
) -> Result<(), StoreError> {
    let props: String = tx.query_row(
        "SELECT properties FROM messages WHERE seq = ?1",
        params![seq],
        |r| r.get(0),
    )?;
    let mut props: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&props).unwrap_or_default();
    props.insert("DeadLetterReason".into(), reason.into());
    props.insert("DeadLetterErrorDescription".into(), description.into());
    tx.execute(
        "UPDATE messages SET dead_letter = 1, lock_token = NULL, locked_until_ms = NULL,
            properties = ?2, expires_ms = NULL WHERE seq = ?1",
        params![seq, serde_json::Value::Object(props).to_string()],
    )?;
    tracing::info!(seq, reason, "dead-lettered");
    Ok(())
}

fn read(tx: &rusqlite::Transaction<'_>, seq: i64) -> Result<StoredMessage, StoreError> {
    Ok(tx.query_row(
        "SELECT seq, entity, dead_letter, body, content_type, message_id, system, properties,
            enqueued_ms, scheduled_ms, expires_ms, delivery_count, lock_token, locked_until_ms, ttl_ms
         FROM messages WHERE seq = ?1",
        params![seq],
        |r| {
            let system: String = r.get(6)?;
            let props: String = r.get(7)?;
            Ok(StoredMessage {
                sequence_number: r.get(0)?,
                entity: r.get(1)?,
                dead_letter: r.get(2)?,
                body: r.get(3)?,
                content_type: r.get(4)?,
                message_id: r.get(5)?,
                system: serde_json::from_str(&system).unwrap_or_default(),
                properties: serde_json::from_str(&props).unwrap_or_default(),
                enqueued_ms: r.get(8)?,
                scheduled_ms: r.get(9)?,
                expires_ms: r.get(10)?,
                delivery_count: r.get::<_, i64>(11)? as u32,
                lock_token: r.get(12)?,
                locked_until_ms: r.get(13)?,
                time_to_live: r
                    .get::<_, Option<i64>>(14)?
                    .map(|t| Duration::from_millis(t.max(0) as u64)),
            })
        },
    )?)
}
