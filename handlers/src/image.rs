//! What the handler learns from the gallery, read with azure-clients' typed models
//! ([`GalleryImage`], [`GalleryImageVersion`]): the definition's facts for the requested version
//! (OS type, generalized or specialized, Trusted Launch from `features` honouring
//! `startsAtVersion`, the Marketplace `plan`) and the version's readiness in the target region
//! ([`GalleryImageVersion::readiness_in`]: per region).

use azure_clients::models::{
    GalleryImage, GalleryImageVersion, Plan, RegionReadiness, ReplicationState,
};
use imageferry_contract::{ImageFacts, ReplicationProgress};
use time::OffsetDateTime;

/// What a VM from the requested version needs: the contract's facts and the Marketplace plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// OS type, generalized or specialized, Trusted Launch.
    pub facts: ImageFacts,
    /// The top-level `plan` the VM must carry (the definition's `purchasePlan`), if any.
    pub plan: Option<Plan>,
}

/// Why a definition cannot be used.
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
        "the image definition requires SecurityType {0} for this version, which imageferry does not create (Standard and TrustedLaunch are supported)"
    )]
    SecurityType(String),
}

/// The facts of `def` for version `version` (gallery, shared and community definitions agree
/// on the properties used here).
pub fn image_info(def: &GalleryImage, version: &str) -> Result<ImageInfo, FactsError> {
    let p = &def.properties;
    // The gallery model reads the contract's own enums; an unknown value is kept as text.
    let os_type = p
        .os_type
        .as_ref()
        .and_then(|t| t.known().ok())
        .ok_or_else(|| FactsError::OsType(p.os_type.as_ref().map(|t| t.to_string())))?;
    let os_state = p
        .os_state
        .as_ref()
        .and_then(|t| t.known().ok())
        .ok_or_else(|| FactsError::OsState(p.os_state.as_ref().map(|t| t.to_string())))?;
    // `TrustedLaunch` requires a Trusted Launch VM; `TrustedLaunchSupported` and
    // `TrustedLaunchAndConfidentialVmSupported` allow a standard one; `ConfidentialVM*` requires
    // a confidential VM.
    if let Some(v) = def.security_type(Some(version))
        && v.to_ascii_lowercase().starts_with("confidentialvm")
    {
        return Err(FactsError::SecurityType(v.to_string()));
    }
    Ok(ImageInfo {
        facts: ImageFacts {
            os_type,
            os_state,
            trusted_launch: def.is_trusted_launch(Some(version)),
        },
        plan: def.vm_plan(),
    })
}

/// The version's state in the target region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Usable there.
    Ready(ReplicationProgress),
    /// Not yet.
    Waiting(ReplicationProgress),
    /// Replication to that region failed.
    Failed(ReplicationProgress),
    /// The target region is not among the version's target regions (the ones it lists).
    NotTargeted(Vec<String>),
    /// A direct-shared or community version that is not visible in the target region: such a
    /// version's location-scoped GET is 404 in every region it is not replicated to, so waiting
    /// does not help.
    NotInRegion,
}

/// Evaluates a gallery version (read with `$expand=ReplicationStatus`) for `location`.
pub fn replication_in(v: &GalleryImageVersion, location: &str, now: OffsetDateTime) -> Replication {
    let regional = v.region_status(location);
    let progress = ReplicationProgress {
        region: regional.map_or_else(|| location.to_string(), |r| r.region.clone()),
        state: regional
            .and_then(|r| r.state.as_ref())
            .unwrap_or(&ReplicationState::Unknown)
            .to_string(),
        percent: regional.and_then(|r| r.progress).map(i64::from),
        provisioning_state: v
            .properties
            .provisioning_state
            .as_ref()
            .map(|s| s.to_string()),
        details: regional.and_then(|r| r.details.clone()),
        observed_at: now,
    };
    match v.readiness_in(location) {
        RegionReadiness::Ready => Replication::Ready(progress),
        RegionReadiness::Waiting => Replication::Waiting(progress),
        RegionReadiness::Failed => Replication::Failed(progress),
        RegionReadiness::NotTargeted => Replication::NotTargeted(v.target_region_names()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imageferry_contract::{OsState, OsType};

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
        let def: GalleryImage = serde_json::from_value(body).unwrap();
        let info = image_info(&def, "1.0.0").unwrap();
        assert_eq!(info.facts.os_type, OsType::Windows);
        assert_eq!(info.facts.os_state, OsState::Generalized);
        assert!(!info.facts.trusted_launch);
        assert!(info.plan.is_none());
    }

    #[test]
    fn evaluates_the_reference_version() {
        let body = fixture("GalleryImageVersion_Get_WithReplicationStatus.json")["responses"]
            ["200"]["body"]
            .clone();
        let v: GalleryImageVersion = serde_json::from_value(body).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        match replication_in(&v, "westus", now) {
            Replication::Ready(p) => assert_eq!(p.region, "West US"),
            other => panic!("expected Ready, got {other:?}"),
        }
        match replication_in(&v, "southcentralus", now) {
            Replication::NotTargeted(regions) => assert_eq!(regions, ["West US", "East US"]),
            other => panic!("expected NotTargeted, got {other:?}"),
        }
    }

    #[test]
    fn waiting_and_failed_per_region() {
        let v: GalleryImageVersion = serde_json::from_value(serde_json::json!({"properties": {
            "provisioningState": "Failed",
            "publishingProfile": {"targetRegions": [{"name": "South Central US"}, {"name": "West US 2"}, {"name": "East US"}]},
            "replicationStatus": {"aggregatedState": "Failed", "summary": [
                {"region": "South Central US", "state": "Replicating", "progress": 40},
                {"region": "West US 2", "state": "Failed", "details": "disk copy failed"},
                {"region": "East US", "state": "Completed", "progress": 100}
            ]}
        }}))
        .unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        match replication_in(&v, "southcentralus", now) {
            Replication::Waiting(p) => {
                assert_eq!((p.state.as_str(), p.percent), ("Replicating", Some(40)))
            }
            other => panic!("expected Waiting, got {other:?}"),
        }
        match replication_in(&v, "westus2", now) {
            Replication::Failed(p) => assert_eq!(p.details.as_deref(), Some("disk copy failed")),
            other => panic!("expected Failed, got {other:?}"),
        }
        // Another region's failure does not spoil a completed one.
        assert!(matches!(
            replication_in(&v, "eastus", now),
            Replication::Ready(_)
        ));
    }

    #[test]
    fn trusted_launch_confidential_and_starts_at_version() {
        let def = |value: &str, starts: Option<&str>| -> GalleryImage {
            serde_json::from_value(serde_json::json!({"properties": {"osType": "Linux", "osState": "Specialized",
                "features": [{"name": "SecurityType", "value": value, "startsAtVersion": starts}]}}))
            .unwrap()
        };
        let f = image_info(&def("TrustedLaunch", None), "1.0.0")
            .unwrap()
            .facts;
        assert!(f.trusted_launch);
        assert_eq!(f.os_state, OsState::Specialized);
        assert!(
            !image_info(&def("TrustedLaunchSupported", None), "1.0.0")
                .unwrap()
                .facts
                .trusted_launch
        );
        assert!(matches!(
            image_info(&def("ConfidentialVMSupported", None), "1.0.0"),
            Err(FactsError::SecurityType(_))
        ));
        let later = def("TrustedLaunch", Some("2.0.0"));
        assert!(!image_info(&later, "1.9.9").unwrap().facts.trusted_launch);
        assert!(image_info(&later, "2.0.0").unwrap().facts.trusted_launch);
    }

    #[test]
    fn an_unknown_os_type_is_named() {
        let def: GalleryImage = serde_json::from_value(
            serde_json::json!({"properties": {"osType": "Plan9", "osState": "generalized"}}),
        )
        .unwrap();
        assert_eq!(
            image_info(&def, "1.0.0"),
            Err(FactsError::OsType(Some("Plan9".into())))
        );
        let def: GalleryImage =
            serde_json::from_value(serde_json::json!({"properties": {"osType": "linux"}})).unwrap();
        assert_eq!(image_info(&def, "1.0.0"), Err(FactsError::OsState(None)));
    }

    #[test]
    fn purchase_plan_becomes_the_vm_plan() {
        let def: GalleryImage = serde_json::from_value(serde_json::json!({"properties": {
            "osType": "Linux", "osState": "Generalized",
            "purchasePlan": {"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"}}}))
        .unwrap();
        let plan = image_info(&def, "1.0.0").unwrap().plan.unwrap();
        assert_eq!(
            (
                plan.name.as_str(),
                plan.publisher.as_str(),
                plan.product.as_str()
            ),
            ("byol", "paloaltonetworks", "vmseries-flex")
        );
    }
}
