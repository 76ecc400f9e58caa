//! One deployment is one distributed trace: the W3C trace context of the incoming message's
//! `Diagnostic-Id` flows into every step message and event the steps send.

mod support;

use azure_clients::OutgoingMessage;
use functions_runtime::{DIAGNOSTIC_ID, TraceContext};
use imageferry_contract::{Status, Step};
use servicebus_emulator::SentMessage;
use std::collections::{BTreeMap, HashSet};
use support::*;

const SENDER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn trace_of(m: &SentMessage) -> TraceContext {
    let value = m
        .application_properties
        .get(DIAGNOSTIC_ID)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("{} message without {DIAGNOSTIC_ID}: {m:?}", m.entity));
    TraceContext::parse(value).unwrap_or_else(|| panic!("not a traceparent: {value}"))
}

async fn submit(bench: &Bench, diagnostic_id: Option<&str>) {
    let mut application_properties = BTreeMap::new();
    if let Some(id) = diagnostic_id {
        application_properties.insert(DIAGNOSTIC_ID.to_string(), id.to_string());
    }
    let message = OutgoingMessage {
        application_properties,
        message_id: Some("pipeline-run-1".into()),
        ..OutgoingMessage::json(&linux_request("web-canary-42")).unwrap()
    };
    bench
        .app
        .bus
        .send(Step::DeploymentRequested.as_str(), message)
        .await
        .unwrap();
}

/// Messages the steps sent (not the submitted one).
fn sent(bench: &Bench) -> Vec<SentMessage> {
    bench
        .capture
        .all()
        .into_iter()
        .filter(|m| m.broker.message_id.as_deref() != Some("pipeline-run-1"))
        .collect()
}

#[tokio::test]
async fn the_senders_trace_continues_through_every_step_message_and_event() {
    let mut bench = Bench::seeded().await;
    submit(&bench, Some(SENDER)).await;
    bench.run().await;
    assert_eq!(bench.terminal().status, Status::Succeeded);

    let sent = sent(&bench);
    let entities: HashSet<&str> = sent.iter().map(|m| m.entity.as_str()).collect();
    for entity in [
        EVENTS,
        "replication-check",
        "image-version-replicated",
        "vm-provisioning",
    ] {
        assert!(entities.contains(entity), "{entity} in {entities:?}");
    }
    let sender = TraceContext::parse(SENDER).unwrap();
    let mut spans = HashSet::new();
    for m in &sent {
        let trace = trace_of(m);
        assert_eq!(trace.trace_id(), sender.trace_id(), "{}", m.entity);
        assert_ne!(
            trace.span_id(),
            sender.span_id(),
            "each invocation is a new span"
        );
        spans.insert(trace.span_id());
    }
    // One span per invocation that sent something: the first step's messages share one.
    let first: Vec<&SentMessage> = sent
        .iter()
        .filter(|m| m.entity == EVENTS && m.json().unwrap()["status"] == "accepted")
        .collect();
    let next_step = sent
        .iter()
        .find(|m| m.entity == "replication-check")
        .expect("a replication check was scheduled");
    assert_eq!(trace_of(first[0]).span_id(), trace_of(next_step).span_id());
    assert!(spans.len() > 2, "later invocations have spans of their own");
}

#[tokio::test]
async fn a_message_without_trace_context_starts_one_trace_for_the_whole_deployment() {
    let mut bench = Bench::seeded().await;
    submit(&bench, None).await;
    bench.run().await;
    let traces: HashSet<String> = sent(&bench)
        .iter()
        .map(|m| trace_of(m).trace_id())
        .collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
}
