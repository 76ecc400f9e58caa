//! Long-running operations: `Azure-AsyncOperation` + `Retry-After` on the PUT response and the
//! operation-status resource it points to.
//!
//! Conventions: MicrosoftDocs/azure-docs resource-manager-async-operations.md (reference/arm/NOTES.md
//! §4); status body shape: reference/arm/examples/compute/OperationStatusResultGet.json
//! (`id`, `name`, `status`, `percentComplete`, `startTime`), plus `endTime` and `error` when done.

use http::StatusCode;
use serde_json::{Value, json};

use super::resources::Kind;
use super::{ArmResult, Ctx};
use crate::http::Reply;
use crate::state::{Operation, State, key};

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Registers an operation for the PUT of `id` and adds the LRO headers to `reply`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    ctx: &Ctx,
    st: &mut State,
    kind: Kind,
    id: &str,
    location: &str,
    now: f64,
    end: f64,
    fail: Option<(String, String)>,
    reply: Reply,
) -> Reply {
    let op_id = uuid::Uuid::new_v4().to_string();
    let sub = id.split('/').nth(2).unwrap_or_default();
    let namespace = kind.type_name().split('/').next().unwrap_or_default();
    let loc = super::region::normalize(location);
    let url = format!(
        "{}/subscriptions/{sub}/providers/{namespace}/locations/{loc}/operations/{op_id}?api-version={}",
        ctx.sim.base_url(),
        ctx.api_version
    );
    st.operations.insert(
        op_id,
        Operation {
            resource_key: key(id),
            start_wall: time::OffsetDateTime::now_utc(),
            start: now,
            end,
            fail,
        },
    );
    reply.with_header("azure-asyncoperation", url).with_header(
        "retry-after",
        ctx.sim.scenario.lro.retry_after_secs.to_string(),
    )
}

/// `GET .../locations/{loc}/operations/{id}`.
pub(crate) fn status(ctx: &Ctx, op_id: &str) -> ArmResult {
    let st = ctx.sim.state();
    let Some(op) = st.operations.get(op_id) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The operation '{op_id}' was not found."),
        ));
    };
    let now = st.clock.now();
    let state = st
        .resources
        .get(&op.resource_key)
        .map(|r| r.provisioning_state(now))
        .unwrap_or(if now >= op.end {
            "Succeeded"
        } else {
            "Creating"
        });
    let status = match state {
        "Succeeded" => "Succeeded",
        "Failed" => "Failed",
        _ => "InProgress",
    };
    let span = (op.end - op.start).max(f64::EPSILON);
    let percent = (((now - op.start) / span) * 100.0).clamp(0.0, 100.0);
    let mut body = json!({
        "id": ctx.req.path,
        "name": op_id,
        "status": status,
        "percentComplete": if status == "InProgress" { percent.floor() as u64 } else { 100 },
        "startTime": rfc3339(op.start_wall),
    });
    if status != "InProgress" {
        let elapsed_real = st.clock.real_secs(op.end - op.start).max(0.0);
        let end = op.start_wall + time::Duration::seconds_f64(elapsed_real);
        body["endTime"] = Value::String(rfc3339(end));
    }
    if status == "Failed" {
        let (code, message) = op.fail.clone().unwrap_or_else(|| {
            (
                "GalleryImageVersionReplicationFailed".to_owned(),
                "Replication failed in this region.".to_owned(),
            )
        });
        body["error"] = json!({"code": code, "message": message});
    }
    let mut reply = Reply::json(StatusCode::OK, body);
    if status == "InProgress" {
        reply = reply.with_header(
            "retry-after",
            ctx.sim.scenario.lro.retry_after_secs.to_string(),
        );
    }
    Ok(reply)
}
