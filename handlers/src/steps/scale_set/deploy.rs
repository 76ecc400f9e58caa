//! The write of `image-version-replicated` for a scale-set request: create the scale set from the
//! first version, or move an existing one (created by imageferry) to this version; then schedule
//! the first check (`vm-provisioning`, scale-set form).
//!
//! - **None of that name**: what Azure would refuse first (computer name prefix, the Windows
//!   password, the Marketplace terms, joining an existing subnet), the resource group, the network
//!   (VNet and NSG, as for a VM), then the PUT with the auxiliary tenant-1 token; the check
//!   follows its operation ([`ScaleSetPhase::Create`]).
//! - **Created by imageferry** (tagged `imageferry-deployment`), model on an older version: the
//!   network is PUT again with this deployment's tags (same names, same bodies), then a PATCH of
//!   `imageReference.id` and the tags, with the auxiliary token ([`ScaleSetPhase::Update`]).
//! - Model already on this version: under this deployment (a redelivery, a continuation) nothing
//!   is written; under another deployment, a PATCH of the tags only, which leaves
//!   `imageReference` out and carries no auxiliary token.
//! - Model on a newer version of the same definition: `failed` (`NewerVersionRunning`), nothing
//!   is written. A scale set not tagged by imageferry, or being deleted: `failed` (`Conflict`).
//!
//! `capacity` is only used at creation: imageferry never scales an existing scale set (its
//! capacity belongs to the people or the autoscale rules that run it).

use super::bodies;
use crate::app::App;
use crate::calls::{SCALE_SET_GET, SCALE_SET_PATCH, SCALE_SET_PUT};
use crate::image::ImageInfo;
use crate::names::TargetNames;
use crate::outcome::StepError;
use crate::preflight;
use crate::steps::Delivery;
use crate::steps::image_version_replicated::{
    admin_password, build_network, ensure_resource_group,
};
use azure_clients::arm::{Accepted, PollKind, PutRequest};
use azure_clients::models::{ProvisioningState, VirtualMachineScaleSet};
use imageferry_contract::gallery_version::compare;
use imageferry_contract::{
    DEPLOYMENT_TAG, DeploymentEvent, DeploymentRequest, ImageId, OperationKind, PendingOperation,
    ScaleSetPhase, ScaleSetProvisioning, ScaleSetSpec, ScaleSetState, Status, Step,
};
use serde::de::IgnoredAny;
use time::OffsetDateTime;

/// Creates or updates the scale set, schedules the first check and publishes `provisioning`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn deploy(
    app: &App,
    d: &Delivery,
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    resume: bool,
    deadline: OffsetDateTime,
) -> Result<(), StepError> {
    let spec = super::spec(req)?;
    let existing: Option<VirtualMachineScaleSet> = app
        .arm
        .get_optional(
            &req.target.tenant_id,
            &SCALE_SET_GET.path(names),
            SCALE_SET_GET.api_version(),
            SCALE_SET_GET.query,
        )
        .await
        .map_err(|e| StepError::arm("reading the scale set", &e))?;
    let (phase, detail, instances) = match existing {
        None => {
            let operation = create(app, req, spec, image, info, names, resume).await?;
            (
                ScaleSetPhase::Create { operation },
                format!(
                    "creating scale set {}: {} instance(s) of {}",
                    spec.name,
                    spec.capacity,
                    image.version()
                ),
                spec.capacity,
            )
        }
        Some(ss) => {
            let instances = ss
                .sku
                .as_ref()
                .and_then(|s| s.capacity)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0);
            let (operation, detail) =
                update(app, req, spec, image, info, names, resume, &ss).await?;
            (ScaleSetPhase::Update { operation }, detail, instances)
        }
    };
    let id = &req.deployment_id;
    let next = ScaleSetProvisioning {
        request: req.clone(),
        attempt: 1,
        deadline,
        scale_set_id: names.scale_set.to_string(),
        phase,
    };
    app.send_step(
        Step::VmProvisioning,
        id,
        next.attempt,
        &next,
        app.config.provisioning_poll,
    )
    .await?;
    let mut event = DeploymentEvent::new(id, Status::Provisioning, d.step, app.clock.now(), detail);
    event.scale_set = Some(ScaleSetState {
        id: names.scale_set.to_string(),
        version: image.version().to_string(),
        instances,
        on_version: 0,
        batch: None,
        batch_instances: Vec::new(),
        unhealthy: Vec::new(),
    });
    app.publish(&event, 0, None).await
}

/// Everything before the PUT, then the PUT (auxiliary token: the body carries the image).
async fn create(
    app: &App,
    req: &DeploymentRequest,
    spec: &ScaleSetSpec,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    resume: bool,
) -> Result<Option<PendingOperation>, StepError> {
    let prefix = preflight::computer_name_prefix(req, &info.facts)?;
    let password = admin_password(app, req, info).await?;
    preflight::check_marketplace_terms(app, req, info.plan.as_ref()).await?;
    preflight::check_subnet_join(app, req, &names.subnet).await?;
    ensure_resource_group(app, req, names).await?;
    build_network(app, req, info, names, resume).await?;
    let body = bodies::scale_set(req, spec, image, info, names, prefix, password);
    let aux: Vec<&str> = crate::calls::auxiliary_tenant(req, image)
        .into_iter()
        .collect();
    let accepted: Accepted<IgnoredAny> = app
        .arm
        .put(PutRequest {
            tenant: &req.target.tenant_id,
            aux_tenants: &aux,
            path: &SCALE_SET_PUT.path(names),
            api_version: SCALE_SET_PUT.api_version(),
            body: &body,
        })
        .await
        .map_err(|e| StepError::arm("creating the scale set", &e))?;
    Ok(trusted_operation(app, req, names, accepted))
}

/// The existing scale set: refused, left alone, or PATCHed. Returns the PATCH's operation and the
/// event's detail.
#[allow(clippy::too_many_arguments)]
async fn update(
    app: &App,
    req: &DeploymentRequest,
    spec: &ScaleSetSpec,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    resume: bool,
    ss: &VirtualMachineScaleSet,
) -> Result<(Option<PendingOperation>, String), StepError> {
    let owner = ss
        .tags
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(DEPLOYMENT_TAG))
        .map(|(_, v)| v.as_str());
    let Some(owner) = owner else {
        return Err(StepError::failed(
            "Conflict",
            format!(
                "scale set {} already exists and was not created by imageferry (it has no {DEPLOYMENT_TAG} tag); it is never changed",
                names.scale_set
            ),
            Some(
                "choose another scaleSet.name, or tag the scale set for imageferry deliberately"
                    .into(),
            ),
        ));
    };
    if ss.properties.provisioning_state == Some(ProvisioningState::Deleting) {
        return Err(StepError::failed(
            "Conflict",
            format!("scale set {} is being deleted", names.scale_set),
            Some("send the request again once the delete has finished: it creates the scale set anew".into()),
        ));
    }
    let model = ss
        .properties
        .virtual_machine_profile
        .as_ref()
        .and_then(|p| p.image())
        .unwrap_or_default()
        .to_string();
    let ours = image.to_string();
    if model.eq_ignore_ascii_case(&ours) {
        if owner == req.deployment_id {
            return Ok((
                None,
                format!(
                    "scale set {} already names {}; following its instances",
                    spec.name,
                    image.version()
                ),
            ));
        }
        let operation = patch(app, req, image, names, &bodies::tags_update(req)).await?;
        return Ok((
            operation,
            format!(
                "scale set {} already names {} (deployment {owner}); taking it over",
                spec.name,
                image.version()
            ),
        ));
    }
    let running = ImageId::parse(&model).ok();
    if let Some(running) = &running
        && running.definition() == image.definition()
        && compare(running.version(), image.version()) == Some(std::cmp::Ordering::Greater)
    {
        return Err(StepError::failed(
            "NewerVersionRunning",
            format!(
                "scale set {} runs {} already, newer than {}; an older version is never rolled out",
                names.scale_set,
                running.version(),
                image.version()
            ),
            Some("publish a newer version to update the scale set".into()),
        ));
    }
    // The network goes to this deployment too (same names and bodies, this deployment's tags).
    build_network(app, req, info, names, resume).await?;
    let operation = patch(app, req, image, names, &bodies::image_update(req, image)).await?;
    let from = running
        .as_ref()
        .map_or_else(|| model.clone(), |r| r.version().to_string());
    Ok((
        operation,
        format!(
            "updating scale set {} from {from} to {}",
            spec.name,
            image.version()
        ),
    ))
}

/// PATCH of the scale set; the auxiliary token only when the body carries the image.
async fn patch(
    app: &App,
    req: &DeploymentRequest,
    image: &ImageId,
    names: &TargetNames,
    body: &azure_clients::models::VirtualMachineScaleSetUpdate,
) -> Result<Option<PendingOperation>, StepError> {
    let aux: Vec<&str> = if body.carries_image() {
        crate::calls::auxiliary_tenant(req, image)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    let accepted: Accepted<IgnoredAny> = app
        .arm
        .patch(PutRequest {
            tenant: &req.target.tenant_id,
            aux_tenants: &aux,
            path: &SCALE_SET_PATCH.path(names),
            api_version: SCALE_SET_PATCH.api_version(),
            body,
        })
        .await
        .map_err(|e| StepError::arm("updating the scale set", &e))?;
    Ok(trusted_operation(app, req, names, accepted))
}

/// The write's operation, when it is the scale set's own (else the scale set itself is read).
pub(super) fn trusted_operation<T>(
    app: &App,
    req: &DeploymentRequest,
    names: &TargetNames,
    accepted: Accepted<T>,
) -> Option<PendingOperation> {
    let op = accepted.operation?;
    if !names.is_scale_set_operation(req, &op.url, &app.arm.endpoints().arm) {
        tracing::warn!(url = %op.url, "the scale set write's operation URL is not the scale set's own; reading the scale set instead");
        return None;
    }
    Some(PendingOperation {
        url: op.url,
        kind: match op.kind {
            PollKind::AzureAsyncOperation => OperationKind::AzureAsyncOperation,
            PollKind::Location => OperationKind::Location,
        },
    })
}
