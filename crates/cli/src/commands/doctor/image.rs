//! The image version as tenant 1 sees it: its replication to the target region (the one
//! replication verdict) and whether its definition carries a Marketplace plan.

use super::report::Report;
use azure_clients::models::{GalleryImage, GalleryImageVersion, RegionReadiness};
use imageferry_contract::ImageId;
use imageferry_handlers::calls::GALLERY_IMAGE_GET;

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
