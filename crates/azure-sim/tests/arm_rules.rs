//! ARM rules: tokens, tenants, RBAC, the auxiliary-token rule, image checks, LROs, idempotency,
//! faults, schema validation, replication over time, Key Vault.

mod common;

use std::time::Duration;

use azure_sim::{Faults, Scenario, TokenSubject};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn image_ref(image: &str) -> Value {
    json!({"id": version_id(image)})
}

/// Env with the network for `vm` in place and all images replicated.
async fn ready_env() -> (Env, String, String, String) {
    let env = Env::new().await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    for i in [
        "myImageDefinition",
        "myWindowsImage",
        "mySpecializedImage",
        "myTrustedLaunchImage",
    ] {
        env.replicate_all(i);
    }
    (env, t2, t1, nic)
}

#[tokio::test]
async fn cross_tenant_vm_is_created_with_the_auxiliary_token() {
    let (env, t2, t1, nic) = ready_env().await;
    let body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert!(
        r.body["properties"]["osProfile"]
            .get("adminPassword")
            .is_none(),
        "secrets are not echoed"
    );
    let rec = env
        .sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/virtualMachines/vm1"))
        .unwrap();
    assert!(rec.aux_header);
    assert_eq!(rec.aux_token_count, 1);
    assert_eq!(rec.aux_tenants, vec![T1.to_owned()]);
    assert_eq!(rec.token_tenant.as_deref(), Some(T2));
    assert_eq!(rec.status, 201);
}

#[tokio::test]
async fn cross_tenant_vm_without_auxiliary_token_is_linked_authorization_failed() {
    let (env, t2, _t1, nic) = ready_env().await;
    let body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    let r = env.put_vm("vm1", &t2, &[], body).await;
    r.assert_error(403, "LinkedAuthorizationFailed");
    assert_eq!(
        r.message(),
        format!(
            "The client has permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on scope '{RG2}/providers/Microsoft.Compute/virtualMachines/vm1', however the current tenant '{T2}' is not authorized to access linked subscription '{SUB1}'."
        )
    );
    assert!(
        env.sim
            .resource(&format!(
                "{RG2}/providers/Microsoft.Compute/virtualMachines/vm1"
            ))
            .is_none()
    );
}

#[tokio::test]
async fn auxiliary_principal_without_reader_is_linked_authorization_failed() {
    let mut s = Scenario::seed();
    s.role_assignments
        .retain(|ra| !ra.scope.contains("galleries"));
    let env = Env::with(s).await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    env.replicate_all("myImageDefinition");
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true),
        )
        .await;
    r.assert_error(403, "LinkedAuthorizationFailed");
    assert!(
        r.message()
            .contains("does not have permission to perform action 'read' on the linked scope(s)"),
        "{}",
        r.message()
    );
    // The same principal can no longer read the gallery directly either.
    let g = env
        .get(
            &format!(
                "{}?api-version={GALLERY_API}",
                version_id("myImageDefinition")
            ),
            &t1,
        )
        .await;
    g.assert_error(403, "AuthorizationFailed");
    let oid = env.sim.object_id(APP, T1).unwrap();
    assert!(g.message().starts_with(&format!("The client '{oid}' with object id '{oid}' does not have authorization to perform action 'Microsoft.Compute/galleries/images/versions/read' over scope '")), "{}", g.message());
}

#[tokio::test]
async fn expired_auxiliary_token_is_401() {
    let (env, t2, _t1, nic) = ready_env().await;
    let expired = env.sim.issue_token(
        &TokenSubject {
            tenant: T1.into(),
            appid: APP.into(),
            oid: env.sim.object_id(APP, T1).unwrap(),
        },
        "https://management.azure.com",
        -60,
    );
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&expired],
            vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true),
        )
        .await;
    r.assert_error(401, "ExpiredAuthenticationToken");
}

#[tokio::test]
async fn missing_rights_get_authorization_failed() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let r = env
        .put(
            &format!("/subscriptions/{SUB2}/resourceGroups/otherRG?api-version={RESOURCES_API}"),
            &t2,
            json!({"location": "westus2"}),
        )
        .await;
    r.assert_error(403, "AuthorizationFailed");
    assert!(
        r.message()
            .contains("'Microsoft.Resources/subscriptions/resourceGroups/write' over scope")
    );
}

#[tokio::test]
async fn expired_forged_wrong_audience_and_missing_tokens_are_401() {
    let env = Env::new().await;
    let path = format!("{RG2}?api-version={RESOURCES_API}");
    let who = TokenSubject {
        tenant: T2.into(),
        appid: APP.into(),
        oid: env.sim.object_id(APP, T2).unwrap(),
    };
    let expired = env
        .sim
        .issue_token(&who, "https://management.azure.com", -1);
    let r = env.get(&path, &expired).await;
    r.assert_error(401, "ExpiredAuthenticationToken");
    assert!(r.header("www-authenticate").is_some());
    let good = env.token(T2, ARM_SCOPE).await;
    let (h, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    use base64::Engine;
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"aud": "https://management.azure.com", "iss": "x", "tid": T2, "appid": APP, "oid": "x", "iat": 0, "nbf": 0, "exp": 9999999999i64}).to_string());
    let r = env.get(&path, &format!("{h}.{forged_payload}.{sig}")).await;
    r.assert_error(401, "InvalidAuthenticationToken");
    let vault = env.token(T2, "https://vault.azure.net/.default").await;
    let r = env.get(&path, &vault).await;
    r.assert_error(401, "InvalidAuthenticationTokenAudience");
    let r = env.arm(Method::GET, &path, None, &[], None).await;
    r.assert_error(401, "AuthenticationFailed");
}

#[tokio::test]
async fn token_from_the_wrong_tenant_is_invalid_authentication_token_tenant() {
    let env = Env::new().await;
    let t1 = env.token(T1, ARM_SCOPE).await;
    let r = env
        .get(&format!("{RG2}?api-version={RESOURCES_API}"), &t1)
        .await;
    r.assert_error(401, "InvalidAuthenticationTokenTenant");
    assert!(r.message().starts_with(&format!(
        "The access token is from the wrong issuer 'https://sts.windows.net/{T1}/'. It must match the tenant 'https://sts.windows.net/{T2}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{T2}' to get the token."
    )));
}

#[tokio::test]
async fn vm_in_a_region_the_image_is_not_replicated_to_is_gallery_image_not_found() {
    let env = Env::new().await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    let nic = env.network(&t2, "vm1", "westus2").await;
    // South Central US completes at 120 s, West US 2 at 600 s (simulated).
    env.sim.advance(Duration::from_secs(200));
    let body = vm_body(image_ref("myImageDefinition"), &nic, "westus2", true);
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    r.assert_error(404, "GalleryImageNotFound");
    assert_eq!(
        r.message(),
        format!(
            "The gallery image {} is not available in westus2 region. Please contact image owner to replicate to this region, or change your requested region.",
            version_id("myImageDefinition")
        )
    );
    // A region outside the target regions never works.
    let nic_e = env.network(&t2, "vm2", "eastus").await;
    let r = env
        .put_vm(
            "vm2",
            &t2,
            &[&t1],
            vm_body(image_ref("myImageDefinition"), &nic_e, "eastus", true),
        )
        .await;
    assert_eq!(r.code(), "GalleryImageNotFound");
    env.sim.advance(Duration::from_secs(400));
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn specialized_image_rejects_os_profile_and_generalized_requires_it() {
    let (env, t2, t1, nic) = ready_env().await;
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(
                image_ref("mySpecializedImage"),
                &nic,
                "southcentralus",
                true,
            ),
        )
        .await;
    r.assert_error(400, "InvalidParameter");
    assert_eq!(r.message(), "Parameter 'osProfile' is not allowed.");
    assert_eq!(r.body["error"]["target"], "osProfile");
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(
                image_ref("myImageDefinition"),
                &nic,
                "southcentralus",
                false,
            ),
        )
        .await;
    r.assert_error(400, "InvalidParameter");
    assert_eq!(
        r.message(),
        "Required parameter 'osProfile' is missing (null)."
    );
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(
                image_ref("mySpecializedImage"),
                &nic,
                "southcentralus",
                false,
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.body["properties"].get("osProfile").is_none());
}

#[tokio::test]
async fn trusted_launch_image_requires_trusted_launch_security_type() {
    let (env, t2, t1, nic) = ready_env().await;
    let mut body = vm_body(
        image_ref("myTrustedLaunchImage"),
        &nic,
        "southcentralus",
        true,
    );
    let r = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    r.assert_error(400, "BadRequest");
    assert_eq!(
        r.message(),
        "The provided gallery image only supports creation of VMs and VM Scale Sets with 'TrustedLaunch' security type."
    );
    body["properties"]["securityProfile"] = json!({"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}});
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn vm_put_is_idempotent_and_image_reference_is_immutable() {
    let (env, t2, t1, nic) = ready_env().await;
    let body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    let first = env.put_vm("vm1", &t2, &[&t1], body.clone()).await;
    assert_eq!(first.status, 201);
    let second = env.put_vm("vm1", &t2, &[&t1], body).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(
        first.body["properties"]["vmId"],
        second.body["properties"]["vmId"]
    );
    let vms: Vec<_> = env
        .sim
        .resources()
        .into_iter()
        .filter(|r| r.resource_type == "Microsoft.Compute/virtualMachines")
        .collect();
    assert_eq!(vms.len(), 1, "no duplicate VM");
    assert_eq!(vms[0].put_count, 2);
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(image_ref("myWindowsImage"), &nic, "southcentralus", true),
        )
        .await;
    r.assert_error(409, "PropertyChangeNotAllowed");
    assert_eq!(
        r.message(),
        "Changing property 'imageReference' is not allowed."
    );
}

#[tokio::test]
async fn network_put_is_201_then_200() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let path = format!(
        "{RG2}/providers/Microsoft.Network/networkSecurityGroups/nsg1?api-version={NETWORK_API}"
    );
    let body = json!({"location": "southcentralus", "properties": {"securityRules": []}});
    assert_eq!(env.put(&path, &t2, body.clone()).await.status, 201);
    assert_eq!(env.put(&path, &t2, body).await.status, 200);
    let rg = env
        .put(
            &format!("{RG2}?api-version={RESOURCES_API}"),
            &t2,
            json!({"location": "southcentralus"}),
        )
        .await;
    assert_eq!(rg.status, 200);
    let moved = env
        .put(
            &format!("{RG2}?api-version={RESOURCES_API}"),
            &t2,
            json!({"location": "westus"}),
        )
        .await;
    moved.assert_error(409, "InvalidResourceGroupLocation");
    // A NIC referencing a missing subnet is rejected.
    let nic = env
        .put(
            &format!("{RG2}/providers/Microsoft.Network/networkInterfaces/nic1?api-version={NETWORK_API}"),
            &t2,
            json!({"location": "southcentralus", "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": format!("{RG2}/providers/Microsoft.Network/virtualNetworks/none/subnets/x")}}}]}}),
        )
        .await;
    nic.assert_error(400, "InvalidResourceReference");
    let missing = env
        .get(
            &format!(
                "{RG2}/providers/Microsoft.Network/virtualNetworks/none?api-version={NETWORK_API}"
            ),
            &t2,
        )
        .await;
    missing.assert_error(404, "ResourceNotFound");
    let no_version = env.get(RG2, &t2).await;
    no_version.assert_error(400, "MissingApiVersionParameter");
}

#[tokio::test]
async fn vm_lro_moves_from_creating_to_succeeded_via_the_operation_status() {
    let (env, t2, t1, nic) = ready_env().await;
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true),
        )
        .await;
    assert_eq!(r.status, 201);
    let op = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_owned();
    assert!(op.starts_with(&format!("{}/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/southcentralus/operations/", env.base)), "{op}");
    assert_eq!(r.header("retry-after"), Some("1"));
    let path = op.strip_prefix(&env.base).unwrap();
    let s = env.get(path, &t2).await;
    assert_eq!(s.body["status"], "InProgress", "{:?}", s.body);
    env.sim.advance(Duration::from_secs(31));
    let s = env.get(path, &t2).await;
    assert_eq!(s.body["status"], "Succeeded", "{:?}", s.body);
    assert!(s.body["endTime"].is_string());
    let vm = env
        .get(
            &format!(
                "{RG2}/providers/Microsoft.Compute/virtualMachines/vm1?api-version={COMPUTE_API}"
            ),
            &t2,
        )
        .await;
    assert_eq!(vm.body["properties"]["provisioningState"], "Succeeded");
}

#[tokio::test]
async fn vm_provisioning_can_fail_by_scenario() {
    let mut s = Scenario::seed();
    s.lro.fail_vms = vec!["vm1".into()];
    s.lro.vm_secs = 0.5;
    let env = Env::with(s).await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    env.replicate_all("myImageDefinition");
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true),
        )
        .await;
    assert_eq!(r.status, 201);
    env.sim.advance(Duration::from_secs(1));
    let op = env.operation_path(&r);
    let s = env.get(&op, &t2).await;
    assert_eq!(s.body["status"], "Failed");
    assert_eq!(s.body["error"]["code"], "OSProvisioningTimedOut");
}

#[tokio::test]
async fn replication_progress_advances_with_scaled_time_and_can_be_failed() {
    let mut s = Scenario::seed();
    // 100 simulated seconds per real second: South Central US (60 s) is done after 0.6 s real,
    // West US 2 (6000 s) takes a real minute, so the assertions hold even on a loaded machine.
    s.faults.time_scale = 100.0;
    for image in &mut s.galleries[0].images {
        image.versions[0].regions[0].replication_secs = 60.0;
        image.versions[0].regions[1].replication_secs = 6000.0;
    }
    let env = Env::with(s).await;
    let t1 = env.token(T1, ARM_SCOPE).await;
    let path = format!(
        "{}?api-version={GALLERY_API}&$expand=ReplicationStatus",
        version_id("myImageDefinition")
    );
    let first = env.get(&path, &t1).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let regions: Vec<&str> = first.body["properties"]["replicationStatus"]["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["South Central US", "West US 2"]);
    assert_eq!(
        first.body["properties"]["replicationStatus"]["aggregatedState"],
        "InProgress"
    );
    // Poll (real time) until the home region completes.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mid = loop {
        let r = env.get(&path, &t1).await;
        if r.body["properties"]["replicationStatus"]["summary"][0]["state"] == "Completed" {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "home region never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let summary = &mid.body["properties"]["replicationStatus"]["summary"];
    assert_eq!(summary[0]["state"], "Completed");
    assert_eq!(summary[1]["state"], "Replicating");
    assert_eq!(mid.body["properties"]["provisioningState"], "Succeeded");
    // West US 2's progress keeps advancing with (scaled) real time.
    let progress = |r: &Resp| {
        r.body["properties"]["replicationStatus"]["summary"][1]["progress"]
            .as_i64()
            .unwrap()
    };
    let start = progress(&first);
    loop {
        let r = env.get(&path, &t1).await;
        assert_eq!(
            r.body["properties"]["replicationStatus"]["summary"][1]["state"],
            "Replicating"
        );
        if progress(&r) > start {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "progress never advanced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Without $expand there is no replicationStatus.
    let plain = env
        .get(
            &format!(
                "{}?api-version={GALLERY_API}",
                version_id("myImageDefinition")
            ),
            &t1,
        )
        .await;
    assert!(plain.body["properties"].get("replicationStatus").is_none());
    // Fail West US 2 over the inspection API.
    let f = env
        .http
        .post(format!("{}/_sim/replication", env.base))
        .json(&json!({"version_id": version_id("myImageDefinition"), "region": "westus2", "action": "fail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(f.status(), 200);
    let failed = env.get(&path, &t1).await;
    assert_eq!(
        failed.body["properties"]["replicationStatus"]["aggregatedState"],
        "Failed"
    );
    assert_eq!(
        failed.body["properties"]["replicationStatus"]["summary"][1]["state"],
        "Failed"
    );
}

#[tokio::test]
async fn gallery_image_version_put_starts_replication() {
    let mut s = Scenario::seed();
    s.role_assignments
        .push(azure_sim::scenario::RoleAssignment {
            principal: APP.into(),
            role: azure_sim::scenario::Role::Contributor,
            scope: GALLERY.into(),
        });
    let env = Env::with(s).await;
    let t1 = env.token(T1, ARM_SCOPE).await;
    let id = format!("{GALLERY}/images/myImageDefinition/versions/2.0.0");
    let body = json!({"location": "South Central US", "properties": {"publishingProfile": {"targetRegions": [{"name": "South Central US"}, {"name": "West US 2", "regionalReplicaCount": 2}]}, "storageProfile": {"source": {"id": format!("/subscriptions/{SUB1}/resourceGroups/myGalleryRG/providers/Microsoft.Compute/images/src")}}}});
    let r = env
        .put(&format!("{id}?api-version={GALLERY_API}"), &t1, body)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert!(r.header("azure-asyncoperation").is_some());
    let g = env
        .get(
            &format!("{id}?api-version={GALLERY_API}&$expand=ReplicationStatus"),
            &t1,
        )
        .await;
    assert_eq!(
        g.body["properties"]["replicationStatus"]["summary"][1]["state"],
        "Replicating"
    );
    env.sim
        .complete_replication(&id, "South Central US")
        .unwrap();
    env.sim.complete_replication(&id, "West US 2").unwrap();
    let g = env
        .get(
            &format!("{id}?api-version={GALLERY_API}&$expand=ReplicationStatus"),
            &t1,
        )
        .await;
    assert_eq!(
        g.body["properties"]["replicationStatus"]["aggregatedState"],
        "Completed"
    );
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    // Image definition id → the latest version (2.0.0 now).
    assert!(env.sim.complete_replication(&id, "East US").is_err());
}

#[tokio::test]
async fn shared_gallery_get_and_vm_create_need_no_auxiliary_token() {
    let (env, t2, _t1, nic) = ready_env().await;
    let unique = format!("{SUB1}-MYGALLERY");
    let path = format!(
        "/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/southcentralus/sharedGalleries/{unique}/images/myImageDefinition/versions/1.0.0?api-version={GALLERY_API}"
    );
    let r = env.get(&path, &t2).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["identifier"]["uniqueId"],
        format!("/SharedGalleries/{unique}/Images/myImageDefinition/Versions/1.0.0")
    );
    let image = json!({"sharedGalleryImageId": format!("/SharedGalleries/{unique}/Images/myImageDefinition/Versions/1.0.0")});
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[],
            vm_body(image, &nic, "southcentralus", true),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let community = json!({"communityGalleryImageId": "/CommunityGalleries/myGalleryPublic-0a1b2c3d/Images/myImageDefinition/Versions/1.0.0"});
    let nic2 = env.network(&t2, "vm2", "southcentralus").await;
    let r = env
        .put_vm(
            "vm2",
            &t2,
            &[],
            vm_body(community, &nic2, "southcentralus", true),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let cpath = format!(
        "/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/southcentralus/communityGalleries/myGalleryPublic-0a1b2c3d/images/myImageDefinition/versions/1.0.0?api-version={GALLERY_API}"
    );
    let c = env.get(&cpath, &t2).await;
    assert_eq!(c.status, 200);
    // No example exists for these views: their bodies follow GalleryRP.json's definitions.
    let check = |def: &str, body: &Value| {
        let v = azure_sim::arm::schema::validate("GalleryRP.json", def, body).unwrap();
        assert!(
            v.is_empty(),
            "{def}: {}",
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    };
    let shared = env.get(&path, &t2).await;
    check("SharedGalleryImageVersion", &shared.body);
    check("CommunityGalleryImageVersion", &c.body);
    let img = env
        .get(&format!("/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/southcentralus/sharedGalleries/{unique}/images/myImageDefinition?api-version={GALLERY_API}"), &t2)
        .await;
    assert_eq!(img.status, 200);
    check("SharedGalleryImage", &img.body);
    // Failed in West US 2 → not visible there.
    env.sim
        .fail_replication(&version_id("myImageDefinition"), "West US 2")
        .unwrap();
    let w = env
        .get(&format!("/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/westus2/sharedGalleries/{unique}/images/myImageDefinition/versions/1.0.0?api-version={GALLERY_API}"), &t2)
        .await;
    assert_eq!(w.status, 404);
}

#[tokio::test]
async fn unshared_gallery_is_not_visible_to_other_tenants() {
    let mut s = Scenario::seed();
    s.galleries[0].sharing = Default::default();
    let env = Env::with(s).await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    env.replicate_all("myImageDefinition");
    let unique = format!("{SUB1}-MYGALLERY");
    let path = format!(
        "/subscriptions/{SUB2}/providers/Microsoft.Compute/locations/southcentralus/sharedGalleries/{unique}/images/myImageDefinition/versions/1.0.0?api-version={GALLERY_API}"
    );
    assert_eq!(env.get(&path, &t2).await.status, 404);
    let image = json!({"sharedGalleryImageId": format!("/SharedGalleries/{unique}/Images/myImageDefinition/Versions/1.0.0")});
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[],
            vm_body(image, &nic, "southcentralus", true),
        )
        .await;
    r.assert_error(404, "GalleryImageNotFound");
}

#[tokio::test]
async fn throttling_returns_429_with_retry_after() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    env.sim.set_faults(Faults {
        throttle_rate: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let r = env
        .get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
        .await;
    r.assert_error(429, "TooManyRequests");
    assert_eq!(r.header("retry-after"), Some("7"));
    // Entra is not throttled by ARM faults.
    env.token(T2, ARM_SCOPE).await;
    // Faults can be changed over HTTP; a seeded partial rate is reproducible.
    let set = |rate: f64| json!({"throttle_rate": rate, "seed": 9});
    env.http
        .post(format!("{}/_sim/faults", env.base))
        .json(&set(0.5))
        .send()
        .await
        .unwrap();
    let mut a = Vec::new();
    for _ in 0..20 {
        a.push(
            env.get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
                .await
                .status,
        );
    }
    env.http
        .post(format!("{}/_sim/faults", env.base))
        .json(&set(0.5))
        .send()
        .await
        .unwrap();
    let mut b = Vec::new();
    for _ in 0..20 {
        b.push(
            env.get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
                .await
                .status,
        );
    }
    assert_eq!(a, b, "same seed, same faults");
    assert!(a.contains(&429) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn server_error_fault_returns_5xx() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    env.sim.set_faults(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    });
    let r = env
        .get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
        .await;
    assert!(r.status == 500 || r.status == 503, "{}", r.status);
    assert!(matches!(
        r.code(),
        "InternalServerError" | "ServiceUnavailable"
    ));
    env.sim.set_faults(Faults::default());
    assert_eq!(
        env.get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn request_body_schema_violations_are_400_with_the_path() {
    let (env, t2, t1, nic) = ready_env().await;
    let mut body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    body["properties"]["storageProfile"]["osDisk"]["createOptions"] = json!("FromImage");
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    r.assert_error(400, "InvalidRequestContent");
    assert!(
        r.message()
            .contains("Could not find member 'createOptions'"),
        "{}",
        r.message()
    );
    assert!(
        r.message()
            .contains("properties.storageProfile.osDisk.createOptions")
    );
    let mut body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    body["properties"]["storageProfile"]["osDisk"]
        .as_object_mut()
        .unwrap()
        .remove("createOption");
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    r.assert_error(400, "InvalidParameter");
    assert_eq!(
        r.body["error"]["target"],
        "properties.storageProfile.osDisk.createOption"
    );
    let mut body = vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true);
    body["properties"]["storageProfile"]["osDisk"]["caching"] = json!("Sometimes");
    let r = env.put_vm("vm1", &t2, &[&t1], body).await;
    r.assert_error(400, "InvalidParameter");
    let r = env
        .arm(
            Method::PUT,
            &format!(
                "{RG2}/providers/Microsoft.Compute/virtualMachines/vm1?api-version={COMPUTE_API}"
            ),
            Some(&t2),
            &[&t1],
            None,
        )
        .await;
    r.assert_error(400, "InvalidRequestContent");
}

#[tokio::test]
async fn key_vault_secret_is_served_to_readers_only() {
    let env = Env::new().await;
    let url = format!("{}/secrets/vm-admin-password?api-version=7.4", env.base);
    let anon = env.http.get(&url).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let challenge = anon.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!("authorization=\"{}/{T1}\"", env.base)),
        "{challenge}"
    );
    let kv = env.token(T1, "https://vault.azure.net/.default").await;
    let r: Value = env
        .http
        .get(&url)
        .bearer_auth(&kv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["value"], "Local-Sim-Passw0rd!");
    assert!(
        r["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/secrets/vm-admin-password/", env.base))
    );
    for f in ["enabled", "created", "updated", "recoveryLevel"] {
        assert!(r["attributes"].get(f).is_some(), "{f}");
    }
    let versioned: Value = env
        .http
        .get(format!("{}?api-version=7.4", r["id"].as_str().unwrap()))
        .bearer_auth(&kv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versioned["value"], r["value"]);
    let arm = env.token(T1, ARM_SCOPE).await;
    assert_eq!(
        env.http
            .get(&url)
            .bearer_auth(&arm)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // The seed grants the app Key Vault Secrets User on that one secret: another name is
    // outside its scope (403, as Azure RBAC answers), and 404 for a vault-wide reader.
    let missing = env
        .http
        .get(format!("{}/secrets/nope?api-version=7.4", env.base))
        .bearer_auth(&kv)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let mut wide = Scenario::seed();
    wide.key_vault
        .role_assignments
        .push(azure_sim::scenario::VaultRoleAssignment {
            principal: APP.into(),
            role: azure_sim::scenario::VaultRole::SecretsUser,
            scope: String::new(),
        });
    let env_wide = Env::with(wide).await;
    let kv_wide = env_wide.token(T1, "https://vault.azure.net/.default").await;
    let missing = env_wide
        .http
        .get(format!("{}/secrets/nope?api-version=7.4", env_wide.base))
        .bearer_auth(&kv_wide)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let mut s = Scenario::seed();
    s.key_vault.secrets[0].readers.clear();
    let env2 = Env::with(s).await;
    let kv2 = env2.token(T1, "https://vault.azure.net/.default").await;
    let denied = env2
        .http
        .get(format!(
            "{}/secrets/vm-admin-password?api-version=7.4",
            env2.base
        ))
        .bearer_auth(&kv2)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn inspection_endpoints_list_requests_and_resources() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    env.get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
        .await;
    let reqs: Value = env
        .http
        .get(format!("{}/_sim/requests", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = reqs.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["method"], "GET");
    assert_eq!(last["path"], RG2);
    assert_eq!(last["query"], format!("api-version={RESOURCES_API}"));
    assert_eq!(last["aux_header"], false);
    assert_eq!(last["status"], 200);
    let res: Value = env
        .http
        .get(format!("{}/_sim/resources", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        res.as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "Microsoft.Compute/galleries/images/versions")
    );
    env.http
        .delete(format!("{}/_sim/requests", env.base))
        .send()
        .await
        .unwrap();
    assert!(env.sim.requests().is_empty());
}

#[tokio::test]
async fn references_must_exist_in_the_same_region_and_location_is_immutable() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    // A NIC in another region cannot use the southcentralus subnet.
    let body = json!({"location": "westus2", "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": format!("{RG2}/providers/Microsoft.Network/virtualNetworks/vm1VNET/subnets/vm1Subnet")}}}]}});
    let r = env.put(&format!("{RG2}/providers/Microsoft.Network/networkInterfaces/other?api-version={NETWORK_API}"), &t2, body).await;
    r.assert_error(400, "InvalidResourceReference");
    assert!(
        r.message()
            .contains("both resources are in the same region")
    );
    // An existing resource cannot move.
    let r = env
        .put(
            &format!("{nic}?api-version={NETWORK_API}"),
            &t2,
            json!({"location": "westus2", "properties": {}}),
        )
        .await;
    r.assert_error(409, "InvalidResourceLocation");
    // A VM must be in its NIC's region.
    let t1 = env.token(T1, ARM_SCOPE).await;
    env.replicate_all("myImageDefinition");
    let r = env
        .put_vm(
            "vm1",
            &t2,
            &[&t1],
            vm_body(image_ref("myImageDefinition"), &nic, "westus2", true),
        )
        .await;
    r.assert_error(400, "InvalidResourceReference");
}

#[tokio::test]
async fn latency_fault_delays_arm_responses_and_time_advances_over_http() {
    let env = Env::new().await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    env.sim.set_faults(Faults {
        latency_ms: 60,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(
        env.get(&format!("{RG2}?api-version={RESOURCES_API}"), &t2)
            .await
            .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(60));
    env.sim.set_faults(Faults::default());
    // West US 2 completes at 600 simulated seconds.
    let t1 = env.token(T1, ARM_SCOPE).await;
    let path = format!(
        "{}?api-version={GALLERY_API}&$expand=ReplicationStatus",
        version_id("myImageDefinition")
    );
    assert_eq!(
        env.get(&path, &t1).await.body["properties"]["replicationStatus"]["aggregatedState"],
        "InProgress"
    );
    let r = env
        .http
        .post(format!("{}/_sim/advance", env.base))
        .json(&json!({"seconds": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.get(&path, &t1).await.body["properties"]["replicationStatus"]["aggregatedState"],
        "Completed"
    );
    let seqs: Vec<u64> = env.sim.requests().iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[tokio::test]
async fn an_operation_that_ends_at_once_says_retry_after_0() {
    // At `imageferry dev --bench`'s time scale the VM's 30 simulated seconds pass in 30 µs: the
    // operation is over before the client could wait, so Retry-After says 0, not 1.
    let (env, t2, t1, nic) = ready_env().await;
    env.sim.set_faults(Faults {
        time_scale: 1.0e6,
        ..Faults::default()
    });
    let r = env
        .put_vm(
            "vm-fast",
            &t2,
            &[&t1],
            vm_body(image_ref("myImageDefinition"), &nic, "southcentralus", true),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("retry-after"), Some("0"));
    let op = r.header("azure-asyncoperation").unwrap().to_owned();
    let s = env.get(op.strip_prefix(&env.base).unwrap(), &t2).await;
    assert_eq!(s.body["status"], "Succeeded", "{:?}", s.body);
}
