//! The subcommands, one module each.

use clap::Subcommand;

use crate::exit::Exit;

/// Every subcommand of `imageferry`.
#[derive(Subcommand)]
pub enum Command {
    /// Print the admin-consent URL a target tenant's admin opens for the app registration.
    ConsentUrl(consent_url::Args),
}

mod consent_url;

/// Runs one subcommand to its exit code.
pub async fn run(command: Command) -> Exit {
    match command {
        Command::ConsentUrl(args) => consent_url::run(args),
    }
}
