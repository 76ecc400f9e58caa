//! The benchmark run: start-up, throughput, memory, sizes, in that order, then the table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;

use crate::load::{LoadResult, LoadSpec};
use crate::options::{Options, read_settings};
use crate::process::Server;
use crate::report::{Report, RssRow, SizeRow};
use crate::{BenchError, NOOP_FUNCTION, load, rss, startup, workload};

/// How long a freshly started server idles before its RSS is read.
const SETTLE: Duration = Duration::from_millis(300);

/// The binaries involved.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// Bare axum hello.
    pub bare_hello: PathBuf,
    /// Bare axum JSON echo.
    pub bare_echo: PathBuf,
    /// The runtime with a no-op function.
    pub noop_handler: PathBuf,
    /// The real handler, when built.
    pub handler: Option<PathBuf>,
}

impl Binaries {
    /// Resolves paths from the options (default folder: the driver's own).
    pub fn locate(options: &Options) -> Result<Self, BenchError> {
        let dir = match &options.bin_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_exe()
                .map_err(|source| BenchError::Io {
                    context: "locating the bench binary".into(),
                    source,
                })?
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        let handler = options
            .handler
            .clone()
            .or_else(|| Some(dir.join("handler")))
            .filter(|p| p.is_file());
        Ok(Self {
            bare_hello: dir.join("bare-hello"),
            bare_echo: dir.join("bare-echo"),
            noop_handler: dir.join("noop-handler"),
            handler,
        })
    }
}

/// Runs everything and returns the report.
pub fn run(options: &Options) -> Result<Report, BenchError> {
    let bins = Binaries::locate(options)?;
    let handler_env = match &options.handler_env {
        Some(path) => read_settings(path).map_err(|message| BenchError::Io {
            context: "reading the handler's settings".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        })?,
        None => Vec::new(),
    };
    let (subject, subject_path, subject_note) = match &bins.handler {
        Some(path) => {
            match Server::spawn_with_env(path, &handler_env).and_then(|mut s| s.wait_ready()) {
                Ok(_) => (
                    "handler".to_owned(),
                    path.clone(),
                    format!("{} (the real handler)", path.display()),
                ),
                Err(e) => (
                    "noop-handler".to_owned(),
                    bins.noop_handler.clone(),
                    format!("noop-handler, because the real handler could not be benchmarked: {e}"),
                ),
            }
        }
        None => (
            "noop-handler".to_owned(),
            bins.noop_handler.clone(),
            "noop-handler (target/release/handler not found; pass --handler PATH)".to_owned(),
        ),
    };

    eprintln!("bench: start-up, {} runs per binary", options.start_runs);
    let subject_env = if subject == "handler" {
        handler_env.clone()
    } else {
        Vec::new()
    };
    let mut start_targets = vec![
        ("bare-hello".to_owned(), bins.bare_hello.clone(), Vec::new()),
        (subject.clone(), subject_path.clone(), subject_env.clone()),
    ];
    if subject != "noop-handler" {
        start_targets.push((
            "noop-handler".to_owned(),
            bins.noop_handler.clone(),
            Vec::new(),
        ));
    }
    let start = startup::measure(&start_targets, options.start_runs)?;

    eprintln!(
        "bench: throughput, {} rounds of {} requests at concurrency {}",
        options.rounds, options.requests, options.concurrency
    );
    let (path, headers, body) = workload::invocation_request(NOOP_FUNCTION);
    let body = Bytes::from(body);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io {
            context: "starting the load generator".into(),
            source,
        })?;
    let load_targets = [
        ("bare-echo".to_owned(), bins.bare_echo.clone()),
        ("noop-handler".to_owned(), bins.noop_handler.clone()),
    ];
    let mut load_results: Vec<(String, LoadResult)> = load_targets
        .iter()
        .map(|(label, _)| (label.clone(), LoadResult::default()))
        .collect();
    let mut peaks = vec![0u64; load_targets.len()];
    let mut round_ratios = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        // ABBA order, so drift and background load hit both targets alike.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut throughput = [0f64; 2];
        for i in order {
            let bin = &load_targets[i].1;
            let mut server = Server::spawn(bin)?;
            server.wait_ready()?;
            let mut spec = LoadSpec {
                addr: server.addr,
                path: path.clone(),
                headers: headers.clone(),
                body: body.clone(),
                concurrency: options.concurrency,
                requests: options.warmup,
            };
            runtime.block_on(load::run(&spec))?;
            spec.requests = options.requests;
            let result = runtime.block_on(load::run(&spec))?;
            peaks[i] = peaks[i].max(rss::read(server.pid())?.peak_kib);
            throughput[i] = result.throughput();
            load_results[i].1.merge(result);
        }
        round_ratios.push(throughput[1] / throughput[0].max(f64::EPSILON));
    }

    eprintln!("bench: idle memory and sizes");
    let mut rss_rows = Vec::new();
    let mut idle_targets = vec![
        (
            "bare-hello".to_owned(),
            bins.bare_hello.clone(),
            None,
            Vec::new(),
        ),
        (
            "bare-echo".to_owned(),
            bins.bare_echo.clone(),
            Some(peaks[0]),
            Vec::new(),
        ),
        (
            "noop-handler".to_owned(),
            bins.noop_handler.clone(),
            Some(peaks[1]),
            Vec::new(),
        ),
    ];
    if subject != "noop-handler" {
        idle_targets.push((subject.clone(), subject_path.clone(), None, subject_env));
    }
    for (label, bin, peak_kib, env) in &idle_targets {
        let mut server = Server::spawn_with_env(bin, env)?;
        server.wait_ready()?;
        std::thread::sleep(SETTLE);
        rss_rows.push(RssRow {
            label: label.clone(),
            idle_kib: rss::read(server.pid())?.current_kib,
            peak_kib: *peak_kib,
        });
    }
    let sizes = idle_targets
        .iter()
        .map(|(label, bin, _, _)| size_row(label, bin))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Report {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        subject_note,
        start,
        load: load_results,
        round_ratios,
        load_shape: format!(
            "{} rounds x {} requests, concurrency {}, {} warm-up each, same host_wire body of {} bytes",
            options.rounds,
            options.requests,
            options.concurrency,
            options.warmup,
            body.len()
        ),
        rss: rss_rows,
        sizes,
        subject,
    })
}

/// File size, and size after `strip` into a temporary file when `strip` exists.
fn size_row(label: &str, bin: &Path) -> Result<SizeRow, BenchError> {
    let bytes = std::fs::metadata(bin)
        .map_err(|source| BenchError::Io {
            context: format!("reading the size of {}", bin.display()),
            source,
        })?
        .len();
    let copy = std::env::temp_dir().join(format!("bench-strip-{}-{label}", std::process::id()));
    let stripped_bytes = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(bin)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|_| std::fs::metadata(&copy).ok())
        .map(|m| m.len());
    let _ = std::fs::remove_file(&copy);
    Ok(SizeRow {
        label: label.to_owned(),
        bytes,
        stripped_bytes,
    })
}
