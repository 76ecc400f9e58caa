//! A durable local stand-in for Azure Service Bus, over the Service Bus REST protocol.
//!
//! The one Service Bus stand-in of the project: `imageferry dev`, the end-to-end tests (through
//! `local-run`) and the handler's tests all run on it. Queues, and topics with subscriptions
//! filtered by SQL rules, from `infra/servicebus.entities.json`, the file the Bicep deploys
//! ([`NamespaceConfig::imageferry`]); send (single and batch), peek-lock receive, unlock,
//! complete, renew-lock, receive-and-delete, dead-letter queues; SAS and Entra-token checks;
//! `BrokerProperties` (scheduled enqueue, `MessageId` duplicate detection within the entity's
//! window, `TimeToLive`); the Standard tier's 256 KB message limit; lock duration, delivery count,
//! dead-lettering after the maximum delivery count (`DeadLetterReason` /
//! `DeadLetterErrorDescription`) and on expiry. Everything is kept in SQLite ([`store`]), so the
//! process can be killed at any moment and restarted on the same database without losing a
//! message. REST details: [`server`]. For tests, the [`EmulatorHandle`] also tells what was sent
//! (duplicates flagged) and refused, and can refuse the next sends ([`journal`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use servicebus_emulator::{EmulatorOptions, start};
//! let bus = start(EmulatorOptions::new("target/bus.db".into())).await?;
//! let connection_string = bus.connection_string(); // ...;UseDevelopmentEmulator=true
//! # Ok(()) }
//! ```

pub mod auth;
pub mod cli;
pub mod config;
pub mod filter;
pub mod journal;
pub mod sas;
pub mod server;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use config::{ConfigError, NamespaceConfig};
pub use journal::SentMessage;
pub use store::{EntityCounts, Store, StoreError, Whereabouts};

/// What to start.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Listen address (`127.0.0.1:0` for any free port; give the same port to a restart).
    pub listen: String,
    /// The SQLite database file (created when missing).
    pub database: PathBuf,
    /// Entities.
    pub config: NamespaceConfig,
    /// SAS key name.
    pub key_name: String,
    /// SAS key; when `None`, the database's own (generated on first start) is used.
    pub key: Option<String>,
    /// Tenants whose Entra tokens are accepted.
    pub entra_tenants: Vec<String>,
    /// Keep every send in memory for [`EmulatorHandle::sent`] (tests; off for long runs).
    pub journal: bool,
}

impl EmulatorOptions {
    /// The imageferry namespace on any free loopback port, SAS only, no journal.
    pub fn new(database: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            database,
            config: NamespaceConfig::imageferry(),
            key_name: "RootManageSharedAccessKey".into(),
            key: None,
            entra_tenants: Vec::new(),
            journal: false,
        }
    }

    /// The imageferry namespace kept in memory (SQLite's `:memory:`), with the journal: for a
    /// test or a local run that does not outlive its process.
    pub fn in_memory() -> Self {
        Self {
            journal: true,
            ..Self::new(PathBuf::from(":memory:"))
        }
    }
}

/// Errors starting the stand-in.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("database {path}: {source}")]
    Store {
        /// File.
        path: String,
        /// Cause.
        source: StoreError,
    },
}

/// A running stand-in. Cheap to clone: every clone inspects and stops the same one.
#[derive(Clone)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    key_name: String,
    key: String,
    shared: Arc<server::Shared>,
    shutdown: Arc<tokio::sync::Notify>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Starts serving.
pub async fn start(options: EmulatorOptions) -> Result<EmulatorHandle, EmulatorError> {
    let store_error = |source| EmulatorError::Store {
        path: options.database.display().to_string(),
        source,
    };
    let store = Store::open(&options.database).map_err(store_error)?;
    let key = match options.key.clone() {
        Some(k) => k,
        None => store
            .setting_or_insert("sas-key", random_key)
            .map_err(store_error)?,
    };
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: options.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: options.listen.clone(),
            source,
        })?;
    let arrivals = options
        .config
        .receivables()
        .map(|r| (r.path.clone(), tokio::sync::Notify::new()))
        .collect::<HashMap<_, _>>();
    let shared = Arc::new(server::Shared {
        config: options.config,
        store,
        auth: auth::Auth {
            key_name: options.key_name.clone(),
            key: key.clone(),
            entra_tenants: options.entra_tenants,
        },
        arrivals,
        journal: Mutex::new(journal::Journal {
            enabled: options.journal,
            ..journal::Journal::default()
        }),
    });
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let stop = shutdown.clone();
    let app = server::router(shared.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.notified().await })
            .await;
    });
    Ok(EmulatorHandle {
        addr,
        key_name: options.key_name,
        key,
        shared,
        shutdown,
        task: Arc::new(Mutex::new(Some(task))),
    })
}

/// A random base64 SAS key (32 bytes, as the portal generates).
pub fn random_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = ring_random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn ring_random() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes
}

/// A `ServiceBusConnection` connection string in the form Microsoft's Service Bus emulator uses
/// (`UseDevelopmentEmulator=true` means plain http).
pub fn connection_string(addr: SocketAddr, key_name: &str, key: &str) -> String {
    format!(
        "Endpoint=sb://{addr}/;SharedAccessKeyName={key_name};SharedAccessKey={key};UseDevelopmentEmulator=true"
    )
}

impl EmulatorHandle {
    /// Address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The connection string for this namespace.
    pub fn connection_string(&self) -> String {
        connection_string(self.addr, &self.key_name, &self.key)
    }

    /// The namespace's entities.
    pub fn config(&self) -> &NamespaceConfig {
        &self.shared.config
    }

    /// Every message sent to the queue or topic `entity`, duplicates included, in arrival order
    /// (needs [`EmulatorOptions::journal`]).
    pub fn sent(&self, entity: &str) -> Vec<SentMessage> {
        self.shared
            .journal()
            .sent
            .iter()
            .filter(|m| m.entity.eq_ignore_ascii_case(entity))
            .cloned()
            .collect()
    }

    /// Every message sent, all entities, in arrival order.
    pub fn all(&self) -> Vec<SentMessage> {
        self.shared.journal().sent.clone()
    }

    /// The messages sent to `entity` that were kept (not dropped as duplicates), in order.
    pub fn accepted(&self, entity: &str) -> Vec<SentMessage> {
        self.sent(entity)
            .into_iter()
            .filter(|m| !m.duplicate)
            .collect()
    }

    /// Sends refused (status, reason): a bad signature, a message too large, an injected fault.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.shared.journal().refused.clone()
    }

    /// Refuses the next `n` sends with 503 Service Unavailable.
    pub fn fail_next(&self, n: u32) {
        self.shared.journal().fail_next = n;
    }

    /// Forgets the journal's sends (not the messages in the queues).
    pub fn clear(&self) {
        self.shared.journal().sent.clear();
    }

    /// Counts per queue and subscription (as `GET /$emulator/entities`).
    pub fn counts(&self) -> Result<Vec<EntityCounts>, StoreError> {
        self.shared.store.counts(&self.shared.config)
    }

    /// Where the message with `sequence_number` is now (`None`: completed or expired).
    pub fn whereabouts(&self, sequence_number: i64) -> Result<Option<Whereabouts>, StoreError> {
        self.shared.store.whereabouts(sequence_number)
    }

    /// Of the receive paths `entities` (a queue or subscription, or its `/$DeadLetterQueue`), the
    /// index of the one whose next message is due first, and when it is due (unix ms; now or
    /// earlier when it can be received at once). `None` when they are all empty.
    pub fn next_due(&self, entities: &[&str]) -> Result<Option<(usize, i64)>, StoreError> {
        let paths: Vec<(String, bool)> = entities
            .iter()
            .map(|e| match self.shared.config.receive_path(e) {
                Some((r, dead_letter)) => (r.path.clone(), dead_letter),
                None => (e.to_ascii_lowercase(), false),
            })
            .collect();
        self.shared.store.next_due(&paths)
    }

    /// Stops serving: waits up to two seconds for open requests (long polls end sooner than
    /// their timeout only by being dropped), then drops the rest.
    pub async fn shutdown(&self) {
        self.shutdown.notify_one();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task
            && tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}
