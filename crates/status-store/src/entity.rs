//! Mapping between events / statuses and table entities.

use azure_clients::table::Entity;
use imageferry_contract::{DeploymentEvent, EventError, Status, Step};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Longest text kept in one property (the service's limit is 64 KiB per property).
const MAX_TEXT: usize = 16 * 1024;

/// The current status of one deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Deployment id (the PartitionKey).
    pub deployment_id: String,
    /// Current status.
    pub status: Status,
    /// The step that reported it.
    pub step: Step,
    /// When the event behind it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Its detail text.
    pub detail: String,
    /// When the deployment was accepted, if it was.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub accepted_at: Option<OffsetDateTime>,
    /// The VM id (`provisioning`, `succeeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    /// Public IP address (`succeeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ip_address: Option<String>,
    /// Private IP address (`succeeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    /// The error of a `failed` / `rejected` deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// Replication progress (while `waiting-for-replication`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// The image version id of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Its version name (last segment), for "which tenants got 1.2.3?".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_version: Option<String>,
    /// Target tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_tenant_id: Option<String>,
    /// Target subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_subscription_id: Option<String>,
    /// Target resource group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_resource_group: Option<String>,
    /// Target region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// VM name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_name: Option<String>,
}

/// Replication progress as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Region as the gallery names it.
    pub region: String,
    /// Replication state.
    pub state: String,
    /// Percent complete, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
}

/// One stored event of a deployment's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Status the event reported.
    pub status: Status,
    /// Step that emitted it.
    pub step: Step,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Detail text.
    pub detail: String,
    /// Error, for `failed` / `rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// Replication progress, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// VM id, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
}

/// RowKey of an event: `event-{at in UTC, nanosecond precision}-{status}`.
pub fn event_row_key(at: OffsetDateTime, status: Status) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default();
    format!("event-{at}-{status}")
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The properties shared by the status entity and the event entity.
fn event_properties(event: &DeploymentEvent) -> Entity {
    let mut e = Entity::new();
    let mut put = |k: &str, v: Value| {
        e.insert(k.to_owned(), v);
    };
    put("Status", json!(event.status.as_str()));
    put("Step", json!(event.step.as_str()));
    put("Detail", json!(clip(&event.detail)));
    let opt = |v: &Option<String>| v.as_deref().map(clip);
    for (k, v) in [
        ("VmId", opt(&event.vm_id)),
        ("PublicIpAddress", opt(&event.public_ip_address)),
        ("PrivateIpAddress", opt(&event.private_ip_address)),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if let Some(err) = &event.error {
        put("ErrorCode", json!(clip(&err.code)));
        put("ErrorMessage", json!(clip(&err.message)));
        put(
            "ErrorHint",
            json!(err.hint.as_deref().map(clip).unwrap_or_default()),
        );
    }
    if let Some(p) = &event.progress {
        put("ProgressRegion", json!(p.region));
        put("ProgressState", json!(p.state));
        if let Some(pc) = p.percent {
            put("ProgressPercent", json!(pc));
        }
    }
    e
}

/// The image and target named by the event's `request` (the accepted request, or a rejected
/// body), best effort: only string fields at the contract's paths are taken.
fn request_properties(event: &DeploymentEvent) -> Entity {
    let mut e = Entity::new();
    let Some(req) = &event.request else {
        return e;
    };
    let s = |p: &str| req.pointer(p).and_then(Value::as_str).map(clip);
    for (k, p) in [
        ("ImageId", "/image/id"),
        ("ImageTenantId", "/image/tenantId"),
        ("TargetTenantId", "/target/tenantId"),
        ("TargetSubscriptionId", "/target/subscriptionId"),
        ("TargetResourceGroup", "/target/resourceGroup"),
        ("Location", "/target/location"),
        ("VmName", "/vm/name"),
    ] {
        if let Some(v) = s(p) {
            e.insert(k.into(), json!(v));
        }
    }
    if let Some(version) = s("/image/id").and_then(|id| image_version(&id)) {
        e.insert("ImageVersion".into(), json!(version));
    }
    e
}

/// The version name of an image version id (`…/versions/1.2.3` or `…/Versions/1.2.3`).
pub(crate) fn image_version(id: &str) -> Option<String> {
    let segs: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    let n = segs.len();
    (n >= 2 && segs[n - 2].eq_ignore_ascii_case("versions") && !segs[n - 1].is_empty())
        .then(|| segs[n - 1].to_owned())
}

/// The event entity of `event`.
pub(crate) fn event_entity(event: &DeploymentEvent) -> Entity {
    let mut e = event_properties(event);
    e.insert("PartitionKey".into(), json!(event.deployment_id));
    e.insert(
        "RowKey".into(),
        json!(event_row_key(event.at, event.status)),
    );
    e.insert("At".into(), json!(rfc3339(event.at)));
    e.extend(request_properties(event));
    e
}

/// The properties merged into the status entity for `event`.
pub(crate) fn status_entity(event: &DeploymentEvent) -> Entity {
    let mut e = event_properties(event);
    e.insert("PartitionKey".into(), json!(event.deployment_id));
    e.insert("RowKey".into(), json!(crate::STATUS_ROW));
    e.insert("UpdatedAt".into(), json!(rfc3339(event.at)));
    if event.status == Status::Accepted {
        e.insert("AcceptedAt".into(), json!(rfc3339(event.at)));
    }
    e.extend(request_properties(event));
    e
}

fn text(e: &Entity, k: &str) -> Option<String> {
    e.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time_of(e: &Entity, k: &str) -> Option<OffsetDateTime> {
    text(e, k).and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok())
}

fn parse_status(s: &str) -> Option<Status> {
    serde_json::from_value(json!(s)).ok()
}

fn parse_step(s: &str) -> Option<Step> {
    serde_json::from_value(json!(s)).ok()
}

fn error_of(e: &Entity) -> Option<EventError> {
    Some(EventError {
        code: text(e, "ErrorCode")?,
        message: text(e, "ErrorMessage").unwrap_or_default(),
        hint: text(e, "ErrorHint"),
    })
}

fn progress_of(e: &Entity) -> Option<Progress> {
    Some(Progress {
        region: text(e, "ProgressRegion")?,
        state: text(e, "ProgressState").unwrap_or_default(),
        percent: e.get("ProgressPercent").and_then(Value::as_i64),
    })
}

/// The status and time of a stored status entity (for the "never move back" rule).
pub(crate) fn status_and_time(e: &Entity) -> Option<(Status, OffsetDateTime)> {
    Some((parse_status(&text(e, "Status")?)?, time_of(e, "UpdatedAt")?))
}

/// Decodes a status entity; `None` when it lacks the required properties.
pub(crate) fn decode_status(e: &Entity) -> Option<DeploymentStatus> {
    let status = parse_status(&text(e, "Status")?)?;
    Some(DeploymentStatus {
        deployment_id: text(e, "PartitionKey")?,
        status,
        step: parse_step(&text(e, "Step")?)?,
        updated_at: time_of(e, "UpdatedAt")?,
        detail: text(e, "Detail").unwrap_or_default(),
        accepted_at: time_of(e, "AcceptedAt"),
        vm_id: text(e, "VmId"),
        public_ip_address: text(e, "PublicIpAddress"),
        private_ip_address: text(e, "PrivateIpAddress"),
        error: error_of(e).filter(|_| status.is_terminal()),
        progress: progress_of(e).filter(|_| status == Status::WaitingForReplication),
        image_id: text(e, "ImageId"),
        image_version: text(e, "ImageVersion"),
        target_tenant_id: text(e, "TargetTenantId"),
        target_subscription_id: text(e, "TargetSubscriptionId"),
        target_resource_group: text(e, "TargetResourceGroup"),
        location: text(e, "Location"),
        vm_name: text(e, "VmName"),
    })
}

/// Decodes an event entity.
pub(crate) fn decode_event(e: &Entity) -> Option<EventRecord> {
    Some(EventRecord {
        status: parse_status(&text(e, "Status")?)?,
        step: parse_step(&text(e, "Step")?)?,
        at: time_of(e, "At")?,
        detail: text(e, "Detail").unwrap_or_default(),
        error: error_of(e),
        progress: progress_of(e),
        vm_id: text(e, "VmId"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn event_row_keys_sort_by_time_with_fixed_width_nanos() {
        let a = event_row_key(datetime!(2026-12-01 10:00:00.5 UTC), Status::Accepted);
        let b = event_row_key(
            datetime!(2026-12-01 10:00:00.123456789 UTC),
            Status::Replicated,
        );
        let c = event_row_key(datetime!(2026-12-01 12:00:00 +02:00), Status::Succeeded);
        assert_eq!(a, "event-2026-12-01T10:00:00.500000000Z-accepted");
        assert_eq!(b, "event-2026-12-01T10:00:00.123456789Z-replicated");
        assert_eq!(c, "event-2026-12-01T10:00:00.000000000Z-succeeded");
        assert!(b < a);
    }

    #[test]
    fn image_version_is_the_last_segment_after_versions() {
        assert_eq!(
            image_version("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/d/versions/1.2.3").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(
            image_version("/SharedGalleries/x/Images/d/Versions/2.0.0").as_deref(),
            Some("2.0.0")
        );
        assert_eq!(image_version("/subscriptions/s/galleries/g"), None);
    }

    #[test]
    fn status_entity_round_trips_with_request_fields() {
        let mut ev = DeploymentEvent::new(
            "web-1",
            Status::Accepted,
            Step::DeploymentRequested,
            datetime!(2026-12-01 10:00:00 UTC),
            "ok",
        );
        ev.request = Some(
            json!({"image": {"id": "/SharedGalleries/x/Images/d/Versions/1.0.0"}, "target": {"tenantId": "t2", "location": "westus2"}}),
        );
        let e = status_entity(&ev);
        let s = decode_status(&e).unwrap();
        assert_eq!(s.image_version.as_deref(), Some("1.0.0"));
        assert_eq!(s.target_tenant_id.as_deref(), Some("t2"));
        assert_eq!(s.accepted_at, Some(ev.at));
        assert_eq!(s.status, Status::Accepted);
    }
}
