//! `imageferry send <queue|topic> <file|->`: send one message of the contract as it is, after
//! decoding it as that entity's message type (and validating a request).

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::OutgoingMessage;
use imageferry_contract::{
    DeploymentEvent, DeploymentRequest, ImageVersionReplicated, ReplicationCheck, Step,
    VmProvisioning,
};

/// Arguments of `send`.
#[derive(clap::Args)]
pub struct Args {
    /// Queue or topic: deployment-requested, replication-check, image-version-replicated,
    /// vm-provisioning, deployment-events.
    entity: String,
    /// The message body: a JSON file, or `-` for stdin.
    file: String,
    /// MessageId (default: a new UUID; reuse one to let duplicate detection drop a resend).
    #[arg(long)]
    message_id: Option<String>,
    /// Send to an entity imageferry does not know, without decoding the body.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// Decodes `body` as `entity`'s message; returns the deployment id.
fn check(entity: &str, body: &str) -> Result<String, String> {
    fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }
    match entity {
        "deployment-requested" => {
            let r: DeploymentRequest = decode(body)?;
            r.validate().map_err(|e| e.to_string())?;
            Ok(r.deployment_id)
        }
        "replication-check" => decode::<ReplicationCheck>(body).map(|m| m.request.deployment_id),
        "image-version-replicated" => match decode::<ImageVersionReplicated>(body)? {
            ImageVersionReplicated::Step(s) => Ok(s.request.deployment_id),
            ImageVersionReplicated::Request(r) => {
                r.validate().map_err(|e| e.to_string())?;
                Ok(r.deployment_id)
            }
        },
        "vm-provisioning" => decode::<VmProvisioning>(body).map(|m| m.request.deployment_id),
        "deployment-events" => decode::<DeploymentEvent>(body).map(|e| e.deployment_id),
        other => Err(format!(
            "{other} is not an entity of the contract ({}, deployment-events); use --raw to send anyway",
            Step::ALL.map(|s| s.as_str()).join(", ")
        )),
    }
}

/// Runs `send`.
pub async fn run(args: Args) -> Exit {
    let body = if args.file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            return usage_error(format!("stdin: {e}"));
        }
        s
    } else {
        match std::fs::read_to_string(&args.file) {
            Ok(s) => s,
            Err(e) => return usage_error(format!("{}: {e}", args.file)),
        }
    };
    let deployment_id = if args.raw {
        None
    } else {
        match check(&args.entity, &body) {
            Ok(id) => Some(id),
            Err(e) => {
                eprintln!("imageferry: rejected: {}: {e}", args.entity);
                return Exit::Rejected;
            }
        }
    };
    let bus = match Session::from_env().and_then(|s| s.bus()) {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let message_id = args
        .message_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let msg = OutgoingMessage {
        body,
        message_id: Some(message_id.clone()),
        correlation_id: deployment_id.clone().filter(|id| !id.is_empty()),
        ..OutgoingMessage::default()
    };
    if let Err(e) = bus.send(&args.entity, msg).await {
        eprintln!("imageferry: sending to {}: {e}", args.entity);
        return Exit::Failed;
    }
    if args.out.json() {
        print_json(
            &serde_json::json!({"entity": args.entity, "messageId": message_id, "deploymentId": deployment_id}),
        );
    } else {
        println!("sent to {} (MessageId {message_id})", args.entity);
    }
    Exit::Succeeded
}
