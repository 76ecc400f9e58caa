//! The committed JSON Schemas under `schemas/` must match the types.
//! Run with `UPDATE_SCHEMAS=1` to rewrite them after a contract change.

use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn committed_schemas_match_the_types() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let dir = schemas_dir();
    let mut stale = Vec::new();
    for file in imageferry_contract::schema::all() {
        let path = dir.join(file.file_name);
        let expected = file.render();
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &expected).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(actual) if actual == expected => {}
            _ => stale.push(file.file_name),
        }
    }
    assert!(
        stale.is_empty(),
        "schemas out of date: {stale:?}; run `UPDATE_SCHEMAS=1 cargo test -p imageferry-contract --test schemas` and commit schemas/"
    );
}

#[test]
fn request_schema_requires_the_documented_fields() {
    let file = imageferry_contract::schema::all()
        .into_iter()
        .find(|f| f.file_name == "deployment-request.schema.json")
        .unwrap();
    let schema = serde_json::to_value(&file.schema).unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["deploymentId", "image", "target"]);
    // And exactly one of the two targets: a VM or a scale set.
    assert_eq!(
        schema["oneOf"],
        serde_json::json!([{"required": ["vm"]}, {"required": ["scaleSet"]}])
    );
    assert_eq!(
        schema["properties"]["deploymentId"]["pattern"],
        "^[a-z0-9-]{1,40}$"
    );
    assert_eq!(schema["properties"]["deadline"]["format"], "date-time");
}

/// `fields::*` (used to name every unknown field of a refused body) lists exactly the schema's
/// top-level properties, and every message schema refuses additional properties.
#[test]
fn field_lists_match_the_schemas_and_extra_fields_are_refused() {
    use imageferry_contract::fields;
    let schema = |name: &str| {
        let file = imageferry_contract::schema::all()
            .into_iter()
            .find(|f| f.file_name == name)
            .unwrap();
        serde_json::to_value(&file.schema).unwrap()
    };
    let props = |s: &serde_json::Value| {
        let mut keys: Vec<String> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let sorted = |list: &[&str]| {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    for (file, list) in [
        ("deployment-request.schema.json", fields::REQUEST),
        ("replication-check.schema.json", fields::REPLICATION_CHECK),
        ("vm-provisioning.schema.json", fields::VM_PROVISIONING),
        (
            "scale-set-provisioning.schema.json",
            fields::SCALE_SET_PROVISIONING,
        ),
        ("rollout-check.schema.json", fields::ROLLOUT_CHECK),
    ] {
        let s = schema(file);
        assert_eq!(props(&s), sorted(list), "{file}");
        assert_eq!(s["additionalProperties"], false, "{file}");
    }
    let replicated = schema("image-version-replicated.schema.json");
    let forms = replicated["anyOf"].as_array().unwrap();
    let step = forms
        .iter()
        .map(|f| match f.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => replicated["$defs"][r.rsplit('/').next().unwrap()].clone(),
            None => f.clone(),
        })
        .find(|f| f["properties"].get("request").is_some())
        .unwrap();
    assert_eq!(props(&step), sorted(fields::REPLICATED_STEP));
    assert_eq!(step["additionalProperties"], false);
}
