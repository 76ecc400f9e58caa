//! An installed `imageferry` (as `cargo install --path crates/cli` leaves it: the binary alone in
//! a `bin` folder, not run by cargo) either runs `dev` or says exactly what to install: the
//! `handler` and `azure-sim` binaries beside it. Through copies of the real binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A fresh `bin` folder holding a copy of imageferry and of `others`.
fn install(others: &[&Path]) -> PathBuf {
    let bin = std::env::temp_dir().join(format!("imageferry-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&bin).unwrap();
    for from in
        std::iter::once(Path::new(env!("CARGO_BIN_EXE_imageferry"))).chain(others.iter().copied())
    {
        std::fs::copy(from, bin.join(from.file_name().unwrap())).unwrap();
    }
    bin
}

/// `bin/imageferry args` in the checkout, as a person runs it: no cargo in the environment.
fn run(bin: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin.join("imageferry"));
    cmd.args(args).current_dir(repo()).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("imageferry runs")
}

#[test]
fn an_installed_cli_says_what_dev_needs_then_runs_it() {
    // imageferry alone: exit 4, naming what is missing, where it looked and the commands.
    let bin = install(&[]);
    let out = run(&bin, &["dev", "--timeout", "1m"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for says in [
        "handler not found next to",
        &bin.display().to_string(),
        "cargo install --locked --path handlers --bin handler && cargo install --locked --path crates/azure-sim",
        "cargo run -p imageferry -- dev",
    ] {
        assert!(stderr.contains(says), "{says:?}: {stderr}");
    }
    std::fs::remove_dir_all(&bin).unwrap();

    // With them installed beside it (what those commands do), `dev` runs the stack.
    let built = local_run::processes::Binaries::locate().expect("the workspace binaries");
    let bin = install(&[&built.handler, &built.azure_sim]);
    let out = run(
        &bin,
        &[
            "dev",
            "--time-scale",
            "120",
            "--timeout",
            "3m",
            "-o",
            "json",
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    std::fs::remove_dir_all(&bin).unwrap();
}
