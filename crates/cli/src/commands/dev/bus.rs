//! The Service Bus stand-in as a child process (`imageferry servicebus-emulator`, the same code
//! as the `servicebus-emulator` binary), so that it can be killed and restarted on the same port
//! and database.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running stand-in process.
pub struct BusProcess {
    child: Child,
    database: PathBuf,
    log: PathBuf,
    key: String,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// Restarts so far.
    pub restarts: u32,
}

impl BusProcess {
    /// Starts it on a free port with a fresh random key.
    pub async fn start(database: PathBuf, log: PathBuf) -> Result<Self, String> {
        let key = servicebus_emulator::random_key();
        let (child, base_url) = spawn(&database, &log, &key, "127.0.0.1:0").await?;
        Ok(Self {
            child,
            database,
            log,
            key,
            base_url,
            restarts: 0,
        })
    }

    /// The `ServiceBusConnection` string.
    pub fn connection_string(&self) -> String {
        let addr = self.base_url.trim_start_matches("http://");
        let addr = addr.parse().expect("the stand-in printed an address");
        servicebus_emulator::connection_string(addr, "RootManageSharedAccessKey", &self.key)
    }

    /// SIGKILL, then a restart on the same port and database.
    pub async fn kill_and_restart(&mut self) -> Result<(), String> {
        let _ = self.child.kill().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listen = self.base_url.trim_start_matches("http://").to_string();
        let mut last = String::new();
        // The port may take a moment to be free again.
        for _ in 0..20 {
            match spawn(&self.database, &self.log, &self.key, &listen).await {
                Ok((child, url)) => {
                    self.child = child;
                    self.base_url = url;
                    self.restarts += 1;
                    return Ok(());
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last)
    }

    /// SIGTERM (graceful), SIGKILL after 5 s.
    pub async fn stop(mut self) {
        process_control::stop(&mut self.child, Duration::from_secs(5)).await;
    }
}

async fn spawn(
    database: &PathBuf,
    log: &PathBuf,
    key: &str,
    listen: &str,
) -> Result<(Child, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(exe)
        .args(["servicebus-emulator", "--listen", listen, "--database"])
        .arg(database)
        .env("SERVICEBUS_EMULATOR_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the Service Bus stand-in: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| "the Service Bus stand-in printed nothing within 30 s".to_string())?
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the Service Bus stand-in exited at start (port busy?)".to_string())?;
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .to_string();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}
