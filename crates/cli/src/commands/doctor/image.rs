//! The image version as tenant 1 sees it: its replication to the target region (the one
//! replication verdict) and whether its definition carries a Marketplace plan.

use super::is_not_found;
use super::report::Report;
use azure_clients::models::{GalleryImage, GalleryImageVersion, RegionReadiness};
use imageferry_contract::{DeploymentRequest, ImageId};
use imageferry_handlers::calls::{GALLERY_IMAGE_GET, GALLERY_VERSION_GET};

/// The replication line, from the one replication verdict
/// ([`GalleryImageVersion::readiness_in`], which the handler's steps use too).
pub(crate) fn replication(r: &mut Report, v: &GalleryImageVersion, region: &str) {
    const NAME: &str = "replicated to the target region";
    let status = v.region_status(region);
    match v.readiness_in(region) {
        RegionReadiness::Ready => r.ok(NAME, format!("{region}: Completed")),
        RegionReadiness::Failed => r.bad(
            NAME,
            format!("replication to {region} failed"),
            "fix or re-publish the image version",
        ),
        RegionReadiness::NotTargeted => r.bad(
            NAME,
            format!(
                "the version does not replicate to {region}; it targets {}",
                v.target_region_names().join(", ")
            ),
            format!("add {region} to the version's target regions (az sig image-version update … --add publishingProfile.targetRegions name={region}) or pick a listed region"),
        ),
        RegionReadiness::Waiting => {
            let pc = status
                .and_then(|s| s.progress)
                .map(|p| format!(" {p}%"))
                .unwrap_or_default();
            r.ok(
                NAME,
                format!("{region}: replicating{pc} (the pipeline waits for it)"),
            );
        }
    }
}

/// The version read as tenant 1 (Reader on the gallery) and its replication to the target
/// region; whether its definition carries a Marketplace plan (false when unreadable).
pub(super) async fn readable_and_replicated(
    r: &mut Report,
    arm: &azure_clients::ArmClient,
    places: &crate::network::Places,
    t1: &str,
    req: &DeploymentRequest,
    image: &ImageId,
    app: &str,
) -> bool {
    let path = image.to_string();
    match arm
        .get::<GalleryImageVersion>(t1, &path, GALLERY_VERSION_GET.api_version(), GALLERY_VERSION_GET.query)
        .await
    {
        Ok(v) => {
            r.ok("image version readable as tenant 1", path.clone());
            replication(r, &v, &req.target.location);
            return purchase_plan(arm, t1, image).await;
        }
        Err(e) if e.code() == "AuthorizationFailed" => r.bad(
            "image version readable as tenant 1",
            format!("the app may not read {path} (AuthorizationFailed): Reader is missing"),
            format!(
                "in tenant {t1}: az role assignment create --assignee {app} --role Reader --scope {}",
                image.gallery_id()
            ),
        ),
        Err(e) if is_not_found(&e) => r.bad(
            "image version readable as tenant 1",
            format!("{path} does not exist ({})", e.code()),
            "check the image version id (subscription, resource group, gallery, definition, version)",
        ),
        Err(e) => {
            let (detail, fix) = super::arm_failure(&e, places, || "see the error".into());
            r.bad("image version readable as tenant 1", detail, fix);
        }
    }
    false
}

/// Whether the gallery image's definition carries a `purchasePlan` (then the Marketplace terms
/// are read before the first write). Unknown (unreadable) counts as no plan: the version line
/// above already reports a read problem.
pub(super) async fn purchase_plan(
    arm: &azure_clients::ArmClient,
    t1: &str,
    image: &ImageId,
) -> bool {
    let Some(definition) = image.definition_id() else {
        return false;
    };
    arm.get::<GalleryImage>(
        t1,
        &definition,
        GALLERY_IMAGE_GET.api_version(),
        GALLERY_IMAGE_GET.query,
    )
    .await
    .is_ok_and(|d| d.properties.purchase_plan.is_some())
}
