//! Entra tokens through azure_identity: one credential per tenant, our transport, no SDK retries
//! (transient failures are surfaced as [`TokenError::Unavailable`] and retried by the callers).

use super::certificate::CertificateAssertion;
use super::federated::{FederatedAssertion, FederatedTokenError};
use super::managed_identity::{ManagedIdentityAssertion, ManagedIdentityError};
use super::transport::ReqwestTransport;
use super::{CredentialConfig, CredentialSource};
use crate::endpoints::Endpoints;
use crate::error::ConfigError;
use crate::redact::SecretString;
use crate::token::{AccessToken, TokenError, TokenSource};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

enum Material {
    Secret(SecretString),
    Certificate(Arc<CertificateAssertion>),
    WorkloadIdentity(Arc<FederatedAssertion>),
    ManagedIdentity(Arc<ManagedIdentityAssertion>),
}

/// [`TokenSource`] backed by azure_identity credentials for one app registration.
pub(crate) struct EntraTokenSource {
    client_id: String,
    /// The configured authority (what users see in consent URLs and what `aud` must name).
    authority: Url,
    /// The authority as given to azure_identity (https; see the transport module).
    sdk_authority: Url,
    transport: Arc<ReqwestTransport>,
    material: Material,
    credentials: Mutex<HashMap<String, Arc<dyn TokenCredential>>>,
}

impl EntraTokenSource {
    pub(crate) fn new(
        endpoints: &Endpoints,
        config: CredentialConfig,
    ) -> Result<Self, ConfigError> {
        let http = crate::http::new_client();
        let (transport, sdk_authority) =
            ReqwestTransport::new(http.clone(), &endpoints.authority_host);
        let material = match config.source {
            CredentialSource::Secret(s) => {
                if s.is_empty() {
                    return Err(ConfigError::Missing("AZURE_CLIENT_SECRET"));
                }
                Material::Secret(s)
            }
            CredentialSource::Certificate(path) => Material::Certificate(Arc::new(
                CertificateAssertion::from_pem_file(&path, &config.client_id)?,
            )),
            CredentialSource::WorkloadIdentity(source) => {
                Material::WorkloadIdentity(Arc::new(FederatedAssertion::new(
                    http.clone(),
                    source,
                    endpoints.cloud.token_exchange_audience(),
                )))
            }
            CredentialSource::ManagedIdentity {
                endpoint,
                header,
                client_id,
            } => Material::ManagedIdentity(Arc::new(ManagedIdentityAssertion::new(
                http,
                endpoint,
                header,
                client_id,
                endpoints.cloud.token_exchange_audience(),
            ))),
        };
        Ok(Self {
            client_id: config.client_id,
            authority: endpoints.authority_host.clone(),
            sdk_authority,
            transport: Arc::new(transport),
            material,
            credentials: Mutex::new(HashMap::new()),
        })
    }

    fn client_options(&self) -> ClientOptions {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = self.sdk_authority.as_str().trim_end_matches('/').to_owned();
        ClientOptions {
            transport: Some(Transport::new(self.transport.clone())),
            retry: RetryOptions::none(),
            cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
            ..Default::default()
        }
    }

    fn token_endpoint(&self, tenant: &str) -> String {
        format!(
            "{}/{tenant}/oauth2/v2.0/token",
            self.authority.as_str().trim_end_matches('/')
        )
    }

    fn credential(&self, tenant: &str) -> Result<Arc<dyn TokenCredential>, TokenError> {
        let mut map = self.credentials.lock().expect("credential map lock");
        if let Some(c) = map.get(tenant) {
            return Ok(c.clone());
        }
        let client_options = self.client_options();
        let built: azure_core::Result<Arc<dyn TokenCredential>> = match &self.material {
            Material::Secret(s) => ClientSecretCredential::new(
                tenant,
                self.client_id.clone(),
                Secret::new(s.expose().to_owned()),
                Some(ClientSecretCredentialOptions { client_options }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
            Material::Certificate(cert) => ClientAssertionCredential::new(
                tenant.to_owned(),
                self.client_id.clone(),
                TenantAssertion::Certificate {
                    cert: cert.clone(),
                    audience: self.token_endpoint(tenant),
                },
                Some(ClientAssertionCredentialOptions { client_options }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
            Material::WorkloadIdentity(federated) => ClientAssertionCredential::new(
                tenant.to_owned(),
                self.client_id.clone(),
                TenantAssertion::Federated(federated.clone()),
                Some(ClientAssertionCredentialOptions { client_options }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
            Material::ManagedIdentity(mi) => ClientAssertionCredential::new(
                tenant.to_owned(),
                self.client_id.clone(),
                TenantAssertion::ManagedIdentity(mi.clone()),
                Some(ClientAssertionCredentialOptions { client_options }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
        };
        let credential = built.map_err(|e| TokenError::Credential {
            tenant: tenant.to_owned(),
            reason: e.to_string(),
        })?;
        map.insert(tenant.to_owned(), credential.clone());
        Ok(credential)
    }
}

/// Entra descriptions end with trace/correlation ids and timestamps on extra lines.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_owned()
}

impl TokenSource for EntraTokenSource {
    fn fetch(
        &self,
        tenant: &str,
        scope: &str,
    ) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        let credential = self.credential(tenant);
        let scope = scope.to_owned();
        let tenant = tenant.to_owned();
        let mapper = ErrorMapper {
            client_id: self.client_id.clone(),
            authority: self.authority.clone(),
        };
        async move {
            let credential = credential?;
            tracing::debug!(tenant = %tenant, scope = %scope, "requesting Entra token");
            match credential.get_token(&[scope.as_str()], None).await {
                Ok(t) => Ok(AccessToken {
                    token: SecretString::new(t.token.secret().to_owned()),
                    expires_on: t.expires_on,
                }),
                Err(e) => {
                    let err = mapper.map(&tenant, e);
                    tracing::warn!(tenant = %tenant, error = %err, "Entra token request failed");
                    Err(err)
                }
            }
        }
        .boxed()
    }
}

/// Turns azure_identity errors into [`TokenError`]s.
#[derive(Clone)]
struct ErrorMapper {
    client_id: String,
    authority: Url,
}

impl ErrorMapper {
    fn map(&self, tenant: &str, err: azure_core::Error) -> TokenError {
        self.map_error(tenant, err)
    }

    fn consent_url(&self, tenant: &str) -> String {
        format!(
            "{}/{tenant}/oauth2/authorize?client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F",
            self.authority.as_str().trim_end_matches('/'),
            self.client_id
        )
    }

    fn map_error(&self, tenant: &str, err: azure_core::Error) -> TokenError {
        let tenant_s = tenant.to_owned();
        let mut current: &azure_core::Error = &err;
        loop {
            if let Some(federated) = current
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<FederatedTokenError>())
            {
                return TokenError::FederatedToken {
                    tenant: tenant_s,
                    error: federated.clone(),
                };
            }
            match current.kind() {
                ErrorKind::HttpResponse {
                    status, error_code, ..
                } => {
                    let status = u16::from(*status);
                    let codes = error_code.clone().unwrap_or_default();
                    let description = current.to_string();
                    return self.map_entra(tenant_s, status, codes, description);
                }
                ErrorKind::Connection
                    if let Some(crate::http::TransportError::HostNotFound { host, .. }) =
                        current.downcast_ref::<crate::http::TransportError>() =>
                {
                    return TokenError::HostNotFound {
                        tenant: tenant_s,
                        host: host.clone(),
                    };
                }
                ErrorKind::Connection | ErrorKind::Io => {
                    return TokenError::Unavailable {
                        tenant: tenant_s,
                        reason: current.to_string(),
                    };
                }
                _ => {}
            }
            match current
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<azure_core::Error>())
            {
                Some(inner) => current = inner,
                None => break,
            }
        }
        TokenError::Credential {
            tenant: tenant_s,
            reason: err.to_string(),
        }
    }

    fn map_entra(
        &self,
        tenant: String,
        status: u16,
        codes: String,
        description: String,
    ) -> TokenError {
        let has = |code: &str| codes.split(',').any(|c| c.trim() == code);
        if has("700016") {
            TokenError::AppNotConsented {
                consent_url: self.consent_url(&tenant),
                tenant,
                client_id: self.client_id.clone(),
            }
        } else if has("7000215") {
            TokenError::InvalidClientSecret {
                tenant,
                client_id: self.client_id.clone(),
            }
        } else if has("7000222") {
            TokenError::ExpiredClientSecret {
                client_id: self.client_id.clone(),
            }
        } else if has("90002") {
            TokenError::UnknownTenant { tenant }
        } else if let Some(code) = ["70021", "700211", "700212", "700213", "700024"]
            .into_iter()
            .find(|c| has(c))
        {
            TokenError::FederatedCredential {
                tenant,
                code: code.to_owned(),
                description: first_line(&description),
            }
        } else if status >= 500 || status == 429 {
            TokenError::Unavailable {
                tenant,
                reason: format!("HTTP {status} {description}"),
            }
        } else {
            TokenError::Entra {
                tenant,
                status,
                codes,
                description: first_line(&description),
            }
        }
    }
}

/// The client assertion for one tenant.
#[derive(Debug)]
enum TenantAssertion {
    Certificate {
        cert: Arc<CertificateAssertion>,
        audience: String,
    },
    ManagedIdentity(Arc<ManagedIdentityAssertion>),
    /// The workload identity's federated token, fetched fresh for every exchange.
    Federated(Arc<FederatedAssertion>),
}

#[async_trait::async_trait]
impl ClientAssertion for TenantAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        match self {
            Self::Certificate { cert, audience } => cert
                .assertion(audience)
                .map_err(|e| azure_core::Error::with_message(ErrorKind::Credential, e)),
            Self::ManagedIdentity(mi) => match mi.assertion().await {
                Ok(token) => Ok(token.expose().to_owned()),
                Err(e @ ManagedIdentityError::Unavailable(_)) => Err(
                    azure_core::Error::with_message(ErrorKind::Io, e.to_string()),
                ),
                Err(e) => Err(azure_core::Error::with_message(
                    ErrorKind::Credential,
                    e.to_string(),
                )),
            },
            Self::Federated(federated) => match federated.assertion().await {
                Ok(token) => Ok(token.expose().to_owned()),
                // Kept whole as the inner error: `ErrorMapper` finds it again.
                Err(e) => Err(azure_core::Error::new(
                    if e.is_transient() {
                        ErrorKind::Io
                    } else {
                        ErrorKind::Credential
                    },
                    e,
                )),
            },
        }
    }
}
