//! [`ServiceBusSender`]: `POST {namespace}/{entity}/messages`
//! (learn.microsoft.com/rest/api/servicebus/send-message-batch, single-message form, and
//! .../message-headers-and-properties). See the [module docs](super) for why the
//! `azure_messaging_servicebus` crate is not used.

use super::access::NamespaceAccess;
use super::connection::ServiceBusConnection;
use super::error::ServiceBusError;
use super::message::OutgoingMessage;
use crate::arm::RetryPolicy;
use crate::endpoints::Endpoints;
use crate::error::ConfigError;
use crate::token::TokenProvider;
use std::sync::Arc;
use url::Url;

/// Headers the sender sets itself; application properties may not use them.
/// Content type of the REST batch send.
const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "brokerproperties",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "expect",
    "x-ms-retrypolicy",
];

/// Sends messages to queues and topics of one namespace. Cheap to clone.
#[derive(Clone)]
pub struct ServiceBusSender {
    http: crate::http::HttpClient,
    access: NamespaceAccess,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ServiceBusSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusSender")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl ServiceBusSender {
    /// Reads the connection the way the Functions Service Bus trigger does: `ServiceBusConnection`
    /// (a connection string, SAS auth) wins; otherwise `ServiceBusConnection__fullyQualifiedNamespace`
    /// with Entra tokens for `endpoints.servicebus_scope` in `AZURE_TENANT_ID` (the app's home tenant).
    pub fn from_env(
        tokens: Arc<TokenProvider>,
        endpoints: &Endpoints,
    ) -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok(), tokens, endpoints)
    }

    /// Like [`ServiceBusSender::from_env`], with variables from `var`.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        tokens: Arc<TokenProvider>,
        endpoints: &Endpoints,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with_access(NamespaceAccess::from_vars(
            var, tokens, endpoints,
        )?))
    }

    fn with_access(access: NamespaceAccess) -> Self {
        Self {
            http: crate::http::new_client(),
            access,
            retry: RetryPolicy::default(),
        }
    }

    /// SAS auth from a parsed connection string.
    pub fn from_connection(connection: ServiceBusConnection) -> Self {
        Self::with_access(NamespaceAccess::from_connection(connection))
    }

    /// Entra auth: a token for `scope` in `tenant` per send (cached by the provider).
    pub fn with_entra(
        endpoint: Url,
        tokens: Arc<TokenProvider>,
        tenant: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        Self::with_access(NamespaceAccess::with_entra(endpoint, tokens, tenant, scope))
    }

    /// Replaces the retry policy (attempts, backoff, total time).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The namespace endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.access.endpoint
    }

    /// Sends `msg` to the queue or topic `entity`. Retries 5xx/429/network failures within the
    /// retry policy; a retried send keeps its `MessageId`, so duplicate detection (or the
    /// receiver's idempotence) absorbs a send that succeeded but whose answer was lost.
    pub async fn send(&self, entity: &str, msg: OutgoingMessage) -> Result<(), ServiceBusError> {
        let url = self.entity_url(entity)?;
        // Application properties travel in the batch format's `UserProperties`
        // (learn.microsoft.com/rest/api/servicebus/send-message-batch), which keeps their names'
        // case: as plain headers (send-message-to-queue) HTTP lowercases them on the wire, and a
        // subscription filter on `deploymentId` would not see `deploymentid`. The names are still
        // checked as if they were headers, so a message is valid for both forms.
        property_headers(&msg)?;
        let broker = msg.broker_properties();
        let authorization = self.access.authorization(entity).await?;
        let (content_type, body, broker_header) = if msg.application_properties.is_empty() {
            let content_type =
                reqwest::header::HeaderValue::from_str(&msg.content_type).map_err(|_| {
                    ServiceBusError::InvalidMessage(
                        "content type is not a valid header value".into(),
                    )
                })?;
            (content_type, msg.body.clone(), Some(broker))
        } else {
            let entry = serde_json::json!([{
                "Body": msg.body,
                "BrokerProperties": serde_json::from_str::<serde_json::Value>(&broker)
                    .unwrap_or_default(),
                "UserProperties": msg.application_properties,
            }]);
            (
                reqwest::header::HeaderValue::from_static(BATCH_CONTENT_TYPE),
                entry.to_string(),
                None,
            )
        };
        let raw = crate::http::send_with_retries(&self.retry, "Service Bus send", || {
            let mut request = self
                .http
                .post(url.clone())
                .header(reqwest::header::AUTHORIZATION, authorization.expose())
                .header(reqwest::header::CONTENT_TYPE, content_type.clone())
                .body(body.clone());
            if let Some(broker) = &broker_header {
                request = request.header("BrokerProperties", broker.clone());
            }
            request
        })
        .await
        .map_err(ServiceBusError::Transport)?;
        let entity_name = entity;
        let entity = entity.to_owned();
        let message = String::from_utf8_lossy(&raw.body[..raw.body.len().min(512)]).into_owned();
        let result = match raw.status {
            200..=299 => Ok(()),
            401 => Err(ServiceBusError::Unauthorized { entity, message }),
            403 => Err(ServiceBusError::Forbidden { entity, message }),
            404 | 410 => Err(ServiceBusError::EntityNotFound {
                entity,
                status: raw.status,
            }),
            413 => Err(ServiceBusError::TooLarge { entity }),
            s if s == 429 || s >= 500 => Err(ServiceBusError::Unavailable { entity, status: s }),
            s => Err(ServiceBusError::Rejected {
                entity,
                status: s,
                message,
            }),
        };
        match &result {
            Ok(()) => tracing::debug!(
                entity = entity_name,
                message_id = msg.message_id.as_deref(),
                "sent Service Bus message"
            ),
            Err(e) => tracing::warn!(entity = entity_name, error = %e, "Service Bus send failed"),
        }
        result
    }

    fn entity_url(&self, entity: &str) -> Result<Url, ServiceBusError> {
        let valid = !entity.is_empty()
            && entity
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '~'))
            && !entity.starts_with('/')
            && !entity
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if !valid {
            return Err(ServiceBusError::InvalidMessage(format!(
                "entity name {entity:?}"
            )));
        }
        Ok(self.access.url(&format!("{entity}/messages")))
    }
}

/// Application properties as the single-send form would carry them: one header each (REST docs'
/// "message-headers-and-properties"), string values in double quotes (`Priority: "High"`), as
/// Microsoft's REST-based Node.js SDK did (Azure/azure-sdk-for-node,
/// lib/services/serviceBus/lib/servicebusservice.js `setRequestHeaders`). `send` uses it to refuse
/// names and values that could not travel that way (reserved header names, non-ASCII values), so
/// a message is valid in both REST forms.
fn property_headers(
    msg: &OutgoingMessage,
) -> Result<Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>, ServiceBusError> {
    let mut out = Vec::with_capacity(msg.application_properties.len());
    for (name, value) in &msg.application_properties {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ServiceBusError::InvalidMessage(format!(
                "application property {name:?} collides with a protocol header"
            )));
        }
        let header = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ServiceBusError::InvalidMessage(format!(
                "application property name {name:?} is not a valid header name"
            ))
        })?;
        if !value.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
            return Err(ServiceBusError::InvalidMessage(format!(
                "application property {name:?} must be printable ASCII to travel as a header"
            )));
        }
        let quoted = serde_json::to_string(value).expect("strings serialize");
        let value = reqwest::header::HeaderValue::from_str(&quoted).map_err(|_| {
            ServiceBusError::InvalidMessage(format!(
                "application property {name:?} has an invalid value"
            ))
        })?;
        out.push((header, value));
    }
    Ok(out)
}
