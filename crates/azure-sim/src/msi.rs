//! App Service managed-identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`).
//!
//! Protocol: learn.microsoft.com/azure/app-service/overview-managed-identity ("REST endpoint
//! reference"): `GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01` with header
//! `X-IDENTITY-HEADER`; response `{access_token, expires_on, resource, token_type, client_id}`
//! where `expires_on` is seconds since the epoch as a string.

use http::StatusCode;
use serde_json::json;

use crate::http::{Reply, Req};
use crate::jwt::now_unix;
use crate::sim::{Sim, TOKEN_LIFETIME, TokenSubject};

/// Audiences used for federated-credential exchange (public, Azure Government, Azure China);
/// such tokens use the v2 issuer `https://login.microsoftonline.com/{tid}/v2.0` and `sub` = the
/// identity's object id (learn.microsoft.com "Configure an application to trust a managed
/// identity").
const EXCHANGE_AUDIENCES: [&str; 3] = [
    "api://AzureADTokenExchange",
    "api://AzureADTokenExchangeUSGov",
    "api://AzureADTokenExchangeChina",
];

fn error(status: StatusCode, message: &str) -> Reply {
    let mut r = Reply::json(
        status,
        json!({"statusCode": status.as_u16(), "message": message}),
    );
    r.error_code = Some(format!("msi_{}", status.as_u16()));
    r
}

/// `GET /msi/token`.
pub(crate) fn token(sim: &Sim, req: &Req) -> Reply {
    let Some(mi) = &sim.scenario.managed_identity else {
        return error(
            StatusCode::BAD_REQUEST,
            "No managed identity is configured for this app.",
        );
    };
    if req.header("x-identity-header") != Some(mi.identity_header.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER header is missing or invalid.",
        );
    }
    if req.query("api-version") != Some("2019-08-01") {
        return error(StatusCode::BAD_REQUEST, "api-version must be 2019-08-01.");
    }
    let Some(resource) = req.query("resource").filter(|r| !r.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The 'resource' query parameter is required.",
        );
    };
    if let Some(cid) = req.query("client_id")
        && !cid.eq_ignore_ascii_case(&mi.client_id)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "No user-assigned identity with this client_id is assigned to the app.",
        );
    }

    let aud = resource.strip_suffix("/.default").unwrap_or(resource);
    let access_token = if EXCHANGE_AUDIENCES.contains(&aud) {
        let issuer = format!("https://login.microsoftonline.com/{}/v2.0", mi.tenant);
        sim.mint_federated(&issuer, &mi.object_id, aud)
    } else {
        let who = TokenSubject {
            tenant: mi.tenant.clone(),
            appid: mi.client_id.clone(),
            oid: mi.object_id.clone(),
        };
        sim.issue_token(&who, aud, TOKEN_LIFETIME)
    };
    Reply::json(
        StatusCode::OK,
        json!({
            "access_token": access_token,
            "expires_on": (now_unix() + TOKEN_LIFETIME).to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": mi.client_id
        }),
    )
}
