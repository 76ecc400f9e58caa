//! The host side of the wire: builds the exact invocation request the Functions host (v4, Service
//! Bus extension 5.x) sends for one Service Bus message, per `reference/functions/NOTES.md`
//! §3.1–3.4: headers, double-encoded `Data`, `Metadata` keys in the host's order with quoted
//! strings and numbers-as-strings, `sys`, and message-body fields promoted into `Metadata`.
//!
//! Used by tests, the benchmark and the local Functions host.

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::promotion::promoted_fields;
use crate::trigger::DataType;

/// Host version the headers claim (the snapshot NOTES.md was written against).
pub const HOST_VERSION: &str = "4.1037.0.0";

/// A Service Bus message as the broker hands it to the trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct HostMessage {
    /// Body bytes (UTF-8 text for `dataType: string` triggers).
    pub body: Vec<u8>,
    /// `MessageId`; omitted from `Metadata` when `None`.
    pub message_id: Option<String>,
    /// `DeliveryCount` (1 on first delivery).
    pub delivery_count: u32,
    /// When the broker accepted the message; the host drops fractional seconds.
    pub enqueued_time: OffsetDateTime,
    /// `SequenceNumber`.
    pub sequence_number: i64,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `Subject` (also sent as `Label`).
    pub subject: Option<String>,
    /// `TimeToLive`; `None` = never expires (`ExpiresAtUtc` 9999-12-31T23:59:59).
    pub time_to_live: Option<Duration>,
    /// `LockToken`.
    pub lock_token: String,
    /// `ApplicationProperties` (also sent as `UserProperties`).
    pub application_properties: Map<String, Value>,
}

impl HostMessage {
    /// A first-delivery message with this body, a random message id and lock token, enqueued now.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            message_id: Some(uuid::Uuid::new_v4().simple().to_string()),
            delivery_count: 1,
            enqueued_time: OffsetDateTime::now_utc(),
            sequence_number: 1,
            correlation_id: None,
            content_type: None,
            subject: None,
            time_to_live: None,
            lock_token: uuid::Uuid::new_v4().to_string(),
            application_properties: Map::new(),
        }
    }
}

/// Which function the host invokes, and the per-invocation values it generates.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInvocation {
    /// Function (folder) name: the request path and `sys.MethodName`.
    pub function_name: String,
    /// Trigger binding `name` in `function.json`: the key inside `Data`.
    pub binding_name: String,
    /// Trigger binding `dataType`.
    pub data_type: DataType,
    /// `X-Azure-Functions-InvocationId`.
    pub invocation_id: String,
    /// `sys.RandGuid`.
    pub rand_guid: String,
    /// `sys.UtcNow`.
    pub utc_now: OffsetDateTime,
    /// Service Bus namespace host name, for `Metadata.Client`.
    pub namespace: String,
    /// Suffix of `Client.Identifier`.
    pub client_id: String,
}

impl HostInvocation {
    /// An invocation of `function_name` with binding `binding_name`, fresh ids, now.
    pub fn new(function_name: impl Into<String>, binding_name: impl Into<String>) -> Self {
        Self {
            function_name: function_name.into(),
            binding_name: binding_name.into(),
            data_type: DataType::String,
            invocation_id: uuid::Uuid::new_v4().to_string(),
            rand_guid: uuid::Uuid::new_v4().to_string(),
            utc_now: OffsetDateTime::now_utc(),
            namespace: "imageferry-local.servicebus.windows.net".to_owned(),
            client_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// The request path: `/<FunctionName>`.
    pub fn path(&self) -> String {
        format!("/{}", self.function_name)
    }

    /// The headers the host sends (NOTES §3).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json; charset=utf-8".to_owned()),
            ("user-agent", format!("Azure-Functions-Host/{HOST_VERSION}")),
            ("x-azure-functions-hostversion", HOST_VERSION.to_owned()),
            ("x-azure-functions-invocationid", self.invocation_id.clone()),
        ]
    }
}

/// The JSON request body for `message` (keys in the host's order).
pub fn request_body(message: &HostMessage, invocation: &HostInvocation) -> String {
    let envelope = Envelope {
        data: json!({ invocation.binding_name.clone(): data_value(message, invocation.data_type) }),
        metadata: Ordered(metadata(message, invocation)),
    };
    // Serializing `Value`s and strings into a String cannot fail.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// A complete `http::Request` for `message`, addressed to `authority` (e.g. `127.0.0.1:7071`).
pub fn request(
    message: &HostMessage,
    invocation: &HostInvocation,
    authority: &str,
) -> Result<http::Request<String>, http::Error> {
    let mut builder = http::Request::post(format!("http://{authority}{}", invocation.path()));
    for (name, value) in invocation.headers() {
        builder = builder.header(name, value);
    }
    builder.body(request_body(message, invocation))
}

/// `Data.<binding>`: the body text JSON-serialized again (string), or base64 (binary).
fn data_value(message: &HostMessage, data_type: DataType) -> Value {
    match data_type {
        DataType::String => {
            let text = String::from_utf8_lossy(&message.body);
            Value::String(serde_json::to_string(&text).unwrap_or_default())
        }
        DataType::Binary => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(&message.body))
        }
    }
}

/// `Metadata` entries in emission order (NOTES §3.2), then promoted body fields (§0.3).
fn metadata(message: &HostMessage, invocation: &HostInvocation) -> Vec<(String, Value)> {
    let quoted = |s: &str| Value::String(serde_json::to_string(s).unwrap_or_default());
    let number = |n: i64| Value::String(n.to_string());
    let enqueued = message.enqueued_time.to_offset(UtcOffset::UTC);
    let expires = message
        .time_to_live
        .and_then(|ttl| enqueued.checked_add(ttl))
        .filter(|t| t.year() <= 9999);

    let mut entries: Vec<(String, Value)> = Vec::with_capacity(32);
    let mut put = |key: &str, value: Value| entries.push((key.to_owned(), value));
    for key in [
        "MessageReceiver",
        "MessageSession",
        "MessageActions",
        "SessionActions",
        "ReceiveActions",
    ] {
        put(key, json!({}));
    }
    put(
        "Client",
        json!({
            "FullyQualifiedNamespace": invocation.namespace,
            "IsClosed": false,
            "TransportType": 0,
            "Identifier": format!("{}-{}", invocation.namespace, invocation.client_id),
        }),
    );
    put("DeliveryCount", number(i64::from(message.delivery_count)));
    put("LockToken", quoted(&message.lock_token));
    match expires {
        Some(t) => {
            put("ExpiresAtUtc", Value::String(date_time(t)));
            put("ExpiresAt", Value::String(date_time_offset(t)));
        }
        None => {
            put("ExpiresAtUtc", json!("9999-12-31T23:59:59"));
            put("ExpiresAt", json!("9999-12-31T23:59:59+00:00"));
        }
    }
    put("EnqueuedTimeUtc", Value::String(date_time(enqueued)));
    put("EnqueuedTime", Value::String(date_time_offset(enqueued)));
    if let Some(id) = &message.message_id {
        put("MessageId", quoted(id));
    }
    if let Some(ct) = &message.content_type {
        put("ContentType", quoted(ct));
    }
    put("SequenceNumber", number(message.sequence_number));
    if let Some(subject) = &message.subject {
        put("Subject", quoted(subject));
        put("Label", quoted(subject));
    }
    if let Some(correlation) = &message.correlation_id {
        put("CorrelationId", quoted(correlation));
    }
    put(
        "ApplicationProperties",
        Value::Object(message.application_properties.clone()),
    );
    put(
        "UserProperties",
        Value::Object(message.application_properties.clone()),
    );
    put(
        "sys",
        json!({
            "MethodName": invocation.function_name,
            "UtcNow": utc_now(invocation.utc_now),
            "RandGuid": invocation.rand_guid,
        }),
    );

    if invocation.data_type == DataType::String {
        promote_body(&mut entries, &message.body);
    }
    entries
}

/// Adds body fields the way `Utility.ApplyBindingData` does: a field overwrites the value of an
/// existing key of the same name compared case-insensitively (binding data is an
/// ordinal-ignore-case dictionary; the key keeps its first spelling), else it is appended.
fn promote_body(entries: &mut Vec<(String, Value)>, body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return;
    }
    let Ok(object) = serde_json::from_str::<Map<String, Value>>(trimmed) else {
        return;
    };
    for (key, value) in promoted_fields(&object) {
        match entries
            .iter_mut()
            .find(|(existing, _)| existing.eq_ignore_ascii_case(&key))
        {
            Some((_, slot)) => *slot = value,
            None => entries.push((key, value)),
        }
    }
}

/// `DateTime` on the wire: ISO 8601, no fraction, no offset (NOTES §3.1).
fn date_time(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    t.format(&format).unwrap_or_default()
}

/// `DateTimeOffset` on the wire: ISO 8601, no fraction, `+00:00`.
fn date_time_offset(t: OffsetDateTime) -> String {
    format!("{}+00:00", date_time(t))
}

/// `sys.UtcNow`: ISO 8601 with 7 fractional digits and `Z`.
fn utc_now(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
    );
    t.to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// `{"Data": .., "Metadata": ..}` in that order.
struct Envelope {
    data: Value,
    metadata: Ordered,
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("Data", &self.data)?;
        map.serialize_entry("Metadata", &self.metadata)?;
        map.end()
    }
}

/// A JSON object that keeps insertion order (serde_json's `Map` sorts keys).
struct Ordered(Vec<(String, Value)>);

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn order_example() -> (HostMessage, HostInvocation) {
        let mut props = Map::new();
        props.insert("tenant".into(), json!("contoso"));
        props.insert("attempt".into(), json!(1));
        let message = HostMessage {
            body: br#"{"orderId":"1001","amount":25.5,"customer":{"id":"c-9"},"lines":[1,2]}"#
                .to_vec(),
            message_id: Some("order-1001".into()),
            delivery_count: 1,
            enqueued_time: datetime!(2024-05-01 12:00:00 UTC),
            sequence_number: 42,
            correlation_id: Some("corr-77".into()),
            content_type: Some("application/json".into()),
            subject: Some("order.created".into()),
            time_to_live: None,
            lock_token: "f2b5a7c1-8e0d-4c3b-a1f9-0d2e4c6b8a10".into(),
            application_properties: props,
        };
        let invocation = HostInvocation {
            function_name: "ProcessOrder".into(),
            binding_name: "msg".into(),
            data_type: DataType::String,
            invocation_id: "3b0b7f0e-5d6b-4b0e-9b0a-1f2d3c4b5a69".into(),
            rand_guid: "0c7e4f52-2d55-4a8a-9f0e-5b7a3e1d9c22".into(),
            utc_now: datetime!(2024-05-01 12:00:00.4567891 UTC),
            namespace: "contoso-sb.servicebus.windows.net".into(),
            client_id: "6a0c4f0e-2f1b-4e8e-9c41-7d9a1d7c2b11".into(),
        };
        (message, invocation)
    }

    #[test]
    fn reproduces_the_notes_complete_example() {
        let (message, invocation) = order_example();
        let ours: Value = serde_json::from_str(&request_body(&message, &invocation)).unwrap();
        let fixture: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/notes-3.4-servicebus-request.json"
        ))
        .unwrap();
        assert_eq!(ours, fixture["body"]);
    }

    #[test]
    fn keeps_the_host_key_order() {
        let (message, invocation) = order_example();
        let body = request_body(&message, &invocation);
        let position = |key: &str| body.find(&format!("\"{key}\":")).unwrap();
        assert!(position("Data") < position("Metadata"));
        assert!(position("MessageReceiver") < position("DeliveryCount"));
        assert!(position("EnqueuedTime") < position("MessageId"));
        assert!(position("sys") < position("orderId"));
    }

    #[test]
    fn body_fields_overwrite_system_keys_case_insensitively() {
        let (mut message, invocation) = order_example();
        message.body = br#"{"messageId":"evil","DeliveryCount":7}"#.to_vec();
        let body: Value = serde_json::from_str(&request_body(&message, &invocation)).unwrap();
        let meta = &body["Metadata"];
        assert_eq!(meta["MessageId"], json!("\"evil\""));
        assert_eq!(meta["DeliveryCount"], json!("\"7\""));
        assert!(meta.get("messageId").is_none());
    }

    #[test]
    fn binary_data_is_base64_without_promotion() {
        let (mut message, mut invocation) = order_example();
        invocation.data_type = DataType::Binary;
        message.body = br#"{"a":1}"#.to_vec();
        let body: Value = serde_json::from_str(&request_body(&message, &invocation)).unwrap();
        assert_eq!(body["Data"]["msg"], json!("eyJhIjoxfQ=="));
        assert!(body["Metadata"].get("a").is_none());
    }

    #[test]
    fn ttl_sets_expiry_and_headers_carry_the_invocation_id() {
        let (mut message, invocation) = order_example();
        message.time_to_live = Some(Duration::hours(1));
        let body: Value = serde_json::from_str(&request_body(&message, &invocation)).unwrap();
        assert_eq!(
            body["Metadata"]["ExpiresAtUtc"],
            json!("2024-05-01T13:00:00")
        );
        assert_eq!(
            body["Metadata"]["ExpiresAt"],
            json!("2024-05-01T13:00:00+00:00")
        );
        let request = request(&message, &invocation, "127.0.0.1:1").unwrap();
        assert_eq!(request.uri().path(), "/ProcessOrder");
        assert_eq!(
            request.headers()["x-azure-functions-invocationid"],
            "3b0b7f0e-5d6b-4b0e-9b0a-1f2d3c4b5a69"
        );
    }
}
