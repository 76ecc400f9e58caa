//! `vm-provisioning`: poll the VM create once per delivery (its operation, or the VM itself),
//! reschedule until it ends, then report `succeeded` with the VM id and its IP addresses, or
//! `failed` with ARM's error and a hint. A capacity failure is retried later
//! ([`crate::capacity`]) before it is reported. The deadline applies. Reads use azure-clients'
//! typed models.

use super::Delivery;
use super::checks::{admit, before_deadline};
use crate::app::App;
use crate::capacity;
use crate::names::{COMPUTE_API, NETWORK_API};
use crate::outcome::StepError;
use azure_clients::arm::{ArmError, OperationRef, OperationState, PollKind};
use azure_clients::models::{NetworkInterface, ProvisioningState, PublicIpAddress, VirtualMachine};
use imageferry_contract::{
    DeploymentEvent, EventError, OperationKind, Status, Step, VmProvisioning,
};

/// Runs the step for one delivery.
pub async fn run(app: &App, d: &Delivery, msg: VmProvisioning) -> Result<(), StepError> {
    admit(app, &msg.request)?;
    let tenant = msg.request.target.tenant_id.as_str();
    let state = match &msg.operation {
        Some(op) => {
            let op_ref = OperationRef {
                kind: match op.kind {
                    OperationKind::AzureAsyncOperation => PollKind::AzureAsyncOperation,
                    OperationKind::Location => PollKind::Location,
                },
                url: op.url.clone(),
                resource_path: msg.vm_id.clone(),
                api_version: COMPUTE_API.into(),
                retry_after_secs: None,
            };
            let status = app
                .arm
                .operation_status(tenant, &op_ref)
                .await
                .map_err(|e| StepError::arm("polling the VM create operation", &e))?;
            match status.state {
                OperationState::Succeeded => Poll::Done,
                OperationState::Failed | OperationState::Canceled => {
                    let detail = status.error.unwrap_or_default();
                    let error = ArmError::from_operation(status.state.as_str(), &detail);
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
                    Poll::Failed(EventError {
                        hint: error.hint().or_else(|| Some(FAILED_VM_HINT.into())),
                        code: if detail.code.is_empty() {
                            "ProvisioningFailed".into()
                        } else {
                            error.code().to_string()
                        },
                        message: format!(
                            "creating the VM {}: {}",
                            status.state.as_str(),
                            detail.message
                        ),
                    })
                }
                other => Poll::Running(other.as_str().to_string()),
            }
        }
        None => vm_state(app, tenant, &msg.vm_id).await?,
    };
    match state {
        Poll::Done => succeed(app, d, &msg).await,
        Poll::Failed(error) => Err(StepError::Failed {
            error,
            progress: None,
        }),
        Poll::Running(state) => {
            before_deadline(
                app,
                msg.deadline,
                &format!("the VM was still provisioning ({state})"),
                None,
            )?;
            let next = VmProvisioning {
                attempt: msg.attempt + 1,
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
    Failed(EventError),
}

/// The VM's `provisioningState`, read with a GET.
async fn vm_state(app: &App, tenant: &str, vm_id: &str) -> Result<Poll, StepError> {
    let vm: Option<VirtualMachine> = app
        .arm
        .get_optional(tenant, vm_id, COMPUTE_API, &[])
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
        Some(state @ (ProvisioningState::Failed | ProvisioningState::Canceled)) => {
            Poll::Failed(EventError {
                code: "ProvisioningFailed".into(),
                message: format!("VM {vm_id} provisioningState is {state}"),
                hint: Some(FAILED_VM_HINT.into()),
            })
        }
        state => Poll::Running(state.map_or_else(|| "Unknown".into(), |s| s.to_string())),
    })
}

/// Reads the VM's addresses and publishes `succeeded`.
async fn succeed(app: &App, d: &Delivery, msg: &VmProvisioning) -> Result<(), StepError> {
    let tenant = msg.request.target.tenant_id.as_str();
    let vm: VirtualMachine = app
        .arm
        .get(tenant, &msg.vm_id, COMPUTE_API, &[])
        .await
        .map_err(|e| StepError::arm("reading the VM", &e))?;
    let (private_ip, public_ip) = addresses(app, tenant, &vm).await?;
    let mut event = DeploymentEvent::new(
        &msg.request.deployment_id,
        Status::Succeeded,
        d.step,
        app.clock.now(),
        format!("VM {} is running", msg.request.vm.name),
    );
    event.vm_id = Some(vm.id.clone().unwrap_or_else(|| msg.vm_id.clone()));
    event.private_ip_address = private_ip;
    event.public_ip_address = public_ip;
    app.publish(&event, 0, None).await
}

/// Private and public IP of the VM's primary NIC (ARM `NetworkInterfaceIPConfiguration`,
/// `PublicIPAddress.properties.ipAddress`).
async fn addresses(
    app: &App,
    tenant: &str,
    vm: &VirtualMachine,
) -> Result<(Option<String>, Option<String>), StepError> {
    let nics = vm
        .properties
        .network_profile
        .as_ref()
        .map(|p| p.network_interfaces.as_slice())
        .unwrap_or_default();
    let primary = nics
        .iter()
        .find(|n| n.properties.as_ref().and_then(|p| p.primary) == Some(true))
        .or_else(|| nics.first());
    let Some(nic_id) = primary.map(|n| n.id.as_str()).filter(|id| !id.is_empty()) else {
        return Ok((None, None));
    };
    let nic: NetworkInterface = app
        .arm
        .get(tenant, nic_id, NETWORK_API, &[])
        .await
        .map_err(|e| StepError::arm("reading the network interface", &e))?;
    let configs = &nic.properties.ip_configurations;
    let Some(config) = configs
        .iter()
        .find(|c| c.properties.primary == Some(true))
        .or_else(|| configs.first())
    else {
        return Ok((None, None));
    };
    let private_ip = config.properties.private_ip_address.clone();
    let public_ip = match &config.properties.public_ip_address {
        Some(pip) if !pip.id.is_empty() => {
            let pip: PublicIpAddress = app
                .arm
                .get(tenant, &pip.id, NETWORK_API, &[])
                .await
                .map_err(|e| StepError::arm("reading the public IP address", &e))?;
            pip.properties.ip_address
        }
        _ => None,
    };
    Ok((private_ip, public_ip))
}
