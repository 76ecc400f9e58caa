//! The two rollout functions in process (`image-version-published`, `rollout-check`): forged
//! and hostile messages end in a recorded outcome without a panic, unknown fields are named,
//! the step budget holds, Service Bus refusals are classified, and on the last delivery an event
//! that cannot be published leaves an error log line.

mod support;

use imageferry_contract::rollout::RolloutConfig;
use imageferry_handlers::rollout::state::RunState;
use imageferry_handlers::rollout::status::StatusReader;
use imageferry_handlers::rollout::{Rollouts, fanout};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/// Two rings of one target each, for the seeded image definition.
fn rollouts_toml() -> String {
    let target = |ring: &str, name: &str| {
        format!(
            r#"
[[rollout.ring]]
name = "{ring}"

[[rollout.ring.target]]
name = "{name}"
tenantId = "{TENANT2}"
subscriptionId = "{SUB2}"
resourceGroup = "myResourceGroup"
location = "southcentralus"
vm = {{ name = "{name}-{{version}}", size = "Standard_D2s_v5", adminUsername = "azureuser", sshPublicKey = "{KEY}" }}
network = {{ allowInboundFrom = ["203.0.113.0/24"] }}
"#
        )
    };
    format!(
        "version = 1\n\n[[rollout]]\nname = \"web\"\nimage = \"{GALLERY}/images/myImageDefinition\"\n{}{}",
        target("canary", "t2-canary"),
        target("broad", "t2-broad")
    )
}

async fn rollout_bench(config: imageferry_handlers::Config) -> (Bench, Arc<Rollouts>) {
    let mut bench = Bench::start(scenario(), config).await;
    let base = bench.sim.base_url();
    let vars: BTreeMap<&str, String> = [
        ("IMAGEFERRY_STATUS_TABLE_ENDPOINT", format!("{base}/table/")),
        ("AZURE_TENANT_ID", TENANT1.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", "local-sim-secret".to_string()),
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("IMAGEFERRY_ARM_ENDPOINT", base.clone()),
    ]
    .into();
    let (status, states) = StatusReader::from_vars(|k| vars.get(k).cloned())
        .unwrap()
        .expect("a status store");
    let rollouts = Arc::new(Rollouts {
        config: RolloutConfig::parse(&rollouts_toml()).unwrap(),
        source: "rollouts.toml".into(),
        status: Some(status),
        states: Some(states),
        check_interval: Duration::from_secs(60),
    });
    bench.with_rollouts(rollouts.clone());
    (bench, rollouts)
}

fn version() -> String {
    version_id("myImageDefinition")
}

/// Records that rollout `web` runs on the seeded version, as image-version-published does.
async fn record_running(bench: &Bench, rollouts: &Rollouts) {
    rollouts
        .states
        .as_ref()
        .unwrap()
        .set(
            "web",
            "myImageDefinition",
            &version(),
            RunState::Running,
            bench.app.clock.now(),
        )
        .await
        .unwrap();
}

fn check(bench: &Bench, extra: Value) -> String {
    let started = bench
        .app
        .clock
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut body = json!({"rollout": "web", "versionId": version(), "ring": 0,
        "ringStartedAt": started, "attempt": 1});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

/// The reference `ResourceWriteSuccess` event, made a write of the seeded version.
fn write_event() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../reference/eventgrid/resource-write-success.json"
    ))
    .unwrap();
    let mut e = serde_json::from_str::<Vec<Value>>(&text).unwrap().remove(0);
    let subject = version();
    e["subject"] = json!(subject);
    e["topic"] = json!(format!("/subscriptions/{SUB1}"));
    let d = &mut e["data"];
    d["resourceUri"] = json!(subject);
    d["operationName"] = json!("Microsoft.Compute/galleries/images/versions/write");
    d["tenantId"] = json!(TENANT1);
    e
}

/// The rollout events published (raw JSON), in order.
fn rollout_events(bench: &Bench) -> Vec<Value> {
    bench
        .capture
        .accepted(EVENTS)
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

fn only_event(bench: &Bench) -> Value {
    let events = rollout_events(bench);
    assert_eq!(events.len(), 1, "{events:#?}");
    events.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_ring_start_in_year_9999_is_rejected_without_panicking() {
    let (mut bench, rollouts) = rollout_bench(config()).await;
    record_running(&bench, &rollouts).await;
    let body = check(&bench, json!({"ringStartedAt": "9999-12-31T23:59:59Z"}));
    let status = bench
        .send_and_deliver(fanout::ROLLOUT_CHECK, &body, 1)
        .await;
    assert_eq!(status, 200);
    let event = only_event(&bench);
    assert_eq!(event["status"], "event-rejected", "{event:#}");
    assert_eq!(event["error"]["code"], "InvalidRolloutCheck");
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in the future")
    );
    assert!(
        bench.capture.sent(fanout::ROLLOUT_CHECK).len() == 1,
        "no check scheduled"
    );
}

#[tokio::test]
async fn a_rollout_check_with_unknown_fields_is_rejected_naming_them() {
    let (mut bench, rollouts) = rollout_bench(config()).await;
    record_running(&bench, &rollouts).await;
    let body = check(&bench, json!({"DeliveryCount": 1, "MessageId": "forged"}));
    let status = bench
        .send_and_deliver(fanout::ROLLOUT_CHECK, &body, 1)
        .await;
    assert_eq!(status, 200);
    let event = only_event(&bench);
    assert_eq!(event["status"], "event-rejected");
    assert_eq!(event["error"]["code"], "UnknownFields");
    let message = event["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("DeliveryCount") && message.contains("MessageId"),
        "{message}"
    );
    // A huge attempt is refused when decoded, too.
    let (mut bench, _) = rollout_bench(config()).await;
    let body = check(&bench, json!({"attempt": u32::MAX}));
    bench
        .send_and_deliver(fanout::ROLLOUT_CHECK, &body, 1)
        .await;
    let event = only_event(&bench);
    assert_eq!(event["error"]["code"], "UndecodableBody", "{event:#}");
}

#[tokio::test]
async fn a_check_of_a_rollout_that_is_not_running_on_the_version_starts_nothing() {
    let (mut bench, _) = rollout_bench(config()).await;
    let body = check(&bench, json!({}));
    let status = bench
        .send_and_deliver(fanout::ROLLOUT_CHECK, &body, 1)
        .await;
    assert_eq!(status, 200);
    assert!(rollout_events(&bench).is_empty());
    assert!(bench.capture.sent("deployment-requested").is_empty());
    assert_eq!(bench.capture.sent(fanout::ROLLOUT_CHECK).len(), 1);
}

#[tokio::test]
async fn a_running_ring_is_checked_again_until_the_checks_run_out() {
    let (mut bench, rollouts) = rollout_bench(config()).await;
    record_running(&bench, &rollouts).await;
    let body = check(&bench, json!({}));
    assert_eq!(
        bench
            .send_and_deliver(fanout::ROLLOUT_CHECK, &body, 1)
            .await,
        200
    );
    let next = bench.last_on(fanout::ROLLOUT_CHECK).json().unwrap();
    assert_eq!(next["attempt"], 2, "the next check is scheduled: {next:#}");
    assert!(rollout_events(&bench).is_empty());
    // The largest attempt: no further check can be numbered, so the ring halts.
    let max = imageferry_contract::steps::MAX_ATTEMPT;
    let body = check(&bench, json!({"attempt": max}));
    assert_eq!(
        bench
            .send_and_deliver(fanout::ROLLOUT_CHECK, &body, 1)
            .await,
        200
    );
    let event = only_event(&bench);
    assert_eq!(event["status"], "rollout-halted", "{event:#}");
    assert_eq!(event["error"]["code"], "TooManyChecks");
}

#[tokio::test]
async fn an_event_grid_event_with_undocumented_fields_is_rejected_and_a_documented_one_starts_ring_0()
 {
    let (mut bench, _) = rollout_bench(config()).await;
    let mut forged = write_event();
    forged["DeliveryCount"] = json!(1);
    let status = bench
        .send_and_deliver(fanout::IMAGE_VERSION_PUBLISHED, &forged.to_string(), 1)
        .await;
    assert_eq!(status, 200);
    let event = only_event(&bench);
    assert_eq!(event["status"], "event-rejected");
    assert_eq!(event["error"]["code"], "UnknownFields");
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DeliveryCount")
    );
    assert!(bench.capture.sent("deployment-requested").is_empty());

    // Every documented field of the reference event (topic, dataVersion, metadataVersion, …) is
    // accepted.
    let (mut bench, _) = rollout_bench(config()).await;
    let status = bench
        .send_and_deliver(
            fanout::IMAGE_VERSION_PUBLISHED,
            &write_event().to_string(),
            1,
        )
        .await;
    assert_eq!(status, 200);
    let statuses: Vec<Value> = rollout_events(&bench)
        .iter()
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("ring-started")]);
    assert_eq!(bench.capture.sent("deployment-requested").len(), 1);
}

#[tokio::test]
async fn a_rollout_function_over_its_budget_retries_on_schedule_then_halts() {
    let mut config = config();
    config.step_budget = Duration::from_nanos(1);
    let (mut bench, _) = rollout_bench(config).await;
    let body = write_event().to_string();
    let status = bench
        .send_and_deliver(fanout::IMAGE_VERSION_PUBLISHED, &body, 1)
        .await;
    assert_eq!(status, 200, "the message completes: its retry is scheduled");
    assert!(rollout_events(&bench).is_empty());
    let retry = bench.last_on(fanout::IMAGE_VERSION_PUBLISHED);
    assert!(
        retry
            .broker
            .message_id
            .as_deref()
            .is_some_and(|id| id.ends_with(":retry-1")),
        "{:?}",
        retry.broker.message_id
    );
    assert_eq!(retry.body, body, "the event itself, again");
    assert_eq!(retry.application_properties["imageferryRetry"], "1");
    // The same retry, delivered when the chain began longer ago than the outage budget: the
    // rollout halts, naming the cause.
    let long_ago = (bench.app.clock.now() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let status = bench
        .deliver_edited(&retry, 1, |m| {
            m.application_properties
                .insert("imageferryRetrySince".into(), json!(long_ago));
        })
        .await;
    assert_eq!(status, 200);
    let event = only_event(&bench);
    assert_eq!(event["status"], "rollout-halted");
    assert_eq!(event["error"]["code"], "RetriesExhausted");
    let message = event["error"]["message"].as_str().unwrap();
    for part in [
        "StepBudgetExceeded",
        "IMAGEFERRY_OUTAGE_BUDGET",
        "2 attempts",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

#[tokio::test]
async fn when_the_events_topic_refuses_on_the_last_delivery_an_error_line_names_the_rollout() {
    let (logs, _guard) = LogBuffer::capture();
    let (mut bench, rollouts) = rollout_bench(config()).await;
    record_running(&bench, &rollouts).await;
    let body = check(&bench, json!({"ringStartedAt": "9999-12-31T23:59:59Z"}));
    bench.submit_raw(fanout::ROLLOUT_CHECK, &body).await;
    let message = bench.last_on(fanout::ROLLOUT_CHECK);
    bench.capture.fail_next(1000);
    // Before the last delivery: redelivered.
    assert_eq!(bench.deliver_edited(&message, 1, |_| {}).await, 500);
    assert!(
        !logs.text().contains("could not be published"),
        "{}",
        logs.text()
    );
    // On the last one: completed, with the outcome in an error line.
    let max = bench.app.config.max_delivery_count;
    assert_eq!(bench.deliver_edited(&message, max, |_| {}).await, 200);
    assert!(rollout_events(&bench).is_empty());
    let line = logs.error_with("could not be published");
    for part in [
        "rollout-check",
        "web",
        version().as_str(),
        "event-rejected",
        "InvalidRolloutCheck",
        "ServiceBusSendFailed",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

/// The runner's one trust rule holds for `rollout-check` as for the steps: a body field named
/// like a Service Bus system property (here `MessageId`) leaves the delivery count untrusted, so
/// even on the first delivery a refusal that cannot be published is not redelivered blindly: the
/// message completes with the outcome in an error line.
#[tokio::test]
async fn a_rollout_check_shadowing_a_system_property_is_not_trusted_for_its_delivery_count() {
    let (logs, _guard) = LogBuffer::capture();
    let (mut bench, rollouts) = rollout_bench(config()).await;
    record_running(&bench, &rollouts).await;
    let body = check(&bench, json!({"MessageId": "forged"}));
    bench.submit_raw(fanout::ROLLOUT_CHECK, &body).await;
    let message = bench.last_on(fanout::ROLLOUT_CHECK);
    bench.capture.fail_next(1000);
    assert_eq!(bench.deliver_edited(&message, 1, |_| {}).await, 200);
    assert!(rollout_events(&bench).is_empty());
    let line = logs.error_with("could not be published");
    for part in [
        "rollout-check",
        "event-rejected",
        "UnknownFields",
        "MessageId",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

#[tokio::test]
async fn a_permanent_service_bus_refusal_in_a_rollout_is_not_retried() {
    let (mut bench, rollouts) = rollout_bench(config()).await;
    let body = write_event().to_string();
    bench
        .submit_raw(fanout::IMAGE_VERSION_PUBLISHED, &body)
        .await;
    let message = bench.last_on(fanout::IMAGE_VERSION_PUBLISHED);
    bench.handler_bus(wrong_key_bus(&bench.capture));
    bench.with_rollouts(rollouts);
    // The first delivery completes: a 401 does not change by redelivering.
    assert_eq!(bench.deliver_edited(&message, 1, |_| {}).await, 200);
    let refused = bench.capture.refused();
    assert!(
        !refused.is_empty() && refused.iter().all(|(status, _)| *status == 401),
        "{refused:#?}"
    );
    // One refused send for the ring's request, one for the rollout-halted event: not retried.
    assert_eq!(refused.len(), 2, "{refused:#?}");
}
