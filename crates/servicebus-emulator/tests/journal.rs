//! The stand-in in-process, as the handler's tests and the local run use it: the documented
//! REST send forms as the journal records them (broker and custom properties, batches,
//! duplicates flagged), refused sends, injected faults, the Standard tier's size limit.

use servicebus_emulator::{EmulatorHandle, EmulatorOptions, NamespaceConfig};

const ORDERS: &str =
    r#"{"queues":[{"name":"orders","properties":{"requiresDuplicateDetection":true}}]}"#;

fn key_of(conn: &str, name: &str) -> String {
    conn.split(';')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_string()
}

fn sas(bus: &EmulatorHandle, key: &str) -> String {
    azure_clients::servicebus::sas_token(
        &format!("{}/orders", bus.base_url()),
        &key_of(&bus.connection_string(), "SharedAccessKeyName"),
        &azure_clients::SecretString::new(key),
        time::OffsetDateTime::now_utc().unix_timestamp() + 600,
    )
    .expose()
    .to_string()
}

async fn emulator() -> (EmulatorHandle, String) {
    let mut options = EmulatorOptions::in_memory();
    options.config = NamespaceConfig::parse(ORDERS).unwrap();
    let bus = servicebus_emulator::start(options).await.unwrap();
    let key = key_of(&bus.connection_string(), "SharedAccessKey");
    let token = sas(&bus, &key);
    (bus, token)
}

#[tokio::test]
async fn single_send_with_broker_and_custom_properties() {
    let (bus, token) = emulator().await;
    assert!(
        bus.connection_string()
            .ends_with(";UseDevelopmentEmulator=true")
    );
    let status = reqwest::Client::new()
        .post(format!("{}/orders/messages?timeout=60", bus.base_url()))
        .header("authorization", &token)
        .header("content-type", "application/json")
        .header(
            "brokerproperties",
            r#"{"MessageId":"m-1","CorrelationId":"c-1","Label":"M1","TimeToLive":10,"ScheduledEnqueueTimeUtc":"Sun, 06 Nov 2044 08:49:37 GMT"}"#,
        )
        .header("Priority", "\"High\"")
        .header("Customer", "12345,ABC")
        .header("Attempt", "3")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 201);
    let [m] = bus.sent("orders").try_into().unwrap();
    assert_eq!(m.body, r#"{"a":1}"#);
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(m.broker.message_id.as_deref(), Some("m-1"));
    assert_eq!(m.broker.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(m.broker.label.as_deref(), Some("M1"));
    assert_eq!(m.broker.time_to_live, Some(10.0));
    assert_eq!(m.visible_at().year(), 2044);
    assert_eq!(m.application_properties["priority"], "High");
    assert_eq!(m.application_properties["customer"], "12345,ABC");
    assert_eq!(m.application_properties["attempt"], 3);
    assert!(!m.duplicate);
}

#[tokio::test]
async fn duplicate_message_ids_are_recorded_but_flagged() {
    let (bus, token) = emulator().await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let s = client
            .post(format!("{}/orders/messages", bus.base_url()))
            .header("authorization", &token)
            .header("brokerproperties", r#"{"MessageId":"same"}"#)
            .body("x")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            s.as_u16(),
            201,
            "Service Bus answers 201 and drops the duplicate"
        );
    }
    assert_eq!(bus.sent("orders").len(), 2);
    assert_eq!(bus.accepted("orders").len(), 1);
    // The store holds one: duplicate detection dropped the other.
    let counts = bus.counts().unwrap();
    assert_eq!(counts[0].active, 1, "{counts:?}");
}

#[tokio::test]
async fn batch_send_uses_the_documented_body() {
    let (bus, token) = emulator().await;
    let body = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../reference/functions/servicebus-rest-send-batch-body.json"
    ));
    let s = reqwest::Client::new()
        .post(format!("{}/orders/messages", bus.base_url()))
        .header("authorization", &token)
        .header("content-type", "application/vnd.microsoft.servicebus.json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s.as_u16(), 201);
    let sent = bus.sent("orders");
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].body, "This is the third message");
    assert_eq!(sent[2].broker.label.as_deref(), Some("M3"));
    assert_eq!(sent[2].application_properties["Customer"], "ABC");
}

#[tokio::test]
async fn bad_signatures_and_injected_faults_are_refused() {
    let (bus, _) = emulator().await;
    let client = reqwest::Client::new();
    let forged = sas(&bus, "not-the-key");
    let s = client
        .post(format!("{}/orders/messages", bus.base_url()))
        .header("authorization", forged)
        .body("x")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s.as_u16(), 401);
    let (bus2, token) = emulator().await;
    bus2.fail_next(1);
    let url = format!("{}/orders/messages", bus2.base_url());
    let first = client
        .post(&url)
        .header("authorization", &token)
        .body("x")
        .send()
        .await
        .unwrap();
    let second = client
        .post(&url)
        .header("authorization", &token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 503);
    assert_eq!(second.status().as_u16(), 201);
    assert!(bus.sent("orders").is_empty());
    assert_eq!(bus.refused()[0].0, 401);
}

#[tokio::test]
async fn bodies_over_the_standard_tier_limit_are_refused_with_403() {
    let (bus, token) = emulator().await;
    let limit = servicebus_emulator::config::STANDARD_MAX_MESSAGE_BYTES;
    let send = |len: usize| {
        reqwest::Client::new()
            .post(format!("{}/orders/messages", bus.base_url()))
            .header("authorization", &token)
            .header("content-type", "text/plain")
            .body("x".repeat(len))
            .send()
    };
    let at_limit = send(limit).await.unwrap();
    assert_eq!(at_limit.status().as_u16(), 201);
    let over = send(limit + 1).await.unwrap();
    assert_eq!(over.status().as_u16(), 403);
    assert!(over.text().await.unwrap().contains("MessageSizeExceeded"));
    assert_eq!(bus.sent("orders").len(), 1);
    assert_eq!(bus.refused()[0].0, 403);
}
