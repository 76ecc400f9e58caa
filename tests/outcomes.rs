//! Outcomes across real processes (azure-sim, the Service Bus stand-in, the real `handler` under
//! the local host's delivery): a permanent cause fails at once with the hint that names it, and a
//! step racing its own duplicate to two different outcomes publishes one terminal event.

use std::time::Duration;

use azure_clients::{OutgoingMessage, ServiceBusConnection, ServiceBusSender};
use local_run::stack::seed;
use local_run::{LocalStack, LocalStackOptions};
use serde_json::{Value, json};

const EVENTS: &str = "deployment-events";

async fn stack() -> LocalStack {
    let mut options = LocalStackOptions::for_repository();
    options.time_scale = Some(60.0);
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

fn request(deployment_id: &str, image: &str, vm: Value) -> Value {
    json!({
        "deploymentId": deployment_id,
        "image": {
            "id": format!("/subscriptions/{}/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/{image}/versions/1.0.0", seed::SUBSCRIPTION_1),
            "tenantId": seed::TENANT_1
        },
        "target": {
            "tenantId": seed::TENANT_2,
            "subscriptionId": seed::SUBSCRIPTION_2,
            "resourceGroup": seed::RESOURCE_GROUP,
            "location": "southcentralus"
        },
        "vm": vm,
        "network": { "allowInboundFrom": ["203.0.113.0/24"] }
    })
}

fn terminal(stack: &LocalStack, id: &str) -> Vec<Value> {
    stack
        .events(EVENTS)
        .iter()
        .filter_map(|e| e.json())
        .filter(|e| {
            e["deploymentId"] == id
                && matches!(
                    e["status"].as_str(),
                    Some("succeeded" | "failed" | "rejected")
                )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_that_does_not_resolve_fails_at_once_with_the_hint_naming_it() {
    let mut stack = stack().await;
    // A vault name nobody has, as a placeholder in a copied example would be.
    let host = "imageferry-nx-7f3a9c.vault.azure.net";
    let body = request(
        "nx-vault",
        "myWindowsImage",
        json!({ "name": "winVM", "size": "Standard_D2s_v5", "adminUsername": "azureadmin",
                "adminPasswordSecretId": format!("https://{host}/secrets/vm-admin-password"),
                "publicIp": true }),
    );
    let started = std::time::Instant::now();
    stack
        .send(
            "deployment-requested",
            &body.to_string(),
            "nx-vault:request",
        )
        .await
        .unwrap();
    let done = stack
        .pump
        .run_until(Duration::from_secs(60), |bus| {
            bus.accepted(EVENTS).iter().any(|e| {
                e.json()
                    .is_some_and(|v| v["deploymentId"] == "nx-vault" && v["status"] == "failed")
            })
        })
        .await;
    assert!(done, "history: {:#?}", stack.pump.history());
    let end = terminal(&stack, "nx-vault");
    assert_eq!(end.len(), 1, "{end:#?}");
    let error = &end[0]["error"];
    let message = error["message"].as_str().unwrap();
    if message.contains("Temporary failure in name resolution") {
        eprintln!("skipped: this machine's resolver does not answer ({message})");
        stack.shutdown().await;
        return;
    }
    assert_eq!(error["code"], "SecretUnavailable", "{error:#}");
    let hint = error["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("{host} does not resolve")) && !hint.contains("Secrets User"),
        "{hint}"
    );
    // At once: no scheduled retry, no network resource, well under any retry budget.
    assert!(started.elapsed() < Duration::from_secs(30));
    let retries = stack
        .bus
        .accepted("image-version-replicated")
        .iter()
        .filter(|m| {
            m.broker
                .message_id
                .as_deref()
                .is_some_and(|id| id.contains(":retry-"))
        })
        .count();
    assert_eq!(retries, 0);
    let puts: Vec<Value> = reqwest::get(format!("{}/_sim/requests", stack.azure.base_url))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/subscriptions/"))
        })
        .collect();
    assert!(puts.is_empty(), "{puts:#?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_racing_its_own_duplicate_to_two_outcomes_publishes_one_terminal_event() {
    let mut stack = stack().await;
    let body = request(
        "race-e2e",
        "myImageDefinition",
        json!({ "name": "raceVm", "size": "Standard_D2s_v5", "adminUsername": "azureuser",
                "publicIp": true,
                "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyOnlyForTheEndToEndTestsXXXXXXXXXX e2e" }),
    );
    stack
        .send(
            "deployment-requested",
            &body.to_string(),
            "race-e2e:request",
        )
        .await
        .unwrap();
    let succeeded = stack
        .pump
        .run_until(Duration::from_secs(120), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .any(|e| e.json().is_some_and(|v| v["status"] == "succeeded"))
        })
        .await;
    assert!(succeeded, "history: {:#?}", stack.pump.history());

    // A duplicate of the last poll arrives at the end of its retry chain while ARM is down: its
    // own outcome would be `failed` (RetriesExhausted).
    let poll = stack.bus.accepted("vm-provisioning").pop().unwrap();
    let faults = format!("{}/_sim/faults", stack.azure.base_url);
    let client = reqwest::Client::new();
    let mut f: Value = client
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    f["server_error_rate"] = 1.0.into();
    client.post(&faults).json(&f).send().await.unwrap();
    let origin = poll.broker.message_id.clone().unwrap();
    let mut message = OutgoingMessage {
        body: poll.body.clone(),
        message_id: Some(format!("{origin}:retry-7")),
        ..OutgoingMessage::default()
    };
    for (k, v) in [
        ("imageferryRetryOf", origin.as_str()),
        ("imageferryRetry", "7"),
        ("imageferryRetrySince", "2020-01-01T00:00:00Z"),
    ] {
        message.application_properties.insert(k.into(), v.into());
    }
    ServiceBusSender::from_connection(
        ServiceBusConnection::parse(&stack.bus.connection_string()).unwrap(),
    )
    .send("vm-provisioning", message)
    .await
    .unwrap();
    let copy_id = format!("{origin}:retry-7");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !stack
        .pump
        .history()
        .iter()
        .any(|d| d.message_id.as_deref() == Some(copy_id.as_str()))
        && tokio::time::Instant::now() < deadline
    {
        if stack.pump.deliver_next().await.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let copy = stack
        .pump
        .history()
        .iter()
        .find(|d| d.message_id.as_deref() == Some(copy_id.as_str()))
        .cloned()
        .expect("the copy was delivered");
    assert!(
        copy.answer.contains(
            "failed: RetriesExhausted (not published: deployment race-e2e already succeeded)"
        ),
        "{copy:#?}"
    );
    let end = terminal(&stack, "race-e2e");
    assert_eq!(end.len(), 1, "{end:#?}");
    assert_eq!(end[0]["status"], "succeeded");
    stack.shutdown().await;
}
