//! `imageferry dead-letters [queue]`: list a queue's dead-lettered messages (deployment id,
//! reason, delivery count, enqueued time), `--resubmit ID` sends one back to its queue,
//! `--purge ID` deletes it. Over the Service Bus REST receive verbs on `{queue}/$DeadLetterQueue`
//! (learn.microsoft.com/rest/api/servicebus): Peek-Lock Message (`POST …/messages/head`),
//! Unlock Message (`PUT …/messages/{sequenceNumber}/{lockToken}`) and Delete Message (`DELETE`
//! of the same). REST has no browse: listing locks each message and unlocks it again, which
//! raises its delivery count (no effect in a dead-letter queue, which has no maximum).

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use crate::session::Session;
use azure_clients::servicebus::sas_token;
use azure_clients::{OutgoingMessage, SecretString, ServiceBusConnection};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Arguments of `dead-letters`.
#[derive(clap::Args)]
pub struct Args {
    /// The queue (default: every queue of the namespace, the six of infra/modules/servicebus.bicep).
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

enum Auth {
    Sas {
        key_name: String,
        key: SecretString,
    },
    Entra {
        tokens: Arc<azure_clients::TokenProvider>,
        tenant: String,
        scope: String,
    },
}

struct Receiver {
    http: reqwest::Client,
    endpoint: url::Url,
    auth: Auth,
}

struct Locked {
    entry: DeadLetter,
    body: String,
    content_type: Option<String>,
    correlation_id: Option<String>,
    settle_url: url::Url,
}

impl Receiver {
    fn from_env(session: &Session) -> Result<Self, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(70))
            .build()
            .map_err(|e| e.to_string())?;
        if let Some(cs) = var("ServiceBusConnection") {
            let c = ServiceBusConnection::parse(&cs).map_err(|e| e.to_string())?;
            return Ok(Self {
                http,
                endpoint: c.endpoint,
                auth: Auth::Sas {
                    key_name: c.key_name,
                    key: c.key,
                },
            });
        }
        let ns = var("ServiceBusConnection__fullyQualifiedNamespace").ok_or(
            "ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace is not set",
        )?;
        let endpoint = azure_clients::check_endpoint(
            "ServiceBusConnection__fullyQualifiedNamespace",
            &format!("https://{}/", ns.trim_end_matches('/')),
        )
        .map_err(|e| e.to_string())?;
        let tenant = var("AZURE_TENANT_ID").ok_or("AZURE_TENANT_ID is not set")?;
        Ok(Self {
            http,
            endpoint,
            auth: Auth::Entra {
                tokens: session.tokens.clone(),
                tenant,
                scope: session.endpoints.servicebus_scope.clone(),
            },
        })
    }

    fn url(&self, path: &str) -> url::Url {
        let mut u = self.endpoint.clone();
        u.set_path(&format!(
            "{}/{path}",
            self.endpoint.path().trim_end_matches('/')
        ));
        u
    }

    async fn authorization(&self, queue: &str) -> Result<String, String> {
        match &self.auth {
            Auth::Sas { key_name, key } => {
                let resource = self.url(queue);
                let expiry = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
                Ok(sas_token(resource.as_str(), key_name, key, expiry)
                    .expose()
                    .to_owned())
            }
            Auth::Entra {
                tokens,
                tenant,
                scope,
            } => {
                let t = tokens
                    .token(tenant, scope)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("Bearer {}", t.token.expose()))
            }
        }
    }

    /// Peek-locks the next dead-lettered message of `queue`; `None` when there is none.
    async fn peek_lock(&self, queue: &str) -> Result<Option<Locked>, String> {
        let mut url = self.url(&format!("{queue}/$DeadLetterQueue/messages/head"));
        url.set_query(Some("timeout=1"));
        let resp = self
            .http
            .post(url)
            .header("Authorization", self.authorization(queue).await?)
            .header("Content-Length", "0")
            .send()
            .await
            .map_err(|e| format!("{queue}: {}", crate::network::chain(&e)))?;
        match resp.status().as_u16() {
            201 => {}
            204 => return Ok(None),
            s => {
                let body = resp.text().await.unwrap_or_default();
                return Err(format!(
                    "{queue}/$DeadLetterQueue: HTTP {s}: {}",
                    body.chars().take(300).collect::<String>()
                ));
            }
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim_matches('"').to_owned())
        };
        let broker: Value = header("BrokerProperties")
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        let reason = header("DeadLetterReason");
        let description = header("DeadLetterErrorDescription");
        let content_type = header("Content-Type");
        let body = resp.text().await.map_err(|e| e.to_string())?;
        let s = |k: &str| broker.get(k).and_then(Value::as_str).map(str::to_owned);
        let sequence_number = broker.get("SequenceNumber").and_then(Value::as_i64);
        let lock = s("LockToken").ok_or("the answer carries no LockToken")?;
        let id = sequence_number
            .map(|n| n.to_string())
            .or_else(|| s("MessageId"))
            .ok_or("no message id")?;
        let settle_url = self.url(&format!("{queue}/$DeadLetterQueue/messages/{id}/{lock}"));
        let deployment_id = s("CorrelationId").or_else(|| {
            let json: Value = serde_json::from_str(&body).ok()?;
            json.get("deploymentId")
                .or_else(|| json.pointer("/request/deploymentId"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Ok(Some(Locked {
            entry: DeadLetter {
                queue: queue.to_owned(),
                deployment_id,
                message_id: s("MessageId"),
                reason,
                description,
                delivery_count: broker.get("DeliveryCount").and_then(Value::as_u64),
                enqueued_time: s("EnqueuedTimeUtc"),
                sequence_number,
                action: None,
            },
            body,
            content_type,
            correlation_id: s("CorrelationId"),
            settle_url,
        }))
    }

    async fn settle(&self, queue: &str, m: &Locked, complete: bool) -> Result<(), String> {
        let req = if complete {
            self.http.delete(m.settle_url.clone())
        } else {
            self.http.put(m.settle_url.clone())
        };
        let resp = req
            .header("Authorization", self.authorization(queue).await?)
            .header("Content-Length", "0")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "{} {}: HTTP {}",
                if complete { "delete" } else { "unlock" },
                queue,
                resp.status()
            ))
        }
    }
}

/// Every queue of the namespace: those of `infra/modules/servicebus.bicep`, which the Service
/// Bus stand-in's configuration mirrors (a test in `servicebus-emulator` checks both directions).
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
    let receiver = match Receiver::from_env(&session) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let bus = match session.bus() {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let queues: Vec<String> = match &args.queue {
        Some(q) if !all_queues().contains(q) => {
            return usage_error(format!(
                "{q} is not a queue of imageferry ({})",
                all_queues().join(", ")
            ));
        }
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
            match receiver.peek_lock(queue).await {
                Ok(Some(m)) => locked.push(m),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        for mut m in locked {
            let hit = target.is_some_and(|id| matches(&m.entry, id));
            let outcome = if hit && args.resubmit.is_some() {
                let msg = OutgoingMessage {
                    body: m.body.clone(),
                    content_type: m
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "application/json".into()),
                    message_id: Some(uuid::Uuid::new_v4().to_string()),
                    correlation_id: m.correlation_id.clone(),
                    ..OutgoingMessage::default()
                };
                // Send first, then delete: a crash in between resubmits twice, which the
                // idempotent steps absorb; never zero times.
                match bus.send(queue, msg).await {
                    Ok(()) => {
                        m.entry.action = Some("resubmitted");
                        receiver.settle(queue, &m, true).await
                    }
                    Err(e) => Err(e.to_string()),
                }
            } else if hit {
                m.entry.action = Some("purged");
                receiver.settle(queue, &m, true).await
            } else {
                receiver.settle(queue, &m, false).await
            };
            if let Err(e) = outcome {
                errln!("imageferry: {e}");
                failed = true;
            }
            listed.push(m.entry);
        }
        if let Some(e) = error {
            // Unreachable: said once, not for every queue.
            if let Some(u) = session.places().bus_text(&e) {
                crate::network::report("reading the dead-letter queues", &e, None, Some(u));
                return Exit::Failed;
            }
            errln!("imageferry: {e}");
            failed = true;
        }
    }
    let acted = listed.iter().filter(|e| e.action.is_some()).count();
    if args.out.json() {
        print_json(&listed);
    } else if listed.is_empty() {
        outln!("no dead-lettered messages in {}", queues.join(", "));
    } else {
        outln!(
            "{:<26} {:<24} {:<26} {:>9}  {:<31} ACTION",
            "QUEUE",
            "DEPLOYMENT",
            "REASON",
            "DELIVERIES",
            "ENQUEUED"
        );
        for e in &listed {
            outln!(
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
        errln!(
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
