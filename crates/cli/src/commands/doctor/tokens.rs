//! The app's token in each tenant (AADSTS700016: not consented, with the consent URL).

use super::app_id;
use super::report::Report;
use crate::commands::consent_url::consent_url;
use crate::session::Session;
use azure_clients::TokenError;

/// A token for ARM in `tenant`: ✓, or ✗ with the consent URL for AADSTS700016.
pub(super) async fn token_ok(r: &mut Report, session: &Session, tenant: &str, role: &str) -> bool {
    let name = format!("token in {role} {tenant}");
    match session
        .tokens
        .token(tenant, &session.endpoints.arm_scope)
        .await
    {
        Ok(_) => {
            r.ok(&name, "the app signs in there");
            true
        }
        Err(TokenError::AppNotConsented {
            consent_url: url,
            client_id,
            ..
        }) => {
            r.bad(
                &name,
                format!("AADSTS700016: app {client_id} is not consented in tenant {tenant}"),
                format!("an administrator of {tenant} opens {url}"),
            );
            false
        }
        Err(e) => {
            // A request that got no answer says nothing about the credential or the consent.
            if let Some(u) = session.places().token(&e) {
                r.bad(&name, u.to_string(), u.hint());
                return false;
            }
            let fix = match (e.aadsts_code(), e.hint()) {
                (Some("90002"), _) => "check the tenant id".to_owned(),
                (_, Some(hint)) => hint,
                _ if e.is_transient() => {
                    "the token endpoint is unavailable for now (5xx or throttled): try again later"
                        .to_owned()
                }
                _ => format!(
                    "fix the app's credential; if the app is not consented there: {}",
                    consent_url(tenant, &app_id())
                ),
            };
            r.bad(&name, e.to_string(), fix);
            false
        }
    }
}
