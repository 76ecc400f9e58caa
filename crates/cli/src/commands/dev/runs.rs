//! The run folders of `imageferry dev`: `target/imageferry-dev/run-<pid>/` (logs and the Service
//! Bus stand-in's SQLite database), one per run. Each start prunes the folders of ended runs
//! beyond the newest [`KEEP_ENDED_RUNS`], as `local_run::logs` does for the local-run logs; the
//! folder of a process that still runs (another `dev`, a `dev --keep` serving other commands) is
//! never touched.

use local_run::logs::is_running;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How many ended runs keep their folder.
pub const KEEP_ENDED_RUNS: usize = 5;

/// The folder of the run of process `pid` under `base`.
pub fn run_dir(base: &Path, pid: u32) -> PathBuf {
    base.join(format!("run-{pid}"))
}

/// The process id in a run folder's name, `run-<pid>`.
fn run_pid(name: &str) -> Option<u32> {
    let pid = name.strip_prefix("run-")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the folders of ended runs in `base` beyond the newest `keep` (by modification time);
/// returns the folders removed. This process's folder and those of running processes are kept
/// and do not count; anything that is not a `run-<pid>` folder is left alone. Errors (a folder
/// gone already, no permission) are skipped.
pub fn prune(base: &Path, keep: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut ended: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str().and_then(run_pid)?;
            let meta = entry.metadata().ok()?;
            // A symlink or a file named like a run is not ours to delete.
            if !meta.is_dir() || pid == own || is_running(pid) {
                return None;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            Some((modified, entry.path()))
        })
        .collect();
    ended.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    ended
        .into_iter()
        .skip(keep)
        .filter_map(|(_, dir)| std::fs::remove_dir_all(&dir).ok().map(|()| dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ended_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn make_run(base: &Path, pid: u32, age_minutes: u64) -> PathBuf {
        let dir = run_dir(base, pid);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bus.db"), "x").unwrap();
        std::fs::write(dir.join("host.log"), "x").unwrap();
        // The folder's own time: a run writes its files at start, then into them.
        let when = SystemTime::now() - Duration::from_secs(60 * age_minutes);
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(when)
            .unwrap();
        dir
    }

    #[test]
    fn names_parse() {
        assert_eq!(run_pid("run-123"), Some(123));
        assert_eq!(run_pid("run-"), None);
        assert_eq!(run_pid("run-12a"), None);
        assert_eq!(run_pid("run-+12"), None);
        assert_eq!(run_pid("stack.json"), None);
        assert_eq!(
            run_dir(Path::new("/t"), 7),
            PathBuf::from("/t/run-7"),
            "the name run_pid reads back"
        );
    }

    #[test]
    fn ended_runs_beyond_the_newest_are_removed_and_running_ones_kept() {
        let base = std::env::temp_dir().join(format!("imageferry-dev-runs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        // Ended runs, newest first: pids that cannot exist (above pid_max) and one that just
        // ended, the oldest.
        let mut ended: Vec<u32> = (0..KEEP_ENDED_RUNS as u32 + 2)
            .map(|i| 4_000_000_000 + i)
            .collect();
        ended.push(ended_pid());
        for (age, pid) in ended.iter().enumerate() {
            make_run(&base, *pid, 10 + age as u64);
        }
        // Running: this process (older than all of them) and its parent (cargo, older still).
        let own = make_run(&base, std::process::id(), 1000);
        let parent = make_run(&base, std::os::unix::process::parent_id(), 2000);
        // Not ours: a file named like a run, and another folder.
        std::fs::write(base.join("run-4000000100"), "x").unwrap();
        std::fs::create_dir_all(base.join("notes")).unwrap();
        std::fs::write(base.join("stack.json"), "{}").unwrap();

        let removed = prune(&base, KEEP_ENDED_RUNS);
        let mut expected: Vec<PathBuf> = ended[KEEP_ENDED_RUNS..]
            .iter()
            .map(|p| run_dir(&base, *p))
            .collect();
        let mut got = removed.clone();
        expected.sort();
        got.sort();
        assert_eq!(
            got, expected,
            "the oldest ended runs beyond the newest five"
        );
        for pid in &ended[..KEEP_ENDED_RUNS] {
            assert!(run_dir(&base, *pid).join("bus.db").exists(), "newest kept");
        }
        for dir in &expected {
            assert!(!dir.exists());
        }
        assert!(own.join("bus.db").exists() && parent.join("bus.db").exists());
        assert!(base.join("run-4000000100").is_file());
        assert!(base.join("notes").is_dir() && base.join("stack.json").is_file());

        // Again: nothing more to remove; with keep 0 every ended run goes, running ones stay.
        assert!(prune(&base, KEEP_ENDED_RUNS).is_empty());
        assert_eq!(prune(&base, 0).len(), KEEP_ENDED_RUNS);
        assert!(own.exists() && parent.exists());
        assert!(prune(&base.join("missing"), 0).is_empty());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
