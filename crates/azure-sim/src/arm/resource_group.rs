//! Resource groups (`Microsoft.Resources`): synchronous create-or-update (201/200, shape of
//! reference/arm/examples/resources/CreateResourceGroup.json, with `type`
//! `Microsoft.Resources/resourceGroups`), GET, HEAD (204/404, ResourceGroups_CheckExistence),
//! PATCH (tags), list (`GET /subscriptions/{sub}/resourcegroups`, the groups the caller may read),
//! DELETE as a long-running operation with its contents (see `deletion`).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::errors::{location_required, method_not_allowed, rg_not_found};
use super::resources::{parse_body, render, require};
use super::{ArmResult, Ctx};
use crate::http::{Reply, is_write};
use crate::sim::rg_id;
use crate::state::{Resource, key};

/// `/subscriptions/{sub}/resourceGroups/{rg}`.
pub(crate) fn handle(ctx: &Ctx, sub: &str, rg: &str) -> ArmResult {
    let id = rg_id(sub, rg);
    let verb = if is_write(&ctx.req.method) {
        "write"
    } else {
        "read"
    };
    let verb = if ctx.req.method == Method::DELETE {
        "delete"
    } else {
        verb
    };
    let action = format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}");
    require(ctx, &action, &id)?;
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    let k = key(&id);
    match ctx.req.method {
        Method::GET => match st.resources.get(&k) {
            Some(r) => Ok(Reply::json(StatusCode::OK, shown(&st, r, now))),
            None => Err(rg_not_found(rg)),
        },
        Method::HEAD => Ok(Reply::json(
            if st.resources.contains_key(&k) {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::NOT_FOUND
            },
            Value::Null,
        )),
        Method::PATCH => {
            let body = parse_body(ctx)?;
            let Some(existing) = st.resources.get_mut(&k) else {
                return Err(rg_not_found(rg));
            };
            if let Some(tags) = body.get("tags") {
                existing.body["tags"] = tags.clone();
            }
            existing.put_count += 1;
            let r = existing.clone();
            Ok(Reply::json(StatusCode::OK, shown(&st, &r, now)))
        }
        Method::PUT => {
            let body = parse_body(ctx)?;
            let Some(location) = body.get("location").and_then(Value::as_str) else {
                return Err(location_required());
            };
            let location = location.to_owned();
            if let Some(existing) = st.resources.get_mut(&k) {
                let old = existing.body["location"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if !super::region::same(&old, &location) {
                    return Err(Reply::arm_error(
                        StatusCode::CONFLICT,
                        "InvalidResourceGroupLocation",
                        format!(
                            "Invalid resource group location '{location}'. The Resource group already exists in location '{old}'."
                        ),
                    ));
                }
                if let Some(tags) = body.get("tags") {
                    existing.body["tags"] = tags.clone();
                }
                existing.put_count += 1;
                existing.creating = false;
                return Ok(Reply::json(StatusCode::OK, render(existing, now, false)));
            }
            let mut stored = json!({"id": id, "name": rg, "type": RG_TYPE, "location": location, "properties": {}});
            if let Some(tags) = body.get("tags") {
                stored["tags"] = tags.clone();
            }
            let r = Resource {
                id: id.clone(),
                resource_type: "Microsoft.Resources/resourceGroups".into(),
                body: stored,
                put_count: 1,
                creating: true,
                ready_at: 0.0,
                fail: false,
                replication: Vec::new(),
            };
            let reply = Reply::json(StatusCode::CREATED, render(&r, now, false));
            st.resources.insert(k, r);
            Ok(reply)
        }
        Method::DELETE => {
            if !st.resources.contains_key(&k) {
                return Err(rg_not_found(rg));
            }
            super::deletion::delete_group(ctx, &mut st, &id)
        }
        _ => Err(method_not_allowed(ctx)),
    }
}

/// ARM type of a resource group.
pub(crate) const RG_TYPE: &str = "Microsoft.Resources/resourceGroups";

/// The group as GET shows it: `type`, and `Deleting` while its deletion runs.
fn shown(st: &crate::state::State, r: &Resource, now: f64) -> Value {
    let mut b = render(r, now, false);
    b["type"] = json!(RG_TYPE);
    if st.deletions.contains_key(&key(&r.id)) {
        b["properties"]["provisioningState"] = json!("Deleting");
    }
    b
}

/// `GET /subscriptions/{sub}/resourcegroups`: the groups the caller may read.
pub(crate) fn list(ctx: &Ctx, sub: &str) -> ArmResult {
    if ctx.req.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    super::resources::reap(&mut st, now);
    let prefix = format!("/subscriptions/{sub}/resourcegroups/").to_ascii_lowercase();
    let items: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, r)| {
            k.starts_with(&prefix) && !k[prefix.len()..].contains('/') && r.resource_type == RG_TYPE
        })
        .filter(|(_, r)| {
            super::auth::authorized(
                ctx.sim,
                &ctx.caller,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &r.id,
            )
        })
        .map(|(_, r)| shown(&st, r, now))
        .collect();
    drop(st);
    Ok(super::listing::page(ctx, items))
}
