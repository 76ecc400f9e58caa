//! A scale-set request: the same rules as a VM for the fields both have (under `scaleSet`), its
//! own rules, exactly one of `vm` and `scaleSet`, and rollout targets that are scale sets.

use imageferry_contract::rollout::RolloutConfig;
use imageferry_contract::{
    DeploymentRequest, ImageFacts, OsState, OsType, UpgradeMode, ValidationErrors,
};
use serde_json::{Value, json};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";

fn request(scale_set: Value) -> DeploymentRequest {
    serde_json::from_value(json!({
        "deploymentId": "web-ss-1",
        "image": {"id": format!("{GALLERY}/images/myImageDefinition/versions/1.0.0"),
                  "tenantId": "11111111-1111-4111-8111-111111111111"},
        "target": {"tenantId": "22222222-2222-4222-8222-222222222222",
                   "subscriptionId": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
                   "resourceGroup": "myResourceGroup", "location": "southcentralus"},
        "scaleSet": scale_set,
        "network": {"allowInboundFrom": ["203.0.113.0/24"]}
    }))
    .unwrap()
}

fn paths(e: &ValidationErrors) -> Vec<&str> {
    e.0.iter().map(|p| p.path.as_str()).collect()
}

const LINUX: ImageFacts = ImageFacts {
    os_type: OsType::Linux,
    os_state: OsState::Generalized,
    trusted_launch: false,
};

#[test]
fn a_scale_set_request_is_valid_and_round_trips_without_a_vm() {
    let req = request(json!({
        "name": "web-ss", "capacity": 4, "size": "Standard_D2s_v5", "upgrade": "batches",
        "batchPercent": 25, "maxUnhealthyPercent": 20, "pauseBetweenBatches": "30s",
        "health": {"protocol": "http", "port": 80, "path": "/health", "graceMinutes": 5},
        "adminUsername": "azureuser", "sshPublicKey": KEY, "publicIp": true
    }));
    req.validate().unwrap();
    req.validate_for_image(&LINUX).unwrap();
    let ss = req.scale_set.as_ref().unwrap();
    assert_eq!(ss.upgrade, UpgradeMode::Batches);
    assert_eq!(req.machine().name, "web-ss");
    assert_eq!(req.machine_path(), "scaleSet");
    let wire = serde_json::to_value(&req).unwrap();
    assert!(wire.get("vm").is_none(), "{wire}");
    assert_eq!(wire["scaleSet"]["health"]["graceMinutes"], 5);
    let back: DeploymentRequest = serde_json::from_value(wire).unwrap();
    assert_eq!(back, req);
}

#[test]
fn the_vm_rules_apply_under_scale_set_and_its_own_rules_too() {
    let req = request(json!({
        "name": "-bad", "capacity": 0, "size": "Standard D2", "upgrade": "rolling",
        "adminUsername": "admin", "sshPublicKey": "ssh-dss AAAA",
        "tags": {"imageferry-deployment": "x"}
    }));
    let err = req.validate().unwrap_err();
    assert_eq!(
        paths(&err),
        [
            "scaleSet.capacity",
            "scaleSet.health",
            "scaleSet.name",
            "scaleSet.size",
            "scaleSet.adminUsername",
            "scaleSet.sshPublicKey",
            "scaleSet.tags.imageferry-deployment"
        ],
        "{err}"
    );
    // Image-dependent rules name the scale set's fields.
    let req = request(json!({"name": "web-ss", "capacity": 2, "size": "Standard_D2s_v5"}));
    let err = req.validate_for_image(&LINUX).unwrap_err();
    assert_eq!(
        paths(&err),
        ["scaleSet.adminUsername", "scaleSet.sshPublicKey"],
        "{err}"
    );
    let digits = request(
        json!({"name": "1234", "capacity": 2, "size": "Standard_D2s_v5",
                                "adminUsername": "azureuser", "sshPublicKey": KEY}),
    );
    let err = digits.validate_for_image(&LINUX).unwrap_err();
    assert_eq!(paths(&err), ["scaleSet.name"], "{err}");
}

#[test]
fn a_request_names_a_vm_or_a_scale_set_not_both() {
    let mut req = request(json!({"name": "web-ss", "capacity": 2, "size": "Standard_D2s_v5"}));
    req.vm.name = "myVM".into();
    let err = req.validate().unwrap_err();
    assert!(paths(&err).contains(&"vm"), "{err}");
}

#[test]
fn rollout_targets_may_be_scale_sets_updated_in_place() {
    let text = format!(
        r#"version = 1

[[rollout]]
name = "web"
image = "{GALLERY}/images/myImage*"

[[rollout.ring]]
name = "canary"

[[rollout.ring.target]]
name = "t2-fleet"
tenantId = "22222222-2222-4222-8222-222222222222"
subscriptionId = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
resourceGroup = "myResourceGroup"
location = "southcentralus"
scaleSet = {{ name = "web-ss", capacity = 4, size = "Standard_D2s_v5", batchPercent = 25, adminUsername = "azureuser", sshPublicKey = "{KEY}" }}
"#
    );
    let config = RolloutConfig::parse(&text).unwrap();
    let target = config.rollouts[0].ring_targets(0).next().unwrap().target;
    let req = target.request(
        "d",
        &format!("{GALLERY}/images/myImage/versions/1.2.0"),
        "1.2.0",
        None,
    );
    assert_eq!(req.scale_set.as_ref().unwrap().name, "web-ss");
    assert!(req.vm.is_unset());

    let versioned = text.replace("name = \"web-ss\"", "name = \"web-{version}\"");
    let err = RolloutConfig::parse(&versioned).unwrap_err();
    let p = err
        .problems
        .iter()
        .find(|p| p.path == "rollout[0].ring[0].target[0].scaleSet.name")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(p.message.contains("{version}"), "{err}");
    assert!(p.line.is_some(), "{err}");
}
