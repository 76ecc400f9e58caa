//! Start → first answer on `GET /`, repeated and interleaved across binaries.

use std::path::PathBuf;
use std::time::Duration;

use crate::BenchError;
use crate::process::Target;

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

/// Measures every target `runs` times, round-robin so drift hits all equally.
pub fn measure(targets: &[Target], runs: usize) -> Result<Vec<StartSamples>, BenchError> {
    let mut results: Vec<StartSamples> = targets
        .iter()
        .map(|target| StartSamples {
            label: target.label.clone(),
            path: target.path.clone(),
            samples: Vec::with_capacity(runs),
        })
        .collect();
    for _ in 0..runs {
        for (result, target) in results.iter_mut().zip(targets) {
            let mut server = target.spawn()?;
            result.samples.push(server.wait_ready()?);
        }
    }
    for result in &mut results {
        result.samples.sort();
    }
    Ok(results)
}
