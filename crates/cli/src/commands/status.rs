//! `imageferry status [ID]`: one deployment's timeline, or a table of recent deployments
//! filterable by status, image version and target tenant.

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use imageferry_contract::Status;
use status_store::ListFilter;
use time::format_description::well_known::Rfc3339;

/// Arguments of `status`.
#[derive(clap::Args)]
pub struct Args {
    /// A deployment id: show its status and timeline. Without it: a table of recent deployments.
    id: Option<String>,
    /// Only deployments in this status (accepted, waiting-for-replication, replicated, provisioning, succeeded, failed, rejected).
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Only deployments of this image version: a version name (`1.2.3`) or a full version id.
    #[arg(long)]
    image_version: Option<String>,
    /// Only deployments into this target tenant.
    #[arg(long)]
    target_tenant: Option<String>,
    /// At most this many deployments, most recent first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    out: OutputArgs,
}

/// A `--status` value that is not a status.
#[derive(Debug, thiserror::Error)]
#[error(
    "{text:?} is not a status: accepted, waiting-for-replication, replicated, provisioning, succeeded, failed, rejected"
)]
struct NotAStatus {
    text: String,
    #[source]
    source: serde_json::Error,
}

fn parse_status(s: &str) -> Result<Status, NotAStatus> {
    serde_json::from_value(serde_json::json!(s)).map_err(|source| NotAStatus {
        text: s.to_owned(),
        source,
    })
}

fn when(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Runs `status`.
pub async fn run(args: Args) -> Exit {
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let store = match session.status_store() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let failed = |e: &status_store::StoreError| {
        crate::network::report(
            "reading the status store",
            e,
            None,
            session.places().store(e),
        );
        Exit::Failed
    };
    if let Some(id) = &args.id {
        let (status, events) = match tokio::try_join!(store.get(id), store.events(id)) {
            Ok(x) => x,
            Err(e) => return failed(&e),
        };
        let Some(status) = status else {
            if args.out.json() {
                print_json(&serde_json::json!({"deploymentId": id, "found": false}));
            } else {
                errln!(
                    "imageferry: no deployment {id} in the status store (table {})",
                    store.table()
                );
            }
            return Exit::Failed;
        };
        if args.out.json() {
            print_json(&serde_json::json!({"status": status, "events": events}));
            return Exit::Succeeded;
        }
        outln!(
            "{}  {}  ({}, updated {})",
            status.deployment_id,
            status.status,
            status.step,
            when(status.updated_at)
        );
        if let Some(image) = &status.image_id {
            outln!("  image    {image}");
        }
        if let (Some(t), Some(s), Some(rg)) = (
            &status.target_tenant_id,
            &status.target_subscription_id,
            &status.target_resource_group,
        ) {
            outln!(
                "  target   tenant {t} / subscription {s} / {rg} in {}",
                status.location.as_deref().unwrap_or("?")
            );
        }
        if let Some(vm) = &status.vm_id {
            outln!("  vm       {vm}");
        }
        for (label, ip) in [
            ("public", &status.public_ip_address),
            ("private", &status.private_ip_address),
        ] {
            if let Some(ip) = ip {
                outln!("  {label:<8} {ip}");
            }
        }
        if let Some(e) = &status.error {
            outln!("  error    {}: {}", e.code, e.message);
            if let Some(h) = &e.hint {
                outln!("  fix      {h}");
            }
        }
        outln!();
        for e in &events {
            outln!(
                "{}  {:<24} {:<25} {}",
                when(e.at),
                e.status.as_str(),
                e.step.as_str(),
                e.detail
            );
        }
        return Exit::Succeeded;
    }
    let filter = ListFilter {
        status: args.status,
        image_version: args.image_version.clone(),
        target_tenant: args.target_tenant.clone(),
        limit: args.limit,
    };
    let list = match store.list(&filter).await {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    if args.out.json() {
        print_json(&list);
        return Exit::Succeeded;
    }
    if list.is_empty() {
        outln!("no deployments match");
        return Exit::Succeeded;
    }
    outln!(
        "{:<24} {:<24} {:<10} {:<38} {:<16} UPDATED",
        "DEPLOYMENT",
        "STATUS",
        "VERSION",
        "TARGET TENANT",
        "LOCATION"
    );
    for s in &list {
        outln!(
            "{:<24} {:<24} {:<10} {:<38} {:<16} {}",
            s.deployment_id,
            s.status.as_str(),
            s.image_version.as_deref().unwrap_or("-"),
            s.target_tenant_id.as_deref().unwrap_or("-"),
            s.location.as_deref().unwrap_or("-"),
            when(s.updated_at)
        );
    }
    Exit::Succeeded
}
