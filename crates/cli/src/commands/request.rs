//! `imageferry request`: build a `deployment-requested` message from flags or a file, validate it
//! with the contract's own validation (the handler's), send it, and with `--wait` follow the
//! status store to the terminal status.

use crate::commands::follow::{self, Followed};
use crate::commands::request_args::RequestArgs;
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::OutgoingMessage;
use imageferry_contract::duration::parse_duration;
use imageferry_contract::{DeploymentRequest, Step};
use serde_json::json;
use std::time::Duration;

/// Arguments of `request`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    req: RequestArgs,
    /// The queue to send to.
    #[arg(long, default_value = "deployment-requested")]
    queue: String,
    /// Validate and print the message, send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Follow the status store until the deployment ends (exit 0 succeeded, 1 failed, 2 rejected, 3 timed out).
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this long (`90s`, `30m`, `2h`).
    #[arg(long, default_value = "60m", value_parser = parse_duration)]
    timeout: Duration,
    /// Time between status reads while waiting.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    poll: Duration,
    #[command(flatten)]
    out: OutputArgs,
}

/// Runs `request`.
pub async fn run(args: Args) -> Exit {
    let body = match args.req.build() {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    // The handler's decoding and validation: a request that passes here passes there (up to the
    // allow-lists and what only Azure knows).
    let request: DeploymentRequest = match serde_json::from_value(body.clone()) {
        Ok(r) => r,
        Err(e) => return rejected(&args, &format!("the request does not decode: {e}"), &[]),
    };
    if let Err(errors) = request.validate() {
        let problems: Vec<String> = errors.0.iter().map(|p| p.to_string()).collect();
        return rejected(&args, "the request is invalid", &problems);
    }
    let id = request.deployment_id.clone();
    if args.dry_run {
        print_json(&body);
        return Exit::Succeeded;
    }
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let store = if args.wait {
        match session.status_store() {
            Ok(s) => Some(s),
            Err(e) => return usage_error(format!("--wait reads the status store: {e}")),
        }
    } else {
        None
    };
    let bus = match session.bus() {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let message_id = uuid::Uuid::new_v4().to_string();
    let mut msg = match OutgoingMessage::json(&request) {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    msg.message_id = Some(message_id.clone());
    msg.correlation_id = Some(id.clone());
    msg.label = Some(Step::DeploymentRequested.as_str().into());
    let places = session.places();
    if let Err(e) = bus.send(&args.queue, msg).await {
        let what = format!("sending to {}", args.queue);
        crate::network::report(&what, &e, None, places.bus(&e));
        return Exit::Failed;
    }
    let Some(store) = store else {
        if args.out.json() {
            print_json(&json!({"deploymentId": id, "queue": args.queue, "messageId": message_id}));
        } else {
            outln!("sent {id} to {} (MessageId {message_id})", args.queue);
        }
        return Exit::Succeeded;
    };
    // Progress on stderr in every mode: with `-o json` stdout holds only the outcome.
    errln!(
        "sent {id} to {}; waiting for its outcome (timeout {})",
        args.queue,
        humantime::format_duration(args.timeout)
    );
    let followed = follow::until_terminal(&store, &id, args.timeout, args.poll, &places).await;
    follow::report(&followed, args.out, &id, &places);
    match followed {
        Followed::Done(status) => follow::exit_of(status.status),
        Followed::TimedOut(_) => Exit::TimedOut,
        Followed::StoreFailed(_) => Exit::Failed,
    }
}

fn rejected(args: &Args, what: &str, problems: &[String]) -> Exit {
    if args.out.json() {
        print_json(
            &json!({"status": "rejected", "error": {"code": "ValidationFailed", "message": what, "problems": problems}}),
        );
    } else {
        errln!("imageferry: rejected: {what}");
        for p in problems {
            errln!("  - {p}");
        }
    }
    Exit::Rejected
}
