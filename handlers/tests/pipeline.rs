//! The four steps against the Azure stand-in and a capture of Service Bus sends.

mod support;

use imageferry_contract::{Status, Step};
use serde_json::json;
use support::*;

#[tokio::test]
async fn linux_happy_path() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("web-canary-42")).await;
    bench.run().await;

    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert_eq!(done.vm_id.as_deref(), Some(vm_id("myVM").as_str()));
    // The addresses are the ones ARM reports on the NIC and the public IP.
    let network = |kind: &str, name: &str| {
        format!(
            "/subscriptions/{SUB2}/resourceGroups/myResourceGroup/providers/Microsoft.Network/{kind}/{name}"
        )
    };
    let nic = bench.resource(&network("networkInterfaces", "myVM-nic"));
    let ip = &nic["properties"]["ipConfigurations"][0]["properties"];
    assert!(done.private_ip_address.is_some(), "{done:#?}");
    assert_eq!(
        done.private_ip_address.as_deref(),
        ip["privateIPAddress"].as_str()
    );
    assert_eq!(
        ip["publicIPAddress"]["id"],
        network("publicIPAddresses", "myVM-pip")
    );
    let pip = bench.resource(&network("publicIPAddresses", "myVM-pip"));
    assert_eq!(pip["sku"]["name"], "Standard");
    assert_eq!(pip["properties"]["publicIPAllocationMethod"], "Static");
    assert_eq!(
        done.public_ip_address.as_deref(),
        pip["properties"]["ipAddress"].as_str()
    );
    let vnet = bench.resource(&network("virtualNetworks", "myVM-vnet"));
    assert_eq!(
        vnet["properties"]["addressSpace"]["addressPrefixes"],
        json!(["192.168.0.0/16"])
    );
    let statuses = bench.statuses();
    assert_eq!(statuses.first(), Some(&Status::Accepted));
    for expected in [
        Status::WaitingForReplication,
        Status::Replicated,
        Status::Provisioning,
    ] {
        assert!(statuses.contains(&expected), "{statuses:?}");
    }

    // One VM create, carrying a tenant-1 auxiliary token; network PUTs carry none.
    let vm_puts = bench.arm_requests("PUT", "/virtualMachines/myVM");
    assert_eq!(vm_puts.len(), 1, "{vm_puts:#?}");
    assert!(vm_puts[0].aux_header);
    assert_eq!(vm_puts[0].aux_tenants, [TENANT1]);
    assert_eq!(vm_puts[0].token_tenant.as_deref(), Some(TENANT2));
    let with_aux: Vec<_> = bench
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.aux_header)
        .collect();
    assert!(
        with_aux
            .iter()
            .all(|r| r.method == "PUT" && r.path.ends_with("/virtualMachines/myVM")),
        "only the VM PUT carries the auxiliary token: {with_aux:#?}"
    );

    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(vm["tags"]["imageferry-deployment"], "web-canary-42");
    assert_eq!(vm["tags"]["team"], "web");
    let nsg = bench.resource(&network("networkSecurityGroups", "myVM-nsg"));
    let rule = &nsg["properties"]["securityRules"][0]["properties"];
    assert_eq!(rule["destinationPortRange"], "22");
    assert_eq!(rule["sourceAddressPrefix"], "203.0.113.0/24");

    // Events carry deploymentId/status application properties and deterministic MessageIds.
    let terminal = bench
        .capture
        .accepted(EVENTS)
        .into_iter()
        .find(|m| m.broker.message_id.as_deref() == Some("web-canary-42:succeeded"))
        .expect("terminal event MessageId");
    // Names keep their case (the sender uses the batch form's UserProperties), so a
    // subscription filter on `deploymentId` matches.
    let property = |name: &str| terminal.application_properties.get(name).cloned();
    assert_eq!(property("deploymentId"), Some(json!("web-canary-42")));
    assert_eq!(property("status"), Some(json!("succeeded")));
    assert_eq!(
        terminal.broker.correlation_id.as_deref(),
        Some("web-canary-42")
    );
    assert!(
        bench.deliveries.iter().all(|d| d.status == 200),
        "{:#?}",
        bench.deliveries
    );
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn windows_happy_path_never_leaks_the_password() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("win-1");
    req["image"]["id"] = json!(version_id("myWindowsImage"));
    req["vm"] = json!({ "name": "winVM", "size": "Standard_D2s_v5", "adminUsername": "azureadmin",
                        "adminPasswordSecretId": bench.password_secret_id(), "publicIp": false });
    bench.submit(&req).await;
    bench.run().await;

    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert_eq!(done.public_ip_address, None);
    let nsg = bench.resource(&format!("/subscriptions/{SUB2}/resourceGroups/myResourceGroup/providers/Microsoft.Network/networkSecurityGroups/winVM-nsg"));
    assert_eq!(
        nsg["properties"]["securityRules"][0]["properties"]["destinationPortRange"],
        "3389"
    );
    // The password was read from Key Vault (home tenant token) and travelled only in the VM PUT.
    let kv = bench
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/secrets/"))
        .collect::<Vec<_>>();
    assert_eq!(kv.len(), 1, "{kv:#?}");
    assert_eq!(kv[0].token_tenant.as_deref(), Some(TENANT1));
    for m in bench.capture.all() {
        let text = format!("{} {:?} {:?}", m.body, m.application_properties, m.broker);
        assert!(
            !text.contains(WINDOWS_PASSWORD),
            "password leaked into {}: {text}",
            m.entity
        );
    }
}

#[tokio::test]
async fn waits_through_several_replication_checks_with_backoff() {
    let mut bench = Bench::seeded().await;
    let start = bench.app.clock.now();
    bench.submit(&linux_request("slow-1")).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);

    // South Central US replicates in 120 s; checks follow 10, 20, 40, 60 s (capped) backoff.
    let checks = bench.capture.accepted(Step::ReplicationCheck.as_str());
    let ids: Vec<_> = checks
        .iter()
        .map(|m| m.broker.message_id.clone().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=4)
            .map(|n| format!("slow-1:replication-check:{n}"))
            .collect::<Vec<_>>()
    );
    let offsets: Vec<i64> = checks
        .iter()
        .map(|m| (m.broker.scheduled_enqueue_time_utc.unwrap() - start).whole_seconds())
        .collect();
    for (offset, expected) in offsets.iter().zip([10, 30, 70, 130]) {
        // ScheduledEnqueueTimeUtc travels as RFC 1123 (whole seconds).
        assert!((expected - 1..expected + 3).contains(offset), "{offsets:?}");
    }
    let waiting: Vec<_> = bench
        .events()
        .into_iter()
        .filter(|e| e.status == Status::WaitingForReplication)
        .collect();
    assert_eq!(waiting.len(), 4);
    assert_eq!(waiting[0].progress.as_ref().unwrap().state, "Replicating");
}

#[tokio::test]
async fn replication_failure_fails_with_the_reason() {
    let mut bench = Bench::seeded().await;
    bench
        .sim
        .fail_replication(&version_id("myImageDefinition"), "South Central US")
        .unwrap();
    bench.submit(&linux_request("repl-fail")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "ReplicationFailed", "{error:#?}");
    assert!(error.hint.is_some());
    assert!(
        bench
            .arm_requests("PUT", "/virtualMachines/myVM")
            .is_empty()
    );
}

#[tokio::test]
async fn deadline_fails_with_the_last_progress_seen() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("late-1");
    // West US 2 takes 600 s to replicate; the deadline is in 90 s.
    req["target"]["location"] = json!("westus2");
    req["deadline"] = json!(rfc3339(bench.app.clock.now() + time::Duration::seconds(90)));
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    assert_eq!(done.step, Step::ReplicationCheck);
    let error = done.error.unwrap();
    assert_eq!(error.code, "DeadlineExceeded", "{error:#?}");
    assert!(
        error
            .message
            .contains("last progress: Replicating in West US 2"),
        "{}",
        error.message
    );
    assert_eq!(done.progress.unwrap().region, "West US 2");
}

#[tokio::test]
async fn not_consented_in_the_target_tenant_fails_with_the_consent_url() {
    let mut scenario = scenario();
    scenario.apps[0].consented_tenants.retain(|t| t != TENANT2);
    let mut bench = Bench::start(scenario, config()).await;
    bench.submit(&linux_request("no-consent")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "AppNotConsented", "{error:#?}");
    assert!(error.hint.unwrap().contains(TENANT2));
    assert!(
        bench.deliveries.iter().all(|d| d.status == 200),
        "permanent: no redelivery"
    );
}

#[tokio::test]
async fn missing_reader_role_on_the_gallery_fails_with_a_hint() {
    let mut scenario = scenario();
    scenario
        .role_assignments
        .retain(|r| r.role != azure_sim::scenario::Role::Reader);
    let mut bench = Bench::start(scenario, config()).await;
    bench.submit(&linux_request("no-reader")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "AuthorizationFailed", "{error:#?}");
    assert!(error.hint.unwrap().contains("Reader"));
}

#[tokio::test]
async fn target_not_on_the_allow_list_is_rejected_with_the_original_body() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("elsewhere");
    req["target"]["resourceGroup"] = json!("otherRG");
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(done.error.unwrap().code, "TargetNotAllowed");
    assert_eq!(done.request, Some(req));
    assert!(
        bench
            .sim
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/subscriptions/")),
        "no ARM call"
    );
}

#[tokio::test]
async fn region_not_targeted_is_rejected_naming_the_listed_regions() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("east-1");
    req["target"]["location"] = json!("eastus");
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    let error = done.error.unwrap();
    assert_eq!(error.code, "RegionNotTargeted");
    assert!(
        error.message.contains("South Central US, West US 2"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn specialized_image_gets_no_os_profile() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("spec-1");
    req["image"]["id"] = json!(version_id("mySpecializedImage"));
    req["vm"] = json!({ "name": "specVM", "size": "Standard_D2s_v5" });
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("specVM"));
    assert!(vm["properties"].get("osProfile").is_none(), "{vm:#}");
}

#[tokio::test]
async fn specialized_image_with_an_admin_account_is_rejected() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("spec-2");
    req["image"]["id"] = json!(version_id("mySpecializedImage"));
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    let error = done.error.unwrap();
    assert!(
        error
            .message
            .contains("vm.adminUsername: not allowed for a specialized image"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("vm.sshPublicKey"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn trusted_launch_image_gets_a_security_profile() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("tl-1");
    req["image"]["id"] = json!(version_id("myTrustedLaunchImage"));
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(
        vm["properties"]["securityProfile"]["securityType"], "TrustedLaunch",
        "{vm:#}"
    );
    assert_eq!(
        vm["properties"]["securityProfile"]["uefiSettings"]["secureBootEnabled"],
        true
    );
}

#[tokio::test]
async fn direct_shared_gallery_needs_no_auxiliary_token() {
    let mut bench = Bench::seeded().await;
    let shared =
        format!("/SharedGalleries/{SUB1}-MYGALLERY/Images/myImageDefinition/Versions/1.0.0");
    let mut req = linux_request("shared-1");
    req["image"] = json!({ "id": shared });
    // A shared version is visible in a region only once replicated there.
    bench
        .sim
        .complete_replication(&version_id("myImageDefinition"), "South Central US")
        .unwrap();
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    let vm_puts = bench.arm_requests("PUT", "/virtualMachines/myVM");
    assert_eq!(vm_puts.len(), 1);
    assert!(!vm_puts[0].aux_header);
    // Everything, the location-scoped image reads included, used the tenant-2 token.
    let arm: Vec<_> = bench
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/subscriptions/"))
        .collect();
    assert!(
        arm.iter()
            .all(|r| r.token_tenant.as_deref() == Some(TENANT2)),
        "{arm:#?}"
    );
    assert!(arm.iter().any(|r| r.path.contains("/sharedGalleries/")));
    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(
        vm["properties"]["storageProfile"]["imageReference"]["sharedGalleryImageId"],
        json!(shared)
    );
}

#[tokio::test]
async fn every_step_delivered_twice_creates_one_vm_and_one_terminal_event() {
    let mut bench = Bench::seeded().await;
    bench.deliver_twice = true;
    bench.submit(&linux_request("twice-1")).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    for step in Step::ALL {
        let d = bench.deliveries_to(step);
        assert!(!d.is_empty() && d.len() % 2 == 0, "{step}: {d:#?}");
    }
    let created: Vec<_> = bench
        .arm_requests("PUT", "/virtualMachines/myVM")
        .into_iter()
        .filter(|r| r.status == 201)
        .collect();
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(
        bench.arm_requests("PUT", "/virtualMachines/myVM").len(),
        1,
        "the redelivery found the VM"
    );
    // The repeats were sent again with the same MessageId and dropped by duplicate detection.
    assert!(bench.capture.all().iter().any(|m| m.duplicate));
    let terminal_sends = bench
        .capture
        .sent(EVENTS)
        .into_iter()
        .filter(|m| m.broker.message_id.as_deref() == Some("twice-1:succeeded"))
        .count();
    assert_eq!(terminal_sends, 2);
}

#[tokio::test]
async fn throttling_on_arm_calls_still_succeeds() {
    let mut scenario = scenario();
    scenario.faults.throttle_rate = 0.5;
    let mut bench = Bench::start(scenario, config()).await;
    bench.submit(&linux_request("busy-1")).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let throttled = bench
        .sim
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(throttled >= 5, "{throttled} throttled requests");
}

#[tokio::test]
async fn undecodable_body_is_rejected_with_the_raw_body() {
    let mut bench = Bench::seeded().await;
    bench
        .submit_raw(Step::DeploymentRequested.as_str(), "this is { not json")
        .await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(done.error.as_ref().unwrap().code, "UndecodableBody");
    assert_eq!(done.raw_body.as_deref(), Some("this is { not json"));
    assert_eq!(done.deployment_id, "");
}

#[tokio::test]
async fn invalid_request_is_rejected_listing_every_problem() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("bad-1");
    req["vm"]["adminUsername"] = json!("root");
    req["network"]["allowInboundFrom"] = json!(["10.1.2.3/8"]);
    req["target"]["subscriptionId"] = json!("not-a-guid");
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(done.deployment_id, "bad-1");
    let sent = bench.capture.accepted(EVENTS);
    assert!(
        sent[0]
            .broker
            .message_id
            .as_deref()
            .unwrap()
            .starts_with("bad-1:rejected:")
    );
    let message = done.error.unwrap().message;
    for path in [
        "target.subscriptionId",
        "vm.adminUsername",
        "network.allowInboundFrom[0]",
    ] {
        assert!(message.contains(path), "{message}");
    }
    assert_eq!(done.request, Some(req));
}

#[tokio::test]
async fn an_arm_outage_longer_than_the_outage_budget_records_failed_naming_it() {
    let mut scenario = scenario();
    scenario.faults.server_error_rate = 1.0;
    let mut bench = Bench::start(scenario, config()).await;
    bench.submit(&linux_request("down-1")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "RetriesExhausted", "{error:#?}");
    for part in [
        "gave up after 30m",
        "the outage budget of 30m 0s (IMAGEFERRY_OUTAGE_BUDGET) is spent",
        "ARM server error",
    ] {
        assert!(error.message.contains(part), "{part}: {}", error.message);
    }
    // Every attempt completed its message: the retries were scheduled, never redelivered.
    assert!(
        bench
            .deliveries
            .iter()
            .all(|d| d.status == 200 && d.delivery_count == 1),
        "{:#?}",
        bench.deliveries
    );
    assert!(bench.deliveries.len() > 5, "{}", bench.deliveries.len());
}

/// ARM answers 500/503 to everything for ten (simulated) minutes: the deployment waits on
/// scheduled retries and succeeds once ARM is back, with one terminal event.
#[tokio::test]
async fn an_arm_outage_shorter_than_the_outage_budget_ends_succeeded() {
    let mut scenario = scenario();
    scenario.faults.server_error_rate = 1.0;
    let mut bench = Bench::start(scenario, config()).await;
    let started = bench.app.clock.now();
    let (app, faults) = (
        bench.app.clone(),
        format!("{}/_sim/faults", bench.sim.base_url()),
    );
    let recovery = tokio::spawn(async move {
        while app.clock.now() - started < time::Duration::minutes(10) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        reqwest::Client::new()
            .post(faults)
            .json(&json!({"retry_after_secs": 0}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    });
    bench.submit(&linux_request("outage-1")).await;
    bench.run().await;
    assert!(recovery.is_finished(), "the outage lasted its ten minutes");
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    let retries = bench
        .capture
        .sent(Step::DeploymentRequested.as_str())
        .iter()
        .filter(|m| {
            m.broker
                .message_id
                .as_deref()
                .is_some_and(|id| id.contains(":retry-"))
        })
        .count();
    assert!(retries >= 4, "{retries} retries");
    assert!(bench.app.clock.now() - started >= time::Duration::minutes(10));
    assert_eq!(bench.arm_requests("PUT", "/virtualMachines/myVM").len(), 1);
}

#[tokio::test]
async fn existing_vm_from_another_deployment_is_a_conflict() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("first-1")).await;
    bench.run().await;
    bench.submit(&linux_request("second-1")).await;
    bench.run().await;
    let second: Vec<_> = bench
        .events()
        .into_iter()
        .filter(|e| e.deployment_id == "second-1" && e.status.is_terminal())
        .collect();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].status, Status::Failed);
    assert_eq!(second[0].error.as_ref().unwrap().code, "Conflict");
    assert_eq!(
        bench.arm_requests("PUT", "/virtualMachines/myVM").len(),
        1,
        "never overwritten"
    );
    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(vm["tags"]["imageferry-deployment"], "first-1");
}

#[tokio::test]
async fn a_pipeline_may_send_image_version_replicated_directly() {
    let mut bench = Bench::seeded().await;
    bench
        .sim
        .complete_replication(&version_id("myImageDefinition"), "South Central US")
        .unwrap();
    bench
        .submit_raw(
            Step::ImageVersionReplicated.as_str(),
            &linux_request("direct-1").to_string(),
        )
        .await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    assert_eq!(
        bench.statuses()[..2],
        [Status::Accepted, Status::Replicated]
    );
    assert!(bench.deliveries_to(Step::DeploymentRequested).is_empty());
}

#[tokio::test]
async fn the_handler_serves_exactly_the_four_steps_and_their_dead_letter_functions() {
    let bench = Bench::seeded().await;
    let mut names = imageferry_handlers::functions(bench.app.clone()).names();
    names.sort();
    assert_eq!(
        names,
        [
            "deployment-requested",
            "deployment-requested-dead-letters",
            "image-version-replicated",
            "image-version-replicated-dead-letters",
            "replication-check",
            "replication-check-dead-letters",
            "vm-provisioning",
            "vm-provisioning-dead-letters"
        ]
    );
}

#[tokio::test]
async fn image_not_replicated_after_all_goes_back_to_waiting() {
    // A pipeline claims the version is replicated before it is: the step re-verifies and waits.
    let mut bench = Bench::seeded().await;
    bench
        .submit_raw(
            Step::ImageVersionReplicated.as_str(),
            &linux_request("early-1").to_string(),
        )
        .await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    let ivr: Vec<_> = bench
        .capture
        .accepted(Step::ImageVersionReplicated.as_str())
        .into_iter()
        .filter_map(|m| m.broker.message_id)
        .collect();
    // The pipeline's own message, then the hand-over after the 4th check (a fresh MessageId).
    assert_eq!(ivr.len(), 2, "{ivr:?}");
    assert_eq!(ivr[1], "early-1:image-version-replicated:4");
}

#[tokio::test]
async fn community_gallery_reference() {
    let mut bench = Bench::seeded().await;
    let community =
        "/CommunityGalleries/myGalleryPublic-0a1b2c3d/Images/myImageDefinition/Versions/1.0.0";
    let mut req = linux_request("community-1");
    req["image"] = json!({ "id": community });
    bench
        .sim
        .complete_replication(&version_id("myImageDefinition"), "South Central US")
        .unwrap();
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert!(bench.sim.requests().iter().all(|r| !r.aux_header));
    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(
        vm["properties"]["storageProfile"]["imageReference"]["communityGalleryImageId"],
        json!(community)
    );
}

#[tokio::test]
async fn failed_vm_provisioning_reports_arms_error_with_a_hint() {
    let mut scenario = scenario();
    scenario.lro.fail_vms = vec!["myVM".into()];
    let mut bench = Bench::start(scenario, config()).await;
    bench.submit(&linux_request("boot-fail")).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    assert_eq!(done.step, Step::VmProvisioning);
    let error = done.error.unwrap();
    assert_eq!(error.code, "OSProvisioningTimedOut", "{error:#?}");
    assert!(
        error.message.contains("did not finish"),
        "{}",
        error.message
    );
    let hint = error.hint.unwrap();
    assert!(
        hint.contains("may still finish") && hint.contains("generalized"),
        "{hint}"
    );
}

#[tokio::test]
async fn an_invalid_deployment_id_is_not_used_as_an_id() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("x");
    req["deploymentId"] = json!("Not:A Valid/Id".repeat(20));
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(done.deployment_id, "");
    assert_eq!(done.request, Some(req));
    assert!(done.error.unwrap().message.contains("deploymentId"));
}

#[tokio::test]
async fn deadline_applies_while_the_vm_provisions() {
    let mut scenario = scenario();
    scenario.lro.vm_secs = 3600.0;
    let mut bench = Bench::start(scenario, config()).await;
    bench
        .sim
        .complete_replication(&version_id("myImageDefinition"), "South Central US")
        .unwrap();
    let mut req = linux_request("slow-vm");
    req["deadline"] = json!(rfc3339(bench.app.clock.now() + time::Duration::minutes(5)));
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    assert_eq!(done.step, Step::VmProvisioning);
    let error = done.error.unwrap();
    assert_eq!(error.code, "DeadlineExceeded");
    assert!(
        error.message.contains("still provisioning (InProgress)"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn missing_resource_group_is_created_only_when_allowed() {
    // Contributor on the whole target subscription, so the app may create resource groups.
    let mut scenario = scenario();
    scenario
        .role_assignments
        .push(azure_sim::scenario::RoleAssignment {
            principal: CLIENT_ID.into(),
            role: azure_sim::scenario::Role::Contributor,
            scope: format!("/subscriptions/{SUB2}"),
        });
    let mut cfg = config();
    cfg.allowed_targets = imageferry_handlers::AllowList::Any;
    let mut req = linux_request("new-rg");
    req["target"]["resourceGroup"] = json!("newRG");

    let mut bench = Bench::start(scenario.clone(), cfg.clone()).await;
    bench.submit(&req).await;
    bench.run().await;
    let error = bench.terminal().error.unwrap();
    assert_eq!(error.code, "ResourceGroupNotFound", "{error:#?}");
    assert!(
        error
            .hint
            .unwrap()
            .contains("IMAGEFERRY_CREATE_RESOURCE_GROUP")
    );
    assert!(
        bench
            .arm_requests("PUT", "/resourceGroups/newRG")
            .is_empty()
    );

    cfg.create_resource_group = true;
    let mut bench = Bench::start(scenario, cfg).await;
    bench.submit(&req).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);
    assert_eq!(bench.arm_requests("PUT", "/resourceGroups/newRG").len(), 1);
    let rg = bench.resource(&format!("/subscriptions/{SUB2}/resourceGroups/newRG"));
    assert_eq!(rg["tags"]["imageferry-deployment"], "new-rg");
}
