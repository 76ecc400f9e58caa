//! The subcommands, one module each.

use clap::Subcommand;

use crate::exit::Exit;

/// Every subcommand of `imageferry`.
#[derive(Subcommand)]
pub enum Command {
    /// Print the admin-consent URL a target tenant's admin opens for the app registration.
    ConsentUrl(consent_url::Args),
    /// Run the whole stack locally (Azure and Service Bus stand-ins, the Functions host, the
    /// handler) and carry deployments through it, with live progress.
    Dev(dev::Args),
    /// The durable Service Bus stand-in (run by `dev` as a child process).
    #[command(hide = true)]
    ServicebusEmulator(servicebus_emulator::cli::Args),
}

mod consent_url;
mod dev;

/// Runs one subcommand to its exit code.
pub async fn run(command: Command) -> Exit {
    match command {
        Command::ConsentUrl(args) => consent_url::run(args),
        Command::Dev(args) => dev::run(args).await,
        Command::ServicebusEmulator(args) => match servicebus_emulator::cli::run(args).await {
            code if code == std::process::ExitCode::SUCCESS => Exit::Succeeded,
            _ => Exit::Failed,
        },
    }
}
