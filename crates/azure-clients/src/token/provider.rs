//! [`TokenProvider`]: a cache in front of a [`TokenSource`], one in-flight request per key.

use super::TokenError;
use crate::credential::{CredentialConfig, EntraTokenSource};
use crate::endpoints::Endpoints;
use crate::error::ConfigError;
use crate::redact::SecretString;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// An access token and its expiry. The token never prints.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: SecretString,
    /// When it expires.
    pub expires_on: OffsetDateTime,
}

/// Where tokens come from (Entra in production; tests may plug a fake).
pub trait TokenSource: Send + Sync + 'static {
    /// Requests a new token for `scope` in `tenant`. Called at most once at a time per key.
    fn fetch(
        &self,
        tenant: &str,
        scope: &str,
    ) -> BoxFuture<'static, Result<AccessToken, TokenError>>;
}

/// Refresh this long before expiry (the same margin azure_identity's own cache uses).
const REFRESH_MARGIN: Duration = Duration::minutes(5);
/// If an early refresh fails, the old token is still served while it has this long to live.
const STALE_MINIMUM: Duration = Duration::minutes(1);

type Key = (String, String);
type InFlight = Shared<BoxFuture<'static, Result<AccessToken, TokenError>>>;

enum Slot {
    Ready(AccessToken),
    Fetching(InFlight),
}

/// Tokens per (tenant, scope) for one app registration. Cheap to clone; share it.
#[derive(Clone)]
pub struct TokenProvider {
    source: Arc<dyn TokenSource>,
    slots: Arc<Mutex<HashMap<Key, Slot>>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider").finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// Entra tokens for the credential configured in the process environment
    /// (see [`CredentialConfig::from_vars`] for the variables and their precedence).
    pub fn from_env(endpoints: &Endpoints) -> Result<Self, ConfigError> {
        Self::from_vars(endpoints, |name| std::env::var(name).ok())
    }

    /// Like [`TokenProvider::from_env`], with variables from `var`.
    pub fn from_vars(
        endpoints: &Endpoints,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::new(endpoints, CredentialConfig::from_vars(var)?)
    }

    /// Entra tokens for `config`, from the authority host in `endpoints`.
    pub fn new(endpoints: &Endpoints, config: CredentialConfig) -> Result<Self, ConfigError> {
        Ok(Self::with_source(Arc::new(EntraTokenSource::new(
            endpoints, config,
        )?)))
    }

    /// Tokens from any source (tests, or a custom credential).
    pub fn with_source(source: Arc<dyn TokenSource>) -> Self {
        Self {
            source,
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A token for `scope` (e.g. `https://management.azure.com/.default`) in `tenant`.
    /// Served from cache until 5 minutes before expiry; concurrent callers for the same key share
    /// one request, and share its error too. If that early refresh fails, the cached token is
    /// returned while it still has a minute to live.
    pub async fn token(&self, tenant: &str, scope: &str) -> Result<AccessToken, TokenError> {
        validate(tenant, scope)?;
        let key = (tenant.to_ascii_lowercase(), scope.to_owned());
        let fut = {
            let mut slots = self.slots.lock().expect("token cache lock");
            match slots.get(&key) {
                Some(Slot::Ready(t))
                    if t.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc() =>
                {
                    return Ok(t.clone());
                }
                Some(Slot::Fetching(f)) => f.clone(),
                other => {
                    let stale = match other {
                        Some(Slot::Ready(t)) => Some(t.clone()),
                        _ => None,
                    };
                    let f = self.start_fetch(key.clone(), stale);
                    slots.insert(key.clone(), Slot::Fetching(f.clone()));
                    f
                }
            }
        };
        fut.await
    }

    fn start_fetch(&self, key: Key, stale: Option<AccessToken>) -> InFlight {
        let request = self.source.fetch(&key.0, &key.1);
        let slots = Arc::clone(&self.slots);
        async move {
            let result = request.await;
            let mut slots = slots.lock().expect("token cache lock");
            match result {
                Ok(token) => {
                    slots.insert(key, Slot::Ready(token.clone()));
                    Ok(token)
                }
                Err(e) => match stale {
                    Some(old) if old.expires_on - STALE_MINIMUM > OffsetDateTime::now_utc() => {
                        tracing::warn!(tenant = %key.0, scope = %key.1, error = %e, "token refresh failed; using the cached token until it expires");
                        slots.insert(key, Slot::Ready(old.clone()));
                        Ok(old)
                    }
                    _ => {
                        // Forget the failure so the next caller tries again.
                        slots.remove(&key);
                        Err(e)
                    }
                },
            }
        }
        .boxed()
        .shared()
    }
}

fn validate(tenant: &str, scope: &str) -> Result<(), TokenError> {
    let tenant_ok = !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !tenant_ok {
        return Err(TokenError::InvalidRequest(format!("tenant id {tenant:?}")));
    }
    if scope.is_empty() || scope.chars().any(char::is_whitespace) {
        return Err(TokenError::InvalidRequest(format!("scope {scope:?}")));
    }
    Ok(())
}
