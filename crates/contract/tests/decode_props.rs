//! Property tests over the request decoder and the id parsers: whatever the input, decoding
//! either succeeds or returns an error; it never panics, and neither do validation and the
//! deadline arithmetic on whatever decoded. Bounded (a few hundred cases each) so CI stays fast.

use imageferry_contract::{
    DeploymentRequest, ImageId, ImageVersionReplicated, ReplicationCheck, ResourceId,
    VmProvisioning,
};
use proptest::prelude::*;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Field names the decoder knows, system property names, and noise.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "deploymentId",
            "image",
            "id",
            "tenantId",
            "target",
            "subscriptionId",
            "resourceGroup",
            "location",
            "vm",
            "name",
            "size",
            "adminUsername",
            "sshPublicKey",
            "adminPasswordSecretId",
            "publicIp",
            "tags",
            "network",
            "subnetId",
            "allowInboundFrom",
            "deadline",
            "request",
            "attempt",
            "lastProgress",
            "vmId",
            "operation",
            "url",
            "kind",
            "continuation",
            "DeliveryCount",
            "MessageId",
        ])
        .prop_map(str::to_string),
        "[A-Za-z]{1,8}",
    ]
}

/// Strings that exercise the parsers: ids with dots, percent signs, huge years, control chars.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        prop::sample::select(vec![
            "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/rg",
            "/SharedGalleries/g/Images/..//Versions/1.0.0",
            "/SharedGalleries/g/Images/%2e%2e/Versions/1.0.0",
            "/CommunityGalleries/c/Images/i/Versions/4294967296.0.0",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "https://v.vault.azure.net/secrets/../x",
            "*",
            "::/0",
            "azureAsyncOperation",
        ])
        .prop_map(str::to_string),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn exercise(req: &DeploymentRequest, at: OffsetDateTime, default_secs: u64) {
    let _ = req.validate();
    let _ = req.effective_deadline(at, std::time::Duration::from_secs(default_secs));
}

fn instant() -> impl Strategy<Value = OffsetDateTime> {
    prop_oneof![
        Just(time::PrimitiveDateTime::MAX.assume_utc()),
        Just(time::PrimitiveDateTime::MIN.assume_utc()),
        (-377_705_116_800i64..253_402_300_799i64)
            .prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_text_decodes_or_errors(body in ".{0,200}", at in instant(), secs in any::<u64>()) {
        if let Ok(req) = serde_json::from_str::<DeploymentRequest>(&body) {
            exercise(&req, at, secs);
        }
        let _ = serde_json::from_str::<ImageVersionReplicated>(&body);
        let _ = serde_json::from_str::<ReplicationCheck>(&body);
        let _ = serde_json::from_str::<VmProvisioning>(&body);
    }

    #[test]
    fn any_json_decodes_or_errors(value in json(), at in instant(), secs in any::<u64>()) {
        let text = value.to_string();
        if let Ok(req) = serde_json::from_str::<DeploymentRequest>(&text) {
            exercise(&req, at, secs);
        }
        if let Ok(m) = serde_json::from_str::<ImageVersionReplicated>(&text) {
            exercise(m.request(), at, secs);
        }
        if let Ok(m) = serde_json::from_str::<ReplicationCheck>(&text) {
            exercise(&m.request, at, secs);
        }
        if let Ok(m) = serde_json::from_str::<VmProvisioning>(&text) {
            exercise(&m.request, at, secs);
        }
        for step in imageferry_contract::Step::ALL {
            let _ = imageferry_contract::fields::unknown(step, &value);
        }
    }

    #[test]
    fn request_shaped_json_decodes_or_errors(
        fields in prop::collection::vec((key(), json()), 0..10),
        image in text(), sub in text(), secret in text(), deadline in prop::option::of(text()),
        at in instant(), secs in any::<u64>(),
    ) {
        // Mostly known fields, so that many bodies decode and reach validation.
        let mut body: Map<String, Value> = fields
            .into_iter()
            .filter(|(k, _)| imageferry_contract::fields::REQUEST.contains(&k.as_str()))
            .collect();
        body.insert("image".into(), serde_json::json!({"id": image}));
        body.insert("target".into(), serde_json::json!({"subscriptionId": sub, "resourceGroup": "rg"}));
        body.insert("vm".into(), serde_json::json!({"name": "x", "adminPasswordSecretId": secret}));
        if let Some(deadline) = deadline {
            body.insert("deadline".into(), Value::String(deadline));
        }
        let text = Value::Object(body).to_string();
        if let Ok(req) = serde_json::from_str::<DeploymentRequest>(&text) {
            exercise(&req, at, secs);
        }
    }

    #[test]
    fn deadline_arithmetic_never_panics(
        at in instant(), secs in any::<u64>(), deadline in prop::option::of(instant()),
    ) {
        let req = DeploymentRequest { deadline, ..DeploymentRequest::default() };
        let d = req.effective_deadline(at, std::time::Duration::from_secs(secs));
        if deadline.is_none() {
            prop_assert!(d >= at);
        }
    }

    #[test]
    fn ids_parse_or_error_and_round_trip(
        segments in prop::collection::vec(prop_oneof![
            text(),
            Just("..".to_string()),
            Just("%2e%2e".to_string()),
            Just("subscriptions".to_string()),
            Just("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb".to_string()),
            Just("Versions".to_string()),
            Just("1.0.0".to_string()),
        ], 0..10)
    ) {
        let id = format!("/{}", segments.join("/"));
        if let Ok(parsed) = ResourceId::parse(&id) {
            prop_assert_eq!(ResourceId::parse(&parsed.to_string()).unwrap(), parsed.clone());
            for s in parsed.segments() {
                prop_assert!(s != "." && s != ".." && !s.contains('%'));
            }
            let base = url::Url::parse("https://management.azure.com/").unwrap();
            let url = parsed.to_url(&base).unwrap();
            prop_assert!(url.as_str().starts_with("https://management.azure.com/"));
        }
        if let Ok(image) = ImageId::parse(&id) {
            prop_assert_eq!(ImageId::parse(&image.to_string()).unwrap(), image);
        }
    }
}
