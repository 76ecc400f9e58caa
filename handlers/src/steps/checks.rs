//! Checks shared by the steps: contract validation and allow-lists, the image definition's
//! facts, the replication state in the target region, and the deadline.

use crate::app::App;
use crate::calls;
use crate::image::{self, ImageInfo, Replication};
use crate::names::{ImagePaths, TargetNames};
use crate::outcome::StepError;
use azure_clients::arm::ArmError;
use azure_clients::models::{GalleryImage, GalleryImageVersion};
use imageferry_contract::{
    DeploymentRequest, ImageId, Problem, ReplicationProgress, ResourceIdError, ValidationErrors,
};
use time::OffsetDateTime;

/// Validates the request against the contract and the allow-lists (gallery, target scope, the
/// subnet's scope, the Key Vault of the secret id); returns the parsed image id and the ids the
/// step may touch, all derived from the request.
pub(crate) fn admit(
    app: &App,
    req: &DeploymentRequest,
) -> Result<(ImageId, TargetNames), StepError> {
    let image = req.validate().map_err(|e| StepError::invalid(&e))?;
    let names = TargetNames::of(req).map_err(|e| invalid_id("target", &e))?;
    allowed_gallery(
        app,
        &image,
        "ask the operators to add the gallery to IMAGEFERRY_ALLOWED_GALLERIES",
    )?;
    let t = &req.target;
    if !app
        .config
        .target_allowed(&t.tenant_id, &t.subscription_id, &t.resource_group)
    {
        return Err(StepError::rejected(
            "TargetNotAllowed",
            format!(
                "target {}/{}/{} is not in IMAGEFERRY_ALLOWED_TARGETS",
                t.tenant_id, t.subscription_id, t.resource_group
            ),
            Some(
                "ask the operators to add tenant/subscription[/resourceGroup] to IMAGEFERRY_ALLOWED_TARGETS"
                    .into(),
            ),
        ));
    }
    if req.network.subnet_id.is_some() && !app.config.scope_allowed(&t.tenant_id, &names.subnet) {
        return Err(StepError::rejected(
            "SubnetNotAllowed",
            format!(
                "network.subnetId {} is outside every scope in IMAGEFERRY_ALLOWED_TARGETS for tenant {}",
                names.subnet, t.tenant_id
            ),
            Some(
                "use a subnet in an allowed resource group, or ask the operators to allow its resource group"
                    .into(),
            ),
        ));
    }
    if let Some(secret_id) = &req.machine().admin_password_secret_id {
        // The stand-in (no vault) is trusted by configuration; a cloud vault also by the list.
        let trusted = app.secrets.check_secret_id(secret_id).ok().filter(|s| {
            s.vault
                .as_deref()
                .is_none_or(|v| app.config.vault_allowed(v))
        });
        if trusted.is_none() {
            return Err(StepError::rejected(
                "UntrustedSecretId",
                format!(
                    "vm.adminPasswordSecretId {secret_id} is not a secret of an allowed Key Vault: it must be https://{{vault}}{}/secrets/{{name}}[/{{version}}]{}",
                    app.arm.endpoints().keyvault_suffix,
                    match &app.config.allowed_vaults {
                        crate::config::AllowList::Any => String::new(),
                        crate::config::AllowList::Only(v) => format!(
                            " with a vault in IMAGEFERRY_ALLOWED_VAULTS ({})",
                            v.join(", ")
                        ),
                    }
                ),
                Some("use a secret of an allowed Key Vault in this cloud".into()),
            ));
        }
    }
    Ok((image, names))
}

/// `rejected` (`GalleryNotAllowed`, with `hint`) unless the image's gallery is in
/// `IMAGEFERRY_ALLOWED_GALLERIES`.
pub(crate) fn allowed_gallery(app: &App, image: &ImageId, hint: &str) -> Result<(), StepError> {
    if app.config.gallery_allowed(image) {
        return Ok(());
    }
    Err(StepError::rejected(
        "GalleryNotAllowed",
        format!(
            "gallery {} is not in IMAGEFERRY_ALLOWED_GALLERIES",
            image.gallery_id()
        ),
        Some(hint.into()),
    ))
}

/// A request whose ids break the resource id rules: `ValidationFailed` naming the field.
pub(crate) fn invalid_id(path: &str, e: &ResourceIdError) -> StepError {
    StepError::invalid(&ValidationErrors(vec![Problem {
        path: path.into(),
        message: e.to_string(),
    }]))
}

/// The deadline of a request arriving at an entry step: its own, or the configured default
/// counted from the message's first enqueue (stable across redeliveries).
pub(crate) fn entry_deadline(
    app: &App,
    req: &DeploymentRequest,
    enqueued: Option<OffsetDateTime>,
) -> OffsetDateTime {
    let from = enqueued.unwrap_or_else(|| app.clock.now());
    req.effective_deadline(from, app.config.default_deadline)
}

/// `failed` with `DeadlineExceeded` if the deadline has passed.
pub(crate) fn before_deadline(
    app: &App,
    deadline: OffsetDateTime,
    what: &str,
    progress: Option<&ReplicationProgress>,
) -> Result<(), StepError> {
    if app.clock.now() < deadline {
        return Ok(());
    }
    let seen = progress.map_or_else(String::new, |p| {
        format!(
            "; last progress: {} in {}{}{}",
            p.state,
            p.region,
            p.percent.map_or_else(String::new, |n| format!(" ({n}%)")),
            p.details
                .as_deref()
                .filter(|d| !d.is_empty())
                .map_or_else(String::new, |d| format!(": {d}"))
        )
    });
    Err(StepError::Failed {
        error: imageferry_contract::EventError {
            code: "DeadlineExceeded".into(),
            message: format!(
                "the deadline {} passed while {what}{seen}",
                deadline
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            hint: Some("send the request again with a later deadline".into()),
        },
        progress: progress.cloned().map(Box::new),
    })
}

/// Reads the image definition and checks the request against it (OS type, generalized or
/// specialized, Trusted Launch for this version, and `validate_for_image`'s computer-name and
/// SSH-key rules).
pub(crate) async fn image_facts(
    app: &App,
    req: &DeploymentRequest,
    image: &ImageId,
) -> Result<ImageInfo, StepError> {
    let paths = ImagePaths::of(req, image).map_err(|e| invalid_id("image.id", &e))?;
    let call = calls::image_definition_get(image);
    let def: GalleryImage = app
        .arm
        .get(
            &paths.tenant,
            &paths.definition.to_string(),
            call.api_version(),
            call.query,
        )
        .await
        .map_err(|e| image_error("reading the image definition", image, &e))?;
    let info = image::image_info(&def, image.version())
        .map_err(|e| StepError::rejected("UnsupportedImage", e.to_string(), None))?;
    req.validate_for_image(&info.facts)
        .map_err(|e| StepError::invalid(&e))?;
    Ok(info)
}

/// The image version's replication state in the target region.
pub(crate) async fn replication(
    app: &App,
    req: &DeploymentRequest,
    image: &ImageId,
) -> Result<Replication, StepError> {
    let paths = ImagePaths::of(req, image).map_err(|e| invalid_id("image.id", &e))?;
    let version_path = paths.version.to_string();
    let call = calls::image_version_get(image);
    let now = app.clock.now();
    if paths.has_replication_status {
        let version: GalleryImageVersion = app
            .arm
            .get(&paths.tenant, &version_path, call.api_version(), call.query)
            .await
            .map_err(|e| image_error("reading the image version", image, &e))?;
        return Ok(image::replication_in(&version, &req.target.location, now));
    }
    // Shared and community versions are read location-scoped: found means usable there, not
    // found means not replicated there (the GET stays 404: failed at once, not at the deadline).
    let found: Option<serde::de::IgnoredAny> = app
        .arm
        .get_optional(&paths.tenant, &version_path, call.api_version(), call.query)
        .await
        .map_err(|e| image_error("reading the image version", image, &e))?;
    Ok(match found {
        Some(_) => Replication::Ready(ReplicationProgress {
            region: req.target.location.clone(),
            state: "Completed".into(),
            percent: None,
            provisioning_state: None,
            details: None,
            observed_at: now,
        }),
        None => Replication::NotInRegion,
    })
}

fn image_error(doing: &str, image: &ImageId, e: &ArmError) -> StepError {
    if let ArmError::NotFound { message, .. } = e {
        let hint = match image {
            ImageId::Gallery { .. } => {
                "check image.id and image.tenantId; the app needs Reader on the gallery in the image's tenant"
            }
            _ => {
                "check image.id; the gallery must be shared with the target subscription or tenant (or be a community gallery) in the target location"
            }
        };
        return StepError::failed(
            "ImageNotFound",
            format!("{doing}: {image} not found: {message}"),
            Some(hint.into()),
        );
    }
    StepError::arm(doing, e)
}
