//! Resource groups (`Microsoft.Resources`): synchronous create-or-update (201/200, shape of
//! reference/arm/examples/resources/CreateResourceGroup.json), GET, DELETE (with contents).

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
            Some(r) => Ok(Reply::json(StatusCode::OK, render(r, now, false))),
            None => Err(rg_not_found(rg)),
        },
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
            let mut stored = json!({"id": id, "name": rg, "location": location, "properties": {}});
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
        Method::DELETE => Ok(super::resources::delete_with_children(&mut st, &id)),
        _ => Err(method_not_allowed(ctx)),
    }
}
