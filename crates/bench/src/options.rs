//! Command-line options of the driver.

use std::path::PathBuf;

/// Driver settings; every run is bounded by these counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Folder with `bare-hello`, `bare-echo`, `noop-handler` (default: the driver's own folder).
    pub bin_dir: Option<PathBuf>,
    /// The real `handler` binary (default: `<bin_dir>/handler` when it exists).
    pub handler: Option<PathBuf>,
    /// App settings for the real handler: a `local.settings.json` (its `Values`) or `KEY=VALUE` lines.
    pub handler_env: Option<PathBuf>,
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
    /// Measure the binaries where they were built instead of fresh copies (see [`crate::stage`]).
    pub in_place: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bin_dir: None,
            handler: None,
            handler_env: None,
            start_runs: 300,
            requests: 15_000,
            warmup: 2_000,
            concurrency: 32,
            rounds: 6,
            in_place: false,
        }
    }
}

/// Usage text.
pub const USAGE: &str = "usage: bench [--handler PATH] [--handler-env FILE] [--bin-dir DIR] [--start-runs N] [--requests N] \
[--warmup N] [--concurrency N] [--rounds N] [--in-place]";

impl Options {
    /// Parses `--flag value` pairs.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.to_owned());
            }
            if flag == "--in-place" {
                options.in_place = true;
                continue;
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
                "--handler-env" => options.handler_env = Some(PathBuf::from(&value)),
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
        assert!(!o.in_place);
        let o = Options::parse(args(&["--in-place", "--rounds", "2"])).unwrap();
        assert!(o.in_place);
        assert_eq!(o.rounds, 2);
    }
}

/// Reads app settings: `local.settings.json` (string members of `Values`) or `KEY=VALUE` lines
/// (`#` comments and blank lines skipped).
pub fn read_settings(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json")
        || path.to_string_lossy().ends_with(".json.example")
    {
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let values = json
            .get("Values")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| format!("{}: no \"Values\" object", path.display()))?;
        return Ok(values
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect());
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn reads_local_settings_values_and_env_lines() {
        let dir = std::env::temp_dir();
        let json = dir.join(format!("bench-settings-{}.json", std::process::id()));
        std::fs::write(
            &json,
            r#"{"IsEncrypted":false,"Values":{"FUNCTIONS_WORKER_RUNTIME":"Custom","N":1}}"#,
        )
        .unwrap();
        assert_eq!(
            read_settings(&json).unwrap(),
            vec![("FUNCTIONS_WORKER_RUNTIME".to_owned(), "Custom".to_owned())]
        );
        let env = dir.join(format!("bench-settings-{}.env", std::process::id()));
        std::fs::write(&env, "# c\nA=1\n\nB = x=y\n").unwrap();
        assert_eq!(
            read_settings(&env).unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        let _ = std::fs::remove_file(json);
        let _ = std::fs::remove_file(env);
    }
}
