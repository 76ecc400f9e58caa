//! `imageferry dev` through the real binaries: the Windows sample end to end (its password from
//! the stand-in's Key Vault), a scale set created from 1.0.0 and rolled to 1.1.0 in batches, and `dev --keep` serving the other commands with the environment it
//! prints and writes to `target/imageferry-dev/env`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

/// A running `imageferry dev`, stopped (SIGINT, as Ctrl-C) when dropped so that a failing test
/// leaves no stand-in behind.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line so far.
    seen: Vec<String>,
}

impl Dev {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imageferry"))
            .arg("dev")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("imageferry dev starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stdout until a line starting with `prefix`; panics with the output at `timeout`.
    fn until(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no {prefix:?} line ({e}); output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn interrupt(&self) {
        let _ = process_control::signal(self.child.id(), process_control::Signal::SIGINT);
    }

    /// SIGINT, then its exit status (SIGKILL after 30 s).
    fn stop(&mut self) -> std::process::ExitStatus {
        self.interrupt();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stop();
        }
    }
}

/// `export NAME='value'` → (NAME, value), undoing the shell quoting.
fn parse_export(line: &str) -> (String, String) {
    let rest = line.strip_prefix("export ").expect("an export line");
    let (name, quoted) = rest.split_once('=').expect("NAME=value");
    let value = quoted
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not single-quoted: {line}"))
        .replace(r"'\''", "'");
    (name.to_string(), value)
}

#[test]
fn the_windows_sample_succeeds_with_the_stand_in_vault() {
    let out = Command::new(env!("CARGO_BIN_EXE_imageferry"))
        .args([
            "dev",
            "--windows",
            "--time-scale",
            "120",
            "--timeout",
            "180",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("imageferry dev runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("sending          examples/deployment-request.windows.json"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("done             1 deployment in")
                && l.ends_with(": 1 succeeded")),
        "{stdout}"
    );
    assert!(
        stdout.contains("/providers/Microsoft.Compute/virtualMachines/"),
        "{stdout}"
    );
    assert!(!stdout.contains("UntrustedSecretId"), "{stdout}");
    assert!(!stdout.contains("violation"), "{stdout}");
}

#[test]
fn a_scale_set_is_created_then_rolled_to_the_newer_version_in_batches() {
    let out = Command::new(env!("CARGO_BIN_EXE_imageferry"))
        .args([
            "dev",
            "--scale-set",
            "--time-scale",
            "60",
            "--timeout",
            "240",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("imageferry dev runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for line in [
        "creating scale set web-fleet: 4 instance(s) of 1.0.0",
        "scale set web-fleet: 4 of 4 instance(s) run 1.0.0 and are healthy",
        "published        1.1.0",
        "updating scale set web-fleet from 1.0.0 to 1.1.0",
        "batch 1: upgrading instance(s) 0 to 1.1.0",
        "batch 3 (instance(s) 2) runs 1.1.0 and is healthy; batch 4 (instance(s) 3) in 2s",
        "scale set web-fleet: 4 of 4 instance(s) run 1.1.0 and are healthy",
        "scale set        web-fleet: 4 of 4 instance(s) run 1.1.0",
    ] {
        // The live event lines are progress (stderr); the run's own report is on stdout.
        assert!(
            stdout.contains(line) || stderr.contains(line),
            "{line:?} missing:\n{stdout}\n{stderr}"
        );
    }
    assert!(!stdout.contains("violation"), "{stdout}");
}

#[tokio::test]
async fn dev_keep_serves_request_status_and_dead_letters_with_its_env_file() {
    let mut dev = Dev::start(&["--keep", "--time-scale", "120", "--timeout", "180"]);
    let keeping = dev.until("keeping ", Duration::from_secs(300));
    dev.until("stop ", Duration::from_secs(30));
    let done = dev
        .seen
        .iter()
        .find(|l| l.starts_with("done "))
        .cloned()
        .unwrap_or_default();
    assert!(done.ends_with(": 1 succeeded"), "{}", dev.seen.join("\n"));
    let printed: Vec<String> = dev
        .seen
        .iter()
        .skip_while(|l| !l.starts_with("keeping "))
        .skip(1)
        .take_while(|l| !l.starts_with("stop "))
        .cloned()
        .collect();
    assert!(printed[0].starts_with("unset "), "{printed:?}");
    let env: Vec<(String, String)> = printed[1..].iter().map(|l| parse_export(l)).collect();
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for needed in [
        "AZURE_AUTHORITY_HOST",
        "IMAGEFERRY_ARM_ENDPOINT",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "ServiceBusConnection",
        "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
    ] {
        assert!(names.contains(&needed), "{needed} in {names:?}");
    }
    // The file holds the same lines (after its comment), readable by this user only.
    let env_file = repo()
        .canonicalize()
        .unwrap()
        .join("target/imageferry-dev/env");
    assert!(
        keeping.contains(&env_file.display().to_string()),
        "{keeping}"
    );
    let file = std::fs::read_to_string(&env_file).expect("the env file");
    let in_file: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(in_file, printed);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A pipeline's request, gated on its outcome, with the printed environment.
    let out = cli(
        &env,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "keep-cli",
            "--vm-name",
            "keepVM",
            "--wait",
            "--timeout",
            "120s",
            "--poll",
            "200ms",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("keep-cli  succeeded"), "{stdout}");
    assert!(stdout.contains("/virtualMachines/keepVM"), "{stdout}");

    // The documented use of the file: eval it in a shell, then the command. A variable that
    // would send the CLI elsewhere (the Azure CLI's login) is unset by the file.
    let out = tokio::process::Command::new("sh")
        .args([
            "-c",
            r#"eval "$(cat "$1")" && exec "$2" status keep-cli"#,
            "sh",
        ])
        .arg(&env_file)
        .arg(env!("CARGO_BIN_EXE_imageferry"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("IMAGEFERRY_CREDENTIAL", "azure-cli")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    let statuses = timeline_statuses(&stdout);
    assert_eq!(statuses.first(), Some(&"accepted"), "{stdout}");
    assert_eq!(statuses.last(), Some(&"succeeded"), "{stdout}");
    assert!(stdout.contains(&format!("tenant {T2}")), "{stdout}");
    // The run's own deployment is in the status store too (the handler under dev writes it).
    let out = cli(
        &env,
        &["status", "--status", "succeeded", "--output", "json"],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["deploymentId"].as_str())
        .collect();
    assert!(
        ids.contains(&"keep-cli") && ids.contains(&"web-canary-42"),
        "the run's sample and keep-cli: {ids:?}"
    );

    // Dead letters: none, in every queue of the namespace.
    let out = cli(&env, &["dead-letters"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        "no dead-lettered messages in deployment-requested, replication-check, image-version-replicated, vm-provisioning, image-version-published, rollout-check"
    );

    // Ctrl-C: the stack stops, the run's exit status (its sample succeeded), the files go.
    let status = dev.stop();
    assert_eq!(status.code(), Some(0), "{}", dev.seen.join("\n"));
    assert!(!env_file.exists(), "the env file is removed at the end");
}
