//! `vm-provisioning`: poll the VM create once per delivery (a scale set's checks come on the same
//! queue: [`super::scale_set`]) (its operation, or the VM itself),
//! reschedule until it ends, then report `succeeded` with the VM id and its IP addresses, or
//! `failed` with ARM's error and a hint (from the operation's error, or from the VM's instance
//! view when the VM itself is polled: the same classes either way). A capacity failure is retried later
//! ([`crate::capacity`]) before it is reported. The deadline applies. Reads use azure-clients'
//! typed models.
//!
//! Trust: the VM, its NIC and its public IP are the ids `TargetNames::of(request)` derives; a
//! message whose `vmId` names anything else, or whose operation URL is not the VM's own (on the
//! ARM host, under the target subscription and region), is `rejected`.

use super::Delivery;
use super::checks::{admit, before_deadline};
use crate::app::App;
use crate::calls::{NIC_GET, PUBLIC_IP_GET, VM_OPERATION_GET, VM_STATE_GET};
use crate::capacity;
use crate::names::TargetNames;
use crate::outcome::StepError;
use azure_clients::arm::{ArmError, ErrorDetail, OperationRef, OperationState, PollKind};
use azure_clients::models::{NetworkInterface, ProvisioningState, PublicIpAddress, VirtualMachine};
use imageferry_contract::{
    DeploymentEvent, EventError, OperationKind, ProvisioningMessage, ResourceId, Status, Step,
    VmProvisioning,
};

/// Runs the step for one delivery: a VM's poll, or a scale set's check
/// ([`super::scale_set::check`]).
pub async fn run(app: &App, d: &Delivery, msg: ProvisioningMessage) -> Result<(), StepError> {
    match msg {
        ProvisioningMessage::Vm(msg) => run_vm(app, d, msg).await,
        ProvisioningMessage::ScaleSet(msg) => super::scale_set::check(app, d, msg).await,
    }
}

/// One poll of a VM create.
async fn run_vm(app: &App, d: &Delivery, msg: VmProvisioning) -> Result<(), StepError> {
    let (_, names) = admit(app, &msg.request)?;
    if ResourceId::parse(&msg.vm_id).ok().as_ref() != Some(&names.vm) {
        return Err(StepError::rejected(
            "ForeignResource",
            format!(
                "vmId {:?} is not the VM this request creates ({})",
                msg.vm_id, names.vm
            ),
            Some(
                "vm-provisioning messages are sent by imageferry itself; do not forge them".into(),
            ),
        ));
    }
    if let Some(op) = &msg.operation
        && !names.is_vm_operation(&msg.request, &op.url, &app.arm.endpoints().arm)
    {
        return Err(StepError::rejected(
            "UntrustedUrl",
            format!(
                "operation {} is not the VM create's own operation (on {} under /subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/ or the VM's own path)",
                op.url,
                app.arm.endpoints().arm,
                msg.request.target.subscription_id,
                msg.request.target.location
            ),
            Some(
                "vm-provisioning messages are sent by imageferry itself; do not forge them".into(),
            ),
        ));
    }
    let vm_path = VM_STATE_GET.path(&names);
    let tenant = msg.request.target.tenant_id.as_str();
    let state = match &msg.operation {
        Some(op) => {
            let op_ref = OperationRef {
                kind: match op.kind {
                    OperationKind::AzureAsyncOperation => PollKind::AzureAsyncOperation,
                    OperationKind::Location => PollKind::Location,
                },
                url: op.url.clone(),
                resource_path: vm_path.clone(),
                api_version: VM_OPERATION_GET.api_version().into(),
                retry_after_secs: None,
            };
            let status = app
                .arm
                .operation_status(tenant, &op_ref)
                .await
                .map_err(|e| StepError::arm("polling the VM create operation", &e))?;
            match status.state {
                OperationState::Succeeded => Poll::Done,
                OperationState::Failed | OperationState::Canceled => Poll::CreateFailed {
                    state: status.state.as_str().to_string(),
                    detail: status.error.unwrap_or_default(),
                },
                other => Poll::Running(other.as_str().to_string()),
            }
        }
        None => vm_state(app, tenant, &vm_path).await?,
    };
    match state {
        Poll::Done => succeed(app, d, &msg, &names).await,
        Poll::CreateFailed { state, detail } => {
            // The same classes whichever way the failure was seen (the operation's error or the
            // VM's instance view): capacity is retried later, the rest is reported with ARM's
            // code and hint.
            let error = ArmError::from_operation(&state, &detail);
            if error.is_capacity() {
                return capacity::retry_later(
                    app,
                    &msg.request,
                    msg.deadline,
                    capacity::retry_of(msg.attempt),
                    &error,
                    d.step,
                )
                .await;
            }
            Err(StepError::Failed {
                error: EventError {
                    hint: error.hint().or_else(|| Some(FAILED_VM_HINT.into())),
                    code: if detail.code.is_empty() {
                        "ProvisioningFailed".into()
                    } else {
                        error.code().to_string()
                    },
                    message: format!("creating the VM {state}: {}", detail.message),
                },
                progress: None,
            })
        }
        Poll::Running(state) => {
            before_deadline(
                app,
                msg.deadline,
                &format!("the VM was still provisioning ({state})"),
                None,
            )?;
            let next = VmProvisioning {
                attempt: msg.attempt.saturating_add(1),
                ..msg.clone()
            };
            app.send_step(
                Step::VmProvisioning,
                &msg.request.deployment_id,
                next.attempt,
                &next,
                app.config.provisioning_poll,
            )
            .await
        }
    }
}

/// Advice for a VM create that failed for a reason without a specific fix.
const FAILED_VM_HINT: &str = "see the VM's instance view (boot diagnostics) and the resource group's activity log for the cause; delete the failed VM before sending the request again, imageferry never overwrites a VM";

enum Poll {
    Done,
    Running(String),
    /// The create ended `Failed` or `Canceled`, with ARM's error (code empty when unknown).
    CreateFailed {
        state: String,
        detail: ErrorDetail,
    },
}

/// The VM's `provisioningState`, read with a GET with `$expand=instanceView`: a failed create's
/// error code and message are in the instance view's `ProvisioningState/failed/{code}` status.
async fn vm_state(app: &App, tenant: &str, vm_id: &str) -> Result<Poll, StepError> {
    let vm: Option<VirtualMachine> = app
        .arm
        .get_optional(
            tenant,
            vm_id,
            VM_STATE_GET.api_version(),
            VM_STATE_GET.query,
        )
        .await
        .map_err(|e| StepError::arm("reading the VM", &e))?;
    let Some(vm) = vm else {
        return Err(StepError::failed(
            "VmNotFound",
            format!("VM {vm_id} disappeared while it was being created"),
            Some(
                "check the resource group's activity log; send the request again to recreate it"
                    .into(),
            ),
        ));
    };
    Ok(match vm.properties.provisioning_state {
        Some(ProvisioningState::Succeeded) => Poll::Done,
        Some(ref state @ (ProvisioningState::Failed | ProvisioningState::Canceled)) => {
            Poll::CreateFailed {
                state: state.to_string(),
                detail: vm.provisioning_error().unwrap_or_else(|| ErrorDetail {
                    message: format!("VM {vm_id} provisioningState is {state}"),
                    ..Default::default()
                }),
            }
        }
        state => Poll::Running(state.map_or_else(|| "Unknown".into(), |s| s.to_string())),
    })
}

/// Reads the VM's addresses (from the derived NIC and public IP) and publishes `succeeded`.
async fn succeed(
    app: &App,
    d: &Delivery,
    msg: &VmProvisioning,
    names: &TargetNames,
) -> Result<(), StepError> {
    let tenant = msg.request.target.tenant_id.as_str();
    let (private_ip, public_ip) = addresses(app, tenant, msg, names).await?;
    let mut event = DeploymentEvent::new(
        &msg.request.deployment_id,
        Status::Succeeded,
        d.step,
        app.clock.now(),
        format!("VM {} is running", msg.request.vm.name),
    );
    event.vm_id = Some(names.vm.to_string());
    event.private_ip_address = private_ip;
    event.public_ip_address = public_ip;
    app.publish(&event, 0, None).await
}

/// Private IP of the derived NIC's primary configuration and the address of the derived public
/// IP (ARM `NetworkInterfaceIPConfiguration`, `PublicIPAddress.properties.ipAddress`). Ids in
/// the answers are not followed.
async fn addresses(
    app: &App,
    tenant: &str,
    msg: &VmProvisioning,
    names: &TargetNames,
) -> Result<(Option<String>, Option<String>), StepError> {
    let nic: NetworkInterface = app
        .arm
        .get(
            tenant,
            &NIC_GET.path(names),
            NIC_GET.api_version(),
            NIC_GET.query,
        )
        .await
        .map_err(|e| StepError::arm("reading the network interface", &e))?;
    let configs = &nic.properties.ip_configurations;
    let private_ip = configs
        .iter()
        .find(|c| c.properties.primary == Some(true))
        .or_else(|| configs.first())
        .and_then(|c| c.properties.private_ip_address.clone());
    let public_ip = if msg.request.vm.public_ip {
        let pip: PublicIpAddress = app
            .arm
            .get(
                tenant,
                &PUBLIC_IP_GET.path(names),
                PUBLIC_IP_GET.api_version(),
                PUBLIC_IP_GET.query,
            )
            .await
            .map_err(|e| StepError::arm("reading the public IP address", &e))?;
        pip.properties.ip_address
    } else {
        None
    };
    Ok((private_ip, public_ip))
}
