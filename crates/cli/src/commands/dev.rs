//! `imageferry dev`: the whole stack on this machine, then deployments through it.
//!
//! Starts the Azure stand-in (`azure-sim`, default scenario), the durable Service Bus stand-in
//! (`servicebus-emulator`, as a child process), the local Functions host (`functions-host`) with
//! the real `handler`, sends the sample deployment (or `--request FILE`, `--windows`, `--count N`
//! numbered copies) and shows progress live until every deployment is terminal. Then it checks
//! the run (one terminal event per deployment, no VM created twice, queues drained, nothing
//! dead-lettered without a terminal event) and prints the figures. Exit 0 only when every
//! deployment succeeded and every check held. `--chaos` injects faults; `--keep` leaves the stack
//! running and writes the environment the `imageferry` commands need to talk to it to
//! `target/imageferry-dev/env`. Logs and the stand-in's database go to
//! `target/imageferry-dev/run-<pid>/`; each start prunes the folders of ended runs but the newest
//! five. `--scale-set` runs a scale set instead: created from 1.0.0, then 1.1.0 published and
//! rolled through its instances in batches ([`scale_set`]).

/// A line of `dev`'s own report: on stdout, or on stderr with `-o json` (stdout then holds one
/// JSON document).
macro_rules! say {
    ($json:expr, $($arg:tt)*) => {
        if $json { errln!($($arg)*) } else { outln!($($arg)*) }
    };
}

mod bus;
mod chaos;
mod chaos_dead_letter;
mod error;
mod follow;
mod install;
mod report;
mod requests;
mod runs;
mod scale_set;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_clients::servicebus::ServiceBusReceiver;
use azure_clients::{OutgoingMessage, ServiceBusConnection, ServiceBusSender};
use functions_host::{Host, HostOptions};
use local_run::processes;
use local_run::stack::seed;

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json};
use error::DevError;
use imageferry_contract::duration::parse_duration;

/// Arguments of `dev`.
#[derive(clap::Args)]
pub struct Args {
    /// The deployment-requested message to send (default: examples/deployment-request.linux.json).
    #[arg(long)]
    request: Option<PathBuf>,
    /// Send the Windows sample (its password comes from the stand-in's Key Vault).
    #[arg(long, conflicts_with = "request")]
    windows: bool,
    /// Send N numbered copies of the request (ids `<id>-0001`…, VM names `<name>0001`…).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    count: u32,
    /// Scenario file for the Azure stand-in (its default scenario when omitted).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Simulated seconds per real second in the Azure stand-in (replication, long-running
    /// operations): 30 turns two minutes of replication into four seconds.
    #[arg(long, default_value_t = 30.0)]
    time_scale: f64,
    /// Give up after this long (`90s`, `10m`, `1h`; a bare number is seconds).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
    /// Leave the stack running after the deployments (stop with Ctrl-C or SIGTERM) and print the
    /// environment the imageferry commands use to talk to it, also written to
    /// target/imageferry-dev/env: `eval "$(cat target/imageferry-dev/env)"`, then
    /// `imageferry request --wait`, `status`, `dead-letters`... Endpoints also in
    /// target/imageferry-dev/stack.json.
    #[arg(long)]
    keep: bool,
    /// Inject faults: 20% ARM 429/5xx, token-endpoint outages, duplicate deliveries and
    /// requests, the handler SIGKILLed `--chaos-kills` times and the Service Bus stand-in killed
    /// and restarted once, optionally ARM down for `--chaos-arm-outage`; then one more
    /// deployment whose request is dead-lettered by a SIGKILL during its last delivery (it must
    /// end `failed`, `DeadLettered`).
    #[arg(long)]
    chaos: bool,
    /// Handler kills in a chaos run (one second apart).
    #[arg(long, default_value_t = 6)]
    chaos_kills: u32,
    /// Length of the token-endpoint outage that starts when the handler is back after each
    /// kill, so that the restarted handler (which has no cached token) meets it.
    #[arg(long, default_value = "1500ms", value_parser = parse_duration)]
    chaos_token_outage: Duration,
    /// Fraction of token requests refused during an outage (1 = all: a complete outage, as
    /// Entra has; the steps wait on scheduled retries, `IMAGEFERRY_OUTAGE_BUDGET`).
    #[arg(long, default_value_t = 0.3)]
    chaos_token_refusal: f64,
    /// After the token outages, ARM answers 503 to every request for this long (`0s`: never).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    chaos_arm_outage: Duration,
    /// Benchmark settings: no simulated waits (replication and long-running operations complete
    /// at once), short polls, warn-level handler logs.
    #[arg(long)]
    bench: bool,
    /// A scale set instead of a VM: the sample scale-set request creates it from 1.0.0, then
    /// 1.1.0 is published in the stand-in and rolled through the instances in health-gated
    /// batches, shown live; exit 0 when every instance runs 1.1.0.
    #[arg(long, conflicts_with_all = ["request", "windows", "count", "chaos", "bench"])]
    scale_set: bool,
    /// Extra app settings for the handler, NAME=VALUE (repeatable).
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    #[command(flatten)]
    out: OutputArgs,
}

/// A `--set` without `=`.
#[derive(Debug, thiserror::Error)]
#[error("expected NAME=VALUE, got {0:?}")]
struct NotASetting(String);

fn parse_setting(s: &str) -> Result<(String, String), NotASetting> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| NotASetting(s.to_owned()))
}

/// The app root: the current folder when it holds host.json, else the checkout this binary was
/// built from.
fn app_root() -> Result<PathBuf, install::NotInstalled> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    install::app_root_in(&cwd, &Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Runs the command.
pub async fn run(args: Args) -> Exit {
    // Files named on the command line are checked before anything starts: a usage error (4).
    for (flag, path) in [("--request", &args.request), ("--scenario", &args.scenario)] {
        if let Some(path) = path
            && let Err(e) = std::fs::metadata(path)
        {
            return crate::output::usage_error(format!("dev {flag} {}: {e}", path.display()));
        }
    }
    match run_inner(args).await {
        Ok(exit) => exit,
        Err(e) => {
            errln!("imageferry dev: {e}");
            e.exit()
        }
    }
}

async fn post_json(url: &str, body: serde_json::Value) -> Result<(), DevError> {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map(|_| ())
        .map_err(|source| DevError::StandIn {
            url: url.to_owned(),
            source,
        })
}

fn settings(
    azure: &str,
    authority: &str,
    connection: &str,
    bench: bool,
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    let poll = if bench { "100ms" } else { "1s" };
    let mut s: BTreeMap<String, String> = [
        ("FUNCTIONS_WORKER_RUNTIME", "Custom".to_string()),
        ("AZURE_AUTHORITY_HOST", authority.to_string()),
        ("IMAGEFERRY_ARM_ENDPOINT", azure.to_string()),
        // The stand-in's Key Vault is trusted only because this setting names it (a Windows
        // request's adminPasswordSecretId points there).
        ("IMAGEFERRY_KEYVAULT_ENDPOINT", azure.to_string()),
        // The deployment status store: the stand-in's Table service (crate status-store), which
        // `imageferry request --wait` and `imageferry status` read.
        (
            "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
            format!("{}/table/", azure.trim_end_matches('/')),
        ),
        ("AZURE_CLIENT_ID", seed::CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", seed::CLIENT_SECRET.to_string()),
        ("AZURE_TENANT_ID", seed::TENANT_1.to_string()),
        ("ServiceBusConnection", connection.to_string()),
        ("IMAGEFERRY_ALLOWED_GALLERIES", seed::GALLERY_ID.to_string()),
        (
            "IMAGEFERRY_ALLOWED_TARGETS",
            format!("{}/{}", seed::TENANT_2, seed::SUBSCRIPTION_2),
        ),
        ("IMAGEFERRY_REPLICATION_BACKOFF_INITIAL", poll.to_string()),
        (
            "IMAGEFERRY_REPLICATION_BACKOFF_CAP",
            if bench { "1s" } else { "3s" }.to_string(),
        ),
        ("IMAGEFERRY_PROVISIONING_POLL", poll.to_string()),
        // Scheduled retries of transient failures: soon after an outage ends (Azure's defaults
        // are 5s doubling to 5m; the outage budget stays 30m).
        ("IMAGEFERRY_RETRY_BACKOFF_INITIAL", poll.to_string()),
        (
            "IMAGEFERRY_RETRY_BACKOFF_CAP",
            if bench { "2s" } else { "10s" }.to_string(),
        ),
        ("RUST_LOG", if bench { "warn" } else { "info" }.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    s.extend(extra.iter().cloned());
    s
}

struct Stack {
    azure: processes::Running,
    bus: Arc<tokio::sync::Mutex<bus::BusProcess>>,
    host: Host,
    proxy: Option<chaos::TokenProxy>,
    dir: PathBuf,
    connection: String,
    /// What the `imageferry` commands need to talk to this stack (see [`cli_env`]).
    cli_env: Vec<(String, String)>,
    /// The dead-letter probe of a chaos run.
    probe: Option<chaos_dead_letter::DeadLetterProbe>,
    /// What the dead-letter functions received.
    dead_letter_log: chaos_dead_letter::DeadLetterLog,
}

#[allow(clippy::too_many_lines)]
async fn run_inner(args: Args) -> Result<Exit, DevError> {
    let root = app_root()?;
    let base = root.join("target/imageferry-dev");
    runs::prune(&base, runs::KEEP_ENDED_RUNS);
    let dir = runs::run_dir(&base, std::process::id());
    std::fs::create_dir_all(&dir).map_err(|source| DevError::File {
        path: dir.clone(),
        source,
    })?;
    let count = args.count as usize;
    let bins = install::binaries()?;

    // A scale-set run adds the image pipeline that publishes 1.1.0 to the scenario.
    let scenario = if args.scale_set {
        let base = args
            .scenario
            .clone()
            .unwrap_or_else(|| root.join("crates/azure-sim/scenarios/default.toml"));
        let text = std::fs::read_to_string(&base).map_err(|source| DevError::File {
            path: base.clone(),
            source,
        })?;
        let path = dir.join("scenario.toml");
        std::fs::write(&path, scale_set::scenario(&text)).map_err(|source| DevError::File {
            path: path.clone(),
            source,
        })?;
        Some(path)
    } else {
        args.scenario.clone()
    };
    let azure = processes::start_azure_sim(
        &bins.azure_sim,
        scenario.as_deref(),
        &dir.join("azure-sim.log"),
    )
    .await?;
    let mut faults = serde_json::json!({
        "time_scale": if args.bench { 1.0e6 } else { args.time_scale },
    });
    if args.chaos {
        faults["throttle_rate"] = 0.1.into();
        faults["server_error_rate"] = 0.1.into();
        faults["seed"] = (std::process::id() as u64).into();
        // Retry at once after a 429: the run measures correctness, not patience.
        faults["retry_after_secs"] = 0.into();
    }
    post_json(&format!("{}/_sim/faults", azure.base_url), faults).await?;

    let bus = bus::BusProcess::start(dir.join("bus.db"), dir.join("servicebus.log")).await?;
    let connection = bus.connection_string();
    let proxy = if args.chaos {
        Some(
            chaos::TokenProxy::start(&azure.base_url)
                .await
                .map_err(DevError::Proxy)?,
        )
    } else {
        None
    };
    let authority = proxy
        .as_ref()
        .map(|p| p.base_url.clone())
        .unwrap_or_else(|| azure.base_url.clone());
    let app = functions_host::app::load(&root)?;
    let host_log_path = dir.join("host.log");
    let host_log = Arc::new(Mutex::new(std::io::BufWriter::new(
        std::fs::File::create(&host_log_path).map_err(|source| DevError::File {
            path: host_log_path.clone(),
            source,
        })?,
    )));
    let sink = host_log.clone();
    let dead_letter_log = chaos_dead_letter::DeadLetterLog::default();
    let observed = dead_letter_log.clone();
    log_warnings_to(host_log.clone());
    let app_settings = settings(
        &azure.base_url,
        &authority,
        &connection,
        args.bench,
        &args.settings,
    );
    let cli_env = cli_env(&app_settings);
    let mut options = HostOptions::new(app.clone(), app_settings, dir.join("handler.log"));
    options.executable = Some(bins.handler.clone());
    options.log = Arc::new(move |line| {
        observed.observe(line);
        let mut f = sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "{line}");
    });
    let probe = args.chaos.then(|| {
        chaos_dead_letter::DeadLetterProbe::new(
            servicebus_emulator::NamespaceConfig::imageferry()
                .receivable("deployment-requested")
                .map_or(10, |q| q.max_delivery_count),
        )
    });
    if args.chaos {
        options.redeliver_after_success = 0.05;
        options.injector = probe.as_ref().map(|p| p.injector());
    }
    let host = Host::start(options).await?;
    let stack = Stack {
        azure,
        bus: Arc::new(tokio::sync::Mutex::new(bus)),
        host,
        proxy,
        dir,
        connection,
        cli_env,
        probe,
        dead_letter_log,
    };
    let outcome = if args.scale_set {
        scale_set::drive(&stack, &root, args.timeout, args.out.json()).await
    } else {
        drive(&args, &stack, &root, count, &host_log).await
    };
    if let Ok(mut f) = host_log.lock() {
        let _ = f.flush();
    }
    let outcome = outcome.map(|(exit, report)| (exit, report, args.out.json()));
    let outcome = match outcome {
        Ok((exit, report, json)) => {
            if args.keep {
                keep(&stack, &root, &host_log, json.then_some(report)).await;
            } else if json {
                print_json(&report);
            }
            Ok(exit)
        }
        Err(e) => Err(e),
    };
    shutdown(stack).await;
    outcome
}

async fn drive(
    args: &Args,
    stack: &Stack,
    root: &Path,
    count: usize,
    host_log: &Arc<Mutex<std::io::BufWriter<std::fs::File>>>,
) -> Result<(Exit, serde_json::Value), DevError> {
    let json = args.out.json();
    let bus_url = stack.bus.lock().await.base_url.clone();
    let app = stack.host.functions();
    say!(json, "azure stand-in   {}", stack.azure.base_url);
    say!(
        json,
        "service bus      {bus_url} (durable stand-in: {})",
        stack.dir.join("bus.db").display()
    );
    say!(
        json,
        "functions host   {} (handler pid {})",
        app.iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        stack.host.supervisor().pid().unwrap_or(0)
    );
    say!(
        json,
        "logs             {}/{{host,handler,azure-sim,servicebus}}.log",
        stack.dir.display()
    );
    let request_path = match (&args.request, args.windows) {
        (Some(p), _) => p.clone(),
        (None, true) => root.join(requests::WINDOWS_SAMPLE),
        (None, false) => root.join(requests::LINUX_SAMPLE),
    };
    let mut notes = Vec::new();
    let requests = requests::load(&request_path, count, &stack.azure.base_url, &mut notes)?;
    for n in notes {
        say!(json, "{n}");
    }
    let shown = request_path
        .strip_prefix(root)
        .unwrap_or(&request_path)
        .display()
        .to_string();
    if count == 1 {
        say!(json, "sending          {shown} -> deployment-requested");
    } else {
        say!(
            json,
            "sending          {count} deployments from {shown} -> deployment-requested"
        );
    }

    let client =
        ServiceBusReceiver::from_connection(ServiceBusConnection::parse(&stack.connection)?);
    let tracker = Arc::new(follow::Tracker::default());
    let display = Arc::new(follow::Display::new(count));
    let shown_display = display.clone();
    let followers = follow::start(
        client.clone(),
        tracker.clone(),
        if count > 50 { 4 } else { 1 },
        Arc::new(move |e| shown_display.event(e)),
    );
    let started = Instant::now();
    let sender = ServiceBusSender::from_connection(ServiceBusConnection::parse(&stack.connection)?);
    let duplicates_sent = send_all(&sender, &requests, &tracker, args.chaos).await?;

    let chaos_task = match (args.chaos, &stack.proxy) {
        (true, Some(proxy)) => Some(tokio::spawn(chaos_schedule(
            stack.host.supervisor().clone(),
            stack.bus.clone(),
            proxy.clone(),
            args.chaos_kills,
            args.chaos_token_outage,
            args.chaos_token_refusal,
            (stack.azure.base_url.clone(), args.chaos_arm_outage),
        ))),
        _ => None,
    };
    let deadline = started + args.timeout;
    loop {
        let tally = tracker.tally();
        let extra = if args.chaos {
            format!(" | handler starts {}", stack.host.supervisor().starts())
        } else {
            String::new()
        };
        display.summary(&tally, &extra);
        if tally.terminal >= count || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let chaos = match chaos_task {
        Some(t) => Some(t.await??),
        None => None,
    };
    let tally = tracker.tally();
    // The dead-letter probe, once the others have ended (it is not one of the `count`).
    let probed = match &stack.probe {
        Some(probe) if tally.terminal >= count => Some(
            probe
                .run(
                    &sender,
                    &stack.azure.base_url,
                    &tracker,
                    &requests[0].body,
                    Duration::from_secs(120),
                )
                .await
                .map_err(DevError::Chaos)?,
        ),
        _ => None,
    };
    display.finish();

    // Checks.
    let drained = report::wait_drained(&bus_url, Duration::from_secs(60)).await;
    // Terminal-events subscription: wait for its copies to be counted too.
    let filter_deadline = Instant::now() + Duration::from_secs(10);
    while tracker
        .filtered_counts()
        .0
        .values()
        .map(|v| *v as usize)
        .sum::<usize>()
        < tally.terminal
        && Instant::now() < filter_deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for f in followers {
        f.abort();
    }
    let dead = report::drain_dead_letters(&client).await;
    let recorded = stack.dead_letter_log.recorded();
    let deployments = tracker.deployments();
    let (filtered, leaks) = tracker.filtered_counts();
    let azure = report::azure_figures(&stack.azure.base_url).await?;
    let ops = report::bus_operations(&bus_url).await?;
    let stats = stack.host.stats();
    if let Ok(mut f) = host_log.lock() {
        let _ = f.flush();
    }

    let mut violations = Vec::new();
    let multi: Vec<_> = deployments
        .iter()
        .filter(|(_, d)| d.terminal.len() > 1)
        .map(|(id, d)| format!("{id}: {:?}", d.terminal))
        .collect();
    if !multi.is_empty() {
        violations.push(format!(
            "{} deployments with more than one terminal event: {}",
            multi.len(),
            multi.join("; ")
        ));
    }
    if tally.terminal < count {
        violations.push(format!(
            "{} deployments without a terminal event within {}",
            count - tally.terminal,
            humantime::format_duration(args.timeout)
        ));
    }
    let twice: Vec<_> = azure
        .vm_creates
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, n)| format!("{p} ({n}×)"))
        .collect();
    if !twice.is_empty() {
        violations.push(format!("VMs created more than once: {}", twice.join(", ")));
    }
    let filtered_wrong = deployments
        .iter()
        .filter(|(id, d)| !d.terminal.is_empty() && filtered.get(*id).copied().unwrap_or(0) != 1)
        .count();
    if filtered_wrong > 0 || leaks > 0 {
        violations.push(format!(
            "terminal-events subscription (status IN rule): {filtered_wrong} deployments without exactly one terminal event there, {leaks} non-terminal events let through"
        ));
    }
    if !drained {
        violations
            .push("messages still in the step queues 60 s after the last terminal event".into());
    }
    // Dead-lettered: what the dead-letter functions recorded, and what is still in a dead-letter
    // queue (a dead-letter function that could not record it).
    let unexplained: Vec<_> = dead
        .iter()
        .filter(|(_, id, _)| deployments.get(id).is_none_or(|d| d.terminal.is_empty()))
        .map(|(q, id, reason)| format!("{q}: {id} ({reason})"))
        .chain(
            recorded
                .iter()
                .filter(|(_, m)| {
                    deployments
                        .get(chaos_dead_letter::deployment_of(m))
                        .is_none_or(|d| d.terminal.is_empty())
                })
                .map(|(q, m)| format!("{q}: {m} (recorded, but no terminal event)")),
        )
        .collect();
    if let Some(p) = &probed
        && !p.holds()
    {
        violations.push(format!(
            "the dead-letter probe did not end failed/DeadLettered after a kill on its last delivery: killed on delivery {} of {}, terminal {:?}, error {}",
            p.killed_on, p.max_delivery_count, p.terminal, p.error
        ));
    }
    if !unexplained.is_empty() {
        violations.push(format!(
            "dead-lettered without a terminal event: {}",
            unexplained.join(", ")
        ));
    }

    // Report.
    let statuses: Vec<String> = tally
        .by_status
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    say!(
        json,
        "done             {} deployment{} in {:.1} s: {}",
        count,
        if count == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        if statuses.is_empty() {
            "none terminal".to_string()
        } else {
            statuses.join(", ")
        }
    );
    if count == 1
        && let Some(d) = deployments.values().find(|d| !d.terminal.is_empty())
        && let Some(vm) = d.last_event["vmId"].as_str()
    {
        say!(json, "vm               {vm}");
    }
    let times = report::times_to_terminal(&deployments);
    let n = count as f64;
    let arm_gets = azure.arm_requests - azure.arm_writes;
    let ops_total: u64 = ops
        .iter()
        .filter(|(k, _)| k.as_str() != "receive-empty")
        .map(|(_, v)| *v)
        .sum();
    say!(
        json,
        "figures          {:.1} deployments/s; time to terminal p50 {} ms, p99 {} ms; ARM writes/deployment {:.2} ({:.2} succeeded), ARM reads/deployment {:.2}",
        n / elapsed.as_secs_f64(),
        report::percentile(&times, 0.5).as_millis(),
        report::percentile(&times, 0.99).as_millis(),
        azure.arm_writes as f64 / n,
        azure.arm_writes_ok as f64 / n,
        arm_gets as f64 / n,
    );
    say!(
        json,
        "                 token requests per tenant: {}",
        azure
            .tokens_per_tenant
            .iter()
            .map(|(t, c)| format!("{t} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    say!(
        json,
        "                 Service Bus operations/deployment {:.2} ({}; plus {} empty long polls)",
        ops_total as f64 / n,
        ops.iter()
            .filter(|(k, _)| k.as_str() != "receive-empty")
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        ops.get("receive-empty").copied().unwrap_or(0)
    );
    say!(
        json,
        "host             {} invocations: {} succeeded, {} failed, {} timed out; {} completed, {} abandoned, {} locks lost, {} lock renewals; handler started {} times",
        stats.invocations,
        stats.succeeded,
        stats.failed,
        stats.timed_out,
        stats.completed,
        stats.abandoned,
        stats.locks_lost,
        stats.renewals,
        stack.host.supervisor().starts()
    );
    if let Some(c) = &chaos {
        say!(
            json,
            "chaos            handler SIGKILLed {} times, Service Bus stand-in killed and restarted {} times, {} token requests refused in outages ({} ms each, {:.0}% refused), ARM down {} ms, {} ARM requests answered 429/5xx, {} duplicate deliveries injected, {} requests sent twice",
            c.kills,
            c.bus_restarts,
            stack.proxy.as_ref().map(|p| p.refused()).unwrap_or(0),
            args.chaos_token_outage.as_millis(),
            args.chaos_token_refusal * 100.0,
            c.arm_outage.as_millis(),
            azure.arm_faults,
            stats.injected_redeliveries,
            duplicates_sent
        );
    }
    if let Some(p) = &probed {
        say!(
            json,
            "dead-letter      {}: request abandoned {} times, handler SIGKILLed during delivery {} of {}; ended {} ({})",
            chaos_dead_letter::PROBE_ID,
            p.abandoned,
            p.killed_on,
            p.max_delivery_count,
            if p.terminal.is_empty() {
                "without a terminal event".to_string()
            } else {
                p.terminal.join(", ")
            },
            p.error["code"].as_str().unwrap_or("no error")
        );
    }
    say!(
        json,
        "checks           {} terminal of {count} ({} with more than one), {} VM creates ({} VMs created twice), queues drained: {}, dead-lettered: {} ({} without a terminal event), terminal-events subscription: {} events",
        tally.terminal,
        multi.len(),
        azure.vm_creates.values().sum::<usize>(),
        twice.len(),
        if drained { "yes" } else { "no" },
        dead.len() + recorded.len(),
        unexplained.len(),
        filtered.values().sum::<u32>()
    );
    for v in &violations {
        say!(json, "violation        {v}");
    }
    // The first error, to say why the exit status is not 0.
    if let Some((id, d)) = deployments.iter().find(|(id, d)| {
        id.as_str() != chaos_dead_letter::PROBE_ID
            && d.terminal.first().is_some_and(|s| s != "succeeded")
    }) && let Some(err) = d.last_event.get("error").filter(|e| !e.is_null())
    {
        say!(json, "error            {id}: {err}");
    }
    let exit = if tally.terminal < count {
        Exit::TimedOut
    } else if !violations.is_empty() || tally.by_status.contains_key("failed") {
        Exit::Failed
    } else if tally.by_status.contains_key("rejected") {
        Exit::Rejected
    } else {
        Exit::Succeeded
    };
    let mut ids: Vec<&String> = deployments.keys().collect();
    ids.sort();
    let summary = serde_json::json!({
        "outcome": exit.name(),
        "stack": {
            "azure": stack.azure.base_url,
            "serviceBus": bus_url,
            "logs": stack.dir,
        },
        "request": shown,
        "elapsedSeconds": elapsed.as_secs_f64(),
        "deployments": ids.iter().map(|id| {
            let d = &deployments[*id];
            serde_json::json!({
                "deploymentId": id,
                "status": d.terminal.first().unwrap_or(&d.status),
                "terminalEvents": d.terminal.len(),
                "vmId": d.last_event.get("vmId"),
                "error": d.last_event.get("error").filter(|e| !e.is_null()),
            })
        }).collect::<Vec<_>>(),
        "statuses": tally.by_status,
        "figures": {
            "deploymentsPerSecond": n / elapsed.as_secs_f64(),
            "timeToTerminalMs": {
                "p50": report::percentile(&times, 0.5).as_millis() as u64,
                "p99": report::percentile(&times, 0.99).as_millis() as u64,
            },
            "armWritesPerDeployment": azure.arm_writes as f64 / n,
            "armWritesSucceededPerDeployment": azure.arm_writes_ok as f64 / n,
            "armReadsPerDeployment": arm_gets as f64 / n,
            "tokenRequestsPerTenant": azure.tokens_per_tenant,
            "serviceBusOperationsPerDeployment": ops_total as f64 / n,
            "serviceBusOperations": ops,
        },
        "host": {
            "invocations": stats.invocations,
            "succeeded": stats.succeeded,
            "failed": stats.failed,
            "timedOut": stats.timed_out,
            "completed": stats.completed,
            "abandoned": stats.abandoned,
            "locksLost": stats.locks_lost,
            "lockRenewals": stats.renewals,
            "handlerStarts": stack.host.supervisor().starts(),
        },
        "chaos": chaos.as_ref().map(|c| serde_json::json!({
            "handlerKills": c.kills,
            "serviceBusRestarts": c.bus_restarts,
            "tokenRequestsRefused": stack.proxy.as_ref().map(|p| p.refused()).unwrap_or(0),
            "armFaults": azure.arm_faults,
            "duplicateDeliveries": stats.injected_redeliveries,
            "requestsSentTwice": duplicates_sent,
            "tokenOutageMs": args.chaos_token_outage.as_millis() as u64,
            "tokenRefusal": args.chaos_token_refusal,
            "armOutageMs": c.arm_outage.as_millis() as u64,
        })),
        "deadLetterProbe": probed.as_ref().map(|p| serde_json::json!({
            "deploymentId": chaos_dead_letter::PROBE_ID,
            "abandoned": p.abandoned,
            "killedOnDelivery": p.killed_on,
            "maxDeliveryCount": p.max_delivery_count,
            "terminal": p.terminal,
            "error": p.error,
            "holds": p.holds(),
        })),
        "checks": {
            "terminal": tally.terminal,
            "moreThanOneTerminal": multi.len(),
            "vmCreates": azure.vm_creates.values().sum::<usize>(),
            "vmsCreatedTwice": twice.len(),
            "queuesDrained": drained,
            "deadLettered": dead.len() + recorded.len(),
            "deadLetteredWithoutTerminalEvent": unexplained.len(),
            "terminalEventsSubscription": filtered.values().sum::<u32>(),
        },
        "violations": violations,
    });
    Ok((exit, summary))
}

/// Sends every request (16 at a time). In a chaos run every request is sent twice with the same
/// MessageId (dropped by duplicate detection) and one in ten again with another MessageId (a
/// pipeline retrying: the handler must be idempotent). Returns how many were sent twice.
async fn send_all(
    sender: &ServiceBusSender,
    requests: &[requests::Request],
    tracker: &follow::Tracker,
    chaos: bool,
) -> Result<usize, DevError> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    let mut twice = 0;
    for (i, r) in requests.iter().enumerate() {
        tracker.sent(&r.id);
        let mut ids = vec![format!("{}:request", r.id)];
        if chaos {
            ids.push(format!("{}:request", r.id));
            if i % 10 == 0 {
                ids.push(format!("{}:request:again", r.id));
                twice += 1;
            }
        }
        for id in ids {
            let permit = semaphore.clone().acquire_owned().await?;
            let sender = sender.clone();
            let body = r.body.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let msg = OutgoingMessage {
                    body,
                    message_id: Some(id),
                    ..OutgoingMessage::default()
                };
                sender.send("deployment-requested", msg).await
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(twice)
}

/// What the chaos schedule did.
struct ChaosDone {
    kills: u32,
    bus_restarts: u32,
    arm_outage: Duration,
}

/// One second apart: a SIGKILL of the handler, then a token-endpoint outage as soon as it is back
/// (it has no cached token); after the second kill, the Service Bus stand-in is killed and
/// restarted; once the last token outage is over, ARM answers 503 for `arm_outage`.
async fn chaos_schedule(
    supervisor: functions_host::Supervisor,
    bus: Arc<tokio::sync::Mutex<bus::BusProcess>>,
    proxy: chaos::TokenProxy,
    kills: u32,
    outage: Duration,
    refusal: f64,
    (azure, arm_outage): (String, Duration),
) -> Result<ChaosDone, DevError> {
    let mut done = ChaosDone {
        kills: 0,
        bus_restarts: 0,
        arm_outage: Duration::ZERO,
    };
    for k in 1..=kills {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Only a running handler can be killed: wait for the restart after the previous kill.
        if supervisor
            .ready_within(Duration::from_secs(30))
            .await
            .is_none()
        {
            return Err(DevError::HandlerGone);
        }
        if supervisor.kill().is_some() {
            done.kills += 1;
        }
        // The restarted handler fetches its tokens into the outage.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if supervisor
            .ready_within(Duration::from_secs(30))
            .await
            .is_none()
        {
            return Err(DevError::HandlerGone);
        }
        proxy.outage(outage, refusal);
        if k == 2 {
            let mut bus = bus.lock().await;
            bus.kill_and_restart().await?;
            done.bus_restarts = bus.restarts;
        }
    }
    if !arm_outage.is_zero() {
        // ARM goes down when the last token outage is over: the two outages add up.
        tokio::time::sleep(outage).await;
        chaos_dead_letter::arm_outage(&azure, arm_outage)
            .await
            .map_err(DevError::Chaos)?;
        done.arm_outage = arm_outage;
    }
    Ok(done)
}

/// The app settings the `imageferry` commands read, in the order written.
const CLI_SETTINGS: [&str; 10] = [
    "AZURE_AUTHORITY_HOST",
    "IMAGEFERRY_ARM_ENDPOINT",
    "IMAGEFERRY_KEYVAULT_ENDPOINT",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "ServiceBusConnection",
    "IMAGEFERRY_STATUS_TABLE_ENDPOINT",
    "IMAGEFERRY_ALLOWED_GALLERIES",
    "IMAGEFERRY_ALLOWED_TARGETS",
];

/// Variables that would make a command look elsewhere than this stack (another cloud, another
/// credential, Service Bus or status store): the env file unsets them.
const CLI_CONFLICTS: [&str; 14] = [
    "IMAGEFERRY_CLOUD",
    "IMAGEFERRY_CREDENTIAL",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IMAGEFERRY_MANAGED_IDENTITY_CLIENT_ID",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "IMAGEFERRY_SERVICEBUS_SCOPE",
    "IMAGEFERRY_STATUS_TABLE_CONNECTION",
    "IMAGEFERRY_STATUS_TABLE_TENANT",
    "IMAGEFERRY_STATUS_TABLE",
    "AzureWebJobsStorage__tableServiceUri",
];

/// The handler's settings the `imageferry` commands read (the stand-in's app registration and
/// endpoints, the Service Bus connection string, the status store, the allow-lists `doctor`
/// checks), as the handler gets them (`--set` included).
fn cli_env(settings: &BTreeMap<String, String>) -> Vec<(String, String)> {
    CLI_SETTINGS
        .iter()
        .filter_map(|k| settings.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// `'text'` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The env file: `unset` of the conflicting variables, then one `export NAME='value'` a line.
fn env_lines(env: &[(String, String)]) -> Vec<String> {
    let mut lines = vec![format!("unset {}", CLI_CONFLICTS.join(" "))];
    lines.extend(
        env.iter()
            .map(|(k, v)| format!("export {k}={}", shell_quote(v))),
    );
    lines
}

/// Writes `text` readable by this user only (it holds the stand-ins' credentials).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

/// Writes the env and stack files, says how to use them (with `-o json`: `summary` with a `keep`
/// member, on stdout), and waits for Ctrl-C or SIGTERM.
async fn keep(
    stack: &Stack,
    root: &Path,
    host_log: &Arc<Mutex<std::io::BufWriter<std::fs::File>>>,
    summary: Option<serde_json::Value>,
) {
    let json = summary.is_some();
    let file = root.join("target/imageferry-dev/stack.json");
    let env_file = root.join("target/imageferry-dev/env");
    let bus_url = stack.bus.lock().await.base_url.clone();
    let info = serde_json::json!({
        "azure": stack.azure.base_url,
        "serviceBus": bus_url,
        "serviceBusConnection": stack.connection,
        "handlerPid": stack.host.supervisor().pid(),
        "logs": stack.dir,
        "eventsSubscription": follow::ALL_EVENTS,
        "env": env_file,
        "pid": std::process::id(),
    });
    let written = write_private(
        &file,
        &serde_json::to_string_pretty(&info).unwrap_or_default(),
    );
    let lines = env_lines(&stack.cli_env);
    let env_text = format!(
        "# imageferry dev --keep (pid {}): the environment of the imageferry commands for this\n# stack. Use: eval \"$(cat {})\"\n{}\n",
        std::process::id(),
        env_file.display(),
        lines.join("\n")
    );
    let env_written = write_private(&env_file, &env_text);
    let not_written = |r: &std::io::Result<()>| {
        r.as_ref()
            .err()
            .map(|e| format!(" (not written: {e})"))
            .unwrap_or_default()
    };
    say!(
        json,
        "keeping          the stack runs until Ctrl-C; the imageferry commands talk to it with this environment, also in {}{} (eval \"$(cat {})\"), endpoints in {}{}:",
        env_file.display(),
        not_written(&env_written),
        env_file
            .strip_prefix(std::env::current_dir().unwrap_or_default())
            .unwrap_or(&env_file)
            .display(),
        file.display(),
        not_written(&written),
    );
    for line in &lines {
        say!(json, "{line}");
    }
    say!(
        json,
        "stop             Ctrl-C, or kill -INT {} (or -TERM)",
        std::process::id()
    );
    if let Some(mut summary) = summary {
        summary["keep"] = serde_json::json!({
            "envFile": env_file,
            "envFileWritten": env_written.is_ok(),
            "stackFile": file,
            "stackFileWritten": written.is_ok(),
            "unset": CLI_CONFLICTS,
            "env": stack.cli_env.iter().cloned().collect::<BTreeMap<_, _>>(),
            "pid": std::process::id(),
        });
        print_json(&summary);
    }
    let _ = std::io::stdout().flush();
    stopped(host_log).await;
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&env_file);
}

/// `io::Write` into the shared host log.
struct HostLogWriter(Arc<Mutex<std::io::BufWriter<std::fs::File>>>);

impl std::io::Write for HostLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The in-process host's own warnings (receive and lock-renewal failures, a handler that does
/// not start) go to `host.log` beside its invocation lines, without colour; `RUST_LOG` widens
/// them (default `warn`). Once per process: a second call keeps the first subscriber.
fn log_warnings_to(host_log: Arc<Mutex<std::io::BufWriter<std::fs::File>>>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(move || HostLogWriter(host_log.clone()))
        .try_init();
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, flushing the host log every second meanwhile.
async fn stopped(host_log: &Arc<Mutex<std::io::BufWriter<std::fs::File>>>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminate = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(terminate);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut interrupt => return,
            _ = &mut terminate => return,
            _ = flush.tick() => {
                if let Ok(mut f) = host_log.lock() {
                    let _ = f.flush();
                }
            }
        }
    }
}

async fn shutdown(stack: Stack) {
    let Stack {
        mut azure,
        bus,
        host,
        ..
    } = stack;
    host.shutdown().await;
    if let Ok(bus) = Arc::try_unwrap(bus) {
        bus.into_inner().stop().await;
    }
    azure.stop(Duration::from_secs(5)).await;
}
