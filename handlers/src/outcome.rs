//! How a step ends when it does not simply hand over to the next step: rejected (bad input),
//! failed (permanent), or transient (a scheduled retry, recorded as failed once the outage budget
//! is spent: see [`crate::retry`]).

use azure_clients::arm::ArmError;
use imageferry_contract::{EventError, ReplicationProgress, ValidationErrors};
use std::time::Duration;

/// Why a step stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// The request is invalid or not allowed: `rejected`, the message completes.
    #[error("rejected: {0:?}")]
    Rejected(EventError),
    /// A permanent error: `failed`, the message completes.
    #[error("failed: {}: {}", .error.code, .error.message)]
    Failed {
        /// What happened and how to fix it.
        error: EventError,
        /// Replication progress last seen, for deadline failures.
        progress: Option<Box<ReplicationProgress>>,
    },
    /// Retrying later may work: the step schedules its own retry (honouring `retry_after`)
    /// until the outage budget is spent, which records `failed` with code `RetriesExhausted`.
    #[error("transient: {}: {}", .error.code, .error.message)]
    Transient {
        /// What happened.
        error: EventError,
        /// How long the service asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
}

impl StepError {
    /// A rejection.
    pub fn rejected(code: &str, message: impl Into<String>, hint: Option<String>) -> Self {
        StepError::Rejected(EventError {
            code: code.into(),
            message: message.into(),
            hint,
        })
    }

    /// A permanent failure.
    pub fn failed(code: &str, message: impl Into<String>, hint: Option<String>) -> Self {
        StepError::Failed {
            error: EventError {
                code: code.into(),
                message: message.into(),
                hint,
            },
            progress: None,
        }
    }

    /// A validation failure: every problem with its JSON path.
    pub fn invalid(errors: &ValidationErrors) -> Self {
        StepError::rejected(
            "ValidationFailed",
            errors.to_string(),
            Some("fix the listed fields and send the request again".into()),
        )
    }

    /// A transient failure without a `Retry-After`.
    pub fn transient(error: EventError) -> Self {
        StepError::Transient {
            error,
            retry_after: None,
        }
    }

    /// The one place a client failure becomes an outcome: transient (a retry may help) or
    /// permanent (`failed` at once: the same request gets the same answer). Each client says
    /// which with its own `is_transient` (ARM, Service Bus, Key Vault, the status table); every
    /// step and both rollout functions go through here.
    pub fn classified(transient: bool, error: EventError) -> Self {
        if transient {
            StepError::transient(error)
        } else {
            StepError::Failed {
                error,
                progress: None,
            }
        }
    }

    /// Maps an ARM error met while `doing` something: transient or permanent, with ARM's code
    /// and a hint.
    pub fn arm(doing: &str, e: &ArmError) -> Self {
        let error = EventError {
            code: arm_code(e),
            message: format!("{doing}: {e}"),
            hint: e.hint(),
        };
        match StepError::classified(e.is_transient(), error) {
            StepError::Transient { error, .. } => StepError::Transient {
                error,
                retry_after: e.retry_after(),
            },
            other => other,
        }
    }
}

/// The code to report for an ARM error (token errors get their own names).
fn arm_code(e: &ArmError) -> String {
    match e {
        ArmError::Token(t) => t.code(),
        other => other.code().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_errors_split_into_transient_and_permanent() {
        let throttled = ArmError::Throttled {
            retry_after: None,
            message: String::new(),
        };
        assert!(
            matches!(StepError::arm("x", &throttled), StepError::Transient { error, .. } if error.code == "TooManyRequests")
        );
        let asked = ArmError::Throttled {
            retry_after: Some(std::time::Duration::from_secs(7)),
            message: String::new(),
        };
        assert!(
            matches!(StepError::arm("x", &asked), StepError::Transient { retry_after: Some(d), .. } if d.as_secs() == 7)
        );
        let denied = ArmError::AuthorizationFailed {
            message: "no".into(),
        };
        match StepError::arm("reading the image", &denied) {
            StepError::Failed { error, .. } => {
                assert_eq!(error.code, "AuthorizationFailed");
                assert!(error.message.starts_with("reading the image: "));
                assert!(error.hint.unwrap().contains("Reader"));
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
}
