//! Network and DNS failures, named as such: which service, at which endpoint, what failed, and
//! for a local stack whether `imageferry dev --keep` still runs. A request that got no answer was
//! never judged, so these never come with a credential or consent hint.
//!
//! azure-clients keeps a failed request's cause as text (`connection failed: …: dns error: …`,
//! `timed out: …`, built by its `http::error_text` from reqwest's error chain); [`Failure::of`]
//! reads that text, and the functions below find it in each client's error.

use azure_clients::credential::FederatedTokenError;
use azure_clients::table::TableError;
use azure_clients::{ArmError, KeyVaultError, ServiceBusError, TokenError, is_loopback};
use status_store::StoreError;
use url::Url;

/// An error and its causes, `: `-separated (reqwest's own `Display` leaves the cause out).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// How a request failed before any answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The host name did not resolve.
    Dns,
    /// Nothing listens at the address.
    Refused,
    /// No answer in time.
    TimedOut,
    /// The connection failed otherwise (reset, closed, TLS).
    Connection,
}

impl Failure {
    /// The failure the text of a failed request tells, or `None` when it tells of an answer.
    pub fn of(text: &str) -> Option<Self> {
        let t = text.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
        if has(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
            "no such host",
            "nodename nor servname",
        ]) {
            Some(Self::Dns)
        } else if has(&["connection refused"]) {
            Some(Self::Refused)
        } else if has(&["timed out", "deadline has elapsed"]) {
            Some(Self::TimedOut)
        } else if has(&[
            "connection failed",
            "tcp connect error",
            "connection reset",
            "connection closed",
            "broken pipe",
            "error sending request",
            "invalid peer certificate",
            "tls handshake",
        ]) {
            Some(Self::Connection)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Dns => "DNS lookup failed",
            Self::Refused => "connection refused",
            Self::TimedOut => "timed out",
            Self::Connection => "connection failed",
        })
    }
}

/// A service the command could not reach.
#[derive(Debug, Clone, thiserror::Error)]
#[error("network error: cannot reach {service} at {endpoint}: {failure} ({detail})")]
pub struct Unreachable {
    /// What it is (`the Service Bus namespace`, `ARM`, …).
    pub service: String,
    /// Where it was asked (origin and path, no query).
    pub endpoint: String,
    /// What failed.
    pub failure: Failure,
    /// The transport's own words.
    pub detail: String,
    /// Whether the endpoint is on this machine (a local stack).
    pub local: bool,
}

impl Unreachable {
    fn new(service: impl Into<String>, endpoint: &Url, text: &str) -> Option<Self> {
        let failure = Failure::of(text)?;
        let mut shown = endpoint.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        Some(Self {
            service: service.into(),
            endpoint: shown.to_string(),
            failure,
            detail: text.trim().to_owned(),
            local: is_loopback(endpoint),
        })
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        let host = Url::parse(&self.endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.endpoint.clone());
        if self.local {
            return format!(
                "{} is on this machine: is `imageferry dev --keep` still running? Start it again and load the environment it writes: eval \"$(cat target/imageferry-dev/env)\"",
                self.endpoint
            );
        }
        match self.failure {
            Failure::Dns => format!(
                "{host} does not resolve from here: check the setting that names it for a typo, that it belongs to this cloud, and for a private endpoint that this machine uses its private DNS zone"
            ),
            _ => format!(
                "check that {host} is reachable from here (network, proxy, firewall, private endpoint) and try again"
            ),
        }
    }
}

/// Where the services a command uses are.
#[derive(Debug, Clone)]
pub struct Places {
    /// The Entra authority host.
    pub authority: Url,
    /// The ARM endpoint.
    pub arm: Url,
    /// The Service Bus namespace endpoint, when configured.
    pub bus: Option<Url>,
    /// The status store's Table service endpoint, when configured.
    pub table: Option<Url>,
}

impl Places {
    /// A token request that got no answer: Entra's token endpoint, or the CI system's OIDC
    /// endpoint of a workload identity.
    pub fn token(&self, e: &TokenError) -> Option<Unreachable> {
        match e {
            TokenError::Unavailable { reason, .. } => {
                Unreachable::new("the Entra token endpoint", &self.authority, reason)
            }
            TokenError::HostNotFound { host, .. } => Unreachable::new(
                "the Entra token endpoint",
                &self.authority,
                &format!("dns error: {host} does not resolve"),
            ),
            TokenError::FederatedToken {
                error:
                    FederatedTokenError::Unreachable {
                        provider,
                        endpoint,
                        reason,
                    },
                ..
            } => Url::parse(endpoint).ok().and_then(|url| {
                Unreachable::new(format!("the {provider} OIDC endpoint"), &url, reason)
            }),
            _ => None,
        }
    }

    /// An ARM request that got no answer (or its token request).
    pub fn arm(&self, e: &ArmError) -> Option<Unreachable> {
        match e {
            ArmError::Transport(t) => Unreachable::new("ARM", &self.arm, &t.to_string()),
            ArmError::Token(t) => self.token(t),
            _ => None,
        }
    }

    /// A Key Vault read of `secret_id` that got no answer (or its token request).
    pub fn keyvault(&self, e: &KeyVaultError, secret_id: &str) -> Option<Unreachable> {
        match e {
            KeyVaultError::Transport(t) => Url::parse(secret_id)
                .ok()
                .and_then(|url| Unreachable::new("Key Vault", &url, &t.to_string())),
            KeyVaultError::Token(t) => self.token(t),
            _ => None,
        }
    }

    /// A Service Bus request whose failure is only text (the dead-letter receiver's).
    pub fn bus_text(&self, text: &str) -> Option<Unreachable> {
        self.bus
            .as_ref()
            .and_then(|bus| Unreachable::new("the Service Bus namespace", bus, text))
    }

    /// A Service Bus send that got no answer (or its token request).
    pub fn bus(&self, e: &ServiceBusError) -> Option<Unreachable> {
        match e {
            ServiceBusError::Transport(t) => self
                .bus
                .as_ref()
                .and_then(|bus| Unreachable::new("the Service Bus namespace", bus, &t.to_string())),
            ServiceBusError::Token(t) => self.token(t),
            _ => None,
        }
    }

    /// A status store read that got no answer (or its token request).
    pub fn store(&self, e: &StoreError) -> Option<Unreachable> {
        match e {
            StoreError::Table(t) => self.table(t),
            StoreError::Invalid(_) => None,
        }
    }

    /// A Table service request of the status store that got no answer (or its token request).
    pub fn table(&self, e: &TableError) -> Option<Unreachable> {
        match e {
            TableError::Unavailable(text) | TableError::HostNotFound { detail: text, .. } => {
                self.table.as_ref().and_then(|table| {
                    Unreachable::new("the status store's Table service", table, text)
                })
            }
            TableError::Token(t) => self.token(t),
            _ => None,
        }
    }
}

/// Prints `imageferry: {what}: {error}` and its fix on stderr; a network failure is named as
/// such instead, with the endpoint and its own fix (never the error's credential hint).
pub fn report(
    what: &str,
    error: &dyn std::fmt::Display,
    hint: Option<String>,
    unreachable: Option<Unreachable>,
) {
    match unreachable {
        Some(u) => {
            errln!("imageferry: {what}: {u}");
            errln!("  fix: {}", u.hint());
        }
        None => {
            errln!("imageferry: {what}: {error}");
            if let Some(h) = hint {
                errln!("  fix: {h}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_from_the_transport_text() {
        for (text, failure) in [
            (
                "connection failed: client error (Connect): dns error: failed to lookup address information: Name or service not known",
                Some(Failure::Dns),
            ),
            (
                "connection failed: client error (Connect): tcp connect error: Connection refused (os error 111)",
                Some(Failure::Refused),
            ),
            ("timed out: operation timed out", Some(Failure::TimedOut)),
            (
                "request failed: connection closed before message completed",
                Some(Failure::Connection),
            ),
            ("503 ServerBusy: The server is busy.", None),
            ("HTTP 500 token endpoint answered HTTP 500", None),
        ] {
            assert_eq!(Failure::of(text), failure, "{text}");
        }
    }

    #[test]
    fn a_local_endpoint_asks_whether_dev_keep_still_runs() {
        let u = Unreachable::new(
            "ARM",
            &Url::parse("http://127.0.0.1:4567/subscriptions/x?api-version=1").unwrap(),
            "connection failed: tcp connect error: Connection refused (os error 111)",
        )
        .unwrap();
        assert_eq!(u.endpoint, "http://127.0.0.1:4567/subscriptions/x");
        assert!(u.to_string().starts_with("network error: cannot reach ARM at http://127.0.0.1:4567/subscriptions/x: connection refused"), "{u}");
        assert!(
            u.hint()
                .contains("is `imageferry dev --keep` still running?")
        );
        let u = Unreachable::new(
            "ARM",
            &Url::parse("https://management.azure.example/").unwrap(),
            "connection failed: dns error: failed to lookup address information",
        )
        .unwrap();
        assert!(
            u.hint()
                .contains("management.azure.example does not resolve"),
            "{}",
            u.hint()
        );
        assert!(!u.hint().contains("dev --keep"));
    }
}
