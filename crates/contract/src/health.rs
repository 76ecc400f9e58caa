//! An application health probe: what the Application Health extension asks the application, and
//! how long imageferry waits for the answer to be "healthy". One type for every target that can
//! carry the extension (a scale set's `extensionProfile` here; a VM's extension, issue 19).
//!
//! Settings as Microsoft documents them for the extension
//! (learn.microsoft.com/azure/virtual-machines/extensions/health-extension, "Extension schema"):
//! `protocol` `http`/`https`/`tcp`, `port` (required for tcp; for http/https the default ports 80
//! and 443 apply when it is left out), `requestPath` for http/https only, `gracePeriod` at most
//! 14400 seconds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long imageferry waits for a new instance (or VM) to report healthy, by default.
pub const DEFAULT_GRACE_MINUTES: u32 = 10;
/// The extension's `gracePeriod` is at most 14400 seconds (4 hours).
pub const MAX_GRACE_MINUTES: u32 = 240;
/// Longest `path`.
pub const MAX_PATH: usize = 2048;

/// The protocol of the probe (the extension's `protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthProtocol {
    /// `GET http://localhost:{port}{path}`; 200 with `{"ApplicationHealthState": "Healthy"}`.
    Http,
    /// The same over TLS.
    Https,
    /// A TCP connection to `port` succeeds.
    Tcp,
}

impl HealthProtocol {
    /// The value the extension's settings take.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthProtocol::Http => "http",
            HealthProtocol::Https => "https",
            HealthProtocol::Tcp => "tcp",
        }
    }
}

impl fmt::Display for HealthProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `health = { protocol, port, path, graceMinutes }`: the probe the Application Health extension
/// runs inside every instance, and how long a new instance has to report healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthProbe {
    /// `http`, `https` or `tcp`.
    pub protocol: HealthProtocol,
    /// The port probed (required for `tcp`; `http` defaults to 80, `https` to 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The request path for `http`/`https` (starting with `/`); not allowed for `tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Minutes a new instance has to report healthy after it was created or upgraded
    /// (1–240, default 10); also the extension's `gracePeriod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 240))]
    pub grace_minutes: Option<u32>,
}

impl HealthProbe {
    /// The grace period in minutes (the default when not given).
    pub fn grace_minutes(&self) -> u32 {
        self.grace_minutes.unwrap_or(DEFAULT_GRACE_MINUTES)
    }

    /// The grace period.
    pub fn grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.grace_minutes()) * 60)
    }

    /// The port probed: the given one, or the protocol's default (none for `tcp`).
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(match self.protocol {
            HealthProtocol::Http => Some(80),
            HealthProtocol::Https => Some(443),
            HealthProtocol::Tcp => None,
        })
    }

    /// Every rule the probe breaks, as (field, message), the field relative to the probe
    /// (`port`, `path`, `graceMinutes`).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.port == Some(0) {
            out.push(("port", "must be 1-65535".to_string()));
        }
        match (self.protocol, &self.path) {
            (HealthProtocol::Tcp, Some(_)) => out.push((
                "path",
                "not used with tcp (the extension's requestPath is for http and https)".into(),
            )),
            (HealthProtocol::Tcp, None) if self.port.is_none() => {
                out.push(("port", "required with tcp".into()))
            }
            (_, Some(path))
                if !path.starts_with('/')
                    || path.len() > MAX_PATH
                    || path.chars().any(|c| c.is_control() || c.is_whitespace()) =>
            {
                out.push((
                    "path",
                    format!(
                        "must start with '/' and be at most {MAX_PATH} characters without spaces or control characters"
                    ),
                ))
            }
            _ => {}
        }
        if let Some(m) = self.grace_minutes
            && !(1..=MAX_GRACE_MINUTES).contains(&m)
        {
            out.push((
                "graceMinutes",
                format!(
                    "must be 1-{MAX_GRACE_MINUTES} (the extension's gracePeriod is at most 14400 seconds)"
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(protocol: HealthProtocol) -> HealthProbe {
        HealthProbe {
            protocol,
            port: None,
            path: None,
            grace_minutes: None,
        }
    }

    #[test]
    fn defaults_and_rules() {
        let http = HealthProbe {
            path: Some("/health".into()),
            ..probe(HealthProtocol::Http)
        };
        assert!(http.problems().is_empty());
        assert_eq!(http.effective_port(), Some(80));
        assert_eq!(http.grace().as_secs(), 600);
        assert_eq!(probe(HealthProtocol::Https).effective_port(), Some(443));

        let tcp = probe(HealthProtocol::Tcp);
        assert_eq!(tcp.problems(), [("port", "required with tcp".to_string())]);
        let tcp = HealthProbe {
            port: Some(5000),
            path: Some("/x".into()),
            grace_minutes: Some(241),
            ..tcp
        };
        let fields: Vec<&str> = tcp.problems().iter().map(|p| p.0).collect();
        assert_eq!(fields, ["path", "graceMinutes"]);
        let bad_path = HealthProbe {
            path: Some("health".into()),
            port: Some(0),
            ..probe(HealthProtocol::Http)
        };
        let fields: Vec<&str> = bad_path.problems().iter().map(|p| p.0).collect();
        assert_eq!(fields, ["port", "path"]);
    }

    #[test]
    fn wire_shape() {
        let p: HealthProbe = serde_json::from_value(serde_json::json!({
            "protocol": "https", "port": 8443, "path": "/healthz", "graceMinutes": 5
        }))
        .unwrap();
        assert_eq!(p.protocol, HealthProtocol::Https);
        assert_eq!(p.grace_minutes(), 5);
        let e = serde_json::from_value::<HealthProbe>(serde_json::json!({"protocol": "ftp"}))
            .unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
        let e = serde_json::from_value::<HealthProbe>(
            serde_json::json!({"protocol": "tcp", "port": 1, "interval": 5}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("interval"), "{e}");
    }
}
