//! Entra ID v2 token endpoint, client-credentials grant only.
//!
//! Request and response shapes: MicrosoftDocs/entra-docs
//! `docs/identity-platform/v2-oauth2-client-creds-grant-flow.md` (see reference/arm/NOTES.md §3).
//! AADSTS texts: learn.microsoft.com/entra/identity-platform/reference-error-codes and the error
//! bodies quoted in public issues (e.g. "AADSTS7000215: Invalid client secret provided. Ensure the
//! secret being sent in the request is the client secret value, not the client secret ID, for a
//! secret added to app '...'").

use http::StatusCode;
use serde_json::{Value, json};

use crate::http::{Reply, Req};
use crate::jwt::{decode_unverified, now_unix};
use crate::scenario::AppRegistration;
use crate::sim::{Sim, TOKEN_LIFETIME, TokenSubject};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An Entra error body: `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}`.
pub(crate) fn aad_error(status: StatusCode, error: &str, code: u32, message: &str) -> Reply {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let ts = time::OffsetDateTime::now_utc();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );
    let description = format!(
        "AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"
    );
    let mut r = Reply::json(
        status,
        json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
        }),
    );
    r.error_code = Some(format!("AADSTS{code}"));
    r
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token(sim: &Sim, tenant: &str, req: &Req) -> Reply {
    let form = req.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(tenant_rec) = sim.scenario.tenant(tenant) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        );
    };
    let tenant = tenant_rec.id.clone();
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            );
        }
        None => return missing_param("grant_type"),
    }
    let (basic_id, basic_secret) = basic_auth(req);
    let Some(client_id) = field("client_id").map(str::to_owned).or(basic_id) else {
        return missing_param("client_id");
    };
    let Some(scope) = field("scope") else {
        return missing_param("scope");
    };
    let Some(resource) = scope.strip_suffix("/.default") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    let app = match sim.scenario.app(&client_id) {
        Some(app) if app.is_consented(&tenant) => app,
        _ => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                    tenant_rec.id
                ),
            );
        }
    };
    let secret = field("client_secret").map(str::to_owned).or(basic_secret);
    let assertion = field("client_assertion");
    let outcome = match (secret, assertion) {
        (Some(secret), _) => check_secret(app, &secret),
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(JWT_BEARER) {
                return aad_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    "JWT token is invalid or malformed: client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                );
            }
            check_assertion(sim, app, assertion)
        }
        (None, None) => Err(aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    };
    if let Err(reply) = outcome {
        return reply;
    }
    let who = TokenSubject {
        oid: app.object_id(&tenant),
        appid: app.client_id.clone(),
        tenant,
    };
    let access_token = sim.issue_token(&who, resource, TOKEN_LIFETIME);
    Reply::json(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": access_token
        }),
    )
}

fn missing_param(name: &str) -> Reply {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1; accepted by Entra).
fn basic_auth(req: &Req) -> (Option<String>, Option<String>) {
    use base64::Engine;
    let Some(v) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
    else {
        return (None, None);
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(v.trim()) else {
        return (None, None);
    };
    let text = String::from_utf8_lossy(&raw);
    match text.split_once(':') {
        Some((id, secret)) => {
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            (dec(id), dec(secret))
        }
        None => (None, None),
    }
}

fn check_secret(app: &AppRegistration, presented: &str) -> Result<(), Reply> {
    let ok = app.secret.as_deref().is_some_and(|s| {
        s.len() == presented.len()
            && s.bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        Ok(())
    } else {
        Err(aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        ))
    }
}

/// Certificate or federated client assertion.
fn check_assertion(sim: &Sim, app: &AppRegistration, assertion: &str) -> Result<(), Reply> {
    let malformed = || {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let (header, payload) = decode_unverified(assertion).map_err(|_| malformed())?;
    let now = now_unix();
    let exp = payload.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let nbf = payload.get("nbf").and_then(Value::as_i64).unwrap_or(0);
    if now >= exp || now + 300 < nbf {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700024,
            &format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
            ),
        ));
    }
    // Certificate credential: matched by the `x5t#S256` thumbprint; the RS256 signature is
    // verified when the scenario gives the certificate's public key (README: limitations).
    if let Some(thumb) = header.get("x5t#S256").and_then(Value::as_str) {
        if let Some(cert) = app.certificates.iter().find(|c| c.thumbprint == thumb) {
            return verify_rs256(cert, assertion);
        }
        return Err(aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            &format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}']"
            ),
        ));
    }
    // Federated credential: the assertion must be signed by the simulator (its managed-identity
    // endpoint or its workload-identity issuer) and match an FIC's issuer, subject and audience.
    let claims = sim.signer.verify(assertion).map_err(|_| {
        aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found.]",
        )
    })?;
    let by_issuer: Vec<_> = app
        .federated_credentials
        .iter()
        .filter(|f| f.issuer == claims.iss)
        .collect();
    if by_issuer.is_empty() {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            700211,
            &format!(
                "No matching federated identity record found for presented assertion issuer '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
                claims.iss
            ),
        ));
    }
    let by_subject: Vec<_> = by_issuer
        .into_iter()
        .filter(|f| f.subject == claims.sub)
        .collect();
    if by_subject.is_empty() {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            700213,
            &format!(
                "No matching federated identity record found for presented assertion subject '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
                claims.sub
            ),
        ));
    }
    if !by_subject.iter().any(|f| f.audience == claims.aud) {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            700212,
            &format!(
                "No matching federated identity record found for presented assertion audience '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
                claims.aud
            ),
        ));
    }
    Ok(())
}

/// Verifies an RS256 JWS with the certificate's public key (when the scenario has one).
fn verify_rs256(
    cert: &crate::scenario::CertificateCredential,
    assertion: &str,
) -> Result<(), Reply> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (Some(n), Some(e)) = (&cert.n, &cert.e) else {
        return Ok(());
    };
    let invalid = || {
        aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]",
        )
    };
    let (signing_input, sig) = assertion.rsplit_once('.').ok_or_else(invalid)?;
    let alg = crate::jwt::decode_unverified(assertion)
        .ok()
        .and_then(|(h, _)| h.get("alg").and_then(Value::as_str).map(str::to_owned));
    if alg.as_deref() != Some("RS256") {
        return Err(invalid());
    }
    let (Ok(n), Ok(e), Ok(sig)) = (b64.decode(n), b64.decode(e), b64.decode(sig)) else {
        return Err(invalid());
    };
    let key = ring::signature::RsaPublicKeyComponents { n, e };
    key.verify(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        signing_input.as_bytes(),
        &sig,
    )
    .map_err(|_| invalid())
}
