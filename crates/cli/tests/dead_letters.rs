//! `dead-letters` against the Service Bus stand-in of crate servicebus-emulator (the REST
//! receive verbs on `$DeadLetterQueue`), through the real binary.

mod support;

use azure_clients::ServiceBusConnection;
use azure_clients::servicebus::sas_token;
use support::*;

/// Peek-locks and abandons the head of `queue` until Service Bus dead-letters it
/// (MaxDeliveryCount 10).
async fn dead_letter_head(cs: &str, queue: &str) {
    let c = ServiceBusConnection::parse(cs).unwrap();
    let http = reqwest::Client::new();
    let resource = format!("{}{queue}", c.endpoint);
    let auth = || {
        sas_token(&resource, &c.key_name, &c.key, i64::MAX / 2)
            .expose()
            .to_owned()
    };
    for _ in 0..10 {
        let r = http
            .post(format!("{}{queue}/messages/head?timeout=5", c.endpoint))
            .header("Authorization", auth())
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let r = http
            .put(location)
            .header("Authorization", auth())
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

#[tokio::test]
async fn list_resubmit_and_purge_dead_letters() {
    let db = std::env::temp_dir().join(format!("imageferry-dlq-{}.db", uuid::Uuid::new_v4()));
    let bus = servicebus_emulator::start(servicebus_emulator::EmulatorOptions::new(db.clone()))
        .await
        .expect("emulator starts");
    let env = vec![("ServiceBusConnection".to_owned(), bus.connection_string())];
    let file = example();
    for id in ["dl-one", "dl-two"] {
        let out = cli(
            &env,
            &["send", "deployment-requested", &file, "--message-id", id],
        )
        .await;
        assert_eq!(code(&out), 0, "{:?}", text(&out));
    }
    dead_letter_head(&bus.connection_string(), "deployment-requested").await;
    dead_letter_head(&bus.connection_string(), "deployment-requested").await;

    let out = cli(
        &env,
        &["dead-letters", "deployment-requested", "--output", "json"],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["deploymentId"], "web-canary-42");
    assert_eq!(list[0]["messageId"], "dl-one");
    assert_eq!(list[0]["reason"], "MaxDeliveryCountExceeded");
    assert!(list[0]["deliveryCount"].as_u64().unwrap() >= 10);

    // Listing leaves them there; the human table names them.
    let out = cli(&env, &["dead-letters"]).await;
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout.matches("MaxDeliveryCountExceeded").count(),
        2,
        "{stdout}"
    );

    // Resubmit one by MessageId: back in the queue, gone from the DLQ.
    let out = cli(
        &env,
        &[
            "dead-letters",
            "deployment-requested",
            "--resubmit",
            "dl-one",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert!(text(&out).0.contains("resubmitted"));
    // Purge the other; then the DLQ is empty and the queue holds the resubmitted message.
    let out = cli(
        &env,
        &["dead-letters", "deployment-requested", "--purge", "dl-two"],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let out = cli(
        &env,
        &["dead-letters", "deployment-requested", "--output", "json"],
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    let c = ServiceBusConnection::parse(&bus.connection_string()).unwrap();
    let resource = format!("{}deployment-requested", c.endpoint);
    let r = reqwest::Client::new()
        .delete(format!(
            "{}deployment-requested/messages/head?timeout=5",
            c.endpoint
        ))
        .header(
            "Authorization",
            sas_token(&resource, &c.key_name, &c.key, i64::MAX / 2).expose(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["deploymentId"], "web-canary-42");

    // Nothing of that id: exit 1.
    let out = cli(
        &env,
        &["dead-letters", "deployment-requested", "--purge", "nope"],
    )
    .await;
    assert_eq!(code(&out), 1);
    bus.shutdown().await;
    let _ = std::fs::remove_file(&db);
}
