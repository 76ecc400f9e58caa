//! Client certificate → signed client assertion (RS256 JWT), without OpenSSL.
//!
//! azure_identity's `ClientCertificateCredential` needs its `client_certificate` feature, which
//! pulls in OpenSSL; the assertion is built here with `ring` instead and handed to
//! `ClientAssertionCredential`. Format per
//! learn.microsoft.com/entra/identity-platform/certificate-credentials ("Assertion format"):
//! header `alg` RS256, `typ` JWT, `x5t` (base64url SHA-1 of the DER certificate) and `x5t#S256`
//! (base64url SHA-256); claims `aud` = the tenant's v2.0 token endpoint, `iss` = `sub` = client id,
//! `jti`, `nbf`, `iat`, `exp`.

use crate::error::ConfigError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::Path;
use time::OffsetDateTime;

/// Lifetime of one assertion (Entra accepts up to a few minutes of clock skew; 10 min is what the
/// Azure SDKs use).
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// An RSA private key and its certificate, able to sign client assertions for one app.
pub struct CertificateAssertion {
    client_id: String,
    key: RsaKeyPair,
    x5t: String,
    x5t_s256: String,
    rng: SystemRandom,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Loads a PEM file holding an RSA private key (PKCS#8 or PKCS#1) and the certificate
    /// (the first `CERTIFICATE` block is the one registered on the app).
    pub fn from_pem_file(path: &Path, client_id: &str) -> Result<Self, ConfigError> {
        let err = |reason: String| ConfigError::Certificate {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::from_pem(&pem, client_id).map_err(err)
    }

    /// Like [`CertificateAssertion::from_pem_file`], from the file's bytes.
    pub fn from_pem(pem: &[u8], client_id: &str) -> Result<Self, String> {
        let cert = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or("no CERTIFICATE block")?
            .map_err(|e| format!("bad CERTIFICATE block: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("no usable private key block: {e}"))?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err("the private key must be RSA (PKCS#8 or PKCS#1)".into()),
        }
        .map_err(|e| format!("RSA private key rejected: {e}"))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        let sha256 = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        Ok(Self {
            client_id: client_id.to_owned(),
            key,
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
            rng: SystemRandom::new(),
        })
    }

    /// A fresh signed assertion for the token endpoint `audience`
    /// (`{authority}/{tenant}/oauth2/v2.0/token`).
    pub fn assertion(&self, audience: &str) -> Result<String, String> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t": self.x5t,
            "x5t#S256": self.x5t_s256,
        });
        let claims = serde_json::json!({
            "aud": audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "RSA signing failed".to_owned())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}
