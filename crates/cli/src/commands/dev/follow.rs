//! Following the deployments: receivers on the `deployment-events` topic's `local-dev`
//! subscription (every event) and `terminal-events` subscription (the Bicep's SQL rule), the
//! state of each deployment, and the live display (indicatif).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_clients::servicebus::ServiceBusReceiver;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// Every event.
pub const ALL_EVENTS: &str = "deployment-events/subscriptions/local-dev";
/// Terminal events only (`status IN ('succeeded', 'failed', 'rejected')`).
pub const TERMINAL_EVENTS: &str = "deployment-events/subscriptions/terminal-events";

/// Terminal statuses.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "rejected")
}

/// One deployment as seen through its events.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// When its request was sent.
    pub sent: Option<Instant>,
    /// Latest status.
    pub status: String,
    /// Terminal events received (more than one is a bug).
    pub terminal: Vec<String>,
    /// When the first terminal event arrived.
    pub terminal_at: Option<Instant>,
    /// Its terminal event.
    pub last_event: Value,
}

/// Shared state of the run.
#[derive(Default)]
pub struct Tracker {
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    deployments: HashMap<String, Deployment>,
    events: u64,
    /// Terminal-events subscription: messages per deployment, and any non-terminal that got in.
    filtered: BTreeMap<String, u32>,
    filter_leaks: u64,
    /// MessageIds counted, per subscription.
    seen: std::collections::HashSet<String>,
}

/// Counts at one moment.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Deployments sent.
    pub sent: usize,
    /// With a terminal event.
    pub terminal: usize,
    /// By terminal status.
    pub by_status: BTreeMap<String, usize>,
    /// Events received.
    pub events: u64,
}

impl Tracker {
    /// Records that a request was sent.
    pub fn sent(&self, id: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deployments.entry(id.to_string()).or_default().sent = Some(Instant::now());
    }

    /// Records one event (false when its MessageId was seen already).
    fn event(&self, event: &Value, message_id: &str) -> bool {
        let id = event["deploymentId"].as_str().unwrap_or("?").to_string();
        let status = event["status"].as_str().unwrap_or("?").to_string();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !s.seen.insert(format!("all:{message_id}")) {
            return false;
        }
        s.events += 1;
        let d = s.deployments.entry(id).or_default();
        d.status = status.clone();
        if is_terminal(&status) {
            d.terminal.push(status);
            d.terminal_at.get_or_insert_with(Instant::now);
            d.last_event = event.clone();
        }
        true
    }

    fn filtered(&self, event: &Value, message_id: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !s.seen.insert(format!("terminal:{message_id}")) {
            return;
        }
        if !is_terminal(event["status"].as_str().unwrap_or("")) {
            s.filter_leaks += 1;
        }
        let id = event["deploymentId"].as_str().unwrap_or("?").to_string();
        *s.filtered.entry(id).or_default() += 1;
    }

    /// Counts now.
    pub fn tally(&self) -> Tally {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut t = Tally {
            events: s.events,
            ..Tally::default()
        };
        for d in s.deployments.values() {
            if d.sent.is_some() {
                t.sent += 1;
            }
            if let Some(first) = d.terminal.first() {
                t.terminal += 1;
                *t.by_status.entry(first.clone()).or_default() += 1;
            }
        }
        t
    }

    /// Every deployment.
    pub fn deployments(&self) -> HashMap<String, Deployment> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deployments
            .clone()
    }

    /// Terminal-events subscription: messages per deployment and non-terminal leaks.
    pub fn filtered_counts(&self) -> (BTreeMap<String, u32>, u64) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.filtered.clone(), s.filter_leaks)
    }
}

/// Starts `receivers` receivers on each subscription; `on_event` sees every event of `local-dev`.
pub fn start(
    bus: ServiceBusReceiver,
    tracker: Arc<Tracker>,
    receivers: usize,
    on_event: Arc<dyn Fn(&Value) + Send + Sync>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for i in 0..receivers * 2 {
        let all = i % 2 == 0;
        let bus = bus.clone();
        let tracker = tracker.clone();
        let on_event = on_event.clone();
        tasks.push(tokio::spawn(async move {
            let entity = if all { ALL_EVENTS } else { TERMINAL_EVENTS };
            let mut backoff = Duration::from_millis(100);
            loop {
                match bus.peek_lock(entity, Duration::from_secs(5)).await {
                    Ok(None) => {}
                    Ok(Some(message)) => {
                        backoff = Duration::from_millis(100);
                        let event: Value =
                            serde_json::from_slice(&message.body).unwrap_or_default();
                        // Counted once per MessageId: a redelivery (lock lost, or a complete
                        // whose answer was lost in a stand-in crash) is not a second event.
                        let id = message.message_id().unwrap_or_default().to_string();
                        if all {
                            if tracker.event(&event, &id) {
                                on_event(&event);
                            }
                        } else {
                            tracker.filtered(&event, &id);
                        }
                        for _ in 0..100 {
                            match bus.complete(&message).await {
                                Err(e) if e.is_transient() => {
                                    tokio::time::sleep(Duration::from_millis(200)).await
                                }
                                _ => break,
                            }
                        }
                    }
                    Err(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        }));
    }
    tasks
}

/// The live display: one spinner with the events of a single deployment, or a bar over many.
pub struct Display {
    bar: ProgressBar,
    single: bool,
    /// Without a terminal the bar is hidden: lines are printed plainly, the summary every 5 s.
    last_plain_summary: Mutex<Option<Instant>>,
}

impl Display {
    /// For `count` deployments.
    pub fn new(count: usize) -> Self {
        let single = count == 1;
        let bar = if single {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}").expect("template"),
            );
            b
        } else {
            let b = ProgressBar::new(count as u64);
            b.set_style(
                ProgressStyle::with_template("{elapsed:>3} [{bar:30}] {pos}/{len} terminal  {msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            b
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar,
            single,
            last_plain_summary: Mutex::new(None),
        }
    }

    /// An event arrived.
    pub fn event(&self, event: &Value) {
        let status = event["status"].as_str().unwrap_or("?");
        if self.single {
            self.line(format!(
                "event            {:<24} {:<26} {}",
                status,
                event["step"].as_str().unwrap_or("?"),
                event["detail"].as_str().unwrap_or("")
            ));
            if let Some(err) = event.get("error").filter(|e| !e.is_null()) {
                self.line(format!("                 error: {err}"));
            }
            self.bar.set_message(format!("{status}…"));
        } else if is_terminal(status) {
            self.bar.inc(1);
        }
    }

    fn line(&self, line: String) {
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Refreshes the summary message.
    pub fn summary(&self, tally: &Tally, extra: &str) {
        if self.single {
            return;
        }
        let statuses: Vec<String> = tally
            .by_status
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let message = format!(
            "{} | {} events{extra}",
            if statuses.is_empty() {
                "none yet".to_string()
            } else {
                statuses.join(", ")
            },
            tally.events
        );
        if self.bar.is_hidden() {
            let mut last = self
                .last_plain_summary
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                *last = Some(Instant::now());
                println!(
                    "progress         {}/{} terminal: {message}",
                    tally.terminal, tally.sent
                );
            }
        } else {
            self.bar.set_message(message);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
