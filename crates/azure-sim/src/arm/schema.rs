//! A small Swagger 2.0 validator for request bodies, run against the real definitions in
//! reference/arm/schemas (VirtualMachine, VirtualMachineExtension, GalleryImage,
//! GalleryImageVersion, VirtualMachineScaleSet(Update), VirtualMachineScaleSetVMInstanceRequiredIDs).
//!
//! Supported: `$ref` (within a file, `./other.json#...`, and the two common-types prefixes mapped
//! to the local copies as reference/arm/README.md describes), `allOf`, `type`, `required`,
//! `enum` (skipped when `x-ms-enum.modelAsString` is true; compared case-insensitively like the
//! RPs' JSON deserializers), `properties` (unknown members rejected unless `additionalProperties`),
//! `items`, `additionalProperties`. `readOnly` properties are ignored on input.
//!
//! Errors: unknown members / wrong JSON types → 400 `InvalidRequestContent` ("The request content
//! was invalid and could not be deserialized: 'Could not find member ...'", the Compute RP's
//! Newtonsoft message); missing required → 400 `InvalidParameter` "Required parameter '...' is
//! missing (null)."; enum violations → 400 `InvalidParameter`.

use std::collections::HashMap;
use std::sync::OnceLock;

use http::StatusCode;
use serde_json::Value;

use super::ArmResult;
use crate::http::Reply;

const FILES: [(&str, &str); 6] = [
    (
        "GalleryRP.json",
        include_str!("../../../../reference/arm/schemas/GalleryRP.json"),
    ),
    (
        "virtualMachine.json",
        include_str!("../../../../reference/arm/schemas/virtualMachine.json"),
    ),
    (
        "virtualMachineScaleSet.json",
        include_str!("../../../../reference/arm/schemas/virtualMachineScaleSet.json"),
    ),
    (
        "computeRPCommon.json",
        include_str!("../../../../reference/arm/schemas/computeRPCommon.json"),
    ),
    (
        "compute-v1-common.json",
        include_str!("../../../../reference/arm/schemas/common-types/compute-v1-common.json"),
    ),
    (
        "resource-management-v3-types.json",
        include_str!(
            "../../../../reference/arm/schemas/common-types/resource-management-v3-types.json"
        ),
    ),
];

fn specs() -> &'static HashMap<&'static str, Value> {
    static SPECS: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    SPECS.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, text)| {
                (
                    *name,
                    serde_json::from_str(text).expect("bundled swagger is JSON"),
                )
            })
            .collect()
    })
}

/// A validation failure (paths are dotted JSON paths, `a.b[0].c`).
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// A member the definition does not declare.
    UnknownMember {
        /// Member name.
        member: String,
        /// Definition name of the enclosing object.
        on_type: String,
        /// Path of the member.
        path: String,
    },
    /// Wrong JSON type.
    WrongType {
        /// Path.
        path: String,
        /// Swagger type expected.
        expected: String,
    },
    /// A required property is missing or null.
    Required {
        /// Path.
        path: String,
    },
    /// A value outside a closed enum.
    Enum {
        /// Path.
        path: String,
        /// The value.
        value: String,
        /// Allowed values.
        allowed: Vec<String>,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::UnknownMember {
                member,
                on_type,
                path,
            } => {
                write!(f, "{path}: unknown member '{member}' of {on_type}")
            }
            Violation::WrongType { path, expected } => write!(f, "{path}: expected {expected}"),
            Violation::Required { path } => write!(f, "{path}: required"),
            Violation::Enum {
                path,
                value,
                allowed,
            } => {
                write!(f, "{path}: '{value}' not in {}", allowed.join("|"))
            }
        }
    }
}

/// The definition asked for does not exist in the bundled swagger files.
#[derive(Debug, thiserror::Error)]
#[error(
    "no definition {definition} in {file} (files: GalleryRP.json, virtualMachine.json, virtualMachineScaleSet.json, computeRPCommon.json, compute-v1-common.json, resource-management-v3-types.json)"
)]
pub struct UnknownDefinition {
    /// File asked for.
    pub file: String,
    /// Definition asked for.
    pub definition: String,
}

/// Validates `body` against `{file}#/definitions/{definition}` of the bundled reference/arm
/// schemas (request semantics: `readOnly` properties are not checked).
pub fn validate(
    file: &str,
    definition: &str,
    body: &Value,
) -> Result<Vec<Violation>, UnknownDefinition> {
    let unknown = || UnknownDefinition {
        file: file.to_owned(),
        definition: definition.to_owned(),
    };
    let (name, _) = FILES.iter().find(|(n, _)| *n == file).ok_or_else(unknown)?;
    if specs()[name]
        .pointer(&format!("/definitions/{definition}"))
        .is_none()
    {
        return Err(unknown());
    }
    Ok(violations(name, definition, body))
}

impl Violation {
    fn into_reply(self) -> Reply {
        let content = |detail: String| {
            Reply::arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                format!(
                    "The request content was invalid and could not be deserialized: '{detail}'."
                ),
            )
        };
        match self {
            Violation::UnknownMember {
                member,
                on_type,
                path,
            } => content(format!(
                "Could not find member '{member}' on object of type '{on_type}'. Path '{path}', line 1, position 1."
            )),
            Violation::WrongType { path, expected } => content(format!(
                "Error converting value at path '{path}' to type '{expected}'. Path '{path}', line 1, position 1."
            )),
            Violation::Required { path } => Reply::arm_error_target(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!("Required parameter '{path}' is missing (null)."),
                Some(&path),
            ),
            Violation::Enum {
                path,
                value,
                allowed,
            } => Reply::arm_error_target(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!(
                    "The value '{value}' of parameter '{path}' is not allowed. Allowed values are: {}.",
                    allowed.join(", ")
                ),
                Some(&path),
            ),
        }
    }
}

/// Resolves a `$ref` relative to `file` into (file, JSON pointer).
fn resolve(file: &'static str, reference: &str) -> Option<(&'static str, String)> {
    let (doc, pointer) = reference.split_once('#')?;
    let target = if doc.is_empty() {
        file
    } else if doc.ends_with("common-types/v1/common.json") {
        "compute-v1-common.json"
    } else if doc.ends_with("resource-management/v3/types.json") {
        "resource-management-v3-types.json"
    } else {
        let name = doc.rsplit('/').next()?;
        FILES.iter().find(|(n, _)| *n == name)?.0
    };
    Some((target, pointer.to_owned()))
}

struct Validator {
    violations: Vec<Violation>,
}

impl Validator {
    fn definition(
        file: &'static str,
        reference: &str,
    ) -> Option<(&'static str, &'static Value, String)> {
        let (f, ptr) = resolve(file, reference)?;
        let schema = specs().get(f)?.pointer(&ptr)?;
        let name = ptr.rsplit('/').next().unwrap_or_default().to_owned();
        Some((f, schema, name))
    }

    /// Collects `properties` and `required` across `allOf` and `$ref`s.
    fn collect(
        file: &'static str,
        schema: &'static Value,
        props: &mut Vec<(&'static str, String, &'static Value)>,
        required: &mut Vec<String>,
        open: &mut bool,
    ) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if let Some((f, s, _)) = Self::definition(file, r) {
                Self::collect(f, s, props, required, open);
            }
            return;
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                Self::collect(file, s, props, required, open);
            }
        }
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.push((file, k.clone(), v));
            }
        }
        if let Some(r) = schema.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if schema
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false))
        {
            *open = true;
        }
    }

    fn check(
        &mut self,
        file: &'static str,
        schema: &'static Value,
        value: &Value,
        path: &str,
        type_name: &str,
    ) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if let Some((f, s, name)) = Self::definition(file, r) {
                self.check(f, s, value, path, &name);
            }
            return;
        }
        if schema.get("readOnly") == Some(&Value::Bool(true)) {
            return;
        }
        let declared = schema.get("type").and_then(Value::as_str);
        let is_object_schema = declared == Some("object")
            || schema.get("properties").is_some()
            || schema.get("allOf").is_some();
        if let Some(t) = declared {
            let ok = match t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                self.violations.push(Violation::WrongType {
                    path: path.to_owned(),
                    expected: t.to_owned(),
                });
                return;
            }
        }
        if let (Some(allowed), Some(s)) =
            (schema.get("enum").and_then(Value::as_array), value.as_str())
        {
            let model_as_string = schema
                .pointer("/x-ms-enum/modelAsString")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let allowed: Vec<String> = allowed
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            if !model_as_string && !allowed.iter().any(|a| a.eq_ignore_ascii_case(s)) {
                self.violations.push(Violation::Enum {
                    path: path.to_owned(),
                    value: s.to_owned(),
                    allowed,
                });
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
            for (i, v) in arr.iter().enumerate() {
                self.check(file, items, v, &format!("{path}[{i}]"), type_name);
            }
        }
        if !is_object_schema {
            if let (Some(ap), Some(obj)) = (schema.get("additionalProperties"), value.as_object())
                && ap.is_object()
            {
                for (k, v) in obj {
                    self.check(file, ap, v, &join(path, k), type_name);
                }
            }
            return;
        }
        let Some(obj) = value.as_object() else {
            if !value.is_null() {
                self.violations.push(Violation::WrongType {
                    path: path.to_owned(),
                    expected: "object".to_owned(),
                });
            }
            return;
        };
        let mut props = Vec::new();
        let mut required = Vec::new();
        let mut open = false;
        Self::collect(file, schema, &mut props, &mut required, &mut open);
        for r in &required {
            let read_only = props
                .iter()
                .any(|(_, k, s)| k == r && s.get("readOnly") == Some(&Value::Bool(true)));
            if !read_only && obj.get(r).is_none_or(Value::is_null) {
                self.violations.push(Violation::Required {
                    path: join(path, r),
                });
            }
        }
        for (k, v) in obj {
            match props.iter().find(|(_, name, _)| name == k) {
                Some((f, _, s)) if !v.is_null() => self.check(f, s, v, &join(path, k), k),
                Some(_) => {}
                None if !open && !props.is_empty() => {
                    self.violations.push(Violation::UnknownMember {
                        member: k.clone(),
                        on_type: type_name.to_owned(),
                        path: join(path, k),
                    })
                }
                None => {}
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Validates `body` against `file#/definitions/{definition}`; returns all violations.
pub(crate) fn violations(file: &'static str, definition: &str, body: &Value) -> Vec<Violation> {
    let mut v = Validator {
        violations: Vec::new(),
    };
    let reference = format!("#/definitions/{definition}");
    if let Some((f, schema, name)) = Validator::definition(file, &reference) {
        v.check(f, schema, body, "", &name);
    }
    v.violations
}

fn first_violation(file: &'static str, definition: &str, body: &Value) -> ArmResult<()> {
    match violations(file, definition, body).into_iter().next() {
        Some(v) => Err(v.into_reply()),
        None => Ok(()),
    }
}

/// VM PUT body vs `virtualMachine.json#/definitions/VirtualMachine`.
pub(crate) fn validate_vm(body: &Value) -> ArmResult<()> {
    first_violation("virtualMachine.json", "VirtualMachine", body)
}

/// Image version PUT body vs `GalleryRP.json#/definitions/GalleryImageVersion`.
pub(crate) fn validate_gallery_image_version(body: &Value) -> ArmResult<()> {
    first_violation("GalleryRP.json", "GalleryImageVersion", body)
}

/// VM extension PUT body vs `virtualMachine.json#/definitions/VirtualMachineExtension`.
pub(crate) fn validate_vm_extension(body: &Value) -> ArmResult<()> {
    first_violation("virtualMachine.json", "VirtualMachineExtension", body)
}

/// Scale-set PUT body vs `virtualMachineScaleSet.json#/definitions/VirtualMachineScaleSet`.
pub(crate) fn validate_scale_set(body: &Value) -> ArmResult<()> {
    first_violation(
        "virtualMachineScaleSet.json",
        "VirtualMachineScaleSet",
        body,
    )
}

/// Scale-set PATCH body vs `virtualMachineScaleSet.json#/definitions/VirtualMachineScaleSetUpdate`.
pub(crate) fn validate_scale_set_update(body: &Value) -> ArmResult<()> {
    first_violation(
        "virtualMachineScaleSet.json",
        "VirtualMachineScaleSetUpdate",
        body,
    )
}

/// `manualupgrade` body vs `VirtualMachineScaleSetVMInstanceRequiredIDs`.
pub(crate) fn validate_instance_ids(body: &Value) -> ArmResult<()> {
    first_violation(
        "virtualMachineScaleSet.json",
        "VirtualMachineScaleSetVMInstanceRequiredIDs",
        body,
    )
}

/// Image definition PUT body vs `GalleryRP.json#/definitions/GalleryImage`.
pub(crate) fn validate_gallery_image(body: &Value) -> ArmResult<()> {
    first_violation("GalleryRP.json", "GalleryImage", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_raw(path: &str) -> Value {
        let text = std::fs::read_to_string(format!(
            "{}/../../reference/arm/examples/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn example_request(path: &str) -> Value {
        let v = example_raw(path);
        let p = &v["parameters"];
        p.get("parameters")
            .or_else(|| p.get("galleryImageVersion"))
            .cloned()
            .unwrap()
    }

    #[test]
    fn all_refs_resolve() {
        fn walk(file: &'static str, v: &'static Value, bad: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    // x-ms-examples `$ref`s point at example files (no `#`), not definitions.
                    if let Some(r) = m
                        .get("$ref")
                        .and_then(Value::as_str)
                        .filter(|r| r.contains('#'))
                        && Validator::definition(file, r).is_none()
                    {
                        bad.push(format!("{file}: {r}"));
                    }
                    m.values().for_each(|x| walk(file, x, bad));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(file, x, bad)),
                _ => {}
            }
        }
        let mut bad = Vec::new();
        for (name, _) in FILES {
            walk(name, &specs()[name], &mut bad);
        }
        assert!(bad.is_empty(), "unresolved: {bad:?}");
    }

    #[test]
    fn example_requests_are_valid() {
        for f in [
            "compute/VirtualMachine_Create_FromAGeneralizedSharedImage.json",
            "compute/VirtualMachine_Create_FromASpecializedSharedImage.json",
            "compute/VirtualMachine_Create_FromASharedGalleryImage.json",
            "compute/VirtualMachine_Create_FromACommunityGalleryImage.json",
            "compute/VirtualMachine_Create_WithSshAuthentication.json",
        ] {
            assert_eq!(
                violations("virtualMachine.json", "VirtualMachine", &example_request(f)),
                vec![],
                "{f}"
            );
        }
        let v = example_request("gallery/GalleryImageVersion_Create.json");
        assert_eq!(
            violations("GalleryRP.json", "GalleryImageVersion", &v),
            vec![]
        );
        let ss = example_request(
            "scaleset/VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage.json",
        );
        assert_eq!(
            violations("virtualMachineScaleSet.json", "VirtualMachineScaleSet", &ss),
            vec![]
        );
        for f in [
            "scaleset/VirtualMachineScaleSet_Update_MinimumSet_Gen.json",
            "scaleset/VirtualMachineScaleSet_Update_MaximumSet_Gen.json",
        ] {
            assert_eq!(
                violations(
                    "virtualMachineScaleSet.json",
                    "VirtualMachineScaleSetUpdate",
                    &example_request(f)
                ),
                vec![],
                "{f}"
            );
        }
        let ids =
            example_raw("scaleset/VirtualMachineScaleSet_UpdateInstances_MinimumSet_Gen.json");
        assert_eq!(
            violations(
                "virtualMachineScaleSet.json",
                "VirtualMachineScaleSetVMInstanceRequiredIDs",
                &ids["parameters"]["vmInstanceIDs"]
            ),
            vec![]
        );
        assert!(
            !violations(
                "virtualMachineScaleSet.json",
                "VirtualMachineScaleSetVMInstanceRequiredIDs",
                &serde_json::json!({})
            )
            .is_empty()
        );
    }

    #[test]
    fn violations_are_reported_with_paths() {
        let mut vm =
            example_request("compute/VirtualMachine_Create_FromAGeneralizedSharedImage.json");
        vm["properties"]["storageProfile"]["osDisk"]["bogus"] = Value::Bool(true);
        vm["properties"]["hardwareProfile"]["vmSize"] = Value::from(5);
        vm["properties"]["storageProfile"]["osDisk"]
            .as_object_mut()
            .unwrap()
            .remove("createOption");
        let v = violations("virtualMachine.json", "VirtualMachine", &vm);
        assert!(
            v.contains(&Violation::Required {
                path: "properties.storageProfile.osDisk.createOption".into()
            }),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|x| matches!(x, Violation::UnknownMember { member, .. } if member == "bogus")),
            "{v:?}"
        );
        assert!(v.iter().any(|x| matches!(x, Violation::WrongType { path, .. } if path == "properties.hardwareProfile.vmSize")), "{v:?}");
        let mut gv = example_request("gallery/GalleryImageVersion_Create.json");
        gv["properties"]["safetyProfile"]["allowDeletionOfReplicatedLocations"] =
            Value::from("yes");
        assert!(!violations("GalleryRP.json", "GalleryImageVersion", &gv).is_empty());
    }
}
