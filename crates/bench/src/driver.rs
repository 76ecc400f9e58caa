//! The benchmark run: start-up, throughput, memory, sizes, in that order, then the table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;

use crate::load::{LoadResult, LoadSpec};
use crate::options::{Options, read_settings};
use crate::process::Target;
use crate::report::{Report, RssRow, SizeRow};
use crate::stage::Staging;
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

    /// The same binaries, copied into `staging`.
    pub fn staged(&self, staging: &Staging) -> Result<Self, BenchError> {
        Ok(Self {
            bare_hello: staging.copy(&self.bare_hello)?,
            bare_echo: staging.copy(&self.bare_echo)?,
            noop_handler: staging.copy(&self.noop_handler)?,
            handler: self
                .handler
                .as_deref()
                .map(|h| staging.copy(h))
                .transpose()?,
        })
    }
}

/// Runs everything and returns the report.
pub fn run(options: &Options) -> Result<Report, BenchError> {
    let built = Binaries::locate(options)?;
    let staging = if options.in_place {
        None
    } else {
        Some(Staging::new()?)
    };
    let (bins, binaries_note) = match &staging {
        Some(staging) => (
            built.staged(staging)?,
            format!(
                "copied to {} before measuring, as a deployment writes them (--in-place: measure them where they were built)",
                staging.dir().display()
            ),
        ),
        None => (
            built,
            "measured where they were built (--in-place)".to_owned(),
        ),
    };
    let (subject, subject_note) = choose_subject(&bins, options)?;
    let noop = Target::new("noop-handler", bins.noop_handler.clone());

    eprintln!("bench: start-up, {} runs per binary", options.start_runs);
    let mut start_targets = vec![
        Target::new("bare-hello", bins.bare_hello.clone()),
        subject.clone(),
    ];
    if subject.label != noop.label {
        start_targets.push(noop.clone());
    }
    let start = startup::measure(&start_targets, options.start_runs)?;

    eprintln!(
        "bench: throughput, {} rounds of {} requests at concurrency {}",
        options.rounds, options.requests, options.concurrency
    );
    let (path, headers, body) = workload::invocation_request(NOOP_FUNCTION);
    let spec = LoadSpec {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        path,
        headers,
        body: Bytes::from(body),
        concurrency: options.concurrency,
        requests: options.requests,
    };
    let bare_echo = Target::new("bare-echo", bins.bare_echo.clone());
    let load = measure_load([&bare_echo, &noop], &spec, options)?;

    eprintln!("bench: idle memory and sizes");
    let mut memory_targets = vec![
        (Target::new("bare-hello", bins.bare_hello.clone()), None),
        (bare_echo, Some(load.peak_kib[0])),
        (noop, Some(load.peak_kib[1])),
    ];
    if subject.label != "noop-handler" {
        memory_targets.push((subject.clone(), None));
    }
    let mut rss_rows = Vec::with_capacity(memory_targets.len());
    for (target, peak_kib) in &memory_targets {
        rss_rows.push(RssRow {
            label: target.label.clone(),
            idle_kib: idle_rss(target)?,
            peak_kib: *peak_kib,
        });
    }
    let sizes = memory_targets
        .iter()
        .map(|(target, _)| size_row(&target.label, &target.path))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Report {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        subject_note,
        binaries_note,
        start,
        load: load.results,
        round_ratios: load.round_ratios,
        load_shape: format!(
            "{} rounds x {} requests, concurrency {}, {} warm-up each, same host_wire body of {} bytes",
            options.rounds,
            options.requests,
            options.concurrency,
            options.warmup,
            spec.body.len()
        ),
        rss: rss_rows,
        sizes,
        subject: subject.label,
    })
}

/// The binary standing for `handler`: the real one when it exists and starts, else noop-handler.
fn choose_subject(bins: &Binaries, options: &Options) -> Result<(Target, String), BenchError> {
    let noop = Target::new("noop-handler", bins.noop_handler.clone());
    let Some(path) = &bins.handler else {
        let note = "noop-handler (target/release/handler not found; pass --handler PATH)";
        return Ok((noop, note.to_owned()));
    };
    let env = match &options.handler_env {
        Some(file) => read_settings(file).map_err(|message| BenchError::Io {
            context: "reading the handler's settings".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        })?,
        None => Vec::new(),
    };
    let handler = Target {
        label: "handler".to_owned(),
        path: path.clone(),
        env,
    };
    match handler.spawn().and_then(|mut server| server.wait_ready()) {
        Ok(_) => {
            let note = format!("{} (the real handler)", path.display());
            Ok((handler, note))
        }
        Err(e) => {
            let note =
                format!("noop-handler, because the real handler could not be benchmarked: {e}");
            Ok((noop, note))
        }
    }
}

/// Throughput results of the two load targets.
struct LoadOutcome {
    results: Vec<(String, LoadResult)>,
    peak_kib: [u64; 2],
    round_ratios: Vec<f64>,
}

/// Alternating rounds against `[baseline, runtime]`, each on a fresh process after a warm-up.
fn measure_load(
    targets: [&Target; 2],
    spec: &LoadSpec,
    options: &Options,
) -> Result<LoadOutcome, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io {
            context: "starting the load generator".into(),
            source,
        })?;
    let mut results: Vec<(String, LoadResult)> = targets
        .iter()
        .map(|t| (t.label.clone(), LoadResult::default()))
        .collect();
    let mut peak_kib = [0u64; 2];
    let mut round_ratios = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        // ABBA order, so drift and background load hit both targets alike.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut throughput = [0f64; 2];
        for i in order {
            let mut server = targets[i].spawn()?;
            server.wait_ready()?;
            let warmup = LoadSpec {
                addr: server.addr,
                requests: options.warmup,
                ..spec.clone()
            };
            runtime.block_on(load::run(&warmup))?;
            let measured = LoadSpec {
                requests: options.requests,
                ..warmup
            };
            let result = runtime.block_on(load::run(&measured))?;
            peak_kib[i] = peak_kib[i].max(rss::read(server.pid())?.peak_kib);
            throughput[i] = result.throughput();
            results[i].1.merge(result);
        }
        round_ratios.push(throughput[1] / throughput[0].max(f64::EPSILON));
    }
    Ok(LoadOutcome {
        results,
        peak_kib,
        round_ratios,
    })
}

/// `VmRSS` of a freshly started, idle process.
fn idle_rss(target: &Target) -> Result<u64, BenchError> {
    let mut server = target.spawn()?;
    server.wait_ready()?;
    std::thread::sleep(SETTLE);
    Ok(rss::read(server.pid())?.current_kib)
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
