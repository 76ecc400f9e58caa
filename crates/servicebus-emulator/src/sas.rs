//! Shared Access Signature tokens, as Service Bus checks them (clients make them with
//! `azure_clients::servicebus::sas_token`).
//!
//! Source: learn.microsoft.com/azure/service-bus-messaging/service-bus-sas ("Generate a Shared
//! Access Signature token"): `SharedAccessSignature sr={url-encoded resource URI}&sig={url-encoded
//! base64 HMAC-SHA256 of "{url-encoded resource URI}\n{expiry}"}&se={expiry, unix seconds}&skn={key name}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SasError {
    /// No `SharedAccessSignature ` prefix.
    #[error("the Authorization header is not a SharedAccessSignature")]
    NotSas,
    /// A field is missing.
    #[error("the SharedAccessSignature has no {0}")]
    Missing(&'static str),
    /// The key name is not the capture's.
    #[error("unknown key name {0:?}")]
    UnknownKeyName(String),
    /// The signature does not match.
    #[error("the signature does not match")]
    BadSignature,
    /// `se` is in the past.
    #[error("the token expired")]
    Expired,
    /// The token's resource does not cover the entity.
    #[error("the token's resource {resource:?} does not cover {entity:?}")]
    WrongResource {
        /// Decoded `sr`.
        resource: String,
        /// Entity path asked for.
        entity: String,
    },
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn hmac(key: &str, resource_encoded: &str, expiry: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{resource_encoded}\n{expiry}").as_bytes());
    STANDARD.encode(tag.as_ref())
}

/// Checks `header` for `entity` (the path of the entity, e.g. `deployment-requested`).
pub fn verify(
    header: &str,
    key_name: &str,
    key: &str,
    entity: &str,
    now: i64,
) -> Result<(), SasError> {
    let token = header
        .strip_prefix("SharedAccessSignature ")
        .ok_or(SasError::NotSas)?;
    let mut sr = None;
    let mut sig = None;
    let mut se = None;
    let mut skn = None;
    for part in token.split('&') {
        match part.split_once('=') {
            Some(("sr", v)) => sr = Some(v),
            Some(("sig", v)) => sig = Some(v),
            Some(("se", v)) => se = Some(v),
            Some(("skn", v)) => skn = Some(v),
            _ => {}
        }
    }
    let sr = sr.ok_or(SasError::Missing("sr"))?;
    let sig = sig.ok_or(SasError::Missing("sig"))?;
    let se = se.ok_or(SasError::Missing("se"))?;
    let skn = skn.ok_or(SasError::Missing("skn"))?;
    if skn != key_name {
        return Err(SasError::UnknownKeyName(skn.to_string()));
    }
    // The signed string is the resource URI as it stands in the token (url-encoded). Some senders
    // encode differently from us, so also accept our own encoding of the decoded value.
    let resource = decode(sr);
    let expected = decode(sig);
    if hmac(key, sr, se) != expected && hmac(key, &encode(&resource), se) != expected {
        return Err(SasError::BadSignature);
    }
    let expiry: i64 = se.parse().map_err(|_| SasError::Missing("se"))?;
    if expiry < now {
        return Err(SasError::Expired);
    }
    // The resource covers the entity when its path is a prefix of the entity's path
    // (a namespace-level token covers every entity).
    let path = resource
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(&resource);
    let path = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    let path = path.trim_matches('/').to_ascii_lowercase();
    let entity_lc = entity.trim_matches('/').to_ascii_lowercase();
    if !(path.is_empty() || entity_lc == path || entity_lc.starts_with(&format!("{path}/"))) {
        return Err(SasError::WrongResource {
            resource,
            entity: entity.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(resource_uri: &str, key_name: &str, key: &str, expiry: i64) -> String {
        azure_clients::servicebus::sas_token(
            resource_uri,
            key_name,
            &azure_clients::SecretString::new(key),
            expiry,
        )
        .expose()
        .to_string()
    }

    #[test]
    fn signs_and_verifies() {
        let t = sign("http://127.0.0.1:1/orders", "k", "secret", 2_000_000_000);
        assert!(t.starts_with("SharedAccessSignature sr=http%3A%2F%2F127.0.0.1%3A1%2Forders&sig="));
        assert_eq!(verify(&t, "k", "secret", "orders", 1_000), Ok(()));
        assert_eq!(
            verify(&t, "k", "other", "orders", 1_000),
            Err(SasError::BadSignature)
        );
        assert_eq!(
            verify(&t, "k", "secret", "orders", 2_000_000_001),
            Err(SasError::Expired)
        );
        assert!(matches!(
            verify(&t, "k", "secret", "payments", 1_000),
            Err(SasError::WrongResource { .. })
        ));
        assert_eq!(
            verify(&t, "j", "secret", "orders", 1_000),
            Err(SasError::UnknownKeyName("k".into()))
        );
    }

    #[test]
    fn namespace_token_covers_every_entity() {
        let t = sign("sb://ns.servicebus.windows.net/", "k", "s", 2_000_000_000);
        assert_eq!(verify(&t, "k", "s", "a", 0), Ok(()));
        assert_eq!(verify(&t, "k", "s", "b/c", 0), Ok(()));
    }

    #[test]
    fn the_documented_token_shape_parses() {
        // reference/functions/servicebus-rest-send-message.txt (signature not ours: refused as such).
        let doc = "SharedAccessSignature sr=your-namespace&sig=Fg8yUyR4MOmXfHfj55f5hY4jGb8x2Yc%2b3%2fULKZYxKZk%3d&se=1404256819&skn=RootManageSharedAccessKey";
        assert_eq!(
            verify(doc, "RootManageSharedAccessKey", "x", "q", 0),
            Err(SasError::BadSignature)
        );
    }
}
