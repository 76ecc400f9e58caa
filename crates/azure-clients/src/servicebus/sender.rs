//! [`ServiceBusSender`]: `POST {namespace}/{entity}/messages`
//! (learn.microsoft.com/rest/api/servicebus/send-message-batch, single-message form, and
//! .../message-headers-and-properties). See the [module docs](super) for why the
//! `azure_messaging_servicebus` crate is not used.

use super::connection::ServiceBusConnection;
use super::error::ServiceBusError;
use super::message::OutgoingMessage;
use super::sas::sas_token;
use crate::arm::RetryPolicy;
use crate::endpoints::Endpoints;
use crate::error::ConfigError;
use crate::redact::SecretString;
use crate::token::TokenProvider;
use std::sync::Arc;
use time::OffsetDateTime;
use url::Url;

/// SAS tokens are minted per send and live this long.
const SAS_LIFETIME_SECS: i64 = 3600;

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

#[derive(Clone)]
enum Auth {
    Sas {
        key_name: String,
        key: SecretString,
    },
    Entra {
        tokens: Arc<TokenProvider>,
        tenant: String,
        scope: String,
    },
}

/// Sends messages to queues and topics of one namespace. Cheap to clone.
#[derive(Clone)]
pub struct ServiceBusSender {
    http: crate::http::HttpClient,
    endpoint: Url,
    auth: Auth,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ServiceBusSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Sas { key_name, .. } => format!("SAS ({key_name})"),
            Auth::Entra { tenant, .. } => format!("Entra (tenant {tenant})"),
        };
        f.debug_struct("ServiceBusSender")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &auth)
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
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(cs) = get("ServiceBusConnection") {
            return Ok(Self::from_connection(ServiceBusConnection::parse(&cs)?));
        }
        let namespace =
            get("ServiceBusConnection__fullyQualifiedNamespace").ok_or(ConfigError::Missing(
                "ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace",
            ))?;
        let tenant = get("AZURE_TENANT_ID").ok_or(ConfigError::Missing("AZURE_TENANT_ID"))?;
        let endpoint = crate::endpoints::check_endpoint(
            "ServiceBusConnection__fullyQualifiedNamespace",
            &format!("https://{}/", namespace.trim().trim_end_matches('/')),
        )?;
        Ok(Self::with_entra(
            endpoint,
            tokens,
            tenant,
            endpoints.servicebus_scope.clone(),
        ))
    }

    /// SAS auth from a parsed connection string.
    pub fn from_connection(connection: ServiceBusConnection) -> Self {
        Self {
            http: crate::http::new_client(),
            endpoint: connection.endpoint,
            auth: Auth::Sas {
                key_name: connection.key_name,
                key: connection.key,
            },
            retry: RetryPolicy::default(),
        }
    }

    /// Entra auth: a token for `scope` in `tenant` per send (cached by the provider).
    pub fn with_entra(
        endpoint: Url,
        tokens: Arc<TokenProvider>,
        tenant: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        Self {
            http: crate::http::new_client(),
            endpoint,
            auth: Auth::Entra {
                tokens,
                tenant: tenant.into(),
                scope: scope.into(),
            },
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy (attempts, backoff, total time).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The namespace endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
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
        let authorization = self.authorization(&url).await?;
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
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "{}/{entity}/messages",
            self.endpoint.path().trim_end_matches('/')
        ));
        Ok(url)
    }

    async fn authorization(&self, url: &Url) -> Result<SecretString, ServiceBusError> {
        match &self.auth {
            Auth::Sas { key_name, key } => {
                // The signed resource is the entity URL (without `/messages`).
                let resource = url.as_str().trim_end_matches("/messages");
                let expiry = OffsetDateTime::now_utc().unix_timestamp() + SAS_LIFETIME_SECS;
                Ok(sas_token(resource, key_name, key, expiry))
            }
            Auth::Entra {
                tokens,
                tenant,
                scope,
            } => {
                let token = tokens.token(tenant, scope).await?;
                Ok(SecretString::new(format!(
                    "Bearer {}",
                    token.token.expose()
                )))
            }
        }
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
