//! The stand-in as a process, over the REST protocol: send, peek-lock, unlock, renew, complete,
//! duplicate detection, scheduling, TTL, topics with SQL rules, dead-lettering, limits, auth, and
//! a SIGKILL + restart that loses nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "dGVzdC1rZXktbm90LWEtcmVhbC1zZWNyZXQtMDEyMzQ1Njc=";
const CONFIG: &str = r#"{
  "queues": [
    { "name": "orders", "properties": {
        "requiresDuplicateDetection": true, "duplicateDetectionHistoryTimeWindow": "PT10M",
        "maxDeliveryCount": 2, "lockDuration": "PT2S", "deadLetteringOnMessageExpiration": true } }
  ],
  "topics": [
    { "name": "events", "properties": { "requiresDuplicateDetection": true },
      "subscriptions": [
        { "name": "terminal", "rules": [ { "name": "$Default", "properties": { "filterType": "SqlFilter",
            "sqlFilter": { "sqlExpression": "status IN ('succeeded', 'failed') AND deploymentId = 'd-1'" } } } ] },
        { "name": "all" }
      ] }
  ]
}"#;

/// A SAS token for `resource_uri`, as clients make it.
fn sign(resource_uri: &str, key_name: &str, key: &str, expiry: i64) -> String {
    azure_clients::servicebus::sas_token(
        resource_uri,
        key_name,
        &azure_clients::SecretString::new(key),
        expiry,
    )
    .expose()
    .to_string()
}

struct Bus {
    child: Child,
    base: String,
    dir: PathBuf,
    http: reqwest::Client,
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ns.json"), CONFIG).unwrap();
    dir
}

fn spawn(dir: &Path, listen: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servicebus-emulator"))
        .args(["--listen", listen, "--database"])
        .arg(dir.join("bus.db"))
        .arg("--config")
        .arg(dir.join("ns.json"))
        .args(["--entra-tenant", "tenant-1"])
        .env("SERVICEBUS_EMULATOR_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("servicebus-emulator starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("URL on the first line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    (child, base)
}

impl Bus {
    fn start(name: &str) -> Self {
        let dir = scratch(name);
        let (child, base) = spawn(&dir, "127.0.0.1:0");
        Self {
            child,
            base,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn kill_and_restart(&mut self) {
        process_control::signal(self.child.id(), process_control::Signal::SIGKILL).unwrap();
        self.child.wait().unwrap();
        let listen = self.base.trim_start_matches("http://").to_string();
        let (child, base) = spawn(&self.dir, &listen);
        assert_eq!(base, self.base, "restarted on the same port");
        self.child = child;
        // Pooled keep-alive connections died with the process.
        self.http = reqwest::Client::new();
    }

    fn auth(&self, entity: &str) -> String {
        sign(
            &format!("{}/{entity}", self.base),
            "RootManageSharedAccessKey",
            KEY,
            4_000_000_000,
        )
    }

    async fn send(&self, entity: &str, body: &str, broker: Value) -> StatusCode {
        self.http
            .post(format!("{}/{entity}/messages", self.base))
            .header("authorization", self.auth(entity))
            .header("content-type", "application/json")
            .header("BrokerProperties", broker.to_string())
            .header("priority", "\"high\"")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn send_batch(&self, entity: &str, batch: Value) -> StatusCode {
        self.http
            .post(format!("{}/{entity}/messages", self.base))
            .header("authorization", self.auth(entity))
            .header("content-type", "application/vnd.microsoft.servicebus.json")
            .body(batch.to_string())
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Peek-lock: (status, BrokerProperties, Location, body, headers).
    async fn lock(&self, entity: &str, timeout: u64) -> Option<Received> {
        let r = self
            .http
            .post(format!(
                "{}/{entity}/messages/head?timeout={timeout}",
                self.base
            ))
            .header("authorization", self.auth(entity))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::NO_CONTENT {
            return None;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
        let headers = r.headers().clone();
        let broker: Value =
            serde_json::from_str(headers["brokerproperties"].to_str().unwrap()).unwrap();
        let location = headers["location"].to_str().unwrap().to_string();
        Some(Received {
            broker,
            location,
            headers,
            body: r.text().await.unwrap(),
        })
    }

    async fn settle(&self, method: reqwest::Method, location: &str, entity: &str) -> StatusCode {
        self.http
            .request(method, location)
            .header("authorization", self.auth(entity))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn counts(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/$emulator/entities", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Received {
    broker: Value,
    location: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

#[tokio::test]
async fn peek_lock_unlock_renew_complete_and_dead_letter() {
    let bus = Bus::start("lifecycle");
    let q = "orders";
    assert_eq!(
        bus.send(
            q,
            r#"{"n":1}"#,
            json!({"MessageId": "m-1", "Label": "L", "CorrelationId": "c"})
        )
        .await,
        StatusCode::CREATED
    );
    let first = bus.lock(q, 1).await.expect("a message");
    assert_eq!(first.body, r#"{"n":1}"#);
    assert_eq!(first.broker["MessageId"], "m-1");
    assert_eq!(first.broker["DeliveryCount"], 1);
    assert_eq!(first.broker["Label"], "L");
    assert_eq!(first.broker["CorrelationId"], "c");
    assert!(first.broker["LockToken"].is_string());
    assert!(
        first.broker["LockedUntilUtc"]
            .as_str()
            .unwrap()
            .ends_with(" GMT")
    );
    assert_eq!(first.headers["priority"], "\"high\"");
    assert_eq!(first.headers["content-type"], "application/json");
    assert!(
        first
            .location
            .starts_with(&format!("{}/orders/messages/", bus.base))
    );
    // Locked: nobody else gets it.
    assert!(bus.lock(q, 0).await.is_none());
    assert_eq!(
        bus.settle(reqwest::Method::POST, &first.location, q).await,
        StatusCode::OK,
        "renew"
    );
    assert_eq!(
        bus.settle(reqwest::Method::PUT, &first.location, q).await,
        StatusCode::OK,
        "unlock"
    );
    assert_eq!(
        bus.settle(reqwest::Method::DELETE, &first.location, q)
            .await,
        StatusCode::NOT_FOUND,
        "old lock"
    );
    let second = bus.lock(q, 1).await.expect("redelivered");
    assert_eq!(second.broker["DeliveryCount"], 2);
    // Unlocking the last allowed delivery (maxDeliveryCount = 2) dead-letters it.
    assert_eq!(
        bus.settle(reqwest::Method::PUT, &second.location, q).await,
        StatusCode::OK
    );
    assert!(bus.lock(q, 0).await.is_none());
    let dlq = "orders/$DeadLetterQueue";
    let dead = bus.lock(dlq, 1).await.expect("in the dead-letter queue");
    assert_eq!(dead.broker["MessageId"], "m-1");
    assert_eq!(
        dead.headers["deadletterreason"],
        "\"MaxDeliveryCountExceeded\""
    );
    assert!(
        dead.headers["deadlettererrordescription"]
            .to_str()
            .unwrap()
            .contains("2 delivery attempts")
    );
    assert_eq!(
        bus.settle(reqwest::Method::DELETE, &dead.location, dlq)
            .await,
        StatusCode::OK
    );

    // A lock that expires unsettled counts as a delivery too.
    bus.send(q, "x", json!({"MessageId": "m-2"})).await;
    let a = bus.lock(q, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(
        bus.settle(reqwest::Method::DELETE, &a.location, q).await,
        StatusCode::NOT_FOUND
    );
    let b = bus.lock(q, 1).await.unwrap();
    assert_eq!(b.broker["DeliveryCount"], 2);
    assert_eq!(
        bus.settle(reqwest::Method::DELETE, &b.location, q).await,
        StatusCode::OK,
        "complete"
    );
    assert!(bus.lock(q, 0).await.is_none());
}

#[tokio::test]
async fn duplicates_schedule_ttl_limits_and_auth() {
    let bus = Bus::start("send");
    let q = "orders";
    for _ in 0..3 {
        assert_eq!(
            bus.send(q, "same", json!({"MessageId": "dup"})).await,
            StatusCode::CREATED
        );
    }
    let m = bus.lock(q, 1).await.unwrap();
    bus.settle(reqwest::Method::DELETE, &m.location, q).await;
    assert!(bus.lock(q, 0).await.is_none(), "duplicates were dropped");

    let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let at = azure_clients::servicebus::rfc1123(later);
    bus.send(
        q,
        "later",
        json!({"MessageId": "s", "ScheduledEnqueueTimeUtc": at}),
    )
    .await;
    assert!(bus.lock(q, 0).await.is_none(), "not before its time");
    let m = bus
        .lock(q, 5)
        .await
        .expect("the long poll wakes when it is due");
    assert_eq!(m.body, "later");
    assert!(m.broker["ScheduledEnqueueTimeUtc"].is_string());
    bus.settle(reqwest::Method::DELETE, &m.location, q).await;

    bus.send(
        q,
        "short-lived",
        json!({"MessageId": "ttl", "TimeToLive": 1}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(bus.lock(q, 0).await.is_none(), "expired");
    let dead = bus
        .lock("orders/$DeadLetterQueue", 1)
        .await
        .expect("expired messages are dead-lettered");
    assert_eq!(dead.headers["deadletterreason"], "\"TTLExpiredException\"");

    let big = "x".repeat(256 * 1024 + 1);
    assert_eq!(bus.send(q, &big, json!({})).await, StatusCode::FORBIDDEN);
    assert_eq!(bus.send("nope", "x", json!({})).await, StatusCode::GONE);
    let wrong_key = sign(
        &format!("{}/orders", bus.base),
        "RootManageSharedAccessKey",
        "other",
        4_000_000_000,
    );
    let r = bus
        .http
        .post(format!("{}/orders/messages", bus.base))
        .header("authorization", wrong_key)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("<Error><Code>401</Code>")
    );
    let scoped = sign(
        &format!("{}/events", bus.base),
        "RootManageSharedAccessKey",
        KEY,
        4_000_000_000,
    );
    let r = bus
        .http
        .post(format!("{}/orders/messages", bus.base))
        .header("authorization", scoped)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a token for another entity"
    );
}

#[tokio::test]
async fn topic_subscriptions_follow_their_sql_rules() {
    let bus = Bus::start("topic");
    let batch = json!([
        {"Body": "accepted", "BrokerProperties": {"MessageId": "d-1:accepted"}, "UserProperties": {"status": "accepted", "deploymentId": "d-1"}},
        {"Body": "succeeded", "BrokerProperties": {"MessageId": "d-1:succeeded"}, "UserProperties": {"status": "succeeded", "deploymentId": "d-1"}},
        {"Body": "other", "BrokerProperties": {"MessageId": "d-2:failed"}, "UserProperties": {"status": "failed", "deploymentId": "d-2"}},
        {"Body": "again", "BrokerProperties": {"MessageId": "d-1:succeeded"}, "UserProperties": {"status": "succeeded", "deploymentId": "d-1"}}
    ]);
    assert_eq!(bus.send_batch("events", batch).await, StatusCode::CREATED);
    let mut terminal = Vec::new();
    while let Some(m) = bus.lock("events/subscriptions/terminal", 0).await {
        assert_eq!(m.headers["deploymentId"], "\"d-1\"");
        terminal.push(m.body);
    }
    assert_eq!(terminal, ["succeeded"]);
    let mut all = Vec::new();
    while let Some(m) = bus.lock("events/Subscriptions/all", 0).await {
        all.push(m.body);
    }
    assert_eq!(
        all,
        ["accepted", "succeeded", "other"],
        "the duplicate was dropped once, at the topic"
    );
    assert_eq!(
        bus.send_batch("events", json!([])).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_killed_stand_in_restarts_with_every_message_and_lock() {
    let mut bus = Bus::start("restart");
    let q = "orders";
    for i in 0..40 {
        assert_eq!(
            bus.send(q, &format!("m{i}"), json!({"MessageId": format!("id-{i}")}))
                .await,
            StatusCode::CREATED
        );
    }
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(bus.lock(q, 1).await.unwrap());
    }
    bus.kill_and_restart();
    // Duplicate detection history survived too.
    assert_eq!(
        bus.send(q, "again", json!({"MessageId": "id-0"})).await,
        StatusCode::CREATED
    );
    let counts = bus.counts().await;
    let orders = counts.iter().find(|c| c["entity"] == "orders").unwrap();
    assert_eq!(
        (orders["active"].as_u64(), orders["locked"].as_u64()),
        (Some(35), Some(5)),
        "{counts:?}"
    );
    // Locks taken before the kill still settle.
    for m in &held {
        assert_eq!(
            bus.settle(reqwest::Method::DELETE, &m.location, q).await,
            StatusCode::OK
        );
    }
    let mut bodies = held.iter().map(|m| m.body.clone()).collect::<Vec<_>>();
    while let Some(m) = bus.lock(q, 0).await {
        assert_eq!(m.broker["DeliveryCount"], 1);
        assert_eq!(
            bus.settle(reqwest::Method::DELETE, &m.location, q).await,
            StatusCode::OK
        );
        bodies.push(m.body);
    }
    let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected, "all 40, in order, none twice");
}
