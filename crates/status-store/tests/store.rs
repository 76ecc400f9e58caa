//! The status store against azure-sim's Table service, with Entra tokens from its token endpoint
//! (the identity-based production path).

use azure_clients::{Endpoints, TokenProvider};
use imageferry_contract::{DeploymentEvent, EventError, Status, Step};
use serde_json::json;
use status_store::{ListFilter, Recorded, StatusSettings, StatusStore};
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

const APP: &str = "33333333-3333-4333-8333-333333333333";
const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";

async fn store(sim: &azure_sim::SimHandle) -> StatusStore {
    let base = url::Url::parse(&sim.base_url()).unwrap();
    let endpoints = Endpoints::local(&base).unwrap();
    let vars = |k: &str| match k {
        "AZURE_CLIENT_ID" => Some(APP.to_owned()),
        "AZURE_CLIENT_SECRET" => Some("local-sim-secret".to_owned()),
        "AZURE_TENANT_ID" => Some(T1.to_owned()),
        "IMAGEFERRY_STATUS_TABLE_ENDPOINT" => Some(format!("{}/table/", sim.base_url())),
        _ => None,
    };
    let tokens = Arc::new(TokenProvider::from_vars(&endpoints, vars).unwrap());
    let settings = StatusSettings::from_vars(vars).unwrap();
    let store = settings.store(Some(tokens)).unwrap().expect("enabled");
    store.ensure_table().await.unwrap();
    store
}

fn event(id: &str, status: Status, at: OffsetDateTime) -> DeploymentEvent {
    DeploymentEvent::new(
        id,
        status,
        Step::DeploymentRequested,
        at,
        format!("{status} detail"),
    )
}

fn accepted(id: &str, version: &str, tenant: &str, at: OffsetDateTime) -> DeploymentEvent {
    let mut e = event(id, Status::Accepted, at);
    e.request = Some(json!({
        "deploymentId": id,
        "image": {"id": format!("/subscriptions/aaaa/resourceGroups/g/providers/Microsoft.Compute/galleries/myGallery/images/def/versions/{version}")},
        "target": {"tenantId": tenant, "subscriptionId": "bbbb", "resourceGroup": "rg", "location": "westus2"},
        "vm": {"name": "myVM"}
    }));
    e
}

#[tokio::test]
async fn records_timelines_and_never_moves_a_terminal_status_back() {
    let sim = azure_sim::start(azure_sim::Scenario::seed(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let store = store(&sim).await;
    let t0 = datetime!(2026-12-01 10:00:00 UTC);
    let s = time::Duration::seconds;

    assert_eq!(store.get("web-1").await.unwrap(), None);
    store
        .record(&accepted("web-1", "1.2.3", T2, t0))
        .await
        .unwrap();
    let mut waiting = event("web-1", Status::WaitingForReplication, t0 + s(1));
    waiting.progress = Some(imageferry_contract::ReplicationProgress {
        region: "West US 2".into(),
        state: "Replicating".into(),
        percent: Some(40),
        provisioning_state: None,
        details: None,
        observed_at: t0,
    });
    store.record(&waiting).await.unwrap();
    let now = store.get("web-1").await.unwrap().unwrap();
    assert_eq!(now.status, Status::WaitingForReplication);
    assert_eq!(now.progress.as_ref().unwrap().percent, Some(40));
    assert_eq!(
        now.image_version.as_deref(),
        Some("1.2.3"),
        "kept from accepted"
    );
    assert_eq!(now.target_tenant_id.as_deref(), Some(T2));
    assert_eq!(now.vm_name.as_deref(), Some("myVM"));

    let mut failed = event("web-1", Status::Failed, t0 + s(3));
    failed.error = Some(EventError {
        code: "LinkedAuthorizationFailed".into(),
        message: "no Reader".into(),
        hint: Some("assign Reader".into()),
    });
    assert_eq!(
        store.record(&failed).await.unwrap(),
        Recorded::EventAndStatus
    );
    // Recorded again (at-least-once): same rows.
    assert_eq!(
        store.record(&failed).await.unwrap(),
        Recorded::EventAndStatus
    );
    // A late progress event does not move the terminal status back; nor does an older one.
    let late = event("web-1", Status::Provisioning, t0 + s(5));
    assert_eq!(store.record(&late).await.unwrap(), Recorded::EventOnly);
    let now = store.get("web-1").await.unwrap().unwrap();
    assert_eq!(now.status, Status::Failed);
    assert_eq!(
        now.error.as_ref().unwrap().code,
        "LinkedAuthorizationFailed"
    );
    assert_eq!(now.progress, None);

    // Non-terminal events out of order: the newer one stays.
    store
        .record(&event("web-2", Status::Replicated, t0 + s(10)))
        .await
        .unwrap();
    let older = event("web-2", Status::WaitingForReplication, t0 + s(9));
    assert_eq!(store.record(&older).await.unwrap(), Recorded::EventOnly);
    assert_eq!(
        store.get("web-2").await.unwrap().unwrap().status,
        Status::Replicated
    );

    // The timeline: every event once, oldest first.
    let events = store.events("web-1").await.unwrap();
    let statuses: Vec<Status> = events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Accepted,
            Status::WaitingForReplication,
            Status::Failed,
            Status::Provisioning
        ]
    );

    // list: by status, image version and target tenant, most recent first.
    store
        .record(&accepted("web-3", "1.2.3", T1, t0 + s(20)))
        .await
        .unwrap();
    store
        .record(&event("web-3", Status::Succeeded, t0 + s(30)))
        .await
        .unwrap();
    store
        .record(&accepted("web-4", "2.0.0", T2, t0 + s(40)))
        .await
        .unwrap();
    let ids = |v: Vec<status_store::DeploymentStatus>| {
        v.into_iter().map(|d| d.deployment_id).collect::<Vec<_>>()
    };
    let all = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(ids(all), ["web-4", "web-3", "web-2", "web-1"]);
    let got_123 = ListFilter {
        image_version: Some("1.2.3".into()),
        ..ListFilter::default()
    };
    assert_eq!(ids(store.list(&got_123).await.unwrap()), ["web-3", "web-1"]);
    let in_t2 = ListFilter {
        target_tenant: Some(T2.into()),
        ..ListFilter::default()
    };
    assert_eq!(ids(store.list(&in_t2).await.unwrap()), ["web-4", "web-1"]);
    let succeeded = ListFilter {
        status: Some(Status::Succeeded),
        limit: 1,
        ..ListFilter::default()
    };
    assert_eq!(ids(store.list(&succeeded).await.unwrap()), ["web-3"]);

    // An event without a usable id is refused, not written.
    assert!(
        store
            .record(&event("", Status::Rejected, t0))
            .await
            .is_err()
    );
    sim.shutdown().await;
}

#[test]
fn settings_pick_the_connection_then_the_endpoint_and_are_off_without_either() {
    let none = StatusSettings::from_vars(|_| None).unwrap();
    assert!(matches!(none, StatusSettings::Disabled));
    let uri = StatusSettings::from_vars(|k| match k {
        "AzureWebJobsStorage__tableServiceUri" => Some("https://st.table.core.windows.net".into()),
        "AZURE_TENANT_ID" => Some(T1.into()),
        _ => None,
    })
    .unwrap();
    assert!(matches!(uri, StatusSettings::Entra { ref table, .. } if table == "deployments"));
    let insecure = StatusSettings::from_vars(|k| match k {
        "IMAGEFERRY_STATUS_TABLE_ENDPOINT" => Some("http://st.example.com/".into()),
        "AZURE_TENANT_ID" => Some(T1.into()),
        _ => None,
    });
    assert!(insecure.is_err());
    let no_tenant = StatusSettings::from_vars(|k| {
        (k == "IMAGEFERRY_STATUS_TABLE_ENDPOINT")
            .then(|| "https://st.table.core.windows.net".into())
    });
    assert!(
        no_tenant
            .unwrap_err()
            .to_string()
            .contains("AZURE_TENANT_ID")
    );
    let azurite = StatusSettings::from_vars(|k| {
        (k == "IMAGEFERRY_STATUS_TABLE_CONNECTION").then(|| "UseDevelopmentStorage=true".into())
    })
    .unwrap();
    assert!(matches!(azurite, StatusSettings::Connection { .. }));
}

/// azure-sim's Insert Entity answers as Azurite does (`azure-clients --test table_azurite` runs
/// the same assertions there): the first insert of a key wins, every later one is told the
/// entity exists and changes nothing, one of eight racers wins, a missing table is named.
#[tokio::test]
async fn the_stand_in_inserts_like_the_table_service() {
    use azure_clients::table::{Entity, TableAuth, TableClient, TableError};
    let sim = azure_sim::start(azure_sim::Scenario::seed(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = url::Url::parse(&sim.base_url()).unwrap();
    let endpoints = Endpoints::local(&base).unwrap();
    let vars = |k: &str| match k {
        "AZURE_CLIENT_ID" => Some(APP.to_owned()),
        "AZURE_CLIENT_SECRET" => Some("local-sim-secret".to_owned()),
        "AZURE_TENANT_ID" => Some(T1.to_owned()),
        _ => None,
    };
    let tokens = Arc::new(TokenProvider::from_vars(&endpoints, vars).unwrap());
    let client = TableClient::new(
        url::Url::parse(&format!("{}/table/", sim.base_url())).unwrap(),
        TableAuth::Entra {
            tokens,
            tenant: T1.into(),
        },
    );
    let entity = |pk: &str, rk: &str, props: serde_json::Value| -> Entity {
        let mut e = props.as_object().cloned().unwrap_or_default();
        e.insert("PartitionKey".into(), pk.into());
        e.insert("RowKey".into(), rk.into());
        e
    };
    assert!(client.create_table("deployments").await.unwrap());
    let first = entity("web-3", "terminal", json!({"Status": "succeeded"}));
    assert!(client.insert("deployments", &first).await.unwrap());
    let second = entity("web-3", "terminal", json!({"Status": "failed"}));
    assert!(!client.insert("deployments", &second).await.unwrap());
    let got = client
        .get("deployments", "web-3", "terminal")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["Status"], "succeeded");
    let racers = (0..8).map(|i| {
        let client = client.clone();
        let e = entity("web-4", "terminal", json!({"I": i}));
        async move { client.insert("deployments", &e).await.unwrap() }
    });
    let won = futures::future::join_all(racers).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let err = client
        .insert("nosuchtable", &entity("a", "b", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, TableError::TableNotFound(_)), "{err:?}");
}

/// Two different terminal outcomes of one deployment racing: exactly one claim wins, the other
/// finds it (status, MessageId and the event itself); the claim is marked published.
#[tokio::test]
async fn exactly_one_terminal_outcome_is_claimed() {
    use status_store::Claim;
    let sim = azure_sim::start(azure_sim::Scenario::seed(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let store = store(&sim).await;
    let t0 = datetime!(2026-12-01 10:00:00 UTC);
    let mut succeeded = event("race-1", Status::Succeeded, t0);
    succeeded.step = Step::VmProvisioning;
    let mut failed = event("race-1", Status::Failed, t0);
    failed.error = Some(EventError {
        code: "RetriesExhausted".into(),
        message: "gave up".into(),
        hint: None,
    });
    assert!(store.terminal("race-1").await.unwrap().is_none());
    let (a, b) = tokio::join!(
        store.claim_terminal(&succeeded, "race-1:succeeded"),
        store.claim_terminal(&failed, "race-1:failed"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (winner, held) = match (&a, &b) {
        (Claim::Won, Claim::Held(h)) => (&succeeded, h),
        (Claim::Held(h), Claim::Won) => (&failed, h),
        other => panic!("expected one winner: {other:?}"),
    };
    assert_eq!(held.status, winner.status);
    assert_eq!(held.message_id, format!("race-1:{}", winner.status));
    assert_eq!(held.event.as_deref(), Some(winner));
    assert!(!held.published);
    store.mark_published("race-1").await.unwrap();
    let claim = store.terminal("race-1").await.unwrap().unwrap();
    assert!(claim.published);
    // The claim lives beside the status rows: listing and timelines do not see it.
    assert!(store.events("race-1").await.unwrap().is_empty());
    assert!(store.list(&ListFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_outcome_of_a_corrected_resend_replaces_a_rejection() {
    let sim = azure_sim::start(azure_sim::Scenario::seed(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let store = store(&sim).await;
    let t0 = datetime!(2026-12-01 10:00:00 UTC);
    let s = time::Duration::seconds;
    // A rejected message, then a corrected resend of the same deployment that succeeds: the
    // deployment's outcome replaces the rejection, and nothing replaces the outcome.
    store
        .record(&event("web-3", Status::Rejected, t0))
        .await
        .unwrap();
    let resent = event("web-3", Status::Accepted, t0 + s(1));
    assert_eq!(store.record(&resent).await.unwrap(), Recorded::EventOnly);
    let done = event("web-3", Status::Succeeded, t0 + s(2));
    assert_eq!(store.record(&done).await.unwrap(), Recorded::EventAndStatus);
    let again = event("web-3", Status::Rejected, t0 + s(3));
    assert_eq!(store.record(&again).await.unwrap(), Recorded::EventOnly);
    assert_eq!(
        store.get("web-3").await.unwrap().unwrap().status,
        Status::Succeeded
    );
}
