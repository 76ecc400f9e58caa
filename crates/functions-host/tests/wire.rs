//! A message as the Service Bus stand-in recorded its send, handed to a function the way the
//! host hands it ([`functions_host::host_message`], reference NOTES §3).

use servicebus_emulator::{EmulatorOptions, NamespaceConfig};

#[tokio::test]
async fn a_sent_message_becomes_the_hosts_invocation() {
    let mut options = EmulatorOptions::in_memory();
    options.config =
        NamespaceConfig::parse(r#"{"queues":[{"name":"orders","properties":{}}]}"#).unwrap();
    let bus = servicebus_emulator::start(options).await.unwrap();
    let connection = azure_clients::ServiceBusConnection::parse(&bus.connection_string()).unwrap();
    let token = azure_clients::servicebus::sas_token(
        &format!("{}/orders", bus.base_url()),
        &connection.key_name,
        &connection.key,
        time::OffsetDateTime::now_utc().unix_timestamp() + 600,
    );
    reqwest::Client::new()
        .post(format!("{}/orders/messages", bus.base_url()))
        .header("authorization", token.expose())
        .header("content-type", "application/json")
        .header(
            "brokerproperties",
            r#"{"MessageId":"m-9","CorrelationId":"dep-1"}"#,
        )
        .header("deploymentId", "\"dep-1\"")
        .body(r#"{"deploymentId":"dep-1"}"#)
        .send()
        .await
        .unwrap();
    let m = &bus.sent("orders")[0];
    let hm = functions_host::host_message(&m.received(2));
    let inv = functions_runtime::host_wire::HostInvocation::new("orders", "message");
    let body: serde_json::Value =
        serde_json::from_str(&functions_runtime::host_wire::request_body(&hm, &inv)).unwrap();
    // Double-encoded body, quoted metadata strings, numbers as strings (reference NOTES §3).
    assert_eq!(
        body["Data"]["message"],
        "\"{\\\"deploymentId\\\":\\\"dep-1\\\"}\""
    );
    assert_eq!(body["Metadata"]["MessageId"], "\"m-9\"");
    assert_eq!(body["Metadata"]["DeliveryCount"], "2");
    assert_eq!(
        body["Metadata"]["ApplicationProperties"]["deploymentid"],
        "dep-1"
    );
    // What a receiver gets over the wire converts the same way.
    let receiver = azure_clients::servicebus::ServiceBusReceiver::from_connection(connection);
    let locked = receiver
        .peek_lock("orders", std::time::Duration::from_secs(1))
        .await
        .unwrap()
        .expect("the message is there");
    let over_wire = functions_host::host_message(&locked);
    assert_eq!(over_wire.message_id.as_deref(), Some("m-9"));
    assert_eq!(over_wire.delivery_count, 1);
    assert_eq!(over_wire.correlation_id.as_deref(), Some("dep-1"));
    assert_eq!(over_wire.application_properties["deploymentid"], "dep-1");
    assert!(!over_wire.lock_token.is_empty());
    bus.shutdown().await;
}
