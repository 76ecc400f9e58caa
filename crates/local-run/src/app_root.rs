//! Reads the Functions app definition: `host.json` and one `function.json` per function folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A function triggered by a Service Bus queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFunction {
    /// Function name = folder name = the path the host POSTs to.
    pub function: String,
    /// `queueName` of its `serviceBusTrigger` binding.
    pub queue: String,
    /// `name` of the trigger binding (the key in the invocation's `Data`).
    pub binding: String,
    /// `connection` app setting name.
    pub connection: String,
}

/// The app definition.
#[derive(Debug, Clone)]
pub struct AppDefinition {
    /// Folder holding `host.json`.
    pub root: PathBuf,
    /// `customHandler.description.defaultExecutablePath`.
    pub executable: String,
    /// Service Bus queue functions, sorted by name.
    pub functions: Vec<QueueFunction>,
}

/// Problems with the app definition.
#[derive(Debug, thiserror::Error)]
pub enum AppRootError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not valid for the Functions host.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
struct HostJson {
    #[serde(rename = "customHandler")]
    custom_handler: Option<CustomHandler>,
}

#[derive(Deserialize)]
struct CustomHandler {
    description: Option<Description>,
}

#[derive(Deserialize)]
struct Description {
    #[serde(rename = "defaultExecutablePath")]
    default_executable_path: Option<String>,
}

#[derive(Deserialize)]
struct FunctionJson {
    bindings: Vec<Binding>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Binding {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    direction: String,
    queue_name: Option<String>,
    connection: Option<String>,
}

fn read(path: &Path) -> Result<String, AppRootError> {
    std::fs::read_to_string(path).map_err(|source| AppRootError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, message: impl Into<String>) -> AppRootError {
    AppRootError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads `host.json` and the `function.json` of every direct subfolder of `root`.
pub fn load(root: &Path) -> Result<AppDefinition, AppRootError> {
    let host_path = root.join("host.json");
    let host: HostJson =
        serde_json::from_str(&read(&host_path)?).map_err(|e| invalid(&host_path, e.to_string()))?;
    // "Missing worker Description." is what the host says without it (NOTES §1.1).
    let executable = host
        .custom_handler
        .and_then(|c| c.description)
        .and_then(|d| d.default_executable_path)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            invalid(
                &host_path,
                "customHandler.description.defaultExecutablePath is required",
            )
        })?;
    let mut functions = Vec::new();
    let entries = std::fs::read_dir(root).map_err(|source| AppRootError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path().join("function.json");
        if !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let def: FunctionJson =
            serde_json::from_str(&read(&path)?).map_err(|e| invalid(&path, e.to_string()))?;
        let triggers: Vec<&Binding> = def
            .bindings
            .iter()
            .filter(|b| b.direction == "in" && b.kind.ends_with("Trigger"))
            .collect();
        let [trigger] = triggers.as_slice() else {
            return Err(invalid(
                &path,
                "a function needs exactly one trigger binding",
            ));
        };
        if trigger.kind != "serviceBusTrigger" {
            continue;
        }
        let queue = trigger
            .queue_name
            .clone()
            .ok_or_else(|| invalid(&path, "serviceBusTrigger without queueName"))?;
        functions.push(QueueFunction {
            function: name,
            queue,
            binding: trigger.name.clone(),
            connection: trigger
                .connection
                .clone()
                .unwrap_or_else(|| "AzureWebJobsServiceBus".into()),
        });
    }
    functions.sort_by(|a, b| a.function.cmp(&b.function));
    Ok(AppDefinition {
        root: root.to_path_buf(),
        executable,
        functions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_repository_app_definition() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let app = load(&root).unwrap();
        assert_eq!(app.executable, "handler");
        let names: Vec<_> = app.functions.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "deployment-requested",
                "image-version-published",
                "image-version-replicated",
                "replication-check",
                "rollout-check",
                "vm-provisioning"
            ]
        );
        for f in &app.functions {
            assert_eq!(f.queue, f.function, "function name equals its queue name");
            assert_eq!(f.connection, "ServiceBusConnection");
        }
    }

    #[test]
    fn refuses_a_host_json_without_a_custom_handler() {
        let dir = std::env::temp_dir().join(format!("app-root-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("host.json"), r#"{"version":"2.0"}"#).unwrap();
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("defaultExecutablePath"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
