//! The issue's example request, verbatim, against the types and the validation rules.

use imageferry_contract::{
    DeploymentRequest, ImageFacts, ImageId, OsState, OsType, ValidationErrors,
};

const ISSUE_EXAMPLE: &str = r#"{
  "deploymentId": "web-canary-42",
  "image": { "id": "/subscriptions/<sub1>/resourceGroups/<rg>/providers/Microsoft.Compute/galleries/<g>/images/<def>/versions/<ver>",
             "tenantId": "<tenant 1>" },
  "target": { "tenantId": "<tenant 2>", "subscriptionId": "<sub2>", "resourceGroup": "myResourceGroup", "location": "southcentralus" },
  "vm": { "name": "myVM", "size": "Standard_D2s_v5", "adminUsername": "azureuser",
          "sshPublicKey": "ssh-ed25519 AAAA...",
          "adminPasswordSecretId": "https://<vault>.vault.azure.net/secrets/<name>",
          "publicIp": true, "tags": {} },
  "network": { "subnetId": "<optional existing subnet>", "allowInboundFrom": ["203.0.113.0/24"] },
  "deadline": "2026-11-23T06:00:00Z"
}"#;

const LINUX: ImageFacts = ImageFacts {
    os_type: OsType::Linux,
    os_state: OsState::Generalized,
    trusted_launch: false,
};

fn paths(e: &ValidationErrors) -> Vec<&str> {
    e.0.iter().map(|p| p.path.as_str()).collect()
}

/// The example with its placeholders filled in with the simulator's default ids.
fn filled() -> DeploymentRequest {
    let text = ISSUE_EXAMPLE
        .replace("<sub1>", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
        .replace("<rg>", "myGalleryRG")
        .replace("<g>", "myGallery")
        .replace("<def>", "myImageDefinition")
        .replace("<ver>", "1.0.0")
        .replace("<tenant 1>", "11111111-1111-4111-8111-111111111111")
        .replace("<tenant 2>", "22222222-2222-4222-8222-222222222222")
        .replace("<sub2>", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
        .replace("AAAA...", "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
        .replace("<vault>", "myvault")
        .replace("<name>", "vm-admin-password")
        .replace(
            "<optional existing subnet>",
            "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
        );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_verbatim_example_decodes_and_its_placeholders_are_reported() {
    let req: DeploymentRequest = serde_json::from_str(ISSUE_EXAMPLE).unwrap();
    assert_eq!(req.deployment_id, "web-canary-42");
    assert!(req.vm.public_ip);
    assert_eq!(req.network.allow_inbound_from, ["203.0.113.0/24"]);
    let err = req.validate().unwrap_err();
    assert_eq!(
        paths(&err),
        [
            "image.id",
            "image.tenantId",
            "target.tenantId",
            "target.subscriptionId",
            "vm.sshPublicKey",
            "vm.adminPasswordSecretId",
            "network.subnetId"
        ],
        "{err}"
    );
}

#[test]
fn the_filled_example_is_valid_except_for_the_password_on_linux() {
    let req = filled();
    let id = req.validate().unwrap();
    assert!(matches!(id, ImageId::Gallery { .. }));
    // The example shows both credentials; a Linux image takes only the SSH key.
    let err = req.validate_for_image(&LINUX).unwrap_err();
    assert_eq!(paths(&err), ["vm.adminPasswordSecretId"]);
    let mut linux = req.clone();
    linux.vm.admin_password_secret_id = None;
    linux.validate_for_image(&LINUX).unwrap();
    // Round trip keeps the wire names.
    let back = serde_json::to_value(&linux).unwrap();
    assert_eq!(
        back["vm"]["sshPublicKey"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("ssh-ed25519")
    );
    assert_eq!(back["deadline"], "2026-11-23T06:00:00Z");
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let mut value: serde_json::Value = serde_json::to_value(filled()).unwrap();
    value["DeliveryCount"] = serde_json::json!(1);
    let err = serde_json::from_value::<DeploymentRequest>(value.clone()).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `DeliveryCount`"),
        "{err}"
    );
    assert_eq!(
        imageferry_contract::fields::unknown(
            imageferry_contract::Step::DeploymentRequested,
            &value
        ),
        ["DeliveryCount"]
    );
    let mut value: serde_json::Value = serde_json::to_value(filled()).unwrap();
    value["vm"]["futureVmField"] = serde_json::json!(true);
    let err = serde_json::from_value::<DeploymentRequest>(value).unwrap_err();
    assert!(err.to_string().contains("futureVmField"), "{err}");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let req: DeploymentRequest = serde_json::from_str(
        r#"{"deploymentId": "Bad_ID", "image": {"id": "/SharedGalleries/g/Images/i/Versions/latest"},
            "target": {"location": "south central us!"},
            "vm": {"name": "-x", "adminUsername": "root", "tags": {"imageferry-deployment": "x"}},
            "network": {"allowInboundFrom": ["*", "10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "2001:db8::/32"]}}"#,
    )
    .unwrap();
    let err = req.validate().unwrap_err();
    assert_eq!(
        paths(&err),
        [
            "deploymentId",
            "image.id",
            "target.tenantId",
            "target.subscriptionId",
            "target.resourceGroup",
            "target.location",
            "vm.name",
            "vm.size",
            "vm.adminUsername",
            "vm.tags.imageferry-deployment",
            "network.allowInboundFrom[1]",
            "network.allowInboundFrom[2]",
            "network.allowInboundFrom[3]",
        ],
        "{err}"
    );
    assert!(
        err.to_string().contains("did you mean 10.0.0.0/8?"),
        "{err}"
    );
}

#[test]
fn os_dependent_rules() {
    let mut req = filled();
    req.vm.admin_password_secret_id = None;
    req.vm.ssh_public_key = None;
    let err = req.validate_for_image(&LINUX).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vm.sshPublicKey: required for a Linux image"
    );

    let windows = ImageFacts {
        os_type: OsType::Windows,
        ..LINUX
    };
    req.vm.name = "a-very-long-windows-name".into();
    let err = req.validate_for_image(&windows).unwrap_err();
    assert_eq!(paths(&err), ["vm.adminPasswordSecretId", "vm.name"]);

    let specialized = ImageFacts {
        os_state: OsState::Specialized,
        ..LINUX
    };
    let mut req = filled();
    req.vm.admin_password_secret_id = None;
    let err = req.validate_for_image(&specialized).unwrap_err();
    assert_eq!(paths(&err), ["vm.adminUsername", "vm.sshPublicKey"]);
    req.vm.admin_username = None;
    req.vm.ssh_public_key = None;
    req.validate_for_image(&specialized).unwrap();
}

#[test]
fn secret_ids_must_be_key_vault_secret_urls() {
    let mut req = filled();
    for (id, ok) in [
        ("https://v.vault.azure.net/secrets/pw", true),
        ("https://v.vault.azure.net/secrets/pw/0123abcd", true),
        ("http://127.0.0.1:8080/secrets/vm-admin-password", true),
        ("http://v.vault.azure.net/secrets/pw", false),
        ("https://v.vault.azure.net/keys/pw", false),
        (
            "https://v.vault.azure.net/secrets/pw?api-version=7.4",
            false,
        ),
        ("not a url", false),
        ("https://v.vault.azure.net/secrets/../keys/k", false),
        ("https://v.vault.azure.net/secrets/%2e%2e/pw", false),
        ("https://user@v.vault.azure.net/secrets/pw", false),
    ] {
        req.vm.admin_password_secret_id = Some(id.into());
        let problems = req.validate().err().map(|e| e.0).unwrap_or_default();
        assert_eq!(
            problems
                .iter()
                .any(|p| p.path == "vm.adminPasswordSecretId"),
            !ok,
            "{id}: {problems:?}"
        );
    }
}

#[test]
fn the_repository_examples_are_valid_requests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("deployment-request") && name.ends_with(".json")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let req: DeploymentRequest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = req.validate() {
            panic!("{name}: {e}");
        }
        checked += 1;
    }
    assert!(checked >= 1, "no examples/deployment-request*.json found");
}
