//! Service Bus over the REST protocol: the sender, the receiver (peek-lock, complete, abandon,
//! renew, dead-letter sub-queues) and the `BrokerProperties` header they and the local stand-in
//! share.
//!
//! Why not `azure_messaging_servicebus` 0.21: it authenticates with SAS only and builds
//! `https://{namespace}.servicebus.windows.net` itself, so it can neither use Entra tokens for an
//! identity-based connection (`ServiceBusConnection__fullyQualifiedNamespace`) nor address the
//! Service Bus emulator or the local stand-in over plain http. The REST send operation is one POST.

mod access;
mod broker_properties;
mod connection;
mod error;
mod message;
mod receiver;
mod sas;
mod sender;

pub use broker_properties::{
    BrokerProperties, BrokerPropertiesError, DEAD_LETTER_QUEUE, dead_letter_path, parse_rfc1123,
    property_value, rfc1123, split_dead_letter,
};
pub use connection::ServiceBusConnection;
pub use error::ServiceBusError;
pub use message::OutgoingMessage;
pub use receiver::{ReceiveError, ReceivedMessage, ServiceBusReceiver};
pub use sas::sas_token;
pub use sender::ServiceBusSender;
