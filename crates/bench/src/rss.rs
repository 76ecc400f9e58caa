//! Resident set size from `/proc/<pid>/status`.

use crate::BenchError;

/// `VmRSS` (current) and `VmHWM` (peak) in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// Current resident set size, KiB.
    pub current_kib: u64,
    /// Peak resident set size since start, KiB.
    pub peak_kib: u64,
}

/// Reads the memory figures of process `pid`.
pub fn read(pid: u32) -> Result<Rss, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Io {
        context: format!("reading {path}"),
        source,
    })?;
    parse(&text).ok_or_else(|| BenchError::Io {
        context: format!("parsing {path}"),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no VmRSS/VmHWM"),
    })
}

/// Parses the `VmRSS:` and `VmHWM:` lines of a `/proc/<pid>/status` text.
pub fn parse(status: &str) -> Option<Rss> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Rss {
        current_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text = "Name:\tx\nVmHWM:\t    9000 kB\nVmRSS:\t    4321 kB\n";
        assert_eq!(
            parse(text),
            Some(Rss {
                current_kib: 4321,
                peak_kib: 9000
            })
        );
        assert_eq!(parse("Name: x\n"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let rss = read(std::process::id()).unwrap();
        assert!(rss.current_kib > 0 && rss.peak_kib >= rss.current_kib);
    }
}
