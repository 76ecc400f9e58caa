//! Scale sets (Uniform): create from a cross-tenant gallery image, the auxiliary rule on writes
//! whose body carries the image (and not on those that leave it out), capacity, manualupgrade of
//! a batch, rolling upgrades that complete, fault on an unhealthy instance and are cancelled,
//! delete, and the API shapes against reference/arm/examples/scaleset.

mod common;

use std::time::Duration;

use azure_sim::Scenario;
use azure_sim::scenario::{AppHealth, HealthRule, RegionSeed, VersionSeed};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const SS: &str = "web-ss";

fn ss_id(name: &str) -> String {
    format!("{RG2}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}")
}

fn q() -> String {
    format!("?api-version={COMPUTE_API}")
}

fn subnet() -> String {
    format!("{RG2}/providers/Microsoft.Network/virtualNetworks/ssVNET/subnets/ssSubnet")
}

fn image(version: &str) -> String {
    format!("{GALLERY}/images/myImageDefinition/versions/{version}")
}

/// The seed with myImageDefinition 1.0.0 and 1.1.0 replicated in South Central US from the start.
fn scenario() -> Scenario {
    let mut s = Scenario::seed();
    let img = &mut s.galleries[0].images[0];
    assert_eq!(img.name, "myImageDefinition");
    img.versions = ["1.0.0", "1.1.0"]
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
    s
}

/// A scale-set body: `capacity` instances of `version`, Application Health (Rich states, http).
fn body(version: &str, capacity: u64, mode: &str) -> Value {
    json!({
        "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": capacity},
        "location": "southcentralus",
        "properties": {
            "overprovision": false,
            "upgradePolicy": {"mode": mode, "rollingUpgradePolicy": {
                "maxBatchInstancePercent": 25, "maxUnhealthyInstancePercent": 20,
                "maxUnhealthyUpgradedInstancePercent": 20, "pauseTimeBetweenBatches": "PT30S"}},
            "virtualMachineProfile": {
                "storageProfile": {
                    "imageReference": {"id": image(version)},
                    "osDisk": {"createOption": "FromImage", "caching": "ReadWrite", "managedDisk": {"storageAccountType": "Standard_LRS"}}
                },
                "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser", "adminPassword": "Sup3r-Secret-Pw!"},
                "networkProfile": {"networkInterfaceConfigurations": [{"name": "web-nic", "properties": {
                    "primary": true,
                    "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet()}}}]}}]},
                "extensionProfile": {"extensions": [{"name": "HealthExtension", "properties": {
                    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                    "typeHandlerVersion": "2.0", "autoUpgradeMinorVersion": true,
                    "settings": {"protocol": "http", "port": 80, "requestPath": "/health",
                                 "intervalInSeconds": 5, "numberOfProbes": 1, "gracePeriod": 60}}}]}
            }
        }
    })
}

struct Fx {
    env: Env,
    t2: String,
    t1: String,
}

impl Fx {
    async fn new(s: Scenario) -> Self {
        let env = Env::with(s).await;
        let (t2, t1) = env.cross_tenant_tokens().await;
        env.network(&t2, "ss", "southcentralus").await;
        Self { env, t2, t1 }
    }

    async fn call(&self, method: Method, path: &str, aux: bool, body: Option<Value>) -> Resp {
        let aux: Vec<&str> = if aux { vec![&self.t1] } else { vec![] };
        self.env
            .arm(
                method,
                &format!("{path}{}", q_join(path)),
                Some(&self.t2),
                &aux,
                body,
            )
            .await
    }

    /// Creates scale set `name` and waits until its instances run.
    async fn create(&self, name: &str, b: Value) -> Resp {
        let r = self.call(Method::PUT, &ss_id(name), true, Some(b)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        self.advance(61);
        r
    }

    fn advance(&self, secs: u64) {
        self.env.sim.advance(Duration::from_secs(secs));
    }

    async fn instances(&self, name: &str, query: &str) -> Vec<Value> {
        let r = self
            .env
            .get(
                &format!("{}/virtualMachines{}{query}", ss_id(name), q()),
                &self.t2,
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["value"].as_array().unwrap().clone()
    }

    /// instance id → (exactVersion, latestModelApplied, provisioningState).
    async fn versions(&self, name: &str) -> Vec<(String, String, bool, String)> {
        self.instances(name, "")
            .await
            .iter()
            .map(|i| {
                let p = &i["properties"];
                (
                    i["instanceId"].as_str().unwrap().to_owned(),
                    p["storageProfile"]["imageReference"]["exactVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    p["latestModelApplied"].as_bool().unwrap(),
                    p["provisioningState"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn latest(&self, name: &str) -> Resp {
        self.env
            .get(
                &format!("{}/rollingUpgrades/latest{}", ss_id(name), q()),
                &self.t2,
            )
            .await
    }

    async fn op_status(&self, r: &Resp) -> Value {
        let op = self.env.operation_path(r);
        let s = self.env.get(&op, &self.t2).await;
        assert_eq!(s.status, 200, "{:?}", s.body);
        s.body
    }
}

fn q_join(path: &str) -> String {
    if path.contains('?') {
        format!("&api-version={COMPUTE_API}")
    } else {
        q()
    }
}

fn patch_image(version: &str) -> Value {
    json!({"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image(version)}}}}})
}

/// The example's shapes that our body does not match (fields the example has and we leave out
/// are not reported: the generated examples carry every optional property).
fn shape_mismatches(example: &Value, actual: &Value, ignore: &[&str]) -> Vec<String> {
    shape_diff(example, actual, ignore)
        .into_iter()
        .filter(|d| !d.ends_with(": missing"))
        .collect()
}

#[tokio::test]
async fn create_follows_the_example_and_needs_the_auxiliary_token() {
    let fx = Fx::new(scenario()).await;
    let ex = example("scaleset/VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage.json");
    // The example's own request, pointed at the seed's gallery image definition (= latest) and
    // the test's subnet.
    let text = ex["parameters"]["parameters"]
        .to_string()
        .replace(
            "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/galleries/mySharedGallery/images/mySharedImage",
            &format!("{GALLERY}/images/myImageDefinition"),
        )
        .replace(
            "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/{existing-virtual-network-name}/subnets/{existing-subnet-name}",
            &subnet(),
        )
        .replace("{vmss-name}", SS)
        .replace("{your-username}", "azureuser")
        .replace("{your-password}", "Sup3r-Secret-Pw!")
        .replace("westus", "southcentralus");
    let req: Value = serde_json::from_str(&text).unwrap();
    let r = fx
        .call(Method::PUT, &ss_id(SS), false, Some(req.clone()))
        .await;
    r.assert_error(403, "LinkedAuthorizationFailed");
    assert_eq!(
        r.message(),
        format!(
            "The client has permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on scope '{}', however the current tenant '{T2}' is not authorized to access linked subscription '{SUB1}'.",
            ss_id(SS)
        )
    );
    assert!(fx.env.sim.resource(&ss_id(SS)).is_none());

    let r = fx
        .call(Method::PUT, &ss_id(SS), true, Some(req.clone()))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert_eq!(
        shape_diff(&ex["responses"]["201"]["body"], &r.body, &[]),
        Vec::<String>::new()
    );
    assert!(
        !r.body.to_string().contains("Sup3r-Secret-Pw!"),
        "no password echoed"
    );
    let status = fx.op_status(&r).await;
    assert_eq!(status["status"], "InProgress");
    fx.advance(61);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    let g = fx.env.get(&format!("{}{}", ss_id(SS), q()), &fx.t2).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        shape_diff(&ex["responses"]["200"]["body"], &g.body, &[]),
        Vec::<String>::new()
    );

    // Three instances of the definition's latest version (1.1.0), on the model, with their NICs.
    let v = fx.versions(SS).await;
    assert_eq!(
        v,
        ["0", "1", "2"]
            .iter()
            .map(|i| (
                (*i).to_owned(),
                "1.1.0".to_owned(),
                true,
                "Succeeded".to_owned()
            ))
            .collect::<Vec<_>>()
    );
    let list = example("scaleset/VirtualMachineScaleSetVM_List_MaximumSet_Gen.json");
    let with_view = fx.instances(SS, "&$expand=instanceView").await;
    assert_eq!(
        shape_mismatches(
            &list["responses"]["200"]["body"]["value"][0],
            &with_view[0],
            &[
                "properties.timeCreated",
                "properties.instanceView.computerName"
            ]
        ),
        Vec::<String>::new()
    );
    let i0 = &with_view[0];
    assert_eq!(i0["name"], format!("{SS}_0"));
    assert_eq!(
        i0["properties"]["osProfile"]["computerName"],
        format!("{SS}000000")
    );
    assert_eq!(
        i0["properties"]["instanceView"]["statuses"][0]["code"],
        "ProvisioningState/succeeded"
    );
    assert!(
        i0["properties"]["instanceView"].get("vmHealth").is_none(),
        "no Application Health extension in this model"
    );
    let nic = i0["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        nic,
        format!("{}/virtualMachines/0/networkInterfaces/{SS}", ss_id(SS))
    );
    // /_sim/resources shows the scale set and its instances with their image version.
    let all = fx.env.sim.resources();
    let instances: Vec<_> = all
        .iter()
        .filter(|r| r.resource_type == "Microsoft.Compute/virtualMachineScaleSets/virtualMachines")
        .collect();
    assert_eq!(instances.len(), 3);
    assert!(instances.iter().all(|i| i.provisioning_state == "Succeeded"
        && i.body["properties"]["storageProfile"]["imageReference"]["exactVersion"] == "1.1.0"));
    assert!(all.iter().any(|r| r.id == nic));
    assert_eq!(
        fx.env.sim.resource(&ss_id(SS)).unwrap().resource_type,
        "Microsoft.Compute/virtualMachineScaleSets"
    );
}

#[tokio::test]
async fn image_writes_need_the_auxiliary_token_and_capacity_patches_do_not() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 3, "Manual")).await;

    // A PATCH carrying the cross-tenant image without the tenant-1 token is refused.
    let r = fx
        .call(Method::PATCH, &ss_id(SS), false, Some(patch_image("1.1.0")))
        .await;
    r.assert_error(403, "LinkedAuthorizationFailed");
    // A PATCH of the capacity only (no imageReference in the body) needs no auxiliary token
    // (Azure/azure-cli#14206, #15575: leave imageReference out of updates that do not change it).
    let r = fx
        .call(
            Method::PATCH,
            &ss_id(SS),
            false,
            Some(json!({"sku": {"capacity": 4}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    assert!(r.header("azure-asyncoperation").is_some());
    let shape = example("scaleset/VirtualMachineScaleSet_Update_MaximumSet_Gen.json");
    assert_eq!(
        shape_mismatches(
            &shape["responses"]["200"]["body"],
            &r.body,
            // Extension settings are free-form.
            &["properties.virtualMachineProfile.extensionProfile.extensions[].properties.settings"]
        ),
        Vec::<String>::new()
    );
    fx.advance(61);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    let v = fx.versions(SS).await;
    assert_eq!(v.len(), 4);
    assert!(
        v.iter()
            .all(|(_, ver, latest, _)| ver == "1.0.0" && *latest)
    );

    // With the token the image changes; in Manual mode the instances wait for manualupgrade.
    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["id"],
        image("1.1.0")
    );
    let stale = fx
        .instances(SS, "&$filter=properties/latestModelApplied eq false")
        .await;
    assert_eq!(stale.len(), 4);
    // The same PATCH again changes nothing.
    let again = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(again.status, 200);
    fx.advance(10);
    let v = fx.versions(SS).await;
    assert!(
        v.iter()
            .all(|(_, ver, latest, state)| ver == "1.0.0" && !*latest && state == "Succeeded")
    );

    // A full PUT always carries the image: it needs the token.
    let r = fx
        .call(
            Method::PUT,
            &ss_id(SS),
            false,
            Some(body("1.1.0", 4, "Manual")),
        )
        .await;
    r.assert_error(403, "LinkedAuthorizationFailed");

    // The request log shows which writes carried the auxiliary header.
    let writes: Vec<(String, bool, u16)> = fx
        .env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path == ss_id(SS) && r.method != "GET")
        .map(|r| (r.method, r.aux_header, r.status))
        .collect();
    assert_eq!(
        writes,
        vec![
            ("PUT".to_owned(), true, 201),
            ("PATCH".to_owned(), false, 403),
            ("PATCH".to_owned(), false, 200),
            ("PATCH".to_owned(), true, 200),
            ("PATCH".to_owned(), true, 200),
            ("PUT".to_owned(), false, 403),
        ]
    );

    // Scale in removes the highest instance ids.
    let r = fx
        .call(
            Method::PATCH,
            &ss_id(SS),
            false,
            Some(json!({"sku": {"capacity": 2}})),
        )
        .await;
    assert_eq!(r.status, 200);
    let ids: Vec<String> = fx.versions(SS).await.into_iter().map(|v| v.0).collect();
    assert_eq!(ids, vec!["0", "1"]);
}

#[tokio::test]
async fn automatic_mode_upgrades_every_instance_at_once() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 3, "Automatic")).await;
    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200);
    assert!(fx.versions(SS).await.iter().all(|x| x.3 == "Updating"));
    assert_eq!(fx.op_status(&r).await["status"], "InProgress");
    fx.advance(61);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    assert!(
        fx.versions(SS)
            .await
            .iter()
            .all(|x| x.1 == "1.1.0" && x.2 && x.3 == "Succeeded")
    );
    fx.latest(SS).await.assert_error(404, "NotFound");
}

#[tokio::test]
async fn manualupgrade_upgrades_a_batch_and_a_replay_changes_nothing() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 4, "Manual")).await;
    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200);
    fx.advance(6);

    let ex = example("scaleset/VirtualMachineScaleSet_UpdateInstances_MinimumSet_Gen.json");
    assert!(ex["parameters"]["vmInstanceIDs"]["instanceIds"].is_array());
    let up = format!("{}/manualupgrade", ss_id(SS));
    // Unknown instance ids are refused (Azure's text).
    let bad = fx
        .call(
            Method::POST,
            &up,
            false,
            Some(json!({"instanceIds": ["9"]})),
        )
        .await;
    bad.assert_error(400, "InvalidParameter");
    assert_eq!(
        bad.message(),
        "The provided instanceId 9 is not an active Virtual Machine Scale Set VM instanceId."
    );
    let missing = fx.call(Method::POST, &up, false, Some(json!({}))).await;
    missing.assert_error(400, "InvalidParameter");

    // The batch, without an auxiliary token: the body names instances, not the image.
    let r = fx
        .call(
            Method::POST,
            &up,
            false,
            Some(json!({"instanceIds": ["0", "1"]})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let location = r.header("location").unwrap().to_owned();
    assert!(location.contains("monitor=true"), "{location}");
    assert_eq!(fx.op_status(&r).await["status"], "InProgress");
    let monitor = location.strip_prefix(&fx.env.base).unwrap();
    assert_eq!(fx.env.get(monitor, &fx.t2).await.status, 202);
    let v = fx.versions(SS).await;
    assert_eq!(v[0].3, "Updating");
    assert_eq!(v[2].3, "Succeeded");
    fx.advance(61);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    assert_eq!(fx.env.get(monitor, &fx.t2).await.status, 200);
    let v = fx.versions(SS).await;
    let summary: Vec<(String, bool)> = v.iter().map(|x| (x.1.clone(), x.2)).collect();
    assert_eq!(
        summary,
        vec![
            ("1.1.0".to_owned(), true),
            ("1.1.0".to_owned(), true),
            ("1.0.0".to_owned(), false),
            ("1.0.0".to_owned(), false),
        ]
    );
    // The replayed batch: instances on the model are left alone, the operation ends at once.
    let r = fx
        .call(
            Method::POST,
            &up,
            false,
            Some(json!({"instanceIds": ["0", "1"]})),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    assert!(fx.versions(SS).await.iter().all(|x| x.3 == "Succeeded"));
    let upgrades: Vec<bool> = fx
        .env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path == up)
        .map(|r| r.aux_header)
        .collect();
    assert!(upgrades.iter().all(|aux| !aux));
}

#[tokio::test]
async fn rolling_mode_rolls_a_model_change_in_batches_with_pauses() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 4, "Rolling")).await;
    // Nothing has run yet.
    let none = fx.latest(SS).await;
    none.assert_error(404, "NotFound");

    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200);
    let l = fx.latest(SS).await;
    assert_eq!(l.status, 200, "{:?}", l.body);
    let ex = example("scaleset/VirtualMachineScaleSetRollingUpgrade_GetLatest_MaximumSet_Gen.json");
    assert_eq!(
        shape_mismatches(&ex["responses"]["200"]["body"], &l.body, &[]),
        Vec::<String>::new()
    );
    let p = &l.body["properties"];
    assert_eq!(p["runningStatus"]["code"], "RollingForward");
    assert_eq!(p["runningStatus"]["lastAction"], "Start");
    assert_eq!(p["policy"]["maxBatchInstancePercent"], 25);
    assert_eq!(p["policy"]["pauseTimeBetweenBatches"], "PT30S");
    assert_eq!(p["progress"]["inProgressInstanceCount"], 1, "{p}");
    assert_eq!(p["progress"]["pendingInstanceCount"], 3);

    // A batch is 25% of 4 = 1 instance: 60 s upgrade, 5 s to report healthy, 30 s pause.
    fx.advance(66);
    let p = fx.latest(SS).await.body["properties"].clone();
    assert_eq!(p["progress"]["successfulInstanceCount"], 1, "{p}");
    assert_eq!(p["progress"]["inProgressInstanceCount"], 0, "pausing: {p}");
    let v = fx.versions(SS).await;
    assert_eq!((v[0].1.as_str(), v[0].2), ("1.1.0", true));
    assert_eq!((v[1].1.as_str(), v[1].2), ("1.0.0", false));
    fx.advance(30);
    let p = fx.latest(SS).await.body["properties"].clone();
    assert_eq!(p["progress"]["inProgressInstanceCount"], 1, "{p}");
    fx.advance(3 * 95);
    let p = fx.latest(SS).await.body["properties"].clone();
    assert_eq!(p["runningStatus"]["code"], "Completed", "{p}");
    assert_eq!(p["progress"]["successfulInstanceCount"], 4);
    assert_eq!(p["progress"]["pendingInstanceCount"], 0);
    assert!(p.get("error").is_none());
    let v = fx.versions(SS).await;
    assert!(v.iter().all(|x| x.1 == "1.1.0" && x.2), "{v:?}");
    let healthy = fx.instances(SS, "&$expand=instanceView").await;
    assert!(healthy.iter().all(
        |i| i["properties"]["instanceView"]["vmHealth"]["status"]["code"] == "HealthState/healthy"
    ));
}

#[tokio::test]
async fn os_rolling_upgrade_faults_on_an_unhealthy_upgraded_instance() {
    let mut s = scenario();
    // A bad build: instance 0 answers unhealthy once it runs 1.1.0.
    s.health.push(HealthRule {
        vm: None,
        scale_set: Some("web-*".into()),
        instances: vec!["0".into()],
        version: Some("1.1.0".into()),
        state: AppHealth::Unhealthy,
    });
    let fx = Fx::new(s).await;
    fx.create(SS, body("1.0.0", 4, "Manual")).await;
    fx.advance(10);
    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200);
    fx.advance(6);
    let ex =
        example("scaleset/VirtualMachineScaleSetRollingUpgrade_StartOSUpgrade_MinimumSet_Gen.json");
    assert!(ex["responses"]["202"]["headers"]["location"].is_string());
    let start = fx
        .call(
            Method::POST,
            &format!("{}/osRollingUpgrade", ss_id(SS)),
            false,
            None,
        )
        .await;
    assert_eq!(start.status, 202, "{:?}", start.body);
    assert!(start.header("location").is_some());
    // The upgraded instance 0 reports unhealthy (after its one 5 s probe) for the whole 300 s
    // wait: 1 of 4 = 25% > 20%.
    fx.advance(62);
    let view = fx
        .env
        .get(
            &format!("{}/virtualMachines/0/instanceView{}", ss_id(SS), q()),
            &fx.t2,
        )
        .await;
    assert_eq!(
        view.body["vmHealth"]["status"]["code"],
        "HealthState/initializing"
    );
    fx.advance(5);
    assert_eq!(fx.op_status(&start).await["status"], "InProgress");
    let view = fx
        .env
        .get(
            &format!("{}/virtualMachines/0/instanceView{}", ss_id(SS), q()),
            &fx.t2,
        )
        .await;
    assert_eq!(view.status, 200, "{:?}", view.body);
    assert_eq!(
        view.body["vmHealth"]["status"]["code"],
        "HealthState/unhealthy"
    );
    fx.advance(300);
    let l = fx.latest(SS).await;
    let p = &l.body["properties"];
    assert_eq!(p["runningStatus"]["code"], "Faulted", "{p}");
    assert_eq!(
        p["error"]["code"],
        "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    );
    assert_eq!(p["error"]["details"][0]["target"], "0");
    assert_eq!(p["error"]["details"][0]["code"], "HealthState/unhealthy");
    assert!(
        p["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeding the MaxUnhealthyUpgradedInstancePercent value (20%)")
    );
    assert_eq!(p["progress"]["failedInstanceCount"], 1);
    assert_eq!(p["progress"]["pendingInstanceCount"], 3);
    let op = fx.op_status(&start).await;
    assert_eq!(op["status"], "Failed");
    assert_eq!(
        op["error"]["code"],
        "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    );
    let v = fx.versions(SS).await;
    assert_eq!(v[0].1, "1.1.0");
    assert!(v[1..].iter().all(|x| x.1 == "1.0.0" && !x.2), "{v:?}");
    // Nothing runs any more.
    fx.advance(600);
    assert!(fx.versions(SS).await[1..].iter().all(|x| x.1 == "1.0.0"));
}

#[tokio::test]
async fn unhealthy_instances_stop_a_rolling_upgrade_before_it_starts() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 4, "Rolling")).await;
    fx.advance(10);
    // Two of four instances are flipped unhealthy at run time (50% > 20%).
    for i in ["1", "2"] {
        let r = fx
            .env
            .http
            .post(format!("{}/_sim/health", fx.env.base))
            .json(&json!({"scale_set": SS, "instances": [i], "state": "unhealthy"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200);
    let p = fx.latest(SS).await.body["properties"].clone();
    assert_eq!(p["runningStatus"]["code"], "Faulted", "{p}");
    assert_eq!(
        p["error"]["code"],
        "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade"
    );
    let targets: Vec<&str> = p["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["1", "2"]);
    assert!(fx.versions(SS).await.iter().all(|x| x.1 == "1.0.0"));
}

#[tokio::test]
async fn cancel_stops_a_rolling_upgrade_after_its_batch() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 4, "Rolling")).await;
    let cancel = format!("{}/rollingUpgrades/cancel", ss_id(SS));
    let r = fx.call(Method::POST, &cancel, false, None).await;
    r.assert_error(409, "OperationNotAllowed");
    assert_eq!(
        r.message(),
        "There is no ongoing Rolling Upgrade to cancel."
    );

    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200);
    fx.advance(20);
    let r = fx.call(Method::POST, &cancel, false, None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    let p = fx.latest(SS).await.body["properties"].clone();
    assert_eq!(p["runningStatus"]["code"], "Cancelled");
    assert_eq!(p["runningStatus"]["lastAction"], "Cancel");
    fx.advance(600);
    let v = fx.versions(SS).await;
    // The batch in flight finished; the rest stayed on the old model.
    assert_eq!(
        v.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
        vec!["1.1.0", "1.0.0", "1.0.0", "1.0.0"]
    );
    assert!(!v[3].2);
    // A generic model update restarts the rolling upgrade (Microsoft's "Restart a rolling upgrade").
    let r = fx
        .call(
            Method::PATCH,
            &ss_id(SS),
            false,
            Some(json!({"tags": {"restart": "1"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        fx.latest(SS).await.body["properties"]["runningStatus"]["code"],
        "RollingForward"
    );
    // osRollingUpgrade while one runs follows it; cancelling ends that operation too.
    let os = fx
        .call(
            Method::POST,
            &format!("{}/osRollingUpgrade", ss_id(SS)),
            false,
            None,
        )
        .await;
    assert_eq!(os.status, 202);
    assert_eq!(fx.op_status(&os).await["status"], "InProgress");
    let r = fx.call(Method::POST, &cancel, false, None).await;
    assert_eq!(r.status, 202);
    let op = fx.op_status(&os).await;
    assert_eq!(op["status"], "Failed");
    assert_eq!(op["error"]["code"], "Canceled");
}

#[tokio::test]
async fn delete_removes_the_instances_nics_and_disks_as_a_long_running_operation() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 2, "Manual")).await;
    let ex = example("scaleset/VirtualMachineScaleSet_Delete_Force.json");
    assert_eq!(ex["parameters"]["forceDeletion"], "true");
    let bad = fx
        .call(
            Method::DELETE,
            &format!("{}?forceDeletion=maybe", ss_id(SS)),
            false,
            None,
        )
        .await;
    bad.assert_error(400, "InvalidParameter");
    let r = fx
        .call(
            Method::DELETE,
            &format!("{}?forceDeletion=false", ss_id(SS)),
            false,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert!(r.header("location").is_some() && r.header("azure-asyncoperation").is_some());
    let g = fx.env.get(&format!("{}{}", ss_id(SS), q()), &fx.t2).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Deleting");
    assert_eq!(fx.op_status(&r).await["status"], "InProgress");
    fx.advance(31);
    assert_eq!(fx.op_status(&r).await["status"], "Succeeded");
    let g = fx.env.get(&format!("{}{}", ss_id(SS), q()), &fx.t2).await;
    g.assert_error(404, "ResourceNotFound");
    let prefix = ss_id(SS).to_ascii_lowercase();
    let left: Vec<String> = fx
        .env
        .sim
        .resources()
        .into_iter()
        .map(|r| r.id)
        .filter(|id| id.to_ascii_lowercase().starts_with(&prefix) || id.contains("OsDisk"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        fx.env
            .sim
            .resource(&format!(
                "{RG2}/providers/Microsoft.Network/virtualNetworks/ssVNET"
            ))
            .is_some(),
        "the network stays"
    );
    let again = fx.call(Method::DELETE, &ss_id(SS), false, None).await;
    assert_eq!(again.status, 204);
}

#[tokio::test]
async fn bodies_are_validated_against_the_swagger_and_flexible_is_refused() {
    let fx = Fx::new(scenario()).await;
    let mut b = body("1.0.0", 1, "Manual");
    b["properties"]["virtualMachineProfile"]["storageProfile"]["osDisk"]["bogus"] = json!(1);
    let r = fx.call(Method::PUT, &ss_id(SS), true, Some(b)).await;
    r.assert_error(400, "InvalidRequestContent");
    assert!(r.message().contains("bogus"), "{}", r.message());
    let mut b = body("1.0.0", 1, "Manual");
    b["properties"]["upgradePolicy"]["mode"] = json!("Sometimes");
    fx.call(Method::PUT, &ss_id(SS), true, Some(b))
        .await
        .assert_error(400, "InvalidParameter");
    let mut b = body("1.0.0", 1, "Manual");
    b["properties"]["orchestrationMode"] = json!("Flexible");
    let r = fx.call(Method::PUT, &ss_id(SS), true, Some(b)).await;
    r.assert_error(400, "InvalidParameter");
    assert!(r.message().contains("Uniform"));
    let r = fx
        .call(
            Method::PATCH,
            &ss_id(SS),
            false,
            Some(json!({"sku": {"capacity": "two"}})),
        )
        .await;
    r.assert_error(404, "ResourceNotFound");
    fx.create(SS, body("1.0.0", 1, "Manual")).await;
    fx.call(
        Method::PATCH,
        &ss_id(SS),
        false,
        Some(json!({"sku": {"capacity": "two"}})),
    )
    .await
    .assert_error(400, "InvalidRequestContent");
    // A missing subnet is an invalid reference.
    let mut b = body("1.0.0", 1, "Manual");
    b["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
        [0]["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = json!(format!(
        "{RG2}/providers/Microsoft.Network/virtualNetworks/nope/subnets/x"
    ));
    fx.call(Method::PUT, &ss_id("other"), true, Some(b))
        .await
        .assert_error(400, "InvalidResourceReference");
    // Unknown sub-resources and methods.
    fx.call(Method::GET, &format!("{}/nothing", ss_id(SS)), false, None)
        .await
        .assert_error(404, "InvalidResourceType");
    fx.call(
        Method::GET,
        &format!("{}/manualupgrade", ss_id(SS)),
        false,
        None,
    )
    .await
    .assert_error(405, "HttpMethodNotSupported");
}

#[tokio::test]
async fn group_lists_in_use_subnets_and_group_deletion_see_the_scale_set() {
    let fx = Fx::new(scenario()).await;
    fx.create(SS, body("1.0.0", 2, "Rolling")).await;
    let prefix = format!("{}/", ss_id(SS).to_ascii_lowercase());
    assert!(
        fx.env
            .sim
            .resources()
            .iter()
            .filter(|r| r.id.to_ascii_lowercase().starts_with(&prefix))
            .count()
            >= 4,
        "instances and their NICs are stored under the scale set"
    );
    let r = fx
        .call(
            Method::PATCH,
            &ss_id(SS),
            false,
            Some(json!({"tags": {"team": "web"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    fx.advance(6);

    // Resources - List By Resource Group: the scale set, not its instances or their NICs.
    let ids = |r: &Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_ascii_lowercase())
            .collect()
    };
    let all = ids(&fx
        .env
        .get(
            &format!("{RG2}/resources?api-version={RESOURCES_API}"),
            &fx.t2,
        )
        .await);
    assert!(all.contains(&ss_id(SS).to_ascii_lowercase()), "{all:?}");
    assert!(all.iter().all(|id| !id.starts_with(&prefix)), "{all:?}");
    let tagged = ids(&fx
        .env
        .get(
            &format!("{RG2}/resources?api-version={RESOURCES_API}&$filter=tagName%20eq%20'team'%20and%20tagValue%20eq%20'web'"),
            &fx.t2,
        )
        .await);
    assert_eq!(tagged, vec![ss_id(SS).to_ascii_lowercase()]);
    let listed = ids(&fx
        .env
        .get(
            &format!(
                "{RG2}/providers/Microsoft.Compute/virtualMachineScaleSets?api-version={COMPUTE_API}"
            ),
            &fx.t2,
        )
        .await);
    assert_eq!(listed, vec![ss_id(SS).to_ascii_lowercase()]);

    // The subnet holds the instances' NICs: the VNet cannot go (once the VM NIC is gone).
    let f = &fx;
    let delete = |path: String| async move {
        f.env
            .arm(Method::DELETE, &path, Some(&f.t2), &[], None)
            .await
    };
    let n = format!("{RG2}/providers/Microsoft.Network");
    let nq = format!("?api-version={NETWORK_API}");
    let nic = delete(format!("{n}/networkInterfaces/ssVMNic{nq}")).await;
    assert_eq!(nic.status, 202, "{:?}", nic.body);
    fx.advance(3);
    let vnet = delete(format!("{n}/virtualNetworks/ssVNET{nq}")).await;
    vnet.assert_error(400, "InUseSubnetCannotBeDeleted");
    assert!(
        vnet.message().to_ascii_lowercase().contains(&prefix),
        "{}",
        vnet.message()
    );

    // A rolling upgrade in flight, then the group's deletion: the upgrade stops, the scale set
    // shows Deleting, and when the deletion ends the scale set and its instances are gone.
    let r = fx
        .call(Method::PATCH, &ss_id(SS), true, Some(patch_image("1.1.0")))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        fx.latest(SS).await.body["properties"]["runningStatus"]["code"],
        "RollingForward"
    );
    let del = delete(format!("{RG2}?api-version={RESOURCES_API}")).await;
    assert_eq!(del.status, 202, "{:?}", del.body);
    let location = del.header("location").unwrap().to_owned();
    assert!(location.contains("/operationresults/"), "{location}");
    assert_eq!(
        fx.latest(SS).await.body["properties"]["runningStatus"]["code"],
        "Cancelled"
    );
    let g = fx.env.get(&format!("{}{}", ss_id(SS), q()), &fx.t2).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Deleting");
    let poll = location.strip_prefix(&fx.env.base).unwrap().to_owned();
    assert_eq!(fx.env.get(&poll, &fx.t2).await.status, 202);
    fx.advance(31);
    assert_eq!(fx.env.get(&poll, &fx.t2).await.status, 200);
    let left: Vec<String> = fx
        .env
        .sim
        .resources()
        .into_iter()
        .map(|r| r.id.to_ascii_lowercase())
        .filter(|id| id.starts_with(&RG2.to_ascii_lowercase()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    fx.env
        .get(&format!("{}{}", ss_id(SS), q()), &fx.t2)
        .await
        .assert_error(404, "ResourceGroupNotFound");
}
