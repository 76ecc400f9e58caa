//! [`ServiceBusReceiver`]: receiving with a lock over the Service Bus REST protocol
//! (learn.microsoft.com/rest/api/servicebus): Peek-Lock Message (`POST {entity}/messages/head?timeout=N`,
//! 201 with the message, 204 when none came), Delete Message (complete: `DELETE` of the lock
//! location), Unlock Message (abandon: `PUT`), Renew-Lock (`POST`). `{entity}` is a queue, a
//! subscription (`{topic}/subscriptions/{name}`) or the dead-letter sub-queue of either
//! ([`dead_letter_path`](super::dead_letter_path)). The REST protocol has no dead-letter
//! operation: the broker dead-letters a message itself, after its queue's maximum delivery count.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use url::Url;

use super::access::NamespaceAccess;
use super::broker_properties::{BrokerProperties, property_value};
use super::connection::ServiceBusConnection;
use crate::endpoints::Endpoints;
use crate::error::ConfigError;
use crate::token::{TokenError, TokenProvider};

/// Receiving or settling failed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// No answer (refused, reset, timed out): the namespace may be restarting.
    #[error("Service Bus unreachable: {0}")]
    Transport(String),
    /// The lock is gone (completed, expired, or never existed): 404 / 410 on a settle.
    #[error("the message lock was lost")]
    LockLost,
    /// Any other answer.
    #[error("Service Bus answered {status}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Body (Service Bus's `<Error>` XML), cut to 300 characters.
        detail: String,
    },
    /// The answer is not what the protocol says.
    #[error("unexpected Service Bus answer: {0}")]
    Protocol(String),
    /// No Entra token.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl ReceiveError {
    /// Worth retrying (transport failure, 5xx, 429, a transient token failure).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Token(t) => t.is_transient(),
            _ => false,
        }
    }
}

/// A message as a receiver gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The queue, subscription or dead-letter sub-queue it was received from.
    pub entity: String,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `BrokerProperties`.
    pub broker: BrokerProperties,
    /// Custom (application) properties, from the other headers. A dead-lettered message carries
    /// `DeadLetterReason` and `DeadLetterErrorDescription` here, as Service Bus adds them.
    pub properties: Map<String, Value>,
    /// Where to settle the lock (`Location`); `None` for a message received and deleted.
    pub location: Option<Url>,
}

impl ReceivedMessage {
    /// `MessageId`.
    pub fn message_id(&self) -> Option<&str> {
        self.broker.message_id.as_deref()
    }

    /// `DeliveryCount` (1 when the broker did not say).
    pub fn delivery_count(&self) -> u32 {
        self.broker.delivery_count.unwrap_or(1)
    }

    /// `SequenceNumber`.
    pub fn sequence_number(&self) -> i64 {
        self.broker.sequence_number.unwrap_or_default()
    }

    /// A text application property (`DeadLetterReason`, ...).
    pub fn property_text(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    /// `DeadLetterReason` of a dead-lettered message.
    pub fn dead_letter_reason(&self) -> Option<&str> {
        self.property_text("DeadLetterReason")
    }

    /// `DeadLetterErrorDescription` of a dead-lettered message.
    pub fn dead_letter_error_description(&self) -> Option<&str> {
        self.property_text("DeadLetterErrorDescription")
    }
}

/// Headers of the protocol, not custom properties.
const PROTOCOL_HEADERS: &[&str] = &[
    "brokerproperties",
    "content-type",
    "content-length",
    "location",
    "date",
    "server",
    "transfer-encoding",
    "connection",
    "strict-transport-security",
];

/// Application properties that Service Bus itself sets, by their names: HTTP headers arrive
/// lowercased, and a dead-lettered message's reason must read as the SDKs and the Functions host
/// name it (`ServiceBusReceivedMessage.DeadLetterReason` reads `DeadLetterReason`).
const BROKER_SET_PROPERTIES: &[&str] = &["DeadLetterReason", "DeadLetterErrorDescription"];

/// An answer the protocol does not expect, with the start of its body (Service Bus's `<Error>`).
async fn status_error(status: u16, answer: reqwest::Response) -> ReceiveError {
    ReceiveError::Status {
        status,
        detail: answer
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect(),
    }
}

/// A receiver for one namespace. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ServiceBusReceiver {
    http: reqwest::Client,
    access: NamespaceAccess,
}

impl ServiceBusReceiver {
    fn with_access(access: NamespaceAccess) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .expect("reqwest client"),
            access,
        }
    }

    /// SAS auth from a parsed connection string.
    pub fn from_connection(connection: ServiceBusConnection) -> Self {
        Self::with_access(NamespaceAccess::from_connection(connection))
    }

    /// The connection the way the Functions Service Bus trigger reads it (see
    /// [`ServiceBusSender::from_vars`](super::ServiceBusSender::from_vars)).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        tokens: Arc<TokenProvider>,
        endpoints: &Endpoints,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with_access(NamespaceAccess::from_vars(
            var, tokens, endpoints,
        )?))
    }

    /// [`ServiceBusReceiver::from_vars`] with the process environment.
    pub fn from_env(
        tokens: Arc<TokenProvider>,
        endpoints: &Endpoints,
    ) -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok(), tokens, endpoints)
    }

    /// The namespace endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.access.endpoint
    }

    /// Peek-lock: waits up to `wait` (whole seconds) for a message of `entity`.
    pub async fn peek_lock(
        &self,
        entity: &str,
        wait: Duration,
    ) -> Result<Option<ReceivedMessage>, ReceiveError> {
        let entity = entity.trim_matches('/');
        let mut url = self.access.url(&format!("{entity}/messages/head"));
        url.set_query(Some(&format!("timeout={}", wait.as_secs())));
        let answer = self
            .http
            .post(url)
            .header(
                "authorization",
                self.access.authorization(entity).await?.expose(),
            )
            .header("content-length", "0")
            .timeout(wait + Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| ReceiveError::Transport(crate::http::error_text(&e)))?;
        match answer.status().as_u16() {
            204 => Ok(None),
            200 | 201 => {
                let headers = answer.headers().clone();
                let broker = headers
                    .get("brokerproperties")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| ReceiveError::Protocol("no BrokerProperties".into()))
                    .and_then(|v| {
                        BrokerProperties::parse(v)
                            .map_err(|e| ReceiveError::Protocol(e.to_string()))
                    })?;
                let location = headers
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| Url::parse(v).ok())
                    .ok_or_else(|| ReceiveError::Protocol("no Location".into()))?;
                let location = self.trusted_location(location)?;
                let mut properties = Map::new();
                for (name, value) in &headers {
                    if PROTOCOL_HEADERS.contains(&name.as_str()) {
                        continue;
                    }
                    if let Ok(text) = value.to_str() {
                        let name = BROKER_SET_PROPERTIES
                            .iter()
                            .find(|p| p.eq_ignore_ascii_case(name.as_str()))
                            .map_or_else(|| name.as_str().to_string(), |p| p.to_string());
                        properties.insert(name, property_value(text));
                    }
                }
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = answer
                    .bytes()
                    .await
                    .map_err(|e| ReceiveError::Transport(crate::http::error_text(&e)))?
                    .to_vec();
                Ok(Some(ReceivedMessage {
                    entity: entity.to_string(),
                    body,
                    content_type,
                    broker,
                    properties,
                    location: Some(location),
                }))
            }
            status => Err(status_error(status, answer).await),
        }
    }

    /// The lock location must be on the namespace's own host: it carries our credentials.
    fn trusted_location(&self, location: Url) -> Result<Url, ReceiveError> {
        let ours = &self.access.endpoint;
        if location.host_str() == ours.host_str()
            && location.port_or_known_default() == ours.port_or_known_default()
        {
            let mut url = ours.clone();
            url.set_path(location.path());
            Ok(url)
        } else {
            Err(ReceiveError::Protocol(format!(
                "lock location on another host: {}",
                location.host_str().unwrap_or("?")
            )))
        }
    }

    async fn settle(
        &self,
        method: reqwest::Method,
        message: &ReceivedMessage,
    ) -> Result<reqwest::header::HeaderMap, ReceiveError> {
        let location = message
            .location
            .clone()
            .ok_or_else(|| ReceiveError::Protocol("the message holds no lock".into()))?;
        let answer = self
            .http
            .request(method, location)
            .header(
                "authorization",
                self.access.authorization(&message.entity).await?.expose(),
            )
            .header("content-length", "0")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| ReceiveError::Transport(crate::http::error_text(&e)))?;
        match answer.status().as_u16() {
            200..=299 => Ok(answer.headers().clone()),
            404 | 410 => Err(ReceiveError::LockLost),
            status => Err(status_error(status, answer).await),
        }
    }

    /// Completes (deletes) the message.
    pub async fn complete(&self, message: &ReceivedMessage) -> Result<(), ReceiveError> {
        self.settle(reqwest::Method::DELETE, message)
            .await
            .map(|_| ())
    }

    /// Unlocks (abandons) the message: it is delivered again, its delivery count raised; past
    /// its queue's maximum delivery count the broker dead-letters it.
    pub async fn abandon(&self, message: &ReceivedMessage) -> Result<(), ReceiveError> {
        self.settle(reqwest::Method::PUT, message).await.map(|_| ())
    }

    /// Renews the lock; returns the new `LockedUntilUtc` when the answer carries one.
    pub async fn renew(
        &self,
        message: &ReceivedMessage,
    ) -> Result<Option<OffsetDateTime>, ReceiveError> {
        let headers = self.settle(reqwest::Method::POST, message).await?;
        Ok(headers
            .get("brokerproperties")
            .and_then(|b| b.to_str().ok())
            .and_then(|b| BrokerProperties::parse(b).ok())
            .and_then(|b| b.locked_until_utc))
    }
}
