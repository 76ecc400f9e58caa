//! A durable local stand-in for Azure Service Bus, over the Service Bus REST protocol.
//!
//! Queues, and topics with subscriptions filtered by SQL rules, from a configuration that mirrors
//! `infra/` ([`NamespaceConfig::imageferry`]); send (single and batch), peek-lock receive, unlock,
//! complete, renew-lock, receive-and-delete, dead-letter queues; SAS and Entra-token checks;
//! `BrokerProperties` (scheduled enqueue, `MessageId` duplicate detection within the entity's
//! window, `TimeToLive`); the Standard tier's 256 KB message limit; lock duration, delivery count,
//! dead-lettering after the maximum delivery count (`DeadLetterReason` /
//! `DeadLetterErrorDescription`) and on expiry. Everything is kept in SQLite ([`store`]), so the
//! process can be killed at any moment and restarted on the same database without losing a
//! message. REST details: [`server`].
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use servicebus_emulator::{EmulatorOptions, start};
//! let bus = start(EmulatorOptions::new("target/bus.db".into())).await?;
//! let connection_string = bus.connection_string(); // ...;UseDevelopmentEmulator=true
//! # Ok(()) }
//! ```

pub mod auth;
pub mod broker_properties;
pub mod cli;
pub mod config;
pub mod filter;
pub mod sas;
pub mod server;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use config::{ConfigError, NamespaceConfig};
pub use store::{Store, StoreError};

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
}

impl EmulatorOptions {
    /// The imageferry namespace on any free loopback port, SAS only.
    pub fn new(database: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            database,
            config: NamespaceConfig::imageferry(),
            key_name: "RootManageSharedAccessKey".into(),
            key: None,
            entra_tenants: Vec::new(),
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

/// A running stand-in.
pub struct EmulatorHandle {
    addr: SocketAddr,
    key_name: String,
    key: String,
    shutdown: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
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
    });
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let stop = shutdown.clone();
    let app = server::router(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.notified().await })
            .await;
    });
    Ok(EmulatorHandle {
        addr,
        key_name: options.key_name,
        key,
        shutdown,
        task,
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

    /// Stops serving: waits up to two seconds for open requests (long polls end sooner than
    /// their timeout only by being dropped), then drops the rest.
    pub async fn shutdown(mut self) {
        self.shutdown.notify_one();
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}
