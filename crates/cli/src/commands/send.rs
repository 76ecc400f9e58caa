//! `imageferry send <queue|topic> <file|->`: send one message of the contract as it is, after
//! decoding it as that entity's message type with the handler's own types and checks (a request
//! is validated; an `image-version-published` body must be the Event Grid event of a gallery
//! image version write).

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::OutgoingMessage;
use imageferry_contract::rollout::{RolloutCheck, RolloutEvent};
use imageferry_contract::{
    DeploymentEvent, DeploymentRequest, ImageId, ImageIdError, ImageVersionReplicated,
    ProvisioningMessage, ReplicationCheck,
};
use imageferry_handlers::rollout::event::{RESOURCE_WRITE_SUCCESS, ResourceEvent, VERSION_WRITE};

/// The entities `send` knows: the six step queues (function name = queue name) and the events
/// topic.
pub const ENTITIES: [&str; 7] = [
    "deployment-requested",
    "replication-check",
    "image-version-replicated",
    "vm-provisioning",
    "image-version-published",
    "rollout-check",
    "deployment-events",
];

/// Arguments of `send`.
#[derive(clap::Args)]
pub struct Args {
    /// Queue or topic: deployment-requested, replication-check, image-version-replicated,
    /// vm-provisioning, image-version-published, rollout-check, deployment-events.
    entity: String,
    /// The message body: a JSON file, or `-` for stdin.
    file: String,
    /// MessageId (default: a new UUID; reuse one to let duplicate detection drop a resend).
    #[arg(long)]
    message_id: Option<String>,
    /// Send to an entity imageferry does not know, without decoding the body.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// Why a body is not the message of its entity.
#[derive(Debug, thiserror::Error)]
enum NotAMessage {
    /// It does not decode as the entity's message type.
    #[error("{0}")]
    Decode(#[from] serde_json::Error),
    /// A request that decodes but is not valid.
    #[error("{0}")]
    Invalid(#[from] imageferry_contract::ValidationErrors),
    /// Not an Event Grid event (or CloudEvent) the rollout reads.
    #[error("{0}")]
    Event(#[from] imageferry_handlers::rollout::event::EventError),
    /// An event of another write than a gallery image version's.
    #[error(
        "event {id} is {event_type} / {operation}, not {RESOURCE_WRITE_SUCCESS} / {VERSION_WRITE}"
    )]
    NotAVersionWrite {
        /// The event id.
        id: String,
        /// Its type.
        event_type: String,
        /// Its operation.
        operation: String,
    },
    /// The event's subject is a shared or community version, not a gallery one.
    #[error("subject {0:?} is not a gallery image version id")]
    NotAGalleryVersion(String),
    /// The event's subject is not an image version id.
    #[error("subject {subject:?}: {source}")]
    Subject {
        /// The subject.
        subject: String,
        /// Why it is not an image version id.
        #[source]
        source: ImageIdError,
    },
    /// A rollout check whose `versionId` is not an image version id.
    #[error("versionId: {0}")]
    VersionId(#[source] ImageIdError),
    /// Neither event of the events topic.
    #[error("neither a deployment event ({deployment}) nor a rollout event ({rollout})")]
    NoEvent {
        /// Why it is not a deployment event.
        deployment: serde_json::Error,
        /// Why it is not a rollout event.
        #[source]
        rollout: serde_json::Error,
    },
    /// An entity the contract does not have.
    #[error("{0} is not an entity of the contract ({list}); use --raw to send anyway", list = ENTITIES.join(", "))]
    UnknownEntity(String),
}

/// Decodes `body` as `entity`'s message; returns the deployment id it concerns, if any (the
/// message's CorrelationId).
fn check(entity: &str, body: &str) -> Result<Option<String>, NotAMessage> {
    fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(body)
    }
    match entity {
        "deployment-requested" => {
            let r: DeploymentRequest = decode(body)?;
            r.validate()?;
            Ok(Some(r.deployment_id))
        }
        "replication-check" => {
            Ok(decode::<ReplicationCheck>(body).map(|m| Some(m.request.deployment_id))?)
        }
        "image-version-replicated" => match decode::<ImageVersionReplicated>(body)? {
            ImageVersionReplicated::Step(s) => Ok(Some(s.request.deployment_id)),
            ImageVersionReplicated::Request(r) => {
                r.validate()?;
                Ok(Some(r.deployment_id))
            }
        },
        // The VM form or the scale-set form (a top-level `scaleSetId`).
        "vm-provisioning" => {
            Ok(decode::<ProvisioningMessage>(body)
                .map(|m| Some(m.request().deployment_id.clone()))?)
        }
        // The event Event Grid delivers (Event Grid schema or CloudEvent, alone or in a
        // one-element array), checked as the step checks it before anything else.
        "image-version-published" => {
            let event = ResourceEvent::parse(body)?;
            if event.event_type != RESOURCE_WRITE_SUCCESS
                || !event.operation_name.eq_ignore_ascii_case(VERSION_WRITE)
            {
                return Err(NotAMessage::NotAVersionWrite {
                    id: event.id,
                    event_type: event.event_type,
                    operation: event.operation_name,
                });
            }
            match ImageId::parse(&event.subject) {
                Ok(ImageId::Gallery { .. }) => Ok(None),
                Ok(_) => Err(NotAMessage::NotAGalleryVersion(event.subject)),
                Err(source) => Err(NotAMessage::Subject {
                    subject: event.subject,
                    source,
                }),
            }
        }
        "rollout-check" => {
            let c: RolloutCheck = decode(body)?;
            ImageId::parse(&c.version_id).map_err(NotAMessage::VersionId)?;
            Ok(None)
        }
        // A deployment's event, or a rollout's.
        "deployment-events" => match decode::<DeploymentEvent>(body) {
            Ok(e) => Ok(Some(e.deployment_id)),
            Err(deployment) => decode::<RolloutEvent>(body)
                .map(|_| None)
                .map_err(|rollout| NotAMessage::NoEvent {
                    deployment,
                    rollout,
                }),
        },
        other => Err(NotAMessage::UnknownEntity(other.to_owned())),
    }
}

/// Runs `send`.
pub async fn run(args: Args) -> Exit {
    // A misspelled entity is a usage error (4), said before the body is read.
    if !args.raw && !ENTITIES.contains(&args.entity.as_str()) {
        return usage_error(NotAMessage::UnknownEntity(args.entity.clone()));
    }
    let body = match crate::commands::request_args::read_source(&args.file) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let deployment_id = if args.raw {
        None
    } else {
        match check(&args.entity, &body) {
            Ok(id) => id,
            Err(e) => {
                errln!("imageferry: rejected: {}: {e}", args.entity);
                return Exit::Rejected;
            }
        }
    };
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let bus = match session.bus() {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let message_id = args
        .message_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let msg = OutgoingMessage {
        body,
        message_id: Some(message_id.clone()),
        correlation_id: deployment_id.clone().filter(|id| !id.is_empty()),
        ..OutgoingMessage::default()
    };
    if let Err(e) = bus.send(&args.entity, msg).await {
        let what = format!("sending to {}", args.entity);
        crate::network::report(&what, &e, None, session.places().bus(&e));
        return Exit::Failed;
    }
    if args.out.json() {
        print_json(
            &serde_json::json!({"entity": args.entity, "messageId": message_id, "deploymentId": deployment_id}),
        );
    } else {
        outln!("sent to {} (MessageId {message_id})", args.entity);
    }
    Exit::Succeeded
}

#[cfg(test)]
mod tests {
    use super::check;

    const VERSION: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0";

    /// The reference Event Grid event (a storage account write), made a version write.
    fn version_written() -> serde_json::Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../reference/eventgrid/resource-write-success.json"
        ))
        .unwrap();
        let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
        event[0]["subject"] = VERSION.into();
        event[0]["data"]["resourceUri"] = VERSION.into();
        event[0]["data"]["operationName"] =
            "Microsoft.Compute/galleries/images/versions/write".into();
        event
    }

    #[test]
    fn image_version_published_takes_the_event_of_a_version_write() {
        let reference = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../reference/eventgrid/resource-write-success.json"
        ))
        .unwrap();
        let e = check("image-version-published", &reference)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Microsoft.Storage/storageAccounts/write"), "{e}");
        let event = version_written();
        assert_eq!(
            check("image-version-published", &event.to_string()).map_err(|e| e.to_string()),
            Ok(None)
        );
        // As a CloudEvent, alone.
        let g = &event[0];
        let cloud = serde_json::json!({
            "specversion": "1.0", "type": g["eventType"], "source": g["topic"], "subject": g["subject"],
            "id": g["id"], "time": g["eventTime"], "data": g["data"]
        });
        assert_eq!(
            check("image-version-published", &cloud.to_string()).map_err(|e| e.to_string()),
            Ok(None)
        );
        let mut not_a_version = event.clone();
        not_a_version[0]["subject"] = "/subscriptions/x/resourceGroups/g".into();
        assert!(check("image-version-published", &not_a_version.to_string()).is_err());
        assert!(check("image-version-published", "{}").is_err());
        assert!(check("image-version-published", "[1, 2]").is_err());
    }

    #[test]
    fn rollout_check_and_rollout_events() {
        let c = serde_json::json!({
            "rollout": "web", "versionId": VERSION, "ring": 1,
            "ringStartedAt": "2026-12-01T10:00:00Z", "attempt": 2
        });
        assert_eq!(
            check("rollout-check", &c.to_string()).map_err(|e| e.to_string()),
            Ok(None)
        );
        let mut bad = c.clone();
        bad["versionId"] = "1.0.0".into();
        assert!(
            check("rollout-check", &bad.to_string())
                .unwrap_err()
                .to_string()
                .contains("versionId")
        );
        let mut missing = c.clone();
        missing.as_object_mut().unwrap().remove("ring");
        assert!(check("rollout-check", &missing.to_string()).is_err());
        // A rollout event goes to the events topic too; a check does not.
        let e = serde_json::json!({
            "rollout": "web", "versionId": VERSION, "status": "ring-started", "ring": 0,
            "ringName": "canary", "at": "2026-12-01T10:00:00Z", "detail": "ring 0 started"
        });
        assert_eq!(
            check("deployment-events", &e.to_string()).map_err(|e| e.to_string()),
            Ok(None)
        );
        let err = check("deployment-events", &c.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither a deployment event"), "{err}");
        let err = check("nonsense", "{}").unwrap_err().to_string();
        assert!(
            err.contains("image-version-published, rollout-check"),
            "{err}"
        );
    }
}
