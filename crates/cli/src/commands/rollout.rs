//! `imageferry rollout <version-id>`: where the rollouts of one image version stand (every ring of
//! `rollouts.toml` that the version's publication started), with its deployments; `--wait` blocks
//! until every rollout on the version is finished. A pipeline gates on the exit code: 0 every
//! rollout completed, 1 one halted or the version was superseded, 3 not finished in time.
//!
//! Reads the rollout-state entities the handler keeps in the status table
//! ([`status_store::rollout`]) and the deployments' statuses, so it needs only *Storage Table
//! Data Reader* on the `deployments` table.

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use imageferry_contract::duration::parse_duration;
use imageferry_contract::gallery_version;
use imageferry_contract::{ImageId, Status};
use status_store::rollout::{RunState, VersionRollout};
use status_store::{ListFilter, StatusStore};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Arguments of `rollout`.
#[derive(clap::Args)]
pub struct Args {
    /// The gallery image version id (`/subscriptions/…/galleries/{g}/images/{d}/versions/{v}`).
    version_id: String,
    /// Block until every rollout on the version has finished (completed, halted or superseded).
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this long (exit 3).
    #[arg(long, default_value = "6h", value_parser = parse_duration)]
    timeout: Duration,
    /// With --wait: time between reads.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    poll: Duration,
    #[command(flatten)]
    out: OutputArgs,
}

/// What was read in one look.
struct Look {
    /// Rollouts on this version.
    rollouts: Vec<VersionRollout>,
    /// Rollouts of the same image definition now on another version (version id, rollout).
    elsewhere: Vec<(String, VersionRollout)>,
    /// The version's deployments: (deployment id, status).
    deployments: Vec<(String, Status)>,
}

impl Look {
    /// The outcome, if the rollout of this version is over.
    fn outcome(&self, version: &str) -> Option<(Exit, String)> {
        if let Some(r) = self.rollouts.iter().find(|r| r.state == RunState::Halted) {
            return Some((
                Exit::Failed,
                format!(
                    "rollout {} halted (imageferry status --image-version <id> shows which deployment failed)",
                    r.rollout
                ),
            ));
        }
        if let Some(r) = self
            .rollouts
            .iter()
            .find(|r| r.state == RunState::Superseded)
        {
            return Some((
                Exit::Failed,
                format!("rollout {} was superseded by a newer version", r.rollout),
            ));
        }
        if self.rollouts.is_empty() {
            // A newer version took the rollout over: this one is superseded.
            if let Some((v, r)) = self.elsewhere.iter().find(|(v, _)| {
                gallery_version::compare(version_name(v), version)
                    .is_some_and(|o| o == std::cmp::Ordering::Greater)
            }) {
                return Some((
                    Exit::Failed,
                    format!("rollout {} moved on to the newer version {v}", r.rollout),
                ));
            }
            return None;
        }
        if self.rollouts.iter().all(|r| r.state == RunState::Completed) {
            return Some((
                Exit::Succeeded,
                format!(
                    "every rollout completed: {} ({} deployments succeeded)",
                    self.rollouts
                        .iter()
                        .map(|r| r.rollout.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.count(Status::Succeeded)
                ),
            ));
        }
        None
    }

    fn count(&self, status: Status) -> usize {
        self.deployments
            .iter()
            .filter(|(_, s)| *s == status)
            .count()
    }

    /// One line: each rollout's state and the deployments by status.
    fn line(&self) -> String {
        let rollouts = if self.rollouts.is_empty() {
            "no rollout on this version yet".to_string()
        } else {
            self.rollouts
                .iter()
                .map(|r| format!("{} {}", r.rollout, r.state.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let done = self.count(Status::Succeeded);
        let bad = self.count(Status::Failed) + self.count(Status::Rejected);
        let running = self.deployments.len() - done - bad;
        format!(
            "{rollouts}; deployments: {done} succeeded, {running} running, {bad} failed or rejected"
        )
    }
}

fn version_name(version_id: &str) -> &str {
    version_id.rsplit('/').next().unwrap_or(version_id)
}

/// Why the status store could not be read.
#[derive(Debug, thiserror::Error)]
enum LookError {
    /// The rollout states.
    #[error("{0}")]
    Rollouts(#[from] azure_clients::table::TableError),
    /// The deployments of the version.
    #[error("{0}")]
    Deployments(#[from] status_store::StoreError),
}

async fn look(store: &StatusStore, image: &ImageId, version_id: &str) -> Result<Look, LookError> {
    let definition = image.image();
    let states = store.rollouts();
    let (all, deployments) =
        tokio::try_join!(async { Ok::<_, LookError>(states.all().await?) }, async {
            Ok(store
                .list(&ListFilter {
                    image_version: Some(version_id.to_string()),
                    limit: 5000,
                    ..ListFilter::default()
                })
                .await?)
        },)?;
    // Ids compare as ARM compares them, without regard to case.
    let (on_version, others): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(v, _)| v.eq_ignore_ascii_case(version_id));
    Ok(Look {
        rollouts: on_version.into_iter().map(|(_, r)| r).collect(),
        elsewhere: others
            .into_iter()
            .filter(|(_, r)| r.definition.eq_ignore_ascii_case(definition))
            .collect(),
        deployments: deployments
            .into_iter()
            .map(|d| (d.deployment_id, d.status))
            .collect(),
    })
}

/// Runs `rollout`.
pub async fn run(args: Args) -> Exit {
    let image = match ImageId::parse(&args.version_id) {
        Ok(id @ ImageId::Gallery { .. }) => id,
        Ok(_) => {
            return usage_error(
                "rollouts start from a gallery of the publisher's tenant: give a /subscriptions/… image version id",
            );
        }
        Err(e) => return usage_error(format!("{}: {e}", args.version_id)),
    };
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let store = match session.status_store() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let version = image.version().to_string();
    let start = Instant::now();
    // Progress on stderr in every mode (in place on a terminal, plain lines otherwise).
    let tty = std::io::stderr().is_terminal();
    loop {
        let now = match look(&store, &image, &args.version_id).await {
            Ok(l) => l,
            Err(e) => {
                let unreachable = match &e {
                    LookError::Rollouts(t) => session.places().table(t),
                    LookError::Deployments(d) => session.places().store(d),
                };
                crate::network::report("reading the status store", &e, None, unreachable);
                return Exit::Failed;
            }
        };
        let outcome = now.outcome(&version);
        let line = now.line();
        if let Some((exit, message)) = outcome {
            if tty {
                errln!();
            }
            return finish(&args, &now, exit, &message);
        }
        if !args.wait || start.elapsed() + args.poll > args.timeout {
            if tty {
                errln!();
            }
            let mut message = if args.wait {
                format!("not finished after {}s: {line}", args.timeout.as_secs())
            } else {
                format!("not finished: {line}")
            };
            if now.rollouts.is_empty() {
                message.push_str(&not_started_hint(&now));
            }
            return finish(&args, &now, Exit::TimedOut, &message);
        }
        if tty {
            err!("\r\x1b[2K[{:>5}s] {line}", start.elapsed().as_secs());
        } else {
            errln!("[{:>5}s] {line}", start.elapsed().as_secs());
        }
        tokio::time::sleep(args.poll).await;
    }
}

/// Why no rollout is on the version, as far as the store tells.
fn not_started_hint(look: &Look) -> String {
    match look.elsewhere.first() {
        Some((v, r)) => format!(
            ". Rollout {} is on {v} ({}); if its `supersede` rule keeps a newer version out, this version is blocked (a rollout-blocked event says so)",
            r.rollout,
            r.state.as_str()
        ),
        None => ". No rollout names this image definition in the store yet: check that rollouts.toml matches it and that the gallery's Event Grid subscription delivers to the image-version-published queue (imageferry dead-letters image-version-published)".to_string(),
    }
}

fn finish(args: &Args, look: &Look, exit: Exit, message: &str) -> Exit {
    if args.out.json() {
        print_json(&serde_json::json!({
            "versionId": args.version_id,
            "outcome": match exit {
                Exit::Succeeded => "completed",
                Exit::TimedOut => "not-finished",
                _ => "halted",
            },
            "message": message,
            "rollouts": look.rollouts.iter().map(|r| serde_json::json!({
                "rollout": r.rollout, "definition": r.definition, "state": r.state.as_str(),
            })).collect::<Vec<_>>(),
            "deployments": look.deployments.iter().map(|(id, s)| serde_json::json!({
                "deploymentId": id, "status": s.as_str(),
            })).collect::<Vec<_>>(),
        }));
        return exit;
    }
    for r in &look.rollouts {
        outln!(
            "rollout {:<20} {:<10} {}",
            r.rollout,
            r.state.as_str(),
            r.definition
        );
    }
    for (id, s) in &look.deployments {
        outln!("  {id:<40} {}", s.as_str());
    }
    if exit == Exit::Succeeded {
        outln!("{message}");
    } else {
        errln!("imageferry: {message}");
    }
    exit
}
