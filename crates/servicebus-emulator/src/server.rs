//! The REST surface (learn.microsoft.com/rest/api/servicebus):
//!
//! | verb and path | operation |
//! |---|---|
//! | `POST /{queue or topic}/messages` | Send Message / Send Message Batch (`application/vnd.microsoft.servicebus.json`) → 201 |
//! | `POST /{entity}/messages/head?timeout=N` | Peek-Lock Message (Non-Destructive Read) → 201 with the message, 204 when none arrived within the timeout |
//! | `DELETE /{entity}/messages/head?timeout=N` | Receive and Delete Message (Destructive Read) → 200 / 204 |
//! | `DELETE /{entity}/messages/{messageId or sequenceNumber}/{lockToken}` | Delete Message (complete) → 200 |
//! | `PUT /{entity}/messages/{id}/{lockToken}` | Unlock Message (abandon) → 200 |
//! | `POST /{entity}/messages/{id}/{lockToken}` | Renew-Lock for a Message → 200 |
//!
//! `{entity}` is a queue, `{topic}/subscriptions/{name}`, or either followed by `/$DeadLetterQueue`.
//! Errors: 400 bad request, 401 authorization, 403 quota exceeded or message too large
//! (`MessageSizeExceeded`, a message over 256 KB), 404 lock not found, 410 no such entity, with
//! Service Bus's `<Error><Code>..</Code><Detail>..</Detail></Error>` body. Not recorded as
//! operations: `GET /$emulator/entities` (counts per entity) and `GET /$emulator/operations`
//! (operation counts). Refused sends, and with the journal on every send, are kept for tests
//! ([`crate::journal`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use azure_clients::servicebus::{BrokerProperties, property_value};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::auth::Auth;
use crate::config::{NamespaceConfig, Receivable, STANDARD_MAX_MESSAGE_BYTES};
use crate::journal::{Journal, SentMessage};
use crate::store::{NewMessage, Settled, Store, StoredMessage, now_ms};

/// Content type of a batch send (learn.microsoft.com/rest/api/servicebus/send-message-batch).
const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

/// Longest long poll a receive may ask for (the REST docs' maximum timeout).
const MAX_RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);

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

pub(crate) struct Shared {
    pub(crate) config: NamespaceConfig,
    pub(crate) store: Store,
    pub(crate) auth: Auth,
    /// Woken when a message may have become available in the entity (by path).
    pub(crate) arrivals: HashMap<String, Notify>,
    /// Sends and refusals, for tests.
    pub(crate) journal: Mutex<Journal>,
}

impl Shared {
    pub(crate) fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/$emulator/entities", get(entities))
        .route("/$emulator/operations", get(operations))
        .route("/{*path}", any(dispatch))
        .with_state(shared)
}

fn error(status: StatusCode, detail: impl std::fmt::Display) -> Response {
    let detail = detail.to_string();
    let escaped = detail
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    tracing::debug!(status = status.as_u16(), %detail, "refused");
    (
        status,
        [("content-type", "application/xml; charset=utf-8")],
        format!(
            "<Error><Code>{}</Code><Detail>{escaped}</Detail></Error>",
            status.as_u16()
        ),
    )
        .into_response()
}

/// A refused send: answered with [`error`] and recorded.
fn refuse(shared: &Shared, status: StatusCode, detail: impl std::fmt::Display) -> Response {
    let detail = detail.to_string();
    tracing::warn!(status = status.as_u16(), %detail, "servicebus-emulator refused a send");
    shared
        .journal()
        .refused
        .push((status.as_u16(), detail.clone()));
    error(status, detail)
}

async fn entities(State(shared): State<Arc<Shared>>) -> Response {
    match shared.store.counts(&shared.config) {
        Ok(c) => axum::Json(c).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn operations(State(shared): State<Arc<Shared>>) -> Response {
    match shared.store.operations() {
        Ok(c) => axum::Json(c).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// What a request path addresses.
enum Target<'a> {
    Send(&'a str),
    Head(&'a str),
    Locked(&'a str, &'a str, &'a str),
}

fn parse_path(path: &str) -> Option<Target<'_>> {
    let segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    // Byte offset where segment `i` starts, minus the separating slash: the entity path.
    let entity = |i: usize| -> Option<&str> {
        let len: usize = segments[..i].iter().map(|s| s.len() + 1).sum::<usize>();
        let e = &path[..len.saturating_sub(1)];
        (!e.is_empty()).then_some(e)
    };
    if n >= 2 && segments[n - 1] == "messages" {
        return Some(Target::Send(entity(n - 1)?));
    }
    if n >= 3 && segments[n - 2] == "messages" && segments[n - 1] == "head" {
        return Some(Target::Head(entity(n - 2)?));
    }
    if n >= 4
        && segments[n - 3] == "messages"
        && !segments[n - 2].is_empty()
        && !segments[n - 1].is_empty()
    {
        return Some(Target::Locked(
            entity(n - 3)?,
            segments[n - 2],
            segments[n - 1],
        ));
    }
    None
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = parse_path(&path) else {
        return error(StatusCode::NOT_FOUND, format!("no such endpoint: /{path}"));
    };
    let entity_path = match &target {
        Target::Send(e) | Target::Head(e) | Target::Locked(e, _, _) => *e,
    };
    let sending = matches!(target, Target::Send(_));
    if sending {
        let mut journal = shared.journal();
        if journal.fail_next > 0 {
            journal.fail_next -= 1;
            drop(journal);
            return refuse(
                &shared,
                StatusCode::SERVICE_UNAVAILABLE,
                "injected fault: server busy",
            );
        }
    }
    if let Err(e) = shared.auth.check(&headers, entity_path) {
        return if sending {
            refuse(&shared, StatusCode::UNAUTHORIZED, e)
        } else {
            error(StatusCode::UNAUTHORIZED, e)
        };
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    match (target, method) {
        (Target::Send(entity), Method::POST) => send(&shared, entity, &headers, &body),
        (Target::Head(entity), m @ (Method::POST | Method::DELETE)) => {
            let timeout = query
                .get("timeout")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(MAX_RECEIVE_TIMEOUT)
                .min(MAX_RECEIVE_TIMEOUT);
            receive(&shared, entity, m == Method::DELETE, timeout, &host).await
        }
        (Target::Locked(entity, id, token), m @ (Method::DELETE | Method::PUT | Method::POST)) => {
            settle(&shared, entity, id, token, m)
        }
        (_, m) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{m} is not an operation on /{path}"),
        ),
    }
}

fn receivable<'a>(
    shared: &'a Shared,
    entity: &str,
) -> Result<(&'a Receivable, bool), Box<Response>> {
    shared.config.receive_path(entity).ok_or_else(|| {
        Box::new(error(
            StatusCode::GONE,
            format!("the queue or subscription {entity:?} does not exist"),
        ))
    })
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "store failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, e)
}

fn send(shared: &Shared, entity: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let Some(sendable) = shared.config.sendable(entity) else {
        return refuse(
            shared,
            StatusCode::GONE,
            format!("the queue or topic {entity:?} does not exist"),
        );
    };
    if body.len() > STANDARD_MAX_MESSAGE_BYTES {
        return refuse(
            shared,
            StatusCode::FORBIDDEN,
            format!(
                "MessageSizeExceeded: the request is {} bytes; the largest message (or batch) is {STANDARD_MAX_MESSAGE_BYTES} bytes",
                body.len()
            ),
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parsed = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with(BATCH_CONTENT_TYPE))
    {
        parse_batch(body)
    } else {
        parse_single(headers, body, content_type)
    };
    let batch = match parsed {
        Ok(b) => b,
        Err(reason) => return refuse(shared, StatusCode::BAD_REQUEST, reason),
    };
    for (_, m) in &batch {
        // The body and the custom properties count (Service Bus counts every header).
        let size = m.body.len()
            + m.properties
                .iter()
                .map(|(k, v)| k.len() + v.to_string().len())
                .sum::<usize>();
        if size > STANDARD_MAX_MESSAGE_BYTES {
            return refuse(
                shared,
                StatusCode::FORBIDDEN,
                format!(
                    "MessageSizeExceeded: a message of {size} bytes is over the {STANDARD_MAX_MESSAGE_BYTES}-byte limit"
                ),
            );
        }
    }
    let count = batch.len();
    let (sent, messages): (Vec<BrokerProperties>, Vec<NewMessage>) = batch.into_iter().unzip();
    let journal_copy = shared.journal().enabled.then(|| messages.clone());
    match shared.store.send(sendable, messages) {
        Ok(outcome) => {
            let _ = shared.store.count("send");
            if outcome.duplicates() > 0 {
                tracing::debug!(
                    entity,
                    duplicates = outcome.duplicates(),
                    "duplicates dropped"
                );
            }
            if let Some(copies) = journal_copy {
                let now = OffsetDateTime::now_utc();
                let mut journal = shared.journal();
                for ((broker, m), duplicate) in sent.into_iter().zip(copies).zip(&outcome.duplicate)
                {
                    let sequence_number = journal.sent.len() as i64 + 1;
                    journal.sent.push(SentMessage {
                        entity: entity.to_string(),
                        sequence_number,
                        body: String::from_utf8_lossy(&m.body).into_owned(),
                        content_type: m.content_type,
                        broker,
                        application_properties: m.properties,
                        enqueued_time: now,
                        duplicate: *duplicate,
                    });
                }
            }
            for t in &sendable.targets {
                if let Some(n) = shared.arrivals.get(&t.entity.path) {
                    n.notify_waiters();
                }
            }
            tracing::debug!(entity, count, stored = outcome.stored, "sent");
            StatusCode::CREATED.into_response()
        }
        Err(e) => internal(e),
    }
}

async fn receive(
    shared: &Shared,
    entity: &str,
    delete: bool,
    timeout: Duration,
    host: &str,
) -> Response {
    let (receivable, dead_letter) = match receivable(shared, entity) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let notify = shared.arrivals.get(&receivable.path);
    loop {
        let notified = notify.map(|n| n.notified());
        let mut notified = notified.map(Box::pin);
        if let Some(n) = notified.as_mut() {
            n.as_mut().enable();
        }
        let got = if delete {
            shared.store.receive_and_delete(receivable, dead_letter)
        } else {
            shared.store.peek_lock(receivable, dead_letter)
        };
        match got {
            Err(e) => return internal(e),
            Ok(Some(message)) => {
                let _ = shared.store.count(if delete {
                    "receive-and-delete"
                } else {
                    "peek-lock"
                });
                return message_response(&message, entity, host, delete);
            }
            Ok(None) => {}
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let _ = shared.store.count("receive-empty");
            return StatusCode::NO_CONTENT.into_response();
        }
        // Wake for a send, for the next scheduled message or lock expiry, or at the deadline.
        let mut wait = (deadline - now).min(Duration::from_secs(1));
        if let Ok(Some(at)) = shared.store.next_wakeup(&receivable.path, dead_letter) {
            let until = Duration::from_millis((at - now_ms()).max(1) as u64);
            wait = wait.min(until);
        }
        match notified {
            Some(n) => {
                let _ = tokio::time::timeout(wait, n).await;
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}

fn at_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
}

fn message_response(message: &StoredMessage, entity: &str, host: &str, deleted: bool) -> Response {
    let system = |key: &str| message.system.get(key).cloned();
    let broker = BrokerProperties {
        message_id: Some(message.message_id.clone()),
        correlation_id: system("CorrelationId"),
        label: system("Label"),
        session_id: system("SessionId"),
        to: system("To"),
        reply_to: system("ReplyTo"),
        time_to_live: message.time_to_live.map(|t| t.as_secs_f64()),
        scheduled_enqueue_time_utc: message.scheduled_ms.and_then(at_ms),
        delivery_count: Some(message.delivery_count),
        sequence_number: Some(message.sequence_number),
        enqueued_sequence_number: Some(message.sequence_number),
        enqueued_time_utc: at_ms(message.enqueued_ms),
        lock_token: message.lock_token.clone().filter(|_| !deleted),
        locked_until_utc: message.locked_until_ms.filter(|_| !deleted).and_then(at_ms),
        state: Some(
            if message.dead_letter {
                "DeadLettered"
            } else {
                "Active"
            }
            .into(),
        ),
    };
    let mut headers = HeaderMap::new();
    let put = |headers: &mut HeaderMap, name: &str, value: String| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(n, v);
        } else {
            tracing::warn!(
                property = name,
                "a property cannot travel as an HTTP header; left out"
            );
        }
    };
    put(&mut headers, "BrokerProperties", broker.to_header());
    put(
        &mut headers,
        "Content-Type",
        message
            .content_type
            .clone()
            .unwrap_or_else(|| "application/atom+xml;type=entry;charset=utf-8".into()),
    );
    if let (false, Some(token)) = (deleted, &message.lock_token) {
        put(
            &mut headers,
            "Location",
            format!(
                "http://{host}/{entity}/messages/{}/{token}",
                message.sequence_number
            ),
        );
    }
    for (name, value) in &message.properties {
        if PROTOCOL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        // Custom properties travel as headers; string values JSON-quoted, as the docs show.
        put(&mut headers, name, value.to_string());
    }
    let status = if deleted {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, headers, message.body.clone()).into_response()
}

fn settle(shared: &Shared, entity: &str, id: &str, token: &str, method: Method) -> Response {
    let (receivable, dead_letter) = match receivable(shared, entity) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let lost = || {
        error(
            StatusCode::NOT_FOUND,
            format!(
                "no message {id:?} is locked with that lock token in {entity:?} (completed, or its lock expired)"
            ),
        )
    };
    match method {
        Method::DELETE => match shared.store.complete(receivable, dead_letter, id, token) {
            Ok(Settled::Ok) => {
                let _ = shared.store.count("complete");
                StatusCode::OK.into_response()
            }
            Ok(Settled::LockLost) => lost(),
            Err(e) => internal(e),
        },
        Method::PUT => match shared.store.unlock(receivable, dead_letter, id, token) {
            Ok(Settled::Ok) => {
                let _ = shared.store.count("unlock");
                if let Some(n) = shared.arrivals.get(&receivable.path) {
                    n.notify_waiters();
                }
                StatusCode::OK.into_response()
            }
            Ok(Settled::LockLost) => lost(),
            Err(e) => internal(e),
        },
        _ => match shared.store.renew(receivable, dead_letter, id, token) {
            Ok(Some(until)) => {
                let _ = shared.store.count("renew-lock");
                let broker = BrokerProperties {
                    locked_until_utc: at_ms(until),
                    ..BrokerProperties::default()
                };
                (StatusCode::OK, [("BrokerProperties", broker.to_header())]).into_response()
            }
            Ok(None) => lost(),
            Err(e) => internal(e),
        },
    }
}

/// A parsed message: the broker properties as sent, and what the store keeps.
type Parsed = (BrokerProperties, NewMessage);

fn new_message(
    body: Vec<u8>,
    content_type: Option<String>,
    broker: BrokerProperties,
    properties: BTreeMap<String, serde_json::Value>,
) -> Parsed {
    let message = NewMessage {
        body,
        content_type,
        message_id: broker.message_id.clone(),
        correlation_id: broker.correlation_id.clone(),
        label: broker.label.clone(),
        session_id: broker.session_id.clone(),
        to: broker.to.clone(),
        reply_to: broker.reply_to.clone(),
        time_to_live: broker
            .time_to_live
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(Duration::from_secs_f64),
        scheduled_enqueue_ms: broker
            .scheduled_enqueue_time_utc
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        properties,
    };
    (broker, message)
}

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
    Ok(vec![new_message(
        body.to_vec(),
        content_type,
        broker,
        props,
    )])
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
    if entries.is_empty() {
        return Err("batch body: no messages".into());
    }
    entries
        .into_iter()
        .map(|e| {
            let broker = match e.broker_properties {
                None | Some(serde_json::Value::Null) => BrokerProperties::default(),
                Some(serde_json::Value::Object(o)) => {
                    BrokerProperties::from_object(&o).map_err(|e| e.to_string())?
                }
                Some(_) => return Err("batch body: BrokerProperties is not an object".into()),
            };
            Ok(new_message(
                e.body.into_bytes(),
                None,
                broker,
                e.user_properties,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(matches!(parse_path("q/messages"), Some(Target::Send("q"))));
        assert!(matches!(
            parse_path("t/subscriptions/s/messages/head"),
            Some(Target::Head("t/subscriptions/s"))
        ));
        assert!(matches!(
            parse_path("q/$DeadLetterQueue/messages/12/abc"),
            Some(Target::Locked("q/$DeadLetterQueue", "12", "abc"))
        ));
        assert!(parse_path("q").is_none());
        assert!(parse_path("/messages").is_none());
        assert!(parse_path("q/messages/1/2/3").is_none());
    }
}
