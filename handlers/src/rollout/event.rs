//! The `image-version-published` message: one Azure Resource Manager event delivered by Event Grid
//! to the queue, in the Event Grid schema or as a CloudEvent 1.0 (the subscription chooses), alone
//! or in a one-element array (the webhook form in `reference/eventgrid/`).

use serde::Deserialize;
use serde_json::Value;

/// The event type Event Grid sends for a successful ARM write.
pub const RESOURCE_WRITE_SUCCESS: &str = "Microsoft.Resources.ResourceWriteSuccess";
/// The operation of a gallery image version write.
pub const VERSION_WRITE: &str = "Microsoft.Compute/galleries/images/versions/write";

/// What the step uses from the event, whatever its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEvent {
    /// The event's id.
    pub id: String,
    /// `eventType` (Event Grid) or `type` (CloudEvents).
    pub event_type: String,
    /// The resource id written.
    pub subject: String,
    /// `data.operationName`.
    pub operation_name: String,
    /// `data.tenantId`: the tenant the write happened in (the gallery's).
    pub tenant_id: Option<String>,
    /// `eventTime` / `time`, as sent.
    pub time: Option<String>,
}

/// Why a body is not an event this step understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or not an object / one-element array of objects.
    #[error("not an Event Grid event or CloudEvent: {0}")]
    Shape(String),
    /// A required field is missing.
    #[error("the event has no {0}")]
    Missing(&'static str),
    /// Top-level fields neither schema documents (all of them, in body order).
    #[error("the event has unknown top-level fields: {}", .0.join(", "))]
    UnknownFields(Vec<String>),
}

/// The top-level fields of an event in the Event Grid schema
/// (learn.microsoft.com/azure/event-grid/event-schema; `reference/eventgrid/`).
pub const EVENT_GRID_FIELDS: &[&str] = &[
    "id",
    "topic",
    "subject",
    "eventType",
    "eventTime",
    "data",
    "dataVersion",
    "metadataVersion",
];

/// The context attributes CloudEvents 1.0 defines (plus `data`, `data_base64` of the JSON
/// format). An event in that schema may also carry extension attributes, whose names the
/// specification restricts to lower-case ASCII letters and digits.
pub const CLOUD_EVENT_FIELDS: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
];

/// The top-level fields of `event` that its schema does not allow: for the Event Grid schema
/// anything but its documented fields; for a CloudEvent (it has `specversion`) anything but the
/// context attributes and well-formed extension names. A field named like a Service Bus system
/// property (`DeliveryCount`, `MessageId`, …) is never allowed: the Functions host would copy it
/// over that property.
fn unknown_fields(event: &Value) -> Vec<String> {
    let Some(object) = event.as_object() else {
        return Vec::new();
    };
    let cloud = object.contains_key("specversion");
    object
        .keys()
        .filter(|k| {
            if cloud {
                let extension = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                !CLOUD_EVENT_FIELDS.contains(&k.as_str()) && !extension
            } else {
                !EVENT_GRID_FIELDS.contains(&k.as_str())
            }
        })
        .cloned()
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default, rename = "type")]
    ce_type: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

impl ResourceEvent {
    /// Parses a message body.
    pub fn parse(body: &str) -> Result<Self, EventError> {
        let json: Value =
            serde_json::from_str(body).map_err(|e| EventError::Shape(e.to_string()))?;
        Self::from_json(json)
    }

    /// Reads a message body already decoded as JSON (the handler's runtime decodes it once).
    pub fn from_json(json: Value) -> Result<Self, EventError> {
        let one = match json {
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            Value::Array(items) => {
                return Err(EventError::Shape(format!(
                    "an array of {} events (the queue receives one per message)",
                    items.len()
                )));
            }
            other => other,
        };
        let unknown = unknown_fields(&one);
        if !unknown.is_empty() {
            return Err(EventError::UnknownFields(unknown));
        }
        let wire: Wire =
            serde_json::from_value(one).map_err(|e| EventError::Shape(e.to_string()))?;
        let data = wire.data.unwrap_or(Value::Null);
        let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
        let subject = wire
            .subject
            .or_else(|| text("resourceUri"))
            .ok_or(EventError::Missing("subject"))?;
        Ok(ResourceEvent {
            id: wire.id.ok_or(EventError::Missing("id"))?,
            event_type: wire
                .event_type
                .or(wire.ce_type)
                .ok_or(EventError::Missing("eventType or type"))?,
            subject,
            operation_name: text("operationName")
                .ok_or(EventError::Missing("data.operationName"))?,
            tenant_id: text("tenantId").filter(|t| !t.is_empty()),
            time: wire.event_time.or(wire.time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../reference/eventgrid/resource-write-success.json"
        ))
        .unwrap()
    }

    #[test]
    fn reads_the_reference_event_grid_event() {
        let e = ResourceEvent::parse(&reference()).unwrap();
        assert_eq!(e.event_type, RESOURCE_WRITE_SUCCESS);
        assert_eq!(e.operation_name, "Microsoft.Storage/storageAccounts/write");
        assert!(e.subject.contains("storageAccounts"));
        assert_eq!(e.id, "4db48cba-50a2-455a-93b4-de41a3b5b7f6");
        assert_eq!(e.time.as_deref(), Some("2018-07-19T18:38:04.6117357Z"));
    }

    #[test]
    fn reads_the_same_event_as_a_cloud_event() {
        let grid: Value = serde_json::from_str(&reference()).unwrap();
        let g = &grid[0];
        let cloud = serde_json::json!({
            "specversion": "1.0", "type": g["eventType"], "source": g["topic"], "subject": g["subject"],
            "id": g["id"], "time": g["eventTime"], "data": g["data"]
        });
        let a = ResourceEvent::parse(&cloud.to_string()).unwrap();
        let b = ResourceEvent::parse(&g.to_string()).unwrap();
        assert_eq!(a, b);
        assert!(ResourceEvent::parse("[]").is_err());
        assert!(ResourceEvent::parse("not json").is_err());
        assert_eq!(
            ResourceEvent::parse(r#"{"id":"1","eventType":"x","subject":"/s"}"#),
            Err(EventError::Missing("data.operationName"))
        );
    }

    #[test]
    fn documented_fields_pass_and_unknown_ones_are_named() {
        // Every field of the documented example is accepted, in both schemas.
        let grid: Value = serde_json::from_str(&reference()).unwrap();
        assert!(ResourceEvent::parse(&reference()).is_ok());
        let g = &grid[0];
        let cloud = serde_json::json!({
            "specversion": "1.0", "type": g["eventType"], "source": g["topic"], "subject": g["subject"],
            "id": g["id"], "time": g["eventTime"], "data": g["data"],
            "datacontenttype": "application/json", "traceparent": "00-ab-cd-01"
        });
        assert!(ResourceEvent::parse(&cloud.to_string()).is_ok());
        // Fields named like Service Bus system properties are refused, all of them named.
        let mut forged = g.clone();
        forged["DeliveryCount"] = serde_json::json!(1);
        forged["MessageId"] = serde_json::json!("x");
        assert_eq!(
            ResourceEvent::parse(&forged.to_string()),
            Err(EventError::UnknownFields(vec![
                "DeliveryCount".into(),
                "MessageId".into()
            ]))
        );
        let mut forged = cloud.clone();
        forged["EnqueuedTimeUtc"] = serde_json::json!("9999-12-31T23:59:59Z");
        assert_eq!(
            ResourceEvent::parse(&forged.to_string()),
            Err(EventError::UnknownFields(vec!["EnqueuedTimeUtc".into()]))
        );
        // A CloudEvents attribute is not an Event Grid schema field.
        let mut mixed = g.clone();
        mixed["specversion2"] = serde_json::json!("1.0");
        assert!(matches!(
            ResourceEvent::parse(&mixed.to_string()),
            Err(EventError::UnknownFields(_))
        ));
    }
}
