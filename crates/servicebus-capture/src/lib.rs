//! A capture of Service Bus sends.
//!
//! [`start`] serves the Service Bus REST *send* protocol (`POST /{entity}/messages`, learn.microsoft.com
//! /rest/api/servicebus/send-message-to-queue and send-message-batch) on a loopback port, checks the
//! SAS signature against its own key, parses `BrokerProperties` and the custom-property headers, and
//! records every message per entity. Like an entity with duplicate detection it drops a message whose
//! `MessageId` it has already accepted (answering 201 as Service Bus does) and flags it as a duplicate.
//!
//! Tests and the local run use it as the "Service Bus" the handler sends to, then deliver the
//! recorded messages to the next function with [`CapturedMessage::host_message`] and
//! `functions_runtime::host_wire`, which encodes them the way the Functions host does.

mod broker_properties;
mod sas;
mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use time::OffsetDateTime;

pub use broker_properties::{BrokerProperties, format_rfc1123, parse_rfc1123};
pub use sas::{SasError, sign as sas_sign};

/// One message as the capture received it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturedMessage {
    /// Queue or topic the message was sent to.
    pub entity: String,
    /// Sequence number assigned by the capture, unique across entities, in arrival order.
    pub sequence_number: i64,
    /// The body as text.
    pub body: String,
    /// `Content-Type` of the send request (the message's content type).
    pub content_type: Option<String>,
    /// Broker properties sent in the `BrokerProperties` header.
    pub broker: BrokerProperties,
    /// Custom properties (application properties), from the plain headers.
    pub application_properties: BTreeMap<String, serde_json::Value>,
    /// When the capture accepted the message.
    #[serde(with = "time::serde::rfc3339")]
    pub enqueued_time: OffsetDateTime,
    /// True when a message with the same `MessageId` had already been accepted for this entity;
    /// such a message is recorded but never delivered.
    pub duplicate: bool,
}

impl CapturedMessage {
    /// When the message becomes visible: its `ScheduledEnqueueTimeUtc`, or its enqueue time.
    pub fn visible_at(&self) -> OffsetDateTime {
        self.broker
            .scheduled_enqueue_time_utc
            .unwrap_or(self.enqueued_time)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The message as the Functions host hands it to a function on delivery `delivery_count`
    /// (encode it with [`functions_runtime::host_wire::request_body`]).
    pub fn host_message(&self, delivery_count: u32) -> functions_runtime::host_wire::HostMessage {
        let mut message = functions_runtime::host_wire::HostMessage::new(self.body.clone());
        message.message_id = self.broker.message_id.clone();
        message.delivery_count = delivery_count;
        message.enqueued_time = self.visible_at();
        message.sequence_number = self.sequence_number;
        message.correlation_id = self.broker.correlation_id.clone();
        message.content_type = self.content_type.clone();
        message.subject = self.broker.label.clone();
        message.time_to_live = self.broker.time_to_live.map(time::Duration::seconds_f64);
        message.application_properties = self
            .application_properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        message
    }
}

/// Largest message body the capture accepts (Service Bus Standard tier: 256 KB); larger sends
/// are refused with 403 `MessageSizeExceeded`.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Settings of a capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Name of the shared access key in the connection string.
    pub key_name: String,
    /// Base64 shared access key; random when `None`.
    pub key: Option<String>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            key_name: "RootManageSharedAccessKey".into(),
            key: None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) messages: Vec<CapturedMessage>,
    pub(crate) next_sequence: i64,
    /// Sends still to be refused with 503 (fault injection).
    pub(crate) fail_next: u32,
    /// Requests refused, with status and reason.
    pub(crate) refused: Vec<(u16, String)>,
}

/// A running capture.
#[derive(Clone)]
pub struct CaptureHandle {
    addr: SocketAddr,
    key_name: String,
    key: String,
    state: Arc<Mutex<State>>,
    shutdown: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for CaptureHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureHandle")
            .field("addr", &self.addr)
            .field("key_name", &self.key_name)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Errors starting a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Starts a capture on `addr` (use `127.0.0.1:0` for any free port).
pub async fn start(addr: &str, options: CaptureOptions) -> Result<CaptureHandle, CaptureError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CaptureError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| CaptureError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let key = options.key.unwrap_or_else(random_key);
    let handle = CaptureHandle {
        addr: local,
        key_name: options.key_name,
        key,
        state: Arc::default(),
        shutdown: Arc::default(),
    };
    let app = server::router(handle.clone());
    let stop = handle.shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.notified().await })
            .await;
    });
    Ok(handle)
}

fn random_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl CaptureHandle {
    /// Address the capture listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `ServiceBusConnection` connection string for this capture, in the form Microsoft's
    /// Service Bus emulator uses (`UseDevelopmentEmulator=true` means plain http).
    pub fn connection_string(&self) -> String {
        format!(
            "Endpoint=sb://{}/;SharedAccessKeyName={};SharedAccessKey={};UseDevelopmentEmulator=true",
            self.addr, self.key_name, self.key
        )
    }

    /// Every message recorded for `entity`, duplicates included, in arrival order.
    pub fn sent(&self, entity: &str) -> Vec<CapturedMessage> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.entity == entity)
            .cloned()
            .collect()
    }

    /// Every message recorded, all entities, in arrival order.
    pub fn all(&self) -> Vec<CapturedMessage> {
        self.lock().messages.clone()
    }

    /// Messages accepted (not duplicates) for `entity`, in arrival order.
    pub fn accepted(&self, entity: &str) -> Vec<CapturedMessage> {
        self.sent(entity)
            .into_iter()
            .filter(|m| !m.duplicate)
            .collect()
    }

    /// Sends refused by the capture (status, reason), e.g. a bad signature.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.lock().refused.clone()
    }

    /// Refuses the next `n` sends with 503 Service Unavailable.
    pub fn fail_next(&self, n: u32) {
        self.lock().fail_next = n;
    }

    /// Forgets every recorded message.
    pub fn clear(&self) {
        self.lock().messages.clear();
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        self.shutdown.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn key_name(&self) -> &str {
        &self.key_name
    }

    pub(crate) fn state(&self) -> &Arc<Mutex<State>> {
        &self.state
    }
}
