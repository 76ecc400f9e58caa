//! After a run: the checks (one terminal event per deployment, no VM created twice, nothing
//! left in the queues, nothing dead-lettered without a terminal event) and the figures
//! (deployments/s, time to terminal, ARM writes, token requests, Service Bus operations).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use azure_clients::servicebus::{ServiceBusReceiver, dead_letter_path};
use serde_json::Value;

use super::follow::Deployment;

/// Every queue of the stand-in's namespace (the one `imageferry dev` starts, from
/// `infra/servicebus.entities.json`): the step queues, whatever their number.
pub fn queues() -> Vec<String> {
    servicebus_emulator::NamespaceConfig::imageferry()
        .queues()
        .map(|q| q.path.clone())
        .collect()
}

/// What the Azure stand-in saw.
#[derive(Debug, Default)]
pub struct AzureFigures {
    /// ARM PUT/PATCH/DELETE/POST requests (attempts, including refused ones).
    pub arm_writes: usize,
    /// Of those, answered 2xx.
    pub arm_writes_ok: usize,
    /// ARM requests answered 429 or 5xx (injected faults).
    pub arm_faults: usize,
    /// Token requests per tenant.
    pub tokens_per_tenant: BTreeMap<String, usize>,
    /// VM PUTs answered 201 Created, per VM.
    pub vm_creates: BTreeMap<String, usize>,
    /// All ARM requests.
    pub arm_requests: usize,
}

/// A stand-in's figures could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(#[from] reqwest::Error);

/// Reads `/_sim/requests`.
pub async fn azure_figures(azure: &str) -> Result<AzureFigures, ReadError> {
    let records: Vec<Value> = reqwest::get(format!("{azure}/_sim/requests"))
        .await
        .and_then(|r| r.error_for_status())?
        .json()
        .await?;
    let mut f = AzureFigures::default();
    for r in &records {
        let path = r["path"].as_str().unwrap_or("");
        let method = r["method"].as_str().unwrap_or("");
        let status = r["status"].as_u64().unwrap_or(0);
        if path.ends_with("/oauth2/v2.0/token") {
            let tenant = r["token_tenant"].as_str().unwrap_or("?").to_string();
            *f.tokens_per_tenant.entry(tenant).or_default() += 1;
            continue;
        }
        if !path.starts_with("/subscriptions/") {
            continue;
        }
        f.arm_requests += 1;
        if status == 429 || status >= 500 {
            f.arm_faults += 1;
        }
        if matches!(method, "PUT" | "PATCH" | "DELETE" | "POST") {
            f.arm_writes += 1;
            if (200..300).contains(&status) {
                f.arm_writes_ok += 1;
            }
            if method == "PUT"
                && status == 201
                && path.contains("/providers/Microsoft.Compute/virtualMachines/")
            {
                *f.vm_creates.entry(path.to_ascii_lowercase()).or_default() += 1;
            }
        }
    }
    Ok(f)
}

/// Counts per queue/subscription from the stand-in.
pub async fn entity_counts(bus: &str) -> Result<Vec<Value>, ReadError> {
    Ok(reqwest::get(format!("{bus}/$emulator/entities"))
        .await?
        .json()
        .await?)
}

/// Operation counts from the stand-in.
pub async fn bus_operations(bus: &str) -> Result<BTreeMap<String, u64>, ReadError> {
    Ok(reqwest::get(format!("{bus}/$emulator/operations"))
        .await?
        .json()
        .await?)
}

/// Waits until every queue holds nothing (active, scheduled or locked); false at `timeout`.
pub async fn wait_drained(bus: &str, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let queues = queues();
    loop {
        if let Ok(counts) = entity_counts(bus).await {
            let busy: u64 = counts
                .iter()
                .filter(|c| {
                    queues
                        .iter()
                        .any(|q| c["entity"].as_str() == Some(q.as_str()))
                })
                .map(|c| {
                    c["active"].as_u64().unwrap_or(0)
                        + c["scheduled"].as_u64().unwrap_or(0)
                        + c["locked"].as_u64().unwrap_or(0)
                })
                .sum();
            if busy == 0 {
                return true;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A dead-lettered message: (queue, deployment id, DeadLetterReason).
pub type DeadLetter = (String, String, String);

/// Takes every message out of every queue's dead-letter queue.
pub async fn drain_dead_letters(client: &ServiceBusReceiver) -> Vec<DeadLetter> {
    let mut out = Vec::new();
    for q in queues() {
        let dlq = dead_letter_path(&q);
        while let Ok(Some(m)) = client.peek_lock(&dlq, Duration::from_secs(0)).await {
            let body: Value = serde_json::from_slice(&m.body).unwrap_or_default();
            let id = body["deploymentId"]
                .as_str()
                .or_else(|| body["request"]["deploymentId"].as_str())
                .unwrap_or("?")
                .to_string();
            let reason = m.dead_letter_reason().unwrap_or("?").to_string();
            let _ = client.complete(&m).await;
            out.push((q.clone(), id, reason));
        }
    }
    out
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times from send to terminal event, sorted.
pub fn times_to_terminal(deployments: &HashMap<String, Deployment>) -> Vec<Duration> {
    let mut t: Vec<Duration> = deployments
        .values()
        .filter_map(|d| Some(d.terminal_at?.duration_since(d.sent?)))
        .collect();
    t.sort();
    t
}
