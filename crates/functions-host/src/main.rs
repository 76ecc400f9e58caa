//! `functions-host [--app-root DIR] [--executable FILE] [--settings FILE] [--set NAME=VALUE]...`
//!
//! Runs a custom-handler Functions app with Service Bus triggers until Ctrl-C or SIGTERM.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use functions_host::{Host, HostOptions, app};

#[derive(Parser)]
#[command(about = "Run an Azure Functions custom-handler app with Service Bus triggers locally")]
struct Args {
    /// Folder with host.json and the function folders.
    #[arg(long, default_value = ".")]
    app_root: PathBuf,
    /// The handler binary (default: host.json's defaultExecutablePath).
    #[arg(long)]
    executable: Option<PathBuf>,
    /// App settings file (default: local.settings.json in the app root).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Extra or overriding app setting, NAME=VALUE (repeatable).
    #[arg(long = "set", value_parser = parse_setting)]
    set: Vec<(String, String)>,
    /// The handler's log file.
    #[arg(long, default_value = "handler.log")]
    handler_log: PathBuf,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    // The host's own warnings (receive and lock-renewal failures, a handler that does not
    // start); colour only on a terminal, as the output usually goes to a log file.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let definition = match app::load(&args.app_root) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("functions-host: {e}");
            return ExitCode::from(2);
        }
    };
    let settings_file = args
        .settings
        .unwrap_or_else(|| args.app_root.join("local.settings.json"));
    let mut settings = match app::local_settings(&settings_file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("functions-host: {e}");
            return ExitCode::from(2);
        }
    };
    // Core Tools: process environment variables override local.settings.json values.
    for key in settings.keys().cloned().collect::<Vec<_>>() {
        if let Ok(v) = std::env::var(&key) {
            settings.insert(key, v);
        }
    }
    settings.extend(args.set);
    let mut options = HostOptions::new(definition, settings, args.handler_log);
    options.executable = args.executable;
    let host = match Host::start(options).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("functions-host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = tokio::signal::ctrl_c().await;
    let code = host.shutdown().await;
    eprintln!("functions-host: the handler exited with {code:?}");
    ExitCode::SUCCESS
}
