//! The `servicebus-emulator` command line (also run by `imageferry dev` as a child process).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{EmulatorOptions, NamespaceConfig};

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address; a restart must use the port of the first start.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// SQLite database file (created when missing; WAL files next to it).
    #[arg(long)]
    pub database: PathBuf,
    /// Namespace entities (the format of infra/servicebus.entities.json); the imageferry namespace
    /// when omitted.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Tenant whose Entra tokens are accepted (repeatable); none: SAS only.
    #[arg(long = "entra-tenant")]
    pub entra_tenants: Vec<String>,
    /// SAS key; when unset, the database keeps a generated one.
    #[arg(long, env = "SERVICEBUS_EMULATOR_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Runs until SIGTERM or Ctrl-C. Prints one line on stdout,
/// `servicebus-emulator listening on http://127.0.0.1:PORT`, and writes the connection string to
/// `<database>.connection` (mode 0600), never to the log.
pub async fn run(args: Args) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only on a terminal: `imageferry dev` writes this log to a file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = match &args.config {
        Some(path) => match NamespaceConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("servicebus-emulator: {e}");
                return ExitCode::from(2);
            }
        },
        None => NamespaceConfig::imageferry(),
    };
    let mut options = EmulatorOptions::new(args.database.clone());
    options.listen = args.listen;
    options.config = config;
    options.key = args.key;
    options.entra_tenants = args.entra_tenants;
    let handle = match crate::start(options).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("servicebus-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut file_name = args.database.into_os_string();
    file_name.push(".connection");
    if let Err(e) = write_private(&PathBuf::from(&file_name), &handle.connection_string()) {
        eprintln!("servicebus-emulator: cannot write the connection string: {e}");
        return ExitCode::FAILURE;
    }
    // Listen for the signals before saying it is ready: a SIGTERM right after the ready line
    // (a test, a parent stopping at once) must stop it cleanly, not kill it.
    let stop = stop_signal();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "servicebus-emulator listening on {}",
        handle.base_url()
    );
    let _ = out.flush();
    drop(out);
    stop.await;
    tracing::info!("servicebus-emulator stopping");
    handle.shutdown().await;
    ExitCode::SUCCESS
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// SIGTERM or SIGINT (Ctrl-C), listened for from this call on (not from the first poll).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let recv = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = recv(term) => {}
                _ = recv(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
