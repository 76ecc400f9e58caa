//! Delivering messages: per function, `maxConcurrentCalls` receivers each peek-lock a message,
//! renew its lock while the handler works (up to `maxAutoLockRenewalDuration`), `POST
//! /<function>` in the host's wire format ([`functions_runtime::host_wire`]) within
//! `functionTimeout`, then complete (2xx) or abandon (anything else). A timeout abandons and
//! restarts the handler, as the Functions host does. One log line per invocation.
//!
//! [`Dispatcher::invoke`] is one delivery of one locked message: the host's receivers call it in
//! a loop, and `local-run` calls it step by step, so both deliver the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use azure_clients::servicebus::{ReceiveError, ReceivedMessage, ServiceBusReceiver};
use functions_runtime::host_wire::{self, HostInvocation, HostMessage};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::app::{HostSettings, ServiceBusFunction};
use crate::worker::{Supervisor, now};

/// How a failed call to the handler starts when no HTTP answer came back.
const DID_NOT_ANSWER: &str = "the handler did not answer";

/// Where the host's lines go (one whole line per call, no newline).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Counters of a host, since it started.
#[derive(Debug, Default)]
pub struct Stats {
    /// Invocations made.
    pub invocations: AtomicU64,
    /// Answered 2xx.
    pub succeeded: AtomicU64,
    /// Answered non-2xx or unreachable.
    pub failed: AtomicU64,
    /// Cut off at `functionTimeout`.
    pub timed_out: AtomicU64,
    /// Messages completed.
    pub completed: AtomicU64,
    /// Messages abandoned (unlocked).
    pub abandoned: AtomicU64,
    /// Lock renewals.
    pub renewals: AtomicU64,
    /// Settlements that found the lock gone (the message comes back).
    pub locks_lost: AtomicU64,
    /// Successful invocations abandoned on purpose (fault injection).
    pub injected_redeliveries: AtomicU64,
    /// Receive calls that failed (Service Bus unreachable or erroring).
    pub receive_errors: AtomicU64,
}

/// A copy of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Invocations made.
    pub invocations: u64,
    /// Answered 2xx.
    pub succeeded: u64,
    /// Answered non-2xx or unreachable.
    pub failed: u64,
    /// Cut off at `functionTimeout`.
    pub timed_out: u64,
    /// Messages completed.
    pub completed: u64,
    /// Messages abandoned.
    pub abandoned: u64,
    /// Lock renewals.
    pub renewals: u64,
    /// Settlements that found the lock gone.
    pub locks_lost: u64,
    /// Successful invocations abandoned on purpose.
    pub injected_redeliveries: u64,
    /// Failed receive calls.
    pub receive_errors: u64,
}

impl Stats {
    /// A snapshot.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            invocations: g(&self.invocations),
            succeeded: g(&self.succeeded),
            failed: g(&self.failed),
            timed_out: g(&self.timed_out),
            completed: g(&self.completed),
            abandoned: g(&self.abandoned),
            renewals: g(&self.renewals),
            locks_lost: g(&self.locks_lost),
            injected_redeliveries: g(&self.injected_redeliveries),
            receive_errors: g(&self.receive_errors),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// The message as the Functions host hands it to the function
/// ([`functions_runtime::host_wire`]): its body, broker properties (`DeliveryCount`,
/// `SequenceNumber`, `EnqueuedTimeUtc`, `LockToken`, ...) and application properties. A message
/// of a dead-letter queue keeps `DeadLetterReason` and `DeadLetterErrorDescription` among its
/// application properties, where Service Bus puts them (the .NET SDK's
/// `ServiceBusReceivedMessage.DeadLetterReason` reads them from there, so the host's
/// `ApplicationProperties` metadata carries them). `DeadLetterSource` is set only on a message
/// auto-forwarded out of a dead-letter queue, which the stand-in does not do.
pub fn host_message(message: &ReceivedMessage) -> HostMessage {
    let broker = &message.broker;
    let mut m = HostMessage::new(message.body.clone());
    m.message_id = broker.message_id.clone();
    m.delivery_count = message.delivery_count();
    m.enqueued_time = broker
        .enqueued_time_utc
        .unwrap_or_else(OffsetDateTime::now_utc);
    m.sequence_number = message.sequence_number();
    m.correlation_id = broker.correlation_id.clone();
    m.content_type = message.content_type.clone();
    m.subject = broker.label.clone();
    m.time_to_live = broker.time_to_live.map(time::Duration::seconds_f64);
    m.lock_token = broker.lock_token.clone().unwrap_or_default();
    m.application_properties = message.properties.clone();
    m
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler answered 2xx.
    Succeeded,
    /// Another answer, or none (the reason).
    Failed(String),
    /// Cut off at `functionTimeout` (the handler is restarted).
    TimedOut,
}

/// What became of the message after the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Completed (deleted).
    Completed,
    /// Abandoned (unlocked): delivered again, or dead-lettered by the broker past its queue's
    /// maximum delivery count.
    Abandoned,
    /// `autoCompleteMessages: false`: left for its lock to expire.
    LeftToFunction,
    /// The settlement found the lock gone (the message comes back).
    LockLost {
        /// `completed` or `abandoned`.
        verb: &'static str,
    },
    /// The settlement failed (the message comes back when its lock expires).
    Failed {
        /// `completed` or `abandoned`.
        verb: &'static str,
        /// Why.
        error: String,
    },
}

impl std::fmt::Display for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Abandoned => f.write_str("abandoned"),
            Self::LeftToFunction => {
                f.write_str("left to the function (autoCompleteMessages: false)")
            }
            Self::LockLost { verb } => write!(
                f,
                "not {verb}: the lock was lost (the message will be delivered again)"
            ),
            Self::Failed { verb, error } => write!(
                f,
                "not {verb}: {error} (the message will be delivered again when its lock expires)"
            ),
        }
    }
}

/// One delivery, as it went.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The function.
    pub function: String,
    /// `X-Azure-Functions-InvocationId`.
    pub invocation_id: String,
    /// The message's `MessageId`.
    pub message_id: Option<String>,
    /// Its `DeliveryCount` (1 for the first delivery).
    pub delivery_count: u32,
    /// Its `SequenceNumber`.
    pub sequence_number: i64,
    /// The HTTP status of the handler's answer (`None`: no answer).
    pub status: Option<u16>,
    /// The handler's answer body, or why none came.
    pub answer: String,
    /// How the invocation ended.
    pub outcome: Outcome,
    /// What became of the message.
    pub settlement: Settlement,
    /// How long the invocation took.
    pub duration: Duration,
    /// The host's log line for it.
    pub line: String,
}

/// Delivers locked messages to the custom handler, as the Functions host does.
pub struct Dispatcher {
    supervisor: Supervisor,
    http: reqwest::Client,
    function_timeout: Option<Duration>,
    max_lock_renewal: Option<Duration>,
    stats: Arc<Stats>,
    log: LogSink,
    /// Fraction of successful invocations abandoned instead of completed (duplicate deliveries).
    redeliver_after_success: f64,
}

impl Dispatcher {
    /// Delivers to the handler `supervisor` runs, with host.json's `functionTimeout` and
    /// `maxAutoLockRenewalDuration`; one line per invocation to `log`.
    pub fn new(supervisor: Supervisor, host: &HostSettings, log: LogSink) -> Self {
        Self {
            supervisor,
            http: reqwest::Client::builder()
                // The host's client outlives functionTimeout by a minute so the timeout fires first.
                .timeout(
                    host.function_timeout
                        .map(|t| t + Duration::from_secs(60))
                        .unwrap_or(Duration::from_secs(u32::MAX as u64)),
                )
                .build()
                .expect("reqwest client"),
            function_timeout: host.function_timeout,
            max_lock_renewal: host.max_auto_lock_renewal,
            stats: Arc::default(),
            log,
            redeliver_after_success: 0.0,
        }
    }

    /// Fault injection: abandons this fraction of successful invocations instead of completing
    /// them, so that they are delivered again.
    pub fn with_redeliver_after_success(mut self, fraction: f64) -> Self {
        self.redeliver_after_success = fraction;
        self
    }

    /// Counters since start.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The handler's supervisor.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Delivers `message` (locked by `bus`) to `function` once: renews its lock while the
    /// handler works, posts it in the host's encoding within `functionTimeout`, then completes it
    /// (2xx) or abandons it; logs the host's line and returns what happened.
    pub async fn invoke(
        &self,
        function: &ServiceBusFunction,
        bus: &ServiceBusReceiver,
        message: ReceivedMessage,
    ) -> Executed {
        bump(&self.stats.invocations);
        let renewal = tokio::spawn(renew_lock(
            bus.clone(),
            message.clone(),
            self.max_lock_renewal,
            self.stats.clone(),
        ));
        let mut invocation = HostInvocation::new(&function.name, &function.binding);
        invocation.data_type = function.data_type;
        let body = host_wire::request_body(&host_message(&message), &invocation);
        let started = Instant::now();
        let (outcome, generation, status, answer) = match self.supervisor.ready().await {
            None => {
                let reason = "the host is stopping".to_string();
                (Outcome::Failed(reason.clone()), None, None, reason)
            }
            Some(ready) => {
                let (outcome, status, answer) = self.call(&ready.base_url, &invocation, body).await;
                (outcome, Some(ready.generation), status, answer)
            }
        };
        let duration = started.elapsed();
        renewal.abort();
        match &outcome {
            Outcome::Succeeded => bump(&self.stats.succeeded),
            Outcome::Failed(_) => bump(&self.stats.failed),
            Outcome::TimedOut => bump(&self.stats.timed_out),
        }
        let inject = outcome == Outcome::Succeeded
            && self.redeliver_after_success > 0.0
            && rand::random::<f64>() < self.redeliver_after_success;
        let complete = match (&outcome, function.auto_complete, inject) {
            (Outcome::Succeeded, true, false) => Some(true),
            (Outcome::Succeeded, false, _) => None,
            (Outcome::Succeeded, true, true) => {
                bump(&self.stats.injected_redeliveries);
                Some(false)
            }
            _ => Some(false),
        };
        // A handler that did not answer is most likely dying: let the supervisor see it go
        // before the message goes back, or its redelivery would be sent to the same dead port.
        if let (Outcome::Failed(reason), Some(generation)) = (&outcome, generation)
            && reason.starts_with(DID_NOT_ANSWER)
        {
            self.supervisor
                .gone_within(generation, Duration::from_secs(2))
                .await;
        }
        // Withdraw the timed-out process before the message goes back: its redelivery must
        // reach the restarted handler, not the one about to be killed.
        if let (Outcome::TimedOut, Some(generation)) = (&outcome, generation) {
            let limit = self
                .function_timeout
                .map(format_timespan)
                .unwrap_or_default();
            self.supervisor.restart(
                generation,
                format!(
                    "Timeout value of {limit} exceeded by function 'Functions.{}'",
                    function.name
                ),
            );
        }
        let settlement = match complete {
            Some(complete) => self.settle(bus, &message, complete).await,
            None => Settlement::LeftToFunction,
        };
        let (verdict, reason) = match &outcome {
            Outcome::Succeeded => ("Succeeded", String::new()),
            Outcome::Failed(r) => ("Failed", format!(": {r}")),
            Outcome::TimedOut => (
                "Failed",
                format!(
                    ": Timeout value of {} was exceeded by function: Functions.{}",
                    self.function_timeout
                        .map(format_timespan)
                        .unwrap_or_default(),
                    function.name
                ),
            ),
        };
        let line = format!(
            "[{}] Executed 'Functions.{}' ({verdict}, Id={}, Duration={}ms) MessageId={}, DeliveryCount={}, SequenceNumber={}; {settlement}{reason}",
            now(),
            function.name,
            invocation.invocation_id,
            duration.as_millis(),
            message.message_id().unwrap_or_default(),
            message.delivery_count(),
            message.sequence_number(),
        );
        (self.log)(&line);
        Executed {
            function: function.name.clone(),
            invocation_id: invocation.invocation_id.clone(),
            message_id: message.message_id().map(str::to_string),
            delivery_count: message.delivery_count(),
            sequence_number: message.sequence_number(),
            status,
            answer,
            outcome,
            settlement,
            duration,
            line,
        }
    }

    /// `POST {base_url}/<function>` within `functionTimeout`: the outcome, the answer's status
    /// and its body (or why there is none).
    async fn call(
        &self,
        base_url: &str,
        invocation: &HostInvocation,
        body: String,
    ) -> (Outcome, Option<u16>, String) {
        let mut request = self.http.post(format!("{base_url}{}", invocation.path()));
        for (name, value) in invocation.headers() {
            request = request.header(name, value);
        }
        let call = async {
            let answer = request.body(body).send().await?;
            let status = answer.status();
            let text = answer.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        let result = match self.function_timeout {
            Some(limit) => tokio::time::timeout(limit, call).await.ok(),
            None => Some(call.await),
        };
        match result {
            None => (Outcome::TimedOut, None, "timed out".to_string()),
            Some(Err(e)) => {
                let reason = format!("{DID_NOT_ANSWER}: {e}");
                (Outcome::Failed(reason.clone()), None, reason)
            }
            Some(Ok((status, text))) if status.is_success() => {
                (Outcome::Succeeded, Some(status.as_u16()), text)
            }
            Some(Ok((status, text))) => (
                Outcome::Failed(format!(
                    "the handler answered {status}: {}",
                    text.chars().take(300).collect::<String>()
                )),
                Some(status.as_u16()),
                text,
            ),
        }
    }

    /// Completes or abandons, retrying while Service Bus is unreachable (up to a minute: the
    /// lock may outlive a restart of the namespace, and a lost lock only means a redelivery).
    async fn settle(
        &self,
        bus: &ServiceBusReceiver,
        message: &ReceivedMessage,
        complete: bool,
    ) -> Settlement {
        let verb = if complete { "completed" } else { "abandoned" };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = if complete {
                bus.complete(message).await
            } else {
                bus.abandon(message).await
            };
            match result {
                Ok(()) if complete => {
                    bump(&self.stats.completed);
                    return Settlement::Completed;
                }
                Ok(()) => {
                    bump(&self.stats.abandoned);
                    return Settlement::Abandoned;
                }
                Err(ReceiveError::LockLost) => {
                    bump(&self.stats.locks_lost);
                    return Settlement::LockLost { verb };
                }
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return Settlement::Failed {
                        verb,
                        error: e.to_string(),
                    };
                }
            }
        }
    }
}

/// One receiver: loops until `stop` turns true.
pub(crate) async fn receive_loop(
    ctx: Arc<Dispatcher>,
    function: Arc<ServiceBusFunction>,
    bus: ServiceBusReceiver,
    receive_wait: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        // Do not take a lock while there is no handler to give the message to.
        let ready = tokio::select! {
            r = ctx.supervisor.ready() => r,
            _ = stop.changed() => return,
        };
        if ready.is_none() {
            return;
        }
        let received = tokio::select! {
            r = bus.peek_lock(&function.entity, receive_wait) => r,
            _ = stop.changed() => return,
        };
        match received {
            Ok(None) => {}
            Ok(Some(message)) => {
                backoff = Duration::from_millis(100);
                ctx.invoke(&function, &bus, message).await;
            }
            Err(e) => {
                bump(&ctx.stats.receive_errors);
                tracing::warn!(function = %function.name, error = %e, "receive failed; retrying in {backoff:?}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn format_timespan(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Renews the lock at half its remaining time until aborted or until `limit` has passed since
/// the message was received.
async fn renew_lock(
    bus: ServiceBusReceiver,
    message: ReceivedMessage,
    limit: Option<Duration>,
    stats: Arc<Stats>,
) {
    let received = Instant::now();
    let mut locked_until = message.broker.locked_until_utc;
    loop {
        let remaining = locked_until
            .map(|u| u - time::OffsetDateTime::now_utc())
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or(Duration::from_secs(1));
        let wait = (remaining / 2).max(Duration::from_millis(200));
        if limit.is_some_and(|l| received.elapsed() + wait > l) {
            return;
        }
        tokio::time::sleep(wait).await;
        match bus.renew(&message).await {
            Ok(until) => {
                bump(&stats.renewals);
                locked_until = until.or(locked_until);
            }
            Err(ReceiveError::LockLost) => return,
            Err(e) => tracing::warn!(error = %e, "lock renewal failed; retrying"),
        }
    }
}
