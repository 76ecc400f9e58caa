//! Azure Table Storage over its REST API (learn.microsoft.com/rest/api/storageservices/
//! table-service-rest-api): create table, Insert Entity (insert-only: the conditional write),
//! Insert Or Replace / Insert Or Merge Entity, Get Entity
//! (Query Entities with keys) and Query Entities with `$filter`, `$top` and continuation
//! (`x-ms-continuation-NextPartitionKey` / `-NextRowKey`), always with
//! `Accept: application/json;odata=nometadata`.
//!
//! Authentication: an Entra token for `https://storage.azure.com/.default` (production,
//! identity-based: *Storage Table Data Contributor* to write, *Reader* to read), or the account
//! key with SharedKeyLite for Azurite and development storage. Why not `azure_data_tables`: the
//! Azure SDK for Rust has no Table Storage crate at version 1 of `azure_core`, and the operations
//! used here are five HTTP verbs.

mod client;
mod error;
mod shared_key;

pub use client::{Entity, QueryPage, TableAuth, TableClient, UpsertMode};
pub use error::TableError;
pub use shared_key::{DEVSTORE_ACCOUNT, DEVSTORE_KEY, StorageConnection};

/// Token scope of Azure Storage (all clouds use the same resource id for Entra auth).
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The `x-ms-version` sent with every request (2019-02-02 or later is needed for Entra tokens).
pub const API_VERSION: &str = "2020-12-06";

/// `value` as an OData string literal for `$filter`: in single quotes, quotes doubled.
pub fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Whether `key` may be a PartitionKey or RowKey: at most 1 KiB, none of `/ \ # ?` nor control
/// characters (learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
pub fn is_valid_key(key: &str) -> bool {
    key.len() <= 1024
        && !key
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
}
