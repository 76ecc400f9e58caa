//! ARM authentication (bearer and auxiliary tokens) and RBAC by scope prefix.
//!
//! Error codes and texts: reference/arm/NOTES.md §3 (InvalidAuthenticationTokenTenant,
//! LinkedAuthorizationFailed), learn.microsoft.com "Authenticate requests across tenants"
//! (`x-ms-authorization-auxiliary`, up to three tokens), and the AuthorizationFailed text quoted
//! by Azure in public issues ("The client '...' with object id '...' does not have authorization
//! to perform action '...' over scope '...' or the scope is invalid. If access was recently
//! granted, please refresh your credentials.").

use http::StatusCode;

use crate::http::{Reply, Req};
use crate::jwt::{Claims, now_unix};
use crate::sim::Sim;

/// Audiences ARM accepts.
const ARM_AUDIENCES: [&str; 4] = [
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];

/// Key Vault audiences.
pub(crate) const VAULT_AUDIENCES: [&str; 2] =
    ["https://vault.azure.net", "https://vault.azure.net/"];

/// An authenticated principal.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) tenant: String,
    pub(crate) appid: String,
    pub(crate) oid: String,
}

impl From<Claims> for Caller {
    fn from(c: Claims) -> Self {
        Self {
            tenant: c.tid,
            appid: c.appid,
            oid: c.oid,
        }
    }
}

fn unauthorized(code: &str, message: String) -> Reply {
    let challenge = format!(
        "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{}\"",
        message.replace('"', "'")
    );
    Reply::arm_error(StatusCode::UNAUTHORIZED, code, message)
        .with_header("www-authenticate", challenge)
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Validates one token (signature, lifetime, audience). `what` names it in messages.
pub(crate) fn validate(
    sim: &Sim,
    token: &str,
    audiences: &[&str],
    what: &str,
) -> Result<Claims, Reply> {
    let claims = sim.signer.verify(token).map_err(|_| {
        unauthorized(
            "InvalidAuthenticationToken",
            format!("The {what} is invalid."),
        )
    })?;
    let now = now_unix();
    if claims.exp <= now {
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            format!(
                "The {what} expiry UTC time '{}' is earlier than current UTC time '{}'. (client '{}', tenant '{}')",
                rfc3339(claims.exp),
                rfc3339(now),
                claims.appid,
                claims.tid
            ),
        ));
    }
    if claims.nbf > now + 300 {
        return Err(unauthorized(
            "InvalidAuthenticationToken",
            format!("The {what} is not yet valid."),
        ));
    }
    if !audiences.contains(&claims.aud.as_str()) {
        let allowed = audiences
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(",");
        return Err(unauthorized(
            "InvalidAuthenticationTokenAudience",
            format!(
                "The {what} has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences {allowed}.",
                claims.aud
            ),
        ));
    }
    Ok(claims)
}

/// The primary bearer token of an ARM request.
pub(crate) fn primary(sim: &Sim, req: &Req) -> Result<Caller, Reply> {
    let Some(h) = req.header("authorization") else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_owned(),
        ));
    };
    let Some(token) = strip_scheme(h.trim()) else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .to_owned(),
        ));
    };
    validate(sim, token, &ARM_AUDIENCES, "access token").map(Caller::from)
}

fn strip_scheme(v: &str) -> Option<&str> {
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("Bearer") || scheme.eq_ignore_ascii_case("EncryptedBearer"))
        .then_some(token.trim())
}

/// The raw auxiliary tokens (`Bearer a, EncryptedBearer b, ...`).
pub(crate) fn aux_raw(req: &Req) -> Vec<String> {
    req.header("x-ms-authorization-auxiliary")
        .map(|h| {
            h.split(',')
                .filter_map(|p| strip_scheme(p.trim()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates all auxiliary tokens; every one must be valid (else 401), at most three.
pub(crate) fn auxiliary(sim: &Sim, req: &Req) -> Result<Vec<Caller>, Reply> {
    let raw = aux_raw(req);
    if req.header("x-ms-authorization-auxiliary").is_some() && raw.is_empty() {
        return Err(unauthorized(
            "InvalidAuthenticationToken",
            "The auxiliary access token is invalid: the 'x-ms-authorization-auxiliary' header is provided in an invalid format.".to_owned(),
        ));
    }
    if raw.len() > 3 {
        return Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidAuxiliaryTokens",
            "The 'x-ms-authorization-auxiliary' header may contain at most three tokens.",
        ));
    }
    raw.iter()
        .map(|t| validate(sim, t, &ARM_AUDIENCES, "auxiliary access token").map(Caller::from))
        .collect()
}

/// The token's tenant must own the subscription (reference/arm/NOTES.md §3).
pub(crate) fn check_tenant(sim: &Sim, caller: &Caller, subscription: &str) -> Result<(), Reply> {
    let Some(owner) = sim.scenario.tenant_of_subscription(subscription) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{subscription}' could not be found."),
        ));
    };
    if owner.id.eq_ignore_ascii_case(&caller.tenant) {
        return Ok(());
    }
    Err(unauthorized(
        "InvalidAuthenticationTokenTenant",
        format!(
            "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the tenant 'https://sts.windows.net/{}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
            caller.tenant, owner.id, owner.id
        ),
    ))
}

/// Whether `caller` holds a role granting `action` at `scope` or above.
pub(crate) fn authorized(sim: &Sim, caller: &Caller, action: &str, scope: &str) -> bool {
    let scope = scope.trim_end_matches('/').to_ascii_lowercase();
    sim.scenario.role_assignments.iter().any(|ra| {
        let principal_matches = ra.principal.eq_ignore_ascii_case(&caller.oid)
            || (!caller.appid.is_empty() && ra.principal.eq_ignore_ascii_case(&caller.appid));
        let a = ra.scope.trim_end_matches('/').to_ascii_lowercase();
        let scope_matches = scope == a || scope.starts_with(&format!("{a}/"));
        principal_matches && scope_matches && sim.scenario.role_allows(&ra.role, action)
    })
}

/// 403 AuthorizationFailed with Azure's text.
pub(crate) fn authorization_failed(caller: &Caller, action: &str, scope: &str) -> Reply {
    Reply::arm_error(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            caller.oid, caller.oid
        ),
    )
}
