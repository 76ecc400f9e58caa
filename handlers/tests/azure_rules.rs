//! One test per rule of issue 10's table, against the Azure stand-in (which enforces each rule
//! with Azure's codes): each case either works as Azure expects or is refused before the first
//! write with the field and the fix.

mod support;

use azure_clients::arm::{ArmClient, PutRequest, RetryPolicy};
use azure_clients::models::VirtualNetwork;
use azure_clients::{
    AccessToken, Cloud, Endpoints, KeyVaultSecrets, SecretString, TokenError, TokenProvider,
    TokenSource,
};
use azure_sim::Scenario;
use azure_sim::scenario::{
    PurchasePlanSeed, RegionSeed, ResourceGroupSeed, Role, RoleAssignment, VmFailure,
};
use imageferry_contract::{Status, Step};
use serde_json::{Value, json};
use std::sync::Arc;
use support::*;

const RSA_1024: &str = include_str!("../../crates/contract/tests/fixtures/ssh/rsa1024.pub");
const ECDSA: &str = include_str!("../../crates/contract/tests/fixtures/ssh/ecdsa256.pub");
const RSA_2048: &str = include_str!("../../crates/contract/tests/fixtures/ssh/rsa2048.pub");

fn plan() -> PurchasePlanSeed {
    PurchasePlanSeed {
        name: "byol".into(),
        publisher: "paloaltonetworks".into(),
        product: "vmseries-flex".into(),
    }
}

/// The seeded Linux image, here built from a Marketplace image with a plan; the seed accepted
/// the plan's terms in the target subscription, unless `terms_accepted` is false.
fn marketplace_scenario(terms_accepted: bool) -> Scenario {
    let mut s = scenario();
    s.galleries[0].images[0].purchase_plan = Some(plan());
    assert!(s.marketplace_terms.iter().any(|t| t.subscription == SUB2
        && t.publisher == "paloaltonetworks"
        && t.product == "vmseries-flex"
        && t.plan == "byol"));
    if !terms_accepted {
        s.marketplace_terms.clear();
    }
    s
}

/// Writes (PUTs) the handler made in the target subscription.
fn writes(bench: &Bench) -> Vec<String> {
    bench
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path)
        .collect()
}

fn windows_request(bench: &Bench, id: &str, name: &str) -> Value {
    let mut req = linux_request(id);
    req["image"]["id"] = json!(version_id("myWindowsImage"));
    req["vm"] = json!({ "name": name, "size": "Standard_D2s_v5", "adminUsername": "azureadmin",
                        "adminPasswordSecretId": bench.password_secret_id(), "publicIp": false });
    req
}

#[tokio::test]
async fn marketplace_plan_is_sent_with_the_vm() {
    let mut bench = Bench::start(marketplace_scenario(true), config()).await;
    bench.submit(&linux_request("plan-1")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(
        vm["plan"],
        json!({"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"})
    );
}

#[tokio::test]
async fn marketplace_terms_not_accepted_says_how_to_accept_them() {
    let mut bench = Bench::start(marketplace_scenario(false), config()).await;
    bench.submit(&linux_request("plan-2")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(
        error.code, "MarketplacePurchaseEligibilityFailed",
        "{error:#?}"
    );
    assert!(error.message.contains("legal terms"), "{}", error.message);
    let hint = error.hint.unwrap();
    assert!(
        hint.contains("az vm image terms accept") && hint.contains("tenant 2"),
        "{hint}"
    );
}

#[tokio::test]
async fn marketplace_terms_not_accepted_are_found_before_any_write_when_readable() {
    let mut s = marketplace_scenario(false);
    // With Reader on the target subscription the app can read the terms agreement.
    s.role_assignments.push(RoleAssignment {
        principal: CLIENT_ID.into(),
        role: Role::Reader,
        scope: format!("/subscriptions/{SUB2}"),
    });
    let mut bench = Bench::start(s, config()).await;
    bench.submit(&linux_request("plan-3")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "MarketplaceTermsNotAccepted", "{error:#?}");
    assert!(
        error
            .message
            .contains("paloaltonetworks/vmseries-flex/byol"),
        "{}",
        error.message
    );
    assert!(error.hint.unwrap().contains("az vm image terms accept"));
    assert!(writes(&bench).is_empty(), "{:?}", writes(&bench));
}

#[tokio::test]
async fn computer_name_drops_what_azure_refuses() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("cn-1");
    req["vm"]["name"] = json!("web_server.01");
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("web_server.01"));
    assert_eq!(vm["properties"]["osProfile"]["computerName"], "webserver01");
}

#[tokio::test]
async fn windows_fifteen_characters_work_sixteen_are_refused_before_any_write() {
    let mut bench = Bench::seeded().await;
    let req = windows_request(&bench, "cn-win-15", "build-agent-042");
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("build-agent-042"));
    assert_eq!(
        vm["properties"]["osProfile"]["computerName"],
        "build-agent-042"
    );

    // The same 16-character name works for Linux but not for Windows.
    let mut bench = Bench::seeded().await;
    bench
        .submit(&windows_request(&bench, "cn-win-16", "build-agent-0042"))
        .await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected, "{done:#?}");
    let error = done.error.unwrap();
    assert!(error.message.contains("vm.name"), "{}", error.message);
    assert!(writes(&bench).is_empty(), "{:?}", writes(&bench));

    let mut bench = Bench::seeded().await;
    let mut req = linux_request("cn-linux-16");
    req["vm"]["name"] = json!("build-agent-0042");
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
}

#[tokio::test]
async fn a_computer_name_of_only_digits_is_refused_before_any_write() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("cn-digits");
    req["vm"]["name"] = json!("2024_11");
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected, "{done:#?}");
    let error = done.error.unwrap();
    assert!(error.message.contains("only digits"), "{}", error.message);
    assert!(
        error.message.contains("fix: choose a vm.name"),
        "{}",
        error.message
    );
    assert!(writes(&bench).is_empty());
}

#[tokio::test]
async fn specialized_images_get_no_computer_name() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("spec-cn");
    req["image"]["id"] = json!(version_id("mySpecializedImage"));
    req["vm"] = json!({"name": "2024_11", "size": "Standard_D2s_v5", "publicIp": false});
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("2024_11"));
    assert!(vm["properties"].get("osProfile").is_none(), "{vm:#}");
}

#[tokio::test]
async fn ssh_keys_azure_refuses_are_rejected_before_any_write() {
    for (key, why) in [(ECDSA, "not supported"), (RSA_1024, "1024 bits")] {
        let mut bench = Bench::seeded().await;
        let mut req = linux_request("key-1");
        req["vm"]["sshPublicKey"] = json!(key.trim());
        bench.submit(&req).await;
        bench.run().await;
        let done = bench.terminal();
        assert_eq!(done.status, Status::Rejected, "{done:#?}");
        let error = done.error.unwrap();
        assert!(
            error.message.contains("vm.sshPublicKey") && error.message.contains(why),
            "{}",
            error.message
        );
        assert!(error.message.contains("ssh-keygen"), "{}", error.message);
        assert!(writes(&bench).is_empty());
    }
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("key-2");
    req["vm"]["sshPublicKey"] = json!(RSA_2048.trim());
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
}

#[tokio::test]
async fn a_windows_password_azure_refuses_fails_before_any_write() {
    let mut s = scenario();
    s.key_vault.secrets[0].value = "Password1".into();
    let mut bench = Bench::start(s, config()).await;
    bench
        .submit(&windows_request(&bench, "pw-1", "winVM"))
        .await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.clone().unwrap();
    assert_eq!(error.code, "InvalidAdminPassword");
    assert!(error.message.contains("disallowed"), "{}", error.message);
    assert!(writes(&bench).is_empty(), "{:?}", writes(&bench));
    for m in bench.capture.all() {
        assert!(
            !m.body.contains("Password1"),
            "the password leaked: {}",
            m.body
        );
    }
}

#[tokio::test]
async fn security_type_applies_from_its_starts_at_version() {
    let mut s = scenario();
    let tl = s.galleries[0]
        .images
        .iter_mut()
        .find(|i| i.name == "myTrustedLaunchImage")
        .unwrap();
    tl.features_start_at
        .insert("SecurityType".into(), "2.0.0".into());
    let mut bench = Bench::start(s, config()).await;
    let mut req = linux_request("tl-later");
    req["image"]["id"] = json!(version_id("myTrustedLaunchImage"));
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("myVM"));
    assert!(
        vm["properties"].get("securityProfile").is_none(),
        "1.0.0 predates the feature"
    );
}

/// The seed with South Central US replicated, West US 2 failed or replicated, and East US being
/// added by the publisher (so the version is `Failed` or `Updating`).
fn per_region_scenario(west_failed: bool) -> Scenario {
    let mut s = scenario();
    let regions = &mut s.galleries[0].images[0].versions[0].regions;
    regions[0].replication_secs = 0.0;
    regions[1].replication_secs = 0.0;
    regions[1].fail = west_failed;
    regions.push(RegionSeed {
        name: "East US".into(),
        replication_secs: 100_000.0,
        fail: false,
        added: true,
    });
    s
}

#[tokio::test]
async fn readiness_is_per_region() {
    for (west_failed, id) in [(true, "per-region"), (false, "updating")] {
        let mut bench = Bench::start(per_region_scenario(west_failed), config()).await;
        bench.submit(&linux_request(id)).await;
        bench.run().await;
        let done = bench.terminal();
        assert_eq!(done.status, Status::Succeeded, "{id}: {done:#?}");
    }
}

#[tokio::test]
async fn subnet_without_join_rights_says_which_role() {
    let mut s = scenario();
    s.resource_groups.push(ResourceGroupSeed {
        subscription: SUB2.into(),
        name: "netRG".into(),
        location: "southcentralus".into(),
    });
    let net_rg = format!("/subscriptions/{SUB2}/resourceGroups/netRG");
    s.role_assignments.push(RoleAssignment {
        principal: "network-admin".into(),
        role: Role::Owner,
        scope: net_rg.clone(),
    });
    s.role_assignments.push(RoleAssignment {
        principal: CLIENT_ID.into(),
        role: Role::Reader,
        scope: net_rg.clone(),
    });
    let mut config = config();
    allow_target(&mut config, "netRG");
    let mut bench = Bench::start(s, config).await;
    let admin = bench.sim.issue_token(
        &azure_sim::TokenSubject {
            tenant: TENANT2.into(),
            appid: "admin-app".into(),
            oid: "network-admin".into(),
        },
        "https://management.azure.com",
        3600,
    );
    let vnet = format!("{net_rg}/providers/Microsoft.Network/virtualNetworks/shared-vnet");
    // The network admin builds the shared VNet with their own token.
    let endpoints = Endpoints::local(&bench.sim.base_url().parse().unwrap()).unwrap();
    let admin_arm = ArmClient::new(
        endpoints,
        Arc::new(TokenProvider::with_source(Arc::new(Fixed(admin)))),
        RetryPolicy::default(),
    );
    let body =
        VirtualNetwork::with_subnet("southcentralus", "10.1.0.0/16", "default", "10.1.0.0/24");
    admin_arm
        .put_and_wait::<_, VirtualNetwork>(PutRequest {
            tenant: TENANT2,
            aux_tenants: &[],
            path: &vnet,
            api_version: "2024-05-01",
            body: &body,
        })
        .await
        .unwrap();
    let mut req = linux_request("subnet-join");
    req["network"]["subnetId"] = json!(format!("{vnet}/subnets/default"));
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "LinkedAccessCheckFailed");
    assert!(error.hint.unwrap().contains("subnets/join/action"));
    assert!(
        error.message.contains("network.subnetId"),
        "names the field: {}",
        error.message
    );
    // Refused before the first write: the app's permissions on the subnet were read, and no
    // NSG, public IP or NIC was created for a VM that could not have joined the subnet.
    assert_eq!(
        bench
            .arm_requests(
                "GET",
                "/subnets/default/providers/Microsoft.Authorization/permissions"
            )
            .len(),
        1
    );
    for resource in [
        "/networkSecurityGroups/myVM-nsg",
        "/publicIPAddresses/myVM-pip",
        "/networkInterfaces/myVM-nic",
    ] {
        assert!(
            bench.arm_requests("PUT", resource).is_empty(),
            "{resource} was written"
        );
    }
}

#[tokio::test]
async fn capacity_failures_are_retried_later_then_succeed() {
    for code in ["AllocationFailed", "SkuNotAvailable"] {
        let mut s = scenario();
        s.lro.vm_failures = vec![VmFailure {
            vm: "myVM".into(),
            code: code.into(),
            times: 1,
        }];
        let mut bench = Bench::start(s, config()).await;
        bench.submit(&linux_request("capacity-1")).await;
        bench.run().await;
        let done = bench.terminal();
        assert_eq!(done.status, Status::Succeeded, "{code}: {done:#?}");
        assert_eq!(
            bench.arm_requests("PUT", "/virtualMachines/myVM").len(),
            2,
            "{code}"
        );
        assert!(
            bench
                .events()
                .iter()
                .any(|e| e.detail.contains("no capacity") && e.detail.contains(code)),
            "{code}: {:#?}",
            bench.events()
        );
        // The retry's own "creating VM" event is not dropped as a duplicate of the first one
        // (SkuNotAvailable refuses the PUT itself: the first run announced nothing).
        let creating = bench
            .events()
            .iter()
            .filter(|e| e.detail.starts_with("creating VM"))
            .count();
        let expected = if code == "SkuNotAvailable" { 1 } else { 2 };
        assert_eq!(creating, expected, "{code}: {:#?}", bench.events());
    }
}

#[tokio::test]
async fn capacity_failures_until_the_deadline_are_reported() {
    let mut s = scenario();
    s.lro.vm_failures = vec![VmFailure {
        vm: "myVM".into(),
        code: "ZonalAllocationFailed".into(),
        times: u32::MAX,
    }];
    let mut bench = Bench::start(s, config()).await;
    let mut req = linux_request("capacity-2");
    let deadline = bench.app.clock.now() + time::Duration::minutes(20);
    req["deadline"] = json!(
        deadline
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "ZonalAllocationFailed");
    assert!(error.hint.unwrap().contains("retry later"));
    let puts = bench.arm_requests("PUT", "/virtualMachines/myVM").len();
    assert!(puts >= 3, "retried before reporting: {puts} PUTs");
    assert!(done.at <= deadline, "reported within the deadline");
}

#[tokio::test]
async fn vm_body_deletes_disk_and_nic_with_the_vm() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("delete-option")).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("myVM"));
    let p = &vm["properties"];
    assert_eq!(p["storageProfile"]["osDisk"]["deleteOption"], "Delete");
    assert_eq!(
        p["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"],
        "Premium_LRS"
    );
    assert_eq!(
        p["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"],
        "Delete"
    );
}

#[tokio::test]
async fn shared_version_not_in_the_region_fails_at_once() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("shared-elsewhere");
    req["image"] = json!({
        "id": format!("/SharedGalleries/{SUB1}-MYGALLERY/Images/myImageDefinition/Versions/1.0.0")
    });
    req["target"]["location"] = json!("eastus");
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    assert_eq!(done.step, Step::DeploymentRequested);
    assert_eq!(done.error.unwrap().code, "ImageNotInRegion");
    assert!(
        bench.deliveries_to(Step::ReplicationCheck).is_empty(),
        "no waiting"
    );
}

/// Adds resource group `rg` of the seeded target subscription to the allowed targets.
fn allow_target(config: &mut imageferry_handlers::Config, rg: &str) {
    if let imageferry_handlers::AllowList::Only(targets) = &mut config.allowed_targets {
        targets.push(imageferry_handlers::AllowedTarget {
            tenant_id: TENANT2.into(),
            subscription_id: SUB2.into(),
            resource_group: Some(rg.into()),
        });
    }
}

/// A token source that always answers one token (another principal's, minted by the stand-in).
struct Fixed(String);

impl TokenSource for Fixed {
    fn fetch(
        &self,
        _: &str,
        _: &str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<AccessToken, TokenError>> + Send + 'static>,
    > {
        let token = AccessToken {
            token: SecretString::new(self.0.clone()),
            expires_on: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        Box::pin(async move { Ok(token) })
    }
}

/// The handler's ARM and Key Vault clients with the Function App's managed identity as the
/// app's federated credential, in `cloud` (the stand-in serves every endpoint).
fn secretless_clients(bench: &Bench, cloud: Cloud) -> (ArmClient, KeyVaultSecrets) {
    let base = bench.sim.base_url();
    let endpoints = Endpoints {
        cloud,
        ..Endpoints::local(&base.parse().unwrap()).unwrap()
    };
    let msi = format!("{base}/msi/token");
    let vars = [
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_TENANT_ID", TENANT1),
        ("IDENTITY_ENDPOINT", msi.as_str()),
        ("IDENTITY_HEADER", "local-identity-header"),
    ];
    let tokens = Arc::new(
        TokenProvider::from_vars(&endpoints, |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap(),
    );
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: std::time::Duration::from_millis(1),
        max_backoff: std::time::Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    (
        ArmClient::new(endpoints.clone(), tokens.clone(), retry.clone()),
        KeyVaultSecrets::new(&endpoints, tokens, retry),
    )
}

#[tokio::test]
async fn sovereign_cloud_secretless_credential_asks_for_its_exchange_audience() {
    // The app's federated credential for the managed identity is set up for Azure Government.
    let mut s = scenario();
    for f in &mut s.apps[0].federated_credentials {
        f.audience = "api://AzureADTokenExchangeUSGov".into();
    }
    let mut bench = Bench::start(s.clone(), config()).await;
    let (arm, secrets) = secretless_clients(&bench, Cloud::UsGovernment);
    bench.handler_clients(arm, secrets);
    bench.submit(&linux_request("usgov-1")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");

    // The same credential used with the public cloud's audience: Entra's AADSTS700212, with
    // what to fix.
    let mut bench = Bench::start(s, config()).await;
    let (arm, secrets) = secretless_clients(&bench, Cloud::Public);
    bench.handler_clients(arm, secrets);
    bench.submit(&linux_request("usgov-2")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "AADSTS700212", "{error:#?}");
    assert!(error.hint.unwrap().contains("IMAGEFERRY_CLOUD"));
}
