//! The HTTP side: `POST /{entity}/messages`, single or batch.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use time::OffsetDateTime;

use crate::broker_properties::BrokerProperties;
use crate::{CaptureHandle, CapturedMessage, sas};

/// Content type of a batch send (learn.microsoft.com/rest/api/servicebus/send-message-batch).
const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

/// Headers that are part of the protocol, not custom properties.
const PROTOCOL_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "host",
    "brokerproperties",
    "user-agent",
    "accept",
    "accept-encoding",
    "expect",
    "connection",
    "transfer-encoding",
    "te",
];

pub(crate) fn router(handle: CaptureHandle) -> Router {
    Router::new()
        .route("/{*path}", post(send))
        .with_state(handle)
}

type Reply = (StatusCode, String);

fn refuse(handle: &CaptureHandle, status: StatusCode, reason: String) -> Reply {
    tracing::warn!(status = status.as_u16(), %reason, "servicebus-capture refused a send");
    handle
        .state()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .refused
        .push((status.as_u16(), reason.clone()));
    (status, reason)
}

async fn send(
    State(handle): State<CaptureHandle>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let Some(entity) = path.strip_suffix("/messages").filter(|e| !e.is_empty()) else {
        return refuse(
            &handle,
            StatusCode::NOT_FOUND,
            format!("no such endpoint: /{path}"),
        );
    };
    let entity = entity.to_string();
    {
        let mut state = handle.state().lock().unwrap_or_else(|e| e.into_inner());
        if state.fail_next > 0 {
            state.fail_next -= 1;
            drop(state);
            return refuse(
                &handle,
                StatusCode::SERVICE_UNAVAILABLE,
                "injected fault: server busy".into(),
            );
        }
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = OffsetDateTime::now_utc();
    if let Err(e) = sas::verify(
        auth,
        handle.key_name(),
        handle.key(),
        &entity,
        now.unix_timestamp(),
    ) {
        return refuse(&handle, StatusCode::UNAUTHORIZED, e.to_string());
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parsed = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with(BATCH_CONTENT_TYPE))
    {
        parse_batch(&body)
    } else {
        parse_single(&headers, &body, content_type)
    };
    let messages = match parsed {
        Ok(m) => m,
        Err(reason) => return refuse(&handle, StatusCode::BAD_REQUEST, reason),
    };
    if let Some(too_large) = messages
        .iter()
        .map(|(body, ..)| body.len())
        .find(|len| *len > crate::MAX_MESSAGE_BYTES)
    {
        // Standard tier: 256 KB per message; the namespace answers 403 (quota / size exceeded).
        return refuse(
            &handle,
            StatusCode::FORBIDDEN,
            format!(
                "MessageSizeExceeded: the message body is {too_large} bytes; the limit is {} bytes",
                crate::MAX_MESSAGE_BYTES
            ),
        );
    }
    let mut state = handle.state().lock().unwrap_or_else(|e| e.into_inner());
    for (body, content_type, broker, application_properties) in messages {
        let duplicate = broker.message_id.as_ref().is_some_and(|id| {
            state.messages.iter().any(|m| {
                m.entity == entity && !m.duplicate && m.broker.message_id.as_ref() == Some(id)
            })
        });
        state.next_sequence += 1;
        let sequence_number = state.next_sequence;
        state.messages.push(CapturedMessage {
            entity: entity.clone(),
            sequence_number,
            body,
            content_type,
            broker,
            application_properties,
            enqueued_time: now,
            duplicate,
        });
    }
    (StatusCode::CREATED, String::new())
}

type Parsed = (
    String,
    Option<String>,
    BrokerProperties,
    BTreeMap<String, serde_json::Value>,
);

fn parse_single(
    headers: &HeaderMap,
    body: &Bytes,
    content_type: Option<String>,
) -> Result<Vec<Parsed>, String> {
    let broker = match headers.get("brokerproperties") {
        None => BrokerProperties::default(),
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| "BrokerProperties is not ASCII".to_string())?;
            BrokerProperties::parse(text).map_err(|e| e.to_string())?
        }
    };
    let mut props = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        if PROTOCOL_HEADERS.contains(&name) || name.starts_with("x-ms-") {
            continue;
        }
        let text = value
            .to_str()
            .map_err(|_| format!("custom property {name} is not ASCII"))?;
        props.insert(name.to_string(), property_value(text));
    }
    let body = String::from_utf8(body.to_vec()).map_err(|_| "body is not UTF-8".to_string())?;
    Ok(vec![(body, content_type, broker, props)])
}

/// A custom property header value: a quoted string, a number or a boolean is taken as JSON
/// (the REST doc quotes string values), anything else as plain text.
fn property_value(text: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(
            v @ (serde_json::Value::String(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::Bool(_)),
        ) => v,
        _ => serde_json::Value::String(text.to_string()),
    }
}

fn parse_batch(body: &Bytes) -> Result<Vec<Parsed>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        body: String,
        #[serde(default)]
        broker_properties: Option<serde_json::Value>,
        #[serde(default)]
        user_properties: BTreeMap<String, serde_json::Value>,
    }
    let entries: Vec<Entry> =
        serde_json::from_slice(body).map_err(|e| format!("batch body: {e}"))?;
    entries
        .into_iter()
        .map(|e| {
            let broker = match e.broker_properties {
                None => BrokerProperties::default(),
                Some(v) => BrokerProperties::parse(&v.to_string()).map_err(|e| e.to_string())?,
            };
            Ok((e.body, None, broker, e.user_properties))
        })
        .collect()
}
