//! Service Bus REST sender against a fake namespace: headers, SAS, Entra auth, retries, errors.

mod common;

use azure_clients::{
    Endpoints, OutgoingMessage, RetryPolicy, SecretString, ServiceBusConnection, ServiceBusError,
    ServiceBusSender,
};
use base64::Engine;
use common::{Recorded, fake_server, json, static_tokens, vars};
use serde_json::json as j;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use time::macros::datetime;
use url::Url;
use url::form_urlencoded;

const KEY: &str = "c2FzLWtleS1mb3ItdGVzdHM=";

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_total: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

fn sas_sender(base: &Url) -> ServiceBusSender {
    let cs = format!(
        "Endpoint=sb://{}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY};UseDevelopmentEmulator=true;",
        base.host_str().unwrap().to_owned() + ":" + &base.port().unwrap().to_string()
    );
    ServiceBusSender::from_connection(ServiceBusConnection::parse(&cs).unwrap()).with_retry(retry())
}

fn message() -> OutgoingMessage {
    OutgoingMessage {
        body: r#"{"deploymentId":"d-1"}"#.into(),
        message_id: Some("d-1:replication-check:3".into()),
        correlation_id: Some("d-1".into()),
        scheduled_enqueue_time: Some(datetime!(2026-11-22 08:49:37 UTC)),
        time_to_live: Some(Duration::from_secs(90)),
        label: Some("replication-check".into()),
        application_properties: BTreeMap::from([
            ("Priority".to_string(), "High".to_string()),
            ("attempt".to_string(), "42".to_string()),
        ]),
        ..OutgoingMessage::default()
    }
}

#[tokio::test]
async fn sas_send_sets_the_documented_headers() {
    let (base, log) = fake_server(|_| json(201, j!({}), &[])).await;
    sas_sender(&base)
        .send("replication-check", message())
        .await
        .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    let r: &Recorded = &log[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/replication-check/messages");
    // With application properties the message goes in the batch form, which keeps the
    // properties' names as written (headers would arrive lowercased).
    assert_eq!(
        r.headers["content-type"],
        "application/vnd.microsoft.servicebus.json"
    );
    assert!(!r.headers.contains_key("brokerproperties"));
    let batch: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        batch,
        j!([{
            "Body": r#"{"deploymentId":"d-1"}"#,
            "BrokerProperties": {
                "MessageId": "d-1:replication-check:3",
                "CorrelationId": "d-1",
                "ScheduledEnqueueTimeUtc": "Sun, 22 Nov 2026 08:49:37 GMT",
                "TimeToLive": 90,
                "Label": "replication-check",
            },
            "UserProperties": { "Priority": "High", "attempt": "42" },
        }])
    );

    // SAS: SharedAccessSignature sr=..&sig=..&se=..&skn=.., signature verified.
    let auth = &r.headers["authorization"];
    let params = auth.strip_prefix("SharedAccessSignature ").expect(auth);
    let fields: HashMap<String, String> = form_urlencoded::parse(params.as_bytes())
        .into_owned()
        .collect();
    let keys: Vec<&str> = params
        .split('&')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["sr", "sig", "se", "skn"]);
    let resource = format!("{}replication-check", base.as_str());
    assert_eq!(fields["sr"], resource);
    assert_eq!(fields["skn"], "RootManageSharedAccessKey");
    let se: i64 = fields["se"].parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(se > now + 3000 && se <= now + 3600, "{se} vs {now}");
    let encoded_sr: String = form_urlencoded::byte_serialize(resource.as_bytes()).collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, KEY.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&fields["sig"])
        .unwrap();
    ring::hmac::verify(&key, format!("{encoded_sr}\n{se}").as_bytes(), &sig)
        .expect("valid SAS signature");
}

#[tokio::test]
async fn a_message_without_properties_is_a_single_send_with_broker_properties() {
    let (base, log) = fake_server(|_| json(201, j!({}), &[])).await;
    let plain = OutgoingMessage {
        application_properties: BTreeMap::new(),
        ..message()
    };
    sas_sender(&base)
        .send("replication-check", plain)
        .await
        .unwrap();
    let log = log.lock().unwrap();
    let r: &Recorded = &log[0];
    assert_eq!(r.body, r#"{"deploymentId":"d-1"}"#);
    assert_eq!(r.headers["content-type"], "application/json");
    let broker: serde_json::Value = serde_json::from_str(&r.headers["brokerproperties"]).unwrap();
    assert_eq!(
        broker,
        j!({
            "MessageId": "d-1:replication-check:3",
            "CorrelationId": "d-1",
            "ScheduledEnqueueTimeUtc": "Sun, 22 Nov 2026 08:49:37 GMT",
            "TimeToLive": 90,
            "Label": "replication-check",
        })
    );
}

#[test]
fn sas_token_matches_a_known_vector() {
    // Computed independently: HMAC-SHA256("key", "https%3A%2F%2Fns.servicebus.windows.net%2Fq\n1700000000").
    let token = azure_clients::servicebus::sas_token(
        "https://ns.servicebus.windows.net/q",
        "send",
        &SecretString::new("key"),
        1_700_000_000,
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"key");
    let tag = ring::hmac::sign(
        &key,
        b"https%3A%2F%2Fns.servicebus.windows.net%2Fq\n1700000000",
    );
    let sig: String = form_urlencoded::byte_serialize(
        base64::engine::general_purpose::STANDARD
            .encode(tag.as_ref())
            .as_bytes(),
    )
    .collect();
    assert_eq!(
        token.expose(),
        format!(
            "SharedAccessSignature sr=https%3A%2F%2Fns.servicebus.windows.net%2Fq&sig={sig}&se=1700000000&skn=send"
        )
    );
    assert!(!format!("{token:?}").contains("SharedAccessSignature"));
}

#[tokio::test]
async fn entra_auth_when_only_the_namespace_is_set() {
    let endpoints = Endpoints::for_cloud(azure_clients::Cloud::Public);
    let sender = ServiceBusSender::from_vars(
        vars(&[
            (
                "ServiceBusConnection__fullyQualifiedNamespace",
                "myns.servicebus.windows.net",
            ),
            ("AZURE_TENANT_ID", "11111111-1111-4111-8111-111111111111"),
        ]),
        static_tokens(),
        &endpoints,
    )
    .unwrap();
    assert_eq!(
        sender.endpoint().as_str(),
        "https://myns.servicebus.windows.net/"
    );
    assert!(format!("{sender:?}").contains("Entra"));
    // A connection string wins over the namespace.
    let sender = ServiceBusSender::from_vars(
        vars(&[
            ("ServiceBusConnection", "Endpoint=sb://other.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"),
            ("ServiceBusConnection__fullyQualifiedNamespace", "myns.servicebus.windows.net"),
        ]),
        static_tokens(),
        &endpoints,
    )
    .unwrap();
    assert_eq!(
        sender.endpoint().as_str(),
        "https://other.servicebus.windows.net/"
    );
    assert!(ServiceBusSender::from_vars(vars(&[]), static_tokens(), &endpoints).is_err());

    // The bearer token goes in Authorization.
    let (base, log) = fake_server(|_| json(201, j!({}), &[])).await;
    let sender = ServiceBusSender::with_entra(
        base.clone(),
        static_tokens(),
        "11111111-1111-4111-8111-111111111111",
        endpoints.servicebus_scope.clone(),
    );
    sender
        .send(
            "deployment-events",
            OutgoingMessage::json(&j!({"a": 1})).unwrap(),
        )
        .await
        .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        log[0].headers["authorization"],
        "Bearer t-11111111-1111-4111-8111-111111111111"
    );
    assert_eq!(log[0].headers["brokerproperties"], "{}");
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let (base, log) = fake_server(|r| match r.seen {
        0 | 1 => json(503, j!({}), &[]),
        _ => json(201, j!({}), &[]),
    })
    .await;
    sas_sender(&base).send("q", message()).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 3);

    let (base, log) = fake_server(|_| json(500, j!({}), &[])).await;
    let err = sas_sender(&base).send("q", message()).await.unwrap_err();
    assert!(matches!(err, ServiceBusError::Unavailable { status: 500, .. }) && err.is_transient());
    assert_eq!(log.lock().unwrap().len(), 3, "max_attempts");
}

#[tokio::test]
async fn client_errors_are_permanent_and_typed() {
    let (base, log) = fake_server(|r| match r.path.as_str() {
        "/gone/messages" => json(410, j!({}), &[]),
        "/missing/messages" => json(404, j!({}), &[]),
        "/denied/messages" => json(401, j!({}), &[]),
        "/full/messages" => json(403, j!({}), &[]),
        "/big/messages" => json(413, j!({}), &[]),
        _ => json(400, j!({}), &[]),
    })
    .await;
    let sender = sas_sender(&base);
    let e = sender.send("gone", message()).await.unwrap_err();
    assert!(matches!(e, ServiceBusError::EntityNotFound { status: 410, .. }) && !e.is_transient());
    assert!(matches!(
        sender.send("missing", message()).await,
        Err(ServiceBusError::EntityNotFound { status: 404, .. })
    ));
    assert!(matches!(
        sender.send("denied", message()).await,
        Err(ServiceBusError::Unauthorized { .. })
    ));
    assert!(matches!(
        sender.send("full", message()).await,
        Err(ServiceBusError::Forbidden { .. })
    ));
    assert!(matches!(
        sender.send("big", message()).await,
        Err(ServiceBusError::TooLarge { .. })
    ));
    assert!(matches!(
        sender.send("bad", message()).await,
        Err(ServiceBusError::Rejected { status: 400, .. })
    ));
    assert_eq!(log.lock().unwrap().len(), 6, "no retries on 4xx");
}

#[tokio::test]
async fn messages_that_cannot_travel_as_headers_are_refused_before_sending() {
    let (base, log) = fake_server(|_| json(201, j!({}), &[])).await;
    let sender = sas_sender(&base);
    let with_prop = |k: &str, v: &str| OutgoingMessage {
        application_properties: BTreeMap::from([(k.to_string(), v.to_string())]),
        ..message()
    };
    for m in [
        with_prop("Authorization", "x"),
        with_prop("BrokerProperties", "x"),
        with_prop("bad name", "x"),
        with_prop("ok", "café"),
        with_prop("ok", "line\nbreak"),
    ] {
        let props = format!("{:?}", m.application_properties);
        let result = sender.send("q", m).await;
        assert!(
            matches!(result, Err(ServiceBusError::InvalidMessage(_))),
            "{props}: {result:?}"
        );
    }
    for entity in ["", "../x", "/q", "a?b", "q#x"] {
        assert!(
            matches!(
                sender.send(entity, message()).await,
                Err(ServiceBusError::InvalidMessage(_))
            ),
            "{entity}"
        );
    }
    assert!(log.lock().unwrap().is_empty());
}
