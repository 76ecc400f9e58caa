//! `imageferry wait-replicated <version-id> --region R`: blocks until the gallery image version
//! is replicated to the region, reading the gallery directly (as tenant 1).

use crate::commands::request::parse_duration;
use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::models::{GalleryImageVersion, ProvisioningState, ReplicationState};
use imageferry_contract::ImageId;
use imageferry_handlers::names::GALLERY_API;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Arguments of `wait-replicated`.
#[derive(clap::Args)]
pub struct Args {
    /// The gallery image version id (`/subscriptions/…/galleries/{g}/images/{d}/versions/{v}`).
    version_id: String,
    /// The region to wait for (e.g. southcentralus or "South Central US").
    #[arg(long)]
    region: String,
    /// The gallery's tenant (default AZURE_TENANT_ID).
    #[arg(long, env = "AZURE_TENANT_ID")]
    tenant: String,
    /// Give up after this long.
    #[arg(long, default_value = "60m", value_parser = parse_duration)]
    timeout: Duration,
    /// Time between reads.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    poll: Duration,
    #[command(flatten)]
    out: OutputArgs,
}

/// Runs `wait-replicated`.
pub async fn run(args: Args) -> Exit {
    let path = match ImageId::parse(&args.version_id) {
        Ok(id @ ImageId::Gallery { .. }) => id.to_string(),
        Ok(_) => {
            return usage_error(
                "wait-replicated reads a gallery of your own tenant: give a /subscriptions/… image version id",
            );
        }
        Err(e) => return usage_error(format!("{}: {e}", args.version_id)),
    };
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let arm = session.arm();
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal() && !args.out.json();
    loop {
        let version: GalleryImageVersion = match arm
            .get(
                &args.tenant,
                &path,
                GALLERY_API,
                &[("$expand", "ReplicationStatus")],
            )
            .await
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("imageferry: reading {path}: {e}");
                if let Some(h) = e.hint() {
                    eprintln!("  fix: {h}");
                }
                return Exit::Failed;
            }
        };
        if !version.targets_region(&args.region) {
            let regions: Vec<String> = version
                .properties
                .publishing_profile
                .as_ref()
                .map(|p| p.target_regions.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default();
            return finish(
                &args,
                "not-targeted",
                None,
                &format!(
                    "the version does not replicate to {}; its target regions: {}. Add the region to the version's target regions (az sig image-version update --add publishingProfile.targetRegions name={})",
                    args.region,
                    regions.join(", "),
                    args.region
                ),
                Exit::Failed,
            );
        }
        let region = version.region_status(&args.region).cloned();
        if version.is_ready_in(&args.region) {
            if tty {
                eprintln!();
            }
            return finish(
                &args,
                "completed",
                Some(100),
                &format!("replicated to {}", args.region),
                Exit::Succeeded,
            );
        }
        let state = region.as_ref().and_then(|r| r.state.clone());
        if state == Some(ReplicationState::Failed)
            || version.properties.provisioning_state == Some(ProvisioningState::Failed)
        {
            let details = region
                .as_ref()
                .and_then(|r| r.details.clone())
                .unwrap_or_default();
            return finish(
                &args,
                "failed",
                None,
                &format!("replication to {} failed {details}", args.region),
                Exit::Failed,
            );
        }
        let pc = region.as_ref().and_then(|r| r.progress);
        let line = format!(
            "{}: {}{}",
            args.region,
            state
                .as_ref()
                .map_or("Unknown".to_owned(), |s| s.to_string()),
            pc.map(|p| format!(" {p}%")).unwrap_or_default()
        );
        if tty {
            eprint!("\r\x1b[2K[{:>4}s] {line}", start.elapsed().as_secs());
        } else if !args.out.json() {
            eprintln!("[{:>4}s] {line}", start.elapsed().as_secs());
        }
        if start.elapsed() + args.poll > args.timeout {
            if tty {
                eprintln!();
            }
            return finish(
                &args,
                "timed-out",
                pc.map(i64::from),
                &format!(
                    "still not replicated after {}s: {line}",
                    args.timeout.as_secs()
                ),
                Exit::TimedOut,
            );
        }
        tokio::time::sleep(args.poll).await;
    }
}

fn finish(args: &Args, state: &str, percent: Option<i64>, message: &str, exit: Exit) -> Exit {
    if args.out.json() {
        print_json(&serde_json::json!({
            "versionId": args.version_id, "region": args.region, "state": state,
            "percent": percent, "message": message
        }));
    } else if exit == Exit::Succeeded {
        println!("{message}");
    } else {
        eprintln!("imageferry: {message}");
    }
    exit
}
