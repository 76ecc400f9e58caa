//! `imageferry wait-replicated <version-id> --region R`: blocks until the gallery image version
//! is replicated to the region, reading the gallery directly (as tenant 1).

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::models::{GalleryImageVersion, RegionReadiness};
use imageferry_contract::ImageId;
use imageferry_contract::duration::parse_duration;
use imageferry_handlers::calls::GALLERY_VERSION_GET;
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
    // Progress on stderr in every mode (in place on a terminal, plain lines otherwise).
    let tty = std::io::stderr().is_terminal();
    loop {
        let version: GalleryImageVersion = match arm
            .get(
                &args.tenant,
                &path,
                GALLERY_VERSION_GET.api_version(),
                GALLERY_VERSION_GET.query,
            )
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let what = format!("reading {path}");
                crate::network::report(&what, &e, e.hint(), session.places().arm(&e));
                return Exit::Failed;
            }
        };
        let (line, percent) = match look(&version, &args.region) {
            Look::Done {
                state,
                message,
                exit,
            } => {
                if tty && exit == Exit::Succeeded {
                    errln!();
                }
                return finish(&args, state, percent_done(exit), &message, exit);
            }
            Look::Waiting { line, percent } => (line, percent),
        };
        if tty {
            err!("\r\x1b[2K[{:>4}s] {line}", start.elapsed().as_secs());
        } else {
            errln!("[{:>4}s] {line}", start.elapsed().as_secs());
        }
        if start.elapsed() + args.poll > args.timeout {
            if tty {
                errln!();
            }
            return finish(
                &args,
                "timed-out",
                percent.map(i64::from),
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

/// What one read of the version tells, from the one replication verdict
/// ([`GalleryImageVersion::readiness_in`], which the handler's steps use too).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Look {
    /// Ready, failed or not targeted: the command ends.
    Done {
        /// `completed`, `failed` or `not-targeted`.
        state: &'static str,
        /// The line shown.
        message: String,
        /// The exit code.
        exit: Exit,
    },
    /// Still replicating (or the version is still being created).
    Waiting {
        /// The progress line.
        line: String,
        /// The region's progress, if reported.
        percent: Option<i32>,
    },
}

pub(crate) fn look(version: &GalleryImageVersion, region: &str) -> Look {
    let status = version.region_status(region);
    match version.readiness_in(region) {
        RegionReadiness::Ready => Look::Done {
            state: "completed",
            message: format!("replicated to {region}"),
            exit: Exit::Succeeded,
        },
        RegionReadiness::Failed => Look::Done {
            state: "failed",
            message: format!(
                "replication to {region} failed {}",
                status.and_then(|r| r.details.clone()).unwrap_or_default()
            ),
            exit: Exit::Failed,
        },
        RegionReadiness::NotTargeted => Look::Done {
            state: "not-targeted",
            message: format!(
                "the version does not replicate to {region}; its target regions: {}. Add the region to the version's target regions (az sig image-version update --add publishingProfile.targetRegions name={region})",
                version.target_region_names().join(", "),
            ),
            exit: Exit::Failed,
        },
        RegionReadiness::Waiting => {
            let percent = status.and_then(|r| r.progress);
            let line = format!(
                "{region}: {}{}",
                status
                    .and_then(|r| r.state.as_ref())
                    .map_or("Unknown".to_owned(), ToString::to_string),
                percent.map(|p| format!(" {p}%")).unwrap_or_default()
            );
            Look::Waiting { line, percent }
        }
    }
}

fn percent_done(exit: Exit) -> Option<i64> {
    (exit == Exit::Succeeded).then_some(100)
}

fn finish(args: &Args, state: &str, percent: Option<i64>, message: &str, exit: Exit) -> Exit {
    if args.out.json() {
        print_json(&serde_json::json!({
            "versionId": args.version_id, "region": args.region, "state": state,
            "percent": percent, "message": message
        }));
    } else if exit == Exit::Succeeded {
        outln!("{message}");
    } else {
        errln!("imageferry: {message}");
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::doctor::Report;
    use crate::commands::doctor::image::replication;
    use imageferry_handlers::image::{Replication, replication_in};
    use serde_json::json;

    /// A version targeting South Central US, West US 2 and East US.
    fn version(
        provisioning: &str,
        aggregated: &str,
        summary: serde_json::Value,
    ) -> GalleryImageVersion {
        serde_json::from_value(json!({"location": "South Central US", "properties": {
            "provisioningState": provisioning,
            "publishingProfile": {"targetRegions": [{"name": "South Central US"}, {"name": "West US 2"}, {"name": "East US"}]},
            "replicationStatus": {"aggregatedState": aggregated, "summary": summary}
        }}))
        .unwrap()
    }

    /// The handler's verdict, `wait-replicated`'s and `doctor`'s for the same version agree.
    #[test]
    fn the_handler_wait_replicated_and_doctor_give_one_verdict() {
        let cases = [
            // East US still replicating while West US 2 failed: East US waits (its own state).
            (
                version(
                    "Failed",
                    "Failed",
                    json!([
                    {"region": "South Central US", "state": "Completed"},
                    {"region": "West US 2", "state": "Failed", "details": "disk copy failed"},
                    {"region": "East US", "state": "Replicating", "progress": 40}]),
                ),
                "eastus",
                "waiting",
            ),
            // No entry for East US and the aggregate failed: failed.
            (
                version(
                    "Updating",
                    "Failed",
                    json!([
                    {"region": "South Central US", "state": "Completed"},
                    {"region": "West US 2", "state": "Failed"}]),
                ),
                "eastus",
                "failed",
            ),
            // Completed there while another region failed: ready.
            (
                version(
                    "Failed",
                    "Failed",
                    json!([
                    {"region": "South Central US", "state": "Completed"},
                    {"region": "West US 2", "state": "Failed"}]),
                ),
                "South Central US",
                "ready",
            ),
            (
                version(
                    "Failed",
                    "Failed",
                    json!([{"region": "West US 2", "state": "Failed"}]),
                ),
                "westus2",
                "failed",
            ),
            (
                version(
                    "Updating",
                    "InProgress",
                    json!([{"region": "East US", "state": "Completed"}]),
                ),
                "eastus",
                "ready",
            ),
            (
                version(
                    "Creating",
                    "InProgress",
                    json!([{"region": "East US", "state": "Completed"}]),
                ),
                "eastus",
                "waiting",
            ),
            (
                version("Succeeded", "Completed", json!([])),
                "eastus",
                "ready",
            ),
            (
                version("Failed", "InProgress", json!([])),
                "eastus",
                "failed",
            ),
            (
                version("Succeeded", "Completed", json!([])),
                "northeurope",
                "not-targeted",
            ),
        ];
        for (v, region, want) in cases {
            let handler = match replication_in(&v, region, time::OffsetDateTime::UNIX_EPOCH) {
                Replication::Ready(_) => "ready",
                Replication::Waiting(_) => "waiting",
                Replication::Failed(_) => "failed",
                Replication::NotTargeted(_) => "not-targeted",
                Replication::NotInRegion => "not-in-region",
            };
            let cli = match look(&v, region) {
                Look::Done {
                    state: "completed",
                    exit: Exit::Succeeded,
                    ..
                } => "ready",
                Look::Done { state, .. } => state,
                Look::Waiting { .. } => "waiting",
            };
            let mut report = Report::default();
            replication(&mut report, &v, region);
            let line = &report.checks[0];
            let doctor = match (line.ok, line.detail.as_str()) {
                (true, d) if d.ends_with("Completed") => "ready",
                (true, d) if d.contains("replicating") => "waiting",
                (false, d) if d.contains("does not replicate") => "not-targeted",
                (false, d) if d.contains("failed") => "failed",
                other => panic!("{other:?}"),
            };
            assert_eq!(
                (handler, cli, doctor),
                (want, want, want),
                "{region}: {v:?}"
            );
        }
    }
}
