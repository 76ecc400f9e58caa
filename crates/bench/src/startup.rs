//! Start → first answer on `GET /`, repeated and interleaved across binaries.

use std::path::PathBuf;
use std::time::Duration;

use crate::BenchError;
use crate::process::Server;

/// Start-up samples of one binary.
#[derive(Debug, Clone)]
pub struct StartSamples {
    /// Label in the report.
    pub label: String,
    /// The binary.
    pub path: PathBuf,
    /// Sorted durations from spawn to first answer.
    pub samples: Vec<Duration>,
}

/// Measures every binary `runs` times, round-robin so drift hits all equally.
pub fn measure(
    targets: &[(String, PathBuf)],
    runs: usize,
) -> Result<Vec<StartSamples>, BenchError> {
    let mut results: Vec<StartSamples> = targets
        .iter()
        .map(|(label, path)| StartSamples {
            label: label.clone(),
            path: path.clone(),
            samples: Vec::with_capacity(runs),
        })
        .collect();
    for _ in 0..runs {
        for result in &mut results {
            let mut server = Server::spawn(&result.path)?;
            result.samples.push(server.wait_ready()?);
        }
    }
    for result in &mut results {
        result.samples.sort();
    }
    Ok(results)
}
