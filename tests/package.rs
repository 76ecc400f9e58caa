//! The Function App package: `scripts/package.sh` stages and zips the app, and the zip must hold
//! what the Functions host needs: host.json, every function folder (each `*/function.json` at the
//! repository root), the rollout configuration (valid), and an executable `handler`.
//!
//! The script is run with `--binary` on the debug `handler` that the end-to-end tests build anyway:
//! the layout does not depend on the build profile, and a release build (about two minutes on two
//! cores, more with the musl target) would dominate CI for no extra coverage of the layout.
//! `scripts/package.sh` without `--binary` is what `azd` runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use imageferry_contract::rollout::RolloutConfig;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn function_folders(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_package_holds_the_app_the_host_needs() {
    let root = repo();
    // The debug handler, built by cargo for this test run's other tests.
    let bins = local_run::processes::Binaries::locate().expect("binaries built");
    let out = tempdir();
    let status = Command::new("bash")
        .arg(root.join("scripts/package.sh"))
        .arg("--binary")
        .arg(&bins.handler)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("bash runs");
    assert!(status.success(), "package.sh failed: {status}");

    let file = std::fs::File::open(out.join("functionapp.zip")).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let functions = function_folders(&root);
    assert!(
        functions.len() >= 6,
        "the six functions, including image-version-published and rollout-check: {functions:?}"
    );
    for f in &functions {
        assert!(
            names.contains(&format!("{f}/function.json")),
            "{f}/function.json missing from {names:?}"
        );
    }
    for wanted in ["host.json", "handler", "rollouts.toml"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing: {names:?}"
        );
    }

    let mode = zip.by_name("handler").unwrap().unix_mode().unwrap();
    assert_eq!(mode & 0o111, 0o111, "handler must be executable: {mode:o}");

    let mut host = String::new();
    zip.by_name("host.json")
        .unwrap()
        .read_to_string(&mut host)
        .unwrap();
    let host: serde_json::Value = serde_json::from_str(&host).unwrap();
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );

    let mut rollouts = String::new();
    zip.by_name("rollouts.toml")
        .unwrap()
        .read_to_string(&mut rollouts)
        .unwrap();
    RolloutConfig::parse(&rollouts).expect("the packaged rollout configuration is valid");
    let _ = std::fs::remove_dir_all(&out);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("imageferry-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every function's queue exists in the namespace the Bicep deploys (the queues of
/// infra/servicebus.entities.json), and no other queue is declared there: a function without its
/// queue would never be triggered.
#[test]
fn every_function_has_its_queue_in_the_bicep() {
    let root = repo();
    let entities: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("infra/servicebus.entities.json")).unwrap(),
    )
    .unwrap();
    let mut queues: Vec<String> = entities["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect();
    queues.sort();
    let mut functions = function_folders(&root);
    functions.sort();
    assert_eq!(queues, functions);
}
