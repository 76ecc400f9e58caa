//! Compact JWS (JWT) signing and verification with a per-process HMAC-SHA256 key (`ring`).
//!
//! Real Entra signs with RS256 keys published at the JWKS endpoint; nothing outside the
//! simulator verifies these signatures, so HS256 with a secret key is enough to make forged or
//! tampered tokens detectable.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a token was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Signature does not verify with the simulator's key.
    #[error("invalid signature")]
    BadSignature,
}

/// Access-token claims the simulator issues and checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Audience (resource), e.g. `https://management.azure.com`.
    pub aud: String,
    /// Issuer, `https://sts.windows.net/{tid}/`.
    pub iss: String,
    /// Tenant id.
    #[serde(default)]
    pub tid: String,
    /// Client id of the caller.
    #[serde(default)]
    pub appid: String,
    /// Object id of the service principal / managed identity in `tid`.
    #[serde(default)]
    pub oid: String,
    /// Subject.
    #[serde(default)]
    pub sub: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before (unix seconds).
    pub nbf: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Other claims.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Signs and verifies tokens with one secret key.
pub struct Signer {
    key: hmac::Key,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with a fresh random key.
    pub fn random() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system RNG available");
        Self {
            key,
            kid: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Signs `claims` as a JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = serde_json::json!({"typ": "JWT", "alg": "HS256", "kid": self.kid});
        self.sign_raw(
            &header,
            &serde_json::to_value(claims).expect("claims serialize"),
        )
    }

    /// Signs arbitrary header and payload JSON.
    pub fn sign_raw(&self, header: &Value, payload: &Value) -> String {
        let h = B64.encode(serde_json::to_vec(header).expect("json"));
        let p = B64.encode(serde_json::to_vec(payload).expect("json"));
        let signing_input = format!("{h}.{p}");
        let sig = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig.as_ref()))
    }

    /// Verifies the signature and decodes the claims (expiry is checked by the caller).
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let (signing_input, sig) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| JwtError::Malformed)?;
        let (_, payload) = decode_unverified(token)?;
        hmac::verify(&self.key, signing_input.as_bytes(), &sig)
            .map_err(|_| JwtError::BadSignature)?;
        serde_json::from_value(Value::Object(payload)).map_err(|_| JwtError::Malformed)
    }
}

/// A decoded JWT part.
pub type JsonObject = Map<String, Value>;

/// Decodes header and payload without checking the signature.
pub fn decode_unverified(token: &str) -> Result<(JsonObject, JsonObject), JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode = |s: &str| -> Result<Map<String, Value>, JwtError> {
        let bytes = B64.decode(s).map_err(|_| JwtError::Malformed)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(JwtError::Malformed),
        }
    };
    Ok((decode(h)?, decode(p)?))
}

/// Current unix time in seconds (real time; token lifetimes are never scaled).
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            aud: "https://management.azure.com".into(),
            iss: "https://sts.windows.net/t/".into(),
            tid: "t".into(),
            appid: "a".into(),
            oid: "o".into(),
            sub: "o".into(),
            iat: 1,
            nbf: 1,
            exp: 2,
            extra: Map::new(),
        }
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let s = Signer::random();
        let t = s.sign(&claims());
        assert_eq!(s.verify(&t).unwrap(), claims());
        let other = Signer::random();
        assert_eq!(other.verify(&t), Err(JwtError::BadSignature));
        let mut forged = claims();
        forged.tid = "evil".into();
        let (h, _) = t.split_once('.').unwrap();
        let sig = t.rsplit_once('.').unwrap().1;
        let p = B64.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            s.verify(&format!("{h}.{p}.{sig}")),
            Err(JwtError::BadSignature)
        );
        assert_eq!(s.verify("abc"), Err(JwtError::Malformed));
    }
}
