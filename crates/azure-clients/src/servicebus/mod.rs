//! Service Bus sender over the REST protocol.
//!
//! Why not `azure_messaging_servicebus` 0.21: it authenticates with SAS only and builds
//! `https://{namespace}.servicebus.windows.net` itself, so it can neither use Entra tokens for an
//! identity-based connection (`ServiceBusConnection__fullyQualifiedNamespace`) nor address the
//! Service Bus emulator or a local capture over plain http. The REST send operation is one POST.

mod connection;
mod error;
mod message;
mod sas;
mod sender;

pub use connection::ServiceBusConnection;
pub use error::ServiceBusError;
pub use message::{OutgoingMessage, rfc1123};
pub use sas::sas_token;
pub use sender::ServiceBusSender;
