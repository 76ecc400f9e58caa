//! The log files of local runs: `azure-sim-{pid}-{n}.log` and `handler-{pid}-{n}.log` under
//! the log folder (`target/local-run/`), one pair per stack. Logs of processes that have ended
//! are pruned when a stack starts, keeping the most recent [`KEEP_FINISHED_RUNS`] runs, so they
//! do not pile up; logs of processes still running (parallel tests) are never touched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How many ended runs (processes) keep their logs.
pub const KEEP_FINISHED_RUNS: usize = 5;

const PREFIXES: [&str; 2] = ["azure-sim-", "handler-"];

/// The log file names of stack `n` in this process: (azure-sim, handler).
pub fn names(n: u32) -> (String, String) {
    let run = format!("{}-{n}", std::process::id());
    (format!("azure-sim-{run}.log"), format!("handler-{run}.log"))
}

/// Removes the logs of ended runs in `dir` beyond the newest [`KEEP_FINISHED_RUNS`]; returns
/// the files removed. Errors (a file gone already, no permission) are skipped.
pub fn prune(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut runs: HashMap<u32, (SystemTime, Vec<PathBuf>)> = HashMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = path.file_name().and_then(|n| n.to_str()).and_then(run_pid) else {
            continue;
        };
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let run = runs.entry(pid).or_insert((modified, Vec::new()));
        run.0 = run.0.max(modified);
        run.1.push(path);
    }
    let mut ended: Vec<(SystemTime, Vec<PathBuf>)> = runs
        .into_iter()
        .filter(|(pid, _)| *pid != std::process::id() && !is_running(*pid))
        .map(|(_, run)| run)
        .collect();
    ended.sort_by_key(|run| std::cmp::Reverse(run.0));
    let mut removed = Vec::new();
    for (_, files) in ended.into_iter().skip(KEEP_FINISHED_RUNS) {
        for file in files {
            if std::fs::remove_file(&file).is_ok() {
                removed.push(file);
            }
        }
    }
    removed
}

/// The process id in a log file name of ours, `{prefix}{pid}-{n}.log`.
fn run_pid(name: &str) -> Option<u32> {
    let rest = PREFIXES.iter().find_map(|p| name.strip_prefix(p))?;
    let (pid, n) = rest.strip_suffix(".log")?.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Whether process `pid` exists; spares the logs and run folders of runs that are still going
/// (also `imageferry dev`'s run folders).
pub use process_control::is_running;

#[cfg(test)]
mod tests {
    use super::*;

    fn ended_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn names_parse_back() {
        let (sim, handler) = names(3);
        assert_eq!(run_pid(&sim), Some(std::process::id()));
        assert_eq!(run_pid(&handler), Some(std::process::id()));
        assert_eq!(run_pid("handler-12.log"), None);
        assert_eq!(run_pid("notes-1-2.log"), None);
    }

    #[test]
    fn ended_runs_beyond_the_newest_are_removed_and_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("local-run-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ended = ended_pid();
        // Fake ended runs with distinct ages: pids that cannot exist (above pid_max) and one
        // that just ended.
        let mut pids: Vec<u32> = (0..KEEP_FINISHED_RUNS as u32 + 2)
            .map(|i| 4_000_000_000 + i)
            .collect();
        pids.push(ended);
        for (age, pid) in pids.iter().enumerate() {
            for prefix in PREFIXES {
                let file = dir.join(format!("{prefix}{pid}-1.log"));
                std::fs::write(&file, "x").unwrap();
                let when = SystemTime::now() - std::time::Duration::from_secs(60 * age as u64);
                std::fs::File::options()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_modified(when)
                    .unwrap();
            }
        }
        let (own_sim, own_handler) = names(1);
        std::fs::write(dir.join(&own_sim), "x").unwrap();
        std::fs::write(dir.join(&own_handler), "x").unwrap();
        std::fs::write(dir.join("keep-me.txt"), "x").unwrap();

        let removed = prune(&dir);
        let ended_runs = pids.len();
        assert_eq!(removed.len(), 2 * (ended_runs - KEEP_FINISHED_RUNS));
        for pid in &pids[..KEEP_FINISHED_RUNS] {
            assert!(
                dir.join(format!("handler-{pid}-1.log")).exists(),
                "newest kept"
            );
        }
        assert!(
            !dir.join(format!("handler-{ended}-1.log")).exists(),
            "oldest removed"
        );
        assert!(dir.join(own_sim).exists() && dir.join(own_handler).exists());
        assert!(dir.join("keep-me.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
