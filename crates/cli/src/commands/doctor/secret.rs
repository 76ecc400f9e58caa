//! The Key Vault secret of a Windows password, read as the app (its home tenant).

use super::report::Report;
use crate::session::Session;
use azure_clients::{KeyVaultSecrets, RetryPolicy};

/// The secret line.
pub(super) async fn readable(r: &mut Report, session: &Session, secret: &str, app: &str) {
    let home = std::env::var("AZURE_TENANT_ID").unwrap_or_default();
    let kv = KeyVaultSecrets::new(
        &session.endpoints,
        session.tokens.clone(),
        RetryPolicy::default(),
    );
    match kv.get(secret, &home).await {
        Ok(_) => r.ok("Key Vault secret readable", secret),
        Err(e) => match session.places().keyvault(&e, secret) {
            Some(u) => r.bad("Key Vault secret readable", u.to_string(), u.hint()),
            None => r.bad(
            "Key Vault secret readable",
            e.to_string(),
            format!("grant the app the role Key Vault Secrets User on the secret or vault (az role assignment create --assignee {app} --role \"Key Vault Secrets User\" --scope <vault id>)"),
            ),
        },
    }
}
