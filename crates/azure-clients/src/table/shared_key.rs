//! Storage connection strings and the SharedKeyLite signature of the Table service
//! (learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key, "Shared Key Lite and
//! Table service format"): `StringToSign = x-ms-date + "\n" + CanonicalizedResource`, where the
//! canonicalized resource is `/{account}{encoded URI path}` (plus `?comp=` when present, which
//! no operation here uses).

use crate::error::ConfigError;
use crate::redact::SecretString;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use url::Url;

/// The development storage account name (Azurite, the storage emulator).
pub const DEVSTORE_ACCOUNT: &str = "devstoreaccount1";
/// The development storage account key; public, published in Microsoft's emulator docs.
pub const DEVSTORE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A parsed storage connection string (the parts the Table service uses).
#[derive(Clone)]
pub struct StorageConnection {
    /// The Table service endpoint, with a trailing slash.
    pub table_endpoint: Url,
    /// The account name.
    pub account: String,
    /// The account key (base64), never printed.
    pub key: SecretString,
}

impl std::fmt::Debug for StorageConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConnection")
            .field("table_endpoint", &self.table_endpoint.as_str())
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl StorageConnection {
    /// Parses `UseDevelopmentStorage=true` or
    /// `DefaultEndpointsProtocol=..;AccountName=..;AccountKey=..;(EndpointSuffix=..|TableEndpoint=..)`.
    /// The error never contains the key.
    pub fn parse(connection_string: &str) -> Result<Self, ConfigError> {
        const NAME: &str = "storage connection string";
        let mut parts = std::collections::HashMap::new();
        for part in connection_string
            .split(';')
            .filter(|p| !p.trim().is_empty())
        {
            let (k, v) = part.split_once('=').ok_or_else(|| ConfigError::Invalid {
                name: NAME.into(),
                reason: "expected Name=Value pairs separated by ';'".into(),
            })?;
            parts.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let get = |k: &str| parts.get(k).filter(|v| !v.is_empty()).cloned();
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = get("developmentstorageproxyuri")
                .map(|p| format!("{}:10002/{DEVSTORE_ACCOUNT}/", p.trim_end_matches('/')))
                .unwrap_or_else(|| format!("http://127.0.0.1:10002/{DEVSTORE_ACCOUNT}/"));
            return Ok(Self {
                table_endpoint: crate::endpoints::check_endpoint(NAME, &endpoint)?,
                account: DEVSTORE_ACCOUNT.into(),
                key: SecretString::new(DEVSTORE_KEY),
            });
        }
        let account = get("accountname").ok_or(ConfigError::Missing("AccountName"))?;
        let key = get("accountkey").ok_or(ConfigError::Missing("AccountKey"))?;
        if STANDARD.decode(&key).is_err() {
            return Err(ConfigError::Invalid {
                name: NAME.into(),
                reason: "AccountKey is not base64".into(),
            });
        }
        let endpoint = match get("tableendpoint") {
            Some(e) => e,
            None => {
                let protocol = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
                let suffix = get("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
                format!("{protocol}://{account}.table.{suffix}/")
            }
        };
        let endpoint = format!("{}/", endpoint.trim_end_matches('/'));
        Ok(Self {
            table_endpoint: crate::endpoints::check_endpoint(NAME, &endpoint)?,
            account,
            key: SecretString::new(key),
        })
    }
}

/// The `Authorization` header value `SharedKeyLite {account}:{signature}` for a request to `url`
/// sent with `x-ms-date: {date}`.
pub(crate) fn authorization(account: &str, key: &SecretString, date: &str, url: &Url) -> String {
    let string_to_sign = format!("{date}\n/{account}{}", url.path());
    let key_bytes = STANDARD.decode(key.expose()).unwrap_or_default();
    let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes);
    let signature = STANDARD.encode(ring::hmac::sign(&hmac, string_to_sign.as_bytes()).as_ref());
    format!("SharedKeyLite {account}:{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_is_azurite_on_loopback() {
        let c = StorageConnection::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            c.table_endpoint.as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/"
        );
        assert_eq!(c.account, DEVSTORE_ACCOUNT);
    }

    #[test]
    fn account_key_strings_build_the_table_endpoint() {
        let c = StorageConnection::parse(
            "DefaultEndpointsProtocol=https;AccountName=stimg;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(
            c.table_endpoint.as_str(),
            "https://stimg.table.core.windows.net/"
        );
        let e = StorageConnection::parse("AccountName=x;AccountKey=not base64!").unwrap_err();
        assert!(!e.to_string().contains("not base64!"), "{e}");
        let e = StorageConnection::parse(
            "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=a2V5;EndpointSuffix=example.com",
        )
        .unwrap_err();
        assert!(e.to_string().contains("plain http"), "{e}");
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Computed with: printf 'Mon, 01 Dec 2026 10:00:00 GMT\n/devstoreaccount1/devstoreaccount1/Tables' |
        //   openssl dgst -sha256 -mac HMAC -macopt hexkey:$(echo $DEVSTORE_KEY | base64 -d | xxd -p -c 256) -binary | base64
        let url = Url::parse("http://127.0.0.1:10002/devstoreaccount1/Tables").unwrap();
        let h = authorization(
            DEVSTORE_ACCOUNT,
            &SecretString::new(DEVSTORE_KEY),
            "Mon, 01 Dec 2026 10:00:00 GMT",
            &url,
        );
        assert_eq!(
            h,
            format!("SharedKeyLite devstoreaccount1:{}", EXPECTED_SIGNATURE)
        );
    }

    const EXPECTED_SIGNATURE: &str = "CS7eEDE6rbFLYwQhK1V8jedhSKF3dBfHjREF8cxrjhU=";
}
