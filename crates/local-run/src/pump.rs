//! The step-by-step driver: peek-locks one message from the Service Bus stand-in and delivers it
//! with the local Functions host's own delivery code ([`functions_host::Dispatcher::invoke`]:
//! the host's encoding, lock renewal, `functionTimeout`, complete on 2xx, abandon otherwise), so
//! a test sees what `imageferry dev` shows. Redelivery and dead-lettering after the queue's
//! maximum delivery count are the stand-in's, as in Azure (reference/functions/NOTES.md §0.5,
//! §4); scheduled messages become visible at their `ScheduledEnqueueTimeUtc`.

use std::time::Duration;

use azure_clients::servicebus::ServiceBusReceiver;
use functions_host::{Dispatcher, Executed, ServiceBusFunction};
use servicebus_emulator::{EmulatorHandle, EntityCounts, SentMessage};

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// 2xx: the trigger completed the message.
    Completed,
    /// Non-2xx or no answer: abandoned, to be redelivered.
    Abandoned,
    /// Abandoned on its last allowed delivery: the stand-in moved it to the dead-letter queue.
    DeadLettered,
    /// Not settled (the lock was lost, or left to the function): the host's words.
    NotSettled(String),
}

/// One delivery attempt.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message's `SequenceNumber` in the stand-in.
    pub sequence_number: i64,
    /// The queue (or subscription, or dead-letter queue) it came from.
    pub queue: String,
    /// Function invoked.
    pub function: String,
    /// `MessageId`.
    pub message_id: Option<String>,
    /// `DeliveryCount` the handler got (1 for the first delivery).
    pub delivery_count: u32,
    /// HTTP status of the handler's answer (0 when it did not answer).
    pub status: u16,
    /// The handler's answer body.
    pub answer: String,
    /// The outcome.
    pub settlement: Settlement,
    /// The host's log line for it.
    pub line: String,
}

/// The driver.
pub struct Pump {
    bus: EmulatorHandle,
    receiver: ServiceBusReceiver,
    dispatcher: Dispatcher,
    functions: Vec<ServiceBusFunction>,
    history: Vec<Delivery>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Pump {
    /// A driver delivering `functions`' messages from `bus` through `dispatcher`.
    pub fn new(
        bus: EmulatorHandle,
        receiver: ServiceBusReceiver,
        dispatcher: Dispatcher,
        functions: Vec<ServiceBusFunction>,
    ) -> Self {
        Self {
            bus,
            receiver,
            dispatcher,
            functions,
            history: Vec::new(),
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

    fn entities(&self) -> Vec<&str> {
        self.functions.iter().map(|f| f.entity.as_str()).collect()
    }

    /// The functions' entities that still hold messages (visible, scheduled or locked).
    pub fn pending(&self) -> Vec<EntityCounts> {
        let entities = self.entities();
        self.bus
            .counts()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| entities.iter().any(|e| e.eq_ignore_ascii_case(&c.entity)))
            .filter(|c| c.active + c.scheduled + c.locked > 0)
            .collect()
    }

    /// When the next message is due, unix ms, and from which function (`None`: nothing waits).
    fn next_due(&self) -> Option<(usize, i64)> {
        self.bus.next_due(&self.entities()).ok().flatten()
    }

    /// Delivers the message that is due first, if one is due now.
    pub async fn deliver_next(&mut self) -> Option<Delivery> {
        let (index, due) = self.next_due()?;
        if due > now_ms() {
            return None;
        }
        let function = self.functions[index].clone();
        self.deliver_from(&function).await
    }

    /// Delivers `message`, which must be the next one of its queue (a test that wants one
    /// message delivered before the others); panics when the stand-in gives another.
    pub async fn deliver(&mut self, message: &SentMessage) -> Delivery {
        let function = self
            .functions
            .iter()
            .find(|f| f.entity.eq_ignore_ascii_case(&message.entity))
            .unwrap_or_else(|| panic!("no function is triggered by {}", message.entity))
            .clone();
        let delivery = self
            .deliver_from(&function)
            .await
            .unwrap_or_else(|| panic!("no message waits on {}", message.entity));
        assert_eq!(
            delivery.message_id, message.broker.message_id,
            "the stand-in delivered another message of {} first",
            message.entity
        );
        delivery
    }

    /// Peek-locks one message of `function`'s entity and delivers it.
    async fn deliver_from(&mut self, function: &ServiceBusFunction) -> Option<Delivery> {
        let message = match self
            .receiver
            .peek_lock(&function.entity, Duration::ZERO)
            .await
        {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e) => {
                eprintln!("local-run: receiving from {}: {e}", function.entity);
                return None;
            }
        };
        let queue = message.entity.clone();
        let executed = self
            .dispatcher
            .invoke(function, &self.receiver, message)
            .await;
        let delivery = self.record(queue, executed);
        Some(delivery)
    }

    fn record(&mut self, queue: String, executed: Executed) -> Delivery {
        let settlement = match &executed.settlement {
            functions_host::Settlement::Completed => Settlement::Completed,
            functions_host::Settlement::Abandoned => {
                let dead = self
                    .bus
                    .whereabouts(executed.sequence_number)
                    .ok()
                    .flatten()
                    .is_some_and(|w| w.dead_letter);
                if dead {
                    Settlement::DeadLettered
                } else {
                    Settlement::Abandoned
                }
            }
            other => Settlement::NotSettled(other.to_string()),
        };
        let delivery = Delivery {
            sequence_number: executed.sequence_number,
            queue,
            function: executed.function,
            message_id: executed.message_id,
            delivery_count: executed.delivery_count,
            status: executed.status.unwrap_or(0),
            answer: executed.answer,
            settlement,
            line: executed.line,
        };
        self.history.push(delivery.clone());
        delivery
    }

    /// Delivers messages as they become due until `done` holds or `timeout` passes. Returns
    /// true when `done` held.
    pub async fn run_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&EmulatorHandle) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.bus) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            if self.deliver_next().await.is_none() {
                let wait = self
                    .next_due()
                    .map(|(_, due)| Duration::from_millis((due - now_ms()).max(0) as u64))
                    .unwrap_or(Duration::from_millis(20))
                    .clamp(Duration::from_millis(5), Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
        }
    }
}
