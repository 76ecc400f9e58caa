//! One CLI, through the real binary: `-o json` on every command (`dev` included) with progress on
//! stderr in every mode, one duration syntax, a closed pipe that ends quietly, usage errors that
//! exit 4, and network or DNS failures named as such with the endpoint (for a local stack: is
//! `imageferry dev --keep` still running?), never with a credential or consent hint.

mod support;

use std::process::{Output, Stdio};
use std::time::Duration;
use support::*;

/// Every visible subcommand.
const COMMANDS: [&str; 10] = [
    "consent-url",
    "request",
    "send",
    "status",
    "rollout",
    "wait-replicated",
    "doctor",
    "dead-letters",
    "plan",
    "dev",
];

fn imageferry(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_imageferry"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("imageferry runs")
}

#[test]
fn every_command_takes_output_json() {
    // `imageferry help` lists exactly these commands.
    let (help, _) = text(&imageferry(&[], &["help"]));
    for c in COMMANDS {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(c)),
            "{c}: {help}"
        );
        let out = imageferry(&[], &[c, "--help"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(code(&out), 0, "{c}: {stderr}");
        assert!(stdout.contains("-o, --output <OUTPUT>"), "{c}: {stdout}");
    }
}

#[test]
fn durations_are_the_one_syntax_and_a_bad_one_is_a_usage_error() {
    for (command, flag) in [
        ("dev", "--timeout"),
        ("dev", "--chaos-token-outage"),
        ("request", "--timeout"),
        ("rollout", "--timeout"),
        ("wait-replicated", "--poll"),
    ] {
        let mut args = vec![command];
        if command == "rollout" || command == "wait-replicated" {
            args.push(VERSION);
        }
        args.extend([flag, "5x"]);
        let out = imageferry(&[], &args);
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), 4, "{args:?}: {stderr}");
        assert!(
            stderr.contains("\"5x\" is not a duration like 30s, 90m, 2h, 1d or 1h30m"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn usage_errors_exit_4() {
    let bus = ("ServiceBusConnection", "Endpoint=sb://127.0.0.1:9/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=aGVsbG8=".to_string());
    for (args, says) in [
        // A misspelled entity, said before the body is even read.
        (
            vec!["send", "deployment-requsted", "/nonexistent.json"],
            "deployment-requsted is not an entity of the contract",
        ),
        (
            vec!["dead-letters", "replicaton-check"],
            "replicaton-check is not a queue of imageferry",
        ),
        (
            vec!["dev", "--request", "/nonexistent/request.json"],
            "dev --request /nonexistent/request.json",
        ),
        (
            vec!["dev", "--scenario", "/nonexistent/scenario.json"],
            "dev --scenario /nonexistent/scenario.json",
        ),
    ] {
        let out = imageferry(std::slice::from_ref(&bus), &args);
        let (stdout, stderr) = text(&out);
        assert_eq!(code(&out), 4, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// Loopback ports nothing listens on, as a stopped `imageferry dev --keep` leaves them.
fn dead_stack() -> Vec<(&'static str, String)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    vec![
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("IMAGEFERRY_ARM_ENDPOINT", base.clone()),
        ("AZURE_CLIENT_ID", APP.into()),
        ("AZURE_CLIENT_SECRET", "local-secret".into()),
        ("AZURE_TENANT_ID", T1.into()),
        ("IMAGEFERRY_STATUS_TABLE_ENDPOINT", format!("{base}table/")),
        (
            "ServiceBusConnection",
            format!(
                "Endpoint={};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=aGVsbG8=",
                base.replacen("http://", "sb://", 1)
            ),
        ),
    ]
}

fn assert_network_error(what: &str, out: &Output, endpoint: &str, failure: &str, local: bool) {
    let (stdout, stderr) = text(out);
    let all = format!("{stdout}{stderr}");
    assert_eq!(code(out), 1, "{what}: {all}");
    assert!(
        all.contains("network error: cannot reach ") && all.contains(endpoint),
        "{what}: names the endpoint {endpoint}: {all}"
    );
    assert!(all.contains(failure), "{what}: {failure}: {all}");
    assert_eq!(
        all.contains("is `imageferry dev --keep` still running?"),
        local,
        "{what}: {all}"
    );
    for never in ["credential", "consent", "AADSTS", "secret"] {
        assert!(
            !all.to_lowercase().contains(never),
            "{what}: no {never} hint for a network error: {all}"
        );
    }
}

#[test]
fn network_failures_are_named_with_the_endpoint_and_never_a_credential_hint() {
    let env = dead_stack();
    let base = env[0].1.clone();
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let request = example();
    for (args, endpoint) in [
        (vec!["status"], base.clone()),
        (vec!["status", "some-id"], base.clone()),
        (vec!["rollout", VERSION], base.clone()),
        (
            vec!["wait-replicated", VERSION, "--region", "westus"],
            base.clone(),
        ),
        (
            vec!["request", "--file", request.as_str()],
            format!("https://{host}/"),
        ),
        (
            vec!["send", "deployment-requested", request.as_str()],
            format!("https://{host}/"),
        ),
        (vec!["dead-letters"], format!("https://{host}/")),
        (vec!["doctor", "--file", request.as_str()], base.clone()),
        (
            vec!["doctor", "--file", request.as_str(), "-o", "json"],
            base.clone(),
        ),
    ] {
        let out = imageferry(&env, &args);
        assert_network_error(
            &format!("{args:?}"),
            &out,
            &endpoint,
            "connection refused",
            true,
        );
    }

    // A host that does not resolve (RFC 6761 reserves .invalid).
    let mut env = dead_stack();
    env[0].1 = "https://login.imageferry.invalid/".into();
    let out = imageferry(&env, &["doctor", "--file", request.as_str()]);
    assert_network_error(
        "doctor, DNS",
        &out,
        "https://login.imageferry.invalid/",
        "DNS lookup failed",
        false,
    );
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("login.imageferry.invalid does not resolve from here"),
        "{stdout}"
    );
}

/// Runs `imageferry args` with its stdout a pipe whose reading end is already closed.
async fn with_closed_stdout(env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imageferry"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("imageferry runs");
    drop(child.stdout.take());
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("imageferry finishes")
        .expect("imageferry ends")
}

#[tokio::test]
async fn a_closed_pipe_ends_quietly_and_json_keeps_progress_on_stderr() {
    let mut stack = stack(None).await;
    let env = env(&stack);

    // -o json: one document on stdout, the progress on stderr (plain lines: no terminal here).
    let out = cli_with_pump(
        &mut stack,
        &env,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "pipe-json",
            "--wait",
            "--timeout",
            "2m",
            "--poll",
            "200ms",
            "-o",
            "json",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(status["status"], "succeeded");
    assert!(
        stderr.contains("waiting for its outcome") && stderr.lines().any(|l| l.starts_with("[00:")),
        "progress on stderr with -o json: {stderr}"
    );
    assert!(
        !stderr.contains('\r'),
        "plain lines without a terminal: {stderr}"
    );

    // Closed stdout: the command ends with its own exit code, without a panic.
    for args in [
        &["status"][..],
        &["status", "--output", "json"][..],
        &["status", "pipe-json"][..],
        &["consent-url", "--tenant", T2][..],
        &["rollout", VERSION][..],
        &["--help"][..],
    ] {
        let out = with_closed_stdout(&env, args).await;
        let (_, stderr) = text(&out);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(code(&out), 101, "{args:?}: {stderr}");
        if args[0] != "rollout" {
            assert_eq!(code(&out), 0, "{args:?}: {stderr}");
        }
    }

    // As the issue ran it: `imageferry status | true`, four times, under pipefail.
    let exports: String = env
        .iter()
        .map(|(k, v)| format!("export {k}='{}'; ", v.replace('\'', r"'\''")))
        .collect();
    for _ in 0..4 {
        let out = std::process::Command::new("bash")
            .args([
                "-c",
                &format!(
                    "set -o pipefail; {exports} '{}' status | true",
                    env!("CARGO_BIN_EXE_imageferry")
                ),
            ])
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), 0, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn dev_output_json_is_one_document_with_progress_on_stderr() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imageferry"))
        .args([
            "dev",
            "--time-scale",
            "120",
            "--timeout",
            "3m",
            "--output",
            "json",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("imageferry dev runs");
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(report["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(report["deployments"][0]["status"], "succeeded");
    assert!(
        report["deployments"][0]["vmId"]
            .as_str()
            .unwrap()
            .contains("/virtualMachines/"),
        "{report}"
    );
    assert_eq!(report["checks"]["terminal"], 1);
    assert_eq!(report["violations"], serde_json::json!([]));
    assert!(report["figures"]["timeToTerminalMs"]["p50"].is_u64());
    // Everything for people went to stderr: the stack, the events, the figures.
    for line in ["azure stand-in ", "sending ", "event ", "done ", "figures "] {
        assert!(
            stderr.lines().any(|l| l.starts_with(line)),
            "{line:?} on stderr: {stderr}"
        );
    }
}
