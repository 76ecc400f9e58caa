//! Delivers captured queue messages to the handler the way the Functions host does.
//!
//! Peek-lock, as the Service Bus trigger with `autoCompleteMessages: true` settles messages
//! (reference/functions/NOTES.md §0.5, §4): a 2xx answer completes the message; any other answer
//! (or no answer) abandons it, and it comes back with its delivery count raised by one, until the
//! queue's maximum delivery count, after which it is dead-lettered with
//! `MaxDeliveryCountExceeded`. Scheduled messages become visible at `ScheduledEnqueueTimeUtc`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use functions_runtime::host_wire::{self, HostInvocation};
use servicebus_capture::{CaptureHandle, CapturedMessage};
use time::OffsetDateTime;

use crate::app_root::QueueFunction;

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// 2xx: the trigger completed the message.
    Completed,
    /// Non-2xx or no answer: abandoned, to be redelivered.
    Abandoned,
    /// Abandoned on its last allowed delivery.
    DeadLettered,
}

/// One delivery attempt.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Capture sequence number of the message.
    pub sequence_number: i64,
    /// Queue.
    pub queue: String,
    /// Function invoked.
    pub function: String,
    /// Delivery count sent to the handler (1 for the first delivery).
    pub delivery_count: u32,
    /// HTTP status of the handler's answer (0 when it did not answer).
    pub status: u16,
    /// The handler's answer body.
    pub answer: String,
    /// The outcome.
    pub settlement: Settlement,
}

#[derive(Debug, Default, Clone)]
struct LockState {
    deliveries: u32,
    settled: bool,
    visible_at: Option<OffsetDateTime>,
}

/// The delivery loop.
pub struct Pump {
    capture: CaptureHandle,
    handler_url: String,
    by_queue: HashMap<String, QueueFunction>,
    http: reqwest::Client,
    locks: BTreeMap<i64, LockState>,
    history: Vec<Delivery>,
    /// Maximum delivery count of every queue (Service Bus default 10).
    pub max_delivery_count: u32,
    /// Delay before an abandoned message is visible again.
    pub redelivery_delay: Duration,
    /// When false, scheduled messages are delivered at once (tests that do not care about time).
    pub honour_schedule: bool,
}

impl Pump {
    /// A pump delivering the capture's messages for `functions` to the handler at `handler_url`.
    pub fn new(capture: CaptureHandle, handler_url: String, functions: &[QueueFunction]) -> Self {
        Self {
            capture,
            handler_url,
            by_queue: functions
                .iter()
                .map(|f| (f.queue.clone(), f.clone()))
                .collect(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(360))
                .build()
                .expect("reqwest client"),
            locks: BTreeMap::new(),
            history: Vec::new(),
            max_delivery_count: 10,
            redelivery_delay: Duration::from_millis(50),
            honour_schedule: true,
        }
    }

    /// Every delivery so far.
    pub fn history(&self) -> &[Delivery] {
        &self.history
    }

    /// Messages dead-lettered so far.
    pub fn dead_letters(&self) -> Vec<&Delivery> {
        self.history
            .iter()
            .filter(|d| d.settlement == Settlement::DeadLettered)
            .collect()
    }

    /// Messages waiting on function queues (not yet settled), with when they become visible.
    pub fn pending(&mut self) -> Vec<(CapturedMessage, OffsetDateTime)> {
        let mut out = Vec::new();
        for m in self.capture.all() {
            if m.duplicate || !self.by_queue.contains_key(&m.entity) {
                continue;
            }
            let lock = self.locks.entry(m.sequence_number).or_default();
            if lock.settled {
                continue;
            }
            let at = if self.honour_schedule {
                lock.visible_at.unwrap_or_else(|| m.visible_at())
            } else {
                OffsetDateTime::UNIX_EPOCH
            };
            out.push((m, at));
        }
        out.sort_by_key(|(m, at)| (*at, m.sequence_number));
        out
    }

    /// Delivers the earliest visible message, if one is visible now.
    pub async fn deliver_next(&mut self) -> Option<Delivery> {
        let now = OffsetDateTime::now_utc();
        let (message, _) = self.pending().into_iter().find(|(_, at)| *at <= now)?;
        Some(self.deliver(&message).await)
    }

    /// Delivers `message` once to its function, whatever its schedule, and settles it.
    pub async fn deliver(&mut self, message: &CapturedMessage) -> Delivery {
        let function = self.by_queue[&message.entity].clone();
        let lock = self.locks.entry(message.sequence_number).or_default();
        lock.deliveries += 1;
        let delivery_count = lock.deliveries;
        let invocation = HostInvocation::new(&function.function, &function.binding);
        let body = host_wire::request_body(&message.host_message(delivery_count), &invocation);
        let mut request = self
            .http
            .post(format!("{}{}", self.handler_url, invocation.path()));
        for (name, value) in invocation.headers() {
            request = request.header(name, value);
        }
        let answer = request.body(body).send().await;
        let (status, text) = match answer {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        let lock = self
            .locks
            .get_mut(&message.sequence_number)
            .expect("lock just made");
        let settlement = if (200..300).contains(&status) {
            lock.settled = true;
            Settlement::Completed
        } else if delivery_count >= self.max_delivery_count {
            lock.settled = true;
            Settlement::DeadLettered
        } else {
            lock.visible_at = Some(OffsetDateTime::now_utc() + self.redelivery_delay);
            Settlement::Abandoned
        };
        let delivery = Delivery {
            sequence_number: message.sequence_number,
            queue: message.entity.clone(),
            function: function.function,
            delivery_count,
            status,
            answer: text,
            settlement,
        };
        self.history.push(delivery.clone());
        delivery
    }

    /// Delivers messages as they become visible until `done` holds or `timeout` passes.
    /// Returns true when `done` held.
    pub async fn run_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&CaptureHandle) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.capture) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            if self.deliver_next().await.is_none() {
                let wait = self
                    .pending()
                    .first()
                    .map(|(_, at)| *at - OffsetDateTime::now_utc())
                    .and_then(|d| Duration::try_from(d).ok())
                    .unwrap_or(Duration::from_millis(20))
                    .clamp(Duration::from_millis(5), Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
        }
    }
}
