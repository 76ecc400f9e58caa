//! `imageferry request`: build a `deployment-requested` message from flags or a file, validate it
//! with the contract's own validation (the handler's), send it, and with `--wait` follow the
//! status store to the terminal status.

use crate::commands::follow::{self, Followed};
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::OutgoingMessage;
use imageferry_contract::{DeploymentRequest, Step};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Arguments of `request`.
#[derive(clap::Args)]
pub struct Args {
    /// A request JSON file (`-` for stdin); flags below override its fields.
    #[arg(long, short = 'f')]
    file: Option<String>,
    /// `deploymentId` (1-40 of a-z, 0-9, -): the idempotency key.
    #[arg(long)]
    deployment_id: Option<String>,
    /// `image.id`: the gallery image version id (or /SharedGalleries/…, /CommunityGalleries/…).
    #[arg(long)]
    image: Option<String>,
    /// `image.tenantId`: the gallery's tenant (tenant 1).
    #[arg(long)]
    image_tenant: Option<String>,
    /// `target.tenantId` (tenant 2).
    #[arg(long)]
    target_tenant: Option<String>,
    /// `target.subscriptionId`.
    #[arg(long)]
    subscription: Option<String>,
    /// `target.resourceGroup`.
    #[arg(long)]
    resource_group: Option<String>,
    /// `target.location`, e.g. southcentralus.
    #[arg(long)]
    location: Option<String>,
    /// `vm.name`.
    #[arg(long)]
    vm_name: Option<String>,
    /// `vm.size`, e.g. Standard_D2s_v5.
    #[arg(long)]
    vm_size: Option<String>,
    /// `vm.adminUsername`.
    #[arg(long)]
    admin_username: Option<String>,
    /// `vm.sshPublicKey`: the key, or `@path` to read it from a file.
    #[arg(long)]
    ssh_public_key: Option<String>,
    /// `vm.adminPasswordSecretId` (Windows): a Key Vault secret id.
    #[arg(long)]
    admin_password_secret_id: Option<String>,
    /// `vm.publicIp` = false.
    #[arg(long)]
    no_public_ip: bool,
    /// `network.allowInboundFrom` (repeat; CIDR, or `*` explicitly).
    #[arg(long)]
    allow_inbound_from: Vec<String>,
    /// `network.subnetId`: an existing subnet instead of a new network.
    #[arg(long)]
    subnet_id: Option<String>,
    /// `deadline` (RFC 3339).
    #[arg(long)]
    deadline: Option<String>,
    /// `vm.tags` entries `name=value` (repeat).
    #[arg(long = "tag")]
    tags: Vec<String>,
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

/// `90s`, `500ms`, `30m`, `2h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, ""), |i| s.split_at(i));
    let n: f64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 30m, 2h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn read_source(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("stdin: {e}"))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
    }
}

fn set(obj: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = obj;
    for p in parents {
        let entry = cur.entry(p.to_string()).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        cur = entry.as_object_mut().expect("object");
    }
    cur.insert(last.to_string(), value);
}

/// The request JSON from the file and the flags.
fn build(args: &Args) -> Result<Value, String> {
    let mut obj = match &args.file {
        Some(f) => {
            let text = read_source(f)?;
            match serde_json::from_str::<Value>(&text).map_err(|e| format!("{f}: not JSON: {e}"))? {
                Value::Object(o) => o,
                _ => return Err(format!("{f}: a request is a JSON object")),
            }
        }
        None => Map::new(),
    };
    let strings: [(&Option<String>, &[&str]); 13] = [
        (&args.deployment_id, &["deploymentId"]),
        (&args.image, &["image", "id"]),
        (&args.image_tenant, &["image", "tenantId"]),
        (&args.target_tenant, &["target", "tenantId"]),
        (&args.subscription, &["target", "subscriptionId"]),
        (&args.resource_group, &["target", "resourceGroup"]),
        (&args.location, &["target", "location"]),
        (&args.vm_name, &["vm", "name"]),
        (&args.vm_size, &["vm", "size"]),
        (&args.admin_username, &["vm", "adminUsername"]),
        (
            &args.admin_password_secret_id,
            &["vm", "adminPasswordSecretId"],
        ),
        (&args.subnet_id, &["network", "subnetId"]),
        (&args.deadline, &["deadline"]),
    ];
    for (v, path) in strings {
        if let Some(v) = v {
            set(&mut obj, path, json!(v));
        }
    }
    if let Some(key) = &args.ssh_public_key {
        let key = match key.strip_prefix('@') {
            Some(path) => read_source(path)?.trim().to_owned(),
            None => key.clone(),
        };
        set(&mut obj, &["vm", "sshPublicKey"], json!(key));
    }
    if args.no_public_ip {
        set(&mut obj, &["vm", "publicIp"], json!(false));
    }
    if !args.allow_inbound_from.is_empty() {
        set(
            &mut obj,
            &["network", "allowInboundFrom"],
            json!(args.allow_inbound_from),
        );
    }
    for tag in &args.tags {
        let (k, v) = tag
            .split_once('=')
            .ok_or_else(|| format!("--tag {tag:?}: expected name=value"))?;
        set(&mut obj, &["vm", "tags", k], json!(v));
    }
    Ok(Value::Object(obj))
}

/// Runs `request`.
pub async fn run(args: Args) -> Exit {
    let body = match build(&args) {
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
    if let Err(e) = bus.send(&args.queue, msg).await {
        eprintln!("imageferry: sending to {}: {e}", args.queue);
        return Exit::Failed;
    }
    let Some(store) = store else {
        if args.out.json() {
            print_json(&json!({"deploymentId": id, "queue": args.queue, "messageId": message_id}));
        } else {
            println!("sent {id} to {} (MessageId {message_id})", args.queue);
        }
        return Exit::Succeeded;
    };
    if !args.out.json() {
        eprintln!(
            "sent {id} to {}; waiting for its outcome (timeout {}s)",
            args.queue,
            args.timeout.as_secs()
        );
    }
    let followed =
        follow::until_terminal(&store, &id, args.timeout, args.poll, !args.out.json()).await;
    follow::report(&followed, args.out, &id);
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
        eprintln!("imageferry: rejected: {what}");
        for p in problems {
            eprintln!("  - {p}");
        }
    }
    Exit::Rejected
}
