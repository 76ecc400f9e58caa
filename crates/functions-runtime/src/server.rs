//! Serving the router on the host's port, with graceful shutdown.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::Error;
use crate::functions::Functions;
use crate::telemetry::init_tracing;

/// Environment variable holding the port the host expects the handler on (NOTES §1.2).
pub const PORT_ENV: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
/// Older name the host sets to the same value.
const LEGACY_PORT_ENV: &str = "FUNCTIONS_HTTPWORKER_PORT";

/// Why the handler could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Neither `FUNCTIONS_CUSTOMHANDLER_PORT` nor `FUNCTIONS_HTTPWORKER_PORT` is set.
    #[error(
        "{PORT_ENV} is not set; the Functions host sets it when it starts a custom handler (set it yourself to run locally)"
    )]
    PortMissing,
    /// The port variable is not a TCP port number.
    #[error("{PORT_ENV}={value:?} is not a TCP port number (0-65535)")]
    PortInvalid {
        /// The value found.
        value: String,
    },
    /// Binding `127.0.0.1:<port>` failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("serving invocations failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Reads the port from `FUNCTIONS_CUSTOMHANDLER_PORT` (or its legacy twin).
pub fn port_from_env() -> Result<u16, RunError> {
    let value = std::env::var(PORT_ENV)
        .or_else(|_| std::env::var(LEGACY_PORT_ENV))
        .map_err(|_| RunError::PortMissing)?;
    value
        .trim()
        .parse()
        .map_err(|_| RunError::PortInvalid { value })
}

/// Runs the handler: JSON logs on stdout, `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT`, graceful
/// shutdown on SIGTERM or ctrl-c (in-flight invocations finish first).
pub async fn run(functions: Functions) -> Result<(), Error> {
    init_tracing();
    let shutdown = shutdown_signal();
    let port = port_from_env()?;
    // IPv4 loopback: the host probes 127.0.0.1; an [::1]-only listener never becomes ready.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(RunError::Serve)?;
    tracing::info!(addr = %bound, functions = ?functions.names(), "custom handler listening");
    serve(functions, listener, shutdown).await?;
    tracing::info!("custom handler stopped");
    crate::telemetry::shutdown();
    Ok(())
}

/// Serves `functions` on `listener` until `shutdown` completes, then lets in-flight invocations
/// finish. For tests and embedding (e.g. a local Functions host).
pub async fn serve<F>(
    functions: Functions,
    listener: TcpListener,
    shutdown: F,
) -> Result<(), RunError>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, functions.into_router())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(RunError::Serve)
}

/// Listens for SIGTERM (how the host stops its worker) from now on, so a SIGTERM right after
/// the port opens is a graceful stop rather than the default (fatal) action; the returned
/// future completes on SIGTERM or ctrl-c.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            None
        }
    };
    async move {
        let ctrl_c = async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async move {
            match terminate {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutdown requested; finishing in-flight invocations");
    }
}
