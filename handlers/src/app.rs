//! Everything a step needs: settings, the Azure clients, the Service Bus sender and the clock.

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use azure_clients::arm::{ArmClient, RetryPolicy};
use azure_clients::{Endpoints, KeyVaultSecrets, ServiceBusSender, TokenProvider};
use std::sync::Arc;

/// Shared state of the handler process.
#[derive(Debug)]
pub struct App {
    /// The handler's settings.
    pub config: Config,
    /// ARM, with tokens for the home tenant, tenant 1 and tenant 2.
    pub arm: ArmClient,
    /// Sends step messages and events.
    pub bus: ServiceBusSender,
    /// Reads the Windows administrator password.
    pub secrets: KeyVaultSecrets,
    /// Time source (offsettable in tests).
    pub clock: Clock,
}

/// The handler could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A handler setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An Azure client setting is wrong.
    #[error(transparent)]
    Clients(#[from] azure_clients::ConfigError),
}

impl App {
    /// Builds the clients from the environment (see `config` and the azure-clients crate for the
    /// variables).
    pub fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let endpoints = Endpoints::from_env()?;
        let tokens = Arc::new(TokenProvider::from_env(&endpoints)?);
        let arm = ArmClient::new(endpoints.clone(), tokens.clone(), RetryPolicy::default());
        // Sends retry for at most 30 s: the terminal event is published after the step budget,
        // and budget + this must stay under the host's functionTimeout (README, "Time budget").
        let bus = ServiceBusSender::from_env(tokens.clone(), &endpoints)?.with_retry(RetryPolicy {
            max_total: std::time::Duration::from_secs(30),
            ..RetryPolicy::default()
        });
        let secrets = KeyVaultSecrets::new(&endpoints, tokens, RetryPolicy::default());
        Ok(App::new(config, arm, bus, secrets))
    }

    /// Assembles an app from parts (tests point the clients at the simulator and the capture).
    pub fn new(
        config: Config,
        arm: ArmClient,
        bus: ServiceBusSender,
        secrets: KeyVaultSecrets,
    ) -> Self {
        App {
            config,
            arm,
            bus,
            secrets,
            clock: Clock::system(),
        }
    }
}
