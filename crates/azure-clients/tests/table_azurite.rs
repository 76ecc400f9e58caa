//! The Table client against Azurite, Microsoft's storage emulator (a real implementation of the
//! Table REST protocol). `scripts/azurite.sh` installs it from npm; this test starts
//! `azurite-table` itself on 127.0.0.1 port 0 (in memory) and finds the port it bound.
//!
//! Without a binary the test is skipped with a message, unless `CI=true`: then it fails.

use azure_clients::table::{
    DEVSTORE_ACCOUNT, DEVSTORE_KEY, Entity, StorageConnection, TableAuth, TableClient, TableError,
    UpsertMode, odata_string,
};
use azure_clients::{RetryPolicy, SecretString};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

fn azurite_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AZURITE_TABLE_BIN") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("IMAGEFERRY_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("imageferry")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/imageferry")))?;
    let bin = cache.join("azurite/node_modules/.bin/azurite-table");
    bin.exists().then_some(bin)
}

/// The TCP port a process listens on, from /proc (Azurite reports port 0 as given).
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect();
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address, st == 0A (LISTEN), inode
        (f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]))
            .then(|| u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok())
            .flatten()
    })
}

struct Azurite {
    child: tokio::process::Child,
    _dir: TempDir,
    port: u16,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_azurite() -> Option<Azurite> {
    let Some(bin) = azurite_binary() else {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true but azurite-table was not found: run scripts/azurite.sh (or set AZURITE_TABLE_BIN)"
        );
        eprintln!(
            "SKIPPED: azurite-table not found; run `export AZURITE_TABLE_BIN=$(scripts/azurite.sh)` to run this test"
        );
        return None;
    };
    let dir = std::env::temp_dir().join(format!("imageferry-azurite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = tokio::process::Command::new(&bin)
        .args([
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            "0",
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--silent",
        ])
        // In memory; the workspace (debug log, if any) is the temporary directory.
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let pid = child.id().expect("running");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let port = loop {
        // Node may start the server in the process itself; look at it and its children.
        if let Some(p) = listening_port(pid) {
            break p;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("azurite-table exited at start: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "azurite-table did not listen within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Some(Azurite {
        child,
        _dir: TempDir(dir),
        port,
    })
}

fn entity(pk: &str, rk: &str, props: Value) -> Entity {
    let mut e = props.as_object().cloned().unwrap_or_default();
    e.insert("PartitionKey".into(), pk.into());
    e.insert("RowKey".into(), rk.into());
    e
}

#[tokio::test]
async fn table_client_speaks_the_protocol_azurite_implements() {
    let Some(mut azurite) = start_azurite().await else {
        return;
    };
    let conn = StorageConnection::parse(&format!(
        "DefaultEndpointsProtocol=http;AccountName={DEVSTORE_ACCOUNT};AccountKey={DEVSTORE_KEY};TableEndpoint=http://127.0.0.1:{}/{DEVSTORE_ACCOUNT}",
        azurite.port
    ))
    .unwrap();
    let client = TableClient::from_connection(conn.clone());

    // Create: once created, then "already exists".
    assert!(client.create_table("deployments").await.unwrap());
    assert!(!client.create_table("deployments").await.unwrap());

    // Insert or replace, twice (idempotent), then merge keeps other properties.
    let e = entity(
        "web-1",
        "status",
        json!({"Status": "accepted", "Step": "deployment-requested", "Detail": "it's quoted"}),
    );
    client
        .upsert("deployments", &e, UpsertMode::Replace)
        .await
        .unwrap();
    client
        .upsert("deployments", &e, UpsertMode::Replace)
        .await
        .unwrap();
    let merge = entity(
        "web-1",
        "status",
        json!({"Status": "succeeded", "VmId": "/sub/vm"}),
    );
    client
        .upsert("deployments", &merge, UpsertMode::Merge)
        .await
        .unwrap();
    let got = client
        .get("deployments", "web-1", "status")
        .await
        .unwrap()
        .expect("entity exists");
    assert_eq!(got["Status"], "succeeded");
    assert_eq!(
        got["Step"], "deployment-requested",
        "merge keeps properties"
    );
    assert_eq!(got["Detail"], "it's quoted");
    assert_eq!(got["VmId"], "/sub/vm");
    // Replace drops what the new entity lacks.
    let replace = entity("web-1", "status", json!({"Status": "failed"}));
    client
        .upsert("deployments", &replace, UpsertMode::Replace)
        .await
        .unwrap();
    let got = client
        .get("deployments", "web-1", "status")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["Status"], "failed");
    assert!(got.get("Step").is_none(), "{got:?}");

    // Keys with a quote and a colon (the event row keys carry RFC 3339 times).
    let odd = entity(
        "o'brien",
        "event-2026-12-01T10:00:00.000000001Z-accepted",
        json!({"N": 1}),
    );
    client
        .upsert("deployments", &odd, UpsertMode::Replace)
        .await
        .unwrap();
    let got = client
        .get(
            "deployments",
            "o'brien",
            "event-2026-12-01T10:00:00.000000001Z-accepted",
        )
        .await
        .unwrap();
    assert_eq!(got.unwrap()["N"], 1);

    // Missing entity: None; missing table: a typed error.
    assert!(
        client
            .get("deployments", "nope", "status")
            .await
            .unwrap()
            .is_none()
    );
    let err = client.get("nosuchtable", "a", "b").await.unwrap_err();
    assert!(matches!(err, TableError::TableNotFound(_)), "{err:?}");

    // Query with $filter and continuation: 25 events read 10 per page.
    for i in 0..25 {
        let e = entity(
            "web-2",
            &format!("event-{i:03}"),
            json!({"Status": "accepted", "I": i}),
        );
        client
            .upsert("deployments", &e, UpsertMode::Replace)
            .await
            .unwrap();
    }
    let filter = format!(
        "PartitionKey eq {} and RowKey ge 'event-' and RowKey lt 'event.'",
        odata_string("web-2")
    );
    let first = client
        .query("deployments", Some(&filter), Some(10), None)
        .await
        .unwrap();
    assert_eq!(first.entities.len(), 10);
    let next = first
        .continuation
        .expect("a continuation after a full page");
    let second = client
        .query("deployments", Some(&filter), Some(10), Some(&next))
        .await
        .unwrap();
    assert_eq!(second.entities[0]["RowKey"], "event-010");
    let all = client
        .query_all("deployments", Some(&filter), 1000)
        .await
        .unwrap();
    assert_eq!(all.len(), 25);
    let rows: Vec<&str> = all.iter().map(|e| e["RowKey"].as_str().unwrap()).collect();
    assert_eq!(rows.first(), Some(&"event-000"));
    assert_eq!(rows.last(), Some(&"event-024"));
    let limited = client
        .query_all("deployments", Some(&filter), 12)
        .await
        .unwrap();
    assert_eq!(limited.len(), 12);
    // A property filter with a quoted value.
    let q = format!("Detail eq {}", odata_string("it's quoted"));
    assert!(
        client
            .query_all("deployments", Some(&q), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Insert Entity: the first insert of a key wins, every later one is told the entity exists
    // (409 EntityAlreadyExists) and changes nothing; of eight racing inserts exactly one wins.
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
        async move {
            let e = entity("web-4", "terminal", json!({"I": i}));
            client.insert("deployments", &e).await.unwrap()
        }
    });
    let won = futures::future::join_all(racers).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let err = client
        .insert("nosuchtable", &entity("a", "b", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, TableError::TableNotFound(_)), "{err:?}");

    // A wrong key is refused with 403 AuthorizationFailure (not retried, no key in the message).
    let bad = TableClient::new(
        conn.table_endpoint.clone(),
        TableAuth::SharedKeyLite {
            account: DEVSTORE_ACCOUNT.into(),
            key: SecretString::new("d3Jvbmcta2V5"),
        },
    )
    .with_retry(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    let err = bad.get("deployments", "web-1", "status").await.unwrap_err();
    assert!(
        matches!(
            err,
            TableError::Forbidden { .. } | TableError::Unauthorized { .. }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("d3Jvbmcta2V5"));

    let _ = azurite.child.kill().await;
}
