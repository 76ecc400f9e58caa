//! Child processes of the local tools (the local run, `imageferry dev`, the Functions host
//! stand-in, the benchmarks and their tests), in one place:
//!
//! - [`signal`] sends a signal through [`nix`] (no `unsafe`); [`is_running`] asks whether a
//!   process exists (signal 0);
//! - [`stop`] and [`stop_blocking`] stop a child the way the Functions host stops its worker:
//!   SIGTERM, a grace period, then SIGKILL;
//! - [`free_port`] finds a loopback port for a server that takes its port as a setting (the
//!   custom handler's `FUNCTIONS_CUSTOMHANDLER_PORT`).
//!
//! A crate of its own because its users sit on separate branches of the dependency graph (the
//! benchmarks depend on `functions-runtime` only, the Service Bus stand-in's tests on nothing of
//! the Functions host): a leaf crate is the one place they can all share without pulling in each
//! other.

use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

/// Why a signal could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The id is 0, negative as a `pid_t`, or too large: it would address a process group or
    /// nothing, not one process.
    #[error("{0} is not a process id")]
    InvalidPid(u32),
    /// `kill(2)` failed (no such process, not permitted).
    #[error("kill({pid}, {signal:?}): {errno}")]
    Kill {
        /// The process.
        pid: u32,
        /// The signal.
        signal: Option<Signal>,
        /// Why.
        errno: nix::errno::Errno,
    },
}

fn pid(pid: u32) -> Result<nix::unistd::Pid, SignalError> {
    match i32::try_from(pid) {
        Ok(p) if p > 0 => Ok(nix::unistd::Pid::from_raw(p)),
        _ => Err(SignalError::InvalidPid(pid)),
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid_: u32, signal: Signal) -> Result<(), SignalError> {
    nix::sys::signal::kill(pid(pid_)?, signal).map_err(|errno| SignalError::Kill {
        pid: pid_,
        signal: Some(signal),
        errno,
    })
}

/// Whether process `pid` exists (one of another user counts: `EPERM` means it is there).
pub fn is_running(pid_: u32) -> bool {
    let Ok(p) = pid(pid_) else {
        return false;
    };
    match nix::sys::signal::kill(p, None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    }
}

/// Stops `child`: SIGTERM, then up to `grace` for it to exit, then SIGKILL. Returns its exit
/// code (`None` when a signal ended it, or when it had to be killed).
pub async fn stop(child: &mut tokio::process::Child, grace: Duration) -> Option<i32> {
    if let Some(id) = child.id() {
        // Gone already (exited, not yet reaped): the wait below collects it.
        let _ = signal(id, Signal::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => status.code(),
        _ => {
            let _ = child.kill().await;
            None
        }
    }
}

/// [`stop`] for a `std::process::Child`, blocking the thread.
pub fn stop_blocking(
    child: &mut std::process::Child,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    if child.try_wait()?.is_none() {
        let _ = signal(child.id(), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            child.kill()?;
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port that was free on 127.0.0.1 a moment ago (the listener that found it is closed, so
/// another process may take it first: callers that can bind `127.0.0.1:0` themselves should).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn running_and_ended_processes() {
        assert!(is_running(std::process::id()));
        assert!(!is_running(ended_pid()));
        assert!(!is_running(0), "0 would ask about the process group");
        assert!(!is_running(u32::MAX), "not a pid_t");
        assert!(matches!(
            signal(0, Signal::SIGTERM),
            Err(SignalError::InvalidPid(0))
        ));
    }

    #[test]
    fn stop_blocking_terminates_then_kills() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let status = stop_blocking(&mut sleeper, Duration::from_secs(5)).unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        // A process that ignores SIGTERM is killed after the grace period.
        let mut stubborn = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let status = stop_blocking(&mut stubborn, Duration::from_millis(300)).unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn stop_returns_the_exit_code_of_a_clean_exit() {
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "trap 'exit 0' TERM; sleep 30 & wait"])
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(stop(&mut child, Duration::from_secs(5)).await, Some(0));
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
