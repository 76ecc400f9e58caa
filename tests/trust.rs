//! The trust boundary across real processes: forged and hostile messages sent to the queues the
//! way any sender on the namespace could, against the real `handler` binary and the Azure
//! stand-in. Each must end in exactly one terminal event, and nothing outside the request's
//! allow-listed scope (or a foreign host) may be touched.

use std::collections::BTreeMap;
use std::time::Duration;

use local_run::stack::seed;
use local_run::{LocalStack, LocalStackOptions};
use serde_json::{Value, json};

const EVENTS: &str = "deployment-events";
/// A subscription no allow-list names.
const FOREIGN_SUB: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

async fn stack(settings: &[(&str, &str)], scenario: Option<std::path::PathBuf>) -> LocalStack {
    let mut options = LocalStackOptions::for_repository();
    options.time_scale = Some(60.0);
    options.scenario = scenario;
    options.settings = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

fn request(deployment_id: &str, image: &str, vm_name: &str) -> Value {
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
        "vm": { "name": vm_name, "size": "Standard_D2s_v5", "adminUsername": "azureuser", "publicIp": true,
                "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyOnlyForTheEndToEndTestsXXXXXXXXXX e2e" },
        "network": { "allowInboundFrom": ["203.0.113.0/24"] }
    })
}

fn vm_id(sub: &str, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
    )
}

fn in_a_day() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    // RFC 3339 from a Unix time (days since 1970-01-01 to a civil date; Howard Hinnant's algorithm).
    let (days, secs) = ((t / 86_400) as i64, t % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Terminal events by deployment id (`""` for bodies without a usable id), each list in order.
fn terminals(stack: &LocalStack) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in stack.events(EVENTS).iter().filter_map(|e| e.json()) {
        if matches!(
            e["status"].as_str(),
            Some("succeeded" | "failed" | "rejected")
        ) {
            out.entry(e["deploymentId"].as_str().unwrap_or_default().to_string())
                .or_default()
                .push(e);
        }
    }
    out
}

async fn sim_requests(stack: &LocalStack) -> Vec<Value> {
    reqwest::get(format!("{}/_sim/requests", stack.azure.base_url))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_hostile_messages_are_rejected_without_touching_anything_outside() {
    let mut stack = stack(&[], None).await;
    let own_vm = vm_id(seed::SUBSCRIPTION_2, seed::RESOURCE_GROUP, "forgedVm");
    let deadline = in_a_day();
    let base = &stack.azure.base_url;

    // A forged vm-provisioning naming a VM in another subscription, and one that walks out of
    // the target resource group with `..`.
    let forged = |id: &str, vm: String, operation: Option<Value>| {
        let mut m = json!({
            "request": request(id, "myImageDefinition", "forgedVm"),
            "attempt": 1, "deadline": deadline, "vmId": vm
        });
        if let Some(op) = operation {
            m["operation"] = op;
        }
        m
    };
    let sends: Vec<(&str, String, &str)> = vec![
        (
            "vm-provisioning",
            forged(
                "forged-foreign-vm",
                vm_id(FOREIGN_SUB, "theirRG", "theirVM"),
                None,
            )
            .to_string(),
            "ForeignResource",
        ),
        (
            "vm-provisioning",
            forged(
                "forged-dotdot-vm",
                format!("{own_vm}/../../../../../../subscriptions/{FOREIGN_SUB}/resourceGroups/theirRG/providers/Microsoft.Compute/virtualMachines/theirVM"),
                None,
            )
            .to_string(),
            "ForeignResource",
        ),
        // The right VM, but an operation URL on the ARM host under another subscription.
        (
            "vm-provisioning",
            forged(
                "forged-operation",
                own_vm.clone(),
                Some(json!({
                    "url": format!("{base}/subscriptions/{FOREIGN_SUB}/providers/Microsoft.Compute/locations/southcentralus/operations/op1?api-version=2025-04-01"),
                    "kind": "azureAsyncOperation"
                })),
            )
            .to_string(),
            "UntrustedUrl",
        ),
        // Secret ids on a loopback port that is not the configured stand-in, and on a foreign host.
        (
            "deployment-requested",
            {
                let mut r = request("secret-loopback", "myWindowsImage", "winA");
                r["vm"]["adminPasswordSecretId"] = json!("http://127.0.0.1:9/secrets/vm-admin-password");
                r.to_string()
            },
            "UntrustedSecretId",
        ),
        (
            "deployment-requested",
            {
                let mut r = request("secret-foreign", "myWindowsImage", "winB");
                r["vm"]["adminPasswordSecretId"] = json!("https://evil.example.com/secrets/vm-admin-password");
                r.to_string()
            },
            "UntrustedSecretId",
        ),
        // `..` and `%2e%2e` in the image id.
        (
            "deployment-requested",
            request("image-dotdot", "..", "dotVm").to_string(),
            "ValidationFailed",
        ),
        (
            "deployment-requested",
            request("image-encoded", "%2e%2e", "encVm").to_string(),
            "ValidationFailed",
        ),
        // A top-level field named like a Service Bus system property.
        (
            "deployment-requested",
            {
                let mut r = request("delivery-count", "myImageDefinition", "dcVm");
                r["DeliveryCount"] = json!(1);
                r.to_string()
            },
            "UnknownFields",
        ),
    ];
    let expected: BTreeMap<String, &str> = sends
        .iter()
        .map(|(_, body, code)| {
            let id = serde_json::from_str::<Value>(body).unwrap();
            let id = id["deploymentId"]
                .as_str()
                .or_else(|| id["request"]["deploymentId"].as_str())
                .unwrap()
                .to_string();
            (id, *code)
        })
        .collect();
    for (i, (queue, body, _)) in sends.iter().enumerate() {
        stack
            .send(queue, body, &format!("hostile-{i}"))
            .await
            .unwrap();
    }
    let done = stack
        .pump
        .run_until(Duration::from_secs(60), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter(|e| e.json().is_some_and(|v| v["status"] == "rejected"))
                .count()
                >= sends.len()
        })
        .await;
    assert!(done, "history: {:#?}", stack.pump.history());
    let terminals = terminals(&stack);
    for (id, code) in &expected {
        let events = terminals
            .get(id)
            .unwrap_or_else(|| panic!("{id}: no terminal event"));
        assert_eq!(
            events.len(),
            1,
            "{id}: exactly one terminal event: {events:#?}"
        );
        assert_eq!(events[0]["status"], "rejected", "{id}: {:#}", events[0]);
        assert_eq!(events[0]["error"]["code"], *code, "{id}: {:#}", events[0]);
    }
    let dc = &terminals["delivery-count"][0];
    assert!(
        dc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DeliveryCount"),
        "the refused field is named: {dc:#}"
    );
    assert!(stack.pump.dead_letters().is_empty());

    // Nothing outside was touched: no request under the foreign subscription, no secret read,
    // no write at all, no `..` or percent-encoded segment reached ARM.
    let requests = sim_requests(&stack).await;
    for r in &requests {
        let path = r["path"].as_str().unwrap();
        assert!(!path.contains(FOREIGN_SUB), "{r:#}");
        assert!(!path.starts_with("/secrets/"), "{r:#}");
        assert!(!path.contains("/..") && !path.contains('%'), "{r:#}");
        if path.starts_with("/subscriptions/") {
            assert_eq!(r["method"], "GET", "{r:#}");
        }
    }
    assert!(
        !requests
            .iter()
            .any(|r| r["path"].as_str().unwrap().contains("/virtualMachines/")),
        "the forged messages read no VM"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_250_kb_undecodable_body_on_its_last_delivery_ends_rejected_with_a_bounded_echo() {
    let mut stack = stack(&[("IMAGEFERRY_MAX_DELIVERY_COUNT", "1")], None).await;
    let raw = format!("not json: {}", "\u{1}\"x".repeat(250 * 1024 / 3));
    assert!(
        raw.len() > 240 * 1024
            && raw.len() < servicebus_emulator::config::STANDARD_MAX_MESSAGE_BYTES
    );
    stack
        .send("deployment-requested", &raw, "big-1")
        .await
        .unwrap();
    let done = stack
        .pump
        .run_until(Duration::from_secs(30), |bus| {
            bus.accepted(EVENTS).iter().any(|e| e.json().is_some())
        })
        .await;
    assert!(done, "history: {:#?}", stack.pump.history());
    let events = stack.events(EVENTS);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = events[0].json().unwrap();
    assert_eq!(event["status"], "rejected");
    assert_eq!(event["error"]["code"], "UndecodableBody");
    assert_eq!(event["bodySize"], raw.len());
    assert_eq!(event["bodyCut"], true);
    assert_eq!(event["bodySha256"].as_str().unwrap().len(), 64);
    let echoed = event["rawBody"].as_str().unwrap();
    assert!(raw.starts_with(echoed) && echoed.len() < raw.len());
    assert!(
        events[0].body.len() < 128 * 1024,
        "the event stays well inside 256 KB: {} bytes",
        events[0].body.len()
    );
    assert!(stack.bus.refused().is_empty(), "{:#?}", stack.bus.refused());
    assert!(stack.pump.dead_letters().is_empty());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_slow_network_outlasting_the_step_budget_still_ends_succeeded() {
    // Network resources take 5 real seconds to provision (300 simulated seconds at 60x) and a
    // tenth of all requests is throttled (429, Retry-After 1 s); a step may take 3 s.
    let scenario =
        std::env::temp_dir().join(format!("imageferry-slow-net-{}.toml", std::process::id()));
    let default = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/azure-sim/scenarios/default.toml"),
    )
    .unwrap();
    let slow = default
        .replace("network_secs = 2", "network_secs = 300")
        .replace("throttle_rate = 0.0", "throttle_rate = 0.1");
    assert_ne!(slow, default);
    std::fs::write(&scenario, slow).unwrap();
    let mut stack = stack(&[("IMAGEFERRY_STEP_BUDGET", "3s")], Some(scenario.clone())).await;
    let body = request("slow-net", "myImageDefinition", "slowNet");
    stack
        .send(
            "deployment-requested",
            &body.to_string(),
            "slow-net:request",
        )
        .await
        .unwrap();
    let done = stack
        .pump
        .run_until(Duration::from_secs(120), |bus| {
            bus.accepted(EVENTS).iter().any(|e| {
                e.json().is_some_and(|v| {
                    matches!(
                        v["status"].as_str(),
                        Some("succeeded" | "failed" | "rejected")
                    )
                })
            })
        })
        .await;
    let _ = std::fs::remove_file(&scenario);
    assert!(done, "history: {:#?}", stack.pump.history());
    let terminals = terminals(&stack);
    let end = &terminals["slow-net"];
    assert_eq!(end.len(), 1, "{end:#?}");
    assert_eq!(end[0]["status"], "succeeded", "{:#}", end[0]);
    let continued: Vec<String> = stack
        .bus
        .accepted("image-version-replicated")
        .iter()
        .filter_map(|m| m.broker.message_id.clone())
        .filter(|id| id.contains(":continued-"))
        .collect();
    assert!(
        !continued.is_empty(),
        "the network outlasted the budget and was picked up by a continuation"
    );
    // No invocation ran past the budget by much (the host's functionTimeout is never met).
    for d in stack.pump.history() {
        assert!(d.status != 0, "an invocation got no answer: {d:#?}");
    }
    stack.shutdown().await;
}
