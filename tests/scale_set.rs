//! A rollout with a scale-set target across real processes (azure-sim, the handler under the
//! local Functions host's delivery, the Service Bus stand-in): 1.0.0 creates the scale set, 1.1.0
//! updates it in place in health-gated batches, and in both rollouts the next ring (a VM) starts
//! only once the whole scale set runs the version and is healthy. The auxiliary tenant-1 token
//! goes with exactly the writes whose body carries the image (azure-sim's request records).

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

fn version_id(version: &str) -> String {
    format!(
        "{}/images/myImageDefinition/versions/{version}",
        seed::GALLERY_ID
    )
}

/// The reference `ResourceWriteSuccess` event for a write of `version` (as tests/rollout.rs).
fn write_event(version: &str, event_id: &str) -> Value {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../reference/eventgrid/resource-write-success.json"),
    )
    .unwrap();
    let mut e = serde_json::from_str::<Vec<Value>>(&text).unwrap().remove(0);
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

async fn publish(stack: &mut LocalStack, version: &str, message_id: &str) {
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
    assert_eq!(stack.pump.deliver(&message).await.status, 200);
}

/// Events in the order they were sent.
fn events(stack: &LocalStack) -> Vec<Value> {
    stack
        .events(EVENTS)
        .iter()
        .filter_map(|m| m.json())
        .collect()
}

async fn run_until_completed(stack: &mut LocalStack, version: &str) {
    let done = stack
        .pump
        .run_until(Duration::from_secs(240), |bus| {
            bus.accepted(EVENTS)
                .iter()
                .filter_map(|m| m.json())
                .any(|v| v["status"] == "rollout-completed" && v["versionId"] == version)
        })
        .await;
    assert!(
        done,
        "no rollout-completed for {version}: {:#?}",
        events(stack)
    );
}

/// The position of the first event matching `f`.
fn position(events: &[Value], f: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("no such event: {events:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_set_target_is_one_deployment_per_version_and_gates_the_next_ring() {
    let mut options = LocalStackOptions::for_repository();
    options.scenario = Some(fixture("scenario.two-versions.toml"));
    options.time_scale = Some(60.0);
    options.settings.push((
        "IMAGEFERRY_ROLLOUTS_FILE".into(),
        fixture("rollouts.scale-set.toml").display().to_string(),
    ));
    options
        .settings
        .push(("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL".into(), "1s".into()));
    let mut stack = LocalStack::start(options)
        .await
        .expect("local stack starts");
    let azure = stack.azure.base_url.trim_end_matches('/').to_string();

    for (version, event_id) in [
        ("1.0.0", "5a0b0f5e-0000-4000-8000-0000000000a1"),
        ("1.1.0", "5a0b0f5e-0000-4000-8000-0000000000a2"),
    ] {
        let v = version_id(version);
        publish(&mut stack, &v, event_id).await;
        run_until_completed(&mut stack, &v).await;
        let all = events(&stack);
        let fleet = rollout_deployment_id(&v, "web", "t2-fleet");
        let succeeded = position(&all, |e| {
            e["deploymentId"] == fleet.as_str() && e["status"] == "succeeded"
        });
        let detail = all[succeeded]["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!(
                "scale set web-fleet: 2 of 2 instance(s) run {version}"
            )),
            "{detail}"
        );
        assert_eq!(all[succeeded]["scaleSet"]["onVersion"], 2);
        // Ring 1 starts only after the whole scale set runs the version.
        let ring1 = position(&all, |e| {
            e["status"] == "ring-started" && e["ring"] == 1 && e["versionId"] == v.as_str()
        });
        assert!(
            ring1 > succeeded,
            "ring 1 started before the scale set was done"
        );
    }

    // The second version went through in batches: two manualupgrade POSTs (batches of one).
    let requests: Vec<Value> = reqwest::get(format!("{azure}/_sim/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let writes: Vec<(String, bool)> = requests
        .iter()
        .filter(|r| {
            r["method"] != "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/virtualMachineScaleSets/web-fleet"))
        })
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap(),
                    r["path"].as_str().unwrap().rsplit('/').next().unwrap()
                ),
                r["aux_header"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, bool)> = [
        ("PUT web-fleet", true),
        ("PATCH web-fleet", true),
        ("POST manualupgrade", false),
        ("POST manualupgrade", false),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), *b))
    .collect();
    assert_eq!(writes, expected);
    // Every instance runs 1.1.0.
    let resources: Vec<Value> = reqwest::get(format!("{azure}/_sim/resources"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions: Vec<&str> = resources
        .iter()
        .filter(|r| r["type"] == "Microsoft.Compute/virtualMachineScaleSets/virtualMachines")
        .map(|r| {
            r["body"]["properties"]["storageProfile"]["imageReference"]["exactVersion"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, ["1.1.0", "1.1.0"]);
    stack.shutdown().await;
}
