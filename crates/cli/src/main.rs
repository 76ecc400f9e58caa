//! `imageferry`: the command line for image pipelines and operators.
//!
//! One module per subcommand in `commands/`; `main` only parses and dispatches.

mod commands;
mod exit;
mod output;
mod session;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "imageferry",
    version,
    about = "Ship Azure VM images across Entra tenants"
)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    commands::run(cli.command).await.into()
}
