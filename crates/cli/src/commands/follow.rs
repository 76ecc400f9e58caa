//! Following a deployment in the status store (`request --wait`), and how its outcome is shown.

use crate::exit::Exit;
use crate::network::Places;
use crate::output::{OutputArgs, print_json};
use status_store::{DeploymentStatus, StatusStore, StoreError};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How following ended.
pub enum Followed {
    /// A terminal status.
    Done(DeploymentStatus),
    /// The timeout passed; the last status seen, if any.
    TimedOut(Option<DeploymentStatus>),
    /// The store failed for good (not transient).
    StoreFailed(StoreError),
}

/// The exit code of a terminal status.
pub fn exit_of(status: imageferry_contract::Status) -> Exit {
    use imageferry_contract::Status::*;
    match status {
        Succeeded => Exit::Succeeded,
        Rejected => Exit::Rejected,
        _ => Exit::Failed,
    }
}

/// One line: status, step, and what it is doing (replication progress while waiting).
pub fn progress_line(s: &DeploymentStatus) -> String {
    let mut line = format!("{} ({})", s.status, s.step);
    if let Some(p) = &s.progress {
        line.push_str(&format!(": {} {}", p.region, p.state));
        if let Some(pc) = p.percent {
            line.push_str(&format!(" {pc}%"));
        }
    } else if !s.detail.is_empty() {
        line.push_str(": ");
        line.push_str(&s.detail);
    }
    line
}

/// Reads the status every `poll` until it is terminal or `timeout` passes, keeping a progress
/// line up to date on stderr (rewritten in place on a terminal, one line per change otherwise)
/// whatever the output format. Transient store errors are retried until the timeout.
pub async fn until_terminal(
    store: &StatusStore,
    id: &str,
    timeout: Duration,
    poll: Duration,
    places: &Places,
) -> Followed {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_line = String::new();
    let mut last: Option<DeploymentStatus> = None;
    loop {
        match store.get(id).await {
            Ok(Some(s)) => {
                let line = progress_line(&s);
                let elapsed = start.elapsed().as_secs();
                if tty {
                    err!("\r\x1b[2K[{:02}:{:02}] {line}", elapsed / 60, elapsed % 60);
                    let _ = std::io::stderr().flush();
                } else if line != last_line {
                    errln!("[{:02}:{:02}] {line}", elapsed / 60, elapsed % 60);
                }
                last_line = line;
                let terminal = s.status.is_terminal();
                last = Some(s);
                if terminal {
                    if tty {
                        errln!();
                    }
                    return Followed::Done(last.expect("just set"));
                }
            }
            Ok(None) => {}
            Err(e) if e.is_transient() => match places.store(&e) {
                Some(u) => errln!("status store: {u}; retrying"),
                None => errln!("status store: {e}; retrying"),
            },
            Err(e) => return Followed::StoreFailed(e),
        }
        if start.elapsed() + poll > timeout {
            if tty {
                errln!();
            }
            return Followed::TimedOut(last);
        }
        tokio::time::sleep(poll).await;
    }
}

/// Prints the outcome: the final status (JSON), or a summary with the error's hint.
pub fn report(f: &Followed, out: OutputArgs, id: &str, places: &Places) {
    match f {
        Followed::Done(s) if out.json() => print_json(s),
        Followed::Done(s) => print_summary(s),
        Followed::TimedOut(last) => {
            if out.json() {
                print_json(&serde_json::json!({
                    "deploymentId": id, "timedOut": true, "last": last
                }));
            } else {
                let seen = last
                    .as_ref()
                    .map_or_else(|| "no status recorded yet".to_owned(), progress_line);
                errln!("imageferry: timed out waiting for {id}; last seen: {seen}");
                errln!("  it may still finish: `imageferry status {id}` shows where it is");
            }
        }
        Followed::StoreFailed(e) => {
            let unreachable = places.store(e);
            if out.json() {
                let error = unreachable
                    .as_ref()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                print_json(&serde_json::json!({"deploymentId": id, "error": error}));
            }
            let what = format!("reading the status of {id}");
            crate::network::report(&what, e, None, unreachable);
        }
    }
}

/// The human summary of a status.
pub fn print_summary(s: &DeploymentStatus) {
    outln!("{}  {}", s.deployment_id, s.status);
    if let Some(vm) = &s.vm_id {
        outln!("  vm       {vm}");
    }
    if let Some(ip) = &s.public_ip_address {
        outln!("  public   {ip}");
    }
    if let Some(ip) = &s.private_ip_address {
        outln!("  private  {ip}");
    }
    if let Some(e) = &s.error {
        outln!("  error    {}: {}", e.code, e.message);
        if let Some(h) = &e.hint {
            outln!("  fix      {h}");
        }
    }
}
