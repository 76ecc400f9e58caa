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
        ctx.req.base, ctx.api_version
    );
    st.operations.insert(
        op_id,
        Operation {
            resource_key: key(id),
            start_wall: time::OffsetDateTime::now_utc(),
            start: now,
            end,
            fail,
            timed: false,
            result_status: 0,
        },
    );
    let wait = retry_after(st, ctx.sim.scenario.lro.retry_after_secs, end - now);
    reply
        .with_header("azure-asyncoperation", url)
        .with_header("retry-after", wait)
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
    let timed = || {
        if now < op.end {
            "Creating"
        } else if op.fail.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
    };
    let state = if op.timed {
        timed()
    } else {
        st.resources
            .get(&op.resource_key)
            .map(|r| r.provisioning_state(now))
            .unwrap_or_else(timed)
    };
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
        let wait = retry_after(&st, ctx.sim.scenario.lro.retry_after_secs, op.end - now);
        reply = reply.with_header("retry-after", wait);
    }
    Ok(reply)
}

/// Registers a timed operation (a DELETE, a POST action) on `id` ending at `end` and answers
/// 202 Accepted with `Azure-AsyncOperation`, `Location` (its operationResults) and
/// `Retry-After`, as the delete examples show (NetworkSecurityGroupDelete.json,
/// VirtualMachine_Delete_Force.json). `location_url` overrides the `Location` (resource-group
/// deletion's subscription-level operationresults).
#[allow(clippy::too_many_arguments)]
pub(crate) fn accept(
    ctx: &Ctx,
    st: &mut State,
    namespace: &str,
    id: &str,
    location: &str,
    now: f64,
    end: f64,
    result_status: u16,
    subscription_level_location: bool,
) -> Reply {
    let op_id = uuid::Uuid::new_v4().to_string();
    let sub = id.split('/').nth(2).unwrap_or_default();
    let loc = super::region::normalize(location);
    let base = &ctx.req.base;
    let v = &ctx.api_version;
    let async_url = format!(
        "{base}/subscriptions/{sub}/providers/{namespace}/locations/{loc}/operations/{op_id}?api-version={v}"
    );
    let location_url = if subscription_level_location {
        format!("{base}/subscriptions/{sub}/operationresults/{op_id}?api-version={v}")
    } else {
        format!(
            "{base}/subscriptions/{sub}/providers/{namespace}/locations/{loc}/operationResults/{op_id}?api-version={v}"
        )
    };
    st.operations.insert(
        op_id,
        Operation {
            resource_key: key(id),
            start_wall: time::OffsetDateTime::now_utc(),
            start: now,
            end,
            fail: None,
            timed: true,
            result_status,
        },
    );
    let wait = retry_after(st, ctx.sim.scenario.lro.retry_after_secs, end - now);
    let mut reply = Reply::json(StatusCode::ACCEPTED, Value::Null)
        .with_header("location", location_url)
        .with_header("retry-after", wait);
    if !subscription_level_location {
        reply = reply.with_header("azure-asyncoperation", async_url);
    }
    reply
}

/// `GET …/operationResults/{id}` (an operation's `Location`): 202 while it runs, then the
/// operation's final status (204 for a DELETE, 200 for an action) or its error.
pub(crate) fn result(ctx: &Ctx, op_id: &str) -> ArmResult {
    let st = ctx.sim.state();
    let Some(op) = st.operations.get(op_id) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The operation '{op_id}' was not found."),
        ));
    };
    let now = st.clock.now();
    if now < op.end {
        let wait = retry_after(&st, ctx.sim.scenario.lro.retry_after_secs, op.end - now);
        let url = format!("{}{}?{}", ctx.req.base, ctx.req.path, ctx.req.raw_query);
        return Ok(Reply::json(StatusCode::ACCEPTED, Value::Null)
            .with_header("location", url)
            .with_header("retry-after", wait));
    }
    if let Some((code, message)) = &op.fail {
        return Err(Reply::arm_error(
            StatusCode::CONFLICT,
            code,
            message.clone(),
        ));
    }
    let status = match op.result_status {
        204 => StatusCode::NO_CONTENT,
        _ => StatusCode::OK,
    };
    Ok(Reply::json(status, Value::Null))
}
