//! The namespace's entities: queues, topics, subscriptions and their rules.
//!
//! The format is the one of `infra/servicebus.entities.json`: ARM's `Microsoft.ServiceBus/
//! namespaces/{queues,topics,topics/subscriptions,topics/subscriptions/rules}` (API 2024-01-01)
//! as `{name, properties}` objects, with ISO 8601 durations (`PT5M`, `P14D`). Every property is
//! either run here or named in [`NOT_EMULATED`]; any other is refused, so that a new setting in
//! the namespace cannot pass unnoticed. [`NamespaceConfig::imageferry`] is that file, which the
//! Bicep deploys too, with the local differences of [`NamespaceConfig::for_local_run`].

use std::time::Duration;

use serde::Deserialize;

use crate::filter::{Filter, FilterError};

/// Largest message on the Standard tier (learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
pub const STANDARD_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Problems with a namespace configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid JSON for this format (an unknown property included).
    #[error("namespace config: {0}")]
    Json(#[from] serde_json::Error),
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
    /// A setting the stand-in does not run (sessions, a rule that is not a SQL filter).
    #[error("{entity}: {what} is not emulated")]
    Unsupported {
        /// Entity path.
        entity: String,
        /// The setting.
        what: String,
    },
}

/// ARM properties that have no local effect (throughput and storage knobs, and the exception
/// dead-lettering of a filter that cannot throw here): accepted and ignored.
pub const NOT_EMULATED: [&str; 5] = [
    "enableBatchedOperations",
    "enablePartitioning",
    "maxSizeInMegabytes",
    "supportOrdering",
    "deadLetteringOnFilterEvaluationExceptions",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamespace {
    #[serde(default, rename = "$comment")]
    _comment: serde_json::Value,
    #[serde(default)]
    queues: Vec<RawEntity<RawProperties>>,
    #[serde(default)]
    topics: Vec<RawTopic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity<P> {
    name: String,
    properties: P,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    name: String,
    #[serde(default)]
    properties: RawProperties,
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    name: String,
    #[serde(default)]
    properties: RawProperties,
    /// Rules; none = the `$Default` rule with a TrueFilter, as Service Bus creates.
    #[serde(default)]
    rules: Vec<RawEntity<RawRuleProperties>>,
}

/// The ARM properties of queues, topics and subscriptions that the stand-in knows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProperties {
    #[serde(default)]
    requires_duplicate_detection: bool,
    duplicate_detection_history_time_window: Option<String>,
    max_delivery_count: Option<u32>,
    lock_duration: Option<String>,
    default_message_time_to_live: Option<String>,
    #[serde(default)]
    dead_lettering_on_message_expiration: bool,
    #[serde(default)]
    requires_session: bool,
    // NOT_EMULATED: accepted, no local effect.
    #[serde(rename = "enableBatchedOperations")]
    _enable_batched_operations: Option<serde_json::Value>,
    #[serde(rename = "enablePartitioning")]
    _enable_partitioning: Option<serde_json::Value>,
    #[serde(rename = "maxSizeInMegabytes")]
    _max_size_in_megabytes: Option<serde_json::Value>,
    #[serde(rename = "supportOrdering")]
    _support_ordering: Option<serde_json::Value>,
    #[serde(rename = "deadLetteringOnFilterEvaluationExceptions")]
    _dead_lettering_on_filter_evaluation_exceptions: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRuleProperties {
    filter_type: Option<String>,
    sql_filter: Option<RawSqlFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSqlFilter {
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

/// The imageferry namespace's entities: `infra/servicebus.entities.json`, which the Bicep deploys.
pub const IMAGEFERRY_ENTITIES: &str = include_str!("../../../infra/servicebus.entities.json");

/// The queues' lock duration in a local run: the namespace's PT5M would make a message whose
/// lock was lost in a crash (host or stand-in killed) wait five minutes; the local host renews
/// locks while a function runs, as the Functions host does.
pub const LOCAL_QUEUE_LOCK: Duration = Duration::from_secs(15);

/// The subscription only a local run has: `imageferry dev` follows every event through it.
pub const LOCAL_DEV_SUBSCRIPTION: &str = "local-dev";

impl NamespaceConfig {
    /// Parses the format of `infra/servicebus.entities.json`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawNamespace = serde_json::from_str(text)?;
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
            sendables.push(Sendable {
                path: path.clone(),
                duplicate_window: window(&q.properties)?,
                default_ttl: None,
                targets: vec![Target {
                    entity: receivable(&path, &q.properties, None)?,
                    rules: Vec::new(),
                    is_subscription: false,
                }],
            });
        }
        for t in raw.topics {
            let path = name_ok(&t.name)?;
            let topic_ttl = optional_duration(&t.properties.default_message_time_to_live, "ttl")?;
            let mut targets = Vec::new();
            for s in t.subscriptions {
                let sub_path = format!("{path}/subscriptions/{}", s.name.to_ascii_lowercase());
                let rules = if s.rules.is_empty() {
                    vec![("$Default".to_string(), Filter::True)]
                } else {
                    s.rules
                        .iter()
                        .map(|r| rule(&sub_path, r))
                        .collect::<Result<_, _>>()?
                };
                targets.push(Target {
                    entity: receivable(&sub_path, &s.properties, topic_ttl)?,
                    rules,
                    is_subscription: true,
                });
            }
            sendables.push(Sendable {
                path,
                duplicate_window: window(&t.properties)?,
                default_ttl: topic_ttl,
                targets,
            });
        }
        Ok(Self { sendables })
    }

    /// Reads a file of that format.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The imageferry namespace as a local run has it: [`IMAGEFERRY_ENTITIES`] (the step queues,
    /// the `deployment-events` topic with the `terminal-events` and `rollout-events`
    /// subscriptions and their `status IN (...)` rules) with
    /// [`for_local_run`](Self::for_local_run)'s differences.
    pub fn imageferry() -> Self {
        Self::parse(IMAGEFERRY_ENTITIES)
            .expect("infra/servicebus.entities.json is valid (tested)")
            .for_local_run()
    }

    /// The two local differences: the queues' lock is [`LOCAL_QUEUE_LOCK`], and every topic gets
    /// a [`LOCAL_DEV_SUBSCRIPTION`] that takes every message (TrueFilter).
    pub fn for_local_run(mut self) -> Self {
        for s in &mut self.sendables {
            if s.targets.iter().all(|t| t.is_subscription) {
                let path = format!("{}/subscriptions/{LOCAL_DEV_SUBSCRIPTION}", s.path);
                if s.targets.iter().all(|t| t.entity.path != path) {
                    s.targets.push(Target {
                        entity: Receivable {
                            path,
                            lock_duration: LOCAL_QUEUE_LOCK,
                            max_delivery_count: 10,
                            default_ttl: s.default_ttl,
                            dead_letter_on_expiration: true,
                        },
                        rules: vec![("$Default".to_string(), Filter::True)],
                        is_subscription: true,
                    });
                }
            } else {
                for t in &mut s.targets {
                    t.entity.lock_duration = LOCAL_QUEUE_LOCK;
                }
            }
        }
        self
    }

    /// Every queue's `maxDeliveryCount` set to `n` (main.bicep's `maxDeliveryCount` parameter
    /// does the same to the deployed queues, with the app's `IMAGEFERRY_MAX_DELIVERY_COUNT`).
    pub fn with_max_delivery_count(mut self, n: u32) -> Self {
        for t in self
            .sendables
            .iter_mut()
            .flat_map(|s| s.targets.iter_mut())
            .filter(|t| !t.is_subscription)
        {
            t.entity.max_delivery_count = n.max(1);
        }
        self
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

    /// The queue or subscription a receive path names, and whether the path is its dead-letter
    /// sub-queue (`{entity}/$DeadLetterQueue`).
    pub fn receive_path(&self, path: &str) -> Option<(&Receivable, bool)> {
        let (entity, dead_letter) = azure_clients::servicebus::split_dead_letter(path);
        self.receivable(entity).map(|r| (r, dead_letter))
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

fn receivable(
    path: &str,
    p: &RawProperties,
    inherited_ttl: Option<Duration>,
) -> Result<Receivable, ConfigError> {
    if p.requires_session {
        return Err(ConfigError::Unsupported {
            entity: path.to_string(),
            what: "requiresSession".into(),
        });
    }
    Ok(Receivable {
        path: path.to_string(),
        lock_duration: duration_or(&p.lock_duration, "lockDuration", 60)?,
        max_delivery_count: p.max_delivery_count.unwrap_or(10).max(1),
        default_ttl: optional_duration(&p.default_message_time_to_live, "ttl")?.or(inherited_ttl),
        dead_letter_on_expiration: p.dead_lettering_on_message_expiration,
    })
}

fn rule(
    subscription: &str,
    r: &RawEntity<RawRuleProperties>,
) -> Result<(String, Filter), ConfigError> {
    let unsupported = |what: String| ConfigError::Unsupported {
        entity: format!("{subscription} rule {}", r.name),
        what,
    };
    match r.properties.filter_type.as_deref() {
        None | Some("SqlFilter") => {}
        Some(other) => return Err(unsupported(format!("filterType {other}"))),
    }
    let sql = r
        .properties
        .sql_filter
        .as_ref()
        .ok_or_else(|| unsupported("a rule without sqlFilter".into()))?;
    Filter::parse(&sql.sql_expression)
        .map(|f| (r.name.clone(), f))
        .map_err(|source| ConfigError::Filter {
            subscription: subscription.to_string(),
            rule: r.name.clone(),
            source,
        })
}

fn window(p: &RawProperties) -> Result<Option<Duration>, ConfigError> {
    if !p.requires_duplicate_detection {
        return Ok(None);
    }
    // Service Bus's default history window is 10 minutes.
    Ok(Some(duration_or(
        &p.duplicate_detection_history_time_window,
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

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The entities file read on its own, as plain JSON (not through [`NamespaceConfig::parse`]).
    fn entities() -> serde_json::Value {
        serde_json::from_str(IMAGEFERRY_ENTITIES).expect("servicebus.entities.json is JSON")
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

    /// Every way `config` and the entities file differ (beyond the local differences of
    /// [`NamespaceConfig::for_local_run`]), and every trigger whose entity is missing.
    fn differences(
        json: &serde_json::Value,
        config: &NamespaceConfig,
        triggers: &[(String, String)],
    ) -> Vec<String> {
        type Props = serde_json::Map<String, serde_json::Value>;
        let mut out = Vec::new();
        let empty = Props::new();
        let props = |v: &serde_json::Value| -> Props {
            v["properties"].as_object().unwrap_or(&empty).clone()
        };
        let name = |v: &serde_json::Value| v["name"].as_str().unwrap().to_ascii_lowercase();
        let dur = |p: &Props, key: &str| -> Option<Duration> {
            p.get(key)
                .map(|v| parse_iso8601(v.as_str().unwrap()).expect("an ISO 8601 duration"))
        };
        let flag = |p: &Props, key: &str| p.get(key) == Some(&serde_json::Value::Bool(true));
        // Duplicate detection: Service Bus's default window is 10 minutes.
        let window = |p: &Props| {
            flag(p, "requiresDuplicateDetection").then(|| {
                dur(p, "duplicateDetectionHistoryTimeWindow").unwrap_or(Duration::from_secs(600))
            })
        };
        let max_delivery = |p: &Props| {
            p.get("maxDeliveryCount")
                .map(|v| v.as_u64().unwrap() as u32)
                .unwrap_or(10)
        };
        const COMPARED: [&str; 8] = [
            "lockDuration",
            "maxDeliveryCount",
            "deadLetteringOnMessageExpiration",
            "defaultMessageTimeToLive",
            "requiresSession",
            "requiresDuplicateDetection",
            "duplicateDetectionHistoryTimeWindow",
            "filterType",
        ];
        let unknown = |what: &str, p: &Props, out: &mut Vec<String>| {
            for k in p.keys() {
                if !COMPARED.contains(&k.as_str()) && !NOT_EMULATED.contains(&k.as_str()) {
                    out.push(format!(
                        "{what}: {k} is set, which the mirror does not compare"
                    ));
                }
            }
        };
        let check_receivable =
            |path: &str, p: &Props, e: &Receivable, lock: Duration, out: &mut Vec<String>| {
                if e.lock_duration != lock {
                    out.push(format!(
                        "{path}: lockDuration {:?}, expected {lock:?}",
                        e.lock_duration
                    ));
                }
                if e.max_delivery_count != max_delivery(p) {
                    out.push(format!(
                        "{path}: maxDeliveryCount {} here, {} in the entities file",
                        e.max_delivery_count,
                        max_delivery(p)
                    ));
                }
                if e.dead_letter_on_expiration != flag(p, "deadLetteringOnMessageExpiration") {
                    out.push(format!("{path}: deadLetteringOnMessageExpiration differs"));
                }
                if e.default_ttl != dur(p, "defaultMessageTimeToLive") {
                    out.push(format!(
                        "{path}: defaultMessageTimeToLive {:?} here, {:?} in the entities file",
                        e.default_ttl,
                        dur(p, "defaultMessageTimeToLive")
                    ));
                }
            };

        // Queues, both ways.
        let file_queues = json["queues"].as_array().unwrap();
        let local_queues: BTreeMap<&str, &Sendable> = config
            .sendables
            .iter()
            .filter(|s| !s.targets.is_empty() && s.targets.iter().all(|t| !t.is_subscription))
            .map(|s| (s.path.as_str(), s))
            .collect();
        for q in file_queues {
            let (name, p) = (name(q), props(q));
            let Some(local) = local_queues.get(name.as_str()) else {
                out.push(format!("queue {name} is in the entities file, not here"));
                continue;
            };
            if local.duplicate_window != window(&p) {
                out.push(format!(
                    "queue {name}: duplicate detection {:?} here, {:?} in the entities file",
                    local.duplicate_window,
                    window(&p)
                ));
            }
            unknown(&format!("queue {name}"), &p, &mut out);
            assert!(dur(&p, "lockDuration").is_some(), "{name}: a lock duration");
            check_receivable(
                &name,
                &p,
                &local.targets[0].entity,
                LOCAL_QUEUE_LOCK,
                &mut out,
            );
        }
        for name in local_queues.keys() {
            if !file_queues
                .iter()
                .any(|q| q["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            {
                out.push(format!("queue {name} is here, not in the entities file"));
            }
        }

        // Topics, subscriptions and rules, both ways.
        let file_topics = json["topics"].as_array().unwrap();
        let local_topics: BTreeMap<&str, &Sendable> = config
            .sendables
            .iter()
            .filter(|s| !local_queues.contains_key(s.path.as_str()))
            .map(|s| (s.path.as_str(), s))
            .collect();
        for topic in file_topics {
            let (name, p) = (name(topic), props(topic));
            let Some(local) = local_topics.get(name.as_str()) else {
                out.push(format!("topic {name} is in the entities file, not here"));
                continue;
            };
            if local.duplicate_window != window(&p) {
                out.push(format!("topic {name}: duplicate detection differs"));
            }
            if local.default_ttl != dur(&p, "defaultMessageTimeToLive") {
                out.push(format!("topic {name}: defaultMessageTimeToLive differs"));
            }
            unknown(&format!("topic {name}"), &p, &mut out);
            let subscriptions = topic["subscriptions"].as_array().unwrap();
            for sub in subscriptions {
                let path = format!("{name}/subscriptions/{}", self::name_of(sub));
                let sp = props(sub);
                let Some(target) = local.targets.iter().find(|x| x.entity.path == path) else {
                    out.push(format!(
                        "subscription {path} is in the entities file, not here"
                    ));
                    continue;
                };
                unknown(&path, &sp, &mut out);
                let lock = dur(&sp, "lockDuration").unwrap_or(Duration::from_secs(60));
                check_receivable(&path, &sp, &target.entity, lock, &mut out);
                // Rules: none = the `$Default` TrueFilter Service Bus creates.
                let rules = sub["rules"].as_array().cloned().unwrap_or_default();
                let mut expected: Vec<(String, Filter)> = if rules.is_empty() {
                    vec![("$Default".into(), Filter::True)]
                } else {
                    rules
                        .iter()
                        .map(|r| {
                            let rule = r["name"].as_str().unwrap().to_string();
                            let rp = props(r);
                            if rp.get("filterType").and_then(|v| v.as_str()) != Some("SqlFilter") {
                                out.push(format!(
                                    "{path} rule {rule}: only SQL filters are emulated"
                                ));
                            }
                            let sql = r["properties"]["sqlFilter"]["sqlExpression"]
                                .as_str()
                                .unwrap_or_else(|| panic!("{path} rule {rule}: sqlExpression"));
                            let filter = Filter::parse(sql)
                                .unwrap_or_else(|e| panic!("{path} rule {rule}: {e}"));
                            (rule, filter)
                        })
                        .collect()
                };
                expected.sort_by(|a, b| a.0.cmp(&b.0));
                let mut local_rules = target.rules.clone();
                local_rules.sort_by(|a, b| a.0.cmp(&b.0));
                if local_rules != expected {
                    out.push(format!(
                        "{path}: rules {local_rules:?} here, {expected:?} in the entities file"
                    ));
                }
            }
            for target in &local.targets {
                let p = target.entity.path.as_str();
                if p == format!("{name}/subscriptions/{LOCAL_DEV_SUBSCRIPTION}") {
                    continue;
                }
                let in_file = subscriptions.iter().any(|s| {
                    format!("{name}/subscriptions/{}", name_of(s)).eq_ignore_ascii_case(p)
                });
                if !in_file {
                    out.push(format!(
                        "subscription {p} is here, not in the entities file"
                    ));
                }
            }
        }
        for name in local_topics.keys() {
            if !file_topics
                .iter()
                .any(|t| t["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            {
                out.push(format!("topic {name} is here, not in the entities file"));
            }
        }

        // Every function's trigger names an entity of the namespace (or its dead-letter queue).
        for (file, entity) in triggers {
            let (base, _) = azure_clients::servicebus::split_dead_letter(entity);
            let in_file = file_queues
                .iter()
                .any(|q| q["name"].as_str().unwrap().eq_ignore_ascii_case(base));
            if config.receive_path(entity).is_none() || !in_file {
                out.push(format!(
                    "{file} is triggered by {entity}, which is not a queue of the namespace"
                ));
            }
        }
        out
    }

    fn name_of(v: &serde_json::Value) -> String {
        v["name"].as_str().unwrap().to_ascii_lowercase()
    }

    #[test]
    fn the_imageferry_namespace_mirrors_the_entities_file() {
        let json = entities();
        // What the Bicep relies on (its loops, outputs and main.bicep's defaults): one topic whose
        // subscriptions are terminal-events then rollout-events with one rule each, one maxDeliveryCount and
        // duplicate detection window for every queue (main.bicep applies its parameters to all).
        let queues = json["queues"].as_array().unwrap();
        assert_eq!(queues.len(), 6, "{queues:?}");
        let topics = json["topics"].as_array().unwrap();
        assert_eq!(topics.len(), 1);
        let subscriptions: Vec<String> = topics[0]["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(name_of)
            .collect();
        assert_eq!(subscriptions, ["terminal-events", "rollout-events"]);
        for sub in topics[0]["subscriptions"].as_array().unwrap() {
            assert_eq!(
                sub["rules"].as_array().map(Vec::len),
                Some(1),
                "servicebus.bicep deploys one rule per subscription: {}",
                sub["name"]
            );
        }
        for q in queues {
            for key in ["maxDeliveryCount", "duplicateDetectionHistoryTimeWindow"] {
                assert_eq!(
                    q["properties"][key], queues[0]["properties"][key],
                    "{key} of {}",
                    q["name"]
                );
            }
        }
        let triggers = trigger_entities();
        assert_eq!(triggers.len(), 6, "{triggers:?}");
        let config = NamespaceConfig::imageferry();
        let found = differences(&json, &config, &triggers);
        assert!(found.is_empty(), "{found:#?}");
        assert!(
            config
                .receivable("Deployment-Events/Subscriptions/local-dev")
                .is_some()
        );
    }

    /// The Bicep deploys the entities file and names no entity itself; main.bicep's defaults are
    /// the file's values.
    #[test]
    fn the_bicep_deploys_the_entities_file() {
        let module =
            std::fs::read_to_string(repo().join("infra/modules/servicebus.bicep")).unwrap();
        // What it declares, comments left out.
        let code: String = module
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            module.contains("loadJsonContent('../servicebus.entities.json')"),
            "servicebus.bicep loads the entities file"
        );
        for entity in entities()["queues"]
            .as_array()
            .unwrap()
            .iter()
            .chain(entities()["topics"].as_array().unwrap())
        {
            let name = entity["name"].as_str().unwrap();
            assert!(!code.contains(name), "servicebus.bicep names {name} itself");
        }
        let main = std::fs::read_to_string(repo().join("infra/main.bicep")).unwrap();
        for path in [
            "$.queues[0].properties.maxDeliveryCount",
            "$.queues[0].properties.duplicateDetectionHistoryTimeWindow",
        ] {
            assert!(
                main.contains(&format!(
                    "loadJsonContent('servicebus.entities.json', '{path}')"
                )),
                "main.bicep's default is {path}"
            );
        }
    }

    #[test]
    fn the_mirror_test_finds_each_kind_of_difference() {
        let json = entities();
        let triggers = trigger_entities();
        let mutated = |from: &str, to: &str| {
            assert!(IMAGEFERRY_ENTITIES.contains(from), "{from}");
            let config = NamespaceConfig::parse(&IMAGEFERRY_ENTITIES.replacen(from, to, 1))
                .unwrap()
                .for_local_run();
            differences(&json, &config, &triggers)
        };
        let one = |found: Vec<String>, needle: &str| {
            assert!(
                found.iter().any(|d| d.contains(needle)),
                "{needle:?} not in {found:#?}"
            );
        };
        // A queue missing (and a function without its queue), and one too many.
        let found = mutated("\"name\": \"rollout-check\"", "\"name\": \"rollout-chek\"");
        one(
            found.clone(),
            "queue rollout-check is in the entities file, not here",
        );
        one(
            found.clone(),
            "queue rollout-chek is here, not in the entities file",
        );
        one(found, "triggered by rollout-check");
        // A setting.
        one(
            mutated("\"maxDeliveryCount\": 10", "\"maxDeliveryCount\": 3"),
            "deployment-requested: maxDeliveryCount 3 here, 10 in the entities file",
        );
        one(
            mutated(
                "\"duplicateDetectionHistoryTimeWindow\": \"PT1H\"",
                "\"duplicateDetectionHistoryTimeWindow\": \"PT10M\"",
            ),
            "queue deployment-requested: duplicate detection",
        );
        one(
            mutated("\"lockDuration\": \"PT1M\"", "\"lockDuration\": \"PT2M\""),
            "deployment-events/subscriptions/terminal-events: lockDuration",
        );
        // A rule.
        one(
            mutated("'rollout-halted', ", ""),
            "deployment-events/subscriptions/rollout-events: rules",
        );
        // A subscription missing, and one that is neither the file's nor local-only.
        let found = mutated("\"name\": \"rollout-events\"", "\"name\": \"rollouts\"");
        one(
            found.clone(),
            "subscription deployment-events/subscriptions/rollout-events is in the entities file, not here",
        );
        one(
            found,
            "subscription deployment-events/subscriptions/rollouts is here, not in the entities file",
        );
        // A trigger whose entity is missing; a dead-letter trigger of a queue is fine.
        let found = differences(
            &json,
            &NamespaceConfig::imageferry(),
            &[
                ("x/function.json".into(), "nowhere".into()),
                (
                    "y/function.json".into(),
                    "deployment-requested/$DeadLetterQueue".into(),
                ),
            ],
        );
        assert_eq!(
            found,
            ["x/function.json is triggered by nowhere, which is not a queue of the namespace"]
        );
        // A property nobody compares.
        let mut extra = json.clone();
        extra["queues"][0]["properties"]["autoDeleteOnIdle"] = "PT1H".into();
        one(
            differences(&extra, &NamespaceConfig::imageferry(), &[]),
            "queue deployment-requested: autoDeleteOnIdle is set",
        );
    }

    #[test]
    fn refuses_bad_configs() {
        let queue = |props: &str| format!(r#"{{"queues":[{{"name":"a","properties":{props}}}]}}"#);
        assert!(matches!(
            NamespaceConfig::parse(&queue(r#"{"lockDuration":"5 minutes"}"#)),
            Err(ConfigError::Duration { .. })
        ));
        assert!(matches!(
            NamespaceConfig::parse(
                r#"{"queues":[{"name":"a","properties":{}},{"name":"A","properties":{}}]}"#
            ),
            Err(ConfigError::Name(_))
        ));
        assert!(matches!(
            NamespaceConfig::parse(
                r#"{"topics":[{"name":"t","subscriptions":[{"name":"s","rules":[{"name":"r","properties":{"filterType":"SqlFilter","sqlFilter":{"sqlExpression":"a IN ("}}}]}]}]}"#
            ),
            Err(ConfigError::Filter { .. })
        ));
        // A property the stand-in does not know, sessions, another filter type: refused.
        assert!(matches!(
            NamespaceConfig::parse(&queue(r#"{"autoDeleteOnIdle":"PT1H"}"#)),
            Err(ConfigError::Json(_))
        ));
        assert!(matches!(
            NamespaceConfig::parse(&queue(r#"{"requiresSession":true}"#)),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            NamespaceConfig::parse(
                r#"{"topics":[{"name":"t","subscriptions":[{"name":"s","rules":[{"name":"r","properties":{"filterType":"CorrelationFilter"}}]}]}]}"#
            ),
            Err(ConfigError::Unsupported { .. })
        ));
        // The not-emulated knobs are accepted.
        assert!(
            NamespaceConfig::parse(&queue(
                r#"{"enableBatchedOperations":true,"maxSizeInMegabytes":1024}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn the_local_run_differences() {
        let config = NamespaceConfig::imageferry();
        assert!(config.queues().all(|q| q.lock_duration == LOCAL_QUEUE_LOCK));
        let five = config.clone().with_max_delivery_count(5);
        assert!(five.queues().all(|q| q.max_delivery_count == 5));
        assert!(
            five.receivables()
                .filter(|r| r.path.contains("/subscriptions/"))
                .all(|r| r.max_delivery_count == 10),
            "subscriptions keep theirs"
        );
        assert_eq!(
            config
                .receive_path("deployment-requested/$deadletterqueue")
                .map(|(r, dl)| (r.path.as_str(), dl)),
            Some(("deployment-requested", true))
        );
    }
}
