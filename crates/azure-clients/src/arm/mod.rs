//! Azure Resource Manager over reqwest: retries, long-running operations, the auxiliary header.

mod client;
mod error;
mod lro;
mod retry;

pub use client::{Accepted, ArmClient, MAX_AUXILIARY_TOKENS, PutRequest};
pub use error::{ArmError, ErrorDetail};
pub use lro::{OperationRef, OperationState, OperationStatus, OperationStatusBody, PollKind};
pub(crate) use retry::retry_after as retry_after_header;
pub use retry::{RetryPolicy, parse_retry_after};
