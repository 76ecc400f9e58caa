//! What the handler reads from the gallery: the image definition's facts and the version's
//! replication state in the target region.
//!
//! Shapes: GalleryRP 2025-03-03 (`GalleryImage_Get.json`,
//! `GalleryImageVersion_Get_WithReplicationStatus.json`, `SharedGalleryImageProperties`).
//! Read models are tolerant: every field is optional and unknown enum strings are kept.

use crate::names::region_eq;
use imageferry_contract::{ImageFacts, OsState, OsType, ReplicationProgress};
use serde::Deserialize;
use time::OffsetDateTime;

/// An image definition (gallery, shared or community form: the properties used here agree).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDefinition {
    /// `properties`.
    #[serde(default)]
    pub properties: ImageDefinitionProperties,
}

/// `properties` of an image definition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDefinitionProperties {
    /// `Windows` or `Linux`.
    #[serde(default)]
    pub os_type: Option<String>,
    /// `Generalized` or `Specialized`.
    #[serde(default)]
    pub os_state: Option<String>,
    /// `V1` or `V2`.
    #[serde(default)]
    pub hyper_v_generation: Option<String>,
    /// Features such as `{"name": "SecurityType", "value": "TrustedLaunch"}`.
    #[serde(default)]
    pub features: Vec<ImageFeature>,
}

/// A gallery image feature.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageFeature {
    /// Feature name.
    #[serde(default)]
    pub name: String,
    /// Feature value.
    #[serde(default)]
    pub value: String,
}

/// Why a definition's facts cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    /// `osType` is missing or unknown.
    #[error("the image definition has no usable osType ({0:?})")]
    OsType(Option<String>),
    /// `osState` is missing or unknown.
    #[error("the image definition has no usable osState ({0:?})")]
    OsState(Option<String>),
    /// The definition requires a security type imageferry does not create.
    #[error(
        "the image definition requires SecurityType {0}, which imageferry does not create (Standard and TrustedLaunch are supported)"
    )]
    SecurityType(String),
}

impl ImageDefinition {
    /// OS type, generalized/specialized and Trusted Launch from the definition.
    pub fn facts(&self) -> Result<ImageFacts, FactsError> {
        let p = &self.properties;
        let os_type = match p.os_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("linux") => OsType::Linux,
            Some("windows") => OsType::Windows,
            _ => return Err(FactsError::OsType(p.os_type.clone())),
        };
        let os_state = match p
            .os_state
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("generalized") => OsState::Generalized,
            Some("specialized") => OsState::Specialized,
            _ => return Err(FactsError::OsState(p.os_state.clone())),
        };
        let security = p
            .features
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("SecurityType"))
            .map(|f| f.value.as_str());
        // `TrustedLaunch` requires a Trusted Launch VM; `TrustedLaunchSupported` and
        // `TrustedLaunchAndConfidentialVmSupported` allow a standard one; `ConfidentialVM*`
        // requires a confidential VM.
        let trusted_launch = match security {
            Some(v) if v.eq_ignore_ascii_case("TrustedLaunch") => true,
            Some(v) if v.to_ascii_lowercase().starts_with("confidentialvm") => {
                return Err(FactsError::SecurityType(v.to_string()));
            }
            _ => false,
        };
        Ok(ImageFacts {
            os_type,
            os_state,
            trusted_launch,
        })
    }
}

/// An image version as read for the replication check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageVersion {
    /// `properties`.
    #[serde(default)]
    pub properties: ImageVersionProperties,
}

/// `properties` of an image version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageVersionProperties {
    /// `Creating`, `Updating`, `Succeeded`, `Failed`, …
    #[serde(default)]
    pub provisioning_state: Option<String>,
    /// `publishingProfile` (target regions).
    #[serde(default)]
    pub publishing_profile: Option<PublishingProfile>,
    /// `replicationStatus` (only with `$expand=ReplicationStatus`).
    #[serde(default)]
    pub replication_status: Option<ReplicationStatus>,
}

/// `publishingProfile`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishingProfile {
    /// Regions the version is replicated to.
    #[serde(default)]
    pub target_regions: Vec<TargetRegion>,
}

/// One target region.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TargetRegion {
    /// Display name, e.g. `South Central US`.
    #[serde(default)]
    pub name: String,
}

/// `replicationStatus`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    /// `Unknown`, `InProgress`, `Completed`, `Failed`.
    #[serde(default)]
    pub aggregated_state: Option<String>,
    /// Per-region status.
    #[serde(default)]
    pub summary: Vec<RegionalStatus>,
}

/// `replicationStatus.summary[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegionalStatus {
    /// Region display name.
    #[serde(default)]
    pub region: String,
    /// `Unknown`, `Replicating`, `Completed`, `Failed`.
    #[serde(default)]
    pub state: Option<String>,
    /// Details, e.g. an error.
    #[serde(default)]
    pub details: Option<String>,
    /// Percent complete.
    #[serde(default)]
    pub progress: Option<i64>,
}

/// The version's state in the target region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Completed there and `provisioningState` Succeeded.
    Ready(ReplicationProgress),
    /// Not yet.
    Waiting(ReplicationProgress),
    /// Replication or provisioning failed.
    Failed(ReplicationProgress),
    /// The target region is not among the version's target regions (the ones it lists).
    NotTargeted(Vec<String>),
}

fn eq(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

impl ImageVersion {
    /// Evaluates a gallery version (with `replicationStatus`) for `location`.
    pub fn replication_in(&self, location: &str, now: OffsetDateTime) -> Replication {
        let p = &self.properties;
        let targets: Vec<String> = p
            .publishing_profile
            .iter()
            .flat_map(|pp| pp.target_regions.iter().map(|r| r.name.clone()))
            .collect();
        if !targets.is_empty() && !targets.iter().any(|r| region_eq(r, location)) {
            return Replication::NotTargeted(targets);
        }
        let provisioning = p.provisioning_state.clone();
        let regional = p
            .replication_status
            .iter()
            .flat_map(|s| s.summary.iter())
            .find(|s| region_eq(&s.region, location));
        let progress = ReplicationProgress {
            region: regional.map_or_else(|| location.to_string(), |r| r.region.clone()),
            state: regional
                .and_then(|r| r.state.clone())
                .unwrap_or_else(|| "Unknown".into()),
            percent: regional.and_then(|r| r.progress),
            provisioning_state: provisioning.clone(),
            details: regional.and_then(|r| r.details.clone()),
            observed_at: now,
        };
        let aggregated = p
            .replication_status
            .as_ref()
            .and_then(|s| s.aggregated_state.as_deref());
        if eq(provisioning.as_deref(), "Failed") || eq(Some(&progress.state), "Failed") {
            return Replication::Failed(progress);
        }
        let completed = match regional {
            Some(_) => eq(Some(&progress.state), "Completed"),
            None => eq(aggregated, "Completed"),
        };
        if completed && eq(provisioning.as_deref(), "Succeeded") {
            Replication::Ready(progress)
        } else {
            Replication::Waiting(progress)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../reference/arm/examples/gallery/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_the_reference_definition() {
        let body = fixture("GalleryImage_Get.json")["responses"]["200"]["body"].clone();
        let def: ImageDefinition = serde_json::from_value(body).unwrap();
        let facts = def.facts().unwrap();
        assert_eq!(facts.os_type, OsType::Windows);
        assert_eq!(facts.os_state, OsState::Generalized);
        assert!(!facts.trusted_launch);
    }

    #[test]
    fn evaluates_the_reference_version() {
        let body = fixture("GalleryImageVersion_Get_WithReplicationStatus.json")["responses"]
            ["200"]["body"]
            .clone();
        let v: ImageVersion = serde_json::from_value(body).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        match v.replication_in("westus", now) {
            Replication::Ready(p) => assert_eq!(p.region, "West US"),
            other => panic!("expected Ready, got {other:?}"),
        }
        match v.replication_in("southcentralus", now) {
            Replication::NotTargeted(regions) => assert_eq!(regions, ["West US", "East US"]),
            other => panic!("expected NotTargeted, got {other:?}"),
        }
    }

    #[test]
    fn waiting_and_failed() {
        let v: ImageVersion = serde_json::from_value(serde_json::json!({"properties": {
            "provisioningState": "Succeeded",
            "publishingProfile": {"targetRegions": [{"name": "South Central US"}, {"name": "West US 2"}]},
            "replicationStatus": {"aggregatedState": "InProgress", "summary": [
                {"region": "South Central US", "state": "Replicating", "progress": 40},
                {"region": "West US 2", "state": "Failed", "details": "disk copy failed"}
            ]}
        }}))
        .unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        match v.replication_in("southcentralus", now) {
            Replication::Waiting(p) => {
                assert_eq!((p.state.as_str(), p.percent), ("Replicating", Some(40)))
            }
            other => panic!("expected Waiting, got {other:?}"),
        }
        match v.replication_in("westus2", now) {
            Replication::Failed(p) => assert_eq!(p.details.as_deref(), Some("disk copy failed")),
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    #[test]
    fn trusted_launch_and_confidential() {
        let def = |value: &str| -> ImageDefinition {
            serde_json::from_value(
                serde_json::json!({"properties": {"osType": "Linux", "osState": "Specialized",
                "features": [{"name": "SecurityType", "value": value}]}}),
            )
            .unwrap()
        };
        let f = def("TrustedLaunch").facts().unwrap();
        assert!(f.trusted_launch);
        assert_eq!(f.os_state, OsState::Specialized);
        assert!(
            !def("TrustedLaunchSupported")
                .facts()
                .unwrap()
                .trusted_launch
        );
        assert!(matches!(
            def("ConfidentialVMSupported").facts(),
            Err(FactsError::SecurityType(_))
        ));
    }
}
