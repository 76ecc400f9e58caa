//! [`TableClient`]: the Table service operations imageferry uses.

use super::error::TableError;
use super::shared_key::{StorageConnection, authorization};
use super::{API_VERSION, STORAGE_SCOPE, is_valid_key};
use crate::arm::RetryPolicy;
use crate::http::{HttpClient, RawResponse};
use crate::redact::SecretString;
use crate::servicebus::rfc1123;
use crate::token::TokenProvider;
use reqwest::Method;
use serde_json::{Map, Value};
use std::sync::Arc;
use time::OffsetDateTime;
use url::Url;

/// An entity: `PartitionKey`, `RowKey` and its properties (`Timestamp` on reads), as the
/// `odata=nometadata` JSON format carries them (strings, numbers, booleans).
pub type Entity = Map<String, Value>;

/// How [`TableClient::upsert`] writes an existing entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertMode {
    /// Insert Or Replace Entity (`PUT`): properties not in the new entity are dropped.
    Replace,
    /// Insert Or Merge Entity (`MERGE`): properties not in the new entity are kept.
    Merge,
}

/// How requests are authorized.
#[derive(Clone)]
pub enum TableAuth {
    /// `Authorization: Bearer` with a token for [`STORAGE_SCOPE`] in `tenant`.
    Entra {
        /// Token source.
        tokens: Arc<TokenProvider>,
        /// The storage account's tenant.
        tenant: String,
    },
    /// SharedKeyLite with the account key (Azurite, development storage, key-based accounts).
    SharedKeyLite {
        /// Account name.
        account: String,
        /// Account key (base64).
        key: SecretString,
    },
}

/// Where a query continues: the `x-ms-continuation-NextPartitionKey`/`-NextRowKey` answer headers,
/// sent back as the `NextPartitionKey`/`NextRowKey` query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// `NextPartitionKey`.
    pub next_partition_key: String,
    /// `NextRowKey`, when the service gave one.
    pub next_row_key: Option<String>,
}

/// One page of a query.
#[derive(Debug, Clone)]
pub struct QueryPage {
    /// The entities of this page.
    pub entities: Vec<Entity>,
    /// Where the next page starts, if there is one.
    pub continuation: Option<Continuation>,
}

/// A Table service client for one account. Cheap to clone.
#[derive(Clone)]
pub struct TableClient {
    http: HttpClient,
    endpoint: Url,
    auth: TableAuth,
    retry: RetryPolicy,
}

impl std::fmt::Debug for TableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            TableAuth::Entra { tenant, .. } => format!("Entra (tenant {tenant})"),
            TableAuth::SharedKeyLite { account, .. } => format!("SharedKeyLite ({account})"),
        };
        f.debug_struct("TableClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

impl TableClient {
    /// A client for the Table service at `endpoint` (`https://{account}.table.core.windows.net/`,
    /// or a path-style emulator URL such as `http://127.0.0.1:10002/devstoreaccount1/`).
    pub fn new(endpoint: Url, auth: TableAuth) -> Self {
        let mut endpoint = endpoint;
        if !endpoint.path().ends_with('/') {
            let path = format!("{}/", endpoint.path());
            endpoint.set_path(&path);
        }
        Self {
            http: crate::http::new_client(),
            endpoint,
            auth,
            retry: RetryPolicy::default(),
        }
    }

    /// SharedKeyLite auth from a storage connection string.
    pub fn from_connection(c: StorageConnection) -> Self {
        Self::new(
            c.table_endpoint,
            TableAuth::SharedKeyLite {
                account: c.account,
                key: c.key,
            },
        )
    }

    /// Replaces the retry policy for 429/5xx/connection failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The service endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Create Table (`POST /Tables`). `Ok(true)` when created, `Ok(false)` when it existed.
    pub async fn create_table(&self, table: &str) -> Result<bool, TableError> {
        check_table(table)?;
        let url = self.url("Tables")?;
        let body = serde_json::json!({ "TableName": table }).to_string();
        let raw = self
            .send(
                Method::POST,
                url,
                Some(body),
                &[("Prefer", "return-no-content")],
            )
            .await?;
        match raw.status {
            200..=299 => Ok(true),
            409 if error_code(&raw) == "TableAlreadyExists" => Ok(false),
            _ => Err(failure(table, &raw)),
        }
    }

    /// Insert Entity (`POST {table}` with `Prefer: return-no-content`): writes `entity` only if
    /// no entity has its keys. `Ok(true)` when this call inserted it, `Ok(false)` when one existed
    /// (409 `EntityAlreadyExists`): the conditional write that lets exactly one of several
    /// writers win. A retried insert whose first attempt reached the service also answers
    /// `Ok(false)`; a caller that must know whether the existing entity is its own reads it.
    pub async fn insert(&self, table: &str, entity: &Entity) -> Result<bool, TableError> {
        check_table(table)?;
        for k in ["PartitionKey", "RowKey"] {
            let key = entity
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| TableError::InvalidRequest(format!("entity has no string {k}")))?;
            if !is_valid_key(key) {
                return Err(TableError::InvalidRequest(format!(
                    "{k} {key:?} has a character the Table service refuses (/ \\ # ? or a control character) or is over 1 KiB"
                )));
            }
        }
        let url = self.url(table)?;
        let mut body = entity.clone();
        body.remove("Timestamp");
        body.remove("odata.etag");
        let raw = self
            .send(
                Method::POST,
                url,
                Some(Value::Object(body).to_string()),
                &[("Prefer", "return-no-content")],
            )
            .await?;
        match raw.status {
            200..=299 => Ok(true),
            409 if error_code(&raw) == "EntityAlreadyExists" => Ok(false),
            _ => Err(failure(table, &raw)),
        }
    }

    /// Insert Or Replace Entity (`PUT`) or Insert Or Merge Entity (`MERGE`) at
    /// `{table}(PartitionKey='..',RowKey='..')`; idempotent. `entity` must hold string
    /// `PartitionKey` and `RowKey`.
    pub async fn upsert(
        &self,
        table: &str,
        entity: &Entity,
        mode: UpsertMode,
    ) -> Result<(), TableError> {
        let key = |k: &str| {
            entity
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| TableError::InvalidRequest(format!("entity has no string {k}")))
        };
        let url = self.entity_url(table, key("PartitionKey")?, key("RowKey")?)?;
        let mut body = entity.clone();
        // Read-only on the service side.
        body.remove("Timestamp");
        body.remove("odata.etag");
        let method = match mode {
            UpsertMode::Replace => Method::PUT,
            UpsertMode::Merge => Method::from_bytes(b"MERGE").expect("MERGE is a valid method"),
        };
        let raw = self
            .send(method, url, Some(Value::Object(body).to_string()), &[])
            .await?;
        match raw.status {
            200..=299 => Ok(()),
            _ => Err(failure(table, &raw)),
        }
    }

    /// Get one entity (Query Entities addressed by its keys); `None` when it does not exist.
    pub async fn get(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<Entity>, TableError> {
        let url = self.entity_url(table, partition_key, row_key)?;
        let raw = self.send(Method::GET, url, None, &[]).await?;
        match raw.status {
            200 => serde_json::from_slice::<Entity>(&raw.body)
                .map(Some)
                .map_err(|e| TableError::Decode(e.to_string())),
            404 if error_code(&raw) != "TableNotFound" => Ok(None),
            _ => Err(failure(table, &raw)),
        }
    }

    /// One page of Query Entities: `GET {table}()?$filter=..&$top=..` continuing at `from`.
    pub async fn query(
        &self,
        table: &str,
        filter: Option<&str>,
        top: Option<u32>,
        from: Option<&Continuation>,
    ) -> Result<QueryPage, TableError> {
        check_table(table)?;
        let mut url = self.url(&format!("{table}()"))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(f) = filter {
                q.append_pair("$filter", f);
            }
            if let Some(t) = top {
                q.append_pair("$top", &t.min(1000).to_string());
            }
            if let Some(c) = from {
                q.append_pair("NextPartitionKey", &c.next_partition_key);
                if let Some(rk) = &c.next_row_key {
                    q.append_pair("NextRowKey", rk);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let raw = self.send(Method::GET, url, None, &[]).await?;
        if raw.status != 200 {
            return Err(failure(table, &raw));
        }
        #[derive(serde::Deserialize)]
        struct Page {
            value: Vec<Entity>,
        }
        let page: Page =
            serde_json::from_slice(&raw.body).map_err(|e| TableError::Decode(e.to_string()))?;
        let header = |name: &str| {
            raw.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let continuation = header("x-ms-continuation-NextPartitionKey").map(|pk| Continuation {
            next_partition_key: pk,
            next_row_key: header("x-ms-continuation-NextRowKey"),
        });
        Ok(QueryPage {
            entities: page.value,
            continuation,
        })
    }

    /// Every entity matching `filter`, following continuations, up to `limit` entities.
    pub async fn query_all(
        &self,
        table: &str,
        filter: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entity>, TableError> {
        let mut out = Vec::new();
        let mut from: Option<Continuation> = None;
        loop {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                return Ok(out);
            }
            let top = u32::try_from(left.min(1000)).unwrap_or(1000);
            let page = self.query(table, filter, Some(top), from.as_ref()).await?;
            out.extend(page.entities.into_iter().take(left));
            match page.continuation {
                Some(c) => from = Some(c),
                None => return Ok(out),
            }
        }
    }

    fn url(&self, path: &str) -> Result<Url, TableError> {
        self.endpoint
            .join(path)
            .map_err(|e| TableError::InvalidRequest(format!("{path}: {e}")))
    }

    fn entity_url(&self, table: &str, pk: &str, rk: &str) -> Result<Url, TableError> {
        check_table(table)?;
        for (name, k) in [("PartitionKey", pk), ("RowKey", rk)] {
            if !is_valid_key(k) {
                return Err(TableError::InvalidRequest(format!(
                    "{name} {k:?} has a character the Table service refuses (/ \\ # ? or a control character) or is over 1 KiB"
                )));
            }
        }
        let mut url = self.endpoint.clone();
        let resource = format!(
            "{table}(PartitionKey='{}',RowKey='{}')",
            encode_key(pk),
            encode_key(rk)
        );
        let path = format!("{}{resource}", self.endpoint.path());
        url.set_path(&path);
        Ok(url)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Result<RawResponse, TableError> {
        let bearer = match &self.auth {
            TableAuth::Entra { tokens, tenant } => Some(SecretString::new(format!(
                "Bearer {}",
                tokens.token(tenant, STORAGE_SCOPE).await?.token.expose()
            ))),
            TableAuth::SharedKeyLite { .. } => None,
        };
        let what = format!("Table {method}");
        crate::http::send_with_retries(&self.retry, &what, || {
            let date = rfc1123(OffsetDateTime::now_utc());
            let auth = match (&self.auth, &bearer) {
                (_, Some(b)) => b.expose().to_owned(),
                (TableAuth::SharedKeyLite { account, key }, None) => {
                    authorization(account, key, &date, &url)
                }
                (TableAuth::Entra { .. }, None) => String::new(),
            };
            let mut r = self
                .http
                .request(method.clone(), url.clone())
                .header("x-ms-date", date)
                .header("x-ms-version", API_VERSION)
                .header("Accept", "application/json;odata=nometadata")
                .header("DataServiceVersion", "3.0")
                .header("MaxDataServiceVersion", "3.0;NetFx")
                .header(reqwest::header::AUTHORIZATION, auth);
            for (k, v) in extra {
                r = r.header(*k, *v);
            }
            if let Some(b) = &body {
                r = r
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            r
        })
        .await
        .map_err(|e| match e {
            crate::http::TransportError::HostNotFound { host, detail } => {
                TableError::HostNotFound { host, detail }
            }
            crate::http::TransportError::Failed(text) => TableError::Unavailable(text),
        })
    }
}

/// A key inside `'..'` of an entity address: quotes doubled, then percent-encoded so the path
/// stays one unambiguous segment (`%` `(` `)` `,` `=` `'` and non-ASCII included).
fn encode_key(key: &str) -> String {
    let doubled = key.replace('\'', "''");
    let mut out = String::with_capacity(doubled.len());
    for b in doubled.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'\'') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn check_table(table: &str) -> Result<(), TableError> {
    // learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#table-names
    let ok = (3..=63).contains(&table.len())
        && table.chars().all(|c| c.is_ascii_alphanumeric())
        && table.starts_with(|c: char| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(TableError::InvalidRequest(format!(
            "table name {table:?}: 3-63 letters and digits, starting with a letter"
        )))
    }
}

fn error_code(raw: &RawResponse) -> String {
    if let Some(code) = raw
        .headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
    {
        return code.to_owned();
    }
    serde_json::from_slice::<Value>(&raw.body)
        .ok()
        .and_then(|v| {
            v.pointer("/odata.error/code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn error_message(raw: &RawResponse) -> String {
    let json = serde_json::from_slice::<Value>(&raw.body).ok();
    json.as_ref()
        .and_then(|v| {
            v.pointer("/odata.error/message/value")
                .or_else(|| v.pointer("/odata.error/message"))
        })
        .and_then(Value::as_str)
        .map(|m| m.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| String::from_utf8_lossy(&raw.body[..raw.body.len().min(300)]).into())
}

fn failure(table: &str, raw: &RawResponse) -> TableError {
    let code = error_code(raw);
    let message = error_message(raw);
    match raw.status {
        401 => TableError::Unauthorized { code, message },
        403 => TableError::Forbidden {
            table: table.to_owned(),
            code,
            message,
        },
        404 if code == "TableNotFound" => TableError::TableNotFound(table.to_owned()),
        s if s == 429 || s >= 500 => TableError::Unavailable(format!("{s} {code}: {message}")),
        status => TableError::Rejected {
            status,
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_and_encoded_in_the_entity_address() {
        assert_eq!(encode_key("it's"), "it''s");
        assert_eq!(
            encode_key("event-2026-12-01T10:00:00.000000000Z-accepted"),
            "event-2026-12-01T10:00:00.000000000Z-accepted"
        );
        assert_eq!(encode_key("a b(c)"), "a%20b%28c%29");
        let c = TableClient::from_connection(
            StorageConnection::parse("UseDevelopmentStorage=true").unwrap(),
        );
        let url = c.entity_url("deployments", "web-1", "status").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/deployments(PartitionKey='web-1',RowKey='status')"
        );
        assert!(c.entity_url("deployments", "a/b", "x").is_err());
        assert!(c.entity_url("deploy-ments", "a", "x").is_err());
    }
}
