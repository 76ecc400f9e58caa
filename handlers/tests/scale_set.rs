//! Scale-set targets through the steps, against the Azure stand-in's scale sets (Uniform) and a
//! capture of Service Bus sends: create from 1.0.0, update to 1.1.0 in health-gated batches (one
//! instance unhealthy halts it at its batch), a rolling upgrade, the auxiliary header on exactly
//! the writes whose body carries the image, replayed messages, forged messages.

mod support;

use azure_sim::Scenario;
use azure_sim::scenario::{AppHealth, HealthRule, RegionSeed, VersionSeed};
use imageferry_contract::{DeploymentEvent, Status, Step};
use serde_json::{Value, json};
use servicebus_emulator::SentMessage;
use support::*;

const SS: &str = "web-fleet";
const VP: &str = "vm-provisioning";

fn ss_id() -> String {
    format!(
        "/subscriptions/{SUB2}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachineScaleSets/{SS}"
    )
}

fn version(v: &str) -> String {
    format!("{GALLERY}/images/myImageDefinition/versions/{v}")
}

/// The bench's scenario with myImageDefinition 1.0.0 and 1.1.0 replicated from the start.
fn scenario() -> Scenario {
    let mut s = support::scenario();
    let img = s.galleries[0]
        .images
        .iter_mut()
        .find(|i| i.name == "myImageDefinition")
        .unwrap();
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

/// A scale-set request for `v`: 4 instances, batches of 25 %, an http health probe.
fn request(id: &str, v: &str, extra: Value) -> Value {
    let mut scale_set = json!({
        "name": SS, "capacity": 4, "size": "Standard_D2s_v5", "upgrade": "batches",
        "batchPercent": 25, "maxUnhealthyPercent": 20, "pauseBetweenBatches": "30s",
        "health": {"protocol": "http", "port": 80, "path": "/health", "graceMinutes": 2},
        "adminUsername": "azureuser",
        "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        "tags": {"team": "web"}
    });
    for (k, val) in extra.as_object().unwrap() {
        scale_set[k] = val.clone();
    }
    json!({
        "deploymentId": id,
        "image": {"id": version(v), "tenantId": TENANT1},
        "target": {"tenantId": TENANT2, "subscriptionId": SUB2, "resourceGroup": "myResourceGroup", "location": "southcentralus"},
        "scaleSet": scale_set,
        "network": {"allowInboundFrom": ["203.0.113.0/24"]}
    })
}

async fn bench() -> Bench {
    Bench::start(scenario(), config()).await
}

/// Runs `body` to its end; its terminal event.
async fn deploy(bench: &mut Bench, body: &Value) -> DeploymentEvent {
    let id = body["deploymentId"].as_str().unwrap().to_string();
    bench.submit(body).await;
    bench.run().await;
    terminal_of(bench, &id)
}

fn terminal_of(bench: &Bench, id: &str) -> DeploymentEvent {
    let terminal: Vec<DeploymentEvent> = bench
        .events()
        .into_iter()
        .filter(|e| e.deployment_id == id && e.status.is_terminal())
        .collect();
    assert_eq!(terminal.len(), 1, "{id}: {terminal:#?}");
    terminal.into_iter().next().unwrap()
}

/// instance id → the version it runs, from the stand-in's instance records.
fn instance_versions(bench: &Bench) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = bench
        .sim
        .resources()
        .into_iter()
        .filter(|r| r.resource_type == "Microsoft.Compute/virtualMachineScaleSets/virtualMachines")
        .map(|r| {
            (
                r.body["instanceId"].as_str().unwrap().to_string(),
                r.body["properties"]["storageProfile"]["imageReference"]["exactVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn phases(bench: &Bench, kind: &str) -> Vec<SentMessage> {
    bench
        .capture
        .sent(VP)
        .into_iter()
        .filter(|m| {
            serde_json::from_str::<Value>(&m.body)
                .is_ok_and(|b| b["phase"]["kind"] == kind && !m.duplicate)
        })
        .collect()
}

#[tokio::test]
async fn the_first_version_creates_the_scale_set_and_waits_until_every_instance_is_healthy() {
    let mut bench = bench().await;
    let done = deploy(&mut bench, &request("fleet-1-0-0", "1.0.0", json!({}))).await;
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert_eq!(done.step, Step::VmProvisioning);
    assert!(
        done.detail
            .contains("scale set web-fleet: 4 of 4 instance(s) run 1.0.0 and are healthy"),
        "{}",
        done.detail
    );
    let state = done.scale_set.as_ref().unwrap();
    assert_eq!(state.id, ss_id());
    assert_eq!((state.instances, state.on_version), (4, 4));
    assert!(state.unhealthy.is_empty());
    assert_eq!(
        instance_versions(&bench),
        [0, 1, 2, 3].map(|n| (n.to_string(), "1.0.0".to_string()))
    );

    // One PUT, with the tenant-1 auxiliary token; the network as for a VM, no NIC or public IP
    // resource of its own.
    let puts = bench.arm_requests("PUT", &format!("/virtualMachineScaleSets/{SS}"));
    assert_eq!(puts.len(), 1, "{puts:#?}");
    assert!(puts[0].aux_header);
    assert_eq!(puts[0].aux_tenants, [TENANT1]);
    let ss = bench.resource(&ss_id());
    assert_eq!(ss["tags"]["imageferry-deployment"], "fleet-1-0-0");
    let profile = &ss["properties"]["virtualMachineProfile"];
    let nic = &profile["networkProfile"]["networkInterfaceConfigurations"][0]["properties"];
    assert!(
        nic["ipConfigurations"][0]["properties"]["subnet"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/virtualNetworks/web-fleet-vnet/subnets/web-fleet-subnet")
    );
    assert!(
        nic["networkSecurityGroup"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/networkSecurityGroups/web-fleet-nsg")
    );
    assert_eq!(
        profile["extensionProfile"]["extensions"][0]["properties"]["type"],
        "ApplicationHealthLinux"
    );
    assert!(
        bench
            .arm_requests("PUT", "/networkInterfaces/web-fleet-nic")
            .is_empty()
    );
    assert!(
        bench
            .arm_requests("PUT", "/publicIPAddresses/web-fleet-pip")
            .is_empty()
    );
    // It waited by scheduled checks, not in a function.
    assert!(phases(&bench, "create").len() + phases(&bench, "settle").len() >= 2);
}

#[tokio::test]
async fn a_newer_version_rolls_through_in_batches_and_one_unhealthy_instance_halts_its_batch() {
    let mut bench = bench().await;
    let first = deploy(&mut bench, &request("fleet-1-0-0", "1.0.0", json!({}))).await;
    assert_eq!(first.status, Status::Succeeded, "{first:#?}");
    // 1.1.0 is a bad build on instance 2.
    bench
        .sim
        .set_health(HealthRule {
            vm: None,
            scale_set: Some(SS.into()),
            instances: vec!["2".into()],
            version: Some("1.1.0".into()),
            state: AppHealth::Unhealthy,
        })
        .unwrap();
    let done = deploy(&mut bench, &request("fleet-1-1-0", "1.1.0", json!({}))).await;
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.as_ref().unwrap();
    assert_eq!(error.code, "UnhealthyInstances");
    assert!(
        error
            .message
            .contains("halted at batch 3 (instance(s) 2): instance 2 (HealthState/unhealthy)"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("1 of 4 instance(s) unhealthy, more than maxUnhealthyPercent 20%"),
        "{}",
        error.message
    );
    // Batches 1-3 ran (one instance each), the fourth never started.
    assert_eq!(
        instance_versions(&bench),
        [
            ("0", "1.1.0"),
            ("1", "1.1.0"),
            ("2", "1.1.0"),
            ("3", "1.0.0")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let posts = bench.arm_requests("POST", "/manualupgrade");
    assert_eq!(posts.len(), 3, "{posts:#?}");
    // The batches were shown as they went.
    let live: Vec<String> = bench
        .events()
        .into_iter()
        .filter(|e| e.deployment_id == "fleet-1-1-0" && e.status == Status::Provisioning)
        .map(|e| e.detail)
        .collect();
    assert!(
        live.iter()
            .any(|d| d.contains("batch 1: upgrading instance(s) 0 to 1.1.0")),
        "{live:#?}"
    );
    assert!(
        live.iter().any(|d| d.contains(
            "batch 2 (instance(s) 1) runs 1.1.0 and is healthy; batch 3 (instance(s) 2) in 30s"
        )),
        "{live:#?}"
    );
}

#[tokio::test]
async fn every_image_carrying_write_has_the_auxiliary_token_and_the_others_none() {
    let mut bench = bench().await;
    let body = request("fleet-1-0-0", "1.0.0", json!({}));
    assert_eq!(deploy(&mut bench, &body).await.status, Status::Succeeded);
    let done = deploy(&mut bench, &request("fleet-1-1-0", "1.1.0", json!({}))).await;
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert!(
        done.detail.contains("4 of 4 instance(s) run 1.1.0"),
        "{}",
        done.detail
    );
    assert_eq!(bench.arm_requests("POST", "/manualupgrade").len(), 4);
    // The same version under another deployment: the tags only.
    let again = deploy(
        &mut bench,
        &request("fleet-1-1-0-again", "1.1.0", json!({})),
    )
    .await;
    assert_eq!(again.status, Status::Succeeded, "{again:#?}");
    assert_eq!(
        bench.resource(&ss_id())["tags"]["imageferry-deployment"],
        "fleet-1-1-0-again"
    );

    let writes: Vec<_> = bench
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.contains("/virtualMachineScaleSets/"))
        .collect();
    let shown: Vec<(String, bool)> = writes
        .iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.path.rsplit('/').next().unwrap()),
                r.aux_header,
            )
        })
        .collect();
    let expected: Vec<(String, bool)> = [
        ("PUT web-fleet", true),
        ("PATCH web-fleet", true),
        ("POST manualupgrade", false),
        ("POST manualupgrade", false),
        ("POST manualupgrade", false),
        ("POST manualupgrade", false),
        ("PATCH web-fleet", false),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), *b))
    .collect();
    assert_eq!(shown, expected);
    assert!(
        writes.iter().all(|r| (200..300).contains(&r.status)),
        "{writes:#?}"
    );
    // Nothing else carries it.
    assert!(
        bench
            .sim
            .requests()
            .iter()
            .filter(|r| r.aux_header)
            .all(
                |r| r.path.ends_with(&format!("/virtualMachineScaleSets/{SS}"))
                    && r.method != "GET"
            )
    );
}

#[tokio::test]
async fn a_rolling_upgrade_is_followed_until_it_completes() {
    let mut bench = bench().await;
    let rolling = json!({"upgrade": "rolling", "pauseBetweenBatches": "10s"});
    let first = deploy(&mut bench, &request("roll-1-0-0", "1.0.0", rolling.clone())).await;
    assert_eq!(first.status, Status::Succeeded, "{first:#?}");
    let ss = bench.resource(&ss_id());
    assert_eq!(ss["properties"]["upgradePolicy"]["mode"], "Rolling");
    let done = deploy(&mut bench, &request("roll-1-1-0", "1.1.0", rolling)).await;
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert!(
        done.detail.contains("4 of 4 instance(s) run 1.1.0"),
        "{}",
        done.detail
    );
    assert_eq!(
        instance_versions(&bench),
        [0, 1, 2, 3].map(|n| (n.to_string(), "1.1.0".to_string()))
    );
    assert!(bench.arm_requests("POST", "/manualupgrade").is_empty());
    assert!(
        !bench
            .arm_requests("GET", "/rollingUpgrades/latest")
            .is_empty()
    );
    assert!(!phases(&bench, "rolling").is_empty());
}

#[tokio::test]
async fn a_faulted_rolling_upgrade_fails_naming_the_instances() {
    let mut bench = bench().await;
    let rolling = json!({"upgrade": "rolling", "batchPercent": 50});
    let first = deploy(&mut bench, &request("roll-1-0-0", "1.0.0", rolling.clone())).await;
    assert_eq!(first.status, Status::Succeeded, "{first:#?}");
    bench
        .sim
        .set_health(HealthRule {
            vm: None,
            scale_set: Some(SS.into()),
            instances: vec!["0".into(), "1".into()],
            version: Some("1.1.0".into()),
            state: AppHealth::Unhealthy,
        })
        .unwrap();
    let done = deploy(&mut bench, &request("roll-1-1-0", "1.1.0", rolling)).await;
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    assert!(error.code.contains("MaxUnhealthy"), "{error:?}");
    assert!(
        error.message.contains("instance 0 (HealthState/unhealthy)"),
        "{error:?}"
    );
}

#[tokio::test]
async fn replayed_messages_change_nothing() {
    let mut bench = bench().await;
    assert_eq!(
        deploy(&mut bench, &request("fleet-1-0-0", "1.0.0", json!({})))
            .await
            .status,
        Status::Succeeded
    );
    // Every message of the update is delivered twice (at-least-once delivery).
    bench.deliver_twice = true;
    let done = deploy(&mut bench, &request("fleet-1-1-0", "1.1.0", json!({}))).await;
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert_eq!(bench.arm_requests("POST", "/manualupgrade").len(), 4);
    assert_eq!(
        bench
            .arm_requests("PATCH", &format!("/virtualMachineScaleSets/{SS}"))
            .len(),
        1
    );
    bench.deliver_twice = false;

    // A batch message replayed long after: no write, no new message, no new event.
    let start = phases(&bench, "startBatch").remove(0);
    let before = bench.sim.requests().len();
    let sent = bench.capture.all().len();
    let events = bench.events().len();
    let versions = instance_versions(&bench);
    let status = bench.deliver_edited(&start, 1, |_| {}).await;
    assert_eq!(status, 200);
    let after = bench.sim.requests();
    assert!(
        after[before..].iter().all(|r| r.method == "GET"),
        "{:#?}",
        &after[before..]
    );
    assert_eq!(instance_versions(&bench), versions);
    // Its next message is a duplicate (same MessageId), dropped by duplicate detection.
    let new: Vec<SentMessage> = bench.capture.all()[sent..].to_vec();
    assert!(new.iter().all(|m| m.duplicate), "{new:#?}");
    assert_eq!(bench.events().len(), events);
}

/// A scale-set check the create scheduled, as JSON.
async fn a_check(bench: &mut Bench) -> Value {
    assert_eq!(
        deploy(bench, &request("fleet-1-0-0", "1.0.0", json!({})))
            .await
            .status,
        Status::Succeeded
    );
    serde_json::from_str(&phases(bench, "create").remove(0).body).unwrap()
}

async fn rejected_with(bench: &mut Bench, body: &Value) -> DeploymentEvent {
    let n = bench.events().len();
    let status = bench.send_and_deliver(VP, &body.to_string(), 1).await;
    assert_eq!(status, 200);
    let events = bench.events();
    let new: Vec<&DeploymentEvent> = events[n..].iter().collect();
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!(new[0].status, Status::Rejected, "{:#?}", new[0]);
    new[0].clone()
}

#[tokio::test]
async fn forged_messages_naming_another_scale_set_or_target_are_rejected_with_a_reason() {
    let mut bench = bench().await;
    let check = a_check(&mut bench).await;
    let writes = |b: &Bench| {
        b.sim
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .count()
    };
    let before = writes(&bench);

    let mut other = check.clone();
    other["scaleSetId"] = json!(ss_id().replace(SS, "someone-elses"));
    let e = rejected_with(&mut bench, &other).await;
    assert_eq!(e.error.as_ref().unwrap().code, "ForeignResource");
    assert!(e.detail.contains("someone-elses"), "{}", e.detail);

    let mut target = check.clone();
    target["request"]["target"]["resourceGroup"] = json!("otherGroup");
    target["scaleSetId"] = json!(ss_id().replace("myResourceGroup", "otherGroup"));
    let e = rejected_with(&mut bench, &target).await;
    assert_eq!(e.error.as_ref().unwrap().code, "TargetNotAllowed");

    let mut url = check.clone();
    url["phase"] = json!({"kind": "batch", "number": 1, "instanceIds": ["0"],
        "operation": {"url": "https://evil.example.com/operations/1", "kind": "azureAsyncOperation"}});
    let e = rejected_with(&mut bench, &url).await;
    assert_eq!(e.error.as_ref().unwrap().code, "UntrustedUrl");

    let mut ids = check.clone();
    ids["phase"] = json!({"kind": "startBatch", "number": 1, "instanceIds": ["0/../../x"]});
    let e = rejected_with(&mut bench, &ids).await;
    assert_eq!(e.error.as_ref().unwrap().code, "InvalidMessage");

    let mut vm = check.clone();
    vm["request"] = linux_request("fleet-1-0-0");
    let e = rejected_with(&mut bench, &vm).await;
    assert_eq!(e.error.as_ref().unwrap().code, "NotAScaleSet");

    let mut unknown = check.clone();
    unknown["vmId"] = json!("/x");
    let e = rejected_with(&mut bench, &unknown).await;
    assert_eq!(e.error.as_ref().unwrap().code, "UnknownFields");

    assert_eq!(writes(&bench), before, "a forged message wrote nothing");
}

#[tokio::test]
async fn an_older_version_never_replaces_a_newer_one() {
    let mut bench = bench().await;
    assert_eq!(
        deploy(&mut bench, &request("fleet-1-1-0", "1.1.0", json!({})))
            .await
            .status,
        Status::Succeeded
    );
    let older = deploy(&mut bench, &request("fleet-1-0-0", "1.0.0", json!({}))).await;
    assert_eq!(older.status, Status::Failed, "{older:#?}");
    assert_eq!(older.error.unwrap().code, "NewerVersionRunning");
    assert!(
        bench
            .arm_requests("PATCH", &format!("/virtualMachineScaleSets/{SS}"))
            .is_empty()
    );
}
