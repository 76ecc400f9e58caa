//! Starting a server binary on a free loopback port and waiting for its readiness answer.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// A port that was free a moment ago on 127.0.0.1 (the one helper of `process-control`).
pub use process_control::free_port;

/// How long a server may take to answer `GET /`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A binary to run, with the extra environment (app settings) it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Label in the report.
    pub label: String,
    /// The binary.
    pub path: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Target {
    /// A target without extra environment.
    pub fn new(label: &str, path: PathBuf) -> Self {
        Self {
            label: label.to_owned(),
            path,
            env: Vec::new(),
        }
    }

    /// Starts it (see [`Server::spawn_with_env`]).
    pub fn spawn(&self) -> Result<Server, BenchError> {
        Server::spawn_with_env(&self.path, &self.env)
    }
}

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    path: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    spawned_at: Instant,
}

impl Server {
    /// Starts `path` with `FUNCTIONS_CUSTOMHANDLER_PORT` set to a free port, output discarded.
    pub fn spawn(path: &Path) -> Result<Self, BenchError> {
        Self::spawn_with_env(path, &[])
    }

    /// Like [`Server::spawn`], with extra environment variables (app settings).
    pub fn spawn_with_env(path: &Path, env: &[(String, String)]) -> Result<Self, BenchError> {
        let port = free_port().map_err(|source| BenchError::Io {
            context: "finding a free port".into(),
            source,
        })?;
        let mut command = Command::new(path);
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(functions_runtime::PORT_ENV, port.to_string())
            .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let spawned_at = Instant::now();
        let child = command.spawn().map_err(|source| BenchError::Spawn {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            child,
            path: path.to_owned(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            spawned_at,
        })
    }

    /// Polls `GET /` until any HTTP answer arrives (as the host does, NOTES §1.2) and returns the
    /// time from just before `spawn` to that answer.
    pub fn wait_ready(&mut self) -> Result<Duration, BenchError> {
        loop {
            if probe(self.addr) {
                return Ok(self.spawned_at.elapsed());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::ExitedEarly {
                    path: self.path.display().to_string(),
                    status,
                });
            }
            if self.spawned_at.elapsed() > READY_TIMEOUT {
                return Err(BenchError::NotReady {
                    path: self.path.display().to_string(),
                    seconds: READY_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Process id, for `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET /` over a fresh connection; true when an HTTP status line comes back.
pub fn probe(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    head[..read].starts_with(b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn probe_sees_http_and_rejects_silence() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = conn.read(&mut buf).unwrap();
            conn.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        assert!(probe(addr), "any HTTP status counts as ready");
        server.join().unwrap();
        assert!(!probe(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            free_port().unwrap()
        ))));
    }
}
