//! Rollouts: the configuration loaded at start, the Event Grid event that starts one, the status
//! store that says when a ring is done, the fan-out of one ring into `deployment-requested`
//! messages, and the two rollout functions ([`Published`], [`Check`]) with their outcomes
//! ([`RolloutReport`]), run by the [`crate::runner`]. Their work is in
//! `steps::image_version_published` and `steps::rollout_check`.

pub mod event;
pub mod fanout;
/// The rollout-state entities (shared with `imageferry rollout`).
pub use status_store::rollout as state;
pub mod status;

use crate::app::App;
use crate::config::parse_duration;
use crate::outcome::StepError;
use crate::runner::{self, Delivery, Ending, Function, Report, Serve as _, Terminal};
use crate::steps::{image_version_published, rollout_check};
use event::ResourceEvent;
use functions_runtime::{BodyDecodeError, Functions};
use imageferry_contract::fields;
use imageferry_contract::rollout::{
    RolloutCheck, RolloutConfig, RolloutConfigError, RolloutEvent, RolloutStatus,
};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the rollout steps need besides [`App`].
#[derive(Debug)]
pub struct Rollouts {
    /// The checked configuration.
    pub config: RolloutConfig,
    /// Where it was read from (for logs).
    pub source: String,
    /// Reads deployment statuses (absent: no store configured).
    pub status: Option<status::StatusReader>,
    /// Which version each rollout is on (same table as the statuses).
    pub states: Option<state::RolloutStates>,
    /// Delay between checks of a running ring.
    pub check_interval: Duration,
}

impl Rollouts {
    /// Which version `rollout` is on for image definition `definition`: every rollout keeps its
    /// state in the status store (`NoStatusStore` when none is configured).
    pub async fn current(
        &self,
        rollout: &str,
        definition: &str,
    ) -> Result<(&state::RolloutStates, Option<state::Current>), StepError> {
        let Some(states) = &self.states else {
            return Err(StepError::failed(
                "NoStatusStore",
                "IMAGEFERRY_STATUS_TABLE_ENDPOINT is not set: rollouts keep their state in the status store",
                Some("set IMAGEFERRY_STATUS_TABLE_ENDPOINT (infra/ sets it)".into()),
            ));
        };
        let current = states
            .current(rollout, definition)
            .await
            .map_err(|e| fanout::table_error("reading the rollout's state", &e))?;
        Ok((states, current))
    }
}

/// The rollout configuration or its settings are wrong: the handler does not start.
#[derive(Debug, thiserror::Error)]
pub enum RolloutSetupError {
    /// The file cannot be read.
    #[error("IMAGEFERRY_ROLLOUTS_FILE: cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is invalid (every problem with its line).
    #[error("{path}: {errors}")]
    Invalid {
        /// The file.
        path: String,
        /// The problems.
        errors: RolloutConfigError,
    },
    /// A setting is wrong.
    #[error("{name}: {reason}")]
    Setting {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl Rollouts {
    /// Reads `IMAGEFERRY_ROLLOUTS_FILE` (default `rollouts.toml` in the working directory, the app
    /// root; a missing default file means no rollouts), `IMAGEFERRY_ROLLOUT_CHECK_INTERVAL`
    /// (default 60s) and the status store settings.
    pub fn from_env() -> Result<Self, RolloutSetupError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (path, required) = match var("IMAGEFERRY_ROLLOUTS_FILE") {
            Some(p) => (PathBuf::from(p), true),
            None => (PathBuf::from("rollouts.toml"), false),
        };
        let shown = path.display().to_string();
        let config = match std::fs::read_to_string(&path) {
            Ok(text) => {
                RolloutConfig::parse(&text).map_err(|errors| RolloutSetupError::Invalid {
                    path: shown.clone(),
                    errors,
                })?
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                RolloutConfig::parse("version = 1").expect("the empty configuration is valid")
            }
            Err(source) => {
                return Err(RolloutSetupError::Read {
                    path: shown,
                    source,
                });
            }
        };
        let check_interval = match var("IMAGEFERRY_ROLLOUT_CHECK_INTERVAL") {
            None => Duration::from_secs(60),
            Some(v) => parse_duration(&v)
                // A ring's first check must come after image-version-published recorded the
                // rollout as running (a check of a rollout not recorded running is dropped).
                .filter(|d| *d >= Duration::from_secs(1))
                .ok_or(RolloutSetupError::Setting {
                    name: "IMAGEFERRY_ROLLOUT_CHECK_INTERVAL",
                    reason: format!("{v:?} is not a duration of at least 1s, like 30s or 5m"),
                })?,
        };
        let store =
            status::StatusReader::from_vars(|k| std::env::var(k).ok()).map_err(|reason| {
                RolloutSetupError::Setting {
                    name: "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
                    reason,
                }
            })?;
        if store.is_none() && !config.rollouts.is_empty() {
            return Err(RolloutSetupError::Setting {
                name: "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
                reason: format!(
                    "required: {shown} has rollouts, and a rollout reads its deployments' statuses (next ring, rollout-completed, rollout-halted) and keeps its version (supersede rules) in the status store"
                ),
            });
        }
        let (status, states) = store.unzip();
        Ok(Rollouts {
            config,
            source: shown,
            status,
            states,
            check_interval,
        })
    }
}

/// Adds `image-version-published` and `rollout-check` to the handler's functions, run by the
/// [`crate::runner`] like the deployment steps (step budget, trust, redelivery).
pub fn functions(functions: Functions, app: Arc<App>, rollouts: Arc<Rollouts>) -> Functions {
    functions
        .serve(&app, Published(rollouts.clone()))
        .serve(&app, Check(rollouts))
}

/// `image-version-published` as a [`Function`]: the runtime decodes the body as JSON once, and
/// [`image_version_published::admit`] turns it into the typed [`ResourceEvent`] the work receives.
#[derive(Debug, Clone)]
pub struct Published(pub Arc<Rollouts>);

impl Function for Published {
    type Report = RolloutReport;
    type Wire = serde_json::Value;
    type Message = ResourceEvent;

    fn name(&self) -> &'static str {
        fanout::IMAGE_VERSION_PUBLISHED
    }

    /// Event Grid bodies have top-level `id` and `subject` fields, which shadow the system
    /// properties of the same names: only a shadowed `DeliveryCount` makes the count unknown.
    fn trusts_count(&self, shadowed: &[String]) -> bool {
        !shadowed
            .iter()
            .any(|k| k.eq_ignore_ascii_case("DeliveryCount"))
    }

    fn admit(
        &self,
        wire: Result<serde_json::Value, BodyDecodeError>,
        _raw_body: &str,
    ) -> Result<ResourceEvent, StepError> {
        image_version_published::admit(wire)
    }

    /// The version written (the event's subject); the rollout is not known before the work.
    fn about(&self, event: Result<&ResourceEvent, &str>) -> RolloutAbout {
        RolloutAbout {
            version_id: event.map(|e| e.subject.clone()).unwrap_or_default(),
            ..RolloutAbout::default()
        }
    }

    fn run<'a>(
        &'a self,
        app: &'a App,
        _delivery: &'a Delivery<&'static str>,
        event: ResourceEvent,
    ) -> impl Future<Output = Result<String, StepError>> + Send + 'a {
        image_version_published::run(app, &self.0, event)
    }
}

/// `rollout-check` as a [`Function`] ([`rollout_check::run`]).
#[derive(Debug, Clone)]
pub struct Check(pub Arc<Rollouts>);

impl Function for Check {
    type Report = RolloutReport;
    type Wire = RolloutCheck;
    type Message = RolloutCheck;

    fn name(&self) -> &'static str {
        fanout::ROLLOUT_CHECK
    }

    fn admit(
        &self,
        wire: Result<RolloutCheck, BodyDecodeError>,
        raw_body: &str,
    ) -> Result<RolloutCheck, StepError> {
        wire.map_err(|e| {
            runner::undecodable(
                fanout::ROLLOUT_CHECK,
                |_| fields::ROLLOUT_CHECK,
                "schemas/rollout-check.schema.json",
                raw_body,
                &e,
            )
        })
    }

    fn about(&self, check: Result<&RolloutCheck, &str>) -> RolloutAbout {
        let Ok(check) = check else {
            return RolloutAbout::default();
        };
        let ring_name = self
            .0
            .config
            .rollouts
            .iter()
            .find(|r| r.name == check.rollout)
            .and_then(|r| r.rings.get(check.ring as usize))
            .map(|r| r.name.clone())
            .unwrap_or_default();
        RolloutAbout {
            rollout: check.rollout.clone(),
            version_id: check.version_id.clone(),
            ring: check.ring,
            ring_name,
        }
    }

    fn run<'a>(
        &'a self,
        app: &'a App,
        _delivery: &'a Delivery<&'static str>,
        check: RolloutCheck,
    ) -> impl Future<Output = Result<String, StepError>> + Send + 'a {
        rollout_check::run(app, &self.0, check)
    }
}

/// What a rollout function's outcome is about: the rollout (empty before the configuration
/// named one), the version, the ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutAbout {
    /// The rollout's name.
    pub rollout: String,
    /// The image version id.
    pub version_id: String,
    /// The ring (0-based).
    pub ring: u32,
    /// The ring's name.
    pub ring_name: String,
}

impl std::fmt::Display for RolloutAbout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rollout.is_empty() && self.version_id.is_empty() {
            f.write_str("an unknown rollout")
        } else if self.rollout.is_empty() {
            write!(f, "version {:?}", self.version_id)
        } else {
            write!(
                f,
                "rollout {} of {:?}, ring {} ({})",
                self.rollout, self.version_id, self.ring, self.ring_name
            )
        }
    }
}

/// The rollout functions' outcomes: rollout events. Rejected → `event-rejected` (MessageId
/// `{function}:rejected:{incoming}`); failed or retries exhausted → `rollout-halted`.
#[derive(Debug)]
pub struct RolloutReport;

impl Report for RolloutReport {
    type Name = &'static str;
    type About = RolloutAbout;
    type Done = String;
    type Event = RolloutEvent;

    fn span(about: &RolloutAbout) -> tracing::Span {
        tracing::error_span!(
            "rollout",
            rollout = %about.rollout,
            version = %about.version_id,
            ring = about.ring
        )
    }

    fn done(line: String) -> Option<String> {
        Some(line)
    }

    fn event(
        app: &App,
        function: &'static str,
        delivery: &Delivery<&'static str>,
        about: &RolloutAbout,
        _raw_body: &str,
        ending: Ending,
    ) -> Terminal<RolloutEvent> {
        let (status, error, message_id) = match ending {
            Ending::Rejected(error) => (
                RolloutStatus::EventRejected,
                error,
                Some(format!("{function}:rejected:{}", delivery.message_id)),
            ),
            Ending::Failed { error, .. } => (RolloutStatus::RolloutHalted, error, None),
        };
        let event = fanout::terminal_event(
            app,
            &about.rollout,
            &about.version_id,
            status,
            (about.ring, &about.ring_name),
            error,
        );
        Terminal {
            event,
            status: status.as_str(),
            message_id,
        }
    }

    async fn publish(
        app: &App,
        terminal: &Terminal<RolloutEvent>,
    ) -> Result<Option<String>, StepError> {
        fanout::publish_with_id(app, terminal.event.clone(), terminal.message_id.clone())
            .await
            .map(|()| None)
    }
}
