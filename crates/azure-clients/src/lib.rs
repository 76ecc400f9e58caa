//! Azure clients for imageferry: Entra tokens for several tenants, ARM with the auxiliary-tenant
//! header, the Service Bus REST sender and Key Vault secrets.
//!
//! Production and local runs are the same code: only the endpoints differ ([`Endpoints`]).
//! Secrets (client secrets, tokens, SAS keys, passwords) are [`SecretString`]s and never appear in
//! `Debug`/`Display` output, errors or logs.

#![warn(missing_docs)]

pub mod arm;
pub mod credential;
mod endpoints;
mod error;
mod http;
pub mod keyvault;
pub mod models;
mod redact;
pub mod servicebus;
pub mod table;
pub mod token;

pub use arm::{
    Accepted, ArmClient, ArmError, ErrorDetail, OperationRef, OperationState, OperationStatus,
    OperationStatusBody, PollKind, PutRequest, RetryPolicy,
};
pub use credential::{CredentialConfig, CredentialKind, CredentialSource};
pub use endpoints::{
    Cloud, Endpoints, SERVICEBUS_SCOPE, check_endpoint, check_platform_endpoint, is_loopback,
};
pub use error::ConfigError;
pub use http::{HttpClient, TransportError, install_crypto_provider};
pub use keyvault::{KEYVAULT_API, KeyVaultError, KeyVaultSecrets, SecretValue, TrustedSecretId};
pub use redact::{REDACTED, SecretString};
pub use servicebus::{OutgoingMessage, ServiceBusConnection, ServiceBusError, ServiceBusSender};
pub use token::{AccessToken, TokenError, TokenProvider, TokenSource};
