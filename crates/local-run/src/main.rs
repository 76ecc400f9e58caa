//! `imageferry-local`: one deployment end to end on this machine.
//!
//! Starts the Azure stand-in, a Service Bus capture and the real `handler` binary, sends a
//! `deployment-requested` message (the sample in `examples/` unless `--request` names another),
//! delivers every message the handler sends to the function bound to its queue, and prints the
//! deployment's events until a terminal one (succeeded, failed, rejected).
//!
//! Exit codes: 0 succeeded; 1 failed or rejected; 2 the run itself failed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use local_run::{LocalStack, LocalStackOptions};

#[derive(Parser)]
#[command(
    about = "Run one imageferry deployment locally against the Azure stand-in",
    after_help = "Exit codes: 0 the deployment succeeded; 1 it ended failed or rejected; \
                  2 the run itself failed (bad option or file, a process that did not start, \
                  no terminal event within --timeout)."
)]
struct Args {
    /// The deployment-requested message to send.
    #[arg(long)]
    request: Option<PathBuf>,
    /// Scenario file for the Azure stand-in (its default scenario when omitted).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Simulated seconds per real second in the Azure stand-in: 30 turns the seed's two minutes
    /// of replication into four seconds. 1 runs in real time.
    #[arg(long, default_value_t = 30.0)]
    time_scale: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Extra app settings for the handler, NAME=VALUE (repeatable).
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

const EVENTS_TOPIC: &str = "deployment-events";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("imageferry-local: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let mut options = LocalStackOptions::for_repository();
    options.scenario = args.scenario;
    options.settings = args.settings;
    options.time_scale = Some(args.time_scale);
    let request_path = args.request.unwrap_or_else(|| {
        options
            .app_root
            .join("examples/deployment-request.linux.json")
    });
    let request = std::fs::read_to_string(&request_path)
        .map_err(|e| format!("cannot read {}: {e}", request_path.display()))?;
    let deployment_id = serde_json::from_str::<serde_json::Value>(&request)
        .ok()
        .and_then(|v| v["deploymentId"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());

    let mut stack = LocalStack::start(options).await?;
    println!("azure stand-in   {}", stack.azure.base_url);
    println!("service bus      {} (capture)", stack.bus.base_url());
    println!(
        "handler          {} (logs: {})",
        stack.handler.base_url,
        stack.handler_log.display()
    );
    println!(
        "functions        {}",
        stack
            .app
            .functions
            .iter()
            .map(|f| f.function.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "sending          {} -> deployment-requested",
        request_path.display()
    );
    stack
        .send(
            "deployment-requested",
            &request,
            &format!("{deployment_id}:request"),
        )
        .await?;

    let mut printed = 0;
    let mut terminal = None;
    let finished = stack
        .pump
        .run_until(Duration::from_secs(args.timeout), |bus| {
            let events = bus.accepted(EVENTS_TOPIC);
            for e in &events[printed..] {
                let v = e.json().unwrap_or_default();
                println!(
                    "event            {:<24} {:<26} {}",
                    v["status"].as_str().unwrap_or("?"),
                    v["step"].as_str().unwrap_or("?"),
                    v["detail"].as_str().unwrap_or("")
                );
                if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
                    println!("                 error: {err}");
                }
                if matches!(
                    v["status"].as_str(),
                    Some("succeeded" | "failed" | "rejected")
                ) {
                    terminal = Some(v);
                }
            }
            printed = events.len();
            terminal.is_some()
        })
        .await;
    let deliveries = stack.pump.history().len();
    if std::env::var_os("IMAGEFERRY_LOCAL_TRACE").is_some() {
        for d in stack.pump.history() {
            eprintln!(
                "delivered        #{} {} ({})",
                d.sequence_number, d.function, d.status
            );
        }
    }
    for d in stack
        .pump
        .history()
        .iter()
        .filter(|d| d.status >= 300 || d.status == 0)
    {
        eprintln!(
            "abandoned        {} delivery {} answered {}: {}",
            d.function, d.delivery_count, d.status, d.answer
        );
    }
    let dead = stack.pump.dead_letters().len();
    let code = stack.shutdown().await;
    println!("deliveries       {deliveries} ({dead} dead-lettered); handler exited with {code:?}");
    match terminal {
        Some(v) if v["status"] == "succeeded" => {
            println!("succeeded        vm {}", v["vmId"].as_str().unwrap_or("?"));
            Ok(true)
        }
        Some(v) => {
            println!("ended            {}", v["status"]);
            Ok(false)
        }
        None if !finished => Err(format!("no terminal event within {} s", args.timeout).into()),
        None => Ok(false),
    }
}
