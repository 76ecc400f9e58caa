//! The `azure-sim` binary prints exactly one line with its base URL once ready and exits cleanly
//! on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn binary_prints_its_url_serves_and_stops_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("azure-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/11111111-1111-4111-8111-111111111111/oauth2/v2.0/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=33333333-3333-4333-8333-333333333333&client_secret=local-sim-secret&scope=https%3A%2F%2Fmanagement.azure.com%2F.default")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "azure-sim did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[test]
fn binary_rejects_a_bad_scenario_file() {
    let dir = std::env::temp_dir().join(format!("azure-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "tenants = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_azure-sim"))
        .args(["--listen", "127.0.0.1:0", "--scenario"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_scenario_file_loads_as_the_seed() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.toml");
    let s = azure_sim::Scenario::load(&path).unwrap();
    assert_eq!(s.tenants.len(), 2);
    let json = serde_json::to_string(&s).unwrap();
    let back = azure_sim::Scenario::from_json(&json).unwrap();
    assert_eq!(back.galleries[0].images.len(), 5);
}

#[test]
fn readme_scenario_example_is_valid() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let s = azure_sim::Scenario::from_toml(&readme[start..end]).expect("README example parses");
    let regions = &s.galleries[0].images[0].versions[0].regions;
    assert_eq!(regions.len(), 3);
    assert!(regions[2].added);
    assert_eq!(s.marketplace_terms[0].plan, "byol");
    assert_eq!(s.lro.vm_failures[0].code, "AllocationFailed");
    assert!(s.galleries[0].images[0].purchase_plan.is_some());
    assert_eq!(s.faults.seed, 42);
}
