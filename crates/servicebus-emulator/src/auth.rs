//! Who may call: a Shared Access Signature made with the namespace key (see [`crate::sas`]), or
//! an Entra access token (`Authorization: Bearer`) for Service Bus from an allowed tenant.
//!
//! Entra tokens: the audience must be `https://servicebus.azure.net` (the scope
//! `https://servicebus.azure.net/.default`), the token unexpired and its `tid` one of the
//! configured tenants. The signature is not verified: the local Entra stand-in (azure-sim) signs
//! with a per-process key that it does not publish, so the stand-in checks the claims only. With
//! no tenants configured, Entra tokens are refused.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::sas::{self, SasError};

/// Audience of Service Bus data-plane tokens.
pub const SERVICEBUS_AUDIENCE: &str = "https://servicebus.azure.net";

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// A bad SAS token.
    #[error(transparent)]
    Sas(#[from] SasError),
    /// A bad Entra token.
    #[error("Entra token refused: {0}")]
    Entra(String),
}

/// The namespace's credentials.
#[derive(Clone)]
pub struct Auth {
    /// SAS key name.
    pub key_name: String,
    /// SAS key.
    pub key: String,
    /// Tenants whose Entra tokens are accepted.
    pub entra_tenants: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("key_name", &self.key_name)
            .field("key", &"<redacted>")
            .field("entra_tenants", &self.entra_tenants)
            .finish()
    }
}

impl Auth {
    /// Checks the request's `Authorization` for `entity` (its path).
    pub fn check(&self, headers: &HeaderMap, entity: &str) -> Result<(), AuthError> {
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if let Some(token) = header.strip_prefix("Bearer ") {
            return self.check_entra(token.trim(), now);
        }
        Ok(sas::verify(header, &self.key_name, &self.key, entity, now)?)
    }

    fn check_entra(&self, token: &str, now: i64) -> Result<(), AuthError> {
        let refuse = |m: &str| Err(AuthError::Entra(m.to_string()));
        if self.entra_tenants.is_empty() {
            return refuse("this namespace accepts SAS only (no Entra tenant configured)");
        }
        let Some(payload) = token.split('.').nth(1) else {
            return refuse("not a JWT");
        };
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload) else {
            return refuse("not a JWT");
        };
        let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return refuse("not a JWT");
        };
        let aud = claims["aud"].as_str().unwrap_or_default();
        if aud.trim_end_matches('/') != SERVICEBUS_AUDIENCE {
            return refuse(&format!("audience {aud:?} is not {SERVICEBUS_AUDIENCE}"));
        }
        if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
            return refuse("expired");
        }
        let tid = claims["tid"].as_str().unwrap_or_default();
        if !self
            .entra_tenants
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tid))
        {
            return refuse(&format!("tenant {tid:?} has no access to this namespace"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            part(&serde_json::json!({"alg":"HS256"})),
            part(&claims)
        )
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", value.parse().unwrap());
        h
    }

    #[test]
    fn entra_claims_are_checked() {
        let auth = Auth {
            key_name: "k".into(),
            key: "s".into(),
            entra_tenants: vec!["t1".into()],
        };
        let far = 4_000_000_000i64;
        let ok = jwt(serde_json::json!({"aud": SERVICEBUS_AUDIENCE, "tid": "t1", "exp": far}));
        assert_eq!(auth.check(&headers(&format!("Bearer {ok}")), "q"), Ok(()));
        for bad in [
            serde_json::json!({"aud": "https://management.azure.com", "tid": "t1", "exp": far}),
            serde_json::json!({"aud": SERVICEBUS_AUDIENCE, "tid": "t2", "exp": far}),
            serde_json::json!({"aud": SERVICEBUS_AUDIENCE, "tid": "t1", "exp": 1}),
        ] {
            let t = jwt(bad);
            assert!(matches!(
                auth.check(&headers(&format!("Bearer {t}")), "q"),
                Err(AuthError::Entra(_))
            ));
        }
        assert!(auth.check(&headers("Bearer x"), "q").is_err());
        assert_eq!(auth.check(&HeaderMap::new(), "q"), Err(AuthError::Missing));
        let sas_only = Auth {
            entra_tenants: vec![],
            ..auth
        };
        assert!(
            sas_only
                .check(&headers(&format!("Bearer {ok}")), "q")
                .is_err()
        );
    }
}
