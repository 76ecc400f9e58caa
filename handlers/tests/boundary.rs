//! The trust boundary and the last-delivery safety net, in process: forged `vm-provisioning`
//! messages, secret ids at admission, the step budget and its continuation, and what happens
//! when Service Bus refuses on the last delivery.

mod support;

use azure_clients::{ArmClient, Endpoints, KeyVaultSecrets, RetryPolicy};
use imageferry_contract::{Status, Step};
use imageferry_handlers::AllowList;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

fn vm_provisioning(bench: &Bench, id: &str, vm_id: &str, operation: Option<Value>) -> String {
    let mut body = json!({
        "request": linux_request(id),
        "attempt": 1,
        "deadline": days_from_now(bench, 1),
        "vmId": vm_id,
    });
    if let Some(op) = operation {
        body["operation"] = op;
    }
    body.to_string()
}

#[tokio::test]
async fn a_vm_provisioning_message_naming_a_foreign_vm_is_rejected_without_reading_it() {
    let mut bench = Bench::seeded().await;
    let foreign = "/subscriptions/cccccccc-cccc-4ccc-8ccc-cccccccccccc/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM";
    let body = vm_provisioning(&bench, "forged-vm", foreign, None);
    let status = bench
        .send_and_deliver(Step::VmProvisioning.as_str(), &body, 1)
        .await;
    assert_eq!(status, 200);
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    let error = done.error.unwrap();
    assert_eq!(error.code, "ForeignResource", "{error:?}");
    assert!(error.message.contains(foreign), "{}", error.message);
    assert!(
        bench.sim.requests().is_empty(),
        "nothing was read: {:#?}",
        bench.sim.requests()
    );
    // A `../` path that starts in the target resource group is the same refusal.
    let mut bench = Bench::seeded().await;
    let climbing = format!("{}/../../../../cccccccc/x", vm_id("myVM"));
    let body = vm_provisioning(&bench, "forged-dots", &climbing, None);
    bench
        .send_and_deliver(Step::VmProvisioning.as_str(), &body, 1)
        .await;
    assert_eq!(bench.terminal().error.unwrap().code, "ForeignResource");
    assert!(bench.sim.requests().is_empty());
}

#[tokio::test]
async fn an_operation_url_outside_the_target_subscription_is_rejected_without_following_it() {
    for url in [
        // On the ARM host, but under another subscription.
        "{sim}/subscriptions/cccccccc-cccc-4ccc-8ccc-cccccccccccc/providers/Microsoft.Compute/locations/southcentralus/operations/op1?api-version=2025-04-01",
        // Another host.
        "https://attacker.example/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/providers/Microsoft.Compute/locations/southcentralus/operations/op1",
        // The target subscription, another region.
        "{sim}/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/providers/Microsoft.Compute/locations/westus/operations/op1",
    ] {
        let mut bench = Bench::seeded().await;
        let url = url.replace("{sim}", &bench.sim.base_url());
        let op = json!({"url": url, "kind": "azureAsyncOperation"});
        let body = vm_provisioning(&bench, "forged-op", &vm_id("myVM"), Some(op));
        let status = bench
            .send_and_deliver(Step::VmProvisioning.as_str(), &body, 1)
            .await;
        assert_eq!(status, 200);
        let done = bench.terminal();
        assert_eq!(done.status, Status::Rejected, "{url}");
        assert_eq!(done.error.unwrap().code, "UntrustedUrl", "{url}");
        assert!(bench.sim.requests().is_empty(), "{url}: nothing followed");
    }
}

fn windows_request(id: &str, secret_id: &str) -> Value {
    let mut req = linux_request(id);
    req["image"]["id"] = json!(version_id("myWindowsImage"));
    req["vm"] = json!({ "name": "winVM", "size": "Standard_D2s_v5", "adminUsername": "azureadmin",
        "adminPasswordSecretId": secret_id, "publicIp": true });
    req
}

/// Delivers `req` to `deployment-requested` once and returns the events it published.
async fn admit_once(bench: &mut Bench, req: &Value) -> Vec<imageferry_contract::DeploymentEvent> {
    let status = bench
        .send_and_deliver(Step::DeploymentRequested.as_str(), &req.to_string(), 1)
        .await;
    assert_eq!(status, 200);
    bench.events()
}

#[tokio::test]
async fn secret_ids_outside_the_clouds_vaults_are_rejected_at_admission() {
    for secret_id in [
        // Plain http on loopback (not the configured stand-in): would receive a bearer token.
        "http://127.0.0.1:9/secrets/pw",
        // https, but not the cloud's Key Vault suffix.
        "https://vault.attacker.example/secrets/pw",
        // The cloud's suffix followed by another domain.
        "https://myvault.vault.azure.net.attacker.example/secrets/pw",
    ] {
        let mut bench = Bench::seeded().await;
        let events = admit_once(&mut bench, &windows_request("secret-1", secret_id)).await;
        let done = bench.terminal();
        assert_eq!(done.status, Status::Rejected, "{secret_id}: {events:#?}");
        let error = done.error.unwrap();
        assert_eq!(error.code, "UntrustedSecretId", "{secret_id}");
        assert!(
            error.message.contains("vault.azure.net"),
            "{}",
            error.message
        );
        assert!(
            bench.sim.requests().is_empty(),
            "{secret_id}: refused before any read"
        );
    }
}

#[tokio::test]
async fn the_vault_allow_list_limits_secret_ids_at_admission() {
    let mut config = config();
    config.allowed_vaults = AllowList::Only(vec!["myvault".into()]);
    let mut bench = Bench::start(scenario(), config.clone()).await;
    let events = admit_once(
        &mut bench,
        &windows_request(
            "vault-other",
            "https://othervault.vault.azure.net/secrets/pw",
        ),
    )
    .await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected, "{events:#?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "UntrustedSecretId");
    assert!(
        error.message.contains("IMAGEFERRY_ALLOWED_VAULTS") && error.message.contains("myvault"),
        "{}",
        error.message
    );
    // The listed vault is admitted: the request is accepted (the secret is read later, by
    // image-version-replicated, before the first write).
    let mut bench = Bench::start(scenario(), config).await;
    let events = admit_once(
        &mut bench,
        &windows_request("vault-listed", "https://myvault.vault.azure.net/secrets/pw"),
    )
    .await;
    assert!(
        events.iter().any(|e| e.status == Status::Accepted)
            && events.iter().all(|e| e.status != Status::Rejected),
        "{events:#?}"
    );
}

#[tokio::test]
async fn a_step_over_its_budget_retries_on_schedule_then_records_failed() {
    let mut config = config();
    // Any ARM read outlasts this budget.
    config.step_budget = Duration::from_nanos(1);
    let mut bench = Bench::start(scenario(), config).await;
    bench.submit(&linux_request("budget-1")).await;
    let started = bench.app.clock.now();
    bench.run().await;
    let deliveries = bench.deliveries_to(Step::DeploymentRequested);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == 200 && d.delivery_count == 1),
        "every attempt completes its message (no redelivery): {deliveries:#?}"
    );
    // Scheduled retries with growing delays until the outage budget (30 min) is spent.
    let retries: Vec<String> = bench
        .capture
        .sent(Step::DeploymentRequested.as_str())
        .iter()
        .filter_map(|m| m.broker.message_id.clone())
        .filter(|id| id.contains(":retry-"))
        .collect();
    assert!(
        (8..=40).contains(&retries.len()),
        "{} retries: {retries:?}",
        retries.len()
    );
    assert_eq!(deliveries.len(), retries.len() + 1);
    let waited = bench.app.clock.now() - started;
    assert!(
        waited >= time::Duration::minutes(30) && waited < time::Duration::minutes(36),
        "{waited}"
    );
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "RetriesExhausted");
    for part in [
        "StepBudgetExceeded",
        "IMAGEFERRY_OUTAGE_BUDGET",
        "gave up after 30m",
    ] {
        assert!(error.message.contains(part), "{part}: {}", error.message);
    }
}

#[tokio::test]
async fn a_network_outlasting_the_budget_continues_in_a_scheduled_message() {
    let mut scenario = scenario();
    // Every network resource takes 3 s (real time); the budget is 1 s, so each one outlasts a
    // delivery and is picked up by a continuation one provisioning poll later.
    scenario.lro.network_secs = 3.0;
    let mut config = config();
    config.step_budget = Duration::from_secs(1);
    let mut bench = Bench::start(scenario, config).await;
    bench.submit(&linux_request("continue-1")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    let continued: Vec<String> = bench
        .capture
        .sent(Step::ImageVersionReplicated.as_str())
        .iter()
        .filter_map(|m| m.broker.message_id.clone())
        .filter(|id| id.contains(":continued-"))
        .collect();
    assert!(!continued.is_empty(), "no continuation was scheduled");
    // The continuation polled what existed instead of PUTting it again: one PUT per resource.
    for suffix in [
        "/virtualNetworks/myVM-vnet",
        "/networkSecurityGroups/myVM-nsg",
        "/networkInterfaces/myVM-nic",
    ] {
        assert_eq!(bench.arm_requests("PUT", suffix).len(), 1, "{suffix}");
    }
    assert!(
        bench
            .deliveries
            .iter()
            .all(|d| (200..300).contains(&d.status)),
        "no step answered 500: {:#?}",
        bench.deliveries
    );
}

#[tokio::test]
async fn when_the_events_topic_refuses_on_the_last_delivery_an_error_line_names_the_deployment() {
    let (logs, _guard) = LogBuffer::capture();
    let mut config = config();
    config.allowed_galleries = AllowList::Only(Vec::new());
    let mut bench = Bench::start(scenario(), config).await;
    bench.submit(&linux_request("lost-event-1")).await;
    let message = bench.last_on(Step::DeploymentRequested.as_str());
    // Every send from now on is refused (503), whatever the retries.
    bench.capture.fail_next(1000);
    let max = bench.app.config.max_delivery_count;
    let status = bench.deliver_edited(&message, max, |_| {}).await;
    assert_eq!(status, 200, "the message completes: redelivery cannot help");
    assert!(bench.events().is_empty());
    let line = logs.error_with("could not be published");
    for part in [
        "lost-event-1",
        "GalleryNotAllowed",
        "ServiceBusSendFailed",
        "rejected",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

#[tokio::test]
async fn a_steps_own_send_failing_on_the_last_delivery_still_records_failed() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("own-send-1")).await;
    let message = bench.last_on(Step::DeploymentRequested.as_str());
    // The step's first send (its `accepted` event) is refused through all its attempts (the
    // bench's sender tries 4 times), and so is the retry it schedules; the terminal event after
    // them goes through.
    bench.capture.fail_next(8);
    let max = bench.app.config.max_delivery_count;
    let status = bench.deliver_edited(&message, max, |_| {}).await;
    assert_eq!(status, 200);
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "RetriesExhausted");
    for part in ["ServiceBusSendFailed", "could not be scheduled"] {
        assert!(
            error.message.contains(part),
            "the reason is recorded: {}",
            error.message
        );
    }
    // Before the last delivery the same failures are redelivered instead (the last resort).
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("own-send-2")).await;
    let message = bench.last_on(Step::DeploymentRequested.as_str());
    bench.capture.fail_next(8);
    let status = bench.deliver_edited(&message, 1, |_| {}).await;
    assert_eq!(status, 500);
    // When only the step's own send fails, it schedules its retry, which succeeds.
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("own-send-3")).await;
    let message = bench.last_on(Step::DeploymentRequested.as_str());
    bench.capture.fail_next(4);
    assert_eq!(bench.deliver_edited(&message, 1, |_| {}).await, 200);
    let retry = bench.last_on(Step::DeploymentRequested.as_str());
    assert_eq!(
        retry.broker.message_id.as_deref(),
        Some(format!("{}:retry-1", message.broker.message_id.as_deref().unwrap()).as_str())
    );
    assert!(
        retry.visible_at() > bench.app.clock.now(),
        "scheduled later"
    );
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
}

/// A stand-in ARM that answers the token request and the VM GET: the VM's create failed, and
/// its instance view says why (ComputeRP `InstanceViewStatus`, `ProvisioningState/failed/{code}`).
async fn failed_vm_arm(code: Option<&'static str>) -> (url::Url, Arc<Mutex<Vec<String>>>) {
    use axum::extract::{RawQuery, Request};
    use axum::routing::{get, post};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let router = axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(|| async {
                axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "at"}))
            }),
        )
        .route(
            "/subscriptions/{*rest}",
            get(move |RawQuery(query): RawQuery, req: Request| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(format!(
                        "{}?{}",
                        req.uri().path(),
                        query.unwrap_or_default()
                    ));
                    let statuses = match code {
                        Some(code) => json!([
                            {"code": format!("ProvisioningState/failed/{code}"), "level": "Error",
                             "displayStatus": "Provisioning failed",
                             "message": format!("{code}: the create failed")},
                            {"code": "PowerState/stopped", "level": "Info"}
                        ]),
                        None => json!([]),
                    };
                    axum::Json(json!({
                        "id": req.uri().path(), "name": "myVM", "location": "southcentralus",
                        "tags": {"imageferry-deployment": "vm-direct"},
                        "properties": {"provisioningState": "Failed", "instanceView": {"statuses": statuses}}
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    (format!("http://{addr}/").parse().unwrap(), seen)
}

fn clients(base: &url::Url) -> (ArmClient, KeyVaultSecrets) {
    let endpoints = Endpoints::local(base).unwrap();
    let tokens = token_provider(&endpoints);
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_total: Duration::from_secs(5),
        poll_interval: Duration::from_millis(5),
        operation_timeout: Duration::from_secs(10),
    };
    (
        ArmClient::new(endpoints.clone(), tokens.clone(), retry.clone()),
        KeyVaultSecrets::new(&endpoints, tokens, retry),
    )
}

/// Polls the VM itself (no operation URL) once, with the stand-in ARM saying the create failed
/// with `code`; returns the bench.
async fn poll_failed_vm(code: Option<&'static str>) -> (Bench, Vec<String>) {
    let mut bench = Bench::seeded().await;
    let (base, seen) = failed_vm_arm(code).await;
    let (arm, secrets) = clients(&base);
    bench.handler_clients(arm, secrets);
    let body = vm_provisioning(&bench, "vm-direct", &vm_id("myVM"), None);
    let status = bench
        .send_and_deliver(Step::VmProvisioning.as_str(), &body, 1)
        .await;
    assert_eq!(status, 200);
    let seen = seen.lock().unwrap().clone();
    (bench, seen)
}

#[tokio::test]
async fn a_capacity_failure_seen_on_the_vm_itself_is_retried_like_the_operations() {
    for code in [
        "AllocationFailed",
        "ZonalAllocationFailed",
        "SkuNotAvailable",
    ] {
        let (bench, seen) = poll_failed_vm(Some(code)).await;
        assert!(
            seen.iter().any(|p| p.contains("expand=instanceView")),
            "the VM is read with its instance view: {seen:?}"
        );
        // Not reported: image-version-replicated is scheduled for capacity retry 1.
        assert!(
            bench.events().iter().all(|e| !e.status.is_terminal()),
            "{code}: {:#?}",
            bench.events()
        );
        let retry = bench.last_on(Step::ImageVersionReplicated.as_str());
        let body = retry.json().unwrap();
        assert_eq!(
            body["attempt"],
            imageferry_handlers::capacity::base(1),
            "{code}"
        );
        assert!(
            retry.visible_at() > bench.app.clock.now(),
            "scheduled later"
        );
        assert!(
            bench
                .events()
                .iter()
                .any(|e| e.detail.contains("no capacity") && e.detail.contains(code)),
            "{code}: {:#?}",
            bench.events()
        );
    }
}

#[tokio::test]
async fn an_os_provisioning_timeout_seen_on_the_vm_itself_gets_its_own_code_and_hint() {
    let (bench, _) = poll_failed_vm(Some("OSProvisioningTimedOut")).await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "OSProvisioningTimedOut");
    assert!(error.hint.unwrap().contains("generalized"));
    // Without a provisioning status in the instance view: the generic failure.
    let (bench, _) = poll_failed_vm(None).await;
    let error = bench.terminal().error.unwrap();
    assert_eq!(error.code, "ProvisioningFailed");
    assert!(
        bench
            .capture
            .sent(Step::ImageVersionReplicated.as_str())
            .is_empty()
    );
}
