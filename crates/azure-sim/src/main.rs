//! `azure-sim --listen 127.0.0.1:PORT [--scenario FILE]`: serves Entra, managed identity, ARM and
//! Key Vault on one loopback port; prints one line with its base URL once ready; stops on
//! SIGTERM or Ctrl-C.

use std::io::{IsTerminal as _, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "azure-sim",
    about = "Local stand-in for Entra ID, ARM and Key Vault"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Scenario file (TOML, or JSON if it ends in .json); default: the bundled scenario.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only on a terminal: the local run writes this log to a file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let scenario = match &args.scenario {
        Some(path) => match azure_sim::Scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("azure-sim: {e}");
                return ExitCode::from(2);
            }
        },
        None => azure_sim::Scenario::seed(),
    };
    let handle = match azure_sim::start(scenario, args.listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("azure-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = stop_signal();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "azure-sim listening on {}", handle.base_url());
    let _ = out.flush();
    drop(out);
    stop.await;
    tracing::info!("azure-sim stopping");
    handle.shutdown().await;
    ExitCode::SUCCESS
}

/// Starts listening for SIGTERM now (so a SIGTERM right after the URL line is caught, not
/// fatal); the returned future completes on SIGTERM or ctrl-c.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
