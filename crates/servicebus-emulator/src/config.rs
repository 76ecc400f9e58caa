//! The namespace's entities: queues, topics, subscriptions and their rules.
//!
//! The shape follows the ARM properties of `Microsoft.ServiceBus/namespaces/{queues,topics,
//! topics/subscriptions,topics/subscriptions/rules}` (API 2024-01-01) that the Bicep in `infra/`
//! sets, with ISO 8601 durations (`PT5M`, `P14D`) as there. [`NamespaceConfig::imageferry`] is
//! `imageferry.toml` next to this crate, which mirrors `infra/modules/servicebus.bicep`.

use std::time::Duration;

use serde::Deserialize;

use crate::filter::{Filter, FilterError};

/// Largest message on the Standard tier (learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
pub const STANDARD_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Problems with a namespace configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML for this format.
    #[error("namespace config: {0}")]
    Toml(#[from] toml::de::Error),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A duration is not ISO 8601 (`PT5M`, `P14D`, `PT0.5S`).
    #[error("{field}: {value:?} is not an ISO 8601 duration such as PT5M")]
    Duration {
        /// Which field.
        field: String,
        /// Its value.
        value: String,
    },
    /// A rule's SQL filter does not parse.
    #[error("rule {rule} of {subscription}: {source}")]
    Filter {
        /// Subscription path.
        subscription: String,
        /// Rule name.
        rule: String,
        /// Cause.
        source: FilterError,
    },
    /// Two entities share a name, or a name is not a valid entity name.
    #[error("entity name {0:?} is duplicated or invalid")]
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawNamespace {
    #[serde(default)]
    queues: Vec<RawQueue>,
    #[serde(default)]
    topics: Vec<RawTopic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawQueue {
    name: String,
    #[serde(default)]
    requires_duplicate_detection: bool,
    duplicate_detection_history_time_window: Option<String>,
    max_delivery_count: Option<u32>,
    lock_duration: Option<String>,
    default_message_time_to_live: Option<String>,
    #[serde(default)]
    dead_lettering_on_message_expiration: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTopic {
    name: String,
    #[serde(default)]
    requires_duplicate_detection: bool,
    duplicate_detection_history_time_window: Option<String>,
    default_message_time_to_live: Option<String>,
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSubscription {
    name: String,
    max_delivery_count: Option<u32>,
    lock_duration: Option<String>,
    default_message_time_to_live: Option<String>,
    #[serde(default)]
    dead_lettering_on_message_expiration: bool,
    /// Rules by name; none = the `$Default` rule with a TrueFilter, as Service Bus creates.
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    name: String,
    sql_expression: String,
}

/// Settings of an entity that holds messages (a queue or a subscription).
#[derive(Debug, Clone)]
pub struct Receivable {
    /// Path: `queue` or `topic/subscriptions/name` (lowercase).
    pub path: String,
    /// `lockDuration` (default 1 minute).
    pub lock_duration: Duration,
    /// `maxDeliveryCount` (default 10).
    pub max_delivery_count: u32,
    /// `defaultMessageTimeToLive`; `None` = never expires.
    pub default_ttl: Option<Duration>,
    /// `deadLetteringOnMessageExpiration`.
    pub dead_letter_on_expiration: bool,
}

/// Settings of an entity that accepts sends (a queue or a topic).
#[derive(Debug, Clone)]
pub struct Sendable {
    /// Path (lowercase).
    pub path: String,
    /// Duplicate detection window when `requiresDuplicateDetection`.
    pub duplicate_window: Option<Duration>,
    /// `defaultMessageTimeToLive` of a topic (queues carry theirs in [`Receivable`]).
    pub default_ttl: Option<Duration>,
    /// For a topic: its subscriptions with their rules; for a queue: itself with no rules.
    pub targets: Vec<Target>,
}

/// Where a sent message lands.
#[derive(Debug, Clone)]
pub struct Target {
    /// The receiving entity.
    pub entity: Receivable,
    /// Rules (OR-ed); empty for a queue, which takes every message.
    pub rules: Vec<(String, Filter)>,
    /// True for a topic subscription.
    pub is_subscription: bool,
}

impl Target {
    /// Whether a message with these properties lands here.
    pub fn accepts(&self, props: &crate::filter::MessageProperties<'_>) -> bool {
        !self.is_subscription || self.rules.iter().any(|(_, f)| f.matches(props))
    }
}

/// A parsed namespace configuration.
#[derive(Debug, Clone)]
pub struct NamespaceConfig {
    /// Queues and topics, by lowercase path.
    pub sendables: Vec<Sendable>,
}

/// The imageferry namespace (mirrors `infra/modules/servicebus.bicep`).
pub const IMAGEFERRY_TOML: &str = include_str!("../imageferry.toml");

impl NamespaceConfig {
    /// Parses the TOML format (see `imageferry.toml`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawNamespace = toml::from_str(text)?;
        let mut sendables = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        let mut name_ok = |name: &str| -> Result<String, ConfigError> {
            let lower = name.to_ascii_lowercase();
            let valid = !lower.is_empty()
                && lower
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && names.insert(lower.clone());
            if valid {
                Ok(lower)
            } else {
                Err(ConfigError::Name(name.to_string()))
            }
        };
        for q in raw.queues {
            let path = name_ok(&q.name)?;
            let entity = Receivable {
                path: path.clone(),
                lock_duration: duration_or(&q.lock_duration, "lockDuration", 60)?,
                max_delivery_count: q.max_delivery_count.unwrap_or(10).max(1),
                default_ttl: optional_duration(&q.default_message_time_to_live, "ttl")?,
                dead_letter_on_expiration: q.dead_lettering_on_message_expiration,
            };
            sendables.push(Sendable {
                path,
                duplicate_window: window(
                    q.requires_duplicate_detection,
                    &q.duplicate_detection_history_time_window,
                )?,
                default_ttl: None,
                targets: vec![Target {
                    entity,
                    rules: Vec::new(),
                    is_subscription: false,
                }],
            });
        }
        for t in raw.topics {
            let path = name_ok(&t.name)?;
            let topic_ttl = optional_duration(&t.default_message_time_to_live, "ttl")?;
            let mut targets = Vec::new();
            for s in t.subscriptions {
                let sub_path = format!("{path}/subscriptions/{}", s.name.to_ascii_lowercase());
                let rules = if s.rules.is_empty() {
                    vec![("$Default".to_string(), Filter::True)]
                } else {
                    s.rules
                        .iter()
                        .map(|r| {
                            Filter::parse(&r.sql_expression)
                                .map(|f| (r.name.clone(), f))
                                .map_err(|source| ConfigError::Filter {
                                    subscription: sub_path.clone(),
                                    rule: r.name.clone(),
                                    source,
                                })
                        })
                        .collect::<Result<_, _>>()?
                };
                targets.push(Target {
                    entity: Receivable {
                        path: sub_path,
                        lock_duration: duration_or(&s.lock_duration, "lockDuration", 60)?,
                        max_delivery_count: s.max_delivery_count.unwrap_or(10).max(1),
                        default_ttl: optional_duration(&s.default_message_time_to_live, "ttl")?
                            .or(topic_ttl),
                        dead_letter_on_expiration: s.dead_lettering_on_message_expiration,
                    },
                    rules,
                    is_subscription: true,
                });
            }
            sendables.push(Sendable {
                path,
                duplicate_window: window(
                    t.requires_duplicate_detection,
                    &t.duplicate_detection_history_time_window,
                )?,
                default_ttl: topic_ttl,
                targets,
            });
        }
        Ok(Self { sendables })
    }

    /// Reads a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The imageferry namespace: the four step queues, the `deployment-events` topic with the
    /// `terminal-events` subscription (`status IN (...)`) and a `local-dev` subscription that
    /// takes every event (for `imageferry dev`).
    pub fn imageferry() -> Self {
        Self::parse(IMAGEFERRY_TOML).expect("imageferry.toml is valid (tested)")
    }

    /// The queue or topic at `path` (case-insensitive).
    pub fn sendable(&self, path: &str) -> Option<&Sendable> {
        let path = path.to_ascii_lowercase();
        self.sendables.iter().find(|s| s.path == path)
    }

    /// The queue or subscription at `path` (case-insensitive).
    pub fn receivable(&self, path: &str) -> Option<&Receivable> {
        let path = path.to_ascii_lowercase();
        self.sendables
            .iter()
            .flat_map(|s| s.targets.iter())
            .map(|t| &t.entity)
            .find(|e| e.path == path)
    }

    /// Every queue and subscription.
    pub fn receivables(&self) -> impl Iterator<Item = &Receivable> {
        self.sendables
            .iter()
            .flat_map(|s| s.targets.iter())
            .map(|t| &t.entity)
    }
}

fn window(required: bool, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    if !required {
        return Ok(None);
    }
    // Service Bus's default history window is 10 minutes.
    Ok(Some(duration_or(
        value,
        "duplicateDetectionHistoryTimeWindow",
        600,
    )?))
}

fn duration_or(
    value: &Option<String>,
    field: &str,
    default_secs: u64,
) -> Result<Duration, ConfigError> {
    Ok(optional_duration(value, field)?.unwrap_or(Duration::from_secs(default_secs)))
}

fn optional_duration(value: &Option<String>, field: &str) -> Result<Option<Duration>, ConfigError> {
    value
        .as_deref()
        .map(|v| {
            parse_iso8601(v).ok_or_else(|| ConfigError::Duration {
                field: field.to_string(),
                value: v.to_string(),
            })
        })
        .transpose()
}

/// Parses an ISO 8601 duration with days, hours, minutes and (fractional) seconds:
/// `P14D`, `PT5M`, `PT1H30M`, `PT0.5S`, `P1DT2H`.
pub fn parse_iso8601(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut secs = 0f64;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let (_, factor) = units.iter().find(|(u, _)| *u == c)?;
                secs += number.parse::<f64>().ok()? * factor;
                number.clear();
                any = true;
            }
        }
        number.is_empty().then_some(())
    };
    take(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(t) = time {
        take(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    any.then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_durations() {
        assert_eq!(parse_iso8601("PT5M"), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_iso8601("P14D"),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(parse_iso8601("PT1H30M"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_iso8601("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(parse_iso8601("P1DT2H"), Some(Duration::from_secs(93_600)));
        assert_eq!(parse_iso8601("5M"), None);
        assert_eq!(parse_iso8601("PT"), None);
        assert_eq!(parse_iso8601("PT5X"), None);
    }

    #[test]
    fn the_imageferry_namespace_mirrors_the_bicep() {
        let bicep = include_str!("../../../infra/modules/servicebus.bicep");
        let main = include_str!("../../../infra/main.bicep");
        let config = NamespaceConfig::imageferry();
        for queue in [
            "deployment-requested",
            "replication-check",
            "image-version-replicated",
            "vm-provisioning",
        ] {
            assert!(
                bicep.contains(&format!("'{queue}'")),
                "{queue} in the Bicep"
            );
            let q = config.sendable(queue).expect("queue configured");
            assert_eq!(q.duplicate_window, Some(Duration::from_secs(3600)));
            assert!(main.contains("param duplicateDetectionWindow string = 'PT1H'"));
            assert!(main.contains("param maxDeliveryCount int = 10"));
            assert_eq!(q.targets[0].entity.max_delivery_count, 10);
            assert!(q.targets[0].entity.dead_letter_on_expiration);
        }
        let topic = config.sendable("deployment-events").expect("topic");
        let terminal = topic
            .targets
            .iter()
            .find(|t| t.entity.path == "deployment-events/subscriptions/terminal-events")
            .expect("terminal-events subscription");
        let expression = "status IN ('succeeded', 'failed', 'rejected')";
        assert!(
            bicep.contains(&expression.replace('\'', "\\'")),
            "the rule is the Bicep's"
        );
        assert_eq!(terminal.rules[0].0, "$Default");
        assert_eq!(terminal.rules[0].1, Filter::parse(expression).unwrap());
        assert!(
            config
                .receivable("Deployment-Events/Subscriptions/local-dev")
                .is_some()
        );
    }

    #[test]
    fn refuses_bad_configs() {
        assert!(matches!(
            NamespaceConfig::parse("[[queues]]\nname = \"a\"\nlockDuration = \"5 minutes\""),
            Err(ConfigError::Duration { .. })
        ));
        assert!(matches!(
            NamespaceConfig::parse("[[queues]]\nname = \"a\"\n[[queues]]\nname = \"A\""),
            Err(ConfigError::Name(_))
        ));
        assert!(matches!(
            NamespaceConfig::parse(
                "[[topics]]\nname = \"t\"\n[[topics.subscriptions]]\nname = \"s\"\n[[topics.subscriptions.rules]]\nname = \"r\"\nsqlExpression = \"a IN (\""
            ),
            Err(ConfigError::Filter { .. })
        ));
    }
}
