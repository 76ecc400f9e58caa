//! Shared start-up of the bare baselines: the same port variable and address as the runtime.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

/// Binds `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT`, like `functions_runtime::run`.
pub async fn listen() -> std::io::Result<TcpListener> {
    let port = functions_runtime::port_from_env()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}
