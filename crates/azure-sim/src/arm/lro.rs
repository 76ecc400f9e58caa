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

/// The `Retry-After` of an operation `remaining` simulated seconds from its end: the scenario's
/// value, but `0` when the operation ends within a millisecond of real time (a time scale such as
/// `imageferry dev --bench`'s makes it end at once: a client that honours `Retry-After` then
/// polls at once instead of waiting a second for nothing). Never `0` for an operation that still
/// has real time to run, so a client cannot be drawn into a tight polling loop.
fn retry_after(st: &State, scenario_secs: u64, remaining: f64) -> String {
    if st.clock.real_secs(remaining.max(0.0)) < 0.001 {
        "0".to_owned()
    } else {
        scenario_secs.max(1).to_string()
    }
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
    let wait = retry_after(st, ctx.sim.scenario.lro.retry_after_secs, end - now);
    reply
        .with_header("azure-asyncoperation", url)
        .with_header("retry-after", wait)
}

/// A 202 Accepted for an action or a DELETE (`id` names what the operation tracks; a key no
/// resource has makes its status follow `end`/`fail`, which the caller may move later): the
/// `Azure-AsyncOperation` status URL, and `Location` = the same URL with `monitor=true`, which
/// answers 202 while the operation runs and 200 (empty) once it succeeded, as in the 202 examples
/// of reference/arm/examples/scaleset (VirtualMachineScaleSet_Delete_Force.json: `.../operations/{id}?...&monitor=true`).
/// Returns the reply and the operation id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn accepted(
    ctx: &Ctx,
    st: &mut State,
    kind: Kind,
    id: &str,
    location: &str,
    now: f64,
    end: f64,
    fail: Option<(String, String)>,
) -> (Reply, String) {
    let reply = start(
        ctx,
        st,
        kind,
        id,
        location,
        now,
        end,
        fail,
        Reply::json(StatusCode::ACCEPTED, Value::Null),
    );
    let url = reply
        .headers
        .iter()
        .find(|(n, _)| *n == "azure-asyncoperation")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let op_id = url
        .split('?')
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    (
        reply.with_header("location", format!("{url}&monitor=true")),
        op_id,
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
        .unwrap_or(if now < op.end {
            "Creating"
        } else if op.fail.is_some() {
            "Failed"
        } else {
            "Succeeded"
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
    if ctx
        .req
        .query("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"))
    {
        // The `Location` flavour: 202 while running, the outcome once done.
        return Ok(match status {
            "InProgress" => {
                let wait = retry_after(&st, ctx.sim.scenario.lro.retry_after_secs, op.end - now);
                let url = format!(
                    "{}{}?{}",
                    ctx.sim.base_url(),
                    ctx.req.path,
                    ctx.req.raw_query
                );
                Reply::json(StatusCode::ACCEPTED, Value::Null)
                    .with_header("location", url)
                    .with_header("retry-after", wait)
            }
            "Succeeded" => Reply::json(StatusCode::OK, Value::Null),
            _ => {
                let mut r = Reply::arm_error(
                    StatusCode::BAD_REQUEST,
                    body["error"]["code"].as_str().unwrap_or("Failed"),
                    body["error"]["message"].as_str().unwrap_or_default(),
                );
                r.body["error"] = body["error"].clone();
                r
            }
        });
    }
    let mut reply = Reply::json(StatusCode::OK, body);
    if status == "InProgress" {
        let wait = retry_after(&st, ctx.sim.scenario.lro.retry_after_secs, op.end - now);
        reply = reply.with_header("retry-after", wait);
    }
    Ok(reply)
}
