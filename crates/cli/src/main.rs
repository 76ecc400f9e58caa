//! `imageferry`: the command line for image pipelines and operators.
//!
//! One module per subcommand in `commands/`; `main` only parses and dispatches.

#[macro_use]
mod output;
mod commands;
mod exit;
mod network;
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_error(&e).into(),
    };
    commands::run(cli.command).await.into()
}

/// clap's answer for arguments it did not run: `--help` and `--version` print on stdout and
/// succeed (0); every other error (unknown flag, missing or invalid value, no subcommand) prints
/// clap's message on stderr and is a usage error (4), not clap's own 2, which means "rejected".
fn parse_error(e: &clap::Error) -> exit::Exit {
    use clap::error::ErrorKind;
    // Printing can only fail when stdout/stderr is closed; the exit code still tells.
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::Exit::Succeeded,
        _ => exit::Exit::Usage,
    }
}
