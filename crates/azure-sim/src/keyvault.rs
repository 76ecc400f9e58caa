//! Key Vault secrets, data plane: get, set, update, list, versions, delete (soft delete),
//! deleted secrets (get, list, purge, recover), per vault, with Azure RBAC per principal.
//!
//! The vault is named by the request's `Host`: `{vault}.vault.localhost` (the stand-in's
//! `keyVaultDns` suffix; any `{vault}.…` host works) picks that vault of the scenario; an IP
//! address or `localhost` host reaches the default vault (`key_vault`), which is how the
//! handler's local run addresses it (`IMAGEFERRY_KEYVAULT_ENDPOINT` = the stand-in's origin).
//!
//! Shapes: Key Vault REST 7.x `SecretBundle {value, id, contentType, attributes{enabled, nbf,
//! exp, created, updated, recoveryLevel, recoverableDays}, tags}`, `SecretItem`,
//! `SecretListResult {value, nextLink}`, `DeletedSecretBundle` (+ `recoveryId`, `deletedDate`,
//! `scheduledPurgeDate`), errors `{"error":{"code","message"[,"innererror"]}}`; an
//! unauthenticated request gets 401 with the `WWW-Authenticate: Bearer authorization="…",
//! resource="…"` challenge Azure SDK clients use to find the tenant. RBAC refusal: 403
//! `Forbidden` with innererror `ForbiddenByRbac` and the message Key Vault writes ("Caller is not
//! authorized to perform action on resource.\r\nIf role assignments, … Caller: appid=…;oid=…;
//! iss=…\r\nAction: '…'\r\nResource: '…'\r\nAssignment: (not found)\r\nDenyAssignmentId: null
//! \r\nDecisionReason: null \r\nVault: {name};location={loc}\r\n"), as quoted in
//! Azure/Commercial-Marketplace-SaaS-Accelerator#710 and hashicorp/terraform-provider-azurerm
//! #27817. Reusing a soft-deleted name: 409 `Conflict` "Secret {name} is currently in a deleted
//! but recoverable state, and its name cannot be reused; in this state, the secret can only be
//! recovered or purged.". Data actions: `Microsoft.KeyVault/vaults/secrets/{getSecret/action,
//! readMetadata/action, setSecret/action, update/action, delete, purge/action,
//! recover/action}`; built-in roles Key Vault Secrets User (getSecret + readMetadata), Secrets
//! Officer (`secrets/*`), Reader (readMetadata), Administrator (`vaults/*`).

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::arm::auth::{self, VAULT_AUDIENCES};
use crate::http::{Reply, Req};
use crate::jwt::{Claims, now_unix};
use crate::scenario::{KeyVaultSeed, VaultRole, derived_guid};
use crate::sim::Sim;

/// One version of a secret.
#[derive(Debug, Clone)]
pub(crate) struct SecretVersion {
    id: String,
    value: String,
    content_type: Option<String>,
    tags: Value,
    enabled: bool,
    nbf: Option<i64>,
    exp: Option<i64>,
    created: i64,
    updated: i64,
}

/// A secret: its versions, the last one current.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    name: String,
    versions: Vec<SecretVersion>,
}

/// A soft-deleted secret.
#[derive(Debug, Clone)]
pub(crate) struct Deleted {
    secret: Secret,
    deleted: i64,
    purge_at: i64,
}

/// A vault's contents (keys: lower-case names).
#[derive(Debug, Clone, Default)]
pub(crate) struct VaultState {
    secrets: BTreeMap<String, Secret>,
    deleted: BTreeMap<String, Deleted>,
}

fn kv_error(status: StatusCode, code: &str, message: String) -> Reply {
    let mut r = Reply::json(status, json!({"error": {"code": code, "message": message}}));
    r.error_code = Some(code.to_owned());
    r
}

fn not_found(name: &str) -> Reply {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
    )
}

fn bad_parameter(message: String) -> Reply {
    kv_error(StatusCode::BAD_REQUEST, "BadParameter", message)
}

/// The vault the request's host names.
fn vault_for<'a>(sim: &'a Sim, req: &Req) -> Result<&'a KeyVaultSeed, Reply> {
    let host = req.header("host").unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let bare = name.is_empty()
        || name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok();
    let s = &sim.scenario;
    if bare {
        return Ok(&s.key_vault);
    }
    let label = name.split('.').next().unwrap_or_default();
    std::iter::once(&s.key_vault)
        .chain(&s.key_vaults)
        .find(|v| v.name.eq_ignore_ascii_case(label))
        .ok_or_else(|| {
            // Azure: the name does not resolve. The stand-in answers on its port, so it says so.
            Reply::json(
                StatusCode::MISDIRECTED_REQUEST,
                json!({"error": {"code": "VaultNotFound", "message": format!("azure-sim has no key vault named '{label}' (host {host}); in Azure the name would not resolve.")}}),
            )
        })
}

/// The vault's tenant: its own, the managed identity's, else the first tenant.
fn vault_tenant(sim: &Sim, v: &KeyVaultSeed) -> String {
    v.tenant
        .clone()
        .or_else(|| {
            sim.scenario
                .managed_identity
                .as_ref()
                .map(|m| m.tenant.clone())
        })
        .or_else(|| sim.scenario.tenants.first().map(|t| t.id.clone()))
        .unwrap_or_default()
}

/// The vault's ARM id (named in 403 answers).
fn vault_arm_id(sim: &Sim, v: &KeyVaultSeed, tenant: &str) -> String {
    let sub = v
        .subscription
        .clone()
        .or_else(|| {
            sim.scenario
                .tenant(tenant)
                .and_then(|t| t.subscriptions.first().cloned())
        })
        .unwrap_or_default();
    format!(
        "/subscriptions/{sub}/resourcegroups/{}/providers/microsoft.keyvault/vaults/{}",
        v.resource_group, v.name
    )
    .to_ascii_lowercase()
}

/// The vault's contents, created from its seed on first use.
fn vault_state<'a>(
    st: &'a mut crate::state::State,
    v: &KeyVaultSeed,
    default: bool,
) -> &'a mut VaultState {
    st.vaults
        .entry(v.name.to_ascii_lowercase())
        .or_insert_with(|| {
            let mut vs = VaultState::default();
            for s in &v.secrets {
                let seed = if default {
                    format!("secret|{}", s.name)
                } else {
                    format!("secret|{}|{}", v.name, s.name)
                };
                vs.secrets.insert(
                    s.name.to_ascii_lowercase(),
                    Secret {
                        name: s.name.clone(),
                        versions: vec![SecretVersion {
                            id: derived_guid(&seed).replace('-', ""),
                            value: s.value.clone(),
                            content_type: None,
                            tags: json!({}),
                            enabled: true,
                            nbf: None,
                            exp: None,
                            created: 1_767_225_600,
                            updated: 1_767_225_600,
                        }],
                    },
                );
            }
            vs
        })
}

/// Whether `who` may perform data `action` on secret `name` (None = the vault) of `v`.
fn permitted(v: &KeyVaultSeed, who: &Claims, action: &str, name: Option<&str>) -> bool {
    let is = |p: &str| {
        p.eq_ignore_ascii_case(&who.oid)
            || (!who.appid.is_empty() && p.eq_ignore_ascii_case(&who.appid))
    };
    let at_scope = |scope: &str| {
        scope.is_empty()
            || name.is_some_and(|n| {
                scope
                    .strip_prefix("secrets/")
                    .is_some_and(|s| s.eq_ignore_ascii_case(n))
            })
    };
    v.role_assignments
        .iter()
        .any(|ra| is(&ra.principal) && at_scope(&ra.scope) && ra.role.allows(action))
        || name.is_some_and(|n| {
            v.secrets.iter().any(|s| {
                s.name.eq_ignore_ascii_case(n)
                    && s.readers.iter().any(|r| is(r))
                    && VaultRole::SecretsUser.allows(action)
            })
        })
}

struct Call<'a> {
    sim: &'a Sim,
    req: &'a Req,
    vault: &'a KeyVaultSeed,
    default: bool,
    claims: Claims,
    tenant: String,
    /// `{scheme}://{host}` as the client addressed the vault.
    origin: String,
}

impl Call<'_> {
    fn forbidden(&self, action: &str, name: Option<&str>) -> Reply {
        let vault_id = vault_arm_id(self.sim, self.vault, &self.tenant);
        let resource = match name {
            Some(n) => format!("{vault_id}/secrets/{}", n.to_ascii_lowercase()),
            None => vault_id,
        };
        let c = &self.claims;
        let mut r = Reply::json(
            StatusCode::FORBIDDEN,
            json!({"error": {
                "code": "Forbidden",
                "message": format!(
                    "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss={}\r\nAction: '{action}'\r\nResource: '{resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {};location={}\r\n",
                    c.appid, c.oid, c.iss, self.vault.name, self.vault.location
                ),
                "innererror": {"code": "ForbiddenByRbac"}
            }}),
        );
        r.error_code = Some("Forbidden".to_owned());
        r
    }

    fn require(&self, action: &str, name: Option<&str>) -> Result<(), Reply> {
        let full = format!("Microsoft.KeyVault/vaults/secrets/{action}");
        if permitted(self.vault, &self.claims, &full, name) {
            Ok(())
        } else {
            Err(self.forbidden(&full, name))
        }
    }

    fn attributes(&self, v: &SecretVersion) -> Value {
        let mut a = json!({
            "enabled": v.enabled,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": self.vault.soft_delete_retention_days,
        });
        if let Some(n) = v.nbf {
            a["nbf"] = json!(n);
        }
        if let Some(e) = v.exp {
            a["exp"] = json!(e);
        }
        a
    }

    /// `SecretBundle` (with the value) or `SecretItem` shape (without).
    fn bundle(&self, s: &Secret, v: &SecretVersion, with_value: bool) -> Value {
        let mut b = json!({
            "id": format!("{}/secrets/{}/{}", self.origin, s.name, v.id),
            "attributes": self.attributes(v),
            "tags": v.tags,
        });
        if with_value {
            b["value"] = json!(v.value);
        }
        if let Some(ct) = &v.content_type {
            b["contentType"] = json!(ct);
        }
        b
    }

    fn deleted_bundle(&self, d: &Deleted) -> Value {
        let current = d.secret.versions.last().expect("a secret has a version");
        let mut b = self.bundle(&d.secret, current, false);
        b["recoveryId"] = json!(format!("{}/deletedsecrets/{}", self.origin, d.secret.name));
        b["deletedDate"] = json!(d.deleted);
        b["scheduledPurgeDate"] = json!(d.purge_at);
        b
    }
}

/// Handles `/secrets…` and `/deletedsecrets…`.
pub(crate) fn handle(sim: &Sim, req: &Req) -> Reply {
    match handle_inner(sim, req) {
        Ok(r) | Err(r) => r,
    }
}

fn handle_inner(sim: &Sim, req: &Req) -> Result<Reply, Reply> {
    let vault = vault_for(sim, req)?;
    let default = std::ptr::eq(vault, &sim.scenario.key_vault);
    let tenant = vault_tenant(sim, vault);
    let challenge = format!(
        "Bearer authorization=\"{}/{tenant}\", resource=\"https://vault.azure.net\"",
        req.base
    );
    let Some(token) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return Err(kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.".to_owned(),
        )
        .with_header("www-authenticate", challenge));
    };
    let claims =
        auth::validate(sim, token.trim(), &VAULT_AUDIENCES, "access token").map_err(|_| {
            kv_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10022: Invalid audience, issuer, signature or lifetime of the access token."
                    .to_owned(),
            )
            .with_header("www-authenticate", challenge.clone())
        })?;
    if !claims.tid.eq_ignore_ascii_case(&tenant) {
        return Err(kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found {}.", claims.iss),
        )
        .with_header("www-authenticate", challenge));
    }
    let Some(version) = req.query("api-version") else {
        return Err(bad_parameter(
            "The 'api-version' query parameter is required.".to_owned(),
        ));
    };
    crate::arm::check_key_vault_api_version(version)?;
    let scheme = req.base.split("://").next().unwrap_or("https");
    let origin = match req.header("host") {
        Some(h) if !h.is_empty() => format!("{scheme}://{h}"),
        _ => req.base.clone(),
    };
    let call = Call {
        sim,
        req,
        vault,
        default,
        claims,
        tenant,
        origin,
    };
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = &req.method;
    match segs.as_slice() {
        ["secrets"] if m == Method::GET => list(&call),
        ["secrets", name] if m == Method::GET => get(&call, name, None),
        ["secrets", name] if m == Method::PUT => set(&call, name),
        ["secrets", name] if m == Method::DELETE => delete(&call, name),
        ["secrets", name] if m == Method::PATCH => update(&call, name, ""),
        ["secrets", name, "versions"] if m == Method::GET => versions(&call, name),
        ["secrets", name, version] if m == Method::GET => get(&call, name, Some(version)),
        ["secrets", name, version] if m == Method::PATCH => update(&call, name, version),
        ["deletedsecrets"] if m == Method::GET => list_deleted(&call),
        ["deletedsecrets", name] if m == Method::GET => get_deleted(&call, name),
        ["deletedsecrets", name] if m == Method::DELETE => purge(&call, name),
        ["deletedsecrets", name, "recover"] if m == Method::POST => recover(&call, name),
        _ => Err(kv_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadParameter",
            format!(
                "The method {} is not supported on {path} by azure-sim's Key Vault.",
                req.method
            ),
        )),
    }
}

fn with_state<T>(call: &Call, f: impl FnOnce(&mut VaultState, i64) -> T) -> T {
    let mut st = call.sim.state();
    let vs = vault_state(&mut st, call.vault, call.default);
    let now = now_unix();
    vs.deleted.retain(|_, d| d.purge_at > now);
    f(vs, now)
}

fn get(call: &Call, name: &str, version: Option<&str>) -> Result<Reply, Reply> {
    call.require("getSecret/action", Some(name))?;
    with_state(call, |vs, _| {
        let s = vs
            .secrets
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| not_found(name))?;
        let v = match version.filter(|v| !v.is_empty()) {
            None => s.versions.last(),
            Some(id) => s.versions.iter().find(|v| v.id.eq_ignore_ascii_case(id)),
        }
        .ok_or_else(|| {
            kv_error(
                StatusCode::NOT_FOUND,
                "SecretNotFound",
                format!(
                    "A secret with (name/id) {name}/{} was not found in this key vault.",
                    version.unwrap_or_default()
                ),
            )
        })?;
        if !v.enabled {
            return Err(kv_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.".to_owned(),
            ));
        }
        Ok(Reply::json(StatusCode::OK, call.bundle(s, v, true)))
    })
}

fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn attrs_of(body: &Value) -> (Option<bool>, Option<i64>, Option<i64>) {
    let a = &body["attributes"];
    (a["enabled"].as_bool(), a["nbf"].as_i64(), a["exp"].as_i64())
}

fn set(call: &Call, name: &str) -> Result<Reply, Reply> {
    if !valid_name(name) {
        return Err(bad_parameter(format!(
            "The request URI contains an invalid name: {name}"
        )));
    }
    call.require("setSecret/action", Some(name))?;
    let body: Value = call
        .req
        .json()
        .map_err(|e| bad_parameter(format!("The request body is not valid JSON: {e}")))?;
    let Some(value) = body["value"].as_str() else {
        return Err(bad_parameter("Property 'value' is required.".to_owned()));
    };
    with_state(call, |vs, now| {
        let k = name.to_ascii_lowercase();
        if vs.deleted.contains_key(&k) {
            return Err(kv_error(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
                ),
            ));
        }
        let (enabled, nbf, exp) = attrs_of(&body);
        let version = SecretVersion {
            id: uuid::Uuid::new_v4().simple().to_string(),
            value: value.to_owned(),
            content_type: body["contentType"].as_str().map(str::to_owned),
            tags: body.get("tags").cloned().unwrap_or_else(|| json!({})),
            enabled: enabled.unwrap_or(true),
            nbf,
            exp,
            created: now,
            updated: now,
        };
        let s = vs.secrets.entry(k).or_insert_with(|| Secret {
            name: name.to_owned(),
            versions: Vec::new(),
        });
        s.versions.push(version);
        let v = s.versions.last().expect("just pushed");
        Ok(Reply::json(StatusCode::OK, call.bundle(s, v, true)))
    })
}

fn update(call: &Call, name: &str, version: &str) -> Result<Reply, Reply> {
    call.require("update/action", Some(name))?;
    let body: Value = call
        .req
        .json()
        .map_err(|e| bad_parameter(format!("The request body is not valid JSON: {e}")))?;
    with_state(call, |vs, now| {
        let s = vs
            .secrets
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| not_found(name))?;
        let v = if version.is_empty() {
            s.versions.last_mut()
        } else {
            s.versions
                .iter_mut()
                .find(|v| v.id.eq_ignore_ascii_case(version))
        }
        .ok_or_else(|| not_found(&format!("{name}/{version}")))?;
        let (enabled, nbf, exp) = attrs_of(&body);
        if let Some(e) = enabled {
            v.enabled = e;
        }
        if nbf.is_some() {
            v.nbf = nbf;
        }
        if exp.is_some() {
            v.exp = exp;
        }
        if let Some(ct) = body["contentType"].as_str() {
            v.content_type = Some(ct.to_owned());
        }
        if let Some(tags) = body.get("tags").filter(|t| t.is_object()) {
            v.tags = tags.clone();
        }
        v.updated = now;
        let v = v.clone();
        let s = s.clone();
        Ok(Reply::json(StatusCode::OK, call.bundle(&s, &v, false)))
    })
}

fn delete(call: &Call, name: &str) -> Result<Reply, Reply> {
    call.require("delete", Some(name))?;
    let days = i64::from(call.vault.soft_delete_retention_days);
    with_state(call, |vs, now| {
        let k = name.to_ascii_lowercase();
        let s = vs.secrets.remove(&k).ok_or_else(|| not_found(name))?;
        let d = Deleted {
            secret: s,
            deleted: now,
            purge_at: now + days * 86_400,
        };
        let body = call.deleted_bundle(&d);
        vs.deleted.insert(k, d);
        Ok(Reply::json(StatusCode::OK, body))
    })
}

fn list(call: &Call) -> Result<Reply, Reply> {
    call.require("readMetadata/action", None)?;
    let items = with_state(call, |vs, _| {
        vs.secrets
            .values()
            .map(|s| {
                let v = s.versions.last().expect("a secret has a version");
                let mut item = call.bundle(s, v, false);
                item["id"] = json!(format!("{}/secrets/{}", call.origin, s.name));
                item
            })
            .collect::<Vec<_>>()
    });
    Ok(page(call, items, "/secrets"))
}

fn versions(call: &Call, name: &str) -> Result<Reply, Reply> {
    call.require("readMetadata/action", Some(name))?;
    let items = with_state(call, |vs, _| {
        vs.secrets
            .get(&name.to_ascii_lowercase())
            .map(|s| {
                s.versions
                    .iter()
                    .map(|v| call.bundle(s, v, false))
                    .collect::<Vec<_>>()
            })
            .ok_or_else(|| not_found(name))
    })?;
    Ok(page(call, items, &format!("/secrets/{name}/versions")))
}

fn list_deleted(call: &Call) -> Result<Reply, Reply> {
    call.require("readMetadata/action", None)?;
    let items = with_state(call, |vs, _| {
        vs.deleted
            .values()
            .map(|d| {
                let mut item = call.deleted_bundle(d);
                item["id"] = json!(format!("{}/secrets/{}", call.origin, d.secret.name));
                item
            })
            .collect::<Vec<_>>()
    });
    Ok(page(call, items, "/deletedsecrets"))
}

fn deleted_not_found(name: &str) -> Reply {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        format!("Deleted Secret not found: {name}"),
    )
}

fn get_deleted(call: &Call, name: &str) -> Result<Reply, Reply> {
    call.require("readMetadata/action", Some(name))?;
    with_state(call, |vs, _| {
        let d = vs
            .deleted
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| deleted_not_found(name))?;
        Ok(Reply::json(StatusCode::OK, call.deleted_bundle(d)))
    })
}

fn purge(call: &Call, name: &str) -> Result<Reply, Reply> {
    call.require("purge/action", Some(name))?;
    with_state(call, |vs, _| {
        vs.deleted
            .remove(&name.to_ascii_lowercase())
            .ok_or_else(|| deleted_not_found(name))?;
        Ok(Reply::json(StatusCode::NO_CONTENT, Value::Null))
    })
}

fn recover(call: &Call, name: &str) -> Result<Reply, Reply> {
    call.require("recover/action", Some(name))?;
    with_state(call, |vs, _| {
        let k = name.to_ascii_lowercase();
        let d = vs
            .deleted
            .remove(&k)
            .ok_or_else(|| deleted_not_found(name))?;
        let s = d.secret;
        let v = s.versions.last().expect("a secret has a version").clone();
        let body = call.bundle(&s, &v, false);
        vs.secrets.insert(k, s);
        Ok(Reply::json(StatusCode::OK, body))
    })
}

/// A Key Vault list page: `maxresults` (1–25, default 25) per page, `nextLink` with a
/// `$skiptoken` while more remain, `null` on the last page.
fn page(call: &Call, items: Vec<Value>, path: &str) -> Reply {
    let size = call
        .req
        .query("maxresults")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| (1..=25).contains(m))
        .unwrap_or(25);
    let skip = call
        .req
        .query("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let end = (skip + size).min(items.len());
    let more = end < items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(end - skip).collect();
    let next_link = if more {
        json!(format!(
            "{}{path}?api-version={}&$skiptoken={end}&maxresults={size}",
            call.origin,
            call.req.query("api-version").unwrap_or_default()
        ))
    } else {
        Value::Null
    };
    Reply::json(
        StatusCode::OK,
        json!({"value": value, "nextLink": next_link}),
    )
}
