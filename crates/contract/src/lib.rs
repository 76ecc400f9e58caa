//! imageferry's public contract: the `deployment-requested` request, the messages the pipeline
//! steps send each other, the events published on `deployment-events`, their validation and their
//! JSON Schemas (committed under `schemas/`).
//!
//! Trust rule: every message is untrusted input. Unknown fields are refused (naming them: a field
//! named like a Service Bus system property would be copied into the trigger metadata by the
//! Functions host), known fields are validated, and every problem is reported with its JSON path.
//! Every ARM id is a [`ResourceId`], whose segments are checked once.

pub mod duration;
pub mod event;
pub mod fields;
pub mod gallery_version;
pub mod health;
pub mod image_id;
pub mod os_profile;
pub mod request;
pub mod resource_id;
pub mod rollout;
pub mod scale_set;
pub mod schema;
pub mod secret_id;
pub mod steps;
pub mod validate;

mod schema_util;

pub use event::{
    DeploymentEvent, EventError, Status, Step, continuation_message_id, event_message_id,
    rejected_message_id, retry_message_id, step_message_id,
};
pub use gallery_version::{GalleryVersion, GalleryVersionError};
pub use health::{HealthProbe, HealthProtocol};
pub use image_id::{ImageId, ImageIdError};
pub use request::{DeploymentRequest, ImageRef, NetworkSpec, Target, VmSpec, saturating_add};
pub use resource_id::{ResourceId, ResourceIdError};
pub use scale_set::{
    InstanceHealth, ProvisioningMessage, ScaleSetPhase, ScaleSetProvisioning, ScaleSetSpec,
    ScaleSetState, UpgradeMode,
};
pub use secret_id::{SecretId, SecretIdError};
pub use steps::{
    ImageVersionReplicated, OperationKind, PendingOperation, ReplicatedStep, ReplicationCheck,
    ReplicationProgress, VmProvisioning,
};
pub use validate::{ImageFacts, OsState, OsType, Problem, UnknownValue, ValidationErrors};

/// Tag put on every resource imageferry creates; its value is the deployment id.
pub const DEPLOYMENT_TAG: &str = "imageferry-deployment";
