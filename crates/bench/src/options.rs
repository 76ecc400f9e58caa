//! Command-line options of the driver.

use std::path::PathBuf;

/// Driver settings; every run is bounded by these counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Folder with `bare-hello`, `bare-echo`, `noop-handler` (default: the driver's own folder).
    pub bin_dir: Option<PathBuf>,
    /// The real `handler` binary (default: `<bin_dir>/handler` when it exists).
    pub handler: Option<PathBuf>,
    /// Start-up runs per binary.
    pub start_runs: usize,
    /// Measured requests per target per round.
    pub requests: usize,
    /// Unmeasured warm-up requests per target per round.
    pub warmup: usize,
    /// Connections in parallel.
    pub concurrency: usize,
    /// Rounds, alternating targets.
    pub rounds: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bin_dir: None,
            handler: None,
            start_runs: 30,
            requests: 15_000,
            warmup: 2_000,
            concurrency: 32,
            rounds: 6,
        }
    }
}

/// Usage text.
pub const USAGE: &str = "usage: bench [--handler PATH] [--bin-dir DIR] [--start-runs N] [--requests N] \
[--warmup N] [--concurrency N] [--rounds N]";

impl Options {
    /// Parses `--flag value` pairs.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.to_owned());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let count = || {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{flag} needs a positive number, got {value:?}"))
            };
            match flag.as_str() {
                "--handler" => options.handler = Some(PathBuf::from(&value)),
                "--bin-dir" => options.bin_dir = Some(PathBuf::from(&value)),
                "--start-runs" => options.start_runs = count()?,
                "--requests" => options.requests = count()?,
                "--warmup" => options.warmup = count()?,
                "--concurrency" => options.concurrency = count()?,
                "--rounds" => options.rounds = count()?,
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags_and_rejects_nonsense() {
        let o = Options::parse(args(&["--requests", "100", "--handler", "/x/handler"])).unwrap();
        assert_eq!(o.requests, 100);
        assert_eq!(o.handler, Some(PathBuf::from("/x/handler")));
        assert_eq!(o.concurrency, 32);
        assert!(Options::parse(args(&["--requests", "0"])).is_err());
        assert!(Options::parse(args(&["--requests"])).is_err());
        assert!(Options::parse(args(&["--nope", "1"])).is_err());
    }
}
