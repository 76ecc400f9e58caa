//! The subcommands, one module each.

use clap::Subcommand;

use crate::exit::Exit;

/// Every subcommand of `imageferry`.
#[derive(Subcommand)]
pub enum Command {
    /// Print the admin-consent URL a target tenant's admin opens for the app registration.
    ConsentUrl(consent_url::Args),
    /// Build, validate and send a deployment request; --wait follows it to its outcome.
    Request(Box<request::Args>),
    /// Send one message of the contract to a queue or topic as it is.
    Send(send::Args),
    /// One deployment's timeline, or a table of recent deployments.
    Status(status::Args),
    /// Where the rollouts of one image version stand; --wait gates on all of them finishing.
    Rollout(rollout::Args),
    /// Wait until a gallery image version is replicated to a region.
    WaitReplicated(wait_replicated::Args),
    /// Preflight one target in both tenants as the app: every line ✓ or ✗ with the fix.
    Doctor(Box<doctor::Args>),
    /// List dead-lettered messages of the step queues; resubmit or purge one.
    DeadLetters(dead_letters::Args),
    /// Dry run of one request: the ARM calls the handler would make, in order.
    Plan(Box<plan::Args>),
    /// Run the whole stack locally (Azure and Service Bus stand-ins, the Functions host, the
    /// handler) and carry deployments through it, with live progress.
    Dev(dev::Args),
    /// The durable Service Bus stand-in (run by `dev` as a child process).
    #[command(hide = true)]
    ServicebusEmulator(servicebus_emulator::cli::Args),
}

mod consent_url;
mod dead_letters;
mod dev;
mod doctor;
mod follow;
mod plan;
mod request;
mod request_args;
mod rollout;
mod send;
mod status;
mod wait_replicated;

/// Runs one subcommand to its exit code.
pub async fn run(command: Command) -> Exit {
    match command {
        Command::ConsentUrl(args) => consent_url::run(args),
        Command::Request(args) => request::run(*args).await,
        Command::Send(args) => send::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Rollout(args) => rollout::run(args).await,
        Command::WaitReplicated(args) => wait_replicated::run(args).await,
        Command::Doctor(args) => doctor::run(*args).await,
        Command::DeadLetters(args) => dead_letters::run(args).await,
        Command::Plan(args) => plan::run(*args).await,
        Command::Dev(args) => dev::run(args).await,
        Command::ServicebusEmulator(args) => match servicebus_emulator::cli::run(args).await {
            code if code == std::process::ExitCode::SUCCESS => Exit::Succeeded,
            _ => Exit::Failed,
        },
    }
}
