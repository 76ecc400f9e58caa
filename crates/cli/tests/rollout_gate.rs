//! `imageferry rollout <version-id> --wait`, the pipeline's gate on a whole rollout, through the
//! real binaries: a published version's rollout runs in the local stack (the real handler and
//! azure-sim, the rollout fixtures of `tests/fixtures/`) while the CLI waits.

mod support;

use local_run::{LocalStack, LocalStackOptions};
use serde_json::{Value, json};
use std::time::Duration;
use support::{VERSION, cli, cli_with_pump, code, env, repo, text};

const PUBLISHED: &str = "image-version-published";

async fn stack(rollouts: &str) -> LocalStack {
    let mut options = LocalStackOptions::for_repository();
    options.time_scale = Some(60.0);
    for (k, v) in [
        (
            "IMAGEFERRY_ROLLOUTS_FILE",
            repo()
                .join("tests/fixtures")
                .join(rollouts)
                .display()
                .to_string(),
        ),
        ("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL", "1s".to_string()),
    ] {
        options.settings.push((k.into(), v));
    }
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

/// The reference `ResourceWriteSuccess` event (`reference/eventgrid/`) for a write of `version`.
fn write_event(version: &str, id: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("reference/eventgrid/resource-write-success.json"))
            .unwrap();
    let mut events: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut e = events.remove(0);
    let subject = version.replace("/resourceGroups/", "/resourcegroups/");
    let subscription = version.split('/').nth(2).unwrap();
    e["subject"] = json!(subject);
    e["id"] = json!(id);
    e["topic"] = json!(format!("/subscriptions/{subscription}"));
    let d = &mut e["data"];
    d["resourceUri"] = json!(subject);
    d["resourceProvider"] = json!("Microsoft.Compute");
    d["operationName"] = json!("Microsoft.Compute/galleries/images/versions/write");
    d["authorization"]["scope"] = json!(subject);
    d["authorization"]["action"] = json!("Microsoft.Compute/galleries/images/versions/write");
    d["subscriptionId"] = json!(subscription);
    d["tenantId"] = json!(support::T1);
    e
}

/// Publishes `VERSION` (event and message id `event_id`) and runs the gate,
/// `imageferry rollout VERSION --wait`, while the stack delivers.
async fn publish_and_gate(
    stack: &mut LocalStack,
    env: &[(String, String)],
    event_id: &str,
) -> std::process::Output {
    let event = write_event(VERSION, event_id);
    stack
        .send(PUBLISHED, &event.to_string(), event_id)
        .await
        .unwrap();
    let args = [
        "rollout",
        VERSION,
        "--wait",
        "--poll",
        "1s",
        "--timeout",
        "5m",
    ];
    cli_with_pump(stack, env, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_passes_only_when_every_ring_has_succeeded() {
    let mut stack = stack("rollouts.two-rings.toml").await;
    let env = env(&stack);
    // Before the event: nothing has started; without --wait that is "not finished" (3), with a
    // hint about what to check.
    let before = cli(&env, &["rollout", VERSION]).await;
    let (_, err) = text(&before);
    assert_eq!(code(&before), 3, "{err}");
    assert!(
        err.contains("No rollout names this image definition"),
        "{err}"
    );

    let out = publish_and_gate(&mut stack, &env, "7a0b0f5e-0000-4000-8000-000000000001").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("every rollout completed: web"), "{stdout}");
    // Both rings' deployments are listed, each succeeded: the gate did not pass after ring 0.
    let succeeded = stdout.lines().filter(|l| l.ends_with("succeeded")).count();
    assert!(succeeded >= 2, "{stdout}");

    let json_out = cli(&env, &["rollout", VERSION, "--output", "json"]).await;
    let v: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(v["outcome"], "completed", "{v}");
    assert_eq!(v["rollouts"][0]["state"], "completed", "{v}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_ring_fails_the_gate() {
    let mut stack = stack("rollouts.failing-canary.toml").await;
    let env = env(&stack);
    let out = publish_and_gate(&mut stack, &env, "7a0b0f5e-0000-4000-8000-000000000002").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("rollout web halted"), "{stderr}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_runs_out_exits_3() {
    let stack = stack("rollouts.two-rings.toml").await;
    let env = env(&stack);
    let started = std::time::Instant::now();
    let out = cli(
        &env,
        &[
            "rollout",
            VERSION,
            "--wait",
            "--poll",
            "1s",
            "--timeout",
            "3s",
        ],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(stderr.contains("not finished after 3s"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // A version id that is not a gallery version is a usage error.
    let bad = cli(
        &env,
        &["rollout", "/SharedGalleries/x/images/y/versions/1.0.0"],
    )
    .await;
    assert_eq!(code(&bad), 4, "{}", text(&bad).1);
}
