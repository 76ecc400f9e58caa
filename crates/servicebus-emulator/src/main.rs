//! `servicebus-emulator --database FILE [--listen ADDR] [--config FILE] [--entra-tenant T]...`

use clap::Parser;

#[derive(Parser)]
#[command(about = "A durable local Service Bus stand-in over the Service Bus REST protocol")]
struct Cli {
    #[command(flatten)]
    args: servicebus_emulator::cli::Args,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    servicebus_emulator::cli::run(Cli::parse().args).await
}
