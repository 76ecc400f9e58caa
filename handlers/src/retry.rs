//! Scheduled retries: what a transient failure of a function becomes. Instead of answering 500
//! (Service Bus would redeliver at once, ten times in about a second), the function sends its own
//! message again to its own queue, visible after a backoff (`ScheduledEnqueueTimeUtc`), and the
//! current message completes. The retry carries its place in the chain in three application
//! properties ([`ORIGIN`], [`ATTEMPT`], [`SINCE`]); its MessageId is
//! [`retry_message_id`]`(origin, n)`, so duplicate copies of a failing message schedule one retry.
//!
//! - **Backoff**: `IMAGEFERRY_RETRY_BACKOFF_INITIAL` × 2^(n-1), capped at
//!   `IMAGEFERRY_RETRY_BACKOFF_CAP`, with equal jitter (a random half of it), and never shorter
//!   than the service's `Retry-After`.
//! - **Outage budget**: counted from the chain's first transient failure; once
//!   `IMAGEFERRY_OUTAGE_BUDGET` is spent the next transient failure is the outcome (`failed` /
//!   `rollout-halted`, code `RetriesExhausted`, naming the cause and how long it was tried). The
//!   last retry is scheduled for the end of the budget, so an outage a little shorter than the
//!   budget still ends well.
//! - The properties are untrusted like the body: a start in the future counts as now, an
//!   attempt number beyond [`MAX_ATTEMPTS`] or a start before the budget gives up at once (a
//!   recorded outcome, never a loop).

use crate::app::App;
use crate::config::Config;
use crate::outcome::StepError;
use azure_clients::OutgoingMessage;
use imageferry_contract::event::MAX_MESSAGE_ID_LEN;
use imageferry_contract::{EventError, retry_message_id};
use ring::rand::SecureRandom as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Application property: MessageId of the message the chain of retries started with.
pub const ORIGIN: &str = "imageferryRetryOf";
/// Application property: which retry this is (1 for the first).
pub const ATTEMPT: &str = "imageferryRetry";
/// Application property: when the chain's first transient failure happened (RFC 3339).
pub const SINCE: &str = "imageferryRetrySince";
/// Most retries of one chain, whatever the budget says.
pub const MAX_ATTEMPTS: u32 = 10_000;
/// Shortest delay of a retry: Service Bus schedules to the second (`ScheduledEnqueueTimeUtc`
/// travels as an RFC 1123 time), so less than this would come back at once.
pub const MIN_DELAY: Duration = Duration::from_secs(1);

/// Where a delivery stands in its chain of scheduled retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retries {
    /// MessageId of the message the chain started with.
    pub origin: String,
    /// 0 for that message, `n` for its `n`-th retry.
    pub attempt: u32,
    /// When the chain's first transient failure happened; `None` before one.
    pub since: Option<OffsetDateTime>,
}

impl Retries {
    /// The first message of a chain.
    pub fn first(message_id: &str) -> Self {
        Retries {
            origin: message_id.to_owned(),
            attempt: 0,
            since: None,
        }
    }

    /// The chain a message with `message_id` and application properties `properties` belongs
    /// to. Properties that are missing, or do not parse, make it the first message of its own.
    /// Names are matched without regard to case: over the Service Bus REST protocol they travel
    /// as HTTP headers, whose names arrive lowercased.
    pub fn from_properties(properties: &Map<String, Value>, message_id: &str) -> Self {
        let get = |k: &str| {
            properties
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        };
        let text = |k: &str| match get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let attempt = text(ATTEMPT).and_then(|a| a.trim().parse::<u32>().ok());
        let since = text(SINCE).and_then(|s| OffsetDateTime::parse(s.trim(), &Rfc3339).ok());
        let origin = text(ORIGIN).filter(|o| !o.is_empty() && o.len() <= MAX_MESSAGE_ID_LEN);
        match (attempt, since, origin) {
            (Some(attempt), Some(since), Some(origin)) if attempt >= 1 => Retries {
                origin,
                attempt,
                since: Some(since),
            },
            _ => Retries::first(message_id),
        }
    }
}

/// The next retry of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The retry's number (from 1).
    pub attempt: u32,
    /// Its delay.
    pub delay: Duration,
    /// The chain's first transient failure.
    pub since: OffsetDateTime,
}

/// What a transient failure becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Schedule this retry.
    Retry(Next),
    /// The budget is spent: this outcome (code `RetriesExhausted`).
    GiveUp(EventError),
}

/// Decides what the transient failure `error` of a delivery in chain `retries` becomes at `now`.
pub fn decide(
    config: &Config,
    retries: &Retries,
    now: OffsetDateTime,
    error: &EventError,
    retry_after: Option<Duration>,
) -> Decision {
    let since = retries.since.map_or(now, |s| s.min(now));
    let tried: Duration = (now - since).try_into().unwrap_or(Duration::ZERO);
    let left = config.outage_budget.saturating_sub(tried);
    if left < MIN_DELAY || retries.attempt >= MAX_ATTEMPTS {
        return Decision::GiveUp(exhausted(config, retries, tried, error, None));
    }
    let attempt = retries.attempt + 1;
    let delay = jitter(config.retry_backoff(attempt))
        .max(retry_after.unwrap_or(Duration::ZERO))
        .clamp(MIN_DELAY, left);
    Decision::Retry(Next {
        attempt,
        delay,
        since,
    })
}

/// The outcome of a chain that gives up: the cause, how long and how often it was tried, and
/// why it stopped (the budget, or `unscheduled`: the retry could not be sent).
pub fn exhausted(
    config: &Config,
    retries: &Retries,
    tried: Duration,
    error: &EventError,
    unscheduled: Option<&EventError>,
) -> EventError {
    let attempts = retries.attempt + 1;
    let why = match unscheduled {
        Some(send) => format!(
            "the next retry could not be scheduled ({}: {})",
            send.code, send.message
        ),
        None => format!(
            "the outage budget of {} (IMAGEFERRY_OUTAGE_BUDGET) is spent",
            human(config.outage_budget)
        ),
    };
    EventError {
        code: "RetriesExhausted".into(),
        message: format!(
            "gave up after {} of retries ({attempts} attempt{}): {why}; last error: {}: {}",
            human(tried),
            if attempts == 1 { "" } else { "s" },
            error.code,
            error.message
        ),
        hint: error.hint.clone().or_else(|| {
            Some(
                "the cause above lasted longer than imageferry waits for it; once it is fixed, send the request again with the same deploymentId (nothing is created twice)"
                    .into(),
            )
        }),
    }
}

/// `d` as `1h 5m 3s` (seconds precision; `0s` for less).
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// Equal jitter: a random point in the upper half of `d`, so that deployments failing together
/// do not all come back together.
fn jitter(d: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    let fraction = match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) as f64 / u64::MAX as f64,
        Err(_) => 1.0,
    };
    d / 2 + (d / 2).mul_f64(fraction)
}

/// The retry message: the body as received, to the function's own queue (`label`), visible
/// after the retry's delay, with the chain's properties and the incoming CorrelationId.
pub fn message(
    app: &App,
    retries: &Retries,
    next: &Next,
    raw_body: &str,
    correlation_id: Option<String>,
    label: &str,
) -> OutgoingMessage {
    let mut application_properties = BTreeMap::new();
    application_properties.insert(ORIGIN.into(), retries.origin.clone());
    application_properties.insert(ATTEMPT.into(), next.attempt.to_string());
    application_properties.insert(
        SINCE.into(),
        next.since.format(&Rfc3339).unwrap_or_default(),
    );
    OutgoingMessage {
        body: raw_body.to_owned(),
        content_type: "application/json".into(),
        message_id: Some(retry_message_id(&retries.origin, next.attempt)),
        correlation_id,
        scheduled_enqueue_time: Some(whole_second_after(imageferry_contract::saturating_add(
            app.clock.now(),
            next.delay,
        ))),
        time_to_live: None,
        label: Some(label.to_owned()),
        application_properties,
    }
}

/// `t` rounded up to a whole second: Service Bus schedules to the second and would otherwise
/// deliver up to a second before the delay is over.
fn whole_second_after(t: OffsetDateTime) -> OffsetDateTime {
    match t.nanosecond() {
        0 => t,
        n => t + time::Duration::nanoseconds(1_000_000_000 - i64::from(n)),
    }
}

/// Sends the retry to `queue`.
pub async fn schedule(app: &App, queue: &str, message: OutgoingMessage) -> Result<(), StepError> {
    app.send(queue, message).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowList;
    use serde_json::json;

    fn config() -> Config {
        Config::new("t", AllowList::Any, AllowList::Any)
    }

    fn error() -> EventError {
        EventError {
            code: "TokenEndpointUnavailable".into(),
            message: "token endpoint unavailable for tenant t: HTTP 503".into(),
            hint: None,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_honours_retry_after_and_ends_at_the_budget() {
        let c = config();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let first = Retries::first("m");
        let Decision::Retry(Next {
            attempt,
            delay,
            since,
        }) = decide(&c, &first, now, &error(), None)
        else {
            panic!("retries")
        };
        assert_eq!((attempt, since), (1, now));
        assert!((2500..=5000).contains(&delay.as_millis()), "{delay:?}");
        let later = Retries {
            origin: "m".into(),
            attempt: 3,
            since: Some(now - time::Duration::minutes(2)),
        };
        let Decision::Retry(Next { attempt, delay, .. }) =
            decide(&c, &later, now, &error(), Some(Duration::from_secs(120)))
        else {
            panic!("retries")
        };
        assert_eq!(attempt, 4);
        assert_eq!(delay, Duration::from_secs(120), "Retry-After wins");
        // Near the end of the budget the retry comes at its end.
        let late = Retries {
            since: Some(now - time::Duration::minutes(29) - time::Duration::seconds(50)),
            ..later.clone()
        };
        let Decision::Retry(Next { delay, .. }) = decide(&c, &late, now, &error(), None) else {
            panic!("retries")
        };
        assert_eq!(delay, Duration::from_secs(10));
        // Spent: the outcome names the cause and how long it was tried.
        let spent = Retries {
            since: Some(now - time::Duration::minutes(31)),
            ..later
        };
        let Decision::GiveUp(e) = decide(&c, &spent, now, &error(), None) else {
            panic!("gives up")
        };
        assert_eq!(e.code, "RetriesExhausted");
        for part in [
            "31m 0s",
            "4 attempts",
            "30m 0s (IMAGEFERRY_OUTAGE_BUDGET)",
            "TokenEndpointUnavailable",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
        assert!(e.hint.is_some());
    }

    #[test]
    fn forged_chain_properties_cannot_extend_the_budget() {
        let c = config();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        // A start in the future counts as now.
        let props = json!({ORIGIN: "m", ATTEMPT: "2", SINCE: "2999-01-01T00:00:00Z"});
        let r = Retries::from_properties(props.as_object().unwrap(), "m:retry-2");
        assert_eq!(r.attempt, 2);
        let Decision::Retry(Next { since, .. }) = decide(&c, &r, now, &error(), None) else {
            panic!("retries")
        };
        assert_eq!(since, now);
        // A huge attempt number gives up at once.
        let props = json!({ORIGIN: "m", ATTEMPT: 4_000_000_000u32, SINCE: "1970-01-02T00:00:00Z"});
        let r = Retries::from_properties(props.as_object().unwrap(), "x");
        assert!(matches!(
            decide(&c, &r, now, &error(), None),
            Decision::GiveUp(_)
        ));
        // Names in any case (REST receives lowercase them).
        let props = json!({"imageferryretryof": "m", "IMAGEFERRYRETRY": "3", "imageferryretrysince": "1970-01-02T00:00:00Z"});
        let r = Retries::from_properties(props.as_object().unwrap(), "m:retry-3");
        assert_eq!((r.origin.as_str(), r.attempt), ("m", 3));
        // Broken properties: the message starts its own chain.
        for props in [
            json!({ORIGIN: "m", ATTEMPT: "two", SINCE: "1970-01-02T00:00:00Z"}),
            json!({ORIGIN: "m", ATTEMPT: "0", SINCE: "1970-01-02T00:00:00Z"}),
            json!({ATTEMPT: "1", SINCE: "1970-01-02T00:00:00Z"}),
            json!({ORIGIN: "x".repeat(200), ATTEMPT: "1", SINCE: "1970-01-02T00:00:00Z"}),
        ] {
            let r = Retries::from_properties(props.as_object().unwrap(), "own");
            assert_eq!(r, Retries::first("own"), "{props}");
        }
    }

    #[test]
    fn retries_are_scheduled_on_a_whole_second_at_or_after_their_delay() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(10_250);
        assert_eq!(
            whole_second_after(t),
            OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(11)
        );
        let whole = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(10);
        assert_eq!(whole_second_after(whole), whole);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_millis(900)), "0s");
        assert_eq!(human(Duration::from_secs(65)), "1m 5s");
        assert_eq!(human(Duration::from_secs(3723)), "1h 2m 3s");
    }
}
