//! A local Azure Functions host for custom handlers triggered by Service Bus.
//!
//! The Functions host cannot be installed on every machine (Core Tools downloads its binary at
//! install time), so this crate does its job for imageferry's kind of app, in the spirit of
//! cargo-lambda's emulator:
//!
//! - reads `host.json` and every `function.json` ([`app`]) and the app settings of
//!   `local.settings.json`;
//! - starts the `customHandler` executable with `FUNCTIONS_CUSTOMHANDLER_PORT`, waits for `GET /`,
//!   restarts it with backoff when it dies ([`worker`]);
//! - receives from each trigger's queue or subscription, or its dead-letter sub-queue
//!   (`queueName: "<queue>/$DeadLetterQueue"`, as Azure Functions takes it), with peek-lock over
//!   the Service Bus REST protocol (`azure_clients::servicebus::ServiceBusReceiver`) and delivers
//!   `POST /<function>` in the host's exact encoding (`functions_runtime::host_wire`),
//!   `maxConcurrentCalls` at a time per function ([`dispatch::Dispatcher`], which `local-run`
//!   drives step by step);
//! - completes on 2xx, abandons otherwise; `functionTimeout` abandons and restarts the handler;
//!   locks are renewed up to `maxAutoLockRenewalDuration` ([`dispatch`]);
//! - logs one line per invocation in the host's style:
//!   `Executed 'Functions.<name>' (Succeeded, Id=<invocation id>, Duration=12ms) MessageId=..., DeliveryCount=1, ...`.
//!
//! Only Service Bus triggers with connection strings are run; other triggers are listed and
//! skipped, and output bindings are not processed (imageferry's functions send with their own
//! Service Bus client).

pub mod app;
pub mod dispatch;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_clients::servicebus::{ServiceBusConnection, ServiceBusReceiver};
use tokio::sync::watch;

pub use app::{AppDefinition, AppError, ServiceBusFunction};
pub use dispatch::{
    Dispatcher, Executed, LogSink, Outcome, Settlement, Stats, StatsSnapshot, host_message,
};
pub use worker::{Ready, Supervisor, WorkerSpec};

/// Problems starting the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A function's connection setting is missing or unusable.
    #[error("function {function}: connection {setting}: {reason}")]
    Connection {
        /// Function.
        function: String,
        /// App setting name.
        setting: String,
        /// Why.
        reason: String,
    },
    /// The handler executable was not found.
    #[error(
        "the custom handler {0} was not found (customHandler.description.defaultExecutablePath)"
    )]
    Executable(String),
    /// The handler did not become ready.
    #[error("the custom handler did not start within {0:?}; see its log {1}")]
    NotReady(Duration, String),
}

/// What to run.
#[derive(Clone)]
pub struct HostOptions {
    /// The app.
    pub app: AppDefinition,
    /// The handler binary; `None` = host.json's `defaultExecutablePath` (relative to the app
    /// root when that file exists, else looked up on `PATH`, as the host does).
    pub executable: Option<PathBuf>,
    /// App settings (the handler's environment and the trigger connections).
    pub settings: BTreeMap<String, String>,
    /// The handler's stdout and stderr (appended).
    pub handler_log: PathBuf,
    /// Where the host's own lines go.
    pub log: LogSink,
    /// Long-poll time of each receive.
    pub receive_wait: Duration,
    /// Fault injection: the fraction of successful invocations whose message is abandoned
    /// instead of completed, so that it is delivered again (duplicate deliveries). 0 normally.
    pub redeliver_after_success: f64,
}

impl HostOptions {
    /// Options for `app` with `settings`, the handler's log at `handler_log`, host lines on stderr.
    pub fn new(
        app: AppDefinition,
        settings: BTreeMap<String, String>,
        handler_log: PathBuf,
    ) -> Self {
        Self {
            app,
            executable: None,
            settings,
            handler_log,
            log: Arc::new(|line| eprintln!("{line}")),
            receive_wait: Duration::from_secs(5),
            redeliver_after_success: 0.0,
        }
    }
}

/// A running host.
pub struct Host {
    supervisor: Supervisor,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    receivers: Vec<tokio::task::JoinHandle<()>>,
    functions: Vec<ServiceBusFunction>,
}

impl Host {
    /// Starts the handler and, once it answers, the receivers.
    pub async fn start(options: HostOptions) -> Result<Self, HostError> {
        azure_clients::install_crypto_provider();
        let app = &options.app;
        let executable = match &options.executable {
            Some(e) => e.clone(),
            None => {
                let local = app.root.join(&app.host.executable);
                if local.is_file() {
                    local
                } else {
                    PathBuf::from(&app.host.executable)
                }
            }
        };
        if executable.components().count() > 1 && !executable.is_file() {
            return Err(HostError::Executable(executable.display().to_string()));
        }
        let mut clients = Vec::new();
        for f in &app.functions {
            let setting = |reason: &str| HostError::Connection {
                function: f.name.clone(),
                setting: f.connection.clone(),
                reason: reason.to_string(),
            };
            let value = options.settings.get(&f.connection).ok_or_else(|| {
                if options.settings.contains_key(&format!("{}__fullyQualifiedNamespace", f.connection)) {
                    setting("identity-based connections are not supported by the local host; use a connection string")
                } else {
                    setting("not set")
                }
            })?;
            let connection =
                ServiceBusConnection::parse(value).map_err(|e| setting(&e.to_string()))?;
            clients.push(ServiceBusReceiver::from_connection(connection));
        }
        let working_directory = match &app.host.working_directory {
            Some(w) => app.root.join(w),
            None => app.root.clone(),
        };
        let supervisor = Supervisor::start(WorkerSpec {
            executable,
            arguments: app.host.arguments.clone(),
            working_directory,
            app_root: app.root.clone(),
            env: options
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            log_file: options.handler_log.clone(),
        });
        let first_start = worker::INITIALIZATION_TIMEOUT * 2;
        if supervisor.ready_within(first_start).await.is_none() {
            supervisor.shutdown().await;
            return Err(HostError::NotReady(
                first_start,
                options.handler_log.display().to_string(),
            ));
        }
        let dispatcher = Arc::new(
            Dispatcher::new(supervisor.clone(), &app.host, options.log.clone())
                .with_redeliver_after_success(options.redeliver_after_success),
        );
        let stats = dispatcher.stats().clone();
        let (stop, stop_rx) = watch::channel(false);
        let mut receivers = Vec::new();
        for (f, client) in app.functions.iter().zip(clients) {
            let f = Arc::new(f.clone());
            for _ in 0..app.host.max_concurrent_calls {
                receivers.push(tokio::spawn(dispatch::receive_loop(
                    dispatcher.clone(),
                    f.clone(),
                    client.clone(),
                    options.receive_wait,
                    stop_rx.clone(),
                )));
            }
        }
        for (name, kind) in &app.skipped {
            (options.log)(&format!(
                "[{}] Function '{name}' has a {kind}, which this host does not run; skipped",
                worker::now()
            ));
        }
        (options.log)(&format!(
            "[{}] Host started: {} functions ({}), maxConcurrentCalls {}, functionTimeout {:?}, maxAutoLockRenewalDuration {:?}",
            worker::now(),
            app.functions.len(),
            app.functions
                .iter()
                .map(|f| format!("{} <- {}", f.name, f.entity))
                .collect::<Vec<_>>()
                .join(", "),
            app.host.max_concurrent_calls,
            app.host.function_timeout,
            app.host.max_auto_lock_renewal,
        ));
        Ok(Self {
            supervisor,
            stats,
            stop,
            receivers,
            functions: app.functions.clone(),
        })
    }

    /// The handler's supervisor (its pid, restarts, fault injection).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Counters since start.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The functions it runs.
    pub fn functions(&self) -> &[ServiceBusFunction] {
        &self.functions
    }

    /// Stops receiving, lets invocations in flight finish (up to 30 s), then stops the handler
    /// with SIGTERM. Returns the handler's exit code.
    pub async fn shutdown(self) -> Option<i32> {
        let _ = self.stop.send(true);
        let aborts: Vec<_> = self.receivers.iter().map(|h| h.abort_handle()).collect();
        let all = futures_join(self.receivers);
        if tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .is_err()
        {
            aborts.iter().for_each(|a| a.abort());
        }
        self.supervisor.shutdown().await
    }
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}
