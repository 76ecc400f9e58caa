//! JSON Schemas of the public messages and events, as committed under `schemas/`.

use crate::{
    DeploymentEvent, DeploymentRequest, ImageVersionReplicated, ReplicationCheck, VmProvisioning,
};
use schemars::{Schema, schema_for};

/// A schema and the file name it is published under.
pub struct SchemaFile {
    /// File name under `schemas/`, e.g. `deployment-request.schema.json`.
    pub file_name: &'static str,
    /// The JSON Schema (draft 2020-12).
    pub schema: Schema,
}

impl SchemaFile {
    /// The file's content: pretty JSON with a trailing newline.
    pub fn render(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(&self.schema).expect("a JSON Schema always serializes");
        text.push('\n');
        text
    }
}

/// Every published schema: the request, the event, the step messages (`vm-provisioning` has
/// two forms: `vm-provisioning` for a VM, `scale-set-provisioning` for a scale set) and the
/// rollout messages.
pub fn all() -> Vec<SchemaFile> {
    vec![
        SchemaFile {
            file_name: "deployment-request.schema.json",
            schema: schema_for!(DeploymentRequest),
        },
        SchemaFile {
            file_name: "deployment-event.schema.json",
            schema: schema_for!(DeploymentEvent),
        },
        SchemaFile {
            file_name: "replication-check.schema.json",
            schema: schema_for!(ReplicationCheck),
        },
        SchemaFile {
            file_name: "image-version-replicated.schema.json",
            schema: schema_for!(ImageVersionReplicated),
        },
        SchemaFile {
            file_name: "vm-provisioning.schema.json",
            schema: schema_for!(VmProvisioning),
        },
        SchemaFile {
            file_name: "scale-set-provisioning.schema.json",
            schema: schema_for!(crate::scale_set::ScaleSetProvisioning),
        },
        SchemaFile {
            file_name: "rollout-event.schema.json",
            schema: schema_for!(crate::rollout::RolloutEvent),
        },
        SchemaFile {
            file_name: "rollout-check.schema.json",
            schema: schema_for!(crate::rollout::RolloutCheck),
        },
    ]
}
