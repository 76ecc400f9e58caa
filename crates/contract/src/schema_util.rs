//! Schema helpers for RFC 3339 timestamps (`time::OffsetDateTime` has no `JsonSchema` impl).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// Stand-in type used with `#[schemars(with = "Rfc3339")]`: a `date-time` string.
pub(crate) struct Rfc3339;

impl JsonSchema for Rfc3339 {
    fn schema_name() -> Cow<'static, str> {
        "Rfc3339".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// Like [`Rfc3339`] for optional timestamps.
pub(crate) struct OptionalRfc3339;

impl JsonSchema for OptionalRfc3339 {
    fn schema_name() -> Cow<'static, str> {
        "OptionalRfc3339".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "null"], "format": "date-time" })
    }
}

/// Marks `fields` required and drops their serde-derived `default`: the request types are
/// lenient on input (so validation can list every problem) but the published contract requires
/// these fields.
pub(crate) fn require(schema: &mut Schema, fields: &[&str]) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(props) = obj
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        for field in fields {
            if let Some(p) = props
                .get_mut(*field)
                .and_then(serde_json::Value::as_object_mut)
            {
                p.remove("default");
            }
        }
    }
    let required = obj
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = required.as_array_mut() {
        for field in fields {
            if !list.iter().any(|v| v == field) {
                list.push((*field).into());
            }
        }
    }
}

/// The request requires `deploymentId`, `image`, `target` and exactly one of `vm` and
/// `scaleSet`.
pub(crate) fn require_request(s: &mut Schema) {
    require(s, &["deploymentId", "image", "target"]);
    if let Some(obj) = s.as_object_mut() {
        if let Some(vm) = obj
            .get_mut("properties")
            .and_then(|p| p.get_mut("vm"))
            .and_then(serde_json::Value::as_object_mut)
        {
            vm.remove("default");
        }
        obj.insert(
            "oneOf".into(),
            serde_json::json!([{"required": ["vm"]}, {"required": ["scaleSet"]}]),
        );
    }
}

pub(crate) fn require_image(s: &mut Schema) {
    require(s, &["id"]);
}

pub(crate) fn require_target(s: &mut Schema) {
    require(
        s,
        &["tenantId", "subscriptionId", "resourceGroup", "location"],
    );
}

pub(crate) fn require_vm(s: &mut Schema) {
    require(s, &["name", "size"]);
}
