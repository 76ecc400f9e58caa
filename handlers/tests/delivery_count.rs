//! The runtime's safety net for a forged delivery count.

mod support;

use imageferry_contract::{Status, Step};
use support::*;

/// A top-level body
/// field named `DeliveryCount` hides the real count (the host copies body fields into the
/// trigger metadata). The runtime reports the count as unknown and the step treats it as the
/// last delivery, so a transient failure still ends in a recorded `failed` event.
#[tokio::test]
async fn a_shadowed_delivery_count_counts_as_the_last_delivery() {
    let mut scenario = scenario();
    scenario.faults.server_error_rate = 1.0;
    let mut bench = Bench::start(scenario, config()).await;
    let mut request = linux_request("shadow-1");
    request["DeliveryCount"] = serde_json::json!(1);
    bench.submit(&request).await;
    bench.run().await;
    let deliveries = bench.deliveries_to(Step::DeploymentRequested);
    if let Some(rejected) = bench.events().iter().find(|e| e.status == Status::Rejected) {
        // Unknown top-level fields are rejected outright (issue 9): also a recorded outcome.
        assert_eq!(deliveries.len(), 1, "{rejected:?}");
        return;
    }
    let done = bench.terminal();
    assert_eq!(done.status, Status::Failed);
    assert_eq!(done.error.unwrap().code, "RetriesExhausted");
    assert_eq!(deliveries.len(), 1, "no redelivery on an unknown count");
}
