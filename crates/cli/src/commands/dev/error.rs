//! Why `imageferry dev` stopped: each cause kept (`#[source]`), shown as `imageferry dev: …`.

use std::path::PathBuf;

/// An error of `imageferry dev` (exit 1, or 4: [`DevError::exit`]).
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file or folder of the run cannot be written.
    #[error("{}: {source}", path.display())]
    File {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The binaries, or a process of the stack, did not start.
    #[error("{0}")]
    Process(#[from] local_run::processes::ProcessError),
    /// The app definition (host.json, function.json) cannot be read.
    #[error("{0}")]
    App(#[from] functions_host::AppError),
    /// The Functions host did not start.
    #[error("{0}")]
    Host(#[from] functions_host::HostError),
    /// The stand-ins' connection string.
    #[error("{0}")]
    Connection(#[from] azure_clients::ConfigError),
    /// Sending a request.
    #[error("{0}")]
    Send(#[from] azure_clients::ServiceBusError),
    /// A stand-in's endpoint answered an error.
    #[error("{url}: {source}")]
    StandIn {
        /// The endpoint.
        url: String,
        /// The HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// The stand-ins' figures cannot be read.
    #[error("{0}")]
    Figures(#[from] super::report::ReadError),
    /// The request file.
    #[error("{0}")]
    Requests(#[from] super::requests::LoadError),
    /// The chaos token proxy did not start.
    #[error("token proxy: {0}")]
    Proxy(#[source] std::io::Error),
    /// The Service Bus stand-in's process (its module reports text).
    #[error("{0}")]
    Bus(String),
    /// A task of the run panicked or was cancelled.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    /// The send limiter closed.
    #[error("{0}")]
    Limiter(#[from] tokio::sync::AcquireError),
    /// A chaos fault could not be set or undone (the stand-in's fault endpoint).
    #[error("chaos: {0}")]
    Chaos(String),
    /// The function app or the stack's binaries are not where `dev` looks.
    #[error("{0}")]
    NotInstalled(#[from] super::install::NotInstalled),
    /// A chaos kill whose handler did not restart.
    #[error("the handler did not come back after a kill")]
    HandlerGone,
}

impl DevError {
    /// The exit code: 4 for what the command line or the installation must fix (the request
    /// file, the function app), 1 for the rest.
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            DevError::Requests(_) | DevError::App(_) | DevError::NotInstalled(_) => {
                crate::exit::Exit::Usage
            }
            _ => crate::exit::Exit::Failed,
        }
    }
}

impl From<String> for DevError {
    fn from(bus: String) -> Self {
        DevError::Bus(bus)
    }
}
