//! The whole local stack: Azure stand-in, Service Bus stand-in, handler, driver.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use azure_clients::servicebus::ServiceBusReceiver;
use azure_clients::{OutgoingMessage, ServiceBusConnection, ServiceBusSender};
use functions_host::{AppDefinition, AppError, Dispatcher, Supervisor, WorkerSpec};
use servicebus_emulator::{EmulatorHandle, EmulatorOptions, NamespaceConfig, SentMessage};

use crate::logs;
use crate::processes::{self, Binaries, ProcessError, Running};
use crate::pump::Pump;

/// Ids of the Azure stand-in's default scenario (docs/DESIGN.md, `crates/azure-sim/scenarios/default.toml`).
pub mod seed {
    /// Publisher tenant (tenant 1).
    pub const TENANT_1: &str = "11111111-1111-4111-8111-111111111111";
    /// Publisher subscription.
    pub const SUBSCRIPTION_1: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
    /// Consumer tenant (tenant 2).
    pub const TENANT_2: &str = "22222222-2222-4222-8222-222222222222";
    /// Consumer subscription.
    pub const SUBSCRIPTION_2: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
    /// Consumer resource group.
    pub const RESOURCE_GROUP: &str = "myResourceGroup";
    /// The multi-tenant app registration.
    pub const CLIENT_ID: &str = "33333333-3333-4333-8333-333333333333";
    /// Its client secret in the stand-in (a local-only value, not a real secret).
    pub const CLIENT_SECRET: &str = "local-sim-secret";
    /// The gallery in tenant 1.
    pub const GALLERY_ID: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";
}

/// Problems with the stack.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The app definition is invalid.
    #[error(transparent)]
    App(#[from] AppError),
    /// A process failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The Service Bus stand-in could not start.
    #[error(transparent)]
    Bus(#[from] servicebus_emulator::EmulatorError),
    /// An app setting has a value the stack cannot use.
    #[error("{name}: {reason}")]
    Setting {
        /// The setting.
        name: String,
        /// Why.
        reason: String,
    },
    /// Sending a message failed.
    #[error("sending to {queue} failed: {reason}")]
    Send {
        /// Queue.
        queue: String,
        /// Why.
        reason: String,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LocalStackOptions {
    /// Folder with `host.json` and the function folders.
    pub app_root: PathBuf,
    /// Scenario for the Azure stand-in (its default scenario when `None`).
    pub scenario: Option<PathBuf>,
    /// Extra or overriding app settings for the handler. `IMAGEFERRY_MAX_DELIVERY_COUNT` also
    /// sets every queue's `maxDeliveryCount`, as main.bicep's parameter does.
    pub settings: Vec<(String, String)>,
    /// Where the handler's logs go.
    pub log_dir: PathBuf,
    /// Simulated seconds per real second in the Azure stand-in (replication and long-running
    /// operations); the scenario's own value when `None`.
    pub time_scale: Option<f64>,
}

impl LocalStackOptions {
    /// The repository's app definition, default scenario, logs under `target/local-run`.
    pub fn for_repository() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let root = root.canonicalize().unwrap_or(root);
        Self {
            log_dir: root.join("target/local-run"),
            app_root: root,
            scenario: None,
            settings: Vec::new(),
            time_scale: None,
        }
    }
}

/// A running local stack.
pub struct LocalStack {
    /// The app definition read from `host.json` and `function.json` files (by the local
    /// Functions host's reader).
    pub app: AppDefinition,
    /// The Azure stand-in process.
    pub azure: Running,
    /// The Service Bus stand-in (in this process, in memory, with its journal of sends).
    pub bus: EmulatorHandle,
    /// The handler process, started and supervised as the local Functions host does.
    pub handler: Supervisor,
    /// Delivers messages to the handler, one at a time.
    pub pump: Pump,
    /// The handler's log file.
    pub handler_log: PathBuf,
}

/// The app settings the handler gets in a local run: the stand-ins' endpoints and the default
/// scenario's app registration, allow-lists and short backoffs.
pub fn local_settings(azure_url: &str, bus: &EmulatorHandle) -> Vec<(String, String)> {
    [
        ("FUNCTIONS_WORKER_RUNTIME", "Custom".to_string()),
        ("AZURE_AUTHORITY_HOST", azure_url.to_string()),
        ("IMAGEFERRY_ARM_ENDPOINT", azure_url.to_string()),
        // The stand-in's Key Vault is trusted only because this setting names it.
        ("IMAGEFERRY_KEYVAULT_ENDPOINT", azure_url.to_string()),
        ("AZURE_CLIENT_ID", seed::CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", seed::CLIENT_SECRET.to_string()),
        ("AZURE_TENANT_ID", seed::TENANT_1.to_string()),
        ("ServiceBusConnection", bus.connection_string()),
        // The deployment status store: the stand-in's Table service (crate status-store).
        (
            "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
            format!("{azure_url}/table/"),
        ),
        ("IMAGEFERRY_ALLOWED_GALLERIES", seed::GALLERY_ID.to_string()),
        (
            "IMAGEFERRY_ALLOWED_TARGETS",
            format!("{}/{}", seed::TENANT_2, seed::SUBSCRIPTION_2),
        ),
        ("IMAGEFERRY_REPLICATION_BACKOFF_INITIAL", "1s".to_string()),
        ("IMAGEFERRY_REPLICATION_BACKOFF_CAP", "3s".to_string()),
        ("IMAGEFERRY_PROVISIONING_POLL", "1s".to_string()),
        ("RUST_LOG", "info".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Numbers the handler log files of one process (tests start several stacks at once).
fn next_log_number() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Sets the stand-in's time scale through its control API (`POST /_sim/faults`).
async fn set_time_scale(azure_url: &str, scale: f64) -> Result<(), StackError> {
    let answer = reqwest::Client::new()
        .post(format!("{azure_url}/_sim/faults"))
        .json(&serde_json::json!({ "time_scale": scale }))
        .send()
        .await
        .map_err(|e| ProcessError::NotReady {
            name: "azure-sim".into(),
            reason: format!("setting the time scale: {e}"),
        })?;
    if !answer.status().is_success() {
        return Err(ProcessError::NotReady {
            name: "azure-sim".into(),
            reason: format!("setting the time scale: {}", answer.status()),
        }
        .into());
    }
    Ok(())
}

impl LocalStack {
    /// Builds (when run by cargo) and starts everything.
    pub async fn start(options: LocalStackOptions) -> Result<Self, StackError> {
        let app = functions_host::app::load(&options.app_root)?;
        let bins = Binaries::locate()?;
        std::fs::create_dir_all(&options.log_dir).map_err(|source| ProcessError::Spawn {
            name: format!("log folder {}", options.log_dir.display()),
            source,
        })?;
        logs::prune(&options.log_dir);
        let (azure_log, handler_log) = logs::names(next_log_number());
        let azure = processes::start_azure_sim(
            &bins.azure_sim,
            options.scenario.as_deref(),
            &options.log_dir.join(azure_log),
        )
        .await?;
        if let Some(scale) = options.time_scale {
            set_time_scale(&azure.base_url, scale).await?;
        }
        let mut namespace = NamespaceConfig::imageferry();
        if let Some((name, value)) = options
            .settings
            .iter()
            .find(|(k, _)| k == "IMAGEFERRY_MAX_DELIVERY_COUNT")
        {
            let n = value.parse().map_err(|_| StackError::Setting {
                name: name.clone(),
                reason: format!("{value:?} is not a number"),
            })?;
            namespace = namespace.with_max_delivery_count(n);
        }
        let mut bus_options = EmulatorOptions::in_memory();
        bus_options.config = namespace;
        let bus = servicebus_emulator::start(bus_options).await?;
        let mut settings = local_settings(&azure.base_url, &bus);
        for (k, v) in options.settings {
            settings.retain(|(name, _)| *name != k);
            settings.push((k, v));
        }
        let handler_log = options.log_dir.join(handler_log);
        let working_directory = match &app.host.working_directory {
            Some(w) => app.root.join(w),
            None => app.root.clone(),
        };
        let handler = Supervisor::start(WorkerSpec {
            executable: bins.handler.clone(),
            arguments: app.host.arguments.clone(),
            working_directory,
            app_root: app.root.clone(),
            env: settings,
            log_file: handler_log.clone(),
        });
        if handler
            .ready_within(functions_host::worker::INITIALIZATION_TIMEOUT)
            .await
            .is_none()
        {
            handler.shutdown().await;
            let log = std::fs::read_to_string(&handler_log).unwrap_or_default();
            return Err(ProcessError::NotReady {
                name: "handler".into(),
                reason: format!(
                    "no answer on GET / within {:?}: {}",
                    functions_host::worker::INITIALIZATION_TIMEOUT,
                    processes::last_lines(&log, 10)
                ),
            }
            .into());
        }
        let connection = ServiceBusConnection::parse(&bus.connection_string()).map_err(|e| {
            StackError::Setting {
                name: "ServiceBusConnection".into(),
                reason: e.to_string(),
            }
        })?;
        // The host's lines are in each delivery of the pump's history.
        let dispatcher = Dispatcher::new(handler.clone(), &app.host, Arc::new(|_| {}));
        let pump = Pump::new(
            bus.clone(),
            ServiceBusReceiver::from_connection(connection),
            dispatcher,
            app.functions.clone(),
        );
        Ok(Self {
            app,
            azure,
            bus,
            handler,
            pump,
            handler_log,
        })
    }

    /// Sends `body` to `queue` over the Service Bus REST protocol, as an image pipeline would,
    /// with the same sender the handler uses.
    pub async fn send(&self, queue: &str, body: &str, message_id: &str) -> Result<(), StackError> {
        let failed = |reason: String| StackError::Send {
            queue: queue.into(),
            reason,
        };
        let connection = ServiceBusConnection::parse(&self.bus.connection_string())
            .map_err(|e| failed(e.to_string()))?;
        let message = OutgoingMessage {
            body: body.to_string(),
            message_id: Some(message_id.to_string()),
            ..OutgoingMessage::default()
        };
        ServiceBusSender::from_connection(connection)
            .send(queue, message)
            .await
            .map_err(|e| failed(e.to_string()))
    }

    /// Events published on `topic`, in order, duplicates (same MessageId) left out.
    pub fn events(&self, topic: &str) -> Vec<SentMessage> {
        self.bus.accepted(topic)
    }

    /// Stops the handler (SIGTERM, as the host does on shutdown) and the stand-ins. Returns the
    /// handler's exit code.
    pub async fn shutdown(mut self) -> Option<i32> {
        let code = self.handler.shutdown().await;
        self.azure.stop(Duration::from_secs(5)).await;
        self.bus.shutdown().await;
        code
    }
}
