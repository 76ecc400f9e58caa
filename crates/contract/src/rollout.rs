//! Rollouts: which targets receive a newly published image version, in rings.
//!
//! The configuration is a TOML file deployed with the app (`rollouts.toml`, schema
//! `schemas/rollouts.schema.json`). [`RolloutConfig::parse`] checks it completely and reports every
//! problem with the line it is on, so a bad file stops the handler at start with a message that
//! points at the line. `examples/rollouts.toml` is a complete example.
//!
//! ```toml
//! version = 1
//!
//! [[rollout]]
//! name = "web"
//! image = "/subscriptions/…/providers/Microsoft.Compute/galleries/g/images/web-*"
//! supersede = "halted-or-running"
//!
//! [[rollout.ring]]
//! name = "canary"
//!
//! [[rollout.ring.target]]
//! name = "contoso-canary"
//! tenantId = "…"
//! subscriptionId = "…"
//! resourceGroup = "web-canary"
//! location = "southcentralus"
//! vm = { name = "web-{version}", size = "Standard_D2s_v5", adminUsername = "azureuser", sshPublicKey = "ssh-ed25519 …" }
//! network = { allowInboundFrom = ["203.0.113.0/24"] }
//! ```

use crate::event::EventError;
use crate::image_id::resource_id_eq;
use crate::request::{DeploymentRequest, ImageRef, NetworkSpec, Target, VmSpec};
use crate::scale_set::ScaleSetSpec;
use crate::schema_util::Rfc3339;
use crate::steps::MAX_ATTEMPT;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The only configuration format version so far.
pub const ROLLOUT_CONFIG_VERSION: u32 = 1;

/// The placeholder in `vm.name` replaced by the version (dots become dashes).
pub const VERSION_PLACEHOLDER: &str = "{version}";

/// The rollout configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "RolloutConfig")]
pub struct RolloutConfig {
    /// Format version: 1.
    pub version: u32,
    /// The rollouts; an image version is rolled out by the first one whose `image` matches.
    #[serde(default, rename = "rollout")]
    pub rollouts: Vec<Rollout>,
}

/// One rollout: an image definition (or a pattern) and its targets in rings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// 1–20 characters of `[a-z0-9-]`, unique in the file.
    pub name: String,
    /// Image definition id (`/subscriptions/…/galleries/{g}/images/{definition}`); the definition
    /// name may end with `*` to match every definition with that prefix.
    pub image: String,
    /// Whether a newer version of the image takes over this rollout from an older one that is
    /// still running or has halted.
    #[serde(default)]
    pub supersede: Supersede,
    /// How long a ring may take before the rollout halts (minutes; default 1440, a day).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_minutes: u32,
    /// The rings, in order: ring n+1 starts when every deployment of ring n has succeeded.
    #[serde(default, rename = "ring")]
    pub rings: Vec<Ring>,
}

fn default_ring_timeout() -> u32 {
    1440
}

/// What a newly published version does when the rollout is still on an older version.
/// A completed older rollout never stands in the way; a version older than the rollout's current
/// one is never rolled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Supersede {
    /// The newer version is not rolled out while the older one runs or has halted
    /// (`rollout-blocked`): a halt stops the line until the configuration says otherwise.
    Never,
    /// The newer version takes over a halted rollout; while the older one runs, the newer is not
    /// rolled out (`rollout-blocked`).
    #[default]
    Halted,
    /// The newer version always takes over: an older running rollout starts no further ring
    /// (`rollout-superseded` at its next check).
    HaltedOrRunning,
}

impl Supersede {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Supersede::Never => "never",
            Supersede::Halted => "halted",
            Supersede::HaltedOrRunning => "halted-or-running",
        }
    }
}

/// A ring: targets deployed together.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ring {
    /// Name, for events and logs (e.g. `canary`).
    pub name: String,
    /// The targets of this ring (at least one).
    #[serde(default, rename = "target")]
    pub targets: Vec<RolloutTarget>,
}

/// One target of a rollout and the VM (or the scale set) it gets: a `deployment-requested`
/// template. A scale-set target is one deployment per version, which updates the same scale set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutTarget {
    /// 1–20 characters of `[a-z0-9-]`, unique in the rollout; part of the deployment ids.
    pub name: String,
    /// Target tenant (tenant 2).
    pub tenant_id: String,
    /// Target subscription.
    pub subscription_id: String,
    /// Target resource group.
    pub resource_group: String,
    /// Azure region; the version must be replicated there.
    pub location: String,
    /// The VM, as in a request; `name` may contain `{version}`. Absent for a scale-set target.
    #[serde(default, skip_serializing_if = "VmSpec::is_unset")]
    pub vm: VmSpec,
    /// The scale set, as in a request (instead of `vm`); its `name` never contains `{version}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set: Option<ScaleSetSpec>,
    /// Network options, as in a request.
    #[serde(default)]
    pub network: NetworkSpec,
}

/// The scheduled `rollout-check` message: is ring `ring` of one version's rollout done?
///
/// Like every message it is untrusted input: unknown top-level fields are refused (all named),
/// `attempt` is at most 1,000,000, and a `ringStartedAt` in the future is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "RolloutCheck")]
pub struct RolloutCheck {
    /// The rollout's name in the configuration.
    pub rollout: String,
    /// The image version id being rolled out.
    pub version_id: String,
    /// The gallery's tenant (tenant 1), as in a request's `image.tenantId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tenant_id: Option<String>,
    /// The ring being checked (0-based).
    pub ring: u32,
    /// When the ring was started; the ring halts at this plus `ringTimeoutMinutes`.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub ring_started_at: OffsetDateTime,
    /// Checks of this ring made so far (1 on the first), part of the MessageId (at most
    /// 1,000,000).
    #[serde(deserialize_with = "crate::steps::bounded")]
    #[schemars(range(max = 1_000_000))]
    pub attempt: u32,
}

/// How far ahead of the handler's clock a `ringStartedAt` may be (clock skew between instances).
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

impl RolloutCheck {
    /// Refuses a `ringStartedAt` later than `now` (plus [`MAX_CLOCK_SKEW`]): the handler writes
    /// the time a ring started, so a later one is forged (and would push the ring's timeout out
    /// of reach, or overflow the date arithmetic).
    pub fn check_times(&self, now: OffsetDateTime) -> Result<(), String> {
        if self.ring_started_at > crate::request::saturating_add(now, MAX_CLOCK_SKEW) {
            return Err(format!(
                "ringStartedAt {} is in the future",
                self.ring_started_at
            ));
        }
        Ok(())
    }

    /// The instant the ring times out: `ringStartedAt` plus `timeout`, or the last representable
    /// instant when that overflows (never a panic).
    pub fn ring_deadline(&self, timeout: std::time::Duration) -> OffsetDateTime {
        crate::request::saturating_add(self.ring_started_at, timeout)
    }

    /// The next check of the same ring, or `None` when `attempt` would pass [`MAX_ATTEMPT`].
    pub fn next(&self) -> Option<RolloutCheck> {
        let attempt = self.attempt.checked_add(1).filter(|a| *a <= MAX_ATTEMPT)?;
        Some(RolloutCheck {
            attempt,
            ..self.clone()
        })
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStatus {
    /// A ring's deployments were requested.
    RingStarted,
    /// Every ring succeeded (terminal).
    RolloutCompleted,
    /// A deployment of a ring failed or was rejected, or the ring timed out (terminal); later
    /// rings are not started.
    RolloutHalted,
    /// The `image-version-published` event was refused (not a version write, gallery not
    /// allowed, unreadable body) (terminal).
    EventRejected,
    /// The version was not rolled out: an older version's rollout runs or has halted and the
    /// rollout's `supersede` does not let a newer one take over (terminal).
    RolloutBlocked,
    /// A newer version took over; no further ring of this version starts (terminal).
    RolloutSuperseded,
}

impl RolloutStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::RingStarted => "ring-started",
            RolloutStatus::RolloutCompleted => "rollout-completed",
            RolloutStatus::RolloutHalted => "rollout-halted",
            RolloutStatus::EventRejected => "event-rejected",
            RolloutStatus::RolloutBlocked => "rollout-blocked",
            RolloutStatus::RolloutSuperseded => "rollout-superseded",
        }
    }
}

impl fmt::Display for RolloutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event about a rollout on the `deployment-events` topic (application properties `status`
/// and `rollout`; `deploymentId` is empty: a rollout spans deployments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "RolloutEvent")]
pub struct RolloutEvent {
    /// The rollout's name.
    pub rollout: String,
    /// The image version id.
    pub version_id: String,
    /// What happened.
    pub status: RolloutStatus,
    /// The ring concerned (0-based).
    pub ring: u32,
    /// The ring's name.
    pub ring_name: String,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub at: OffsetDateTime,
    /// Human-readable detail.
    pub detail: String,
    /// The ring's deployment ids.
    #[serde(default)]
    pub deployment_ids: Vec<String>,
    /// Why the rollout halted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

/// The MessageId of a rollout event: `rollout:{hash}:{status}:{ring}`, the same for a repeat.
pub fn rollout_event_message_id(
    version_id: &str,
    rollout: &str,
    status: RolloutStatus,
    ring: u32,
) -> String {
    let key = rollout_deployment_id(version_id, rollout, "rollout");
    format!("{key}:{status}:{ring}")
}

/// The JSON Schema of the configuration file, published as `schemas/rollouts.schema.json` (a
/// configuration file, not a message: kept out of [`crate::schema::all`]).
pub fn config_schema() -> crate::schema::SchemaFile {
    crate::schema::SchemaFile {
        file_name: "rollouts.schema.json",
        schema: schemars::schema_for!(RolloutConfig),
    }
}

/// An invalid configuration: every problem, each with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RolloutConfigError {
    /// The problems, in file order.
    pub problems: Vec<ConfigProblem>,
}

/// One problem in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Path in the file, e.g. `rollout[0].ring[1].target[0].vm.size`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for RolloutConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A target of a matched rollout, with where it stands in the rollout.
#[derive(Debug, Clone, Copy)]
pub struct RingTarget<'a> {
    /// Ring index (0-based).
    pub ring: usize,
    /// The target.
    pub target: &'a RolloutTarget,
}

impl RolloutConfig {
    /// Parses and checks a configuration file's text.
    pub fn parse(text: &str) -> Result<Self, RolloutConfigError> {
        let config: RolloutConfig = toml::from_str(text).map_err(|e| RolloutConfigError {
            problems: vec![ConfigProblem {
                line: e.span().map(|s| line_of(text, s.start)),
                path: String::new(),
                message: e.message().trim().to_string(),
            }],
        })?;
        let mut problems = config.check();
        if problems.is_empty() {
            return Ok(config);
        }
        let tree = DeTable::parse(text).ok();
        for p in &mut problems {
            p.line = tree
                .as_ref()
                .and_then(|t| span_of(t, &p.path))
                .map(|start| line_of(text, start));
        }
        Err(RolloutConfigError { problems })
    }

    /// The first rollout whose image pattern matches this image definition id.
    pub fn rollout_for(&self, definition_id: &str) -> Option<&Rollout> {
        self.rollouts.iter().find(|r| r.matches(definition_id))
    }

    /// Every problem, with paths (lines are added by [`parse`](Self::parse)).
    fn check(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut add = |path: String, message: String| {
            out.push(ConfigProblem {
                line: None,
                path,
                message,
            })
        };
        if self.version != ROLLOUT_CONFIG_VERSION {
            add(
                "version".into(),
                format!("must be {ROLLOUT_CONFIG_VERSION}"),
            );
        }
        let mut names = Vec::new();
        for (i, r) in self.rollouts.iter().enumerate() {
            let at = format!("rollout[{i}]");
            if !is_short_name(&r.name) {
                add(
                    format!("{at}.name"),
                    format!("{:?} is not 1–20 characters of [a-z0-9-]", r.name),
                );
            } else if names.contains(&r.name.as_str()) {
                add(format!("{at}.name"), format!("{:?} is used twice", r.name));
            }
            names.push(r.name.as_str());
            if let Err(e) = check_image_pattern(&r.image) {
                add(format!("{at}.image"), e);
            }
            if r.ring_timeout_minutes == 0 {
                add(
                    format!("{at}.ringTimeoutMinutes"),
                    "must be positive".into(),
                );
            }
            if r.rings.is_empty() {
                add(at.clone(), "has no [[rollout.ring]]".into());
            }
            let mut targets = Vec::new();
            for (j, ring) in r.rings.iter().enumerate() {
                let at = format!("{at}.ring[{j}]");
                if ring.name.trim().is_empty() {
                    add(format!("{at}.name"), "must not be empty".into());
                }
                if ring.targets.is_empty() {
                    add(at.clone(), "has no [[rollout.ring.target]]".into());
                }
                for (k, t) in ring.targets.iter().enumerate() {
                    let at = format!("{at}.target[{k}]");
                    if !is_short_name(&t.name) {
                        add(
                            format!("{at}.name"),
                            format!("{:?} is not 1–20 characters of [a-z0-9-]", t.name),
                        );
                    } else if targets.contains(&t.name.as_str()) {
                        add(
                            format!("{at}.name"),
                            format!("{:?} is used twice in this rollout", t.name),
                        );
                    }
                    targets.push(t.name.as_str());
                    // The same checks as a request, with a sample version of this image.
                    let sample = sample_version(&r.image);
                    let request = t.request("sample-0", &sample, "1.0.0", None);
                    if let Err(errors) = request.validate() {
                        for p in errors.0 {
                            let field = match p.path.split_once('.') {
                                Some(("target", rest)) => rest.to_string(),
                                Some(("image", _)) | None if p.path.starts_with("image") => {
                                    continue; // reported on rollout.image
                                }
                                _ => p.path.clone(),
                            };
                            add(format!("{at}.{field}"), p.message);
                        }
                    }
                }
            }
        }
        out
    }
}

impl Rollout {
    /// Whether this rollout's image pattern matches an image definition id (case-insensitive).
    pub fn matches(&self, definition_id: &str) -> bool {
        match self.image.strip_suffix('*') {
            Some(prefix) => {
                definition_id.len() >= prefix.len()
                    && definition_id.is_char_boundary(prefix.len())
                    && resource_id_eq(&definition_id[..prefix.len()], prefix)
            }
            None => resource_id_eq(&self.image, definition_id),
        }
    }

    /// The targets of ring `ring` (empty past the last ring).
    pub fn ring_targets(&self, ring: usize) -> impl Iterator<Item = RingTarget<'_>> {
        self.rings.get(ring).into_iter().flat_map(move |r| {
            r.targets
                .iter()
                .map(move |target| RingTarget { ring, target })
        })
    }
}

impl RolloutTarget {
    /// The `deployment-requested` body for this target and one image version.
    pub fn request(
        &self,
        deployment_id: &str,
        version_id: &str,
        version: &str,
        image_tenant: Option<&str>,
    ) -> DeploymentRequest {
        let mut vm = self.vm.clone();
        vm.name = vm
            .name
            .replace(VERSION_PLACEHOLDER, &version.replace('.', "-"));
        DeploymentRequest {
            deployment_id: deployment_id.into(),
            image: ImageRef {
                id: version_id.into(),
                tenant_id: image_tenant.map(str::to_string),
            },
            target: Target {
                tenant_id: self.tenant_id.clone(),
                subscription_id: self.subscription_id.clone(),
                resource_group: self.resource_group.clone(),
                location: self.location.clone(),
            },
            vm,
            scale_set: self.scale_set.clone(),
            network: self.network.clone(),
            deadline: None,
        }
    }
}

/// The deployment id of one target of a rollout of one image version: `{target}-{hash}`, where
/// the hash (16 hex digits of SHA-256) covers the version id (case-insensitive), the rollout and
/// the target. At most 37 characters of `[a-z0-9-]`; the same inputs always give the same id, so a
/// repeated event creates nothing twice.
pub fn rollout_deployment_id(version_id: &str, rollout: &str, target: &str) -> String {
    let input = format!("{}\n{rollout}\n{target}", version_id.to_ascii_lowercase());
    let digest = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{target}-{hex}")
}

fn is_short_name(s: &str) -> bool {
    (1..=20).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn sample_version(pattern: &str) -> String {
    format!("{}/versions/1.0.0", pattern.replace('*', "x"))
}

fn check_image_pattern(image: &str) -> Result<(), String> {
    let star = image.find('*');
    if star.is_some_and(|i| i != image.len() - 1) {
        return Err("`*` may only end the definition name".into());
    }
    let parsed = crate::ImageId::parse(&sample_version(image)).map_err(|e| {
        format!("{image:?} is not an image definition id (/subscriptions/…/galleries/{{g}}/images/{{definition}}): {e}")
    })?;
    match parsed {
        crate::ImageId::Gallery { .. } => {}
        _ => {
            return Err(
                "rollouts take gallery resource ids (events come from the gallery's subscription)"
                    .into(),
            );
        }
    }
    if star.is_some() && !image.to_ascii_lowercase().contains("/images/") {
        return Err("`*` must be in the definition name".into());
    }
    Ok(())
}

/// Byte offset → 1-based line.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The start offset of the value at `path` (`a[0].b[1].c`), as deep as the path resolves.
fn span_of(root: &Spanned<DeTable<'_>>, path: &str) -> Option<usize> {
    let mut best = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let t = match (table, value) {
            (Some(t), _) => t,
            (None, Some(v)) => match v.get_ref() {
                DeValue::Table(t) => t,
                _ => break,
            },
            _ => break,
        };
        let Some((k, v)) = t.iter().find(|(k, _)| k.get_ref().as_ref() == key) else {
            break;
        };
        best = Some(k.span().start);
        let mut v = v;
        if let Some(i) = index {
            match v.get_ref() {
                DeValue::Array(items) => match items.get(i) {
                    Some(item) => v = item,
                    None => break,
                },
                _ => break,
            }
        }
        best = Some(v.span().start);
        table = None;
        value = Some(v);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";

    fn config(extra_target: &str) -> String {
        format!(
            r#"version = 1

[[rollout]]
name = "web"
image = "{GALLERY}/images/myImage*"

[[rollout.ring]]
name = "canary"

[[rollout.ring.target]]
name = "t2-canary"
tenantId = "22222222-2222-4222-8222-222222222222"
subscriptionId = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
resourceGroup = "myResourceGroup"
location = "southcentralus"
vm = {{ name = "web-{{version}}", size = "Standard_D2s_v5", adminUsername = "azureuser", sshPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv8m8yQ6oWk4l0w0x5d2r8b8Yx4W0m8Q2mJ1mZP6b9u test" }}
network = {{ allowInboundFrom = ["203.0.113.0/24"] }}
{extra_target}"#
        )
    }

    fn check_json(extra: serde_json::Value) -> serde_json::Value {
        let mut body = serde_json::json!({
            "rollout": "web", "versionId": format!("{GALLERY}/images/myImage/versions/1.0.0"),
            "ring": 0, "ringStartedAt": "2026-01-01T00:00:00Z", "attempt": 1
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    #[test]
    fn rollout_checks_refuse_unknown_fields_and_huge_attempts() {
        assert!(serde_json::from_value::<RolloutCheck>(check_json(serde_json::json!({}))).is_ok());
        let e = serde_json::from_value::<RolloutCheck>(check_json(
            serde_json::json!({"DeliveryCount": 1}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("DeliveryCount"), "{e}");
        let e = serde_json::from_value::<RolloutCheck>(check_json(
            serde_json::json!({"attempt": u32::MAX}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("largest attempt number"), "{e}");
    }

    #[test]
    fn rollout_check_times_never_overflow() {
        let now = time::macros::datetime!(2026-06-01 00:00 UTC);
        let far: RolloutCheck = serde_json::from_value(check_json(
            serde_json::json!({"ringStartedAt": "9999-12-31T23:59:59Z"}),
        ))
        .unwrap();
        assert!(far.check_times(now).unwrap_err().contains("in the future"));
        // No panic: the deadline saturates at the last representable instant.
        let deadline = far.ring_deadline(std::time::Duration::from_secs(u64::from(u32::MAX) * 60));
        assert!(deadline >= far.ring_started_at);
        let ok: RolloutCheck = serde_json::from_value(check_json(serde_json::json!({}))).unwrap();
        assert!(ok.check_times(now).is_ok());
        assert_eq!(ok.next().unwrap().attempt, 2);
        let last = RolloutCheck {
            attempt: MAX_ATTEMPT,
            ..ok
        };
        assert!(last.next().is_none());
    }

    #[test]
    fn parses_and_matches_patterns() {
        let c = RolloutConfig::parse(&config("")).unwrap();
        let r = c
            .rollout_for(&format!(
                "{}/IMAGES/myImageDefinition",
                GALLERY.to_lowercase()
            ))
            .unwrap();
        assert_eq!(r.name, "web");
        assert!(c.rollout_for(&format!("{GALLERY}/images/other")).is_none());
        let t = r.ring_targets(0).next().unwrap().target;
        let req = t.request(
            "x",
            &format!("{GALLERY}/images/myImage/versions/1.2.3"),
            "1.2.3",
            None,
        );
        assert_eq!(req.vm.name, "web-1-2-3");
        assert_eq!(r.ring_targets(1).count(), 0);
    }

    #[test]
    fn problems_name_their_line() {
        let bad = config(
            r#"
[[rollout.ring]]
name = "broad"

[[rollout.ring.target]]
name = "t2-canary"
tenantId = "not-a-guid"
subscriptionId = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
resourceGroup = "rg"
location = "westus2"
vm = { name = "web", size = "Standard_D2s_v5", adminUsername = "azureuser", sshPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv8m8yQ6oWk4l0w0x5d2r8b8Yx4W0m8Q2mJ1mZP6b9u test" }
"#,
        );
        let err = RolloutConfig::parse(&bad).unwrap_err();
        let text = err.to_string();
        let line_of_key = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let name = err
            .problems
            .iter()
            .find(|p| p.path == "rollout[0].ring[1].target[0].name")
            .unwrap_or_else(|| panic!("{text}"));
        let second_target_line = bad
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("name = \"t2-canary\""))
            .nth(1)
            .unwrap()
            .0
            + 1;
        assert_eq!(name.line, Some(second_target_line), "{text}");
        assert!(name.message.contains("used twice"), "{text}");
        let tenant = err
            .problems
            .iter()
            .find(|p| p.path == "rollout[0].ring[1].target[0].tenantId")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(tenant.line, Some(line_of_key("not-a-guid")), "{text}");

        // A syntax/type error names its line too.
        let err = RolloutConfig::parse("version = 1\n[[rollout]]\nname = 3\n").unwrap_err();
        assert_eq!(err.problems[0].line, Some(3), "{err}");
        let err = RolloutConfig::parse("version = 1\nunknown = true\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = RolloutConfig::parse("version = 2\n").unwrap_err();
        assert_eq!(err.to_string(), "line 1: version: must be 1");
    }

    #[test]
    fn deployment_ids_are_stable_short_and_distinct() {
        let v = format!("{GALLERY}/images/myImage/versions/1.0.0");
        let a = rollout_deployment_id(&v, "web", "t2-canary");
        assert_eq!(
            a,
            rollout_deployment_id(&v.to_uppercase(), "web", "t2-canary")
        );
        assert_ne!(a, rollout_deployment_id(&v, "web", "t2-broad"));
        assert_ne!(
            a,
            rollout_deployment_id(&v.replace("1.0.0", "1.0.1"), "web", "t2-canary")
        );
        let long = rollout_deployment_id(&v, "web", "abcdefghijklmnopqrst");
        assert!(
            long.len() <= 40 && crate::validate::is_deployment_id(&long),
            "{long}"
        );
        assert!(a.starts_with("t2-canary-"));
    }

    #[test]
    fn config_schema_is_committed() {
        let file = config_schema();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas")
            .join(file.file_name);
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, file.render()).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            file.render(),
            "{} is stale: UPDATE_SCHEMAS=1 cargo test -p imageferry-contract --lib rollout",
            path.display()
        );
    }

    #[test]
    fn empty_config_is_valid() {
        let c = RolloutConfig::parse("version = 1\n").unwrap();
        assert!(c.rollouts.is_empty());
    }
}
