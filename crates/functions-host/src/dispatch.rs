//! Delivering messages: per function, `maxConcurrentCalls` receivers each peek-lock a message,
//! renew its lock while the handler works (up to `maxAutoLockRenewalDuration`), `POST
//! /<function>` in the host's wire format ([`functions_runtime::host_wire`]) within
//! `functionTimeout`, then complete (2xx) or abandon (anything else). A timeout abandons and
//! restarts the handler, as the Functions host does. One log line per invocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use functions_runtime::host_wire::{self, HostInvocation};
use tokio::sync::watch;

use crate::app::ServiceBusFunction;
use crate::bus::{BusClient, BusError, LockedMessage};
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

/// What one receiver needs.
pub(crate) struct Context {
    pub(crate) supervisor: Supervisor,
    pub(crate) http: reqwest::Client,
    pub(crate) function_timeout: Option<Duration>,
    pub(crate) max_lock_renewal: Option<Duration>,
    pub(crate) receive_wait: Duration,
    pub(crate) stats: Arc<Stats>,
    pub(crate) log: LogSink,
    /// Fraction of successful invocations abandoned instead of completed (duplicate deliveries).
    pub(crate) redeliver_after_success: f64,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed(String),
    TimedOut,
}

/// One receiver: loops until `stop` turns true.
pub(crate) async fn receive_loop(
    ctx: Arc<Context>,
    function: Arc<ServiceBusFunction>,
    bus: BusClient,
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
            r = bus.peek_lock(&function.entity, ctx.receive_wait) => r,
            _ = stop.changed() => return,
        };
        match received {
            Ok(None) => {}
            Ok(Some(message)) => {
                backoff = Duration::from_millis(100);
                invoke(&ctx, &function, &bus, message).await;
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

async fn invoke(
    ctx: &Context,
    function: &ServiceBusFunction,
    bus: &BusClient,
    message: LockedMessage,
) {
    bump(&ctx.stats.invocations);
    let renewal = tokio::spawn(renew_lock(
        bus.clone(),
        message.clone(),
        ctx.max_lock_renewal,
        ctx.stats.clone(),
    ));
    let mut invocation = HostInvocation::new(&function.name, &function.binding);
    invocation.data_type = function.data_type;
    let body = host_wire::request_body(&message.host_message(), &invocation);
    let started = Instant::now();
    let (outcome, generation) = match ctx.supervisor.ready().await {
        None => (Outcome::Failed("the host is stopping".into()), None),
        Some(ready) => {
            let mut request = ctx
                .http
                .post(format!("{}{}", ready.base_url, invocation.path()));
            for (name, value) in invocation.headers() {
                request = request.header(name, value);
            }
            let call = async {
                let answer = request.body(body).send().await?;
                let status = answer.status();
                let text = answer.text().await?;
                Ok::<_, reqwest::Error>((status, text))
            };
            let result = match ctx.function_timeout {
                Some(limit) => tokio::time::timeout(limit, call).await.ok(),
                None => Some(call.await),
            };
            let outcome = match result {
                None => Outcome::TimedOut,
                Some(Err(e)) => Outcome::Failed(format!("{DID_NOT_ANSWER}: {e}")),
                Some(Ok((status, _))) if status.is_success() => Outcome::Succeeded,
                Some(Ok((status, text))) => Outcome::Failed(format!(
                    "the handler answered {status}: {}",
                    text.chars().take(300).collect::<String>()
                )),
            };
            (outcome, Some(ready.generation))
        }
    };
    let duration = started.elapsed();
    renewal.abort();
    match &outcome {
        Outcome::Succeeded => bump(&ctx.stats.succeeded),
        Outcome::Failed(_) => bump(&ctx.stats.failed),
        Outcome::TimedOut => bump(&ctx.stats.timed_out),
    }
    let inject = outcome == Outcome::Succeeded
        && ctx.redeliver_after_success > 0.0
        && rand::random::<f64>() < ctx.redeliver_after_success;
    let settlement = match (&outcome, function.auto_complete, inject) {
        (Outcome::Succeeded, true, false) => Some(true),
        (Outcome::Succeeded, false, _) => None,
        (Outcome::Succeeded, true, true) => {
            bump(&ctx.stats.injected_redeliveries);
            Some(false)
        }
        _ => Some(false),
    };
    // A handler that did not answer is most likely dying: let the supervisor see it go before
    // the message goes back, or its redelivery would be sent to the same dead port.
    if let (Outcome::Failed(reason), Some(generation)) = (&outcome, generation)
        && reason.starts_with(DID_NOT_ANSWER)
    {
        ctx.supervisor
            .gone_within(generation, Duration::from_secs(2))
            .await;
    }
    // Withdraw the timed-out process before the message goes back: its redelivery must reach
    // the restarted handler, not the one about to be killed.
    if let (Outcome::TimedOut, Some(generation)) = (&outcome, generation) {
        let limit = ctx
            .function_timeout
            .map(format_timespan)
            .unwrap_or_default();
        ctx.supervisor.restart(
            generation,
            format!(
                "Timeout value of {limit} exceeded by function 'Functions.{}'",
                function.name
            ),
        );
    }
    let settled = match settlement {
        Some(complete) => settle(ctx, bus, &message, complete).await,
        None => "left to the function (autoCompleteMessages: false)".to_string(),
    };
    let (status, reason) = match &outcome {
        Outcome::Succeeded => ("Succeeded", String::new()),
        Outcome::Failed(r) => ("Failed", format!(": {r}")),
        Outcome::TimedOut => (
            "Failed",
            format!(
                ": Timeout value of {} was exceeded by function: Functions.{}",
                ctx.function_timeout
                    .map(format_timespan)
                    .unwrap_or_default(),
                function.name
            ),
        ),
    };
    let line = format!(
        "[{}] Executed 'Functions.{}' ({status}, Id={}, Duration={}ms) MessageId={}, DeliveryCount={}, SequenceNumber={}; {settled}{reason}",
        now(),
        function.name,
        invocation.invocation_id,
        duration.as_millis(),
        message.message_id().unwrap_or_default(),
        message.delivery_count(),
        message.sequence_number(),
    );
    (ctx.log)(&line);
}

/// Completes or abandons, retrying while Service Bus is unreachable (up to a minute: the lock
/// may outlive a restart of the namespace, and a lost lock only means a redelivery).
async fn settle(ctx: &Context, bus: &BusClient, message: &LockedMessage, complete: bool) -> String {
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
            Ok(()) => {
                bump(if complete {
                    &ctx.stats.completed
                } else {
                    &ctx.stats.abandoned
                });
                return verb.to_string();
            }
            Err(BusError::LockLost) => {
                bump(&ctx.stats.locks_lost);
                return format!(
                    "not {verb}: the lock was lost (the message will be delivered again)"
                );
            }
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                return format!(
                    "not {verb}: {e} (the message will be delivered again when its lock expires)"
                );
            }
        }
    }
}

/// Renews the lock at half its remaining time until aborted or until `limit` has passed since
/// the message was received.
async fn renew_lock(
    bus: BusClient,
    message: LockedMessage,
    limit: Option<Duration>,
    stats: Arc<Stats>,
) {
    let received = Instant::now();
    let mut locked_until = message.locked_until();
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
            Err(BusError::LockLost) => return,
            Err(e) => tracing::warn!(error = %e, "lock renewal failed; retrying"),
        }
    }
}
