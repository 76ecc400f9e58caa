//! Key Vault secrets: `GET /secrets/{name}[/{version}]?api-version=7.4`.
//!
//! Shapes: Key Vault REST "Get Secret" (`{value, id, attributes{enabled, created, updated,
//! recoveryLevel}, tags}`) and its error body `{"error":{"code","message"}}`; an unauthenticated
//! request gets 401 with the `WWW-Authenticate: Bearer authorization="...", resource="..."`
//! challenge that Azure SDK clients use to discover the tenant.

use http::StatusCode;
use serde_json::json;

use crate::arm::auth::{self, VAULT_AUDIENCES};
use crate::http::{Reply, Req};
use crate::sim::Sim;

fn kv_error(status: StatusCode, code: &str, message: String) -> Reply {
    let mut r = Reply::json(status, json!({"error": {"code": code, "message": message}}));
    r.error_code = Some(code.to_owned());
    r
}

/// The vault's tenant: the managed identity's tenant, else the first tenant.
fn vault_tenant(sim: &Sim) -> String {
    sim.scenario
        .managed_identity
        .as_ref()
        .map(|m| m.tenant.clone())
        .or_else(|| sim.scenario.tenants.first().map(|t| t.id.clone()))
        .unwrap_or_default()
}

/// Handles `/secrets/...`.
pub(crate) fn get_secret(sim: &Sim, req: &Req) -> Reply {
    let tenant = vault_tenant(sim);
    let challenge = format!(
        "Bearer authorization=\"{}/{tenant}\", resource=\"https://vault.azure.net\"",
        sim.base_url()
    );
    let Some(token) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.".to_owned(),
        )
        .with_header("www-authenticate", challenge);
    };
    let claims = match auth::validate(sim, token.trim(), &VAULT_AUDIENCES, "access token") {
        Ok(c) => c,
        Err(_) => {
            return kv_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10022: Invalid audience, issuer, signature or lifetime of the access token."
                    .to_owned(),
            )
            .with_header("www-authenticate", challenge);
        }
    };
    if !claims.tid.eq_ignore_ascii_case(&tenant) {
        return kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found {}.", claims.iss),
        )
        .with_header("www-authenticate", challenge);
    }
    if req.query("api-version").is_none() {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The 'api-version' query parameter is required.".to_owned(),
        );
    }
    let rest = req
        .path
        .trim_start_matches("/secrets/")
        .trim_end_matches('/');
    let (name, version) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(secret) = sim
        .scenario
        .key_vault
        .secrets
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
    else {
        return kv_error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!(
                "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        );
    };
    let allowed = secret
        .readers
        .iter()
        .any(|r| r.eq_ignore_ascii_case(&claims.oid) || r.eq_ignore_ascii_case(&claims.appid));
    if !allowed {
        return kv_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Caller is not authorized to perform action on resource. Caller: appid={};oid={};iss={} Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action' Assignment: (not found) DecisionReason: 'DeniedWithNoValidRBAC'",
                claims.appid, claims.oid, claims.iss
            ),
        );
    }
    let current =
        crate::scenario::derived_guid(&format!("secret|{}", secret.name)).replace('-', "");
    if !version.is_empty() && version != current {
        return kv_error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!("A secret with (name/id) {name}/{version} was not found in this key vault."),
        );
    }
    Reply::json(
        StatusCode::OK,
        json!({
            "value": secret.value,
            "id": format!("{}/secrets/{}/{current}", sim.base_url(), secret.name),
            "attributes": {"enabled": true, "created": 1767225600, "updated": 1767225600, "recoveryLevel": "Recoverable+Purgeable"},
            "tags": {}
        }),
    )
}
