//! ARM errors: the standard `{error:{code,message,details}}` body mapped to typed variants.

use crate::http::TransportError;
use crate::token::TokenError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// ARM's error detail (`ErrorDetail` in common-types v3, `ApiError` in compute common types).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Error code, e.g. `LinkedAuthorizationFailed`.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The property the error is about, e.g. `vmSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

impl ErrorDetail {
    /// Parses an ARM error body: `{"error": {...}}`, or a bare `{code, message}`.
    pub fn parse(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Envelope {
            error: ErrorDetail,
        }
        if let Ok(e) = serde_json::from_slice::<Envelope>(body) {
            return Some(e.error);
        }
        serde_json::from_slice::<ErrorDetail>(body)
            .ok()
            .filter(|e| !e.code.is_empty())
    }

    /// This detail and all nested ones, depth first.
    fn all(&self) -> Vec<&ErrorDetail> {
        let mut out = vec![self];
        for d in &self.details {
            out.extend(d.all());
        }
        out
    }
}

/// An ARM request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArmError {
    /// 403 `LinkedAuthorizationFailed`: the image in tenant 1 could not be read on behalf of tenant 2.
    #[error("LinkedAuthorizationFailed: {message}")]
    LinkedAuthorizationFailed {
        /// ARM's message.
        message: String,
    },
    /// 401 `InvalidAuthenticationTokenTenant`: the token is from the wrong tenant.
    #[error("InvalidAuthenticationTokenTenant: {message}")]
    InvalidAuthenticationTokenTenant {
        /// ARM's message.
        message: String,
    },
    /// 403 `AuthorizationFailed`: the app has no role allowing the action.
    #[error("AuthorizationFailed: {message}")]
    AuthorizationFailed {
        /// ARM's message.
        message: String,
    },
    /// Another 401 (expired/invalid token and the like).
    #[error("{code} (HTTP 401): {message}")]
    Unauthenticated {
        /// ARM's code.
        code: String,
        /// ARM's message.
        message: String,
    },
    /// 404 / `ResourceNotFound` / `ResourceGroupNotFound` / `NotFound`.
    #[error("{code}: {message}")]
    NotFound {
        /// ARM's code.
        code: String,
        /// ARM's message.
        message: String,
    },
    /// 409 / `Conflict`: e.g. another operation is in progress on the resource.
    #[error("{code} (HTTP 409): {message}")]
    Conflict {
        /// ARM's code.
        code: String,
        /// ARM's message.
        message: String,
    },
    /// Quota exhausted (`QuotaExceeded`, or `OperationNotAllowed` about quota).
    #[error("{code}: {message}")]
    QuotaExceeded {
        /// ARM's code.
        code: String,
        /// ARM's message.
        message: String,
    },
    /// `SkuNotAvailable`: the VM size is not offered in the region/zone for this subscription.
    #[error("SkuNotAvailable: {message}")]
    SkuNotAvailable {
        /// ARM's message.
        message: String,
    },
    /// `InvalidParameter` about the VM size.
    #[error("InvalidParameter (vmSize): {message}")]
    InvalidVmSize {
        /// ARM's message.
        message: String,
    },
    /// `AllocationFailed`, `ZonalAllocationFailed`, `OverconstrainedAllocationRequest`: Azure has
    /// no capacity for this size in the region or zone right now; worth a retry later.
    #[error("{code}: {message}")]
    Capacity {
        /// ARM's code.
        code: String,
        /// ARM's message.
        message: String,
    },
    /// `OSProvisioningTimedOut`: the guest did not report ready in time. The VM may still finish;
    /// usually the image was not generalized properly (or is specialized but marked generalized).
    #[error("OSProvisioningTimedOut: {message}")]
    OsProvisioningTimedOut {
        /// ARM's message.
        message: String,
    },
    /// `LinkedAccessCheckFailed`: the app may write the NIC but not join the (existing) subnet.
    #[error("LinkedAccessCheckFailed: {message}")]
    LinkedAccessCheckFailed {
        /// ARM's message.
        message: String,
    },
    /// `VMMarketplaceInvalidInput`: the image comes from a Marketplace image with a plan and the
    /// VM PUT carried no (or another) `plan`.
    #[error("VMMarketplaceInvalidInput: {message}")]
    MarketplacePlanRequired {
        /// ARM's message.
        message: String,
    },
    /// `MarketplacePurchaseEligibilityFailed` / `ResourcePurchaseValidationFailed`: the target
    /// subscription has not accepted the plan's terms (or cannot purchase it).
    #[error("{code}: {message}")]
    MarketplaceTermsNotAccepted {
        /// ARM's code.
        code: String,
        /// ARM's message (with the inner details).
        message: String,
    },
    /// Another 4xx with an ARM error body.
    #[error("{code} (HTTP {status}): {message}")]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// ARM's code.
        code: String,
        /// ARM's message.
        message: String,
        /// ARM's target, if any.
        target: Option<String>,
    },
    /// 429 after the retry budget was spent; `retry_after` is what ARM asked for.
    #[error("throttled by ARM (HTTP 429){}", retry_after_text(.retry_after))]
    Throttled {
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
        /// ARM's message, if any.
        message: String,
    },
    /// 5xx after the retry budget was spent.
    #[error("ARM server error (HTTP {status}) {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// ARM's code, if any.
        code: String,
        /// ARM's message, if any.
        message: String,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The long-running operation ended `Failed` or `Canceled`.
    #[error("operation {state}: {code}: {message}")]
    OperationFailed {
        /// `Failed` or `Canceled`.
        state: String,
        /// The operation's error code.
        code: String,
        /// The operation's error message.
        message: String,
    },
    /// The long-running operation did not finish within the policy's `operation_timeout`.
    #[error("operation still running after {0:?}")]
    OperationTimeout(Duration),
    /// No token could be obtained.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// More than three auxiliary tenants were requested.
    #[error(
        "{0} auxiliary tenants requested; ARM accepts at most 3 in x-ms-authorization-auxiliary"
    )]
    TooManyAuxiliaryTokens(usize),
    /// A URL from a response (operation status, Location, nextLink) points away from the ARM endpoint.
    #[error("refusing to follow {url}: not on the configured ARM endpoint {expected}")]
    UntrustedUrl {
        /// The URL that was refused.
        url: String,
        /// The configured ARM endpoint.
        expected: String,
    },
    /// Connection failure or timeout after the retry budget was spent, or a host that does not
    /// resolve (not retried: see [`TransportError`]).
    #[error("ARM request failed: {0}")]
    Transport(TransportError),
    /// A response body did not match the model.
    #[error("unexpected ARM response: {0}")]
    Decode(String),
    /// A request could not be built (bad path, body not serializable).
    #[error("invalid ARM request: {0}")]
    InvalidRequest(String),
}

fn retry_after_text(d: &Option<Duration>) -> String {
    d.map(|d| format!("; retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

impl ArmError {
    /// Maps a non-success response (status + body) to a typed error.
    pub(crate) fn from_response(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let detail = ErrorDetail::parse(body).unwrap_or_else(|| ErrorDetail {
            code: String::new(),
            message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
            ..Default::default()
        });
        match status {
            429 => Self::Throttled {
                retry_after,
                message: detail.message,
            },
            s if s >= 500 => Self::Server {
                status,
                code: detail.code,
                message: detail.message,
                retry_after,
            },
            _ => Self::classify(&detail).unwrap_or_else(|| {
                let ErrorDetail {
                    code,
                    message,
                    target,
                    ..
                } = detail;
                match status {
                    401 => Self::Unauthenticated { code, message },
                    404 => Self::NotFound {
                        code: if code.is_empty() {
                            "NotFound".into()
                        } else {
                            code
                        },
                        message,
                    },
                    409 => Self::Conflict {
                        code: if code.is_empty() {
                            "Conflict".into()
                        } else {
                            code
                        },
                        message,
                    },
                    _ => Self::BadRequest {
                        status,
                        code,
                        message,
                        target,
                    },
                }
            }),
        }
    }

    /// The error of a long-running operation that ended `Failed` or `Canceled`: the same classes
    /// as a synchronous answer (a VM create that fails with `AllocationFailed` is
    /// [`ArmError::Capacity`] either way), else [`ArmError::OperationFailed`].
    pub fn from_operation(state: &str, detail: &ErrorDetail) -> Self {
        Self::classify(detail).unwrap_or_else(|| Self::OperationFailed {
            state: state.to_owned(),
            code: detail.code.clone(),
            message: detail.message.clone(),
        })
    }

    /// The one place ARM error codes become classes (this detail or any nested one decides).
    /// `None` when no code is known to this crate.
    fn classify(detail: &ErrorDetail) -> Option<Self> {
        let all = detail.all();
        let has = |c: &str| all.iter().any(|d| d.code.eq_ignore_ascii_case(c));
        let code = detail.code.clone();
        // The top-level message plus the nested ones (Marketplace errors put the reason inside).
        let message = || {
            let mut m = detail.message.clone();
            for d in all.iter().skip(1).filter(|d| !d.message.is_empty()) {
                m.push_str(" / ");
                m.push_str(&d.message);
            }
            m
        };
        let quota_text = detail.message.to_ascii_lowercase().contains("quota");
        Some(if has("LinkedAuthorizationFailed") {
            Self::LinkedAuthorizationFailed { message: message() }
        } else if has("LinkedAccessCheckFailed") {
            Self::LinkedAccessCheckFailed { message: message() }
        } else if has("InvalidAuthenticationTokenTenant") {
            Self::InvalidAuthenticationTokenTenant { message: message() }
        } else if has("AuthorizationFailed") {
            Self::AuthorizationFailed { message: message() }
        } else if has("QuotaExceeded") || (has("OperationNotAllowed") && quota_text) {
            Self::QuotaExceeded {
                code,
                message: message(),
            }
        } else if has("SkuNotAvailable") {
            Self::SkuNotAvailable { message: message() }
        } else if let Some(d) = all.iter().find(|d| {
            [
                "AllocationFailed",
                "ZonalAllocationFailed",
                "OverconstrainedAllocationRequest",
            ]
            .iter()
            .any(|c| d.code.eq_ignore_ascii_case(c))
        }) {
            Self::Capacity {
                code: d.code.clone(),
                message: message(),
            }
        } else if has("OSProvisioningTimedOut") {
            Self::OsProvisioningTimedOut { message: message() }
        } else if has("VMMarketplaceInvalidInput") {
            Self::MarketplacePlanRequired { message: message() }
        } else if has("MarketplacePurchaseEligibilityFailed")
            || has("ResourcePurchaseValidationFailed")
        {
            Self::MarketplaceTermsNotAccepted {
                code,
                message: message(),
            }
        } else if all.iter().any(|d| {
            d.code.eq_ignore_ascii_case("InvalidParameter")
                && d.target
                    .as_deref()
                    .is_some_and(|t| t.to_ascii_lowercase().contains("vmsize"))
        }) {
            Self::InvalidVmSize { message: message() }
        } else if has("ResourceNotFound") || has("ResourceGroupNotFound") {
            Self::NotFound {
                code,
                message: message(),
            }
        } else if has("Conflict") {
            Self::Conflict {
                code,
                message: message(),
            }
        } else {
            return None;
        })
    }

    /// Whether Azure lacked capacity for the VM size (allocation failures, `SkuNotAvailable`):
    /// worth trying again later, or with another size or region.
    pub fn is_capacity(&self) -> bool {
        matches!(self, Self::Capacity { .. } | Self::SkuNotAvailable { .. })
    }

    /// Whether retrying later may succeed (throttling, server errors, network, token endpoint down,
    /// a conflicting operation in progress).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Server { .. } | Self::OperationTimeout(_) => true,
            Self::Transport(t) => t.is_transient(),
            // e.g. `AnotherOperationInProgress`, `OperationPreempted`, `RetryableError`.
            Self::Conflict { code, .. } => {
                let c = code.to_ascii_lowercase();
                c.contains("inprogress") || c.contains("retryable") || c.contains("preempted")
            }
            Self::Token(t) => t.is_transient(),
            _ => false,
        }
    }

    /// How long ARM asked to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The ARM error code (or a name for errors that are not ARM's).
    pub fn code(&self) -> &str {
        match self {
            Self::LinkedAuthorizationFailed { .. } => "LinkedAuthorizationFailed",
            Self::InvalidAuthenticationTokenTenant { .. } => "InvalidAuthenticationTokenTenant",
            Self::AuthorizationFailed { .. } => "AuthorizationFailed",
            Self::SkuNotAvailable { .. } => "SkuNotAvailable",
            Self::InvalidVmSize { .. } => "InvalidParameter",
            Self::OsProvisioningTimedOut { .. } => "OSProvisioningTimedOut",
            Self::LinkedAccessCheckFailed { .. } => "LinkedAccessCheckFailed",
            Self::MarketplacePlanRequired { .. } => "VMMarketplaceInvalidInput",
            Self::Unauthenticated { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::QuotaExceeded { code, .. }
            | Self::Capacity { code, .. }
            | Self::MarketplaceTermsNotAccepted { code, .. }
            | Self::BadRequest { code, .. }
            | Self::OperationFailed { code, .. } => code,
            Self::Throttled { .. } => "TooManyRequests",
            Self::Server { code, .. } if !code.is_empty() => code,
            Self::Server { .. } => "ServerError",
            Self::OperationTimeout(_) => "OperationTimeout",
            Self::Token(_) => "TokenError",
            Self::TooManyAuxiliaryTokens(_) => "TooManyAuxiliaryTokens",
            Self::UntrustedUrl { .. } => "UntrustedUrl",
            Self::Transport(TransportError::HostNotFound { .. }) => "HostNotFound",
            Self::Transport(_) => "Transport",
            Self::Decode(_) => "Decode",
            Self::InvalidRequest(_) => "InvalidRequest",
        }
    }

    /// What to do about it, for the errors whose fix is known.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::LinkedAuthorizationFailed { message } => {
                let m = message.to_ascii_lowercase();
                if m.contains("linked subscription")
                    || m.contains("not authorized to access linked")
                {
                    "the auxiliary token for the image's tenant (tenant 1) was missing or not accepted: send x-ms-authorization-auxiliary with a tenant-1 ARM token, and make sure the app is consented in tenant 1"
                } else {
                    "the app lacks read access to the image in tenant 1: assign it the Reader role on the gallery (or image definition) in tenant 1"
                }
            }
            Self::InvalidAuthenticationTokenTenant { .. } => {
                "the token is from the wrong tenant: the primary token must come from the tenant that owns the target subscription (tenant 2), which requires admin consent of the app in tenant 2; the gallery's tenant goes in the auxiliary header"
            }
            Self::AuthorizationFailed { .. } => {
                "the app has no role allowing this action: Contributor on the target resource group in tenant 2 for creating resources, Reader on the gallery in tenant 1 for reading images"
            }
            Self::QuotaExceeded { .. } => {
                "the subscription's vCPU/resource quota is exhausted in this region: request a quota increase, choose a smaller VM size or another region"
            }
            Self::SkuNotAvailable { .. } | Self::InvalidVmSize { .. } => {
                "this VM size is not available for the subscription in this region (or zone) now: retry later, or pick another size (az vm list-skus --location <region>) or region"
            }
            Self::Capacity { .. } => {
                "Azure has no capacity for this VM size in this region or zone right now (https://aka.ms/allocation-guidance): retry later, or choose another size or region"
            }
            Self::OsProvisioningTimedOut { .. } => {
                "the guest OS did not report ready in time; the VM may still finish provisioning (check its provisioningState later). This usually means the image was not generalized properly (run waagent -deprovision+user on Linux or sysprep /generalize /oobe on Windows before capturing), or a specialized image is published as generalized"
            }
            Self::LinkedAccessCheckFailed { .. } => {
                "the app may create the network interface but not join the subnet: in tenant 2, grant it a role with Microsoft.Network/virtualNetworks/subnets/join/action (Network Contributor, or a custom role) on the subnet, its virtual network or their resource group"
            }
            Self::MarketplacePlanRequired { .. } => {
                "the image was built from a Marketplace image with a purchase plan: the VM must carry the same plan {name, publisher, product} as the image definition's purchasePlan"
            }
            Self::MarketplaceTermsNotAccepted { .. } => {
                "the target subscription has not accepted the Marketplace terms of the image's plan: in tenant 2, run az vm image terms accept --publisher <publisher> --offer <product> --plan <name> --subscription <target subscription> (the values of the image definition's purchasePlan), then send the request again"
            }
            Self::TooManyAuxiliaryTokens(_) => {
                "ARM accepts at most three auxiliary tenants per request"
            }
            Self::NotFound { code, .. } if code.eq_ignore_ascii_case("GalleryImageNotFound") => {
                "Azure does not offer the image version in this region yet: its replication there must be Completed (and a version still being created or updated may not be usable yet); wait and send the request again, or choose a region the version is replicated to"
            }
            Self::Token(t) => return t.hint(),
            Self::Transport(TransportError::HostNotFound { host, .. }) => {
                return Some(format!(
                    "the ARM host {host} does not resolve: check IMAGEFERRY_ARM_ENDPOINT / IMAGEFERRY_CLOUD, and the DNS the app uses (a private DNS zone or custom DNS server of its virtual network)"
                ));
            }
            Self::OperationFailed { .. } => return None,
            _ => return None,
        };
        Some(hint.to_owned())
    }
}
