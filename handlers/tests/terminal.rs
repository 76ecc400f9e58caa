//! Exactly one terminal outcome per deployment, arbitrated by the status store's terminal claim
//! (an insert-only entity): whichever outcome is claimed first is the only one published.

mod support;

use imageferry_contract::{DeploymentEvent, Status, Step};
use serde_json::json;
use support::*;

/// A retry chain that began `minutes` ago: its next transient failure is past the outage budget.
fn exhausted_chain(m: &mut functions_runtime::host_wire::HostMessage, origin: &str, since: &str) {
    m.application_properties
        .insert("imageferryRetryOf".into(), json!(origin));
    m.application_properties
        .insert("imageferryRetry".into(), json!("7"));
    m.application_properties
        .insert("imageferryRetrySince".into(), json!(since));
}

fn hour_ago(bench: &Bench) -> String {
    (bench.app.clock.now() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_step_racing_its_own_duplicate_to_two_outcomes_publishes_one_terminal_event() {
    let mut bench = Bench::seeded().await;
    let store = bench.with_status_store().await;
    bench.submit(&linux_request("race-1")).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);

    // A duplicate copy of the last vm-provisioning poll arrives late, at the end of its retry
    // chain, while ARM is down: its outcome would be `failed` (RetriesExhausted).
    let poll = bench.last_on(Step::VmProvisioning.as_str());
    let mut faults = bench.sim.faults();
    faults.server_error_rate = 1.0;
    bench.sim.set_faults(faults);
    let origin = poll.broker.message_id.clone().unwrap();
    let since = hour_ago(&bench);
    let status = bench
        .deliver_edited(&poll, 1, |m| exhausted_chain(m, &origin, &since))
        .await;
    assert_eq!(status, 200);

    // Still one terminal event: the succeeded one. The failure was not published, and the
    // handler said why.
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    let logs = &bench.deliveries.last().unwrap().logs;
    assert_eq!(
        logs.as_slice(),
        [
            "vm-provisioning \"race-1\" (delivery 1): failed: RetriesExhausted (not published: deployment race-1 already succeeded)"
        ],
        "the invocation's log line says why"
    );
    let claim = store.terminal("race-1").await.unwrap().unwrap();
    assert_eq!(claim.status, Status::Succeeded);
    assert_eq!(claim.message_id, "race-1:succeeded");
    assert!(claim.published);
    assert_eq!(
        store.get("race-1").await.unwrap().unwrap().status,
        Status::Succeeded
    );
}

#[tokio::test]
async fn the_failure_claimed_first_is_the_only_terminal_event() {
    let mut bench = Bench::seeded().await;
    let store = bench.with_status_store().await;
    bench.submit(&linux_request("race-2")).await;
    let request = bench.last_on(Step::DeploymentRequested.as_str());
    // A copy of the request at the end of its retry chain, while ARM is down, fails first.
    let mut faults = bench.sim.faults();
    faults.server_error_rate = 1.0;
    bench.sim.set_faults(faults.clone());
    let origin = request.broker.message_id.clone().unwrap();
    let since = hour_ago(&bench);
    let status = bench
        .deliver_edited(&request, 1, |m| exhausted_chain(m, &origin, &since))
        .await;
    assert_eq!(status, 200);
    // ARM is back and the original copy goes through the whole pipeline: it ends too, but the
    // deployment already has its outcome.
    faults.server_error_rate = 0.0;
    bench.sim.set_faults(faults);
    bench.run().await;
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed, "{done:#?}");
    assert_eq!(done.error.unwrap().code, "RetriesExhausted");
    let claim = store.terminal("race-2").await.unwrap().unwrap();
    assert_eq!(
        (claim.status, claim.published),
        (Status::Failed, true),
        "{claim:#?}"
    );
}

#[tokio::test]
async fn an_outcome_claimed_but_not_published_is_published_by_its_next_attempt() {
    let mut bench = Bench::seeded().await;
    let store = bench.with_status_store().await;
    // An earlier attempt claimed `succeeded` and died before publishing it.
    let earlier = DeploymentEvent::new(
        "crash-1",
        Status::Succeeded,
        Step::VmProvisioning,
        bench.app.clock.now(),
        "claimed by an attempt that died before publishing",
    );
    store
        .claim_terminal(&earlier, "crash-1:succeeded")
        .await
        .unwrap();
    bench.submit(&linux_request("crash-1")).await;
    bench.run().await;
    // The pipeline reached the same outcome and published the claimed event, once.
    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(done.detail, earlier.detail);
    assert!(store.terminal("crash-1").await.unwrap().unwrap().published);
}

#[tokio::test]
async fn without_a_status_store_terminal_events_are_not_arbitrated() {
    // What the README says is left without a store: events are published at least once, and a
    // late duplicate can add a second, different terminal event.
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("no-store-1")).await;
    bench.run().await;
    let poll = bench.last_on(Step::VmProvisioning.as_str());
    let mut faults = bench.sim.faults();
    faults.server_error_rate = 1.0;
    bench.sim.set_faults(faults);
    let origin = poll.broker.message_id.clone().unwrap();
    let since = hour_ago(&bench);
    bench
        .deliver_edited(&poll, 1, |m| exhausted_chain(m, &origin, &since))
        .await;
    let terminal: Vec<Status> = bench
        .events()
        .iter()
        .filter(|e| e.status.is_terminal())
        .map(|e| e.status)
        .collect();
    assert_eq!(terminal, [Status::Succeeded, Status::Failed]);
}
