//! `GET /subscriptions`, `GET /subscriptions/{id}` and `GET /tenants` (Microsoft.Resources
//! subscriptions API, `subscriptions.json` 2022-12-01): a subscription is listed for a caller
//! whose tenant owns it and who holds a role assignment at it or below it, as ARM lists the
//! subscriptions a principal can reach. Body shape: `Subscription {id, authorizationSource,
//! managedByTenants, subscriptionId, tenantId, displayName, state, subscriptionPolicies}` and
//! `SubscriptionListResult {value, count{type,value}}` as ARM returns them (the shape quoted in
//! public SDK test fixtures and docs); `TenantIdDescription {id, tenantId, countryCode,
//! displayName, domains, tenantCategory, defaultDomain, tenantType}` (GetTenants.json).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::errors::method_not_allowed;
use super::{ArmResult, Ctx, auth};
use crate::http::{Reply, Req};
use crate::sim::Sim;

fn subscription_body(sim: &Sim, sub: &str, tenant: &str) -> Value {
    let name = sim
        .scenario
        .tenant(tenant)
        .map(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .map_or_else(
            || format!("Subscription {sub}"),
            |n| format!("{n} subscription"),
        );
    json!({
        "id": format!("/subscriptions/{sub}"),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub,
        "tenantId": tenant,
        "displayName": name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        }
    })
}

/// Whether the caller holds any role assignment at the subscription or below it.
fn reaches(ctx: &Ctx, sub: &str) -> bool {
    let prefix = format!("/subscriptions/{sub}").to_ascii_lowercase();
    ctx.sim.scenario.role_assignments.iter().any(|ra| {
        let scope = ra.scope.trim_end_matches('/').to_ascii_lowercase();
        (scope == prefix || scope.starts_with(&format!("{prefix}/")))
            && (ra.principal.eq_ignore_ascii_case(&ctx.caller.oid)
                || (!ctx.caller.appid.is_empty()
                    && ra.principal.eq_ignore_ascii_case(&ctx.caller.appid)))
    })
}

/// `GET /subscriptions`.
pub(crate) fn list(ctx: &Ctx) -> ArmResult {
    if ctx.req.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let tenant = &ctx.caller.tenant;
    let value: Vec<Value> = ctx
        .sim
        .scenario
        .tenant(tenant)
        .map(|t| t.subscriptions.clone())
        .unwrap_or_default()
        .iter()
        .filter(|s| reaches(ctx, s))
        .map(|s| subscription_body(ctx.sim, s, tenant))
        .collect();
    let count = value.len();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"value": value, "count": {"type": "Total", "value": count}}),
    ))
}

/// `GET /subscriptions/{sub}` (the tenant check ran before).
pub(crate) fn get(ctx: &Ctx, sub: &str) -> ArmResult {
    if ctx.req.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    if !reaches(ctx, sub) {
        return Err(auth::authorization_failed(
            &ctx.caller,
            "Microsoft.Resources/subscriptions/read",
            &format!("/subscriptions/{sub}"),
        ));
    }
    let owner = ctx
        .sim
        .scenario
        .tenant_of_subscription(sub)
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let canonical = ctx
        .sim
        .scenario
        .tenant(&owner)
        .and_then(|t| t.subscriptions.iter().find(|s| s.eq_ignore_ascii_case(sub)))
        .cloned()
        .unwrap_or_else(|| sub.to_owned());
    Ok(Reply::json(
        StatusCode::OK,
        subscription_body(ctx.sim, &canonical, &owner),
    ))
}

/// `GET /tenants?api-version=…`.
pub(crate) fn tenants(sim: &Sim, req: &Req) -> ArmResult {
    let caller = auth::primary(sim, req)?;
    let Some(version) = req.query("api-version").filter(|v| !v.is_empty()) else {
        return Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    super::api_versions::check_arm("Microsoft.Resources", "tenants", "", version)?;
    if req.method != Method::GET {
        return Err(Reply::arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "HttpMethodNotSupported",
            format!(
                "The requested resource does not support http method '{}'.",
                req.method
            ),
        ));
    }
    let value: Vec<Value> = sim
        .scenario
        .tenant(&caller.tenant)
        .map(|t| {
            let domain = format!(
                "{}.onmicrosoft.com",
                if t.name.is_empty() { "tenant" } else { &t.name }
            );
            json!({
                "id": format!("/tenants/{}", t.id),
                "tenantId": t.id,
                "countryCode": "US",
                "displayName": if t.name.is_empty() { t.id.clone() } else { t.name.clone() },
                "domains": [domain],
                "tenantCategory": "Home",
                "defaultDomain": domain,
                "tenantType": "AAD"
            })
        })
        .into_iter()
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({"value": value})))
}
