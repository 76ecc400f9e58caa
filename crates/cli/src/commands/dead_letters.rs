//! `imageferry dead-letters [queue]`: list a queue's dead-lettered messages (deployment id,
//! reason, delivery count, enqueued time), `--resubmit ID` sends one back to its queue,
//! `--purge ID` deletes it. Over the Service Bus REST receive verbs on `{queue}/$DeadLetterQueue`
//! (learn.microsoft.com/rest/api/servicebus): Peek-Lock Message (`POST …/messages/head`),
//! Unlock Message (`PUT …/messages/{sequenceNumber}/{lockToken}`) and Delete Message (`DELETE`
//! of the same), with `azure_clients::servicebus::ServiceBusReceiver`. REST has no browse:
//! listing locks each message and unlocks it again, which raises its delivery count (no effect
//! in a dead-letter queue, which has no maximum).

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::OutgoingMessage;
use azure_clients::servicebus::{ReceivedMessage, ServiceBusReceiver, dead_letter_path, rfc1123};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Arguments of `dead-letters`.
#[derive(clap::Args)]
pub struct Args {
    /// The queue (default: every queue of the namespace, those of infra/servicebus.entities.json).
    queue: Option<String>,
    /// Send the dead-lettered message of this deployment id (or MessageId) back to its queue.
    #[arg(long, conflicts_with = "purge")]
    resubmit: Option<String>,
    /// Delete the dead-lettered message(s) of this deployment id (or MessageId).
    #[arg(long)]
    purge: Option<String>,
    /// Look at most at this many messages per queue.
    #[arg(long, default_value_t = 100)]
    max: usize,
    #[command(flatten)]
    out: OutputArgs,
}

/// One dead-lettered message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    queue: String,
    deployment_id: Option<String>,
    message_id: Option<String>,
    reason: Option<String>,
    description: Option<String>,
    delivery_count: Option<u64>,
    enqueued_time: Option<String>,
    sequence_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
}

impl DeadLetter {
    fn of(queue: &str, m: &ReceivedMessage) -> Self {
        let deployment_id = m.broker.correlation_id.clone().or_else(|| {
            let json: Value = serde_json::from_slice(&m.body).ok()?;
            json.get("deploymentId")
                .or_else(|| json.pointer("/request/deploymentId"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Self {
            queue: queue.to_owned(),
            deployment_id,
            message_id: m.message_id().map(str::to_owned),
            reason: m.dead_letter_reason().map(str::to_owned),
            description: m.dead_letter_error_description().map(str::to_owned),
            delivery_count: m.broker.delivery_count.map(u64::from),
            enqueued_time: m.broker.enqueued_time_utc.map(rfc1123),
            sequence_number: m.broker.sequence_number,
            action: None,
        }
    }
}

/// Peek-locks the next dead-lettered message of `queue`; `None` when there is none.
async fn peek_lock(
    receiver: &ServiceBusReceiver,
    queue: &str,
) -> Result<Option<ReceivedMessage>, String> {
    let dlq = dead_letter_path(queue);
    receiver
        .peek_lock(&dlq, Duration::from_secs(1))
        .await
        .map_err(|e| format!("{dlq}: {e}"))
}

/// Completes (deletes) or abandons (unlocks) `m`.
async fn settle(
    receiver: &ServiceBusReceiver,
    queue: &str,
    m: &ReceivedMessage,
    complete: bool,
) -> Result<(), String> {
    let result = if complete {
        receiver.complete(m).await
    } else {
        receiver.abandon(m).await
    };
    result.map_err(|e| {
        format!(
            "{} {queue}: {e}",
            if complete { "delete" } else { "unlock" }
        )
    })
}

/// Every queue of the namespace: those of `infra/servicebus.entities.json`, which the Bicep
/// deploys and the Service Bus stand-in runs.
fn all_queues() -> Vec<String> {
    servicebus_emulator::NamespaceConfig::imageferry()
        .queues()
        .map(|q| q.path.clone())
        .collect()
}

fn matches(entry: &DeadLetter, id: &str) -> bool {
    entry.deployment_id.as_deref() == Some(id) || entry.message_id.as_deref() == Some(id)
}

/// Runs `dead-letters`.
pub async fn run(args: Args) -> Exit {
    let session = match Session::from_env() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let receiver = match ServiceBusReceiver::from_env(session.tokens.clone(), &session.endpoints) {
        Ok(r) => r,
        Err(e) => return usage_error(e.to_string()),
    };
    let bus = match session.bus() {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let queues: Vec<String> = match &args.queue {
        Some(q) => vec![q.clone()],
        None => all_queues(),
    };
    let target = args.resubmit.as_deref().or(args.purge.as_deref());
    let mut listed = Vec::new();
    let mut failed = false;
    for queue in &queues {
        let mut locked = Vec::new();
        let mut error = None;
        while locked.len() < args.max {
            match peek_lock(&receiver, queue).await {
                Ok(Some(m)) => locked.push((DeadLetter::of(queue, &m), m)),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        for (mut entry, m) in locked {
            let hit = target.is_some_and(|id| matches(&entry, id));
            let outcome = if hit && args.resubmit.is_some() {
                let msg = OutgoingMessage {
                    body: String::from_utf8_lossy(&m.body).into_owned(),
                    content_type: m
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "application/json".into()),
                    message_id: Some(uuid::Uuid::new_v4().to_string()),
                    correlation_id: m.broker.correlation_id.clone(),
                    ..OutgoingMessage::default()
                };
                // Send first, then delete: a crash in between resubmits twice, which the
                // idempotent steps absorb; never zero times.
                match bus.send(queue, msg).await {
                    Ok(()) => {
                        entry.action = Some("resubmitted");
                        settle(&receiver, queue, &m, true).await
                    }
                    Err(e) => Err(e.to_string()),
                }
            } else if hit {
                entry.action = Some("purged");
                settle(&receiver, queue, &m, true).await
            } else {
                settle(&receiver, queue, &m, false).await
            };
            if let Err(e) = outcome {
                eprintln!("imageferry: {e}");
                failed = true;
            }
            listed.push(entry);
        }
        if let Some(e) = error {
            eprintln!("imageferry: {e}");
            failed = true;
        }
    }
    let acted = listed.iter().filter(|e| e.action.is_some()).count();
    if args.out.json() {
        print_json(&listed);
    } else if listed.is_empty() {
        println!("no dead-lettered messages in {}", queues.join(", "));
    } else {
        println!(
            "{:<26} {:<24} {:<26} {:>9}  {:<31} ACTION",
            "QUEUE", "DEPLOYMENT", "REASON", "DELIVERIES", "ENQUEUED"
        );
        for e in &listed {
            println!(
                "{:<26} {:<24} {:<26} {:>9}  {:<31} {}",
                e.queue,
                e.deployment_id.as_deref().unwrap_or("-"),
                e.reason.as_deref().unwrap_or("-"),
                e.delivery_count.map(|c| c.to_string()).unwrap_or_default(),
                e.enqueued_time.as_deref().unwrap_or("-"),
                e.action.unwrap_or("")
            );
        }
    }
    if let Some(id) = target
        && acted == 0
    {
        eprintln!(
            "imageferry: no dead-lettered message of {id} in {}",
            queues.join(", ")
        );
        return Exit::Failed;
    }
    if failed {
        Exit::Failed
    } else {
        Exit::Succeeded
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_queue_by_default() {
        let queues = super::all_queues();
        for q in [
            "deployment-requested",
            "replication-check",
            "image-version-replicated",
            "vm-provisioning",
            "image-version-published",
            "rollout-check",
        ] {
            assert!(queues.iter().any(|x| x == q), "{q} in {queues:?}");
        }
        assert_eq!(queues.len(), 6, "{queues:?}");
    }
}
