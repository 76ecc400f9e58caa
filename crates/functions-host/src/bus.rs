//! A Service Bus receiver over the REST protocol (learn.microsoft.com/rest/api/servicebus):
//! Peek-Lock (`POST {entity}/messages/head?timeout=N`), Delete (`DELETE` the lock location),
//! Unlock (`PUT`), Renew-Lock (`POST`). SAS tokens from the connection string
//! (`azure_clients::servicebus::sas_token`).

use std::collections::BTreeMap;
use std::time::Duration;

use azure_clients::servicebus::{ServiceBusConnection, sas_token};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use url::Url;

/// SAS lifetime of each request's token.
const SAS_LIFETIME_SECS: i64 = 3600;

/// Errors talking to Service Bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
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
        /// Body (Service Bus's `<Error>` XML).
        detail: String,
    },
    /// The answer is not what the protocol says.
    #[error("unexpected Service Bus answer: {0}")]
    Protocol(String),
}

impl BusError {
    /// Worth retrying (transport failure, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            BusError::Transport(_) => true,
            BusError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// A message received with a lock.
#[derive(Debug, Clone)]
pub struct LockedMessage {
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `BrokerProperties` as received.
    pub broker: Map<String, Value>,
    /// Custom properties (application properties) from the other headers.
    pub properties: Map<String, Value>,
    /// `Location`: the URL to settle the lock at.
    pub location: Url,
}

impl LockedMessage {
    fn text(&self, key: &str) -> Option<String> {
        self.broker
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// `MessageId`.
    pub fn message_id(&self) -> Option<String> {
        self.text("MessageId")
    }

    /// `DeliveryCount`.
    pub fn delivery_count(&self) -> u32 {
        self.broker
            .get("DeliveryCount")
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32
    }

    /// `SequenceNumber`.
    pub fn sequence_number(&self) -> i64 {
        self.broker
            .get("SequenceNumber")
            .and_then(Value::as_i64)
            .unwrap_or_default()
    }

    /// `LockToken`.
    pub fn lock_token(&self) -> String {
        self.text("LockToken").unwrap_or_default()
    }

    /// `LockedUntilUtc`.
    pub fn locked_until(&self) -> Option<OffsetDateTime> {
        servicebus_emulator::broker_properties::parse_rfc1123(&self.text("LockedUntilUtc")?)
    }

    /// `EnqueuedTimeUtc`.
    pub fn enqueued_time(&self) -> Option<OffsetDateTime> {
        servicebus_emulator::broker_properties::parse_rfc1123(&self.text("EnqueuedTimeUtc")?)
    }

    /// The message as the Functions host hands it to the function
    /// ([`functions_runtime::host_wire`]).
    pub fn host_message(&self) -> functions_runtime::host_wire::HostMessage {
        let mut m = functions_runtime::host_wire::HostMessage::new(self.body.clone());
        m.message_id = self.message_id();
        m.delivery_count = self.delivery_count();
        m.enqueued_time = self.enqueued_time().unwrap_or_else(OffsetDateTime::now_utc);
        m.sequence_number = self.sequence_number();
        m.correlation_id = self.text("CorrelationId");
        m.content_type = self.content_type.clone();
        m.subject = self.text("Label");
        m.time_to_live = self
            .broker
            .get("TimeToLive")
            .and_then(Value::as_f64)
            .map(time::Duration::seconds_f64);
        m.lock_token = self.lock_token();
        m.application_properties = self.properties.clone();
        m
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

/// A receiver for one namespace. Cheap to clone.
#[derive(Clone)]
pub struct BusClient {
    http: reqwest::Client,
    connection: ServiceBusConnection,
}

impl std::fmt::Debug for BusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusClient")
            .field("endpoint", &self.connection.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl BusClient {
    /// A client for a parsed connection string.
    pub fn new(connection: ServiceBusConnection) -> Self {
        Self {
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .expect("reqwest client"),
            connection,
        }
    }

    fn authorization(&self, url: &Url) -> String {
        let mut resource = url.clone();
        resource.set_query(None);
        let resource = resource.as_str();
        let resource = resource
            .find("/messages")
            .map(|i| &resource[..i])
            .unwrap_or(resource);
        let expiry = OffsetDateTime::now_utc().unix_timestamp() + SAS_LIFETIME_SECS;
        sas_token(
            resource,
            &self.connection.key_name,
            &self.connection.key,
            expiry,
        )
        .expose()
        .to_string()
    }

    fn entity_url(&self, entity: &str, tail: &str) -> Url {
        let mut url = self.connection.endpoint.clone();
        url.set_path(&format!("{}/{tail}", entity.trim_matches('/')));
        url
    }

    /// Peek-lock: waits up to `wait` (whole seconds) for a message.
    pub async fn peek_lock(
        &self,
        entity: &str,
        wait: Duration,
    ) -> Result<Option<LockedMessage>, BusError> {
        let mut url = self.entity_url(entity, "messages/head");
        url.set_query(Some(&format!("timeout={}", wait.as_secs())));
        let answer = self
            .http
            .post(url.clone())
            .header("authorization", self.authorization(&url))
            .header("content-length", "0")
            .timeout(wait + Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| BusError::Transport(e.to_string()))?;
        match answer.status().as_u16() {
            204 => Ok(None),
            201 | 200 => {
                let headers = answer.headers().clone();
                let broker = headers
                    .get("brokerproperties")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| serde_json::from_str::<Value>(v).ok())
                    .and_then(|v| v.as_object().cloned())
                    .ok_or_else(|| BusError::Protocol("no BrokerProperties".into()))?;
                let location = headers
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| Url::parse(v).ok())
                    .ok_or_else(|| BusError::Protocol("no Location".into()))?;
                let location = self.trusted_location(location)?;
                let mut properties = Map::new();
                for (name, value) in &headers {
                    if PROTOCOL_HEADERS.contains(&name.as_str()) {
                        continue;
                    }
                    if let Ok(text) = value.to_str() {
                        properties.insert(
                            name.as_str().to_string(),
                            servicebus_emulator::server::property_value(text),
                        );
                    }
                }
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = answer
                    .bytes()
                    .await
                    .map_err(|e| BusError::Transport(e.to_string()))?
                    .to_vec();
                Ok(Some(LockedMessage {
                    body,
                    content_type,
                    broker,
                    properties,
                    location,
                }))
            }
            status => Err(BusError::Status {
                status,
                detail: answer.text().await.unwrap_or_default(),
            }),
        }
    }

    /// The lock location must be on the namespace's own host: it carries our SAS token.
    fn trusted_location(&self, location: Url) -> Result<Url, BusError> {
        let ours = &self.connection.endpoint;
        if location.host_str() == ours.host_str()
            && location.port_or_known_default() == ours.port_or_known_default()
        {
            let mut url = ours.clone();
            url.set_path(location.path());
            Ok(url)
        } else {
            Err(BusError::Protocol(format!(
                "lock location on another host: {}",
                location.host_str().unwrap_or("?")
            )))
        }
    }

    async fn settle(
        &self,
        method: reqwest::Method,
        location: &Url,
    ) -> Result<Option<BTreeMap<String, String>>, BusError> {
        let answer = self
            .http
            .request(method, location.clone())
            .header("authorization", self.authorization(location))
            .header("content-length", "0")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| BusError::Transport(e.to_string()))?;
        match answer.status().as_u16() {
            200..=299 => Ok(Some(
                answer
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect(),
            )),
            404 | 410 => Err(BusError::LockLost),
            status => Err(BusError::Status {
                status,
                detail: answer.text().await.unwrap_or_default(),
            }),
        }
    }

    /// Completes (deletes) the message.
    pub async fn complete(&self, message: &LockedMessage) -> Result<(), BusError> {
        self.settle(reqwest::Method::DELETE, &message.location)
            .await
            .map(|_| ())
    }

    /// Unlocks (abandons) the message.
    pub async fn abandon(&self, message: &LockedMessage) -> Result<(), BusError> {
        self.settle(reqwest::Method::PUT, &message.location)
            .await
            .map(|_| ())
    }

    /// Renews the lock; returns the new `LockedUntilUtc` when the answer carries one.
    pub async fn renew(&self, message: &LockedMessage) -> Result<Option<OffsetDateTime>, BusError> {
        let headers = self
            .settle(reqwest::Method::POST, &message.location)
            .await?;
        Ok(headers
            .and_then(|h| h.get("brokerproperties").cloned())
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .and_then(|b| b["LockedUntilUtc"].as_str().map(str::to_string))
            .and_then(|t| servicebus_emulator::broker_properties::parse_rfc1123(&t)))
    }
}
