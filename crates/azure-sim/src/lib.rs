//! azure-sim: a local stand-in for Entra ID (client-credentials token endpoint, App Service
//! managed identity), Azure Resource Manager (resource groups, network, VMs, Compute Gallery with
//! replication over time, the cross-tenant auxiliary-token rule) and Key Vault secrets.
//!
//! Start it in-process with [`start`] and a [`Scenario`] (e.g. [`Scenario::seed`]), or run the
//! `azure-sim` binary. Every response shape follows `reference/arm` (real azure-rest-api-specs
//! examples and schemas); behaviours not covered there cite their source in the module docs.

pub mod arm;
mod discovery;
mod entra;
mod http;
mod inspect;
pub mod jwt;
mod keyvault;
mod msi;
mod permissions;
pub mod scenario;
mod server;
mod sim;
mod state;
mod table;
pub mod tls;

pub use scenario::{Faults, Scenario, ScenarioError};
pub use server::{SimError, SimHandle, start, start_with_tls};
pub use sim::TokenSubject;
pub use state::{RequestRecord, ResourceRecord};
pub use tls::TlsIdentity;
