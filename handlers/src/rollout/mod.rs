//! Rollouts: the configuration loaded at start, the Event Grid event that starts one, the status
//! store that says when a ring is done, and the fan-out of one ring into `deployment-requested`
//! messages. The steps are `steps::image_version_published` and `steps::rollout_check`.

pub mod event;
pub mod fanout;
/// The rollout-state entities (shared with `imageferry rollout`).
pub use status_store::rollout as state;
pub mod status;

use crate::app::App;
use crate::config::parse_duration;
use crate::outcome::StepError;
use crate::steps::{image_version_published, rollout_check, within_budget};
use functions_runtime::{
    BodyDecodeError, Functions, Invocation, InvocationResult, ServiceBusMessage, service_fn,
};
use imageferry_contract::rollout::{
    RolloutCheck, RolloutConfig, RolloutConfigError, RolloutStatus,
};
use imageferry_contract::{EventError, fields};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Adds `image-version-published` and `rollout-check` to the handler's functions. Both run
/// within the step budget, like the deployment steps ([`crate::steps::within_budget`]).
pub fn functions(functions: Functions, app: Arc<App>, rollouts: Arc<Rollouts>) -> Functions {
    let (a, r) = (app.clone(), rollouts.clone());
    let published = service_fn(
        move |inv: Invocation<ServiceBusMessage<Result<serde_json::Value, BodyDecodeError>>>| {
            let (app, rollouts) = (a.clone(), r.clone());
            async move {
                let (started, msg, delivery, id) = arrived(&app, inv);
                let run = image_version_published::run(&app, &rollouts, &msg.raw_body);
                let outcome = within_budget(&app, started, run).await;
                let subject = image_version_published_subject(&msg.raw_body);
                finish(
                    &app,
                    fanout::IMAGE_VERSION_PUBLISHED,
                    &id,
                    delivery,
                    ("", &subject, 0, ""),
                    outcome,
                )
                .await
            }
        },
    );
    let (a, r) = (app, rollouts);
    let check = service_fn(
        move |inv: Invocation<ServiceBusMessage<Result<RolloutCheck, BodyDecodeError>>>| {
            let (app, rollouts) = (a.clone(), r.clone());
            async move {
                let (started, msg, delivery, id) = arrived(&app, inv);
                let (about, outcome) = match msg.body {
                    Ok(check) => {
                        let ring_name = rollouts
                            .config
                            .rollouts
                            .iter()
                            .find(|r| r.name == check.rollout)
                            .and_then(|r| r.rings.get(check.ring as usize))
                            .map(|r| r.name.clone())
                            .unwrap_or_default();
                        let about = (
                            check.rollout.clone(),
                            check.version_id.clone(),
                            check.ring,
                            ring_name,
                        );
                        let run = rollout_check::run(&app, &rollouts, check);
                        (about, within_budget(&app, started, run).await)
                    }
                    Err(e) => (
                        Default::default(),
                        Err(undecodable_check(&msg.raw_body, &e)),
                    ),
                };
                let (name, version, ring, ring_name) = &about;
                finish(
                    &app,
                    fanout::ROLLOUT_CHECK,
                    &id,
                    delivery,
                    (name, version, *ring, ring_name),
                    outcome,
                )
                .await
            }
        },
    );
    functions
        .service_bus(fanout::IMAGE_VERSION_PUBLISHED, published)
        .service_bus(fanout::ROLLOUT_CHECK, check)
}

/// Why a `rollout-check` body was refused: its unknown top-level fields, all named (a field
/// named like a Service Bus system property would be copied over that property by the Functions
/// host), or what else is wrong with it.
fn undecodable_check(raw_body: &str, e: &BodyDecodeError) -> StepError {
    let unknown = serde_json::from_str::<serde_json::Value>(raw_body)
        .map(|json| fields::unknown_among(fields::ROLLOUT_CHECK, &json))
        .unwrap_or_default();
    if unknown.is_empty() {
        StepError::rejected(
            "UndecodableBody",
            format!(
                "the message body is not a valid rollout-check message: {}",
                e.message
            ),
            Some("send a JSON body matching schemas/rollout-check.schema.json".into()),
        )
    } else {
        StepError::rejected(
            "UnknownFields",
            format!(
                "the rollout-check message has unknown top-level fields: {}",
                unknown.join(", ")
            ),
            Some(
                "remove them: only the fields of schemas/rollout-check.schema.json are accepted"
                    .into(),
            ),
        )
    }
}

/// When the delivery reached the handler (the step budget counts from here), the message, the
/// delivery count to act on, and the MessageId (or the invocation id).
fn arrived<B>(
    app: &App,
    inv: Invocation<ServiceBusMessage<B>>,
) -> (Instant, ServiceBusMessage<B>, u32, String) {
    let started = Instant::now();
    let msg = inv.event;
    let delivery = delivery_count(&msg, app.config.max_delivery_count);
    let id = msg.message_id.clone().unwrap_or(inv.context.invocation_id);
    (started, msg, delivery, id)
}

/// The delivery count to act on: the host's, unless it is missing or a body field named
/// `DeliveryCount` may have overwritten it; then the last allowed one, so a transient failure is
/// recorded instead of retried blindly. (Event Grid bodies have top-level `subject`, `id`, …
/// fields, which shadow other system properties; only `DeliveryCount` matters here.)
fn delivery_count<B>(msg: &ServiceBusMessage<B>, max: u32) -> u32 {
    let shadowed = msg
        .shadowed
        .iter()
        .any(|k| k.eq_ignore_ascii_case("DeliveryCount"));
    msg.delivery_count.filter(|_| !shadowed).unwrap_or(max)
}

/// The transient failure of a rollout step: the host abandons the message so it is redelivered.
#[derive(Debug, thiserror::Error)]
#[error("{function}: transient failure (delivery {delivery}): {}: {}", .error.code, .error.message)]
pub struct Redeliver {
    function: &'static str,
    delivery: u32,
    error: EventError,
}

/// The subject of an event body, for the `event-rejected` event (best effort).
fn image_version_published_subject(raw: &str) -> String {
    event::ResourceEvent::parse(raw)
        .map(|e| e.subject)
        .unwrap_or_default()
}

/// Ok → 200 with the log line; rejected → `event-rejected`; failed (or transient on the last
/// delivery) → `rollout-halted`; transient → 500 (redelivery). When the event cannot be
/// published, a transient cause before the last delivery is redelivered; otherwise (a permanent
/// refusal, or the last delivery) an error log line names the rollout, the version, the outcome
/// and the cause, and the message completes: nothing ends without a trace.
async fn finish(
    app: &App,
    function: &'static str,
    message_id: &str,
    delivery: u32,
    (rollout, version_id, ring, ring_name): (&str, &str, u32, &str),
    outcome: Result<String, StepError>,
) -> Result<InvocationResult, Redeliver> {
    let last = delivery >= app.config.max_delivery_count;
    let (status, error, id) = match outcome {
        Ok(line) => return Ok(InvocationResult::default().log(format!("{function}: {line}"))),
        Err(StepError::Rejected(error)) => (
            RolloutStatus::EventRejected,
            error,
            Some(format!("{function}:rejected:{message_id}")),
        ),
        Err(StepError::Failed { error, .. }) => (RolloutStatus::RolloutHalted, error, None),
        Err(StepError::Transient(error)) if !last => {
            tracing::warn!(function, delivery, code = %error.code, message = %error.message, "transient failure; the message will be redelivered");
            return Err(Redeliver {
                function,
                delivery,
                error,
            });
        }
        Err(StepError::Transient(error)) => (
            RolloutStatus::RolloutHalted,
            EventError {
                code: "RetriesExhausted".into(),
                message: format!(
                    "gave up after {delivery} deliveries; last error: {}: {}",
                    error.code, error.message
                ),
                hint: error.hint,
            },
            None,
        ),
    };
    let line = format!("{function}: {status}: {}: {}", error.code, error.message);
    tracing::warn!(function, status = %status, code = %error.code, "{}", error.message);
    let (outcome_code, outcome_message) = (error.code.clone(), error.message.clone());
    let event = fanout::terminal_event(app, rollout, version_id, status, (ring, ring_name), error);
    match fanout::publish_with_id(app, event, id).await {
        Ok(()) => Ok(InvocationResult::default().log(line)),
        Err(StepError::Transient(error)) if !last => {
            tracing::warn!(function, rollout, version = version_id, status = %status, code = %error.code, message = %error.message, "publishing the rollout event failed; the message will be redelivered");
            Err(Redeliver {
                function,
                delivery,
                error,
            })
        }
        Err(StepError::Transient(error) | StepError::Rejected(error))
        | Err(StepError::Failed { error, .. }) => {
            tracing::error!(
                function,
                rollout,
                version = version_id,
                ring,
                status = %status,
                outcome_code = %outcome_code,
                outcome = %outcome_message,
                cause_code = %error.code,
                cause = %error.message,
                delivery,
                "the rollout event could not be published; the outcome is only in this log line"
            );
            Ok(InvocationResult::default().log(format!(
                "{line} (not published: {}: {})",
                error.code, error.message
            )))
        }
    }
}
