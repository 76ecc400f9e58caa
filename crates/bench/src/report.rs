//! The printed table: figures side by side, ratios against the goals.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::LoadResult;
use crate::startup::StartSamples;
use crate::stats::{median, percentile};

/// One decimal megabyte; the goals say "10 MB".
const MB: f64 = 1_000_000.0;

/// Memory of one binary.
#[derive(Debug, Clone)]
pub struct RssRow {
    /// Label.
    pub label: String,
    /// `VmRSS` after start, idle, KiB.
    pub idle_kib: u64,
    /// `VmHWM` after the load, KiB (only for load targets).
    pub peak_kib: Option<u64>,
}

/// Size of one binary.
#[derive(Debug, Clone)]
pub struct SizeRow {
    /// Label.
    pub label: String,
    /// File size as built (the release profile strips).
    pub bytes: u64,
    /// Size after `strip`, when `strip` is available.
    pub stripped_bytes: Option<u64>,
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// CPUs available.
    pub cpus: usize,
    /// Which binary stands for `handler`, and why.
    pub subject_note: String,
    /// Where the measured binaries came from (see [`crate::stage`]).
    pub binaries_note: String,
    /// Start-up samples; index 0 is `bare-hello`, index 1 the subject.
    pub start: Vec<StartSamples>,
    /// Load results; index 0 is `bare-echo`, index 1 `noop-handler`.
    pub load: Vec<(String, LoadResult)>,
    /// Per round: runtime throughput / bare throughput.
    pub round_ratios: Vec<f64>,
    /// `requests × rounds @ concurrency` text.
    pub load_shape: String,
    /// Memory rows; the subject's row has the subject's label.
    pub rss: Vec<RssRow>,
    /// Sizes; the subject's row has the subject's label.
    pub sizes: Vec<SizeRow>,
    /// Label of the subject (the handler under test).
    pub subject: String,
}

/// A goal and whether the run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// What is compared.
    pub name: &'static str,
    /// Measured value as text.
    pub measured: String,
    /// Target as text.
    pub target: &'static str,
    /// Met?
    pub met: bool,
}

fn median_f64(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn mb_from_kib(kib: u64) -> f64 {
    kib as f64 * 1024.0 / MB
}

impl Report {
    /// The four goals of issue 2 item 6, with the start goal of issue 11 (≤ 1.3×: the runtime
    /// logs through `tracing-subscriber` rather than a hand-rolled subscriber).
    pub fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        if let [bare, subject, ..] = self.start.as_slice() {
            let ratio = median(&subject.samples).as_secs_f64()
                / median(&bare.samples).as_secs_f64().max(f64::EPSILON);
            goals.push(Goal {
                name: "start (median) vs bare axum",
                measured: format!("{ratio:.2}×"),
                target: "≤ 1.3×",
                met: ratio <= 1.3,
            });
        }
        if let [(_, bare), (_, runtime), ..] = self.load.as_slice() {
            // Median of per-round ratios (robust to a burst of background load in one round);
            // the overall ratio when there are no rounds.
            let ratio = median_f64(&self.round_ratios)
                .unwrap_or_else(|| runtime.throughput() / bare.throughput().max(f64::EPSILON));
            goals.push(Goal {
                name: "no-op throughput vs bare (median round)",
                measured: format!("{ratio:.2}×"),
                target: "≥ 0.8×",
                met: ratio >= 0.8,
            });
        }
        if let Some(row) = self.rss.iter().find(|r| r.label == self.subject) {
            let mb = mb_from_kib(row.idle_kib);
            goals.push(Goal {
                name: "handler RSS idle",
                measured: format!("{mb:.1} MB"),
                target: "≤ 10 MB",
                met: mb <= 10.0,
            });
        }
        if let Some(row) = self.sizes.iter().find(|r| r.label == self.subject) {
            let mb = row.stripped_bytes.unwrap_or(row.bytes) as f64 / MB;
            goals.push(Goal {
                name: "handler binary, stripped",
                measured: format!("{mb:.2} MB"),
                target: "≤ 10 MB",
                met: mb <= 10.0,
            });
        }
        goals
    }

    /// The whole table as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "imageferry benchmark: {} build of the driver, loopback, {} CPU(s)",
            if cfg!(debug_assertions) {
                "debug (figures not meaningful)"
            } else {
                "release"
            },
            self.cpus
        );
        let _ = writeln!(out, "handler under test: {}", self.subject_note);
        let _ = writeln!(out, "binaries: {}", self.binaries_note);
        let _ = writeln!(out);
        let runs = self.start.first().map_or(0, |s| s.samples.len());
        let _ = writeln!(out, "1. start -> first answer on GET / ({runs} runs each)");
        let _ = writeln!(
            out,
            "   {:<28} {:>10} {:>10} {:>10}",
            "binary", "median", "p90", "min"
        );
        for s in &self.start {
            let _ = writeln!(
                out,
                "   {:<28} {:>10} {:>10} {:>10}",
                s.label,
                ms(median(&s.samples)),
                ms(percentile(&s.samples, 90.0)),
                ms(s.samples.first().copied().unwrap_or_default()),
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "2. no-op Service Bus invocations ({})",
            self.load_shape
        );
        let _ = writeln!(
            out,
            "   {:<28} {:>12} {:>10} {:>10} {:>10}",
            "binary", "req/s", "p50", "p99", "max"
        );
        for (label, result) in &self.load {
            let _ = writeln!(
                out,
                "   {:<28} {:>12.0} {:>10} {:>10} {:>10}",
                label,
                result.throughput(),
                us(percentile(&result.latencies, 50.0)),
                us(percentile(&result.latencies, 99.0)),
                us(result.latencies.last().copied().unwrap_or_default()),
            );
        }
        if !self.round_ratios.is_empty() {
            let ratios: Vec<String> = self
                .round_ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect();
            let _ = writeln!(
                out,
                "   noop-handler / bare-echo per round: {}",
                ratios.join(", ")
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "3. resident memory (VmRSS idle after start; VmHWM after load)"
        );
        let _ = writeln!(
            out,
            "   {:<28} {:>10} {:>16}",
            "binary", "idle", "peak under load"
        );
        for row in &self.rss {
            let peak = row
                .peak_kib
                .map_or_else(|| "-".to_owned(), |k| format!("{:.1} MB", mb_from_kib(k)));
            let _ = writeln!(
                out,
                "   {:<28} {:>10} {:>16}",
                row.label,
                format!("{:.1} MB", mb_from_kib(row.idle_kib)),
                peak
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "4. binary size (release profile: strip, thin LTO, codegen-units 1, panic=unwind)"
        );
        let _ = writeln!(
            out,
            "   {:<28} {:>10} {:>16}",
            "binary", "as built", "after strip"
        );
        for row in &self.sizes {
            let stripped = row.stripped_bytes.map_or_else(
                || "strip n/a".to_owned(),
                |b| format!("{:.2} MB", b as f64 / MB),
            );
            let _ = writeln!(
                out,
                "   {:<28} {:>10} {:>16}",
                row.label,
                format!("{:.2} MB", row.bytes as f64 / MB),
                stripped
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "goals");
        for goal in self.goals() {
            let _ = writeln!(
                out,
                "   {:<38} {:>10}  goal {:<8} {}",
                goal.name,
                goal.measured,
                goal.target,
                if goal.met { "MET" } else { "MISSED" }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn start(label: &str, ms: u64) -> StartSamples {
        StartSamples {
            label: label.into(),
            path: PathBuf::from(label),
            samples: vec![Duration::from_millis(ms); 3],
        }
    }

    fn load(rps_requests: usize) -> LoadResult {
        LoadResult {
            latencies: vec![Duration::from_micros(100); rps_requests],
            wall: Duration::from_secs(1),
        }
    }

    #[test]
    fn goals_compare_subject_with_baselines() {
        let report = Report {
            cpus: 2,
            subject_note: "x".into(),
            binaries_note: "copied".into(),
            start: vec![start("bare-hello", 10), start("handler", 14)],
            load: vec![
                ("bare-echo".into(), load(1000)),
                ("noop-handler".into(), load(900)),
            ],
            round_ratios: vec![0.9, 0.5, 0.95],
            load_shape: "s".into(),
            rss: vec![RssRow {
                label: "handler".into(),
                idle_kib: 4000,
                peak_kib: None,
            }],
            sizes: vec![SizeRow {
                label: "handler".into(),
                bytes: 12_000_000,
                stripped_bytes: Some(3_000_000),
            }],
            subject: "handler".into(),
        };
        let goals = report.goals();
        assert_eq!(goals.len(), 4);
        assert!(!goals[0].met, "1.4× start misses 1.3×");
        assert!(
            goals[1].met,
            "median round 0.9× meets 0.8× despite one bad round"
        );
        assert_eq!(median_f64(&[1.0, 3.0]), Some(2.0));
        assert_eq!(median_f64(&[]), None);
        assert!(goals[2].met);
        assert!(goals[3].met, "stripped size is what counts");
        let text = report.render();
        assert!(text.contains("MISSED") && text.contains("bare-echo"));
    }
}
