//! [`ResourceId`]: the one type for every ARM id imageferry parses or builds (gallery, image
//! definition and version, shared and community ids, resource groups, subnets, VMs, NICs, public
//! IPs, operation paths) and for the allow-list entries of the configuration.
//!
//! An id is a list of `kind/name` pairs (`/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/…`).
//! Every segment is checked once, when the id is parsed or a pair is pushed:
//! - never empty, never `.` or `..` (or only dots), no `%` (so no percent-encoded separator or
//!   dot can reach a URL), no `/`, `\`, `?`, `#`, no whitespace or control characters;
//! - names of known kinds follow ARM's naming rules for that type (subscription GUIDs, resource
//!   group, gallery, image definition, version, VM and network resource names, regions).
//!
//! ARM ids are case-insensitive: equality, hashing and [`ResourceId::starts_with`] ignore ASCII
//! case; the segments keep their spelling. A URL is built by pushing the segments one by one onto
//! the endpoint ([`ResourceId::to_url`]), never by formatting a string into a path.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A validated ARM resource id (or scope), e.g.
/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}`.
#[derive(Debug, Clone, Default)]
pub struct ResourceId {
    segments: Vec<String>,
}

/// Why a resource id (or one of its segments) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceIdError {
    /// The id does not start with `/`.
    #[error("{0:?} is not a resource id: it must start with '/'")]
    NotAbsolute(String),
    /// An odd number of segments: a kind without a name.
    #[error("{0:?} is not a resource id: every type segment needs a name after it")]
    Unpaired(String),
    /// A segment breaks the rules every segment follows.
    #[error("segment {segment:?} is not allowed in a resource id: {reason}")]
    BadSegment {
        /// The segment as given.
        segment: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A name breaks ARM's naming rule for its kind.
    #[error("{name:?} is not a valid {kind} name: {rule}")]
    BadName {
        /// The kind (`resourceGroups`, `virtualMachines`, …).
        kind: String,
        /// The refused name.
        name: String,
        /// ARM's rule.
        rule: &'static str,
    },
}

impl ResourceId {
    /// The root scope `/` (no segments).
    pub fn root() -> Self {
        Self::default()
    }

    /// `/subscriptions/{id}`.
    pub fn subscription(id: &str) -> Result<Self, ResourceIdError> {
        Self::root().child("subscriptions", id)
    }

    /// `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub fn resource_group(subscription: &str, name: &str) -> Result<Self, ResourceIdError> {
        Self::subscription(subscription)?.child("resourceGroups", name)
    }

    /// Parses `/kind/name/kind/name/…` (one trailing `/` is ignored), checking every segment.
    pub fn parse(id: &str) -> Result<Self, ResourceIdError> {
        let Some(rest) = id.strip_prefix('/') else {
            return Err(ResourceIdError::NotAbsolute(id.to_owned()));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self::root());
        }
        let parts: Vec<&str> = rest.split('/').collect();
        if !parts.len().is_multiple_of(2) {
            return Err(ResourceIdError::Unpaired(id.to_owned()));
        }
        let mut out = Self::root();
        for pair in parts.chunks(2) {
            out = out.child(pair[0], pair[1])?;
        }
        Ok(out)
    }

    /// This id with `/{kind}/{name}` appended; both are checked (the name against the kind's
    /// naming rule when the kind is known).
    pub fn child(mut self, kind: &str, name: &str) -> Result<Self, ResourceIdError> {
        check_segment(kind)?;
        check_segment(name)?;
        if !kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ResourceIdError::BadSegment {
                segment: kind.to_owned(),
                reason: "a type segment is letters, digits, '-' or '_'",
            });
        }
        check_name(kind, name)?;
        self.segments.push(kind.to_owned());
        self.segments.push(name.to_owned());
        Ok(self)
    }

    /// `/providers/{namespace}/{kind}/{name}` appended.
    pub fn provider_child(
        self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Self, ResourceIdError> {
        self.child("providers", namespace)?.child(kind, name)
    }

    /// The segments, in order (`["subscriptions", "{s}", "resourceGroups", "{rg}", …]`).
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &str> {
        self.segments.iter().map(String::as_str)
    }

    /// Number of `kind/name` pairs.
    pub fn depth(&self) -> usize {
        self.segments.len() / 2
    }

    /// The `(kind, name)` pairs, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.segments
            .chunks(2)
            .map(|p| (p[0].as_str(), p[1].as_str()))
    }

    /// The name after the first `kind` segment (case-insensitive), e.g. `get("resourceGroups")`.
    pub fn get(&self, kind: &str) -> Option<&str> {
        self.pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(kind))
            .map(|(_, n)| n)
    }

    /// The subscription id, when the id starts with `/subscriptions/{s}`.
    pub fn subscription_id(&self) -> Option<&str> {
        self.pairs()
            .next()
            .filter(|(k, _)| k.eq_ignore_ascii_case("subscriptions"))
            .map(|(_, n)| n)
    }

    /// The resource group name, when the id starts with `/subscriptions/{s}/resourceGroups/{rg}`.
    pub fn resource_group_name(&self) -> Option<&str> {
        self.subscription_id()?;
        self.pairs()
            .nth(1)
            .filter(|(k, _)| k.eq_ignore_ascii_case("resourceGroups"))
            .map(|(_, n)| n)
    }

    /// The last name (the resource's own name); `None` for the root.
    pub fn name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// The last kind (`virtualMachines`, `subnets`, …); `None` for the root.
    pub fn kind(&self) -> Option<&str> {
        self.segments
            .len()
            .checked_sub(2)
            .map(|i| self.segments[i].as_str())
    }

    /// The id without its last pair; `None` for the root.
    pub fn parent(&self) -> Option<ResourceId> {
        let n = self.segments.len().checked_sub(2)?;
        Some(ResourceId {
            segments: self.segments[..n].to_vec(),
        })
    }

    /// Whether `scope` is this id or one of its ancestors (segment-wise, ignoring case):
    /// `/subscriptions/s/resourceGroups/rg` does not contain `/subscriptions/s/resourceGroups/rg2`.
    pub fn starts_with(&self, scope: &ResourceId) -> bool {
        scope.segments.len() <= self.segments.len()
            && scope
                .segments
                .iter()
                .zip(&self.segments)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The kind of every pair, in order (`subscriptions`, `resourceGroups`, `providers`, …).
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.pairs().map(|(k, _)| k)
    }

    /// `base` (an endpoint such as `https://management.azure.com/`) with every segment pushed
    /// (percent-encoded as a path segment). The base's own path is kept; its query is dropped.
    pub fn to_url(&self, base: &url::Url) -> Result<url::Url, ResourceIdError> {
        let mut url = base.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| ResourceIdError::NotAbsolute(base.to_string()))?;
            path.pop_if_empty();
            path.extend(self.segments());
        }
        Ok(url)
    }
}

impl fmt::Display for ResourceId {
    /// `/kind/name/…`, or `/` for the root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

impl FromStr for ResourceId {
    type Err = ResourceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PartialEq for ResourceId {
    /// ARM ids compare without ASCII case.
    fn eq(&self, other: &Self) -> bool {
        self.segments.len() == other.segments.len() && self.starts_with(other)
    }
}

impl Eq for ResourceId {}

impl Hash for ResourceId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for s in &self.segments {
            s.to_ascii_lowercase().hash(state);
        }
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Rules every segment follows.
fn check_segment(segment: &str) -> Result<(), ResourceIdError> {
    let bad = |reason| {
        Err(ResourceIdError::BadSegment {
            segment: segment.to_owned(),
            reason,
        })
    };
    if segment.is_empty() {
        return bad("empty");
    }
    if segment.len() > 260 {
        return bad("longer than 260 bytes");
    }
    if segment.bytes().all(|b| b == b'.') {
        return bad("'.' and '..' are path navigation, not names");
    }
    if segment.contains('%') {
        return bad("percent-encoding is not allowed ('%')");
    }
    if segment.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("whitespace and control characters are not allowed");
    }
    if segment.contains(['/', '\\', '?', '#']) {
        return bad("'/', '\\', '?' and '#' are not allowed");
    }
    Ok(())
}

/// ARM's naming rule for `name` under `kind`, when `kind` is one imageferry uses
/// (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
fn check_name(kind: &str, name: &str) -> Result<(), ResourceIdError> {
    let len = name.chars().count();
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let first = name.chars().next().unwrap_or(' ');
    let last = name.chars().last().unwrap_or(' ');
    let chars = |extra: &[char]| name.chars().all(|c| alnum(c) || extra.contains(&c));
    let (ok, rule) = match kind.to_ascii_lowercase().as_str() {
        "subscriptions" => (
            crate::validate::is_guid(name),
            "a subscription id is a GUID",
        ),
        "resourcegroups" => (
            (1..=90).contains(&len)
                && !name.ends_with('.')
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')')),
            "1-90 letters, digits, '_', '-', '.', '(' or ')', not ending with '.'",
        ),
        "providers" => (
            name.split('.').count() >= 2
                && name.split('.').all(|p| {
                    p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && p.chars().all(alnum)
                }),
            "a resource provider namespace such as Microsoft.Compute",
        ),
        "galleries" => (
            (1..=80).contains(&len) && alnum(first) && alnum(last) && chars(&['_', '.']),
            "1-80 letters, digits, '_' or '.', starting and ending with a letter or digit",
        ),
        "sharedgalleries" | "communitygalleries" => (
            (1..=128).contains(&len) && alnum(first) && chars(&['_', '.', '-']),
            "letters, digits, '_', '.' or '-', starting with a letter or digit",
        ),
        "images" => (
            (1..=80).contains(&len) && alnum(first) && alnum(last) && chars(&['_', '.', '-']),
            "1-80 letters, digits, '_', '.' or '-', starting and ending with a letter or digit",
        ),
        "versions" => (
            crate::GalleryVersion::parse(name).is_ok(),
            "major.minor.patch with 32-bit integers (a version is required; 'latest' is not accepted)",
        ),
        "virtualmachines" => (
            (1..=64).contains(&len)
                && alnum(first)
                && !name.ends_with(['.', '-'])
                && chars(&['_', '.', '-']),
            "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit and not ending with '.' or '-'",
        ),
        "virtualnetworks"
        | "subnets"
        | "networksecuritygroups"
        | "publicipaddresses"
        | "networkinterfaces" => (
            (1..=80).contains(&len)
                && alnum(first)
                && (alnum(last) || last == '_')
                && chars(&['_', '.', '-']),
            "1-80 letters, digits, '_', '.' or '-', starting with a letter or digit and ending with a letter, digit or '_'",
        ),
        "locations" => (
            (1..=64).contains(&len) && name.chars().all(alnum),
            "a region name such as southcentralus",
        ),
        _ => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(ResourceIdError::BadName {
            kind: kind.to_owned(),
            name: name.to_owned(),
            rule,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

    #[test]
    fn parses_builds_and_prints() {
        let vm = ResourceId::resource_group(SUB, "myResourceGroup")
            .unwrap()
            .provider_child("Microsoft.Compute", "virtualMachines", "myVM")
            .unwrap();
        let text = format!(
            "/subscriptions/{SUB}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM"
        );
        assert_eq!(vm.to_string(), text);
        assert_eq!(ResourceId::parse(&text).unwrap(), vm);
        assert_eq!(ResourceId::parse(&format!("{text}/")).unwrap(), vm);
        assert_eq!(
            ResourceId::parse(
                &text
                    .to_uppercase()
                    .replace("BBBBBBBB-BBBB-4BBB-8BBB-BBBBBBBBBBBB", SUB)
            )
            .unwrap(),
            vm
        );
        assert_eq!(vm.subscription_id(), Some(SUB));
        assert_eq!(vm.resource_group_name(), Some("myResourceGroup"));
        assert_eq!(vm.name(), Some("myVM"));
        assert_eq!(vm.kind(), Some("virtualMachines"));
        assert_eq!(vm.get("providers"), Some("Microsoft.Compute"));
        assert_eq!(vm.depth(), 4);
        assert_eq!(ResourceId::parse("/").unwrap(), ResourceId::root());
        assert_eq!(ResourceId::root().to_string(), "/");
    }

    #[test]
    fn scopes_are_segment_wise() {
        let rg = ResourceId::resource_group(SUB, "rg").unwrap();
        let rg2 = ResourceId::resource_group(SUB, "rg2").unwrap();
        let sub = ResourceId::subscription(SUB).unwrap();
        let nic = rg
            .clone()
            .provider_child("Microsoft.Network", "networkInterfaces", "n")
            .unwrap();
        assert!(nic.starts_with(&rg));
        assert!(nic.starts_with(&sub));
        assert!(!nic.starts_with(&rg2));
        assert!(!rg2.starts_with(&rg));
        assert!(rg.starts_with(&ResourceId::root()));
        assert_eq!(nic.parent().unwrap().parent().unwrap(), rg);
    }

    #[test]
    fn refuses_navigation_encoding_and_bad_names() {
        let base = format!(
            "/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images"
        );
        for bad in [
            format!("{base}/../versions/1.0.0"),
            format!("{base}/./versions/1.0.0"),
            format!("{base}/%2e%2e/versions/1.0.0"),
            format!("{base}/%2E./versions/1.0.0"),
            format!("{base}/a%2fb/versions/1.0.0"),
            format!("{base}/a\u{0}b/versions/1.0.0"),
            format!("{base}/a\tb/versions/1.0.0"),
            format!("{base}/i/versions/..."),
            format!("{base}/i/versions/latest"),
            format!("{base}//versions/1.0.0"),
            format!("{base}/i/versions"),
            "subscriptions/x".to_string(),
            "/subscriptions/not-a-guid".to_string(),
            format!("/subscriptions/{SUB}/resourceGroups/ends."),
            format!("/subscriptions/{SUB}/resourceGroups/a?b=c"),
            format!("/subscriptions/{SUB}/resourceGroups/a#b"),
            format!("/subscriptions/{SUB}/resourceGroups/a\\b"),
            format!("/subscriptions/{SUB}/providers/Compute"),
            format!(
                "/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/-vm"
            ),
        ] {
            assert!(ResourceId::parse(&bad).is_err(), "{bad:?} was accepted");
        }
        let err = ResourceId::parse(&format!("{base}/../versions/1.0.0")).unwrap_err();
        assert!(err.to_string().contains("navigation"), "{err}");
        assert!(
            ResourceId::root()
                .child("subscriptions", SUB)
                .unwrap()
                .child("resourceGroups", "..")
                .is_err()
        );
    }

    #[test]
    fn urls_are_built_from_escaped_segments() {
        let base = url::Url::parse("https://management.azure.com/").unwrap();
        let rg = ResourceId::resource_group(SUB, "my(rg)").unwrap();
        let url = rg.to_url(&base).unwrap();
        assert_eq!(
            url.as_str(),
            format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/my(rg)")
        );
        let prefixed = url::Url::parse("http://127.0.0.1:9/arm/?x=1").unwrap();
        assert_eq!(
            rg.to_url(&prefixed).unwrap().path(),
            format!("/arm/subscriptions/{SUB}/resourceGroups/my(rg)")
        );
        assert_eq!(ResourceId::root().to_url(&base).unwrap().path(), "/");
    }

    #[test]
    fn serde_round_trip() {
        let id = ResourceId::subscription(SUB).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"/subscriptions/{SUB}\""));
        assert_eq!(serde_json::from_str::<ResourceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ResourceId>("\"/subscriptions/..\"").is_err());
    }
}
