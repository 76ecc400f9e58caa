//! The VM rules Azure applies that imageferry must meet before its first write: Marketplace
//! plans and terms, computer names, SSH keys, Windows passwords, `startsAtVersion`, per-region
//! readiness, subnet join rights, and injected capacity / provisioning failures.

mod common;

use std::time::Duration;

use azure_sim::Scenario;
use azure_sim::TokenSubject;
use azure_sim::scenario::{
    ImageSeed, MarketplaceTerms, PurchasePlanSeed, RegionSeed, Role, RoleAssignment, VersionSeed,
    VmFailure,
};

fn plan() -> PurchasePlanSeed {
    PurchasePlanSeed {
        name: "byol".into(),
        publisher: "paloaltonetworks".into(),
        product: "vmseries-flex".into(),
    }
}
use common::*;
use serde_json::{Value, json};

fn image_ref(image: &str) -> Value {
    json!({"id": version_id(image)})
}

fn ssh_key(name: &str) -> String {
    let path = format!(
        "{}/../contract/tests/fixtures/ssh/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

fn image(name: &str, os_type: &str, os_state: &str, versions: &[&str]) -> ImageSeed {
    let mut img = Scenario::seed().galleries[0].images[0].clone();
    img.name = name.into();
    img.os_type = os_type.into();
    img.os_state = os_state.into();
    img.versions = versions
        .iter()
        .map(|v| VersionSeed {
            name: (*v).into(),
            regions: vec![RegionSeed {
                name: "South Central US".into(),
                replication_secs: 0.0,
                fail: false,
                added: false,
            }],
            exclude_from_latest: false,
        })
        .collect();
    img
}

fn linux_profile(computer_name: &str, key: &str) -> Value {
    json!({"computerName": computer_name, "adminUsername": "azureuser",
           "linuxConfiguration": {"disablePasswordAuthentication": true,
               "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": key}]}}})
}

async fn env_with(s: Scenario) -> (Env, String, String, String) {
    let env = Env::with(s).await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    for i in ["myImageDefinition", "myWindowsImage"] {
        env.replicate_all(i);
    }
    (env, t2, t1, nic)
}

#[tokio::test]
async fn marketplace_images_need_the_plan_and_accepted_terms() {
    // The seed's myMarketplaceImage has the plan; start with no accepted terms.
    let mut s = Scenario::seed();
    let seeded = s.galleries[0]
        .images
        .iter()
        .find(|i| i.name == "myMarketplaceImage")
        .unwrap();
    assert_eq!(seeded.purchase_plan.as_ref().unwrap().name, plan().name);
    s.marketplace_terms.clear();
    for i in &mut s.galleries[0].images {
        for v in &mut i.versions {
            for r in &mut v.regions {
                r.replication_secs = 0.0;
            }
        }
    }
    let (env, t2, t1, nic) = env_with(s.clone()).await;
    let mut body = vm_body(
        image_ref("myMarketplaceImage"),
        &nic,
        "southcentralus",
        true,
    );
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    r.assert_error(400, "VMMarketplaceInvalidInput");
    assert!(
        r.message().contains("requires Plan information"),
        "{}",
        r.message()
    );
    // The definition shows the purchase plan (GalleryRP ImagePurchasePlan).
    let def = env
        .get(
            &format!("{GALLERY}/images/myMarketplaceImage?api-version={GALLERY_API}"),
            &t1,
        )
        .await;
    assert_eq!(
        def.body["properties"]["purchasePlan"]["product"],
        "vmseries-flex"
    );
    // A wrong plan is no plan.
    body["plan"] =
        json!({"name": "payg", "publisher": "paloaltonetworks", "product": "vmseries-flex"});
    env.put_vm("vm1", &t2, &[&t1], body.clone())
        .await
        .assert_error(400, "VMMarketplaceInvalidInput");
    body["plan"] =
        json!({"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"});
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    r.assert_error(400, "MarketplacePurchaseEligibilityFailed");
    let inner = r.body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(
        inner.contains("You have not accepted the legal terms on this subscription"),
        "{inner}"
    );
    assert!(inner.contains(SUB2), "{inner}");

    // Terms accepted in the target subscription: the VM is created.
    s.marketplace_terms.push(MarketplaceTerms {
        subscription: SUB2.into(),
        publisher: "paloaltonetworks".into(),
        product: "vmseries-flex".into(),
        plan: "byol".into(),
    });
    let (env, t2, t1, nic) = env_with(s).await;
    body["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = json!(nic);
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["plan"]["name"], "byol");
}

#[tokio::test]
async fn computer_names_follow_the_os_rules() {
    let (env, t2, t1, nic) = env_with(Scenario::seed()).await;
    let ed = ssh_key("ed25519.pub");
    let mut linux = vm_body(
        image_ref("myImageDefinition"),
        &nic,
        "southcentralus",
        false,
    );
    linux["properties"]["osProfile"] = linux_profile("my_vm", &ed);
    let r = env.put_vm("vm1", &t2, &[&t1], linux.clone()).await;
    r.assert_error(400, "InvalidParameter");
    assert_eq!(r.body["error"]["target"], "computerName");
    assert!(
        r.message()
            .starts_with("Linux host name cannot exceed 64 characters")
    );
    // Sixteen characters are fine on Linux ...
    linux["properties"]["osProfile"]["computerName"] = json!("build-agent-0042");
    assert_eq!(env.put_vm("vm1", &t2, &[&t1], linux).await.status, 201);

    // ... but not on Windows; fifteen are.
    let mut windows = vm_body(image_ref("myWindowsImage"), &nic, "southcentralus", true);
    for bad in ["build-agent-0042", "12345", "web.01"] {
        windows["properties"]["osProfile"]["computerName"] = json!(bad);
        let r = env.put_vm("vm2", &t2, &[&t1], windows.clone()).await;
        r.assert_error(400, "InvalidParameter");
        assert!(
            r.message()
                .starts_with("Windows computer name cannot be more than 15"),
            "{bad}"
        );
    }
    windows["properties"]["osProfile"]["computerName"] = json!("build-agent-042");
    let r = env.put_vm("vm2", &t2, &[&t1], windows).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn ssh_keys_must_be_rsa_2048_or_ed25519() {
    let (env, t2, t1, nic) = env_with(Scenario::seed()).await;
    let mut body = vm_body(
        image_ref("myImageDefinition"),
        &nic,
        "southcentralus",
        false,
    );
    for bad in ["ecdsa256.pub", "rsa1024.pub"] {
        body["properties"]["osProfile"] = linux_profile("vm1", &ssh_key(bad));
        let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
        r.assert_error(400, "InvalidParameter");
        assert_eq!(
            r.body["error"]["target"], "linuxConfiguration.ssh.publicKeys.keyData",
            "{bad}"
        );
    }
    for good in ["rsa2048.pub", "ed25519.pub"] {
        body["properties"]["osProfile"] = linux_profile("vm1", &ssh_key(good));
        let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
        assert!(r.status == 201 || r.status == 200, "{good}: {:?}", r.body);
    }
}

#[tokio::test]
async fn windows_passwords_follow_compute_rp() {
    let (env, t2, t1, nic) = env_with(Scenario::seed()).await;
    let mut body = vm_body(image_ref("myWindowsImage"), &nic, "southcentralus", true);
    for bad in ["Password1", "short1!", "alllowercaseletters"] {
        body["properties"]["osProfile"]["adminPassword"] = json!(bad);
        let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
        r.assert_error(400, "InvalidParameter");
        assert_eq!(r.body["error"]["target"], "adminPassword");
        assert!(!r.message().contains(bad), "the password is never echoed");
    }
    body["properties"]["osProfile"]["adminPassword"] = json!("Correct-Horse-7");
    assert_eq!(env.put_vm("vm1", &t2, &[&t1], body).await.status, 201);
}

#[tokio::test]
async fn security_type_applies_from_starts_at_version() {
    let mut s = Scenario::seed();
    let mut img = image(
        "myLaterTrustedImage",
        "Linux",
        "Generalized",
        &["1.0.0", "2.0.0"],
    );
    img.features = [("SecurityType".to_string(), "TrustedLaunch".to_string())].into();
    img.features_start_at = [("SecurityType".to_string(), "2.0.0".to_string())].into();
    s.galleries[0].images.push(img);
    let (env, t2, t1, nic) = env_with(s).await;
    let def = env
        .get(
            &format!("{GALLERY}/images/myLaterTrustedImage?api-version={GALLERY_API}"),
            &t1,
        )
        .await;
    assert_eq!(
        def.body["properties"]["features"][0]["startsAtVersion"],
        "2.0.0"
    );
    let v = |ver: &str| format!("{GALLERY}/images/myLaterTrustedImage/versions/{ver}");
    let standard = vm_body(json!({"id": v("1.0.0")}), &nic, "southcentralus", true);
    assert_eq!(env.put_vm("vm1", &t2, &[&t1], standard).await.status, 201);
    let standard = vm_body(json!({"id": v("2.0.0")}), &nic, "southcentralus", true);
    env.put_vm("vm2", &t2, &[&t1], standard.clone())
        .await
        .assert_error(400, "BadRequest");
    let mut trusted = standard;
    trusted["properties"]["securityProfile"] = json!({"securityType": "TrustedLaunch",
        "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}});
    assert_eq!(env.put_vm("vm2", &t2, &[&t1], trusted).await.status, 201);
}

#[tokio::test]
async fn readiness_is_per_region() {
    let mut s = Scenario::seed();
    let regions = &mut s.galleries[0].images[0].versions[0].regions;
    regions[0].replication_secs = 0.0; // South Central US: done
    regions[1].replication_secs = 0.0; // West US 2: done
    regions.push(RegionSeed {
        name: "East US".into(),
        replication_secs: 100_000.0,
        fail: false,
        added: true, // being added by the publisher
    });
    let env = Env::with(s).await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    let path = format!(
        "{}?api-version={GALLERY_API}&$expand=ReplicationStatus",
        version_id("myImageDefinition")
    );
    let v = env.get(&path, &t1).await;
    assert_eq!(v.body["properties"]["provisioningState"], "Updating");
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    let body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    assert_eq!(
        r.status, 201,
        "a completed region is usable while Updating: {:?}",
        r.body
    );

    // Another region fails: the version is Failed, South Central US still works.
    env.sim
        .fail_replication(&version_id("myImageDefinition"), "West US 2")
        .unwrap();
    let v = env.get(&path, &t1).await;
    assert_eq!(v.body["properties"]["provisioningState"], "Failed");
    let r = env.put_vm("vm2", &t2, &[&t1], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // East US is still replicating: not usable there.
    let nic_east = env.network(&t2, "vm3", "eastus").await;
    let east = vm_body(image_ref("myImageDefinition"), &nic_east, "eastus", true);
    env.put_vm("vm3", &t2, &[&t1], east)
        .await
        .assert_error(404, "GalleryImageNotFound");
}

#[tokio::test]
async fn shared_version_outside_its_regions_is_not_found() {
    let (env, t2, _, _) = env_with(Scenario::seed()).await;
    let unique = format!("{SUB1}-MYGALLERY");
    let at = |region: &str| {
        format!(
            "/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/{region}/sharedGalleries/{unique}/images/myImageDefinition/versions/1.0.0?api-version={GALLERY_API}"
        )
    };
    assert_eq!(env.get(&at("southcentralus"), &t2).await.status, 200);
    env.get(&at("eastus"), &t2)
        .await
        .assert_error(404, "ResourceNotFound");
}

#[tokio::test]
async fn joining_a_subnet_needs_the_join_action_there() {
    let mut s = Scenario::seed();
    s.resource_groups
        .push(azure_sim::scenario::ResourceGroupSeed {
            subscription: SUB2.into(),
            name: "netRG".into(),
            location: "southcentralus".into(),
        });
    let net_rg = format!("/subscriptions/{SUB2}/resourceGroups/netRG");
    // A network admin owns netRG; the app may only read it.
    s.role_assignments.push(RoleAssignment {
        principal: "network-admin".into(),
        role: Role::Owner,
        scope: net_rg.clone(),
    });
    s.role_assignments.push(RoleAssignment {
        principal: APP.into(),
        role: Role::Reader,
        scope: net_rg.clone(),
    });
    let env = Env::with(s).await;
    let admin = env.sim.issue_token(
        &TokenSubject {
            tenant: T2.into(),
            appid: "admin-app".into(),
            oid: "network-admin".into(),
        },
        "https://management.azure.com",
        3600,
    );
    let vnet = format!("{net_rg}/providers/Microsoft.Network/virtualNetworks/shared-vnet");
    let r = env
        .put(
            &format!("{vnet}?api-version={NETWORK_API}"),
            &admin,
            json!({"location": "southcentralus",
            "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": "10.1.0.0/24"}}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let t2 = env.token(T2, ARM_SCOPE).await;
    let nic = format!(
        "{RG2}/providers/Microsoft.Network/networkInterfaces/vm1-nic?api-version={NETWORK_API}"
    );
    let body = json!({"location": "southcentralus", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": format!("{vnet}/subnets/default")}}}]}});
    let r = env.put(&nic, &t2, body.clone()).await;
    r.assert_error(403, "LinkedAccessCheckFailed");
    assert!(
        r.message()
            .contains("Microsoft.Network/virtualNetworks/subnets/join/action")
    );
    // The network admin, who may join it, can use the subnet in netRG.
    let admin_nic = format!(
        "{net_rg}/providers/Microsoft.Network/networkInterfaces/admin-nic?api-version={NETWORK_API}"
    );
    let r = env.put(&admin_nic, &admin, body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn injected_capacity_and_provisioning_failures() {
    let mut s = Scenario::seed();
    s.lro.vm_secs = 0.5;
    s.lro.vm_failures = vec![
        VmFailure {
            vm: "vm1".into(),
            code: "AllocationFailed".into(),
            times: 1,
        },
        VmFailure {
            vm: "vm2".into(),
            code: "SkuNotAvailable".into(),
            times: 1,
        },
        VmFailure {
            vm: "vm3".into(),
            code: "ZonalAllocationFailed".into(),
            times: u32::MAX,
        },
    ];
    let (env, t2, t1, nic) = env_with(s).await;
    let body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    // AllocationFailed once: the operation fails, the next PUT succeeds.
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    assert_eq!(r.status, 201);
    env.sim.advance(Duration::from_secs(1));
    let op = env.get(&env.operation_path(&r), &t2).await;
    assert_eq!(op.body["status"], "Failed");
    assert_eq!(op.body["error"]["code"], "AllocationFailed");
    assert!(
        op.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sufficient capacity")
    );
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    assert_eq!(r.status, 200);
    env.sim.advance(Duration::from_secs(1));
    assert_eq!(
        env.get(&env.operation_path(&r), &t2).await.body["status"],
        "Succeeded"
    );
    // SkuNotAvailable once: the PUT itself is refused (409), then accepted.
    env.put_vm("vm2", &t2, &[&t1], body.clone())
        .await
        .assert_error(409, "SkuNotAvailable");
    assert_eq!(
        env.put_vm("vm2", &t2, &[&t1], body.clone()).await.status,
        201
    );
    // Every time.
    for _ in 0..2 {
        let r = env.put_vm("vm3", &t2, &[&t1], body.clone()).await;
        env.sim.advance(Duration::from_secs(1));
        let op = env.get(&env.operation_path(&r), &t2).await;
        assert_eq!(op.body["error"]["code"], "ZonalAllocationFailed");
    }
}

#[tokio::test]
async fn marketplace_terms_agreement_can_be_read_with_subscription_read() {
    let mut s = Scenario::seed();
    s.role_assignments.push(RoleAssignment {
        principal: APP.into(),
        role: Role::Reader,
        scope: format!("/subscriptions/{SUB2}"),
    });
    let env = Env::with(s).await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let path = |plan: &str| {
        format!(
            "/subscriptions/{SUB2}/providers/Microsoft.MarketplaceOrdering/offerTypes/virtualmachine/publishers/paloaltonetworks/offers/vmseries-flex/plans/{plan}/agreements/current?api-version=2021-01-01"
        )
    };
    let accepted = env.get(&path("byol"), &t2).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(accepted.body["properties"]["accepted"], true);
    let ex = example("marketplaceordering/GetMarketplaceTerms.json");
    let diff = shape_diff(&ex["responses"]["200"]["body"], &accepted.body, &[]);
    assert!(diff.is_empty(), "{diff:?}");
    let other = env.get(&path("payg"), &t2).await;
    assert_eq!(other.body["properties"]["accepted"], false);
    // Without a role at the subscription: 403, as ARM answers.
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    env.get(&path("byol"), &t2)
        .await
        .assert_error(403, "AuthorizationFailed");
}
