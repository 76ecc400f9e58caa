//! The trust boundary in process: every step re-admits what it touches, and every request ends
//! in exactly one terminal event whatever the Service Bus answers.

mod support;

use imageferry_contract::{Status, Step};
use serde_json::json;
use support::*;

#[tokio::test]
async fn a_subnet_outside_the_allowed_resource_group_is_rejected() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("subnet-1");
    req["network"]["subnetId"] = json!(format!(
        "/subscriptions/{SUB2}/resourceGroups/otherRG/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    ));
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(done.error.unwrap().code, "SubnetNotAllowed");
    assert!(
        bench.sim.requests().is_empty(),
        "nothing was read or written"
    );
}

#[tokio::test]
async fn the_password_is_read_before_the_first_network_write() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("win-missing");
    req["image"]["id"] = json!(version_id("myWindowsImage"));
    req["vm"] = json!({ "name": "winVM", "size": "Standard_D2s_v5", "adminUsername": "azureadmin",
        "adminPasswordSecretId": format!("{}/secrets/no-such-secret", bench.sim.base_url()), "publicIp": true });
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    assert_eq!(done.error.unwrap().code, "SecretUnavailable");
    assert!(
        bench.arm_requests("PUT", "").is_empty(),
        "no network resource was created: {:#?}",
        bench.arm_requests("PUT", "")
    );
}

#[tokio::test]
async fn a_vault_that_does_not_resolve_fails_at_once_with_a_hint_naming_it() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("win-nx-vault");
    req["image"]["id"] = json!(version_id("myWindowsImage"));
    // A vault name nobody has (Key Vault names are global DNS names under vault.azure.net).
    let host = "imageferry-nx-7f3a9c.vault.azure.net";
    req["vm"] = json!({ "name": "winVM", "size": "Standard_D2s_v5", "adminUsername": "azureadmin",
        "adminPasswordSecretId": format!("https://{host}/secrets/vm-admin-password"), "publicIp": true });
    bench.submit(&req).await;
    let started = std::time::Instant::now();
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    let error = done.error.unwrap();
    if error
        .message
        .contains("Temporary failure in name resolution")
    {
        eprintln!(
            "skipped: this machine's resolver does not answer ({})",
            error.message
        );
        return;
    }
    assert_eq!(error.code, "SecretUnavailable");
    assert!(
        error.message.contains("does not resolve"),
        "{}",
        error.message
    );
    let hint = error.hint.unwrap();
    assert!(
        hint.contains(host) && hint.contains("vault name") && !hint.contains("Secrets User"),
        "{hint}"
    );
    // At once: one delivery of the step, no scheduled retry, no network resource.
    assert_eq!(bench.deliveries_to(Step::ImageVersionReplicated).len(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(bench.arm_requests("PUT", "").is_empty());
}

#[tokio::test]
async fn a_permanent_service_bus_refusal_is_not_retried_and_ends_the_message() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("sb-401")).await;
    // The handler's credentials are now wrong: every send is refused with 401.
    bench.handler_bus(wrong_key_bus(&bench.capture));
    bench.run().await;
    // One delivery, completed: redelivering cannot change a 401. Nothing was published, and the
    // handler said so in an error log line (see the runner) instead of retrying ten times.
    let deliveries: Vec<(String, u32, u16)> = bench
        .deliveries
        .iter()
        .map(|d| (d.function.clone(), d.delivery_count, d.status))
        .collect();
    assert_eq!(
        deliveries,
        [("deployment-requested".to_string(), 1, 200)],
        "{deliveries:#?}"
    );
    assert!(bench.events().is_empty());
    let refused = bench.capture.refused();
    assert!(
        !refused.is_empty() && refused.iter().all(|(status, _)| *status == 401),
        "{refused:#?}"
    );
}

#[tokio::test]
async fn an_enqueued_time_in_year_9999_does_not_panic() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("y9999")).await;
    let message = bench.last_on(Step::DeploymentRequested.as_str());
    let status = bench
        .deliver_edited(&message, 1, |m| {
            m.enqueued_time = time::macros::datetime!(9999-12-31 23:59:59 UTC);
        })
        .await;
    assert_eq!(status, 200);
    // The default deadline saturates at the end of year 9999 instead of overflowing.
    let events = bench.events();
    assert_eq!(events[0].status, Status::Accepted, "{events:#?}");
}

#[tokio::test]
async fn unknown_fields_are_rejected_naming_every_one() {
    let mut bench = Bench::seeded().await;
    let mut req = linux_request("extra-1");
    req["DeliveryCount"] = json!(1);
    req["messageId"] = json!("forged");
    req["vm"]["size"] = json!("Standard_D2s_v5");
    bench.submit(&req).await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected);
    let error = done.error.unwrap();
    assert_eq!(error.code, "UnknownFields");
    assert!(
        error.message.contains("DeliveryCount") && error.message.contains("messageId"),
        "{}",
        error.message
    );
    assert_eq!(done.deployment_id, "extra-1");
    assert_eq!(bench.deliveries.len(), 1);
}

#[tokio::test]
async fn a_forged_step_message_with_a_huge_attempt_is_rejected() {
    let mut bench = Bench::seeded().await;
    let deadline = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body =
        json!({"request": linux_request("attempt-max"), "attempt": u32::MAX, "deadline": deadline});
    bench
        .submit_raw(Step::ReplicationCheck.as_str(), &body.to_string())
        .await;
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Rejected, "{done:#?}");
    assert!(
        done.error
            .unwrap()
            .message
            .contains("largest attempt number")
    );
    // The largest accepted attempt counts on without overflowing; the chain still ends in
    // exactly one terminal event (its successor is out of range and rejected).
    let mut bench = Bench::seeded().await;
    let body = json!({"request": linux_request("attempt-top"), "attempt": imageferry_contract::steps::MAX_ATTEMPT, "deadline": deadline});
    bench
        .submit_raw(Step::ReplicationCheck.as_str(), &body.to_string())
        .await;
    bench.run().await;
    let done = bench.terminal();
    assert!(done.status.is_terminal(), "{done:#?}");
}
