//! Human durations, as people write them in settings (`IMAGEFERRY_STEP_BUDGET=4m`) and on the
//! command line (`--timeout 90m`): the one parser of the handler and the CLI.
//!
//! `30s`, `90m`, `2h`, `1d`, `500ms`, combined forms (`1h30m`, `1h 30m`) and the other units of
//! the `humantime` crate, or a plain number of seconds (`300`).

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration like 30s, 90m, 2h, 1d or 1h30m: {reason}")]
pub struct DurationError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a human duration (leading and trailing spaces ignored).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let error = |reason: String| DurationError {
        text: text.to_owned(),
        reason,
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(Duration::from_secs)
            .map_err(|e| error(e.to_string()));
    }
    humantime::parse_duration(t).map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_people_write() {
        let secs = |s: &str| parse_duration(s).unwrap().as_secs();
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("90m"), 5400);
        assert_eq!(secs("2h"), 7200);
        assert_eq!(secs("1d"), 86_400);
        assert_eq!(secs("24h"), 86_400);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("1h 30m"), 5400);
        assert_eq!(secs(" 300 "), 300);
        assert_eq!(secs("0s"), 0);
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
    }

    #[test]
    fn clear_errors() {
        for bad in ["", "abc", "5x", "-5s", "1.5.h", "s", "99999999999999999999"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.text, bad);
            assert!(
                e.to_string()
                    .starts_with(&format!("{bad:?} is not a duration like 30s, 90m, 2h, 1d")),
                "{e}"
            );
        }
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .reason
                .contains("unknown time unit")
        );
    }
}
