//! Service Bus send errors.

use crate::token::TokenError;

/// Sending a message failed. Status meanings per learn.microsoft.com/rest/api/servicebus/send-message-batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceBusError {
    /// 401: the SAS token or Entra token was refused.
    #[error("Service Bus refused the credentials (HTTP 401) for {entity}: {message}")]
    Unauthorized {
        /// Queue or topic.
        entity: String,
        /// Service message.
        message: String,
    },
    /// 403: quota exceeded or message too large (or the identity lacks *Azure Service Bus Data Sender*).
    #[error(
        "Service Bus forbade the send to {entity} (HTTP 403: quota exceeded, message too large, or missing Data Sender role): {message}"
    )]
    Forbidden {
        /// Queue or topic.
        entity: String,
        /// Service message.
        message: String,
    },
    /// 413: the message is too large.
    #[error("message too large for {entity} (HTTP 413)")]
    TooLarge {
        /// Queue or topic.
        entity: String,
    },
    /// 404/410: the queue or topic does not exist.
    #[error("Service Bus entity {entity} does not exist (HTTP {status})")]
    EntityNotFound {
        /// Queue or topic.
        entity: String,
        /// 404 or 410.
        status: u16,
    },
    /// Another 4xx.
    #[error("Service Bus rejected the message for {entity} (HTTP {status}): {message}")]
    Rejected {
        /// Queue or topic.
        entity: String,
        /// HTTP status.
        status: u16,
        /// Service message.
        message: String,
    },
    /// 5xx or 429 after the retry budget was spent.
    #[error("Service Bus unavailable for {entity} (HTTP {status}) after retries")]
    Unavailable {
        /// Queue or topic.
        entity: String,
        /// HTTP status.
        status: u16,
    },
    /// Network failure after the retry budget was spent, or a namespace host that does not
    /// resolve (permanent).
    #[error("Service Bus request failed: {0}")]
    Transport(crate::http::TransportError),
    /// No Entra token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The message cannot be expressed as REST headers (bad property name or value, bad entity).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
}

impl ServiceBusError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Transport(t) => t.is_transient(),
            Self::Token(t) => t.is_transient(),
            _ => false,
        }
    }
}
