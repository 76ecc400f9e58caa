//! The local stack (azure-sim + Service Bus capture + the real handler, with the status store in
//! the stand-in's Table service) and the real `imageferry` binary run against it.
#![allow(dead_code)]

use local_run::stack::local_settings;
use local_run::{LocalStack, LocalStackOptions};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

pub const T1: &str = "11111111-1111-4111-8111-111111111111";
pub const T2: &str = "22222222-2222-4222-8222-222222222222";
pub const APP: &str = "33333333-3333-4333-8333-333333333333";
pub const VERSION: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn example() -> String {
    repo()
        .join("examples/deployment-request.linux.json")
        .display()
        .to_string()
}

/// A stack with `scenario` (JSON, written to a temp file) or the default one, at time scale 60.
pub async fn stack(scenario: Option<azure_sim::Scenario>) -> LocalStack {
    let mut options = LocalStackOptions::for_repository();
    options.time_scale = Some(60.0);
    if let Some(s) = scenario {
        let path =
            std::env::temp_dir().join(format!("imageferry-cli-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, serde_json::to_string(&s).unwrap()).unwrap();
        options.scenario = Some(path);
    }
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

/// The environment a pipeline would set: the handler's settings of the local run.
pub fn env(stack: &LocalStack) -> Vec<(String, String)> {
    local_settings(&stack.azure.base_url, &stack.bus)
}

/// Runs `imageferry args…` with `env` (and nothing of the test process's Azure settings).
pub async fn cli(env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imageferry"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("imageferry finishes")
        .expect("imageferry runs")
}

/// Runs the CLI while the pump delivers messages to the handler, until the CLI exits.
pub async fn cli_with_pump(
    stack: &mut LocalStack,
    env: &[(String, String)],
    args: &[&str],
) -> Output {
    let run = cli(env, args);
    tokio::pin!(run);
    loop {
        tokio::select! {
            out = &mut run => return out,
            _ = stack.pump.run_until(Duration::from_millis(200), |_| false) => {}
        }
    }
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The statuses of a `status <id>` timeline (its lines that start with a timestamp), in order.
pub fn timeline_statuses(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("20"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect()
}
