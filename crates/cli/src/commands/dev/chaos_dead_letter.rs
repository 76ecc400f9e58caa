//! The dead-letter probe of a chaos run, and the count of dead-lettered messages.
//!
//! The probe is one extra deployment, sent once the others have ended: the local host abandons
//! its request before delivery until the queue's last allowed delivery, and SIGKILLs the handler
//! during that one (ARM answers slowly then, so the handler is inside the step). Service Bus
//! dead-letters the message (`MaxDeliveryCountExceeded`) and the dead-letter function
//! (`deployment-requested-dead-letters`) must end the deployment `failed` with code
//! `DeadLettered` and the reason: without it, the deployment would never end.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_clients::servicebus::ReceivedMessage;
use functions_host::{Inject, Injector};
use serde_json::Value;

/// The probe's deployment id.
pub const PROBE_ID: &str = "dead-letter-probe";
/// How long into its last delivery the handler is killed.
const KILL_AFTER: Duration = Duration::from_millis(500);
/// ARM's (and the token endpoint's) answer time while the last delivery runs.
const SLOW_ARM_MS: u64 = 3000;

/// The probe's state, shared with the host's injector.
#[derive(Clone)]
pub struct DeadLetterProbe {
    inner: Arc<ProbeState>,
}

struct ProbeState {
    message_id: String,
    max_delivery_count: u32,
    armed: AtomicBool,
    abandoned: AtomicU32,
    killed_on: AtomicU32,
}

/// What became of the probe.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    /// Deliveries abandoned before the last one.
    pub abandoned: u32,
    /// The delivery during which the handler was killed (0: none).
    pub killed_on: u32,
    /// The queue's maximum delivery count.
    pub max_delivery_count: u32,
    /// The probe's terminal statuses, in order.
    pub terminal: Vec<String>,
    /// Its terminal event's error, if any.
    pub error: Value,
}

impl ProbeOutcome {
    /// Whether it went as it must: killed on the last delivery, one terminal event, `failed`
    /// with `DeadLettered` naming `MaxDeliveryCountExceeded`.
    pub fn holds(&self) -> bool {
        self.killed_on == self.max_delivery_count
            && self.terminal == ["failed"]
            && self.error["code"] == "DeadLettered"
            && self.error["message"]
                .as_str()
                .is_some_and(|m| m.contains("MaxDeliveryCountExceeded"))
    }
}

impl DeadLetterProbe {
    /// A probe of the request `{PROBE_ID}:request` on a queue allowing `max_delivery_count`
    /// deliveries.
    pub fn new(max_delivery_count: u32) -> Self {
        Self {
            inner: Arc::new(ProbeState {
                message_id: format!("{PROBE_ID}:request"),
                max_delivery_count,
                armed: AtomicBool::new(false),
                abandoned: AtomicU32::new(0),
                killed_on: AtomicU32::new(0),
            }),
        }
    }

    /// The host's injector: the probe's request is abandoned before its last delivery and the
    /// handler killed during that one; everything else is delivered.
    pub fn injector(&self) -> Injector {
        let state = self.inner.clone();
        Arc::new(move |function: &str, message: &ReceivedMessage| {
            if !state.armed.load(Ordering::SeqCst)
                || function != "deployment-requested"
                || message.message_id() != Some(state.message_id.as_str())
            {
                return Inject::Deliver;
            }
            let count = message.delivery_count();
            if count < state.max_delivery_count {
                state.abandoned.fetch_add(1, Ordering::SeqCst);
                Inject::Abandon
            } else {
                state.killed_on.store(count, Ordering::SeqCst);
                Inject::KillDuring(KILL_AFTER)
            }
        })
    }

    /// Sends the probe's request (a copy of `template` with its own id and VM name) and waits,
    /// at most `timeout`, for its terminal event; ARM is slow during its last delivery.
    pub async fn run(
        &self,
        sender: &azure_clients::ServiceBusSender,
        azure: &str,
        tracker: &super::follow::Tracker,
        template: &str,
        timeout: Duration,
    ) -> Result<ProbeOutcome, String> {
        let mut body: Value = serde_json::from_str(template).map_err(|e| e.to_string())?;
        body["deploymentId"] = PROBE_ID.into();
        body["vm"]["name"] = "deadLetterProbe".into();
        let faults = get_faults(azure).await?;
        let mut slow = faults.clone();
        slow["latency_ms"] = SLOW_ARM_MS.into();
        slow["throttle_rate"] = 0.0.into();
        slow["server_error_rate"] = 0.0.into();
        post_faults(azure, &slow).await?;
        self.inner.armed.store(true, Ordering::SeqCst);
        tracker.sent(PROBE_ID);
        let message = azure_clients::OutgoingMessage {
            body: body.to_string(),
            message_id: Some(self.inner.message_id.clone()),
            ..azure_clients::OutgoingMessage::default()
        };
        sender
            .send("deployment-requested", message)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut restored = false;
        loop {
            if !restored && self.inner.killed_on.load(Ordering::SeqCst) > 0 {
                // Killed: ARM answers at once again (the dead-letter function reads no ARM, but
                // the status store and the token endpoint are on the same stand-in).
                tokio::time::sleep(KILL_AFTER + Duration::from_millis(200)).await;
                post_faults(azure, &faults).await?;
                restored = true;
            }
            let d = tracker.deployments().remove(PROBE_ID).unwrap_or_default();
            if !d.terminal.is_empty() || tokio::time::Instant::now() >= deadline {
                if !restored {
                    post_faults(azure, &faults).await?;
                }
                // A second terminal event, if one were coming, arrives within moments.
                tokio::time::sleep(Duration::from_secs(2)).await;
                let d = tracker.deployments().remove(PROBE_ID).unwrap_or_default();
                return Ok(ProbeOutcome {
                    abandoned: self.inner.abandoned.load(Ordering::SeqCst),
                    killed_on: self.inner.killed_on.load(Ordering::SeqCst),
                    max_delivery_count: self.inner.max_delivery_count,
                    terminal: d.terminal,
                    error: d.last_event.get("error").cloned().unwrap_or_default(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn get_faults(azure: &str) -> Result<Value, String> {
    reqwest::get(format!("{azure}/_sim/faults"))
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

async fn post_faults(azure: &str, faults: &Value) -> Result<(), String> {
    reqwest::Client::new()
        .post(format!("{azure}/_sim/faults"))
        .json(faults)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// ARM answers 503 to every request for `length` (azure-sim's faults), then the faults it had.
pub async fn arm_outage(azure: &str, length: Duration) -> Result<(), String> {
    let faults = get_faults(azure).await?;
    let mut down = faults.clone();
    down["server_error_rate"] = 1.0.into();
    down["throttle_rate"] = 0.0.into();
    post_faults(azure, &down).await?;
    tokio::time::sleep(length).await;
    post_faults(azure, &faults).await
}

/// The messages the dead-letter functions received, from the host's log lines
/// (`Executed 'Functions.<queue>-dead-letters' (Succeeded, …) MessageId=…`).
#[derive(Debug, Default, Clone)]
pub struct DeadLetterLog(Arc<Mutex<BTreeSet<(String, String)>>>);

impl DeadLetterLog {
    /// Looks at one host line.
    pub fn observe(&self, line: &str) {
        let Some(rest) = line.split("Executed 'Functions.").nth(1) else {
            return;
        };
        let Some((function, rest)) = rest.split_once("' (") else {
            return;
        };
        if !function.ends_with("-dead-letters") || !rest.starts_with("Succeeded") {
            return;
        }
        let message_id = rest
            .split("MessageId=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or_default();
        let queue = function.trim_end_matches("-dead-letters");
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((queue.to_string(), message_id.to_string()));
    }

    /// (queue, MessageId) of every dead-lettered message a dead-letter function completed.
    pub fn recorded(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The deployment a step MessageId is about (`{deploymentId}:…`, as imageferry's are).
pub fn deployment_of(message_id: &str) -> &str {
    message_id.split(':').next().unwrap_or(message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_lines_of_dead_letter_functions_are_counted() {
        let log = DeadLetterLog::default();
        log.observe("[2026-12-01T10:00:00Z] Executed 'Functions.deployment-requested-dead-letters' (Succeeded, Id=1, Duration=3ms) MessageId=dead-letter-probe:request, DeliveryCount=1, SequenceNumber=7; completed");
        log.observe("[2026-12-01T10:00:00Z] Executed 'Functions.deployment-requested' (Succeeded, Id=2, Duration=3ms) MessageId=d:request, DeliveryCount=1, SequenceNumber=8; completed");
        log.observe("[2026-12-01T10:00:00Z] Executed 'Functions.vm-provisioning-dead-letters' (Failed, Id=3, Duration=3ms) MessageId=x:vm-provisioning:2, DeliveryCount=1, SequenceNumber=9; abandoned");
        assert_eq!(
            log.recorded(),
            [(
                "deployment-requested".to_string(),
                "dead-letter-probe:request".to_string()
            )]
        );
        assert_eq!(
            deployment_of("web-0001:vm-provisioning:3:retry-2"),
            "web-0001"
        );
    }
}
