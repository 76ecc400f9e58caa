//! `RUST_LOG`: which events and spans are logged.
//!
//! The common subset of `tracing_subscriber::EnvFilter` syntax: comma-separated directives, each
//! a level (`info`), a target (`azure_clients`, meaning every level) or `target=level`
//! (`azure_clients=debug`). A target directive matches every target that starts with it; the
//! longest match wins, and targets no directive matches use the bare level (off when there is
//! none, as in `EnvFilter`). Span and field filters (`[span{field=value}]`) are not supported.

use tracing::Metadata;
use tracing::level_filters::LevelFilter;

/// A parsed `RUST_LOG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter {
    default: LevelFilter,
    /// `(target prefix, level)`, longest prefix first.
    targets: Vec<(String, LevelFilter)>,
}

/// A `RUST_LOG` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The level of a directive is not a level.
    #[error("`{0}` is not a log level (use off, error, warn, info, debug or trace)")]
    Level(String),
    /// A span or field filter.
    #[error("`{0}`: span and field filters are not supported; use `target=level`")]
    Unsupported(String),
}

impl LogFilter {
    /// Every target at `level`.
    pub fn new(level: LevelFilter) -> Self {
        Self {
            default: level,
            targets: Vec::new(),
        }
    }

    /// Parses `RUST_LOG` syntax (see the module docs). Blank means `info`.
    pub fn parse(spec: &str) -> Result<Self, FilterError> {
        if spec.trim().is_empty() {
            return Ok(Self::new(LevelFilter::INFO));
        }
        let mut filter = Self::new(LevelFilter::OFF);
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            if directive.contains(['[', ']', '{', '}']) {
                return Err(FilterError::Unsupported(directive.to_owned()));
            }
            match directive.split_once('=') {
                Some((target, level)) => {
                    let level = parse_level(level)?;
                    filter.targets.push((target.trim().to_owned(), level));
                }
                None => match parse_level(directive) {
                    Ok(level) => filter.default = level,
                    Err(_) => filter
                        .targets
                        .push((directive.to_owned(), LevelFilter::TRACE)),
                },
            }
        }
        // Longest first; for equal targets the later directive wins (stable sort keeps order,
        // so reverse before sorting).
        filter.targets.reverse();
        filter
            .targets
            .sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Ok(filter)
    }

    /// The level enabled for `target`.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(prefix, _)| target.starts_with(prefix.as_str()))
            .map_or(self.default, |(_, level)| *level)
    }

    /// Whether a span or event with this metadata is logged.
    pub fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.level_for(metadata.target())
    }

    /// The most verbose level any target enables.
    pub fn max_level(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, level)| *level)
            .fold(self.default, std::cmp::max)
    }
}

fn parse_level(text: &str) -> Result<LevelFilter, FilterError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(LevelFilter::OFF),
        "error" => Ok(LevelFilter::ERROR),
        "warn" => Ok(LevelFilter::WARN),
        "info" => Ok(LevelFilter::INFO),
        "debug" => Ok(LevelFilter::DEBUG),
        "trace" => Ok(LevelFilter::TRACE),
        _ => Err(FilterError::Level(text.trim().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_info_everywhere() {
        let filter = LogFilter::parse("  ").unwrap();
        assert_eq!(filter.level_for("anything"), LevelFilter::INFO);
        assert_eq!(filter.max_level(), LevelFilter::INFO);
    }

    #[test]
    fn a_bare_level_is_the_default() {
        let filter = LogFilter::parse("WARN").unwrap();
        assert_eq!(filter.level_for("handler"), LevelFilter::WARN);
    }

    #[test]
    fn the_longest_target_prefix_wins() {
        let filter =
            LogFilter::parse("info, azure_clients=debug, azure_clients::arm=trace,hyper=off")
                .unwrap();
        assert_eq!(filter.level_for("handler"), LevelFilter::INFO);
        assert_eq!(filter.level_for("azure_clients::token"), LevelFilter::DEBUG);
        assert_eq!(
            filter.level_for("azure_clients::arm::lro"),
            LevelFilter::TRACE
        );
        assert_eq!(filter.level_for("hyper::proto"), LevelFilter::OFF);
        assert_eq!(filter.max_level(), LevelFilter::TRACE);
    }

    #[test]
    fn targets_alone_enable_everything_for_them_and_nothing_else() {
        let filter = LogFilter::parse("functions_runtime").unwrap();
        assert_eq!(
            filter.level_for("functions_runtime::invoke"),
            LevelFilter::TRACE
        );
        assert_eq!(filter.level_for("handler"), LevelFilter::OFF);
    }

    #[test]
    fn the_later_of_two_equal_targets_wins() {
        let filter = LogFilter::parse("a=debug,a=warn").unwrap();
        assert_eq!(filter.level_for("a"), LevelFilter::WARN);
    }

    #[test]
    fn bad_levels_and_span_filters_are_rejected_by_name() {
        assert_eq!(
            LogFilter::parse("azure_clients=loud"),
            Err(FilterError::Level("loud".into()))
        );
        let err = LogFilter::parse("info,[invocation{function=x}]=debug").unwrap_err();
        assert!(matches!(err, FilterError::Unsupported(ref d) if d.starts_with("[invocation")));
        assert!(err.to_string().contains("not supported"), "{err}");
    }
}
