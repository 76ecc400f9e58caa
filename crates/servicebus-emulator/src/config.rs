//! The namespace's entities: queues, topics, subscriptions and their rules.
//!
//! The shape follows the ARM properties of `Microsoft.ServiceBus/namespaces/{queues,topics,
//! topics/subscriptions,topics/subscriptions/rules}` (API 2024-01-01) that the Bicep in `infra/`
//! sets, with ISO 8601 durations (`PT5M`, `P14D`) as there. [`NamespaceConfig::imageferry`] is
//! `imageferry.toml` next to this crate, which mirrors `infra/modules/servicebus.bicep`.

use std::time::Duration;

use serde::Deserialize;

use crate::filter::{Filter, FilterError};

#[cfg(test)]
mod bicep;

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

    /// The imageferry namespace: the six step queues, the `deployment-events` topic with the
    /// `terminal-events` and `rollout-events` subscriptions (`status IN (...)` rules) and a
    /// `local-dev` subscription that takes every event (for `imageferry dev`).
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

    /// The queues (not the subscriptions), in configuration order.
    pub fn queues(&self) -> impl Iterator<Item = &Receivable> {
        self.sendables
            .iter()
            .flat_map(|s| s.targets.iter())
            .filter(|t| !t.is_subscription)
            .map(|t| &t.entity)
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
    use std::collections::BTreeMap;

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

    /// Subscriptions only the local namespace has: `imageferry dev` follows every event.
    const LOCAL_ONLY_SUBSCRIPTIONS: [&str; 1] = ["deployment-events/subscriptions/local-dev"];
    /// The step queues' local lock: the Bicep's PT5M would make a message whose lock was lost in
    /// a crash (host or stand-in killed) wait five minutes; the local host renews locks while a
    /// function runs, as the Functions host does.
    const LOCAL_QUEUE_LOCK: Duration = Duration::from_secs(15);
    /// ARM properties with no local effect (throughput and storage knobs, and the exception
    /// dead-lettering of a filter that cannot throw here).
    const NOT_EMULATED: [&str; 5] = [
        "enableBatchedOperations",
        "enablePartitioning",
        "maxSizeInMegabytes",
        "supportOrdering",
        "deadLetteringOnFilterEvaluationExceptions",
    ];

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn bicep_namespace() -> bicep::Namespace {
        let module = bicep::parse(include_str!("../../../infra/modules/servicebus.bicep"))
            .expect("servicebus.bicep parses");
        let main = bicep::caller(include_str!("../../../infra/main.bicep"));
        bicep::namespace(&module, &main, "modules/servicebus.bicep").expect("entities resolve")
    }

    /// The entity each `serviceBusTrigger` in a function.json at the app root receives from.
    fn trigger_entities() -> Vec<(String, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(repo()).unwrap().flatten() {
            let file = entry.path().join("function.json");
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            for b in json["bindings"].as_array().unwrap() {
                if b["type"] != "serviceBusTrigger" {
                    continue;
                }
                let entity = match (b["queueName"].as_str(), b["topicName"].as_str()) {
                    (Some(q), _) => q.to_string(),
                    (None, Some(t)) => format!(
                        "{t}/subscriptions/{}",
                        b["subscriptionName"].as_str().unwrap_or("")
                    ),
                    _ => panic!("{}: a trigger without an entity", file.display()),
                };
                out.push((file.display().to_string(), entity));
            }
        }
        out
    }

    /// Every way `config` and the Bicep's namespace differ, and every trigger without its entity.
    fn differences(
        bicep: &bicep::Namespace,
        config: &NamespaceConfig,
        triggers: &[(String, String)],
    ) -> Vec<String> {
        use bicep::Scalar;
        let mut out = Vec::new();
        let mut diff = |what: String| out.push(what);
        let dur = |props: &BTreeMap<String, Scalar>, key: &str| -> Option<Duration> {
            match props.get(key) {
                Some(Scalar::Str(s)) => Some(parse_iso8601(s).expect("an ISO 8601 duration")),
                None => None,
                Some(other) => panic!("{key}: {other:?} is not a duration"),
            }
        };
        let flag = |props: &BTreeMap<String, Scalar>, key: &str| {
            props.get(key) == Some(&Scalar::Bool(true))
        };
        let known = |what: &str, props: &BTreeMap<String, Scalar>, compared: &[&str]| {
            props
                .keys()
                .filter(|k| !compared.contains(&k.as_str()) && !NOT_EMULATED.contains(&k.as_str()))
                .map(|k| format!("{what}: the Bicep sets {k}, which the mirror does not compare"))
                .collect::<Vec<_>>()
        };
        // Duplicate detection: Service Bus's default window is 10 minutes.
        let window = |props: &BTreeMap<String, Scalar>| {
            flag(props, "requiresDuplicateDetection").then(|| {
                dur(props, "duplicateDetectionHistoryTimeWindow")
                    .unwrap_or(Duration::from_secs(600))
            })
        };
        let max_delivery = |props: &BTreeMap<String, Scalar>| match props.get("maxDeliveryCount") {
            Some(Scalar::Int(n)) => *n as u32,
            None => 10,
            Some(other) => panic!("maxDeliveryCount {other:?}"),
        };
        const RECEIVABLE: [&str; 6] = [
            "lockDuration",
            "maxDeliveryCount",
            "deadLetteringOnMessageExpiration",
            "defaultMessageTimeToLive",
            "requiresSession",
            "requiresDuplicateDetection",
        ];
        let check_receivable =
            |path: &str, props: &BTreeMap<String, Scalar>, e: &Receivable, lock: Duration| {
                let mut d = Vec::new();
                if e.lock_duration != lock {
                    d.push(format!(
                        "{path}: lockDuration {:?}, expected {lock:?}",
                        e.lock_duration
                    ));
                }
                if e.max_delivery_count != max_delivery(props) {
                    d.push(format!(
                        "{path}: maxDeliveryCount {} here, {} in the Bicep",
                        e.max_delivery_count,
                        max_delivery(props)
                    ));
                }
                if e.dead_letter_on_expiration != flag(props, "deadLetteringOnMessageExpiration") {
                    d.push(format!("{path}: deadLetteringOnMessageExpiration differs"));
                }
                if e.default_ttl != dur(props, "defaultMessageTimeToLive") {
                    d.push(format!(
                        "{path}: defaultMessageTimeToLive {:?} here, {:?} in the Bicep",
                        e.default_ttl,
                        dur(props, "defaultMessageTimeToLive")
                    ));
                }
                if flag(props, "requiresSession") {
                    d.push(format!("{path}: sessions are not emulated"));
                }
                d
            };

        // Queues, both ways.
        let local_queues: BTreeMap<&str, &Sendable> = config
            .sendables
            .iter()
            .filter(|s| s.targets.iter().all(|t| !t.is_subscription) && !s.targets.is_empty())
            .map(|s| (s.path.as_str(), s))
            .collect();
        for (name, props) in &bicep.queues {
            let Some(q) = local_queues.get(name.to_ascii_lowercase().as_str()) else {
                diff(format!("queue {name} is in the Bicep, not here"));
                continue;
            };
            if q.duplicate_window != window(props) {
                diff(format!(
                    "queue {name}: duplicate detection {:?} here, {:?} in the Bicep",
                    q.duplicate_window,
                    window(props)
                ));
            }
            let mut compared = RECEIVABLE.to_vec();
            compared.push("duplicateDetectionHistoryTimeWindow");
            for k in known(&format!("queue {name}"), props, &compared) {
                diff(k);
            }
            assert!(
                dur(props, "lockDuration").is_some(),
                "{name}: a lock duration in the Bicep"
            );
            for d in check_receivable(name, props, &q.targets[0].entity, LOCAL_QUEUE_LOCK) {
                diff(d);
            }
        }
        for name in local_queues.keys() {
            if !bicep.queues.keys().any(|b| b.eq_ignore_ascii_case(name)) {
                diff(format!("queue {name} is here, not in the Bicep"));
            }
        }

        // Topics, subscriptions and rules, both ways.
        let local_topics: BTreeMap<&str, &Sendable> = config
            .sendables
            .iter()
            .filter(|s| !local_queues.contains_key(s.path.as_str()))
            .map(|s| (s.path.as_str(), s))
            .collect();
        for (name, topic) in &bicep.topics {
            let Some(t) = local_topics.get(name.to_ascii_lowercase().as_str()) else {
                diff(format!("topic {name} is in the Bicep, not here"));
                continue;
            };
            let props = &topic.properties;
            if t.duplicate_window != window(props) {
                diff(format!("topic {name}: duplicate detection differs"));
            }
            if t.default_ttl != dur(props, "defaultMessageTimeToLive") {
                diff(format!("topic {name}: defaultMessageTimeToLive differs"));
            }
            for k in known(
                &format!("topic {name}"),
                props,
                &[
                    "requiresDuplicateDetection",
                    "duplicateDetectionHistoryTimeWindow",
                    "defaultMessageTimeToLive",
                ],
            ) {
                diff(k);
            }
            for (sub_name, sub) in &topic.subscriptions {
                let path = format!("{name}/subscriptions/{sub_name}").to_ascii_lowercase();
                let Some(target) = t.targets.iter().find(|x| x.entity.path == path) else {
                    diff(format!("subscription {path} is in the Bicep, not here"));
                    continue;
                };
                for k in known(&path, &sub.properties, &RECEIVABLE) {
                    diff(k);
                }
                let lock = dur(&sub.properties, "lockDuration").unwrap_or(Duration::from_secs(60));
                for d in check_receivable(&path, &sub.properties, &target.entity, lock) {
                    diff(d);
                }
                // Rules: none in the Bicep = the `$Default` TrueFilter Service Bus creates.
                let expected: Vec<(String, Filter)> = if sub.rules.is_empty() {
                    vec![("$Default".into(), Filter::True)]
                } else {
                    sub.rules
                        .iter()
                        .map(|(rule, props)| {
                            if props.get("filterType") != Some(&Scalar::Str("SqlFilter".into())) {
                                diff(format!("{path} rule {rule}: only SQL filters are emulated"));
                            }
                            let sql = match props.get("sqlFilter.sqlExpression") {
                                Some(Scalar::Str(s)) => s.clone(),
                                other => panic!("{path} rule {rule}: sqlExpression {other:?}"),
                            };
                            let filter = Filter::parse(&sql)
                                .unwrap_or_else(|e| panic!("{path} rule {rule}: {e}"));
                            (rule.clone(), filter)
                        })
                        .collect()
                };
                let mut local_rules = target.rules.clone();
                local_rules.sort_by(|a, b| a.0.cmp(&b.0));
                if local_rules != expected {
                    diff(format!(
                        "{path}: rules {local_rules:?} here, {expected:?} in the Bicep"
                    ));
                }
            }
            for target in &t.targets {
                let p = target.entity.path.as_str();
                if LOCAL_ONLY_SUBSCRIPTIONS.contains(&p) {
                    continue;
                }
                let in_bicep = topic
                    .subscriptions
                    .keys()
                    .any(|s| format!("{name}/subscriptions/{s}").eq_ignore_ascii_case(p));
                if !in_bicep {
                    diff(format!("subscription {p} is here, not in the Bicep"));
                }
            }
        }
        for name in local_topics.keys() {
            if !bicep.topics.keys().any(|b| b.eq_ignore_ascii_case(name)) {
                diff(format!("topic {name} is here, not in the Bicep"));
            }
        }

        // Every function's trigger.
        for (file, entity) in triggers {
            if config.receivable(entity).is_none() {
                diff(format!(
                    "{file} is triggered by {entity}, which is not here"
                ));
            }
        }
        out
    }

    #[test]
    fn the_imageferry_namespace_mirrors_the_bicep() {
        let bicep = bicep_namespace();
        // The reader found what the Bicep declares (guards against a reader that finds nothing).
        assert_eq!(bicep.queues.len(), 6, "{:?}", bicep.queues.keys());
        assert_eq!(
            bicep.topics["deployment-events"]
                .subscriptions
                .keys()
                .collect::<Vec<_>>(),
            ["rollout-events", "terminal-events"]
        );
        assert_eq!(
            bicep.queues["rollout-check"].get("maxDeliveryCount"),
            Some(&bicep::Scalar::Int(10)),
            "main.bicep's default reaches the module"
        );
        let triggers = trigger_entities();
        assert_eq!(triggers.len(), 6, "{triggers:?}");
        let config = NamespaceConfig::imageferry();
        let found = differences(&bicep, &config, &triggers);
        assert!(found.is_empty(), "{found:#?}");
        assert!(
            config
                .receivable("Deployment-Events/Subscriptions/local-dev")
                .is_some()
        );
    }

    #[test]
    fn the_mirror_test_finds_each_kind_of_difference() {
        let bicep = bicep_namespace();
        let triggers = trigger_entities();
        let mutated = |from: &str, to: &str| {
            assert!(IMAGEFERRY_TOML.contains(from), "{from}");
            let config = NamespaceConfig::parse(&IMAGEFERRY_TOML.replacen(from, to, 1)).unwrap();
            differences(&bicep, &config, &triggers)
        };
        let one = |found: Vec<String>, needle: &str| {
            assert!(
                found.iter().any(|d| d.contains(needle)),
                "{needle:?} not in {found:#?}"
            );
        };
        // A queue missing (and a function without its queue), and one too many.
        let found = mutated("name = \"rollout-check\"", "name = \"rollout-chek\"");
        one(
            found.clone(),
            "queue rollout-check is in the Bicep, not here",
        );
        one(
            found.clone(),
            "queue rollout-chek is here, not in the Bicep",
        );
        one(found, "triggered by rollout-check");
        // A setting.
        one(
            mutated("maxDeliveryCount = 10", "maxDeliveryCount = 3"),
            "deployment-requested: maxDeliveryCount 3 here, 10 in the Bicep",
        );
        one(
            mutated(
                "duplicateDetectionHistoryTimeWindow = \"PT1H\"",
                "duplicateDetectionHistoryTimeWindow = \"PT10M\"",
            ),
            "queue deployment-requested: duplicate detection",
        );
        one(
            mutated("lockDuration = \"PT1M\"", "lockDuration = \"PT2M\""),
            "deployment-events/subscriptions/terminal-events: lockDuration",
        );
        // A rule.
        one(
            mutated("'rollout-halted', ", ""),
            "deployment-events/subscriptions/rollout-events: rules",
        );
        // A subscription missing, and one that is neither the Bicep's nor local-only.
        let found = mutated("name = \"rollout-events\"", "name = \"rollouts\"");
        one(
            found.clone(),
            "subscription deployment-events/subscriptions/rollout-events is in the Bicep, not here",
        );
        one(
            found,
            "subscription deployment-events/subscriptions/rollouts is here, not in the Bicep",
        );
        // A trigger whose entity is missing.
        let found = differences(
            &bicep,
            &NamespaceConfig::imageferry(),
            &[("x/function.json".into(), "nowhere".into())],
        );
        assert_eq!(
            found,
            ["x/function.json is triggered by nowhere, which is not here"]
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
