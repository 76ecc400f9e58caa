//! The Azure stand-in as a child process, and where the binaries are. (The custom handler is
//! started and supervised by the local Functions host's `functions_host::Supervisor`.)

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Problems starting or stopping a child process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A binary was not found.
    #[error("{name} not found next to {searched}; build it with `cargo build --workspace --bins`")]
    Missing {
        /// Binary name.
        name: String,
        /// Folder searched.
        searched: String,
    },
    /// An earlier lookup of the binaries in this process failed (its message).
    #[error("{0}")]
    Locate(String),
    /// `cargo build` failed.
    #[error("building the binaries failed: {0}")]
    Build(String),
    /// The process could not be spawned.
    #[error("cannot start {name}: {source}")]
    Spawn {
        /// Binary name.
        name: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The process did not become ready.
    #[error("{name} did not become ready: {reason}")]
    NotReady {
        /// Binary name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Where the `handler` and `azure-sim` binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The custom handler.
    pub handler: PathBuf,
    /// The Azure stand-in.
    pub azure_sim: PathBuf,
}

impl Binaries {
    /// Finds the binaries in the cargo target folder this program runs from. When run by cargo
    /// (`CARGO` is set: `cargo run`, `cargo test`), builds them first in the same profile, so they
    /// are never stale. The lookup (and build) runs once per process; later calls reuse it.
    pub fn locate() -> Result<Self, ProcessError> {
        static FOUND: std::sync::OnceLock<Result<Binaries, String>> = std::sync::OnceLock::new();
        FOUND
            .get_or_init(|| Self::find_or_build().map_err(|e| e.to_string()))
            .clone()
            .map_err(ProcessError::Locate)
    }

    fn find_or_build() -> Result<Self, ProcessError> {
        let exe = std::env::current_exe().map_err(|e| ProcessError::Missing {
            name: "current executable".into(),
            searched: e.to_string(),
        })?;
        // target/<profile>/imageferry or target/<profile>/deps/<test>-<hash>
        let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        if let Ok(cargo) = std::env::var("CARGO") {
            build(&cargo, dir.file_name().is_some_and(|n| n == "release"))?;
        }
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ProcessError::Missing {
                    name: name.into(),
                    searched: dir.display().to_string(),
                })
            }
        };
        Ok(Self {
            handler: find("handler")?,
            azure_sim: find("azure-sim")?,
        })
    }
}

/// Variables cargo sets for the program it runs (`cargo run`, `cargo test`) that describe that
/// program's own package. A nested `cargo build` must not inherit them: build scripts that read
/// them (ring's reads `CARGO_MANIFEST_DIR` and `CARGO_PKG_*`, with `rerun-if-env-changed`) would
/// see other values than in a plain `cargo build` and rebuild, every time. User settings
/// (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_BUILD_*`, `CARGO_PROFILE_*`, ...) are kept.
const SET_BY_CARGO_FOR_THE_PROGRAM: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];
/// Prefixes of the same kind.
const SET_BY_CARGO_FOR_THE_PROGRAM_PREFIXES: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_BIN_EXE_",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
];

/// True for a variable cargo set for the running program (see [`SET_BY_CARGO_FOR_THE_PROGRAM`]).
fn set_by_cargo_for_the_program(name: &str) -> bool {
    SET_BY_CARGO_FOR_THE_PROGRAM.contains(&name)
        || SET_BY_CARGO_FOR_THE_PROGRAM_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// `cargo build -p imageferry-handlers -p azure-sim --bins [--release]` in a clean environment,
/// its progress shown on this process's stderr.
fn build(cargo: &str, release: bool) -> Result<(), ProcessError> {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "imageferry-handlers",
        "-p",
        "azure-sim",
        "--bins",
    ]);
    if release {
        cmd.arg("--release");
    }
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_the_program) {
            cmd.env_remove(&name);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = cmd
        .status()
        .map_err(|e| ProcessError::Build(format!("cannot run {cargo}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(ProcessError::Build(format!(
            "cargo build exited with {status} (its output is above)"
        )))
    }
}

/// A running child process that is stopped with SIGTERM when dropped.
#[derive(Debug)]
pub struct Running {
    /// Name for messages.
    pub name: String,
    /// Base URL it serves.
    pub base_url: String,
    child: Child,
}

impl Running {
    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit, up to `grace`; kills it after that.
    /// Returns the exit code (None when killed by a signal).
    pub async fn stop(&mut self, grace: Duration) -> Option<i32> {
        process_control::stop(&mut self.child, grace).await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Starts `azure-sim --listen 127.0.0.1:0 [--scenario FILE]` and waits for the line with its URL.
/// Its own log (stderr) goes to `log_file`.
pub async fn start_azure_sim(
    bin: &Path,
    scenario: Option<&Path>,
    log_file: &Path,
) -> Result<Running, ProcessError> {
    let log = std::fs::File::create(log_file).map_err(|source| ProcessError::Spawn {
        name: format!("log file {}", log_file.display()),
        source,
    })?;
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", "127.0.0.1:0"]);
    if let Some(s) = scenario {
        cmd.arg("--scenario").arg(s);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        name: "azure-sim".into(),
        source,
    })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| ProcessError::NotReady {
            name: "azure-sim".into(),
            reason: "no URL printed within 30 s".into(),
        })?
        .map_err(|e| ProcessError::NotReady {
            name: "azure-sim".into(),
            reason: e.to_string(),
        })?
        .unwrap_or_default();
    let Some(base_url) = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|u| u.trim_end_matches('/').to_string())
    else {
        // It stopped (a bad scenario, a busy port): its own error is the end of its log.
        let exit = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        let log = std::fs::read_to_string(log_file).unwrap_or_default();
        let reason = match exit {
            Ok(Ok(status)) => format!("exited with {status}: {}", last_lines(&log, 10)),
            _ => format!(
                "first line has no URL: {first:?}; log: {}",
                last_lines(&log, 10)
            ),
        };
        return Err(ProcessError::NotReady {
            name: "azure-sim".into(),
            reason,
        });
    };
    // Keep draining its stdout so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Running {
        name: "azure-sim".into(),
        base_url,
        child,
    })
}

/// The last `n` lines of `text` (a log's tail for an error message).
pub fn last_lines(text: &str, n: usize) -> String {
    let text = text.trim_end();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_programs_own_cargo_variables_are_dropped() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_BIN_EXE_handler",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ] {
            assert!(set_by_cargo_for_the_program(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO_PROFILE_RELEASE_LTO",
            "CARGO_TERM_COLOR",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!set_by_cargo_for_the_program(name), "{name}");
        }
    }
}
