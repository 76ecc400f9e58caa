//! Long-running operations (learn.microsoft.com/azure/azure-resource-manager/management/async-operations):
//! a 201/202 with `Azure-AsyncOperation` (preferred) or `Location`, polled while honouring `Retry-After`.

use super::error::ErrorDetail;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// How an operation is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PollKind {
    /// `Azure-AsyncOperation`: a status body `{status, error}`; the resource is read with a GET
    /// when it succeeds.
    AzureAsyncOperation,
    /// `Location`: 202 while running, 200/201 (with the resource body) or 204 when done.
    Location,
}

/// A running operation. Serializable, so a step can schedule itself and poll later; the URL is
/// checked against the ARM endpoint every time it is followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationRef {
    /// How to interpret the poll responses.
    pub kind: PollKind,
    /// The status (or Location) URL.
    pub url: String,
    /// The resource path the operation is about (for the final GET).
    pub resource_path: String,
    /// The API version of the resource (for the final GET).
    pub api_version: String,
    /// The `Retry-After` that came with it, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl OperationRef {
    /// The suggested wait before the next poll.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after_secs.map(Duration::from_secs)
    }
}

/// `status` of an operation status body. Anything but `Succeeded`, `Failed` and `Canceled` means
/// still running (the docs allow service-specific values such as `Creating`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    /// `InProgress`.
    InProgress,
    /// `Succeeded`.
    Succeeded,
    /// `Failed`.
    Failed,
    /// `Canceled`.
    Canceled,
    /// Another non-terminal value, kept verbatim.
    Other(String),
}

impl OperationState {
    /// Parses a status string (case-insensitive).
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "inprogress" => Self::InProgress,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "canceled" | "cancelled" => Self::Canceled,
            _ => Self::Other(s.to_owned()),
        }
    }

    /// `Succeeded`, `Failed` or `Canceled`.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }

    /// The status as ARM spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
            Self::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for OperationState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

impl Serialize for OperationState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The operation status body an `Azure-AsyncOperation` URL returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatusBody {
    /// `InProgress`, `Succeeded`, `Failed`, `Canceled` (or a service-specific running state).
    pub status: OperationState,
    /// The error of a failed operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// Progress, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<f64>,
    /// Start time, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End time, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// One poll's result.
#[derive(Debug, Clone)]
pub struct OperationStatus {
    /// Where the operation is.
    pub state: OperationState,
    /// The error of a `Failed`/`Canceled` operation.
    pub error: Option<ErrorDetail>,
    /// `percentComplete`, if reported.
    pub percent_complete: Option<f64>,
    /// When to poll again (`Retry-After`), if given.
    pub retry_after: Option<Duration>,
    /// The final resource body of a finished `Location` operation (200/201 with a body).
    pub resource: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values() {
        let body: OperationStatusBody = serde_json::from_str(
            r#"{"status":"Failed","error":{"code":"AllocationFailed","message":"no capacity"},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(body.status, OperationState::Failed);
        assert_eq!(body.error.unwrap().code, "AllocationFailed");
        assert!(OperationState::parse("Canceled").is_terminal());
        assert!(!OperationState::parse("Creating").is_terminal());
        assert_eq!(OperationState::parse("Creating").as_str(), "Creating");
    }

    #[test]
    fn reference_status_example_parses() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../reference/arm/examples/compute/OperationStatusResultGet.json"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let body: OperationStatusBody =
            serde_json::from_value(v["responses"]["200"]["body"].clone()).unwrap();
        assert_eq!(body.status, OperationState::InProgress);
        assert!(body.percent_complete.is_some());
    }
}
