//! The Functions app: `host.json`, one `function.json` per function folder, and the app settings
//! of `local.settings.json` (as Azure Functions Core Tools reads them).
//!
//! Sources: `reference/functions/NOTES.md` §1.1–1.4 and §2.1 (host.json `customHandler`,
//! `functionTimeout`, `extensions.serviceBus`; the `serviceBusTrigger` binding).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use functions_runtime::DataType;
use serde::Deserialize;

/// Problems with the app definition.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
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

/// What a function is triggered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBusFunction {
    /// Function name = folder name = the path the host POSTs to.
    pub name: String,
    /// The entity it receives from: `queue`, or `topic/subscriptions/subscription`.
    pub entity: String,
    /// `name` of the trigger binding (the key in the invocation's `Data`).
    pub binding: String,
    /// App setting holding the connection (default `AzureWebJobsServiceBus`).
    pub connection: String,
    /// `dataType` of the trigger.
    pub data_type: DataType,
    /// `autoCompleteMessages` (function.json, else host.json, else true).
    pub auto_complete: bool,
}

/// The host settings that matter to Service Bus triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSettings {
    /// `customHandler.description.defaultExecutablePath`.
    pub executable: String,
    /// `customHandler.description.arguments`.
    pub arguments: Vec<String>,
    /// `customHandler.description.workingDirectory` (empty = app root).
    pub working_directory: Option<String>,
    /// `functionTimeout`; `None` = unbounded (`-1`). Default 5 minutes (Consumption's).
    pub function_timeout: Option<Duration>,
    /// `extensions.serviceBus.maxConcurrentCalls` (default 16 × processors).
    pub max_concurrent_calls: usize,
    /// `extensions.serviceBus.maxAutoLockRenewalDuration`; `None` = renew without limit.
    pub max_auto_lock_renewal: Option<Duration>,
    /// `extensions.serviceBus.autoCompleteMessages` (default true).
    pub auto_complete: bool,
}

/// The app definition.
#[derive(Debug, Clone)]
pub struct AppDefinition {
    /// Folder holding `host.json`.
    pub root: PathBuf,
    /// host.json.
    pub host: HostSettings,
    /// Service Bus functions, sorted by name. Functions with other triggers are listed in
    /// `skipped` (this host runs Service Bus triggers only).
    pub functions: Vec<ServiceBusFunction>,
    /// Functions with other triggers: (name, trigger type).
    pub skipped: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostJson {
    custom_handler: Option<CustomHandler>,
    function_timeout: Option<String>,
    #[serde(default)]
    extensions: Extensions,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Extensions {
    #[serde(default)]
    service_bus: ServiceBusOptions,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ServiceBusOptions {
    max_concurrent_calls: Option<usize>,
    max_auto_lock_renewal_duration: Option<String>,
    auto_complete_messages: Option<bool>,
}

#[derive(Deserialize)]
struct CustomHandler {
    description: Option<Description>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Description {
    default_executable_path: Option<String>,
    #[serde(default)]
    arguments: Vec<String>,
    working_directory: Option<String>,
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
    topic_name: Option<String>,
    subscription_name: Option<String>,
    connection: Option<String>,
    data_type: Option<String>,
    auto_complete_messages: Option<bool>,
}

fn read(path: &Path) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|source| AppError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Parses a .NET `TimeSpan` as host.json writes it: `hh:mm:ss[.fffffff]`, `d.hh:mm:ss`;
/// `-1` or any negative value means unbounded (`None`).
pub fn parse_timespan(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Ok(None);
    }
    let bad = || format!("{text:?} is not a TimeSpan such as 00:05:00");
    let (days, rest) = match t.split_once('.') {
        Some((d, rest)) if rest.contains(':') && !d.contains(':') => {
            (d.parse::<u64>().map_err(|_| bad())?, rest)
        }
        _ => (0, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err(bad());
    };
    let h: u64 = h.parse().map_err(|_| bad())?;
    let m: u64 = m.parse().map_err(|_| bad())?;
    let s: f64 = s.parse().map_err(|_| bad())?;
    if m >= 60 || !(0.0..60.0).contains(&s) {
        return Err(bad());
    }
    Ok(Some(Duration::from_secs_f64(
        (days * 86_400 + h * 3600 + m * 60) as f64 + s,
    )))
}

/// Reads `host.json` and the `function.json` of every direct subfolder of `root`.
pub fn load(root: &Path) -> Result<AppDefinition, AppError> {
    let host_path = root.join("host.json");
    let host: HostJson =
        serde_json::from_str(&read(&host_path)?).map_err(|e| invalid(&host_path, e.to_string()))?;
    // "Missing worker Description." is what the host says without it (NOTES §1.1).
    let description = host
        .custom_handler
        .and_then(|c| c.description)
        .ok_or_else(|| invalid(&host_path, "customHandler.description is required"))?;
    let executable = description
        .default_executable_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            invalid(
                &host_path,
                "customHandler.description.defaultExecutablePath is required",
            )
        })?;
    let function_timeout = match &host.function_timeout {
        None => Some(Duration::from_secs(300)),
        Some(t) => {
            parse_timespan(t).map_err(|e| invalid(&host_path, format!("functionTimeout: {e}")))?
        }
    };
    let sb = host.extensions.service_bus;
    let max_auto_lock_renewal = match &sb.max_auto_lock_renewal_duration {
        None => Some(Duration::from_secs(300)),
        Some(t) => parse_timespan(t).map_err(|e| {
            invalid(
                &host_path,
                format!("extensions.serviceBus.maxAutoLockRenewalDuration: {e}"),
            )
        })?,
    };
    let processors = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let settings = HostSettings {
        executable,
        arguments: description.arguments,
        working_directory: description.working_directory.filter(|w| !w.is_empty()),
        function_timeout,
        max_concurrent_calls: sb.max_concurrent_calls.unwrap_or(16 * processors).max(1),
        max_auto_lock_renewal,
        auto_complete: sb.auto_complete_messages.unwrap_or(true),
    };
    let mut functions = Vec::new();
    let mut skipped = Vec::new();
    let entries = std::fs::read_dir(root).map_err(|source| AppError::Read {
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
            skipped.push((name, trigger.kind.clone()));
            continue;
        }
        let entity = match (
            &trigger.queue_name,
            &trigger.topic_name,
            &trigger.subscription_name,
        ) {
            (Some(q), None, None) => q.clone(),
            (None, Some(t), Some(s)) => format!("{t}/subscriptions/{s}"),
            _ => {
                return Err(invalid(
                    &path,
                    "serviceBusTrigger needs queueName, or topicName and subscriptionName",
                ));
            }
        };
        let data_type = match trigger.data_type.as_deref() {
            None | Some("string") => DataType::String,
            Some("binary") => DataType::Binary,
            Some(other) => {
                return Err(invalid(
                    &path,
                    format!("dataType {other:?} is not supported"),
                ));
            }
        };
        functions.push(ServiceBusFunction {
            name,
            entity,
            binding: trigger.name.clone(),
            connection: trigger
                .connection
                .clone()
                .unwrap_or_else(|| "AzureWebJobsServiceBus".into()),
            data_type,
            auto_complete: trigger
                .auto_complete_messages
                .unwrap_or(settings.auto_complete),
        });
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(AppDefinition {
        root: root.to_path_buf(),
        host: settings,
        functions,
        skipped,
    })
}

/// The `Values` of a `local.settings.json` (Core Tools sets them as environment variables of the
/// worker). A missing file gives no values; `IsEncrypted: true` is refused (Core Tools decrypts
/// with a machine key this host does not have).
pub fn local_settings(path: &Path) -> Result<BTreeMap<String, String>, AppError> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct LocalSettings {
        #[serde(default)]
        is_encrypted: bool,
        #[serde(default)]
        values: BTreeMap<String, serde_json::Value>,
    }
    let parsed: LocalSettings =
        serde_json::from_str(&read(path)?).map_err(|e| invalid(path, e.to_string()))?;
    if parsed.is_encrypted {
        return Err(invalid(
            path,
            "encrypted settings are not supported; set IsEncrypted to false",
        ));
    }
    Ok(parsed
        .values
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(
            parse_timespan("00:05:00"),
            Ok(Some(Duration::from_secs(300)))
        );
        assert_eq!(
            parse_timespan("00:00:00.80"),
            Ok(Some(Duration::from_millis(800)))
        );
        assert_eq!(
            parse_timespan("1.02:00:00"),
            Ok(Some(Duration::from_secs(93_600)))
        );
        assert_eq!(parse_timespan("-1"), Ok(None));
        assert_eq!(parse_timespan("-00:00:00.0010000"), Ok(None));
        assert!(parse_timespan("5m").is_err());
        assert!(parse_timespan("00:61:00").is_err());
    }

    #[test]
    fn reads_the_repository_app() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let app = load(&root).unwrap();
        assert_eq!(app.host.executable, "handler");
        assert_eq!(app.host.function_timeout, Some(Duration::from_secs(300)));
        assert_eq!(app.host.max_concurrent_calls, 16);
        assert_eq!(
            app.host.max_auto_lock_renewal,
            Some(Duration::from_secs(600))
        );
        let names: Vec<_> = app.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "deployment-requested",
                "deployment-requested-dead-letters",
                "image-version-published",
                "image-version-replicated",
                "image-version-replicated-dead-letters",
                "replication-check",
                "replication-check-dead-letters",
                "rollout-check",
                "vm-provisioning",
                "vm-provisioning-dead-letters"
            ]
        );
        for f in &app.functions {
            // A function's name is its queue's; `<queue>-dead-letters` reads its dead-letter queue.
            let entity = match f.name.strip_suffix("-dead-letters") {
                Some(queue) => format!("{queue}/$DeadLetterQueue"),
                None => f.name.clone(),
            };
            assert_eq!(f.entity, entity, "{}", f.name);
            assert_eq!(f.connection, "ServiceBusConnection");
            assert_eq!(f.binding, "message");
            assert!(f.auto_complete);
        }
    }

    #[test]
    fn refuses_bad_apps() {
        let dir = std::env::temp_dir().join(format!("fh-app-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("f")).unwrap();
        std::fs::write(dir.join("host.json"), r#"{"version":"2.0"}"#).unwrap();
        assert!(
            load(&dir)
                .unwrap_err()
                .to_string()
                .contains("customHandler")
        );
        std::fs::write(
            dir.join("host.json"),
            r#"{"customHandler":{"description":{"defaultExecutablePath":"h"}},"functionTimeout":"5 min"}"#,
        )
        .unwrap();
        assert!(
            load(&dir)
                .unwrap_err()
                .to_string()
                .contains("functionTimeout")
        );
        std::fs::write(
            dir.join("host.json"),
            r#"{"customHandler":{"description":{"defaultExecutablePath":"h"}},"functionTimeout":"-1"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("f/function.json"),
            r#"{"bindings":[{"name":"m","type":"serviceBusTrigger","direction":"in","topicName":"t"}]}"#,
        )
        .unwrap();
        assert!(
            load(&dir)
                .unwrap_err()
                .to_string()
                .contains("subscriptionName")
        );
        std::fs::write(
            dir.join("f/function.json"),
            r#"{"bindings":[{"name":"m","type":"serviceBusTrigger","direction":"in","topicName":"t","subscriptionName":"s"}]}"#,
        )
        .unwrap();
        let app = load(&dir).unwrap();
        assert_eq!(app.host.function_timeout, None);
        assert_eq!(app.functions[0].entity, "t/subscriptions/s");
        std::fs::write(
            dir.join("local.settings.json"),
            r#"{"IsEncrypted":false,"Values":{"A":"1","B":2}}"#,
        )
        .unwrap();
        let values = local_settings(&dir.join("local.settings.json")).unwrap();
        assert_eq!(values["A"], "1");
        assert_eq!(values["B"], "2");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
