//! Rollouts across real processes: a real-shaped `ResourceWriteSuccess` event (the reference
//! example in `reference/eventgrid/`, rewritten for a gallery image version write) delivered to
//! `image-version-published` by the Service Bus capture, the real `handler` and `azure-sim`.

use std::path::PathBuf;
use std::time::Duration;

use imageferry_contract::rollout::rollout_deployment_id;
use local_run::stack::seed;
use local_run::{LocalStack, LocalStackOptions};
use serde_json::{Value, json};

const EVENTS: &str = "deployment-events";
const PUBLISHED: &str = "image-version-published";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

async fn stack(rollouts: &str, extra: &[(&str, &str)]) -> LocalStack {
    stack_with(rollouts, None, extra).await
}

async fn stack_with(rollouts: &str, scenario: Option<&str>, extra: &[(&str, &str)]) -> LocalStack {
    let mut options = LocalStackOptions::for_repository();
    options.scenario = scenario.map(fixture);
    options.time_scale = Some(60.0);
    options.settings.push((
        "IMAGEFERRY_ROLLOUTS_FILE".into(),
        fixture(rollouts).display().to_string(),
    ));
    for (k, v) in extra {
        options.settings.push((k.to_string(), v.to_string()));
    }
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

fn version_id(gallery: &str, image: &str, version: &str) -> String {
    format!("{gallery}/images/{image}/versions/{version}")
}

/// The reference `ResourceWriteSuccess` event (Event Grid schema, one object as Event Grid
/// delivers it to a Service Bus queue) for a write of `version` in the gallery's subscription.
fn write_event(version: &str, event_id: &str) -> Value {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../reference/eventgrid/resource-write-success.json"),
    )
    .unwrap();
    let mut events: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut e = events.remove(0);
    // ARM writes `resourcegroups` in lower case in subjects.
    let subject = version.replace("/resourceGroups/", "/resourcegroups/");
    e["subject"] = json!(subject);
    e["id"] = json!(event_id);
    e["topic"] = json!(format!("/subscriptions/{}", seed::SUBSCRIPTION_1));
    let d = &mut e["data"];
    d["resourceUri"] = json!(subject);
    d["resourceProvider"] = json!("Microsoft.Compute");
    d["operationName"] = json!("Microsoft.Compute/galleries/images/versions/write");
    d["authorization"]["scope"] = json!(subject);
    d["authorization"]["action"] = json!("Microsoft.Compute/galleries/images/versions/write");
    d["subscriptionId"] = json!(seed::SUBSCRIPTION_1);
    d["tenantId"] = json!(seed::TENANT_1);
    e
}

/// The same event as a CloudEvent 1.0 (the other schema an Event Grid subscription can deliver).
fn as_cloud_event(e: &Value) -> Value {
    json!({
        "specversion": "1.0", "type": e["eventType"], "source": e["topic"], "subject": e["subject"],
        "id": e["id"], "time": e["eventTime"], "data": e["data"]
    })
}

fn rollout_events(stack: &LocalStack, status: &str) -> Vec<Value> {
    stack
        .events(EVENTS)
        .iter()
        .filter_map(|m| m.json())
        .filter(|v| v["status"] == status && v.get("rollout").is_some())
        .collect()
}

fn terminal_deployments(stack: &LocalStack) -> Vec<Value> {
    stack
        .events(EVENTS)
        .iter()
        .filter_map(|m| m.json())
        .filter(|v| {
            matches!(
                v["status"].as_str(),
                Some("succeeded" | "failed" | "rejected")
            )
        })
        .collect()
}

/// Delivers until `image-version-published` has answered `count` times and no message waits.
async fn settle_published(stack: &mut LocalStack, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if stack.pump.deliver_next().await.is_some() {
            continue;
        }
        let answered = stack
            .pump
            .history()
            .iter()
            .filter(|d| d.function == PUBLISHED)
            .count();
        if answered >= count && stack.pump.pending().is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {:#?}",
            stack.pump.history()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_version_reaches_every_target_once() {
    let mut stack = stack(
        "rollouts.one-ring.toml",
        &[("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL", "1s")],
    )
    .await;
    let version = version_id(seed::GALLERY_ID, "myImageDefinition", "1.0.0");
    let event = write_event(&version, "5a0b0f5e-0000-4000-8000-000000000001");
    stack
        .send(
            PUBLISHED,
            &event.to_string(),
            "5a0b0f5e-0000-4000-8000-000000000001",
        )
        .await
        .unwrap();
    let done = stack
        .pump
        .run_until(Duration::from_secs(120), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter_map(|m| m.json())
                .filter(|v| v["status"] == "succeeded")
                .count()
                == 2
        })
        .await;
    assert!(
        done,
        "two deployments should succeed; history: {:#?}",
        stack.pump.history()
    );

    let expected: Vec<String> = ["t2-blue", "t2-green"]
        .iter()
        .map(|t| rollout_deployment_id(&version, "web", t))
        .collect();
    let mut ids: Vec<String> = terminal_deployments(&stack)
        .iter()
        .map(|v| v["deploymentId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(ids, want);
    let started = rollout_events(&stack, "ring-started");
    assert_eq!(started.len(), 1, "{started:#?}");
    assert_eq!(started[0]["ring"], 0);
    assert_eq!(started[0]["deploymentIds"], json!(expected));
    // The version's own name goes into the VM names ({version} with dashes).
    let vms: Vec<String> = terminal_deployments(&stack)
        .iter()
        .map(|v| {
            v["vmId"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(vms.contains(&"blue-1-0-0".to_string()), "{vms:?}");
    assert!(vms.contains(&"green-1-0-0".to_string()), "{vms:?}");
    // The ring's check finds both succeeded in the status store: the rollout is complete.
    let done = stack
        .pump
        .run_until(Duration::from_secs(60), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter_map(|m| m.json())
                .any(|v| v["status"] == "rollout-completed")
        })
        .await;
    assert!(done, "{:#?}", stack.pump.history());

    // Event Grid delivers at least once: the same event again (another MessageId, so Service Bus
    // does not drop it) and as a CloudEvent. Nothing new is created.
    let requested_before = stack.bus.accepted("deployment-requested").len();
    stack
        .send(PUBLISHED, &event.to_string(), "redelivered-1")
        .await
        .unwrap();
    stack
        .send(
            PUBLISHED,
            &as_cloud_event(&event).to_string(),
            "redelivered-2",
        )
        .await
        .unwrap();
    settle_published(&mut stack, 3).await;
    assert_eq!(
        stack.bus.accepted("deployment-requested").len(),
        requested_before
    );
    // The rollout's state says this version was started: nothing is even sent again.
    assert_eq!(
        stack.bus.sent("deployment-requested").len(),
        requested_before
    );
    let log = std::fs::read_to_string(&stack.handler_log).unwrap();
    assert_eq!(
        log.matches("repeated event ignored").count(),
        2,
        "both repeats were recognised: {log}"
    );
    assert_eq!(terminal_deployments(&stack).len(), 2);
    let resources: Vec<Value> = reqwest::get(format!("{}/_sim/resources", stack.azure.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vm_puts: Vec<&Value> = resources
        .iter()
        .filter(|r| r["type"] == "Microsoft.Compute/virtualMachines")
        .collect();
    assert_eq!(vm_puts.len(), 2, "{vm_puts:#?}");
    assert!(vm_puts.iter().all(|r| r["put_count"] == 1), "{vm_puts:#?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_without_a_rollout_is_ignored_with_a_log_line() {
    let mut stack = stack("rollouts.one-ring.toml", &[]).await;
    let version = version_id(seed::GALLERY_ID, "myWindowsImage", "1.0.0");
    let event = write_event(&version, "5a0b0f5e-0000-4000-8000-000000000002");
    stack
        .send(PUBLISHED, &event.to_string(), "no-rollout")
        .await
        .unwrap();
    settle_published(&mut stack, 1).await;
    let delivery = stack
        .pump
        .history()
        .iter()
        .find(|d| d.function == PUBLISHED)
        .unwrap()
        .clone();
    assert_eq!(delivery.status, 200, "{delivery:#?}");
    assert!(stack.bus.sent("deployment-requested").is_empty());
    assert!(stack.events(EVENTS).is_empty());
    let log = std::fs::read_to_string(&stack.handler_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("no rollout in") && l.contains("myWindowsImage")),
        "{log}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_from_a_gallery_not_allow_listed_is_rejected() {
    let mut stack = stack("rollouts.one-ring.toml", &[]).await;
    let other = seed::GALLERY_ID.replace("myGallery", "otherGallery");
    let event = write_event(
        &version_id(&other, "myImageDefinition", "1.0.0"),
        "5a0b0f5e-0000-4000-8000-000000000003",
    );
    stack
        .send(PUBLISHED, &event.to_string(), "foreign-gallery")
        .await
        .unwrap();
    settle_published(&mut stack, 1).await;
    assert!(stack.bus.sent("deployment-requested").is_empty());
    let rejected = rollout_events(&stack, "event-rejected");
    assert_eq!(rejected.len(), 1, "{:#?}", stack.events(EVENTS));
    assert_eq!(rejected[0]["error"]["code"], "GalleryNotAllowed");
    assert!(
        rejected[0]["versionId"]
            .as_str()
            .unwrap()
            .contains("otherGallery")
    );
    // No gallery read for a refused event: nothing in tenant 1 was asked.
    let requests: Vec<Value> = reqwest::get(format!("{}/_sim/requests", stack.azure.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !requests
            .iter()
            .any(|r| r["path"].as_str().unwrap_or("").contains("otherGallery")),
        "{requests:#?}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_rollout_file_stops_the_handler_naming_the_line() {
    let mut options = LocalStackOptions::for_repository();
    options.settings.push((
        "IMAGEFERRY_ROLLOUTS_FILE".into(),
        fixture("rollouts.invalid.toml").display().to_string(),
    ));
    let log_dir = options.log_dir.clone();
    let started = LocalStack::start(options).await;
    assert!(started.is_err(), "the handler must not start");
    // The newest handler log of this process names the file, the line and the field.
    let text = std::fs::read_dir(&log_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("handler-{}-", std::process::id()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find(|t| t.contains("rollouts.invalid.toml"))
        .expect("a handler log about the rollout file");
    assert!(
        text.contains("line 16") && text.contains("rollout[0].ring[0].target[0].vm.size"),
        "{text}"
    );
}

/// Index of the first captured message (any entity, arrival order) matching `pick`.
fn first_index(stack: &LocalStack, pick: impl Fn(&str, &Value) -> bool) -> Option<usize> {
    stack
        .bus
        .all()
        .iter()
        .filter(|m| !m.duplicate)
        .position(|m| m.json().is_some_and(|v| pick(&m.entity, &v)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rings_run_in_order_and_the_rollout_completes() {
    let mut stack = stack(
        "rollouts.two-rings.toml",
        &[("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL", "1s")],
    )
    .await;
    let version = version_id(seed::GALLERY_ID, "myImageDefinition", "1.0.0");
    let event = as_cloud_event(&write_event(
        &version,
        "5a0b0f5e-0000-4000-8000-000000000004",
    ));
    stack
        .send(PUBLISHED, &event.to_string(), "rings")
        .await
        .unwrap();
    let done = stack
        .pump
        .run_until(Duration::from_secs(180), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter_map(|m| m.json())
                .any(|v| v["status"] == "rollout-completed")
        })
        .await;
    assert!(
        done,
        "the rollout should complete; history: {:#?}",
        stack.pump.history()
    );
    let canary = rollout_deployment_id(&version, "web", "t2-canary");
    let broad = rollout_deployment_id(&version, "web", "t2-broad");
    let canary_succeeded = first_index(&stack, |entity, v| {
        entity == EVENTS && v["deploymentId"] == canary && v["status"] == "succeeded"
    })
    .expect("the canary succeeded");
    let broad_requested = first_index(&stack, |entity, v| {
        entity == "deployment-requested" && v["deploymentId"] == broad
    })
    .expect("ring 1 was requested");
    assert!(
        canary_succeeded < broad_requested,
        "ring 1 must start only after ring 0 succeeded"
    );
    let started: Vec<u64> = rollout_events(&stack, "ring-started")
        .iter()
        .map(|v| v["ring"].as_u64().unwrap())
        .collect();
    assert_eq!(started, [0, 1]);
    let succeeded: Vec<String> = terminal_deployments(&stack)
        .iter()
        .filter(|v| v["status"] == "succeeded")
        .map(|v| v["deploymentId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(succeeded, [canary, broad]);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_ring_0_halts_the_rollout_before_ring_1() {
    let mut stack = stack(
        "rollouts.failing-canary.toml",
        &[("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL", "1s")],
    )
    .await;
    let version = version_id(seed::GALLERY_ID, "myImageDefinition", "1.0.0");
    let event = write_event(&version, "5a0b0f5e-0000-4000-8000-000000000005");
    stack
        .send(PUBLISHED, &event.to_string(), "failing-canary")
        .await
        .unwrap();
    let done = stack
        .pump
        .run_until(Duration::from_secs(180), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter_map(|m| m.json())
                .any(|v| v["status"] == "rollout-halted")
        })
        .await;
    assert!(
        done,
        "the rollout should halt; history: {:#?}",
        stack.pump.history()
    );
    let canary = rollout_deployment_id(&version, "web", "t2-canary");
    let broad = rollout_deployment_id(&version, "web", "t2-broad");
    let halted = rollout_events(&stack, "rollout-halted");
    assert_eq!(halted.len(), 1, "{halted:#?}");
    assert_eq!(halted[0]["ring"], 0);
    assert_eq!(halted[0]["error"]["code"], "RingFailed");
    assert!(
        halted[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&canary),
        "{halted:#?}"
    );
    // Nothing more happens: no ring 1, no further checks.
    settle_published(&mut stack, 1).await;
    assert!(
        !stack
            .bus
            .all()
            .iter()
            .any(|m| m.json().is_some_and(|v| v["deploymentId"] == broad)),
        "ring 1 must not start"
    );
    assert_eq!(rollout_events(&stack, "ring-started").len(), 1);
    stack.shutdown().await;
}

/// Sends a version's write event and delivers exactly that message.
async fn publish_and_deliver(stack: &mut LocalStack, version: &str, message_id: &str) {
    let event = write_event(version, message_id);
    stack
        .send(PUBLISHED, &event.to_string(), message_id)
        .await
        .unwrap();
    let message = stack
        .bus
        .accepted(PUBLISHED)
        .into_iter()
        .find(|m| m.broker.message_id.as_deref() == Some(message_id))
        .expect("the event was accepted");
    let delivery = stack.pump.deliver(&message).await;
    assert_eq!(delivery.status, 200, "{delivery:#?}");
}

async fn run_until_status(stack: &mut LocalStack, status: &str, version: &str) {
    let done = stack
        .pump
        .run_until(Duration::from_secs(180), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter_map(|m| m.json())
                .any(|v| v["status"] == status && v["versionId"] == version)
        })
        .await;
    assert!(
        done,
        "no {status} for {version}; events: {:#?}",
        stack
            .events(EVENTS)
            .iter()
            .filter_map(|m| m.json())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_waits_for_a_running_rollout_by_default() {
    // supersede defaults to "halted": a newer version does not take over a running rollout.
    let mut stack = stack_with(
        "rollouts.two-rings.toml",
        Some("scenario.two-versions.toml"),
        &[("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL", "1s")],
    )
    .await;
    let v1 = version_id(seed::GALLERY_ID, "myImageDefinition", "1.0.0");
    let v2 = version_id(seed::GALLERY_ID, "myImageDefinition", "1.1.0");
    publish_and_deliver(&mut stack, &v1, "v1").await;
    publish_and_deliver(&mut stack, &v2, "v2").await;
    let blocked = rollout_events(&stack, "rollout-blocked");
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    assert_eq!(blocked[0]["versionId"], v2.as_str());
    assert!(
        blocked[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("running"),
        "{blocked:#?}"
    );
    // 1.0.0 goes on to the end; then 1.1.0, published again, is rolled out.
    run_until_status(&mut stack, "rollout-completed", &v1).await;
    assert!(
        !stack
            .bus
            .all()
            .iter()
            .any(|m| m.entity == "deployment-requested"
                && m.json().is_some_and(|v| v["image"]["id"] == v2.as_str())),
        "1.1.0 was not requested while 1.0.0 ran"
    );
    publish_and_deliver(&mut stack, &v2, "v2-again").await;
    run_until_status(&mut stack, "rollout-completed", &v2).await;
    // An older version published late is not rolled out over a newer one.
    publish_and_deliver(&mut stack, &v1, "v1-late").await;
    let log = std::fs::read_to_string(&stack.handler_log).unwrap();
    assert!(log.contains("is on the newer version 1.1.0"), "{log}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_halted_or_running_a_newer_version_takes_over_a_running_rollout() {
    let mut stack = stack_with(
        "rollouts.takeover.toml",
        Some("scenario.two-versions.toml"),
        &[("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL", "1s")],
    )
    .await;
    let v1 = version_id(seed::GALLERY_ID, "myImageDefinition", "1.0.0");
    let v2 = version_id(seed::GALLERY_ID, "myImageDefinition", "1.1.0");
    publish_and_deliver(&mut stack, &v1, "v1").await;
    publish_and_deliver(&mut stack, &v2, "v2").await;
    run_until_status(&mut stack, "rollout-completed", &v2).await;
    run_until_status(&mut stack, "rollout-superseded", &v1).await;
    let superseded = rollout_events(&stack, "rollout-superseded");
    assert_eq!(superseded.len(), 1, "{superseded:#?}");
    assert_eq!(superseded[0]["ring"], 0);
    // 1.0.0's ring 1 never started; 1.1.0 ran both rings.
    let broad_v1 = rollout_deployment_id(&v1, "web", "t2-broad");
    assert!(
        !stack
            .bus
            .all()
            .iter()
            .any(|m| m.json().is_some_and(|v| v["deploymentId"] == broad_v1)),
        "ring 1 of 1.0.0 must not start"
    );
    let v2_rings: Vec<u64> = rollout_events(&stack, "ring-started")
        .iter()
        .filter(|v| v["versionId"] == v2.as_str())
        .map(|v| v["ring"].as_u64().unwrap())
        .collect();
    assert_eq!(v2_rings, [0, 1]);
    stack.shutdown().await;
}
