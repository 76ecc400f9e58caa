//! Shared Access Signature tokens
//! (learn.microsoft.com/azure/service-bus-messaging/service-bus-sas, "Generate a SAS token").

use crate::redact::SecretString;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use url::form_urlencoded::byte_serialize;

/// `SharedAccessSignature sr=<enc uri>&sig=<enc b64 HMAC-SHA256(key, enc uri + "\n" + expiry)>&se=<expiry>&skn=<name>`.
/// `resource_uri` is the entity URL, `expiry` Unix seconds. The key is used as UTF-8 bytes, as the
/// Azure SDKs do.
pub fn sas_token(
    resource_uri: &str,
    key_name: &str,
    key: &SecretString,
    expiry: i64,
) -> SecretString {
    let encoded_uri: String = byte_serialize(resource_uri.as_bytes()).collect();
    let string_to_sign = format!("{encoded_uri}\n{expiry}");
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.expose().as_bytes());
    let signature = ring::hmac::sign(&hmac_key, string_to_sign.as_bytes());
    let sig: String = byte_serialize(STANDARD.encode(signature.as_ref()).as_bytes()).collect();
    let skn: String = byte_serialize(key_name.as_bytes()).collect();
    SecretString::new(format!(
        "SharedAccessSignature sr={encoded_uri}&sig={sig}&se={expiry}&skn={skn}"
    ))
}
