//! What `imageferry dev` needs besides itself, and where it finds it: the function app of an
//! imageferry checkout (host.json, the function folders, `examples/`), and the `handler` and
//! `azure-sim` binaries beside this `imageferry`. Run by cargo (`cargo run -p imageferry -- dev`)
//! everything is there (cargo builds the binaries first); an installed `imageferry` (`cargo install
//! --path crates/cli`, a release binary) is told exactly what to install when something is missing.

use std::path::{Path, PathBuf};

use local_run::processes::{Binaries, ProcessError};

/// The function app folder: `cwd` when it holds host.json, else the checkout this binary was
/// built from (`built_from`) when it still does.
pub fn app_root_in(cwd: &Path, built_from: &Path) -> Result<PathBuf, NotInstalled> {
    if cwd.join("host.json").is_file() {
        return Ok(cwd.to_path_buf());
    }
    if built_from.join("host.json").is_file() {
        return Ok(built_from
            .canonicalize()
            .unwrap_or_else(|_| built_from.to_path_buf()));
    }
    Err(NotInstalled::NoApp {
        cwd: cwd.to_path_buf(),
        built_from: built_from.to_path_buf(),
    })
}

/// The stack's binaries, or what to install.
pub fn binaries() -> Result<Binaries, NotInstalled> {
    Binaries::locate().map_err(|e| {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        match e {
            ProcessError::Locate(reason) => NotInstalled::Binaries { reason, beside },
            other => NotInstalled::Binaries {
                reason: other.to_string(),
                beside,
            },
        }
    })
}

/// Something `dev` needs is not where it looks (exit 4).
#[derive(Debug, thiserror::Error)]
pub enum NotInstalled {
    /// No function app here or in the checkout the binary was built from.
    #[error(
        "no function app: imageferry dev serves the function app of an imageferry checkout (host.json and its */function.json folders) and sends its examples/; run it in the checkout's folder ({} has no host.json, nor has {}, the checkout this binary was built from)",
        cwd.display(),
        built_from.display()
    )]
    NoApp {
        /// The current folder.
        cwd: PathBuf,
        /// The checkout this binary was built from.
        built_from: PathBuf,
    },
    /// The `handler` or `azure-sim` binary is missing beside this one.
    #[error(
        "{reason}. imageferry dev starts the `handler` and `azure-sim` binaries from the folder of this imageferry ({}); an installed imageferry needs them installed beside it: in the imageferry checkout run `cargo install --locked --path handlers --bin handler && cargo install --locked --path crates/azure-sim` (same cargo root as imageferry), or run `cargo run -p imageferry -- dev` there, which builds them",
        beside.display()
    )]
    Binaries {
        /// What the lookup found missing.
        reason: String,
        /// The folder looked in.
        beside: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_the_current_folder_or_the_checkout_built_from() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let elsewhere = std::env::temp_dir();
        assert_eq!(
            app_root_in(&checkout, &elsewhere).unwrap(),
            checkout.to_path_buf()
        );
        assert_eq!(
            app_root_in(&elsewhere, &checkout).unwrap(),
            checkout.canonicalize().unwrap()
        );
        let gone = elsewhere.join("no-such-imageferry-checkout");
        let err = app_root_in(&elsewhere, &gone).unwrap_err().to_string();
        assert!(err.contains("run it in the checkout's folder"), "{err}");
        assert!(err.contains(&gone.display().to_string()), "{err}");
    }
}
