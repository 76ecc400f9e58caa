//! Closed-loop load: `concurrency` keep-alive HTTP/1 connections send a fixed number of requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::BenchError;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Target address.
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Request headers.
    pub headers: Vec<(&'static str, String)>,
    /// Request body.
    pub body: Bytes,
    /// Connections, each with one request in flight.
    pub concurrency: usize,
    /// Requests in total.
    pub requests: usize,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Per-request latency, sorted.
    pub latencies: Vec<Duration>,
    /// Wall time of the whole run.
    pub wall: Duration,
}

impl LoadResult {
    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }

    /// Adds another run's samples.
    pub fn merge(&mut self, other: LoadResult) {
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        self.wall += other.wall;
    }
}

/// Runs the load; every answer must be `200`.
pub async fn run(spec: &LoadSpec) -> Result<LoadResult, BenchError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..spec.concurrency.max(1) {
        let spec = spec.clone();
        let next = Arc::clone(&next);
        workers.spawn(async move { worker(&spec, &next).await });
    }
    let mut latencies = Vec::with_capacity(spec.requests);
    while let Some(joined) = workers.join_next().await {
        let samples = joined.map_err(|e| BenchError::Load {
            target: spec.addr.to_string(),
            detail: format!("worker failed: {e}"),
        })??;
        latencies.extend(samples);
    }
    let wall = started.elapsed();
    latencies.sort();
    Ok(LoadResult { latencies, wall })
}

async fn worker(spec: &LoadSpec, next: &AtomicUsize) -> Result<Vec<Duration>, BenchError> {
    let fail = |detail: String| BenchError::Load {
        target: spec.addr.to_string(),
        detail,
    };
    let stream = TcpStream::connect(spec.addr)
        .await
        .map_err(|e| fail(format!("connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(format!("handshake: {e}")))?;
    tokio::spawn(connection);
    let mut samples = Vec::new();
    while next.fetch_add(1, Ordering::Relaxed) < spec.requests {
        let mut request = http::Request::post(spec.path.as_str()).header("host", "127.0.0.1");
        for (name, value) in &spec.headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(spec.body.clone()))
            .map_err(|e| fail(format!("request: {e}")))?;
        let sent = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fail(format!("send: {e}")))?;
        let status = response.status();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(format!("body: {e}")))?;
        samples.push(sent.elapsed());
        if status != http::StatusCode::OK {
            return Err(fail(format!("answered {status}")));
        }
    }
    Ok(samples)
}
