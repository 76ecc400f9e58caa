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
    assert_eq!(required, ["deploymentId", "image", "target", "vm"]);
    assert_eq!(
        schema["properties"]["deploymentId"]["pattern"],
        "^[a-z0-9-]{1,40}$"
    );
    assert_eq!(schema["properties"]["deadline"]["format"], "date-time");
}
