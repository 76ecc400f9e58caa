//! Application Health: the extension on a VM (resource PUT) and in a scale set's
//! extensionProfile, `vmHealth` per instance from the scenario's rules and from `/_sim/health`,
//! and extension settings that break the documented rules.

mod common;

use std::time::Duration;

use azure_sim::Scenario;
use azure_sim::scenario::{AppHealth, HealthRule};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn health_ext(version: &str, settings: Value) -> Value {
    json!({"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
           "typeHandlerVersion": version, "autoUpgradeMinorVersion": true, "settings": settings})
}

fn scale_set(name: &str, capacity: u64, ext: Value) -> (String, Value) {
    let id = format!("{RG2}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}");
    let body = json!({
        "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": capacity},
        "location": "southcentralus",
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {"id": version_id("myImageDefinition")},
                                   "osDisk": {"createOption": "FromImage"}},
                "osProfile": {"computerNamePrefix": "app", "adminUsername": "azureuser", "adminPassword": "Sup3r-Secret-Pw!"},
                "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {"primary": true,
                    "ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": format!("{RG2}/providers/Microsoft.Network/virtualNetworks/hVNET/subnets/hSubnet")}}}]}}]},
                "extensionProfile": {"extensions": [{"name": "HealthExtension", "properties": ext}]}
            }
        }
    });
    (id, body)
}

async fn env_with(s: Scenario) -> (Env, String, String) {
    let env = Env::with(s).await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    env.network(&t2, "h", "southcentralus").await;
    env.replicate_all("myImageDefinition");
    (env, t2, t1)
}

async fn health_codes(env: &Env, id: &str, token: &str) -> Vec<Option<String>> {
    let r = env
        .get(
            &format!("{id}/virtualMachines?api-version={COMPUTE_API}&$expand=instanceView"),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["properties"]["instanceView"]["vmHealth"]["status"]["code"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn codes(v: &[&str]) -> Vec<Option<String>> {
    v.iter()
        .map(|c| (!c.is_empty()).then(|| format!("HealthState/{c}")))
        .collect()
}

#[tokio::test]
async fn instance_health_comes_from_the_scenario_and_from_sim_health() {
    let mut s = Scenario::seed();
    // Instance 1 never answers its probe.
    s.health.push(HealthRule {
        vm: None,
        scale_set: Some("app-*".into()),
        instances: vec!["1".into()],
        version: None,
        state: AppHealth::Silent,
    });
    let (env, t2, t1) = env_with(s).await;
    let (id, body) = scale_set(
        "app-ss",
        3,
        health_ext(
            "2.0",
            json!({"protocol": "http", "port": 80, "requestPath": "/health", "intervalInSeconds": 10, "numberOfProbes": 2, "gracePeriod": 120}),
        ),
    );
    let r = env
        .arm(
            Method::PUT,
            &format!("{id}?api-version={COMPUTE_API}"),
            Some(&t2),
            &[&t1],
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        health_codes(&env, &id, &t2).await,
        codes(&["", "", ""]),
        "no health while the instances are created"
    );
    env.sim.advance(Duration::from_secs(61));
    assert_eq!(
        health_codes(&env, &id, &t2).await,
        codes(&["initializing", "initializing", "initializing"])
    );
    env.sim.advance(Duration::from_secs(20));
    assert_eq!(
        health_codes(&env, &id, &t2).await,
        codes(&["healthy", "initializing", "healthy"]),
        "two healthy probes settle it; the silent one waits for the grace period"
    );
    env.sim.advance(Duration::from_secs(100));
    assert_eq!(
        health_codes(&env, &id, &t2).await,
        codes(&["healthy", "unknown", "healthy"])
    );
    // The instance view matches the example's shape, vmHealth included.
    let list = example("scaleset/VirtualMachineScaleSetVM_List_MaximumSet_Gen.json");
    let view = env
        .get(
            &format!("{id}/virtualMachines/1/instanceView?api-version={COMPUTE_API}"),
            &t2,
        )
        .await;
    assert_eq!(view.status, 200);
    let diffs: Vec<String> = shape_diff(
        &list["responses"]["200"]["body"]["value"][0]["properties"]["instanceView"],
        &view.body,
        &["computerName"],
    )
    .into_iter()
    .filter(|d| !d.ends_with(": missing"))
    .collect();
    assert_eq!(diffs, Vec::<String>::new());
    assert_eq!(view.body["vmHealth"]["status"]["level"], "Warning");
    assert_eq!(
        view.body["vmHealth"]["status"]["displayStatus"],
        "The VM health is unknown"
    );
    assert_eq!(
        view.body["extensions"][0]["type"],
        "Microsoft.ManagedServices.ApplicationHealthLinux"
    );

    // A test flips instance 2 to unhealthy at run time, and back.
    let sim_health = format!("{}/_sim/health", env.base);
    let r = env
        .http
        .post(&sim_health)
        .json(&json!({"scale_set": "app-ss", "instances": ["2"], "state": "unhealthy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let listed: Value = env
        .http
        .get(&sim_health)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        health_codes(&env, &id, &t2).await,
        codes(&["healthy", "unknown", "unhealthy"])
    );
    let r = env.http.delete(&sim_health).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        health_codes(&env, &id, &t2).await,
        codes(&["healthy", "unknown", "healthy"])
    );
    // Rules name exactly one of vm / scale_set.
    let bad = env
        .http
        .post(&sim_health)
        .json(&json!({"vm": "a", "scale_set": "b", "state": "healthy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = env
        .http
        .post(&sim_health)
        .json(&json!({"vm": "a", "state": "sleepy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn binary_tcp_health_is_unhealthy_until_its_probes_pass() {
    let (env, t2, t1) = env_with(Scenario::seed()).await;
    let (id, body) = scale_set(
        "bin-ss",
        1,
        health_ext(
            "1.0",
            json!({"protocol": "tcp", "port": 22, "numberOfProbes": 3}),
        ),
    );
    let r = env
        .arm(
            Method::PUT,
            &format!("{id}?api-version={COMPUTE_API}"),
            Some(&t2),
            &[&t1],
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    env.sim.advance(Duration::from_secs(61));
    assert_eq!(health_codes(&env, &id, &t2).await, codes(&["unhealthy"]));
    env.sim.advance(Duration::from_secs(15));
    assert_eq!(health_codes(&env, &id, &t2).await, codes(&["healthy"]));
}

#[tokio::test]
async fn a_scale_set_with_broken_health_settings_fails_its_instances() {
    let (env, t2, t1) = env_with(Scenario::seed()).await;
    let (id, body) = scale_set(
        "bad-ss",
        2,
        health_ext("2.0", json!({"protocol": "tcp", "requestPath": "/health"})),
    );
    let r = env
        .arm(
            Method::PUT,
            &format!("{id}?api-version={COMPUTE_API}"),
            Some(&t2),
            &[&t1],
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    env.sim.advance(Duration::from_secs(61));
    let op = env.get(&env.operation_path(&r), &t2).await;
    assert_eq!(op.body["status"], "Failed");
    assert_eq!(op.body["error"]["code"], "VMExtensionProvisioningError");
    assert!(
        op.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("VM has reported a failure when processing extension 'HealthExtension'.")
    );
    let view = env
        .get(
            &format!("{id}/virtualMachines/0/instanceView?api-version={COMPUTE_API}"),
            &t2,
        )
        .await;
    assert_eq!(view.body["statuses"][0]["code"], "ProvisioningState/failed");
    assert_eq!(
        view.body["extensions"][0]["statuses"][0]["code"],
        "ProvisioningState/failed"
    );
    assert!(view.body.get("vmHealth").is_none());
    let g = env
        .get(&format!("{id}?api-version={COMPUTE_API}"), &t2)
        .await;
    assert_eq!(g.body["properties"]["provisioningState"], "Failed");
}

/// Creates VM `name` (computer name the same) on the hVMNic from the tenant-1 image and waits
/// until it runs; returns its id.
async fn running_vm(env: &Env, t2: &str, t1: &str, name: &str) -> String {
    let nic = env
        .sim
        .resources()
        .into_iter()
        .find(|r| r.id.ends_with("/networkInterfaces/hVMNic"))
        .unwrap()
        .id;
    let mut vm = vm_body(
        json!({"id": version_id("myImageDefinition")}),
        &nic,
        "southcentralus",
        true,
    );
    vm["properties"]["osProfile"]["computerName"] = json!(name);
    let r = env.put_vm(name, t2, &[t1], vm).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    env.sim.advance(Duration::from_secs(31));
    format!("{RG2}/providers/Microsoft.Compute/virtualMachines/{name}")
}

#[tokio::test]
async fn vm_extension_resource_installs_application_health_on_a_vm() {
    let (env, t2, t1) = env_with(Scenario::seed()).await;
    let vm_id = running_vm(&env, &t2, &t1, "web-1").await;
    assert_eq!(env.sim.vm_health(&vm_id), None, "no extension yet");

    // The documented REST example: PUT .../virtualMachines/{vm}/extensions/{name}.
    let ext_path = format!("{vm_id}/extensions/myHealthExtension?api-version={COMPUTE_API}");
    let mut props = health_ext(
        "2.0",
        json!({"protocol": "https", "port": 443, "requestPath": "/healthz", "gracePeriod": 60}),
    );
    props["protectedSettings"] = json!({"token": "do-not-echo"});
    let r = env
        .put(
            &ext_path,
            &t2,
            json!({"location": "southcentralus", "properties": props}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.header("azure-asyncoperation").is_some());
    assert_eq!(
        r.body["type"],
        "Microsoft.Compute/virtualMachines/extensions"
    );
    assert!(!r.body.to_string().contains("do-not-echo"));
    assert_eq!(env.sim.vm_health(&vm_id), None, "still provisioning");
    env.sim.advance(Duration::from_secs(11));
    let code = |env: &Env| {
        env.sim
            .vm_health(&vm_id)
            .map(|v| v["status"]["code"].as_str().unwrap().to_owned())
    };
    assert_eq!(code(&env).as_deref(), Some("HealthState/initializing"));
    env.sim.advance(Duration::from_secs(5));
    assert_eq!(code(&env).as_deref(), Some("HealthState/healthy"));
    // A run-time rule for VMs named web-*.
    env.sim
        .set_health(HealthRule {
            vm: Some("web-*".into()),
            scale_set: None,
            instances: vec![],
            version: None,
            state: AppHealth::Unhealthy,
        })
        .unwrap();
    assert_eq!(code(&env).as_deref(), Some("HealthState/unhealthy"));
    env.sim.clear_health();
    assert_eq!(code(&env).as_deref(), Some("HealthState/healthy"));
    let g = env.get(&ext_path, &t2).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(g.body["location"], "southcentralus");
    // The location is optional (ResourceWithOptionalLocation): the VM's.
    let r = env
        .put(
            &format!("{vm_id}/extensions/other?api-version={COMPUTE_API}"),
            &t2,
            json!({"properties": health_ext("1.0", json!({"protocol": "tcp", "port": 22}))}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["location"], "southcentralus");

    // Settings the extension rejects fail its provisioning.
    let r = env
        .put(
            &format!("{vm_id}/extensions/broken?api-version={COMPUTE_API}"),
            &t2,
            json!({"location": "southcentralus", "properties": health_ext("2.0", json!({"protocol": "http", "intervalInSeconds": 1}))}),
        )
        .await;
    assert_eq!(r.status, 201);
    env.sim.advance(Duration::from_secs(11));
    let op = env.get(&env.operation_path(&r), &t2).await;
    assert_eq!(op.body["status"], "Failed");
    assert_eq!(op.body["error"]["code"], "VMExtensionProvisioningError");
    // A body against the swagger: unknown members are refused.
    let r = env
        .put(
            &format!("{vm_id}/extensions/x?api-version={COMPUTE_API}"),
            &t2,
            json!({"properties": {"publisher": "p", "bogus": 1}}),
        )
        .await;
    r.assert_error(400, "InvalidRequestContent");
    // An extension of a VM that does not exist.
    let r = env
        .put(
            &format!("{RG2}/providers/Microsoft.Compute/virtualMachines/nope/extensions/x?api-version={COMPUTE_API}"),
            &t2,
            json!({"location": "southcentralus", "properties": health_ext("1.0", json!({"protocol": "tcp", "port": 22}))}),
        )
        .await;
    r.assert_error(404, "ParentResourceNotFound");
}

/// The `vmHealth` code GET `…/instanceView` shows and the one GET `?$expand=instanceView` shows.
async fn instance_view_health(
    env: &Env,
    vm_id: &str,
    token: &str,
) -> (Option<String>, Option<String>) {
    let view = env
        .get(
            &format!("{vm_id}/instanceView?api-version={COMPUTE_API}"),
            token,
        )
        .await;
    assert_eq!(view.status, 200, "{:?}", view.body);
    let expanded = env
        .get(
            &format!("{vm_id}?api-version={COMPUTE_API}&$expand=instanceView"),
            token,
        )
        .await;
    assert_eq!(expanded.status, 200, "{:?}", expanded.body);
    let code = |v: &Value| v["vmHealth"]["status"]["code"].as_str().map(str::to_owned);
    (
        code(&view.body),
        code(&expanded.body["properties"]["instanceView"]),
    )
}

#[tokio::test]
async fn a_vm_with_the_health_extension_shows_vm_health_in_its_instance_view() {
    let (env, t2, t1) = env_with(Scenario::seed()).await;
    let vm_id = running_vm(&env, &t2, &t1, "iv-1").await;
    assert_eq!(
        instance_view_health(&env, &vm_id, &t2).await,
        (None, None),
        "no vmHealth without the extension"
    );
    let r = env
        .put(
            &format!("{vm_id}/extensions/health?api-version={COMPUTE_API}"),
            &t2,
            json!({"properties": health_ext("2.0", json!({"protocol": "tcp", "port": 22, "intervalInSeconds": 5}))}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        instance_view_health(&env, &vm_id, &t2).await,
        (None, None),
        "none while the extension is provisioning"
    );
    env.sim.advance(Duration::from_secs(11));
    let initializing = Some("HealthState/initializing".to_owned());
    assert_eq!(
        instance_view_health(&env, &vm_id, &t2).await,
        (initializing.clone(), initializing)
    );
    env.sim.advance(Duration::from_secs(5));
    let healthy = Some("HealthState/healthy".to_owned());
    assert_eq!(
        instance_view_health(&env, &vm_id, &t2).await,
        (healthy.clone(), healthy)
    );
    env.sim
        .set_health(HealthRule {
            vm: Some("iv-*".into()),
            scale_set: None,
            instances: vec![],
            version: None,
            state: AppHealth::Unhealthy,
        })
        .unwrap();
    let unhealthy = Some("HealthState/unhealthy".to_owned());
    assert_eq!(
        instance_view_health(&env, &vm_id, &t2).await,
        (unhealthy.clone(), unhealthy)
    );
    let view = env
        .get(
            &format!("{vm_id}/instanceView?api-version={COMPUTE_API}"),
            &t2,
        )
        .await;
    let hook = env.sim.vm_health(&vm_id).unwrap();
    for field in ["code", "level", "displayStatus"] {
        assert_eq!(
            view.body["vmHealth"]["status"][field],
            hook["status"][field]
        );
    }
    assert!(view.body["vmHealth"]["status"]["time"].is_string());
}
