//! The pipeline across real processes: the `azure-sim` binary, the `handler` binary started as
//! the Functions host starts a custom handler, and the Service Bus stand-in whose messages the
//! local host's delivery code hands to it over the host's HTTP protocol.

use std::time::Duration;

use local_run::stack::seed;
use local_run::{LocalStack, LocalStackOptions};
use serde_json::{Value, json};

const EVENTS: &str = "deployment-events";
/// The stand-in's Key Vault secret value in its default scenario (a local-only value).
const SIM_PASSWORD: &str = "Local-Sim-Passw0rd!";
/// An Ed25519 public key blob of the right shape (32 key bytes), used only by these tests.
const E2E_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyOnlyForTheEndToEndTestsXXXXXXXXXX e2e";

async fn stack() -> LocalStack {
    let mut options = LocalStackOptions::for_repository();
    options.time_scale = Some(60.0);
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

fn request(deployment_id: &str, image: &str, vm_name: &str) -> Value {
    json!({
        "deploymentId": deployment_id,
        "image": {
            "id": format!("/subscriptions/{}/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/{image}/versions/1.0.0", seed::SUBSCRIPTION_1),
            "tenantId": seed::TENANT_1
        },
        "target": {
            "tenantId": seed::TENANT_2,
            "subscriptionId": seed::SUBSCRIPTION_2,
            "resourceGroup": seed::RESOURCE_GROUP,
            "location": "southcentralus"
        },
        "vm": { "name": vm_name, "size": "Standard_D2s_v5", "adminUsername": "azureuser", "publicIp": true },
        "network": { "allowInboundFrom": ["203.0.113.0/24"] }
    })
}

fn statuses(stack: &LocalStack) -> Vec<String> {
    stack
        .events(EVENTS)
        .iter()
        .filter_map(|e| e.json()?["status"].as_str().map(str::to_string))
        .collect()
}

fn terminal(stack: &LocalStack) -> Option<Value> {
    stack
        .events(EVENTS)
        .iter()
        .filter_map(|e| e.json())
        .find(|v| {
            matches!(
                v["status"].as_str(),
                Some("succeeded" | "failed" | "rejected")
            )
        })
}

async fn run_to_end(stack: &mut LocalStack) -> Value {
    let done = stack
        .pump
        .run_until(Duration::from_secs(90), |bus| {
            bus.accepted(EVENTS).iter().any(|e| {
                e.json().is_some_and(|v| {
                    matches!(
                        v["status"].as_str(),
                        Some("succeeded" | "failed" | "rejected")
                    )
                })
            })
        })
        .await;
    assert!(
        done,
        "no terminal event; history: {:#?}",
        stack.pump.history()
    );
    terminal(stack).unwrap()
}

async fn sim_requests(stack: &LocalStack) -> Vec<Value> {
    reqwest::get(format!("{}/_sim/requests", stack.azure.base_url))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_deployment_runs_end_to_end_across_processes() {
    let mut stack = stack().await;
    let mut body = request("e2e-linux", "myImageDefinition", "e2eLinux");
    body["vm"]["sshPublicKey"] = json!(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyOnlyForTheEndToEndTestsXXXXXXXXXX e2e"
    );
    stack
        .send(
            "deployment-requested",
            &body.to_string(),
            "e2e-linux:request",
        )
        .await
        .unwrap();
    let end = run_to_end(&mut stack).await;
    assert_eq!(end["status"], "succeeded", "{end:#}");
    let vm_id = end["vmId"].as_str().unwrap();
    assert!(
        vm_id.ends_with("/providers/Microsoft.Compute/virtualMachines/e2eLinux"),
        "{vm_id}"
    );
    // The seeds' network: the NIC sits in 192.168.1.0/24 (first usable address .4), and the
    // static public IP has an address.
    assert_eq!(end["privateIpAddress"], "192.168.1.4", "{end:#}");
    assert!(end["publicIpAddress"].as_str().is_some(), "{end:#}");
    let seen = statuses(&stack);
    for expected in ["accepted", "replicated", "provisioning", "succeeded"] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} missing in {seen:?}"
        );
    }
    assert_eq!(
        seen.iter()
            .filter(|s| matches!(s.as_str(), "succeeded" | "failed" | "rejected"))
            .count(),
        1,
        "exactly one terminal event: {seen:?}"
    );
    // Every message was completed; none went to the dead-letter queue.
    assert!(stack.pump.dead_letters().is_empty());

    // ARM saw the cross-tenant VM PUT with the auxiliary tenant-1 token, and only that PUT.
    let requests = sim_requests(&stack).await;
    let vm_puts: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["method"] == "PUT" && r["path"].as_str().unwrap().contains("/virtualMachines/")
        })
        .collect();
    assert_eq!(vm_puts.len(), 1, "{vm_puts:#?}");
    assert_eq!(vm_puts[0]["status"], 201);
    assert_eq!(vm_puts[0]["aux_header"], true);
    assert_eq!(vm_puts[0]["aux_tenants"], json!([seed::TENANT_1]));
    assert_eq!(vm_puts[0]["token_tenant"], seed::TENANT_2);
    assert!(
        requests
            .iter()
            .filter(|r| r["method"] == "PUT"
                && !r["path"].as_str().unwrap().contains("/virtualMachines/"))
            .all(|r| r["aux_header"] == false),
        "the auxiliary token goes only on the VM PUT"
    );

    // The handler logged JSON lines with one span per invocation, and never the client secret.
    let code = stack.handler.shutdown().await;
    assert_eq!(code, Some(0), "SIGTERM stops the handler cleanly");
    let log = std::fs::read_to_string(&stack.handler_log).unwrap();
    assert!(
        !log.contains(seed::CLIENT_SECRET),
        "client secret in the handler log"
    );
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.to_string().contains("vm-provisioning"))
    );
    for m in stack.bus.all() {
        assert!(!m.body.contains(seed::CLIENT_SECRET));
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_password_is_read_from_key_vault_and_never_travels() {
    let mut stack = stack().await;
    let mut body = request("e2e-windows", "myWindowsImage", "e2eWin");
    body["vm"]["adminPasswordSecretId"] = json!(format!(
        "{}/secrets/vm-admin-password",
        stack.azure.base_url
    ));
    stack
        .send(
            "deployment-requested",
            &body.to_string(),
            "e2e-windows:request",
        )
        .await
        .unwrap();
    let end = run_to_end(&mut stack).await;
    assert_eq!(end["status"], "succeeded", "{end:#}");
    for m in stack.bus.all() {
        assert!(
            !m.body.contains(SIM_PASSWORD),
            "password in a message to {}",
            m.entity
        );
    }
    stack.handler.shutdown().await;
    let log = std::fs::read_to_string(&stack.handler_log).unwrap();
    assert!(!log.contains(SIM_PASSWORD), "password in the handler log");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_message_is_rejected_once_with_its_body_and_never_retried() {
    let mut stack = stack().await;
    let raw = r#"{"deploymentId":"Not Valid!","image":{"id":"/nope"}}"#;
    stack
        .send("deployment-requested", raw, "bad-1")
        .await
        .unwrap();
    let end = run_to_end(&mut stack).await;
    assert_eq!(end["status"], "rejected", "{end:#}");
    let carried = end["request"].to_string() + &end["rawBody"].to_string();
    assert!(
        carried.contains("Not Valid!"),
        "the event carries the original body: {end:#}"
    );
    let history = stack.pump.history();
    assert_eq!(history.len(), 1, "one delivery, completed: {history:#?}");
    assert!(stack.pump.dead_letters().is_empty());
    stack.shutdown().await;
}

/// Issue 10, Marketplace row: the seeded `myMarketplaceImage` has a purchase plan whose terms
/// the target subscription accepted; the VM carries the plan (azure-sim refuses it otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_image_vm_carries_the_plan_across_processes() {
    let mut stack = stack().await;
    let mut body = request("e2e-plan", "myMarketplaceImage", "e2ePlan");
    body["vm"]["sshPublicKey"] = json!(E2E_KEY);
    stack
        .send(
            "deployment-requested",
            &body.to_string(),
            "e2e-plan:request",
        )
        .await
        .unwrap();
    let end = run_to_end(&mut stack).await;
    assert_eq!(end["status"], "succeeded", "{end:#}");
    let vm: Value = reqwest::get(format!("{}/_sim/resources", stack.azure.base_url))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|id| id.ends_with("/virtualMachines/e2ePlan"))
        })
        .expect("the VM exists");
    assert_eq!(
        vm["body"]["plan"],
        json!({"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"})
    );
    stack.shutdown().await;
}

/// Issue 10, computer-name row: a VM name with `_` and `.` (valid for ARM's VM name) gets the
/// computer name `az vm create` would derive; a Windows name of 16 characters is refused before
/// anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computer_names_follow_azure_rules_across_processes() {
    let mut stack = stack().await;
    let mut linux = request("e2e-cn", "myImageDefinition", "web_node.01");
    linux["vm"]["sshPublicKey"] = json!(E2E_KEY);
    stack
        .send("deployment-requested", &linux.to_string(), "e2e-cn:request")
        .await
        .unwrap();
    let end = run_to_end(&mut stack).await;
    assert_eq!(end["status"], "succeeded", "{end:#}");
    let resources = reqwest::get(format!("{}/_sim/resources", stack.azure.base_url))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap();
    let vm = resources
        .iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|id| id.ends_with("/virtualMachines/web_node.01"))
        })
        .expect("the VM exists");
    assert_eq!(
        vm["body"]["properties"]["osProfile"]["computerName"],
        "webnode01"
    );
    stack.shutdown().await;

    let mut win_stack = self::stack().await;
    let mut windows = request("e2e-cn-win", "myWindowsImage", "build-agent-0042");
    windows["vm"]["adminPasswordSecretId"] = json!(format!(
        "{}/secrets/vm-admin-password",
        win_stack.azure.base_url
    ));
    win_stack
        .send(
            "deployment-requested",
            &windows.to_string(),
            "e2e-cn-win:request",
        )
        .await
        .unwrap();
    let end = run_to_end(&mut win_stack).await;
    assert_eq!(end["status"], "rejected", "{end:#}");
    assert!(
        end["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vm.name"),
        "{end:#}"
    );
    let puts = sim_requests(&win_stack)
        .await
        .into_iter()
        .filter(|r| {
            // ARM writes only: the status store's table writes land on the same stand-in.
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/subscriptions/"))
        })
        .collect::<Vec<_>>();
    assert_eq!(puts.len(), 0, "nothing was written to ARM: {puts:#?}");
    win_stack.shutdown().await;
}
