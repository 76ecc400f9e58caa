//! `image-version-replicated`: re-verify, then create the resource group (if missing and
//! allowed), the network and the VM, and schedule `vm-provisioning`. The VM PUT carries the
//! auxiliary tenant-1 token and is not waited for. A `scaleSet` request goes the same way up to
//! the first write, then to [`super::scale_set::deploy`] (create or update the scale set).
//!
//! Before the first write everything Azure would refuse is checked: the computer name and SSH
//! key (in `image_facts`), the Windows password read from Key Vault, the Marketplace terms when
//! the app may read them; the VM body carries the image's Marketplace `plan`.
//!
//! Idempotency: an existing VM tagged with this deployment and built from this image is taken
//! as created (no second PUT) unless its create failed, which is a capacity retry
//! ([`crate::capacity`]): it is PUT again. Any other existing VM of that name is a `Conflict`,
//! never overwritten. Network resources have deterministic names and are PUT with the same bodies.
//!
//! Trust: every id comes from `TargetNames::of(request)`; the Windows password is read (and the
//! secret id checked) before the first write. Budget: the ARM work runs inside the step budget
//! (`IMAGEFERRY_STEP_BUDGET`) less a margin; a resource still provisioning (or throttled) when it
//! runs out is picked up by a continuation message scheduled one provisioning poll later.

use super::Delivery;
use super::checks::{admit, before_deadline, entry_deadline, image_facts, replication};
use crate::app::App;
use crate::bodies;
use crate::calls::{
    AzureCall, EXISTING_VM_GET, NIC_PUT, NSG_PUT, PUBLIC_IP_PUT, RESOURCE_GROUP_GET,
    RESOURCE_GROUP_PUT, VM_PUT, VNET_PUT,
};
use crate::capacity;
use crate::image::{ImageInfo, Replication};
use crate::names::TargetNames;
use crate::outcome::StepError;
use crate::preflight;
use azure_clients::SecretString;
use azure_clients::arm::{Accepted, PollKind, PutRequest};
use azure_clients::models::{Provisioned, ProvisioningState, ResourceGroup, VirtualMachine};
use imageferry_contract::{
    DEPLOYMENT_TAG, DeploymentEvent, DeploymentRequest, ImageId, ImageVersionReplicated,
    OperationKind, OsState, OsType, PendingOperation, ReplicatedStep, ReplicationCheck, Status,
    Step, VmProvisioning, continuation_message_id,
};
use serde::Serialize;
use serde::de::IgnoredAny;

/// Runs the step for one delivery.
pub async fn run(app: &App, d: &Delivery, msg: ImageVersionReplicated) -> Result<(), StepError> {
    let (req, deadline, checks, continuation, from_pipeline) = match msg {
        ImageVersionReplicated::Step(s) => {
            (s.request, s.deadline, s.attempt, s.continuation, false)
        }
        ImageVersionReplicated::Request(r) => {
            let deadline = entry_deadline(app, &r, d.enqueued_time);
            (r, deadline, 0, 0, true)
        }
    };
    let (image, names) = admit(app, &req)?;
    before_deadline(app, deadline, "waiting to create the VM", None)?;
    let info = image_facts(app, &req, &image).await?;
    let id = &req.deployment_id;
    if from_pipeline {
        let mut accepted = DeploymentEvent::new(
            id,
            Status::Accepted,
            d.step,
            app.clock.now(),
            format!(
                "accepted from a pipeline: {} in {}",
                image, req.target.location
            ),
        );
        accepted.request = serde_json::to_value(&req).ok();
        app.publish(&accepted, 0, None).await?;
    }
    match replication(app, &req, &image).await? {
        Replication::Ready(_) => {}
        Replication::Waiting(progress) => {
            // Not replicated after all: wait for it like `deployment-requested` would, numbering
            // the check after the ones already made so its MessageId is new.
            let attempt = checks.saturating_add(1);
            let next = ReplicationCheck {
                request: req.clone(),
                attempt,
                deadline,
                last_progress: Some(progress),
            };
            let delay = app.config.replication_backoff(attempt);
            return app
                .send_step(Step::ReplicationCheck, id, attempt, &next, delay)
                .await;
        }
        other => {
            return super::deployment_requested::handle_replication(
                app, &req, deadline, checks, other,
            )
            .await;
        }
    }
    let replicated = DeploymentEvent::new(
        id,
        Status::Replicated,
        d.step,
        app.clock.now(),
        format!("{image} is replicated to {}", req.target.location),
    );
    app.publish(&replicated, 0, None).await?;

    // Leave time to schedule the continuation inside the budget.
    let margin = (app.config.step_budget / 4).min(std::time::Duration::from_secs(30));
    let until = d.started + app.config.step_budget.saturating_sub(margin);
    let retry = capacity::retry_of(checks);
    let work = create(
        app,
        d,
        &req,
        &image,
        &info,
        &names,
        continuation > 0,
        deadline,
        retry,
    );
    let operation = match tokio::time::timeout_at(until.into(), work).await {
        Ok(result) => match result? {
            Created::Pending(operation) => operation,
            Created::RetryScheduled | Created::Handed => return Ok(()),
        },
        Err(_elapsed) => {
            let n = continuation.saturating_add(1);
            tracing::info!(
                deployment_id = %id,
                continuation = n,
                "step budget spent while resources were still provisioning; continuing in a scheduled message"
            );
            let next = ReplicatedStep {
                request: req.clone(),
                deadline,
                attempt: checks,
                continuation: n,
            };
            let message_id = continuation_message_id(id, d.step, checks, n);
            return app
                .send_step_with_id(
                    Step::ImageVersionReplicated,
                    id,
                    message_id,
                    &next,
                    app.config.provisioning_poll,
                )
                .await;
        }
    };
    let first_poll = capacity::base(retry) + 1;
    let next = VmProvisioning {
        request: req.clone(),
        attempt: first_poll,
        deadline,
        vm_id: names.vm.to_string(),
        operation,
    };
    app.send_step(
        Step::VmProvisioning,
        id,
        first_poll,
        &next,
        app.config.provisioning_poll,
    )
    .await?;
    let mut event = DeploymentEvent::new(
        id,
        Status::Provisioning,
        d.step,
        app.clock.now(),
        format!("creating VM {}", req.vm.name),
    );
    event.vm_id = Some(names.vm.to_string());
    // Retry r's notice used base(r) (capacity::retry_later); this event follows it.
    app.publish(&event, capacity::base(retry) + u32::from(retry > 0), None)
        .await
}

/// What [`create`] did.
enum Created {
    /// The VM PUT was accepted (or the VM exists already): poll it.
    Pending(Option<PendingOperation>),
    /// Azure had no capacity: a retry is scheduled ([`capacity::retry_later`]).
    RetryScheduled,
    /// A scale set: its own module scheduled the check and told the event
    /// ([`super::scale_set::deploy`]).
    Handed,
}

/// The ARM work: what Azure would refuse first (computer name, password, Marketplace terms:
/// nothing is written if one fails), then the resource group, the network and the VM PUT.
/// Returns the VM create's operation.
#[allow(clippy::too_many_arguments)]
async fn create(
    app: &App,
    d: &Delivery,
    req: &DeploymentRequest,
    image: &ImageId,
    info: &ImageInfo,
    names: &TargetNames,
    resume: bool,
    deadline: time::OffsetDateTime,
    retry: u32,
) -> Result<Created, StepError> {
    let tenant = req.target.tenant_id.as_str();
    if req.scale_set.is_some() {
        super::scale_set::deploy(app, d, req, image, info, names, resume, deadline).await?;
        return Ok(Created::Handed);
    }
    if let Existing::Created = existing_vm(app, req, image, names).await? {
        return Ok(Created::Pending(None));
    }
    let computer_name = preflight::computer_name(req, &info.facts)?;
    let password = admin_password(app, req, info).await?;
    preflight::check_marketplace_terms(app, req, info.plan.as_ref()).await?;
    preflight::check_subnet_join(app, req, &names.subnet).await?;
    ensure_resource_group(app, req, names).await?;
    build_network(app, req, info, names, resume).await?;
    let body = bodies::virtual_machine(req, image, info, names, computer_name, password);
    let aux: Vec<&str> = crate::calls::auxiliary_tenant(req, image)
        .into_iter()
        .collect();
    let put: Result<Accepted<IgnoredAny>, _> = app
        .arm
        .put(PutRequest {
            tenant,
            aux_tenants: &aux,
            path: &VM_PUT.path(names),
            api_version: VM_PUT.api_version(),
            body: &body,
        })
        .await;
    let accepted = match put {
        Ok(accepted) => accepted,
        Err(e) if e.is_capacity() => {
            capacity::retry_later(app, req, deadline, retry, &e, d.step).await?;
            return Ok(Created::RetryScheduled);
        }
        Err(e) => return Err(StepError::arm("creating the VM", &e)),
    };
    let Some(op) = accepted.operation else {
        return Ok(Created::Pending(None));
    };
    if !names.is_vm_operation(req, &op.url, &app.arm.endpoints().arm) {
        // Poll the VM itself rather than an operation outside its subscription and region.
        tracing::warn!(url = %op.url, "the VM create's operation URL is not the VM's own; polling the VM instead");
        return Ok(Created::Pending(None));
    }
    Ok(Created::Pending(Some(PendingOperation {
        url: op.url,
        kind: match op.kind {
            PollKind::AzureAsyncOperation => OperationKind::AzureAsyncOperation,
            PollKind::Location => OperationKind::Location,
        },
    })))
}

/// What exists under the VM's name.
enum Existing {
    /// Nothing: create it.
    None,
    /// This deployment's VM from this image, created or being created: do not PUT again.
    Created,
    /// This deployment's VM from this image whose create failed (a capacity retry): PUT again.
    Failed,
}

/// The VM of that name, if any; `Conflict` when it is not this deployment's from this image.
async fn existing_vm(
    app: &App,
    req: &DeploymentRequest,
    image: &ImageId,
    names: &TargetNames,
) -> Result<Existing, StepError> {
    let vm: Option<VirtualMachine> = app
        .arm
        .get_optional(
            &req.target.tenant_id,
            &EXISTING_VM_GET.path(names),
            EXISTING_VM_GET.api_version(),
            EXISTING_VM_GET.query,
        )
        .await
        .map_err(|e| StepError::arm("checking for an existing VM", &e))?;
    let Some(vm) = vm else {
        return Ok(Existing::None);
    };
    let ours = vm
        .tags
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(DEPLOYMENT_TAG) && v == &req.deployment_id);
    let used = vm
        .properties
        .storage_profile
        .as_ref()
        .and_then(|s| s.image_reference.as_ref())
        .and_then(|r| r.gallery_image())
        .unwrap_or_default();
    let same_image = used.eq_ignore_ascii_case(&image.to_string());
    if ours && same_image {
        return Ok(match vm.properties.provisioning_state {
            Some(ProvisioningState::Failed) => Existing::Failed,
            _ => Existing::Created,
        });
    }
    let why = if !ours {
        format!("it is not tagged {DEPLOYMENT_TAG}={}", req.deployment_id)
    } else {
        format!("it was built from {used:?}, not {image}")
    };
    Err(StepError::failed(
        "Conflict",
        format!(
            "VM {} already exists and {why}; it is never overwritten",
            names.vm
        ),
        Some("choose another vm.name, or delete the existing VM first".into()),
    ))
}

pub(super) async fn ensure_resource_group(
    app: &App,
    req: &DeploymentRequest,
    names: &TargetNames,
) -> Result<(), StepError> {
    let tenant = &req.target.tenant_id;
    let rg: Option<ResourceGroup> = app
        .arm
        .get_optional(
            tenant,
            &RESOURCE_GROUP_GET.path(names),
            RESOURCE_GROUP_GET.api_version(),
            RESOURCE_GROUP_GET.query,
        )
        .await
        .map_err(|e| StepError::arm("reading the resource group", &e))?;
    if rg.is_some() {
        return Ok(());
    }
    if !app.config.create_resource_group {
        return Err(StepError::failed(
            "ResourceGroupNotFound",
            format!("resource group {} does not exist", names.resource_group),
            Some(
                "create it and grant the app Contributor on it, or set IMAGEFERRY_CREATE_RESOURCE_GROUP=true (then the app needs Contributor on the subscription)"
                    .into(),
            ),
        ));
    }
    put_and_wait(
        app,
        tenant,
        &RESOURCE_GROUP_PUT,
        names,
        &bodies::resource_group(req),
        "creating the resource group",
        false,
    )
    .await
}

/// The VNet (unless the request names a subnet), the NSG, and for a VM its public IP and NIC (a
/// scale set's instances have theirs inside the scale set).
pub(super) async fn build_network(
    app: &App,
    req: &DeploymentRequest,
    info: &ImageInfo,
    names: &TargetNames,
    resume: bool,
) -> Result<(), StepError> {
    let tenant = &req.target.tenant_id;
    if req.network.subnet_id.is_none() {
        put_and_wait(
            app,
            tenant,
            &VNET_PUT,
            names,
            &bodies::virtual_network(req),
            "creating the virtual network",
            resume,
        )
        .await?;
    }
    put_and_wait(
        app,
        tenant,
        &NSG_PUT,
        names,
        &bodies::network_security_group(req, info.facts.os_type),
        "creating the network security group",
        resume,
    )
    .await?;
    if req.scale_set.is_some() {
        return Ok(());
    }
    if req.vm.public_ip {
        put_and_wait(
            app,
            tenant,
            &PUBLIC_IP_PUT,
            names,
            &bodies::public_ip(req),
            "creating the public IP address",
            resume,
        )
        .await?;
    }
    put_and_wait(
        app,
        tenant,
        &NIC_PUT,
        names,
        &bodies::network_interface(req, names),
        "creating the network interface",
        resume,
    )
    .await
}

/// PUT and follow the operation to its end. When `resume` (a continuation after the step budget
/// ran out), a resource of this deployment that exists already is not PUT again: still
/// provisioning, it is polled; succeeded, it is taken as is.
async fn put_and_wait<B: Serialize>(
    app: &App,
    tenant: &str,
    call: &AzureCall,
    names: &TargetNames,
    body: &B,
    doing: &str,
    resume: bool,
) -> Result<(), StepError> {
    let path = &call.path(names);
    let api_version = call.api_version();
    if resume {
        loop {
            let existing: Option<Provisioned> = app
                .arm
                .get_optional(tenant, path, api_version, &[])
                .await
                .map_err(|e| StepError::arm(doing, &e))?;
            let Some(existing) = existing else { break };
            match existing.properties.provisioning_state {
                None | Some(ProvisioningState::Succeeded) => return Ok(()),
                Some(ProvisioningState::Failed | ProvisioningState::Canceled) => break,
                Some(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    }
    app.arm
        .put_and_wait::<B, IgnoredAny>(PutRequest {
            tenant,
            aux_tenants: &[],
            path,
            api_version,
            body,
        })
        .await
        .map(drop)
        .map_err(|e| StepError::arm(doing, &e))
}

/// The Windows administrator password, read from Key Vault with the app's own (home tenant)
/// identity. Never logged, never put in a message or an error.
pub(super) async fn admin_password(
    app: &App,
    req: &DeploymentRequest,
    info: &ImageInfo,
) -> Result<Option<SecretString>, StepError> {
    let facts = &info.facts;
    if facts.os_type != OsType::Windows || facts.os_state != OsState::Generalized {
        return Ok(None);
    }
    let machine = req.machine();
    let Some(secret_id) = machine.admin_password_secret_id.as_deref() else {
        return Ok(None);
    };
    match app.secrets.get(secret_id, &app.config.home_tenant).await {
        Ok(value) => {
            let password = value.into_secret();
            preflight::check_password(&password)?;
            Ok(Some(password))
        }
        Err(e) => {
            // The hint names what Key Vault (or DNS) said: a vault that does not resolve, a
            // missing secret, RBAC, an access policy or the firewall.
            let error = imageferry_contract::EventError {
                code: "SecretUnavailable".into(),
                message: format!("reading vm.adminPasswordSecretId: {e}"),
                hint: e.hint(),
            };
            Err(StepError::classified(e.is_transient(), error))
        }
    }
}
