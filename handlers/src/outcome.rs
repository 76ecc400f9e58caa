//! How a step ends when it does not simply hand over to the next step: rejected (bad input),
//! failed (permanent), or transient (retry by redelivery, recorded as failed on the last one).

use azure_clients::arm::ArmError;
use imageferry_contract::{EventError, ReplicationProgress, ValidationErrors};

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
    /// Retrying later may work: the message is abandoned (redelivered) unless this is its last
    /// delivery, which records `failed` with code `RetriesExhausted`.
    #[error("transient: {}: {}", .0.code, .0.message)]
    Transient(EventError),
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

    /// The one place a client failure becomes an outcome: transient (redelivery may help) or
    /// permanent (`failed` at once: the same request gets the same answer). Each client says
    /// which with its own `is_transient` (ARM, Service Bus, Key Vault, the status table); every
    /// step and both rollout functions go through here.
    pub fn classified(transient: bool, error: EventError) -> Self {
        if transient {
            StepError::Transient(error)
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
        StepError::classified(e.is_transient(), error)
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
            matches!(StepError::arm("x", &throttled), StepError::Transient(e) if e.code == "TooManyRequests")
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
