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
    /// Also serve HTTPS (same state) on this address, with a certificate generated at start for
    /// localhost, *.localhost, *.vault.localhost and 127.0.0.1 (port 0 picks a free port).
    #[arg(long, env = "AZURE_SIM_TLS_LISTEN")]
    tls_listen: Option<SocketAddr>,
    /// Where to write the PEM of the CA that signed that certificate (clients trust it, e.g.
    /// `REQUESTS_CA_BUNDLE`); default: `azure-sim-ca.pem` in the system's temporary directory.
    #[arg(long, env = "AZURE_SIM_TLS_CA_OUT")]
    tls_ca_out: Option<PathBuf>,
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
    let mut handle = match azure_sim::start(scenario, args.listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("azure-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tls_line = None;
    if let Some(addr) = args.tls_listen {
        match start_tls(&mut handle, addr, args.tls_ca_out).await {
            Ok(line) => tls_line = Some(line),
            Err(e) => {
                eprintln!("azure-sim: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let stop = stop_signal();
    let mut out = std::io::stdout().lock();
    // The first line is the plain URL (what the local stack reads); the TLS one follows.
    let _ = writeln!(out, "azure-sim listening on {}", handle.base_url());
    if let Some(line) = tls_line {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    drop(out);
    stop.await;
    tracing::info!("azure-sim stopping");
    handle.shutdown().await;
    ExitCode::SUCCESS
}

/// Adds the TLS listener, writes the CA certificate; returns the line to print.
async fn start_tls(
    handle: &mut azure_sim::SimHandle,
    addr: SocketAddr,
    ca_out: Option<PathBuf>,
) -> Result<String, String> {
    let identity = azure_sim::TlsIdentity::generate().map_err(|e| e.to_string())?;
    let ca_path = ca_out.unwrap_or_else(|| std::env::temp_dir().join("azure-sim-ca.pem"));
    std::fs::write(&ca_path, &identity.ca_pem)
        .map_err(|e| format!("cannot write {}: {e}", ca_path.display()))?;
    let url = handle
        .listen_tls(addr, identity)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "azure-sim TLS on {url} (CA certificate {})",
        ca_path.display()
    ))
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
