//! Parsing the `ServiceBusConnection` connection string.

use crate::error::ConfigError;
use crate::redact::SecretString;
use url::Url;

/// A parsed connection string: where to send and the SAS key.
#[derive(Debug, Clone)]
pub struct ServiceBusConnection {
    /// `https://{namespace}/`, or `http://host:port/` with `UseDevelopmentEmulator=true`.
    pub endpoint: Url,
    /// `SharedAccessKeyName`.
    pub key_name: String,
    /// `SharedAccessKey` (never prints).
    pub key: SecretString,
    /// `EntityPath`, if the string is scoped to one entity.
    pub entity_path: Option<String>,
}

impl ServiceBusConnection {
    /// Parses `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=..;SharedAccessKey=..`
    /// (keys case-insensitive, `;`-separated). `UseDevelopmentEmulator=true` means plain http to
    /// the endpoint's host and port, the way Microsoft's emulator is addressed; the host must then
    /// be a loopback address.
    pub fn parse(connection_string: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            name: "ServiceBusConnection".into(),
            reason: reason.to_owned(),
        };
        let (mut endpoint, mut key_name, mut key, mut entity, mut emulator) =
            (None, None, None, None, false);
        for part in connection_string.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| invalid("expected Key=Value pairs separated by ';'"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim().to_owned()),
                "sharedaccesskeyname" => key_name = Some(v.trim().to_owned()),
                // Base64 keys end with '='; split_once keeps them in `v`.
                "sharedaccesskey" => key = Some(SecretString::new(v.trim())),
                "entitypath" => entity = Some(v.trim().to_owned()),
                "usedevelopmentemulator" => emulator = v.trim().eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        let endpoint = endpoint.ok_or_else(|| invalid("missing Endpoint"))?;
        let parsed = Url::parse(&endpoint).map_err(|_| invalid("Endpoint is not a URL"))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| invalid("Endpoint has no host"))?;
        let endpoint = if emulator {
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let url = format!("http://{host}{port}/");
            crate::endpoints::check_endpoint("ServiceBusConnection Endpoint (emulator)", &url)?
        } else {
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            Url::parse(&format!("https://{host}{port}/"))
                .map_err(|_| invalid("Endpoint host is invalid"))?
        };
        let key_name = key_name.ok_or_else(|| invalid("missing SharedAccessKeyName"))?;
        let key = key.ok_or_else(|| invalid("missing SharedAccessKey"))?;
        Ok(Self {
            endpoint,
            key_name,
            key,
            entity_path: entity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloud_and_emulator_strings() {
        let c = ServiceBusConnection::parse(
            "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc+/def=;",
        )
        .unwrap();
        assert_eq!(c.endpoint.as_str(), "https://myns.servicebus.windows.net/");
        assert_eq!(c.key_name, "RootManageSharedAccessKey");
        assert_eq!(c.key.expose(), "abc+/def=");
        assert!(!format!("{c:?}").contains("abc+/def="));

        let c = ServiceBusConnection::parse(
            "Endpoint=sb://localhost:5300;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;",
        )
        .unwrap();
        assert_eq!(c.endpoint.as_str(), "http://localhost:5300/");
    }

    #[test]
    fn refuses_bad_strings() {
        assert!(ServiceBusConnection::parse("garbage").is_err());
        assert!(ServiceBusConnection::parse("Endpoint=sb://x/;SharedAccessKeyName=a").is_err());
        let err = ServiceBusConnection::parse(
            "Endpoint=sb://sbemulator.example.com;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::InsecureEndpoint { .. }));
    }
}
