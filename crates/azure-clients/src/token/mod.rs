//! Tokens per (tenant, scope): cached, refreshed before expiry, single-flight.

mod error;
mod provider;

pub use error::TokenError;
pub use provider::{AccessToken, TokenProvider, TokenSource};
