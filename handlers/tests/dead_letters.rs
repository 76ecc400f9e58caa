//! The dead-letter functions (`<queue>-dead-letters` on `<queue>/$DeadLetterQueue`): a
//! deployment whose step message Service Bus dead-lettered ends `failed` with the reason, once.

mod support;

use imageferry_contract::{DeploymentEvent, Status, Step};
use serde_json::json;
use support::*;

/// What Service Bus adds to a message it dead-letters after its last delivery.
fn dead_lettered(m: &mut functions_runtime::host_wire::HostMessage) {
    m.application_properties
        .insert("DeadLetterReason".into(), json!("MaxDeliveryCountExceeded"));
    m.application_properties.insert(
        "DeadLetterErrorDescription".into(),
        json!("Message could not be consumed after 10 delivery attempts."),
    );
}

#[tokio::test]
async fn a_dead_lettered_step_message_ends_its_deployment_failed_with_the_reason() {
    let mut bench = Bench::seeded().await;
    let store = bench.with_status_store().await;
    bench.submit(&linux_request("dlq-1")).await;
    let request = bench.last_on(Step::DeploymentRequested.as_str());
    // Its every delivery died with the handler; Service Bus moved it to the dead-letter queue.
    let status = bench
        .deliver_to(
            "deployment-requested-dead-letters",
            &request,
            11,
            dead_lettered,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        bench.deliveries.last().unwrap().logs[0]
            .ends_with("failed: DeadLettered (MaxDeliveryCountExceeded)"),
        "{:?}",
        bench.deliveries.last().unwrap().logs
    );
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    assert_eq!(done.step, Step::DeploymentRequested);
    let error = done.error.unwrap();
    assert_eq!(error.code, "DeadLettered");
    for part in [
        "MaxDeliveryCountExceeded",
        "Message could not be consumed after 10 delivery attempts.",
        "deployment-requested message",
    ] {
        assert!(error.message.contains(part), "{part}: {}", error.message);
    }
    assert!(error.hint.unwrap().contains("same deploymentId"));
    assert_eq!(
        store.terminal("dlq-1").await.unwrap().unwrap().status,
        Status::Failed
    );
    // The same dead letter again (a redelivery of the dead-letter queue): nothing new.
    bench
        .deliver_to(
            "deployment-requested-dead-letters",
            &request,
            12,
            dead_lettered,
        )
        .await;
    assert_eq!(bench.terminal().status, Status::Failed);
}

#[tokio::test]
async fn a_dead_lettered_message_of_a_deployment_that_ended_is_only_logged() {
    let mut bench = Bench::seeded().await;
    bench.with_status_store().await;
    bench.submit(&linux_request("dlq-2")).await;
    bench.run().await;
    // A duplicate copy of a poll, dead-lettered after the deployment succeeded.
    let poll = bench.last_on(Step::VmProvisioning.as_str());
    let status = bench
        .deliver_to("vm-provisioning-dead-letters", &poll, 10, dead_lettered)
        .await;
    assert_eq!(status, 200);
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded);
    let logs = &bench.deliveries.last().unwrap().logs;
    assert!(
        logs.iter()
            .any(|l| l.ends_with("already succeeded; MaxDeliveryCountExceeded")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn an_outcome_claimed_but_never_published_is_published_from_the_dead_letter_queue() {
    let mut bench = Bench::seeded().await;
    let store = bench.with_status_store().await;
    bench.submit(&linux_request("dlq-3")).await;
    let request = bench.last_on(Step::DeploymentRequested.as_str());
    // The handler claimed `succeeded` and was killed before publishing it, on the last delivery.
    let claimed = DeploymentEvent::new(
        "dlq-3",
        Status::Succeeded,
        Step::VmProvisioning,
        bench.app.clock.now(),
        "claimed, never published",
    );
    store
        .claim_terminal(&claimed, "dlq-3:succeeded")
        .await
        .unwrap();
    bench
        .deliver_to(
            "deployment-requested-dead-letters",
            &request,
            10,
            dead_lettered,
        )
        .await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(done.detail, "claimed, never published");
    assert!(store.terminal("dlq-3").await.unwrap().unwrap().published);
}

#[tokio::test]
async fn a_dead_letter_naming_no_deployment_records_nothing() {
    let mut bench = Bench::seeded().await;
    bench.with_status_store().await;
    bench
        .submit_raw(Step::ReplicationCheck.as_str(), "not json at all")
        .await;
    let junk = bench.last_on(Step::ReplicationCheck.as_str());
    let status = bench
        .deliver_to("replication-check-dead-letters", &junk, 10, dead_lettered)
        .await;
    assert_eq!(status, 200);
    assert!(bench.events().is_empty(), "{:#?}", bench.events());
}
