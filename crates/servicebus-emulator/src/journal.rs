//! What tests look at besides the protocol: every send as it arrived (duplicates included and
//! flagged), every refused send, and a fault switch that refuses the next sends with 503. Kept in
//! memory, per process, while [`EmulatorOptions::journal`](crate::EmulatorOptions::journal) is
//! on; the messages themselves are in the store either way.

use std::collections::BTreeMap;

use azure_clients::servicebus::{BrokerProperties, ReceivedMessage};
use time::OffsetDateTime;

/// One message as a sender sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// Queue or topic the message was sent to.
    pub entity: String,
    /// Arrival number, unique across entities, in arrival order (starts at 1).
    pub sequence_number: i64,
    /// The body as text (lossy for a body that is not UTF-8).
    pub body: String,
    /// `Content-Type` of the send (the message's content type).
    pub content_type: Option<String>,
    /// The `BrokerProperties` sent.
    pub broker: BrokerProperties,
    /// Custom (application) properties.
    pub application_properties: BTreeMap<String, serde_json::Value>,
    /// When the stand-in accepted it.
    pub enqueued_time: OffsetDateTime,
    /// True when duplicate detection dropped it (an earlier message of the entity had its
    /// `MessageId` within the window): recorded here, never delivered.
    pub duplicate: bool,
}

impl SentMessage {
    /// When the message becomes visible: its `ScheduledEnqueueTimeUtc`, or its enqueue time.
    pub fn visible_at(&self) -> OffsetDateTime {
        self.broker
            .scheduled_enqueue_time_utc
            .unwrap_or(self.enqueued_time)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The message as a receiver would get it on delivery `delivery_count` (enqueued at its
    /// visible time, its arrival number as `SequenceNumber`, no lock): for a test that plays the
    /// broker itself, with its own clock.
    pub fn received(&self, delivery_count: u32) -> ReceivedMessage {
        let mut broker = self.broker.clone();
        broker.delivery_count = Some(delivery_count);
        broker.sequence_number = Some(self.sequence_number);
        broker.enqueued_sequence_number = Some(self.sequence_number);
        broker.enqueued_time_utc = Some(self.visible_at());
        broker.state = Some("Active".into());
        ReceivedMessage {
            entity: self.entity.clone(),
            body: self.body.clone().into_bytes(),
            content_type: self.content_type.clone(),
            broker,
            properties: self
                .application_properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            location: None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub(crate) enabled: bool,
    pub(crate) sent: Vec<SentMessage>,
    pub(crate) refused: Vec<(u16, String)>,
    /// Sends still to be refused with 503 (fault injection).
    pub(crate) fail_next: u32,
}
