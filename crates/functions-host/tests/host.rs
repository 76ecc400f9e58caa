//! The host against the durable Service Bus stand-in and a real custom-handler process (this
//! test binary re-executed as a `functions_runtime` handler): completion, lock renewal past the
//! lock duration, `functionTimeout` abandoning and restarting the handler, a handler that dies
//! mid-invocation restarted and the message delivered again, `maxConcurrentCalls`, dead-lettering,
//! and a trigger on the dead-letter queue (`queueName: "work/$DeadLetterQueue"`) that gets the
//! dead-lettered message with its `DeadLetterReason` and `DeadLetterErrorDescription`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use functions_host::{Host, HostOptions, app};
use functions_runtime::{Functions, Invocation, InvocationResult, ServiceBusMessage, service_fn};

const HANDLER_ENV: &str = "FUNCTIONS_HOST_TEST_HANDLER";
/// Where the handler writes what its dead-letter function received.
const OUT_ENV: &str = "FUNCTIONS_HOST_TEST_OUT";

/// The custom handler: runs only when re-executed by the host (`HANDLER_ENV` set).
#[test]
fn handler_main() {
    if std::env::var_os(HANDLER_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let port = functions_runtime::port_from_env().unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let functions = Functions::new()
            .service_bus(
                "work-dead-letters",
                service_fn(|inv: Invocation<ServiceBusMessage<String>>| async move {
                    let seen = serde_json::json!({
                        "body": inv.event.raw_body,
                        "deliveryCount": inv.event.delivery_count,
                        "applicationProperties": inv.event.application_properties,
                    });
                    let out = std::env::var(OUT_ENV).unwrap();
                    let file = Path::new(&out).join(format!(
                        "{}.json",
                        inv.event.message_id.clone().unwrap_or_default()
                    ));
                    std::fs::write(file, seen.to_string()).unwrap();
                    Ok::<_, functions_runtime::Error>(InvocationResult::default())
                }),
            )
            .service_bus(
                "work",
                service_fn(|inv: Invocation<ServiceBusMessage<String>>| async move {
                    let body = inv.event.raw_body.clone();
                    let first = inv.event.delivery_count == Some(1);
                    match body.as_str() {
                        b if b.starts_with("sleep:") => {
                            let ms: u64 = b[6..].parse().unwrap();
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                        }
                        "hang-once" if first => tokio::time::sleep(Duration::from_secs(3600)).await,
                        "die-once" if first => std::process::exit(137),
                        "fail" => {
                            return Err::<InvocationResult, functions_runtime::Error>(
                                "told to fail".into(),
                            );
                        }
                        _ => {}
                    }
                    Ok(InvocationResult::default())
                }),
            );
        functions_runtime::serve(functions, listener, std::future::pending())
            .await
            .unwrap();
    });
    std::process::exit(0);
}

const NAMESPACE: &str = r#"{"queues": [{"name": "work", "properties": {
  "requiresDuplicateDetection": true, "maxDeliveryCount": 3, "lockDuration": "PT2S",
  "deadLetteringOnMessageExpiration": true}}]}"#;

const WORK: &str = r#"{"bindings":[{"name":"message","type":"serviceBusTrigger","direction":"in","queueName":"work","connection":"ServiceBusConnection"}]}"#;
/// A function on the work queue's dead-letter sub-queue, as Azure Functions takes it.
const WORK_DEAD_LETTERS: &str = r#"{"bindings":[{"name":"message","type":"serviceBusTrigger","direction":"in","queueName":"work/$DeadLetterQueue","connection":"ServiceBusConnection"}]}"#;

struct Stack {
    host: Option<Host>,
    bus: servicebus_emulator::EmulatorHandle,
    lines: Arc<Mutex<Vec<String>>>,
    sender: azure_clients::ServiceBusSender,
    dir: PathBuf,
}

async fn stack(name: &str, host_json: &str) -> Stack {
    stack_with(name, host_json, &[("work", WORK)]).await
}

/// A stack whose app has `functions` (folder, function.json).
async fn stack_with(name: &str, host_json: &str, functions: &[(&str, &str)]) -> Stack {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (folder, function_json) in functions {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join("function.json"), function_json).unwrap();
    }
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("host.json"), host_json).unwrap();
    let mut options = servicebus_emulator::EmulatorOptions::new(dir.join("bus.db"));
    options.config = servicebus_emulator::NamespaceConfig::parse(NAMESPACE).unwrap();
    let bus = servicebus_emulator::start(options).await.unwrap();
    let definition = app::load(&dir).unwrap();
    let mut settings = BTreeMap::new();
    settings.insert("ServiceBusConnection".to_string(), bus.connection_string());
    settings.insert(HANDLER_ENV.to_string(), "1".to_string());
    settings.insert(OUT_ENV.to_string(), dir.join("out").display().to_string());
    let mut options = HostOptions::new(definition, settings, dir.join("handler.log"));
    let exe = std::env::current_exe().unwrap();
    options.executable = Some(exe);
    options.app.host.arguments = vec![
        "--exact".into(),
        "handler_main".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ];
    options.receive_wait = Duration::from_secs(1);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    options.log = Arc::new(move |line| sink.lock().unwrap().push(line.to_string()));
    let host = Host::start(options).await.expect("host starts");
    let sender = azure_clients::ServiceBusSender::from_connection(
        azure_clients::ServiceBusConnection::parse(&bus.connection_string()).unwrap(),
    );
    Stack {
        host: Some(host),
        bus,
        lines,
        sender,
        dir,
    }
}

impl Stack {
    async fn send(&self, id: &str, body: &str) {
        let msg = azure_clients::OutgoingMessage {
            body: body.into(),
            content_type: "text/plain".into(),
            message_id: Some(id.into()),
            ..Default::default()
        };
        self.sender.send("work", msg).await.unwrap();
    }

    fn lines_for(&self, id: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&format!("MessageId={id},")))
            .cloned()
            .collect()
    }

    async fn wait_for(&self, id: &str, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.lines_for(id);
            if lines.iter().any(|l| l.contains(needle)) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} for {id}: {lines:#?}\nall: {:#?}",
                self.lines.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        self.host.take().unwrap().shutdown().await;
        self.bus.shutdown().await;
    }
}

const HOST_JSON: &str = r#"{
  "version": "2.0",
  "customHandler": { "description": { "defaultExecutablePath": "handler" } },
  "functionTimeout": "00:00:06",
  "extensions": { "serviceBus": { "maxConcurrentCalls": 2, "maxAutoLockRenewalDuration": "00:01:00" } }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_renews_times_out_restarts_and_dead_letters() {
    let s = stack("lifecycle", HOST_JSON).await;
    let host = s.host.as_ref().unwrap();
    assert_eq!(host.supervisor().starts(), 1);

    s.send("ok", "ok").await;
    let lines = s.wait_for("ok", "completed", Duration::from_secs(20)).await;
    assert!(
        lines[0].contains("Executed 'Functions.work' (Succeeded, Id="),
        "{lines:?}"
    );
    assert!(lines[0].contains("DeliveryCount=1"), "{lines:?}");

    // 4 s of work on a 2 s lock: the lock is renewed, the message is delivered once.
    s.send("slow", "sleep:4000").await;
    let lines = s
        .wait_for("slow", "completed", Duration::from_secs(30))
        .await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(host.stats().renewals >= 1, "{:?}", host.stats());

    // Past functionTimeout: abandoned, the handler restarted, delivered again.
    s.send("hang", "hang-once").await;
    let lines = s
        .wait_for("hang", "DeliveryCount=2,", Duration::from_secs(60))
        .await;
    assert!(
        lines[0].contains("(Failed,") && lines[0].contains("Timeout value of 00:00:06"),
        "{lines:?}"
    );
    assert!(lines[0].contains("abandoned"), "{lines:?}");
    assert!(lines[1].ends_with("; completed"), "{lines:?}");
    assert_eq!(host.supervisor().starts(), 2, "restarted after the timeout");

    // The handler dies mid-invocation: restarted with backoff, the message comes back.
    s.send("die", "die-once").await;
    let lines = s
        .wait_for("die", "DeliveryCount=2,", Duration::from_secs(60))
        .await;
    assert!(
        lines[0].contains("(Failed,") && lines[0].contains("did not answer"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("; completed"), "{lines:?}");
    assert_eq!(host.supervisor().starts(), 3, "restarted after the crash");

    // Failing every time: abandoned up to maxDeliveryCount (3), then dead-lettered by the broker.
    s.send("bad", "fail").await;
    let lines = s
        .wait_for("bad", "DeliveryCount=3,", Duration::from_secs(30))
        .await;
    assert!(
        lines.iter().all(|l| l.contains("answered 500")),
        "{lines:?}"
    );
    let counts: Vec<servicebus_emulator::store::EntityCounts> =
        reqwest::get(format!("{}/$emulator/entities", s.bus.base_url()))
            .await
            .unwrap()
            .json::<Vec<serde_json::Value>>()
            .await
            .unwrap()
            .into_iter()
            .map(|v| servicebus_emulator::store::EntityCounts {
                entity: v["entity"].as_str().unwrap().into(),
                active: v["active"].as_u64().unwrap(),
                scheduled: v["scheduled"].as_u64().unwrap(),
                locked: v["locked"].as_u64().unwrap(),
                dead_lettered: v["dead_lettered"].as_u64().unwrap(),
            })
            .collect();
    assert_eq!(counts[0].dead_lettered, 1, "{counts:?}");

    // maxConcurrentCalls = 2: six one-second invocations take three rounds.
    let started = Instant::now();
    for i in 0..6 {
        s.send(&format!("c{i}"), "sleep:1000").await;
    }
    for i in 0..6 {
        s.wait_for(&format!("c{i}"), "completed", Duration::from_secs(30))
            .await;
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900),
        "at most two at a time: {took:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_queue_trigger_gets_the_dead_lettered_message_with_its_reason() {
    let s = stack_with(
        "dead-letters",
        HOST_JSON,
        &[("work", WORK), ("work-dead-letters", WORK_DEAD_LETTERS)],
    )
    .await;
    let host = s.host.as_ref().unwrap();
    let entities: Vec<&str> = host.functions().iter().map(|f| f.entity.as_str()).collect();
    assert_eq!(entities, ["work", "work/$DeadLetterQueue"]);

    // Failing every time: dead-lettered after maxDeliveryCount (3), then delivered once to the
    // dead-letter function like any message, and completed there.
    s.send("poison", "fail").await;
    let lines = s
        .wait_for(
            "poison",
            "Executed 'Functions.work-dead-letters' (Succeeded,",
            Duration::from_secs(60),
        )
        .await;
    let work: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("'Functions.work'"))
        .collect();
    assert_eq!(work.len(), 3, "{lines:#?}");
    let dead: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("'Functions.work-dead-letters'"))
        .collect();
    assert_eq!(dead.len(), 1, "{lines:#?}");
    assert!(dead[0].ends_with("; completed"), "{dead:?}");

    // The handler saw the body and the reason in the message's application properties.
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("out/poison.json")).unwrap())
            .unwrap();
    assert_eq!(seen["body"], "fail");
    assert_eq!(
        seen["applicationProperties"]["DeadLetterReason"],
        "MaxDeliveryCountExceeded"
    );
    assert_eq!(
        seen["applicationProperties"]["DeadLetterErrorDescription"],
        "Message could not be consumed after 3 delivery attempts."
    );
    // Completed out of the dead-letter queue: nothing is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = s.bus.counts().unwrap();
        if counts[0].dead_lettered == 0 && counts[0].locked == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}
