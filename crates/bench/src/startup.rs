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

/// A binary to start: label, path, extra environment.
pub type StartTarget = (String, PathBuf, Vec<(String, String)>);

/// Measures every binary `runs` times, round-robin so drift hits all equally.
pub fn measure(targets: &[StartTarget], runs: usize) -> Result<Vec<StartSamples>, BenchError> {
    let mut results: Vec<StartSamples> = targets
        .iter()
        .map(|(label, path, _)| StartSamples {
            label: label.clone(),
            path: path.clone(),
            samples: Vec::with_capacity(runs),
        })
        .collect();
    for _ in 0..runs {
        for (result, (_, _, env)) in results.iter_mut().zip(targets) {
            let mut server = Server::spawn_with_env(&result.path, env)?;
            result.samples.push(server.wait_ready()?);
        }
    }
    for result in &mut results {
        result.samples.sort();
    }
    Ok(results)
}
