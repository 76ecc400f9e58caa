//! Collection GETs: `{value: [...], nextLink}` pages (ARM's list convention; `nextLink` carries
//! a `$skiptoken` and is absent on the last page, as the spec's `*ListResult` definitions and
//! azure-core's pager expect), resource lists under a resource group or a parent resource, and
//! Resources - List By Resource Group with its `$filter`.
//!
//! Resources - List By Resource Group has no example in azure-rest-api-specs
//! (reference/arm/README.md, "Not found"); its shape follows `resources.json` 2024-11-01:
//! `ResourceListResult {value: [GenericResourceExpanded], nextLink}` with `id`, `name`, `type`,
//! `location`, `tags` (and `sku`, `kind`, `managedBy`, `plan`, `identity` when the resource has
//! them); `$filter` per the operation's description: `tagName eq 'k' and tagValue eq 'v'`,
//! `tagName eq 'k'`, `resourceType eq 'ns/type'`, `name eq 'n'`, combinable with `and`.
//! Other filters are refused (400 `InvalidFilterInQueryString`), never ignored.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::errors::{method_not_allowed, rg_not_found};
use super::resources::{Kind, render_current, require};
use super::{ArmResult, Ctx, auth};
use crate::http::Reply;
use crate::sim::rg_id;
use crate::state::key;

/// A page of `items` from the request's `$skiptoken` on, with a `nextLink` when more remain.
pub(crate) fn page(ctx: &Ctx, items: Vec<Value>) -> Reply {
    let size = ctx.sim.scenario.arm.page_size.max(1);
    let top = ctx
        .req
        .query("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .filter(|t| *t > 0);
    let skip = ctx
        .req
        .query("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let total = top.map_or(items.len(), |t| t.min(items.len()));
    let end = (skip + size).min(total);
    let value: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(end.saturating_sub(skip))
        .collect();
    let mut body = json!({"value": value});
    if end < total {
        let mut query: Vec<(String, String)> = ctx
            .req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        query.push(("$skiptoken".to_owned(), end.to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        body["nextLink"] = Value::String(format!("{}{}?{qs}", ctx.req.base, ctx.req.path));
    }
    Reply::json(StatusCode::OK, body)
}

/// `GET …/providers/{ns}/{type}` (under the group) or `…/{type}/{name}/{childType}`.
/// `parent` is the parent resource's id, `None` for a top-level type (its scope is the group).
pub(crate) fn collection(
    ctx: &Ctx,
    sub: &str,
    rg: &str,
    kind: Kind,
    parent: Option<&str>,
) -> ArmResult {
    if ctx.req.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let path = ctx.req.path.trim_end_matches('/');
    let parent_scope = parent.map_or_else(|| rg_id(sub, rg), str::to_owned);
    require(ctx, &format!("{}/read", kind.type_name()), &parent_scope)?;
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    super::resources::reap(&mut st, now);
    if !st.resources.contains_key(&key(&rg_id(sub, rg))) {
        return Err(rg_not_found(rg));
    }
    if parent_scope != rg_id(sub, rg) && !st.resources.contains_key(&key(&parent_scope)) {
        return Err(super::errors::resource_not_found(
            parent_scope
                .split("/providers/")
                .nth(1)
                .unwrap_or(&parent_scope),
            rg,
        ));
    }
    if kind == Kind::Subnet {
        let vnet = st
            .resources
            .get(&key(&parent_scope))
            .map(|r| render_current(&st, r, now));
        let subnets = vnet
            .and_then(|v| v["properties"]["subnets"].as_array().cloned())
            .unwrap_or_default();
        drop(st);
        return Ok(page(ctx, subnets));
    }
    let prefix = format!("{}/", key(path));
    let items: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, r)| {
            r.resource_type.eq_ignore_ascii_case(kind.type_name())
                && k.starts_with(&prefix)
                && !k[prefix.len()..].contains('/')
        })
        .map(|(_, r)| render_current(&st, r, now))
        .collect();
    drop(st);
    Ok(page(ctx, items))
}

/// One clause of a Resources `$filter`.
enum Clause {
    TagName(String),
    TagValue(String),
    ResourceType(String),
    Name(String),
}

fn parse_filter(filter: &str) -> Result<Vec<Clause>, Reply> {
    let refuse = || {
        Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidFilterInQueryString",
            format!(
                "Invalid $filter '{filter}' specified in the query string. azure-sim supports tagName eq '…' [and tagValue eq '…'], resourceType eq '…' and name eq '…', joined with 'and'."
            ),
        )
    };
    let mut out = Vec::new();
    for part in filter.split(" and ") {
        let part = part.trim();
        let (field, value) = part.split_once(" eq ").ok_or_else(refuse)?;
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .ok_or_else(refuse)?
            .replace("''", "'");
        out.push(match field.trim() {
            f if f.eq_ignore_ascii_case("tagName") => Clause::TagName(value),
            f if f.eq_ignore_ascii_case("tagValue") => Clause::TagValue(value),
            f if f.eq_ignore_ascii_case("resourceType") => Clause::ResourceType(value),
            f if f.eq_ignore_ascii_case("name") => Clause::Name(value),
            _ => return Err(refuse()),
        });
    }
    let tag_value_alone = out.iter().any(|c| matches!(c, Clause::TagValue(_)))
        && !out.iter().any(|c| matches!(c, Clause::TagName(_)));
    if tag_value_alone {
        return Err(refuse());
    }
    Ok(out)
}

fn matches(clauses: &[Clause], r: &Value, resource_type: &str) -> bool {
    let tag_name = clauses.iter().find_map(|c| match c {
        Clause::TagName(n) => Some(n),
        _ => None,
    });
    clauses.iter().all(|c| match c {
        Clause::TagName(n) => r["tags"]
            .as_object()
            .is_some_and(|t| t.keys().any(|k| k.eq_ignore_ascii_case(n))),
        Clause::TagValue(v) => r["tags"].as_object().is_some_and(|t| {
            t.iter().any(|(k, val)| {
                tag_name.is_some_and(|n| k.eq_ignore_ascii_case(n))
                    && val.as_str() == Some(v.as_str())
            })
        }),
        Clause::ResourceType(t) => resource_type.eq_ignore_ascii_case(t),
        Clause::Name(n) => r["name"]
            .as_str()
            .is_some_and(|x| x.eq_ignore_ascii_case(n)),
    })
}

/// `GET /subscriptions/{sub}/resourceGroups/{rg}/resources` (Resources - List By Resource Group).
pub(crate) fn group_resources(ctx: &Ctx, sub: &str, rg: &str) -> ArmResult {
    if ctx.req.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let rgid = rg_id(sub, rg);
    require(
        ctx,
        "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
        &rgid,
    )?;
    let clauses = match ctx.req.query("$filter") {
        Some(f) if !f.trim().is_empty() => parse_filter(f)?,
        _ => Vec::new(),
    };
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    super::resources::reap(&mut st, now);
    if !st.resources.contains_key(&key(&rgid)) {
        return Err(rg_not_found(rg));
    }
    let prefix = format!("{}/providers/", key(&rgid));
    let items: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && k[prefix.len()..].split('/').count() == 3)
        .filter(|(_, r)| {
            auth::authorized(
                ctx.sim,
                &ctx.caller,
                &format!("{}/read", r.resource_type),
                &r.id,
            )
        })
        .map(|(_, r)| (render_current(&st, r, now), r.resource_type.clone()))
        .filter(|(body, t)| matches(&clauses, body, t))
        .map(|(body, t)| {
            let mut item = json!({
                "id": body["id"].as_str().map(str::to_owned).unwrap_or_default(),
                "name": body["name"],
                "type": t,
                "location": body["location"],
            });
            for field in [
                "tags",
                "sku",
                "kind",
                "managedBy",
                "plan",
                "identity",
                "zones",
            ] {
                if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                    item[field] = v.clone();
                }
            }
            item
        })
        .collect();
    drop(st);
    Ok(page(ctx, items))
}
