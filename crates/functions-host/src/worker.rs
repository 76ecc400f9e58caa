//! The custom-handler process: started the way the Functions host starts it (NOTES §1.2: a free
//! loopback port in `FUNCTIONS_CUSTOMHANDLER_PORT` and its twins, working directory, readiness
//! when `GET /` gets any HTTP answer, 25 ms apart), restarted with exponential backoff when it
//! exits or when a function times out, stopped with SIGTERM on shutdown.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

/// How long the handler has to answer `GET /` (the host's `InitializationTimeout`).
pub const INITIALIZATION_TIMEOUT: Duration = Duration::from_secs(30);
/// First restart delay; doubles per quick failure up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest restart delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A handler that ran this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// How to start the handler.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The executable.
    pub executable: PathBuf,
    /// Its arguments.
    pub arguments: Vec<String>,
    /// Working directory.
    pub working_directory: PathBuf,
    /// `FUNCTIONS_APP_ROOT_PATH`.
    pub app_root: PathBuf,
    /// App settings, set as environment variables.
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr go (appended, across restarts).
    pub log_file: PathBuf,
}

/// A ready handler process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Increases with every start.
    pub generation: u64,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
}

enum Control {
    Restart { generation: u64, reason: String },
    Shutdown(oneshot::Sender<Option<i32>>),
}

/// Starts and supervises the handler. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    ready: watch::Receiver<Option<Ready>>,
    /// Shared with the supervising task so that [`Supervisor::restart`] withdraws the doomed
    /// process at once: no invocation is sent to it between the request and the kill.
    ready_tx: Arc<watch::Sender<Option<Ready>>>,
    control: mpsc::UnboundedSender<Control>,
    pid: Arc<AtomicU32>,
    starts: Arc<AtomicU32>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("ready", &*self.ready.borrow())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Starts supervising (the first start happens in the background; see [`Supervisor::ready`]).
    pub fn start(spec: WorkerSpec) -> Self {
        let (ready_tx, ready) = watch::channel(None);
        let ready_tx = Arc::new(ready_tx);
        let (control, control_rx) = mpsc::unbounded_channel();
        let pid = Arc::new(AtomicU32::new(0));
        let starts = Arc::new(AtomicU32::new(0));
        tokio::spawn(supervise(
            spec,
            ready_tx.clone(),
            control_rx,
            pid.clone(),
            starts.clone(),
        ));
        Self {
            ready,
            ready_tx,
            control,
            pid,
            starts,
        }
    }

    /// Waits until a handler is ready (or the supervisor stopped: `None`).
    pub async fn ready(&self) -> Option<Ready> {
        let mut rx = self.ready.clone();
        rx.wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| r.clone())
    }

    /// Like [`Supervisor::ready`], giving up after `timeout`.
    pub async fn ready_within(&self, timeout: Duration) -> Option<Ready> {
        tokio::time::timeout(timeout, self.ready())
            .await
            .ok()
            .flatten()
    }

    /// Waits up to `timeout` for the process of `generation` to be seen gone (exited, or being
    /// restarted); `true` if it is. After a refused or reset connection the dispatcher waits here
    /// before it gives the message back, so the redelivery is not sent to the dead process.
    pub async fn gone_within(&self, generation: u64, timeout: Duration) -> bool {
        let mut rx = self.ready.clone();
        let gone = rx.wait_for(|r| r.as_ref().map(|r| r.generation) != Some(generation));
        matches!(
            tokio::time::timeout(timeout, gone).await,
            Ok(Ok(_)) | Ok(Err(_))
        )
    }

    /// Asks for a restart of `generation` (ignored if that process is already gone), as the host
    /// does after a function timeout.
    pub fn restart(&self, generation: u64, reason: impl Into<String>) {
        self.ready_tx.send_if_modified(|ready| {
            let doomed = ready.as_ref().is_some_and(|r| r.generation == generation);
            if doomed {
                *ready = None;
            }
            doomed
        });
        let _ = self.control.send(Control::Restart {
            generation,
            reason: reason.into(),
        });
    }

    /// The running handler's process id.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    /// How many times the handler was started.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }

    /// Sends SIGKILL to the running handler (fault injection); returns its pid.
    pub fn kill(&self) -> Option<u32> {
        // The pid of the child this supervisor spawned and has not reaped (it is cleared before
        // the child is waited for).
        let pid = self.pid()?;
        process_control::signal(pid, process_control::Signal::SIGKILL).ok()?;
        Some(pid)
    }

    /// Stops the handler with SIGTERM (SIGKILL after 10 s); returns its exit code.
    pub async fn shutdown(&self) -> Option<i32> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Shutdown(tx)).ok()?;
        rx.await.ok().flatten()
    }
}

async fn spawn(spec: &WorkerSpec, generation: u64) -> Result<(Child, String), String> {
    let port = process_control::free_port().map_err(|e| format!("no free port: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_file)
        .map_err(|e| format!("log file {}: {e}", spec.log_file.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let worker_id = format!("local-{generation}");
    let mut cmd = Command::new(&spec.executable);
    cmd.args(&spec.arguments)
        .current_dir(&spec.working_directory)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
        .env("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", &worker_id)
        .env("FUNCTIONS_HTTPWORKER_ID", &worker_id)
        .env("FUNCTIONS_APP_ROOT_PATH", &spec.app_root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.executable.display()))?;
    let base_url = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        if probe.get(format!("{base_url}/")).send().await.is_ok() {
            return Ok((child, base_url));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before answering GET /"));
        }
        if started.elapsed() > INITIALIZATION_TIMEOUT {
            let _ = child.kill().await;
            return Err("Initializing HttpWorker timed out.".into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn stop(child: &mut Child, pid: &AtomicU32) -> Option<i32> {
    let code = process_control::stop(child, Duration::from_secs(10)).await;
    pid.store(0, Ordering::SeqCst);
    code
}

async fn supervise(
    spec: WorkerSpec,
    ready: Arc<watch::Sender<Option<Ready>>>,
    mut control: mpsc::UnboundedReceiver<Control>,
    pid: Arc<AtomicU32>,
    starts: Arc<AtomicU32>,
) {
    let mut backoff = INITIAL_BACKOFF;
    let mut generation = 0u64;
    loop {
        generation += 1;
        let started = Instant::now();
        let spawning = spawn(&spec, generation);
        tokio::pin!(spawning);
        let spawned = loop {
            tokio::select! {
                s = &mut spawning => break s,
                c = control.recv() => match c {
                    Some(Control::Shutdown(reply)) => {
                        let _ = reply.send(None);
                        return;
                    }
                    None => return,
                    // A restart of an earlier generation: that process is gone already.
                    Some(Control::Restart { .. }) => {}
                },
            }
        };
        match spawned {
            Err(reason) => {
                tracing::error!(%reason, "the custom handler did not start; retrying in {backoff:?}");
                eprintln!(
                    "[{}] Worker failed to start: {reason}; retrying in {backoff:?}",
                    now()
                );
            }
            Ok((mut child, base_url)) => {
                starts.fetch_add(1, Ordering::SeqCst);
                pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
                let _ = ready.send(Some(Ready {
                    generation,
                    base_url,
                }));
                loop {
                    tokio::select! {
                        status = child.wait() => {
                            pid.store(0, Ordering::SeqCst);
                            let _ = ready.send(None);
                            let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                            eprintln!("[{}] Worker process exited ({status}); restarting in {backoff:?}", now());
                            break;
                        }
                        c = control.recv() => match c {
                            Some(Control::Restart { generation: g, reason }) if g == generation => {
                                let _ = ready.send(None);
                                eprintln!("[{}] Restarting the worker: {reason}", now());
                                pid.store(0, Ordering::SeqCst);
                                let _ = child.kill().await;
                                break;
                            }
                            Some(Control::Restart { .. }) => continue,
                            Some(Control::Shutdown(reply)) => {
                                let _ = ready.send(None);
                                let code = stop(&mut child, &pid).await;
                                let _ = reply.send(code);
                                return;
                            }
                            None => {
                                stop(&mut child, &pid).await;
                                return;
                            }
                        }
                    }
                }
            }
        }
        if started.elapsed() > HEALTHY_AFTER {
            backoff = INITIAL_BACKOFF;
        }
        let delay = backoff;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            c = control.recv() => match c {
                Some(Control::Shutdown(reply)) => {
                    let _ = reply.send(None);
                    return;
                }
                None => return,
                Some(Control::Restart { .. }) => {}
            },
        }
    }
}

/// The host's log timestamp.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
