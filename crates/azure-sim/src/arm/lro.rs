//! Long-running operations: `Azure-AsyncOperation` + `Retry-After` on the PUT response and the
//! operation-status resource it points to; the 202 Accepted of a DELETE or a POST action with
//! its `Location`, and that `Location`'s answers (202 while running, then the outcome).
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

/// Stores a new operation on `id` and returns its id.
fn register(
    st: &mut State,
    id: &str,
    now: f64,
    end: f64,
    fail: Option<(String, String)>,
    timed: bool,
    result_status: u16,
) -> String {
    let op_id = uuid::Uuid::new_v4().to_string();
    st.operations.insert(
        op_id.clone(),
        Operation {
            resource_key: key(id),
            start_wall: time::OffsetDateTime::now_utc(),
            start: now,
            end,
            fail,
            timed,
            result_status,
        },
    );
    op_id
}

/// The `Azure-AsyncOperation` URL of operation `op_id` on `id` of `namespace` in `location`.
fn status_url(ctx: &Ctx, namespace: &str, id: &str, location: &str, op_id: &str) -> String {
    let sub = id.split('/').nth(2).unwrap_or_default();
    let loc = super::region::normalize(location);
    format!(
        "{}/subscriptions/{sub}/providers/{namespace}/locations/{loc}/operations/{op_id}?api-version={}",
        ctx.req.base, ctx.api_version
    )
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
    let op_id = register(st, id, now, end, fail, false, 0);
    let url = status_url(ctx, kind.namespace(), id, location, &op_id);
    let wait = retry_after(st, ctx.sim.scenario.lro.retry_after_secs, end - now);
    reply
        .with_header("azure-asyncoperation", url)
        .with_header("retry-after", wait)
}

/// Registers a timed operation (a DELETE, a POST action: it ends at `end`, `Failed` with `fail`
/// if given, whatever the resource says) on `id` of `namespace` and answers 202 Accepted with
/// `Retry-After` and the `Location` flavour of the namespace's examples:
/// - `Microsoft.Compute`: `Azure-AsyncOperation` and `Location` = the status URL with
///   `monitor=true` (VirtualMachine_Delete_Force.json, VirtualMachineScaleSet_Delete_Force.json);
/// - `Microsoft.Resources` (resource-group deletion): only `Location`, the subscription-level
///   `operationresults/{id}` (ForceDeleteVMsInResourceGroup.json);
/// - otherwise (`Microsoft.Network`): `Azure-AsyncOperation` and `Location` = the location's
///   `operationResults/{id}` (NetworkSecurityGroupDelete.json, PublicIpAddressDelete.json).
///
/// `result_status` is what the `Location` answers once the operation succeeded (204 for a
/// DELETE, 200 for an action; reference/arm/NOTES.md §4). Returns the reply and the
/// operation id (which the caller may end earlier or fail later through `State::operations`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn accepted(
    ctx: &Ctx,
    st: &mut State,
    namespace: &str,
    id: &str,
    location: &str,
    now: f64,
    end: f64,
    fail: Option<(String, String)>,
    result_status: u16,
) -> (Reply, String) {
    let op_id = register(st, id, now, end, fail, true, result_status);
    let async_url = status_url(ctx, namespace, id, location, &op_id);
    let sub = id.split('/').nth(2).unwrap_or_default();
    let base = &ctx.req.base;
    let v = &ctx.api_version;
    let (location_url, with_async) = if namespace.eq_ignore_ascii_case("Microsoft.Compute") {
        (format!("{async_url}&monitor=true"), true)
    } else if namespace.eq_ignore_ascii_case("Microsoft.Resources") {
        (
            format!("{base}/subscriptions/{sub}/operationresults/{op_id}?api-version={v}"),
            false,
        )
    } else {
        (
            async_url.replacen("/operations/", "/operationResults/", 1),
            true,
        )
    };
    let wait = retry_after(st, ctx.sim.scenario.lro.retry_after_secs, end - now);
    let mut reply = Reply::json(StatusCode::ACCEPTED, Value::Null)
        .with_header("location", location_url)
        .with_header("retry-after", wait);
    if with_async {
        reply = reply.with_header("azure-asyncoperation", async_url);
    }
    (reply, op_id)
}

/// Where operation `op` stands at `now`: `InProgress`, `Succeeded` or `Failed`. A timed
/// operation (or one whose resource is gone) follows `end` and `fail`; a PUT's follows its
/// resource's `provisioningState`.
fn outcome(st: &State, op: &Operation, now: f64) -> &'static str {
    let timed = || {
        if now < op.end {
            "InProgress"
        } else if op.fail.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
    };
    if op.timed {
        return timed();
    }
    match st.resources.get(&op.resource_key) {
        Some(r) => match r.provisioning_state(now) {
            "Succeeded" => "Succeeded",
            "Failed" => "Failed",
            _ => "InProgress",
        },
        None => timed(),
    }
}

/// A failed operation's `(code, message)`.
fn failure(op: &Operation) -> (String, String) {
    op.fail.clone().unwrap_or_else(|| {
        (
            "GalleryImageVersionReplicationFailed".to_owned(),
            "Replication failed in this region.".to_owned(),
        )
    })
}

fn not_found(op_id: &str) -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("The operation '{op_id}' was not found."),
    )
}

/// `GET .../locations/{loc}/operations/{id}`: the status body; with `monitor=true` (Compute's
/// `Location`), [`result`]'s answers instead.
pub(crate) fn status(ctx: &Ctx, op_id: &str) -> ArmResult {
    if ctx
        .req
        .query("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"))
    {
        return result(ctx, op_id);
    }
    let st = ctx.sim.state();
    let Some(op) = st.operations.get(op_id) else {
        return Err(not_found(op_id));
    };
    let now = st.clock.now();
    let status = outcome(&st, op, now);
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
        let (code, message) = failure(op);
        body["error"] = json!({"code": code, "message": message});
    }
    let mut reply = Reply::json(StatusCode::OK, body);
    if status == "InProgress" {
        let wait = retry_after(&st, ctx.sim.scenario.lro.retry_after_secs, op.end - now);
        reply = reply.with_header("retry-after", wait);
    }
    Ok(reply)
}

/// An operation's `Location` (`…/operations/{id}?monitor=true`, `…/operationResults/{id}`,
/// `/subscriptions/{sub}/operationresults/{id}`): 202 with `Location` and `Retry-After` while it
/// runs, then its `result_status` (204 for a DELETE, 200 for an action) or its error (409).
pub(crate) fn result(ctx: &Ctx, op_id: &str) -> ArmResult {
    let st = ctx.sim.state();
    let Some(op) = st.operations.get(op_id) else {
        return Err(not_found(op_id));
    };
    let now = st.clock.now();
    match outcome(&st, op, now) {
        "InProgress" => {
            let wait = retry_after(&st, ctx.sim.scenario.lro.retry_after_secs, op.end - now);
            let url = format!("{}{}?{}", ctx.req.base, ctx.req.path, ctx.req.raw_query);
            Ok(Reply::json(StatusCode::ACCEPTED, Value::Null)
                .with_header("location", url)
                .with_header("retry-after", wait))
        }
        "Failed" => {
            let (code, message) = failure(op);
            Err(Reply::arm_error(StatusCode::CONFLICT, &code, message))
        }
        _ => Ok(Reply::json(
            match op.result_status {
                204 => StatusCode::NO_CONTENT,
                _ => StatusCode::OK,
            },
            Value::Null,
        )),
    }
}
