//! Azure Table Storage stand-in under `/table/` (the local Table service URL is
//! `{base}/table/`): the subset imageferry's Table client uses, with the documented shapes
//! (learn.microsoft.com/rest/api/storageservices/table-service-rest-api):
//!
//! - `POST /table/Tables` `{"TableName"}`: 201 (204 with `Prefer: return-no-content`), 409
//!   `TableAlreadyExists`; `GET /table/Tables`: `{"value":[{"TableName"}]}`;
//! - `POST /table/{table}` (Insert Entity) with the entity, keys included: 201 with the entity
//!   (204 with `Prefer: return-no-content`) and an `ETag`, 409 `EntityAlreadyExists` when an
//!   entity has those keys (nothing changes), 400 `PropertiesNeedValue` without string keys;
//! - `PUT` (Insert Or Replace), `MERGE` (Insert Or Merge), `GET`, `DELETE` of
//!   `/table/{table}(PartitionKey='..',RowKey='..')`: 204 with an `ETag`, 200 with the entity,
//!   404 `ResourceNotFound`;
//! - `GET /table/{table}()?$filter=&$top=&NextPartitionKey=&NextRowKey=`: `{"value":[..]}` in
//!   PartitionKey/RowKey order, at most 1000 per page, continuation in
//!   `x-ms-continuation-NextPartitionKey`/`-NextRowKey`. `$filter` supports comparisons
//!   (`eq ne gt ge lt le`) of a property with a string, number or boolean literal, `and`, `or`,
//!   `not` and parentheses;
//! - errors as `{"odata.error":{"code","message":{"lang","value"}}}` plus `x-ms-error-code`.
//!
//! Authorization: an Entra bearer token for `https://storage.azure.com` signed by the simulator,
//! from any tenant of the scenario (the simulator models no storage account RBAC). Data lives in
//! memory for the simulator's lifetime.

use std::collections::BTreeMap;
use std::sync::Mutex;

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::arm::auth;
use crate::http::{Reply, Req};
use crate::sim::Sim;

/// Audiences a storage token may carry.
const STORAGE_AUDIENCES: [&str; 2] = ["https://storage.azure.com", "https://storage.azure.com/"];
/// Page size limit of Query Entities.
const MAX_PAGE: usize = 1000;

type Rows = BTreeMap<(String, String), (Map<String, Value>, String)>;

/// The tables of one simulator: name (case-insensitive key) → (name as created, rows).
#[derive(Default)]
pub(crate) struct Tables(Mutex<BTreeMap<String, (String, Rows)>>);

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    let mut r = Reply::json(
        status,
        json!({"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}}}),
    )
    .with_header("x-ms-error-code", code.to_owned());
    r.error_code = Some(code.to_owned());
    r
}

fn nometadata(reply: Reply) -> Reply {
    reply.with_header(
        "content-type",
        "application/json;odata=nometadata;streaming=true;charset=utf-8",
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Handles `/table/...`.
pub(crate) fn handle(sim: &Sim, req: &Req) -> Reply {
    let Some(token) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        );
    };
    let claims = match auth::validate(sim, token.trim(), &STORAGE_AUDIENCES, "access token") {
        Ok(c) => c,
        Err(_) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationInfo",
                "Authentication information is not given in the correct format, or the token is invalid or expired.",
            );
        }
    };
    if !sim
        .scenario
        .tenants
        .iter()
        .any(|t| t.id.eq_ignore_ascii_case(&claims.tid))
    {
        return error(
            StatusCode::FORBIDDEN,
            "AuthorizationFailure",
            "This request is not authorized to perform this operation.",
        );
    }
    let rest = req.path.trim_start_matches("/table/");
    let decoded = percent_decode(rest);
    if decoded.eq_ignore_ascii_case("Tables") {
        return tables(sim, req);
    }
    let Some((table, args)) = decoded
        .split_once('(')
        .and_then(|(t, a)| Some((t, a.strip_suffix(')')?)))
        .map(|(t, a)| (t.to_owned(), a.to_owned()))
        .or_else(|| (!decoded.contains('(')).then(|| (decoded.clone(), String::new())))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
        );
    };
    if args.is_empty() {
        if req.method == Method::POST {
            return insert(sim, req, &table);
        }
        if req.method != Method::GET {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UnsupportedHttpVerb",
                "The resource doesn't support specified Http Verb.",
            );
        }
        return query(sim, req, &table);
    }
    let Some((pk, rk)) = parse_keys(&args) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "One of the request inputs is not valid.",
        );
    };
    entity(sim, req, &table, pk, rk)
}

fn tables(sim: &Sim, req: &Req) -> Reply {
    let mut all = sim.tables.0.lock().unwrap_or_else(|p| p.into_inner());
    match req.method {
        Method::POST => {
            let Some(name) = req.json().ok().and_then(|b| {
                b.get("TableName")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    "One of the request inputs is not valid.",
                );
            };
            let valid = (3..=63).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                && name.starts_with(|c: char| c.is_ascii_alphabetic());
            if !valid {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidResourceName",
                    "The specifed resource name contains invalid characters.",
                );
            }
            let k = name.to_ascii_lowercase();
            if all.contains_key(&k) {
                return error(
                    StatusCode::CONFLICT,
                    "TableAlreadyExists",
                    "The table specified already exists.",
                );
            }
            all.insert(k, (name.clone(), Rows::new()));
            if req.header("prefer") == Some("return-no-content") {
                Reply::json(StatusCode::NO_CONTENT, Value::Null)
                    .with_header("preference-applied", "return-no-content")
            } else {
                nometadata(Reply::json(StatusCode::CREATED, json!({"TableName": name})))
            }
        }
        Method::GET => {
            let value: Vec<Value> = all.values().map(|(n, _)| json!({"TableName": n})).collect();
            nometadata(Reply::json(StatusCode::OK, json!({"value": value})))
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedHttpVerb",
            "The resource doesn't support specified Http Verb.",
        ),
    }
}

fn table_not_found() -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "TableNotFound",
        "The table specified does not exist.",
    )
}

fn etag(ts: &str) -> String {
    format!("W/\"datetime'{}'\"", ts.replace(':', "%3A"))
}

fn entity(sim: &Sim, req: &Req, table: &str, pk: String, rk: String) -> Reply {
    let mut all = sim.tables.0.lock().unwrap_or_else(|p| p.into_inner());
    let Some((_, rows)) = all.get_mut(&table.to_ascii_lowercase()) else {
        return table_not_found();
    };
    let key = (pk.clone(), rk.clone());
    match req.method.as_str() {
        "GET" => match rows.get(&key) {
            Some((props, ts)) => {
                let mut e = props.clone();
                e.insert("PartitionKey".into(), json!(pk));
                e.insert("RowKey".into(), json!(rk));
                e.insert("Timestamp".into(), json!(ts));
                nometadata(Reply::json(StatusCode::OK, Value::Object(e)))
                    .with_header("etag", etag(ts))
            }
            None => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "The specified resource does not exist.",
            ),
        },
        "PUT" | "MERGE" => {
            let Ok(Value::Object(mut body)) = req.json() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    "One of the request inputs is not valid.",
                );
            };
            for (k, v) in [("PartitionKey", &pk), ("RowKey", &rk)] {
                if body.get(k).is_some_and(|b| b.as_str() != Some(v.as_str())) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "PropertiesNeedValue",
                        "The values are not specified for all properties in the entity.",
                    );
                }
                body.remove(k);
            }
            body.remove("Timestamp");
            let ts = now_rfc3339();
            let props = match (req.method.as_str(), rows.remove(&key)) {
                ("MERGE", Some((mut old, _))) => {
                    old.extend(body);
                    old
                }
                _ => body,
            };
            rows.insert(key, (props, ts.clone()));
            Reply::json(StatusCode::NO_CONTENT, Value::Null).with_header("etag", etag(&ts))
        }
        "DELETE" => match rows.remove(&key) {
            Some(_) => Reply::json(StatusCode::NO_CONTENT, Value::Null),
            None => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "The specified resource does not exist.",
            ),
        },
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedHttpVerb",
            "The resource doesn't support specified Http Verb.",
        ),
    }
}

/// Insert Entity: the entity's keys are in its body; an existing entity is never touched.
fn insert(sim: &Sim, req: &Req, table: &str) -> Reply {
    let Ok(Value::Object(mut body)) = req.json() else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "One of the request inputs is not valid.",
        );
    };
    let key = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(pk), Some(rk)) = (key("PartitionKey"), key("RowKey")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "PropertiesNeedValue",
            "The values are not specified for all properties in the entity.",
        );
    };
    let mut all = sim.tables.0.lock().unwrap_or_else(|p| p.into_inner());
    let Some((_, rows)) = all.get_mut(&table.to_ascii_lowercase()) else {
        return table_not_found();
    };
    let key = (pk.clone(), rk.clone());
    if rows.contains_key(&key) {
        return error(
            StatusCode::CONFLICT,
            "EntityAlreadyExists",
            "The specified entity already exists.",
        );
    }
    body.remove("PartitionKey");
    body.remove("RowKey");
    body.remove("Timestamp");
    let ts = now_rfc3339();
    rows.insert(key, (body.clone(), ts.clone()));
    if req.header("prefer") == Some("return-no-content") {
        Reply::json(StatusCode::NO_CONTENT, Value::Null)
            .with_header("preference-applied", "return-no-content")
            .with_header("etag", etag(&ts))
    } else {
        body.insert("PartitionKey".into(), json!(pk));
        body.insert("RowKey".into(), json!(rk));
        body.insert("Timestamp".into(), json!(ts));
        nometadata(Reply::json(StatusCode::CREATED, Value::Object(body)))
            .with_header("etag", etag(&ts))
    }
}

fn query(sim: &Sim, req: &Req, table: &str) -> Reply {
    let all = sim.tables.0.lock().unwrap_or_else(|p| p.into_inner());
    let Some((_, rows)) = all.get(&table.to_ascii_lowercase()) else {
        return table_not_found();
    };
    let filter = match req.query("$filter").map(parse_filter).transpose() {
        Ok(f) => f,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                &format!("One of the request inputs is not valid: $filter: {e}"),
            );
        }
    };
    let top = match req.query("$top").map(str::parse::<usize>).transpose() {
        Ok(t) if t.is_none_or(|t| (1..=MAX_PAGE).contains(&t)) => t.unwrap_or(MAX_PAGE),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                "One of the request inputs is not valid: $top.",
            );
        }
    };
    let start = req.query("NextPartitionKey").map(|pk| {
        (
            pk.to_owned(),
            req.query("NextRowKey").unwrap_or_default().to_owned(),
        )
    });
    let mut page = Vec::new();
    let mut next = None;
    for ((pk, rk), (props, ts)) in rows {
        if start.as_ref().is_some_and(|s| (pk, rk) < (&s.0, &s.1)) {
            continue;
        }
        let mut e = props.clone();
        e.insert("PartitionKey".into(), json!(pk));
        e.insert("RowKey".into(), json!(rk));
        e.insert("Timestamp".into(), json!(ts));
        if filter.as_ref().is_some_and(|f| !f.eval(&e)) {
            continue;
        }
        if page.len() == top {
            next = Some((pk.clone(), rk.clone()));
            break;
        }
        page.push(Value::Object(e));
    }
    let mut reply = nometadata(Reply::json(StatusCode::OK, json!({"value": page})));
    if let Some((pk, rk)) = next {
        reply = reply
            .with_header("x-ms-continuation-NextPartitionKey", pk)
            .with_header("x-ms-continuation-NextRowKey", rk);
    }
    reply
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `PartitionKey='a',RowKey='b'` (quotes doubled inside values).
fn parse_keys(args: &str) -> Option<(String, String)> {
    let mut lexer = Lexer::new(args);
    let mut pk = None;
    let mut rk = None;
    loop {
        let Some(Token::Ident(name)) = lexer.next() else {
            return None;
        };
        if lexer.next() != Some(Token::Eq) {
            return None;
        }
        let Some(Token::Str(v)) = lexer.next() else {
            return None;
        };
        match name.as_str() {
            "PartitionKey" => pk = Some(v),
            "RowKey" => rk = Some(v),
            _ => return None,
        }
        match lexer.next() {
            Some(Token::Comma) => continue,
            None => break,
            _ => return None,
        }
    }
    Some((pk?, rk?))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Eq,
    Comma,
    Open,
    Close,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            chars: s.chars().peekable(),
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;
    fn next(&mut self) -> Option<Token> {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
        let c = self.chars.next()?;
        Some(match c {
            '=' => Token::Eq,
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '\'' => {
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        Some('\'') if self.chars.peek() == Some(&'\'') => {
                            self.chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break Token::Str(s),
                        Some(c) => s.push(c),
                        None => break Token::Ident("\u{0}unterminated".into()),
                    }
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut s = c.to_string();
                while let Some(&d) = self.chars.peek() {
                    if d.is_ascii_digit() || d == '.' || d == 'L' {
                        s.push(d);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                s.trim_end_matches('L')
                    .parse()
                    .map(Token::Num)
                    .unwrap_or(Token::Ident(s))
            }
            c => {
                let mut s = c.to_string();
                while let Some(&d) = self.chars.peek() {
                    if d.is_alphanumeric() || d == '_' {
                        s.push(d);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                match s.as_str() {
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    _ => Token::Ident(s),
                }
            }
        })
    }
}

/// A parsed `$filter`.
#[derive(Debug)]
enum Filter {
    Cmp(String, String, Token),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

fn parse_filter(s: &str) -> Result<Filter, String> {
    let tokens: Vec<Token> = Lexer::new(s).collect();
    let mut p = Parser { tokens, pos: 0 };
    let f = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected {:?}", p.tokens[p.pos]));
    }
    Ok(f)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Ident(w)) if w == word)
    }
    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_ident("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_ident("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_ident("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let f = self.or()?;
            if self.tokens.get(self.pos) != Some(&Token::Close) {
                return Err("missing ')'".into());
            }
            self.pos += 1;
            return Ok(f);
        }
        let (Some(Token::Ident(prop)), Some(Token::Ident(op)), Some(lit)) = (
            self.tokens.get(self.pos).cloned(),
            self.tokens.get(self.pos + 1).cloned(),
            self.tokens.get(self.pos + 2).cloned(),
        ) else {
            return Err("expected `Property op literal`".into());
        };
        if !["eq", "ne", "gt", "ge", "lt", "le"].contains(&op.as_str())
            || !matches!(lit, Token::Str(_) | Token::Num(_) | Token::Bool(_))
        {
            return Err(format!("unsupported comparison `{prop} {op} ..`"));
        }
        self.pos += 3;
        Ok(Filter::Cmp(prop, op, lit))
    }
}

impl Filter {
    fn eval(&self, e: &Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.eval(e) && b.eval(e),
            Filter::Or(a, b) => a.eval(e) || b.eval(e),
            Filter::Not(a) => !a.eval(e),
            Filter::Cmp(prop, op, lit) => {
                let ord = match (e.get(prop), lit) {
                    (Some(Value::String(v)), Token::Str(l)) => v.as_str().cmp(l.as_str()),
                    (Some(Value::Number(v)), Token::Num(l)) => {
                        match v.as_f64().and_then(|v| v.partial_cmp(l)) {
                            Some(o) => o,
                            None => return false,
                        }
                    }
                    (Some(Value::Bool(v)), Token::Bool(l)) => v.cmp(l),
                    _ => return false,
                };
                use std::cmp::Ordering::*;
                match op.as_str() {
                    "eq" => ord == Equal,
                    "ne" => ord != Equal,
                    "gt" => ord == Greater,
                    "ge" => ord != Less,
                    "lt" => ord == Less,
                    _ => ord != Greater,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_evaluate() {
        let e: Map<String, Value> = serde_json::from_value(json!({
            "PartitionKey": "web-1", "RowKey": "event-2026", "Status": "it's", "N": 3
        }))
        .unwrap();
        let t = |f: &str| parse_filter(f).unwrap().eval(&e);
        assert!(t(
            "PartitionKey eq 'web-1' and RowKey ge 'event-' and RowKey lt 'event.'"
        ));
        assert!(t("Status eq 'it''s'"));
        assert!(t("N gt 2 and not (N ge 4)"));
        assert!(!t("Missing eq 'x'"));
        assert!(t("Status eq 'x' or N eq 3"));
        assert!(parse_filter("Status eq").is_err());
        assert!(parse_filter("startswith(Status, 'x')").is_err());
    }

    #[test]
    fn entity_keys_parse_with_doubled_quotes() {
        assert_eq!(
            parse_keys("PartitionKey='o''brien',RowKey='event-2026-12-01T10:00:00Z'"),
            Some(("o'brien".into(), "event-2026-12-01T10:00:00Z".into()))
        );
        assert_eq!(parse_keys("PartitionKey='a'"), None);
    }
}
