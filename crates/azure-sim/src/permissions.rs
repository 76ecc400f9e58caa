//! `GET {scope}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`
//! (Permissions - List For Resource Group / List For Resource, azure-rest-api-specs
//! `authorization/.../2022-04-01/authorization-RoleDefinitionsCalls.json`): the caller's effective
//! permissions at a scope, one `Permission {actions, notActions, dataActions, notDataActions}`
//! per role assignment of the caller at the scope or above, in a `PermissionGetResult`
//! (`{"value": [...], "nextLink": null}`; reference/arm/examples/authorization/GetPermissions.json),
//! computed from the scenario's role assignments (built-in roles and its `custom_roles`).
//! A resource group that does not exist gets 404 `ResourceGroupNotFound`, as ARM answers.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::arm::auth;
use crate::http::{Reply, Req};
use crate::scenario::RolePermission;
use crate::sim::Sim;
use crate::state::key;

const SUFFIX: &str = "/providers/microsoft.authorization/permissions";

/// Whether `path` is a permissions list.
pub(crate) fn is_permissions_path(path: &str) -> bool {
    path.trim_end_matches('/')
        .to_ascii_lowercase()
        .ends_with(SUFFIX)
}

/// A role's `Permission` as the API returns it (`actions`, `notActions`, `dataActions`,
/// `notDataActions`; the 2022-04-01 `Permission` definition, shape of
/// reference/arm/examples/authorization/GetRoleDefinitionByName.json).
fn permission(p: &RolePermission) -> Value {
    json!({"actions": p.actions, "notActions": p.not_actions, "dataActions": [], "notDataActions": []})
}

/// Handles a permissions list.
pub(crate) fn handle(sim: &Sim, req: &Req) -> Reply {
    if req.method != Method::GET {
        return Reply::arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The requested method '{}' is not allowed.", req.method),
        );
    }
    let caller = match auth::primary(sim, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if req.query("api-version").is_none_or(str::is_empty) {
        return Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let path = req.path.trim_end_matches('/');
    let scope = &path[..path.len() - SUFFIX.len()];
    let segs: Vec<&str> = scope.trim_start_matches('/').split('/').collect();
    let sub = segs.get(1).copied().unwrap_or_default();
    if let Err(r) = auth::check_tenant(sim, &caller, sub) {
        return r;
    }
    if segs.len() >= 4 && segs[2].eq_ignore_ascii_case("resourceGroups") {
        let rg = format!("/subscriptions/{sub}/resourceGroups/{}", segs[3]);
        if !sim.state().resources.contains_key(&key(&rg)) {
            return Reply::arm_error(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                format!("Resource group '{}' could not be found.", segs[3]),
            );
        }
    }
    let scope_key = scope.to_ascii_lowercase();
    let value: Vec<Value> = sim
        .scenario
        .role_assignments
        .iter()
        .filter(|ra| {
            let principal = ra.principal.eq_ignore_ascii_case(&caller.oid)
                || (!caller.appid.is_empty() && ra.principal.eq_ignore_ascii_case(&caller.appid));
            let a = ra.scope.trim_end_matches('/').to_ascii_lowercase();
            principal && (scope_key == a || scope_key.starts_with(&format!("{a}/")))
        })
        .filter_map(|ra| sim.scenario.role_permission(&ra.role))
        .map(|p| permission(&p))
        .collect();
    Reply::json(StatusCode::OK, json!({"value": value, "nextLink": null}))
}
