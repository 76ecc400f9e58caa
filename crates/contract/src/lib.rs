//! imageferry's public contract: the `deployment-requested` request, the messages the pipeline
//! steps send each other, the events published on `deployment-events`, their validation and their
//! JSON Schemas (committed under `schemas/`).
//!
//! Compatibility rule: unknown fields are ignored (producers may be newer than this handler), known
//! fields are validated, and every problem is reported with its JSON path.

pub mod event;
pub mod image_id;
pub mod os_profile;
pub mod request;
pub mod schema;
pub mod steps;
pub mod validate;

mod schema_util;

pub use event::{
    DeploymentEvent, EventError, Status, Step, event_message_id, rejected_message_id,
    step_message_id,
};
pub use image_id::{ImageId, ImageIdError};
pub use request::{DeploymentRequest, ImageRef, NetworkSpec, Target, VmSpec};
pub use steps::{
    ImageVersionReplicated, OperationKind, PendingOperation, ReplicatedStep, ReplicationCheck,
    ReplicationProgress, VmProvisioning,
};
pub use validate::{ImageFacts, OsState, OsType, Problem, ValidationErrors};

/// Tag put on every resource imageferry creates; its value is the deployment id.
pub const DEPLOYMENT_TAG: &str = "imageferry-deployment";
