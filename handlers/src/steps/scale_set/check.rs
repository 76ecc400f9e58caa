//! `vm-provisioning` for a scale set: one check per delivery, then the next one scheduled
//! (`IMAGEFERRY_PROVISIONING_POLL` later, or `pauseBetweenBatches` after a healthy batch), or the
//! end. No function waits: every long-running operation (PUT, PATCH, `manualupgrade`) is
//! followed by these checks.
//!
//! Phases ([`ScaleSetPhase`]):
//! - `create` / `update`: the PUT's or PATCH's operation (or the scale set's provisioning state);
//!   then `settle` (a new scale set), the first batch (`batches`) or `rolling`;
//! - `startBatch`: `manualupgrade` of the batch's instances that are not on the model yet; none
//!   left (a replayed message) means no POST at all;
//! - `batch`: the batch's operation, then its instances Succeeded and healthy within the grace
//!   period; then the next batch after the pause, or `succeeded`; more than
//!   `maxUnhealthyPercent` of all instances unhealthy halts it (`failed`, `UnhealthyInstances`,
//!   naming the batch, the instances and their health);
//! - `rolling`: `rollingUpgrades/latest` until Completed (then `settle`), Faulted or Cancelled
//!   (`failed`, naming the instances Azure names);
//! - `settle`: every instance on the version, Succeeded and healthy (`succeeded`), or more than
//!   `maxUnhealthyPercent` unhealthy when the grace period is over (`failed`).
//!
//! Every check first reads the scale set: its model must still name this version (else
//! `failed`, `Superseded`: a newer version's deployment took over).
//!
//! Trust: the scale set is the one `TargetNames::of(request)` derives (else `rejected`,
//! `ForeignResource`); an operation URL must be the scale set's own (`UntrustedUrl`); instance ids
//! and `healthyBy` must be what imageferry writes ([`ScaleSetProvisioning::check`]).

use super::bodies;
use super::fleet::{Fleet, describe};
use crate::app::App;
use crate::calls::{
    SCALE_SET_GET, SCALE_SET_INSTANCES_GET, SCALE_SET_MANUAL_UPGRADE, SCALE_SET_OPERATION_GET,
    SCALE_SET_ROLLING_LATEST,
};
use crate::names::TargetNames;
use crate::outcome::StepError;
use crate::steps::Delivery;
use crate::steps::checks::{admit, before_deadline};
use azure_clients::arm::{Accepted, ArmError, OperationRef, OperationState, PollKind, PutRequest};
use azure_clients::models::{
    ProvisioningState, RollingUpgradeStatus, ScaleSetVm, VirtualMachineScaleSet,
};
use imageferry_contract::{
    DeploymentEvent, EventError, ImageId, InstanceHealth, OperationKind, PendingOperation,
    ResourceId, ScaleSetPhase, ScaleSetProvisioning, ScaleSetSpec, ScaleSetState, Status, Step,
};
use serde::de::IgnoredAny;
use std::time::Duration;
use time::OffsetDateTime;

const FORGED: &str = "vm-provisioning messages are sent by imageferry itself; do not forge them";

/// Runs one check.
pub(crate) async fn run(
    app: &App,
    d: &Delivery,
    msg: ScaleSetProvisioning,
) -> Result<(), StepError> {
    let (image, names) = admit(app, &msg.request)?;
    let spec = super::spec(&msg.request)?;
    if ResourceId::parse(&msg.scale_set_id).ok().as_ref() != Some(&names.scale_set) {
        return Err(StepError::rejected(
            "ForeignResource",
            format!(
                "scaleSetId {:?} is not the scale set this request names ({})",
                msg.scale_set_id, names.scale_set
            ),
            Some(FORGED.into()),
        ));
    }
    if let Some(op) = msg.operation()
        && !names.is_scale_set_operation(&msg.request, &op.url, &app.arm.endpoints().arm)
    {
        return Err(StepError::rejected(
            "UntrustedUrl",
            format!(
                "operation {} is not an operation of the scale set (on {} under /subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/ or the scale set's own path)",
                op.url,
                app.arm.endpoints().arm,
                msg.request.target.subscription_id,
                msg.request.target.location
            ),
            Some(FORGED.into()),
        ));
    }
    let grace = grace(spec);
    msg.check(app.clock.now(), grace)
        .map_err(|why| StepError::rejected("InvalidMessage", why, Some(FORGED.into())))?;
    before_deadline(
        app,
        msg.deadline,
        &format!(
            "the scale set {} was still {}",
            spec.name,
            doing(&msg.phase)
        ),
        None,
    )?;
    let c = Check {
        app,
        d,
        msg: &msg,
        spec,
        image: &image,
        names: &names,
    };
    let ss = c.scale_set().await?;
    match msg.phase.clone() {
        ScaleSetPhase::Create { operation } => c.create(operation, &ss).await,
        ScaleSetPhase::Update { operation } => c.update(operation, &ss).await,
        ScaleSetPhase::Settle { healthy_by } => c.settle(healthy_by, None).await,
        ScaleSetPhase::StartBatch {
            number,
            instance_ids,
        } => {
            let fleet = c.fleet().await?;
            c.start_batch(number, instance_ids, &fleet).await
        }
        ScaleSetPhase::Batch {
            number,
            instance_ids,
            operation,
            healthy_by,
        } => c.batch(number, instance_ids, operation, healthy_by).await,
        ScaleSetPhase::Rolling {} => c.rolling().await,
    }
}

/// How long new instances have to report healthy (none to wait for without a probe).
fn grace(spec: &ScaleSetSpec) -> Duration {
    spec.health.as_ref().map_or(Duration::ZERO, |h| h.grace())
}

fn doing(phase: &ScaleSetPhase) -> String {
    match phase {
        ScaleSetPhase::Create { .. } => "being created".into(),
        ScaleSetPhase::Update { .. } => "being updated".into(),
        ScaleSetPhase::Settle { .. } => "waiting for its instances to be healthy".into(),
        ScaleSetPhase::StartBatch { number, .. } | ScaleSetPhase::Batch { number, .. } => {
            format!("upgrading batch {number}")
        }
        ScaleSetPhase::Rolling {} => "in its rolling upgrade".into(),
    }
}

/// Where an operation stands.
enum Op {
    Running,
    Done,
}

struct Check<'a> {
    app: &'a App,
    d: &'a Delivery,
    msg: &'a ScaleSetProvisioning,
    spec: &'a ScaleSetSpec,
    image: &'a ImageId,
    names: &'a TargetNames,
}

impl Check<'_> {
    fn tenant(&self) -> &str {
        &self.msg.request.target.tenant_id
    }

    fn now(&self) -> OffsetDateTime {
        self.app.clock.now()
    }

    /// The scale set, whose model must still name this version.
    async fn scale_set(&self) -> Result<VirtualMachineScaleSet, StepError> {
        let ss: Option<VirtualMachineScaleSet> = self
            .app
            .arm
            .get_optional(
                self.tenant(),
                &SCALE_SET_GET.path(self.names),
                SCALE_SET_GET.api_version(),
                SCALE_SET_GET.query,
            )
            .await
            .map_err(|e| StepError::arm("reading the scale set", &e))?;
        let Some(ss) = ss else {
            return Err(StepError::failed(
                "ScaleSetNotFound",
                format!(
                    "scale set {} disappeared while it was {}",
                    self.names.scale_set,
                    doing(&self.msg.phase)
                ),
                Some("check the resource group's activity log; send the request again to create it anew".into()),
            ));
        };
        let model = ss
            .properties
            .virtual_machine_profile
            .as_ref()
            .and_then(|p| p.image())
            .unwrap_or_default();
        if !model.eq_ignore_ascii_case(&self.image.to_string()) {
            return Err(StepError::failed(
                "Superseded",
                format!(
                    "the model of scale set {} names {model} now, not {}: another deployment changed it; this one stops",
                    self.names.scale_set, self.image
                ),
                Some("the deployment of the newer version carries on; see its status".into()),
            ));
        }
        Ok(ss)
    }

    /// The instances with their instance views.
    async fn fleet(&self) -> Result<Fleet, StepError> {
        let vms: Vec<ScaleSetVm> = self
            .app
            .arm
            .list(
                self.tenant(),
                &SCALE_SET_INSTANCES_GET.path(self.names),
                SCALE_SET_INSTANCES_GET.api_version(),
                SCALE_SET_INSTANCES_GET.query,
            )
            .await
            .map_err(|e| StepError::arm("reading the scale set's instances", &e))?;
        Ok(Fleet::read(
            &vms,
            self.image.version(),
            self.spec.health.is_some(),
        ))
    }

    /// Polls `op` once (or, without one, reads the scale set's provisioning state).
    async fn operation(
        &self,
        op: Option<&PendingOperation>,
        ss: Option<&VirtualMachineScaleSet>,
        doing: &str,
    ) -> Result<Op, StepError> {
        let Some(op) = op else {
            let state = ss.and_then(|s| s.properties.provisioning_state.clone());
            return match state {
                None | Some(ProvisioningState::Succeeded) => Ok(Op::Done),
                Some(s @ (ProvisioningState::Failed | ProvisioningState::Canceled)) => {
                    Err(StepError::failed(
                        "ProvisioningFailed",
                        format!("{doing}: scale set {} is {s}", self.names.scale_set),
                        Some(FAILED_HINT.into()),
                    ))
                }
                Some(_) => Ok(Op::Running),
            };
        };
        let op_ref = OperationRef {
            kind: match op.kind {
                OperationKind::AzureAsyncOperation => PollKind::AzureAsyncOperation,
                OperationKind::Location => PollKind::Location,
            },
            url: op.url.clone(),
            resource_path: self.names.scale_set.to_string(),
            api_version: SCALE_SET_OPERATION_GET.api_version().into(),
            retry_after_secs: None,
        };
        let status = self
            .app
            .arm
            .operation_status(self.tenant(), &op_ref)
            .await
            .map_err(|e| StepError::arm(&format!("polling {doing}"), &e))?;
        match status.state {
            OperationState::Succeeded => Ok(Op::Done),
            OperationState::Failed | OperationState::Canceled => {
                let detail = status.error.unwrap_or_default();
                let error = ArmError::from_operation(status.state.as_str(), &detail);
                Err(StepError::Failed {
                    error: EventError {
                        code: if detail.code.is_empty() {
                            "ProvisioningFailed".into()
                        } else {
                            error.code().to_string()
                        },
                        message: format!("{doing} {}: {}", status.state.as_str(), detail.message),
                        hint: error.hint().or_else(|| Some(FAILED_HINT.into())),
                    },
                    progress: None,
                })
            }
            _ => Ok(Op::Running),
        }
    }

    /// Schedules the next check in `delay` with `phase`.
    async fn next(&self, phase: ScaleSetPhase, delay: Duration) -> Result<(), StepError> {
        let next = ScaleSetProvisioning {
            attempt: self.msg.attempt.saturating_add(1),
            phase,
            ..self.msg.clone()
        };
        self.app
            .send_step(
                Step::VmProvisioning,
                &self.msg.request.deployment_id,
                next.attempt,
                &next,
                delay,
            )
            .await
    }

    fn state(
        &self,
        fleet: &Fleet,
        batch: Option<(u32, &[String])>,
        unhealthy: Vec<InstanceHealth>,
    ) -> ScaleSetState {
        ScaleSetState {
            id: self.names.scale_set.to_string(),
            version: self.image.version().to_string(),
            instances: fleet.total() as u32,
            on_version: fleet.on_version() as u32,
            batch: batch.map(|b| b.0),
            batch_instances: batch.map(|b| b.1.to_vec()).unwrap_or_default(),
            unhealthy,
        }
    }

    /// Publishes `provisioning` with `detail` and the scale set's state.
    async fn progress(&self, detail: String, state: ScaleSetState) -> Result<(), StepError> {
        let mut event = DeploymentEvent::new(
            &self.msg.request.deployment_id,
            Status::Provisioning,
            self.d.step,
            self.now(),
            detail,
        );
        event.scale_set = Some(state);
        self.app.publish(&event, self.msg.attempt, None).await
    }

    async fn create(
        &self,
        operation: Option<PendingOperation>,
        ss: &VirtualMachineScaleSet,
    ) -> Result<(), StepError> {
        match self
            .operation(operation.as_ref(), Some(ss), "creating the scale set")
            .await?
        {
            Op::Running => {
                self.next(
                    ScaleSetPhase::Create { operation },
                    self.app.config.provisioning_poll,
                )
                .await
            }
            Op::Done => {
                let healthy_by = imageferry_contract::saturating_add(self.now(), grace(self.spec));
                self.settle(healthy_by, None).await
            }
        }
    }

    async fn update(
        &self,
        operation: Option<PendingOperation>,
        ss: &VirtualMachineScaleSet,
    ) -> Result<(), StepError> {
        if let Op::Running = self
            .operation(operation.as_ref(), Some(ss), "updating the scale set")
            .await?
        {
            return self
                .next(
                    ScaleSetPhase::Update { operation },
                    self.app.config.provisioning_poll,
                )
                .await;
        }
        let fleet = self.fleet().await?;
        if self.spec.upgrade == imageferry_contract::UpgradeMode::Rolling {
            return self.rolling_with(&fleet).await;
        }
        if fleet.out_of_date().is_empty() {
            let healthy_by = imageferry_contract::saturating_add(self.now(), grace(self.spec));
            return self.settle(healthy_by, Some(fleet)).await;
        }
        let unhealthy = fleet.unhealthy_now();
        if self.spec.too_unhealthy(unhealthy.len(), fleet.total()) {
            return Err(self.halted(None, &unhealthy, &fleet));
        }
        let ids = fleet.next_batch(self.spec);
        self.start_batch(1, ids, &fleet).await
    }

    /// `manualupgrade` of the batch's instances that still need it (none: no POST).
    async fn start_batch(
        &self,
        number: u32,
        instance_ids: Vec<String>,
        fleet: &Fleet,
    ) -> Result<(), StepError> {
        let to_upgrade: Vec<String> = instance_ids
            .iter()
            .filter(|id| fleet.get(id).is_some_and(|i| !i.on_version && !i.busy))
            .cloned()
            .collect();
        let operation = if to_upgrade.is_empty() {
            tracing::info!(
                batch = number,
                "the batch's instances are on the model or upgrading already; no manualupgrade"
            );
            None
        } else {
            let accepted: Accepted<IgnoredAny> = self
                .app
                .arm
                .post(PutRequest {
                    tenant: self.tenant(),
                    aux_tenants: &[],
                    path: &SCALE_SET_MANUAL_UPGRADE.path(self.names),
                    api_version: SCALE_SET_MANUAL_UPGRADE.api_version(),
                    body: &bodies::manual_upgrade(&to_upgrade),
                })
                .await
                .map_err(|e| StepError::arm(&format!("upgrading batch {number}"), &e))?;
            super::deploy::trusted_operation(self.app, &self.msg.request, self.names, accepted)
        };
        let posted = !to_upgrade.is_empty();
        self.next(
            ScaleSetPhase::Batch {
                number,
                instance_ids: instance_ids.clone(),
                operation,
                healthy_by: None,
            },
            self.app.config.provisioning_poll,
        )
        .await?;
        if posted {
            self.progress(
                format!(
                    "scale set {}: batch {number}: upgrading instance(s) {} to {} ({} of {} on it)",
                    self.spec.name,
                    to_upgrade.join(", "),
                    self.image.version(),
                    fleet.on_version(),
                    fleet.total()
                ),
                self.state(fleet, Some((number, &instance_ids)), Vec::new()),
            )
            .await?;
        }
        Ok(())
    }

    async fn batch(
        &self,
        number: u32,
        instance_ids: Vec<String>,
        operation: Option<PendingOperation>,
        healthy_by: Option<OffsetDateTime>,
    ) -> Result<(), StepError> {
        let healthy_by = match healthy_by {
            Some(t) => t,
            None => {
                let doing = format!(
                    "upgrading batch {number} (instances {})",
                    instance_ids.join(", ")
                );
                if let Op::Running = self.operation(operation.as_ref(), None, &doing).await? {
                    return self
                        .next(
                            ScaleSetPhase::Batch {
                                number,
                                instance_ids,
                                operation,
                                healthy_by: None,
                            },
                            self.app.config.provisioning_poll,
                        )
                        .await;
                }
                imageferry_contract::saturating_add(self.now(), grace(self.spec))
            }
        };
        let fleet = self.fleet().await?;
        let members: Vec<String> = instance_ids
            .iter()
            .filter(|id| fleet.get(id).is_some())
            .cloned()
            .collect();
        let grace_over = self.now() >= healthy_by;
        let verdict = fleet.judge(Some(&members), grace_over);
        if !verdict.all_healthy() && !grace_over {
            return self
                .next(
                    ScaleSetPhase::Batch {
                        number,
                        instance_ids,
                        operation: None,
                        healthy_by: Some(healthy_by),
                    },
                    self.app.config.provisioning_poll,
                )
                .await;
        }
        // The batch is judged: its unhealthy instances and any other that is unhealthy now.
        let mut unhealthy = verdict.unhealthy;
        for other in fleet.unhealthy_now() {
            if !unhealthy.iter().any(|u| u.instance_id == other.instance_id) {
                unhealthy.push(other);
            }
        }
        if self.spec.too_unhealthy(unhealthy.len(), fleet.total()) {
            return Err(self.halted(Some((number, &instance_ids)), &unhealthy, &fleet));
        }
        if fleet.out_of_date().is_empty() {
            if fleet.instances.iter().any(|i| !i.on_version) {
                // Still upgrading (not by imageferry): wait for them like a new scale set.
                let healthy_by = imageferry_contract::saturating_add(self.now(), grace(self.spec));
                return self
                    .next(
                        ScaleSetPhase::Settle { healthy_by },
                        self.app.config.provisioning_poll,
                    )
                    .await;
            }
            return self.succeed(&fleet, unhealthy).await;
        }
        let next_ids = fleet.next_batch(self.spec);
        let pause = self.spec.pause();
        self.next(
            ScaleSetPhase::StartBatch {
                number: number.saturating_add(1),
                instance_ids: next_ids.clone(),
            },
            pause,
        )
        .await?;
        self.progress(
            format!(
                "scale set {}: batch {number} (instance(s) {}) runs {} and is healthy; batch {} (instance(s) {}) {}",
                self.spec.name,
                instance_ids.join(", "),
                self.image.version(),
                number.saturating_add(1),
                next_ids.join(", "),
                if pause.is_zero() {
                    "now".to_string()
                } else {
                    format!("in {}s", pause.as_secs())
                }
            ),
            self.state(&fleet, Some((number, &instance_ids)), unhealthy),
        )
        .await
    }

    async fn rolling(&self) -> Result<(), StepError> {
        let fleet = self.fleet().await?;
        self.rolling_with(&fleet).await
    }

    /// Follows `rollingUpgrades/latest`: the upgrade the PATCH started (its operation has ended
    /// before the first check, so the latest upgrade is this version's).
    async fn rolling_with(&self, fleet: &Fleet) -> Result<(), StepError> {
        let latest: Option<RollingUpgradeStatus> = self
            .app
            .arm
            .get_optional(
                self.tenant(),
                &SCALE_SET_ROLLING_LATEST.path(self.names),
                SCALE_SET_ROLLING_LATEST.api_version(),
                SCALE_SET_ROLLING_LATEST.query,
            )
            .await
            .map_err(|e| StepError::arm("reading the rolling upgrade", &e))?;
        let poll = self.app.config.provisioning_poll;
        let Some(latest) = latest else {
            if fleet.out_of_date().is_empty() && fleet.instances.iter().all(|i| i.on_version) {
                let healthy_by = imageferry_contract::saturating_add(self.now(), grace(self.spec));
                return self.settle(healthy_by, Some(fleet.clone())).await;
            }
            return self.next(ScaleSetPhase::Rolling {}, poll).await;
        };
        let p = &latest.properties;
        let code = p
            .running_status
            .as_ref()
            .map(|s| s.code.clone())
            .unwrap_or_default();
        match code.to_ascii_lowercase().as_str() {
            "completed" => {
                let healthy_by = imageferry_contract::saturating_add(self.now(), grace(self.spec));
                self.settle(healthy_by, Some(fleet.clone())).await
            }
            "faulted" | "cancelled" => {
                let error = p.error.clone().unwrap_or_default();
                let named: Vec<InstanceHealth> = error
                    .details
                    .iter()
                    .filter_map(|d| {
                        Some(InstanceHealth {
                            instance_id: d.target.clone()?,
                            health: d.code.clone(),
                        })
                    })
                    .collect();
                let cancelled = code.eq_ignore_ascii_case("cancelled");
                Err(StepError::failed(
                    if cancelled {
                        "RollingUpgradeCancelled"
                    } else if error.code.is_empty() {
                        "RollingUpgradeFaulted"
                    } else {
                        &error.code
                    },
                    format!(
                        "the rolling upgrade of scale set {} to {} was {}: {}{} ({} of {} instances on it)",
                        self.spec.name,
                        self.image.version(),
                        if cancelled { "cancelled" } else { "faulted" },
                        if error.message.is_empty() {
                            "no reason given"
                        } else {
                            &error.message
                        },
                        if named.is_empty() {
                            String::new()
                        } else {
                            format!("; {}", describe(&named))
                        },
                        fleet.on_version(),
                        fleet.total()
                    ),
                    Some(format!(
                        "the upgraded instances run {}; fix the application or the image and publish a newer version",
                        self.image.version()
                    )),
                ))
            }
            _ => {
                self.next(ScaleSetPhase::Rolling {}, poll).await?;
                let progress = p.progress.clone().unwrap_or_default();
                self.progress(
                    format!(
                        "scale set {}: rolling upgrade to {} {}: {} upgraded, {} in progress, {} pending, {} failed",
                        self.spec.name,
                        self.image.version(),
                        if code.is_empty() { "starting" } else { &code },
                        progress.successful_instance_count,
                        progress.in_progress_instance_count,
                        progress.pending_instance_count,
                        progress.failed_instance_count
                    ),
                    self.state(fleet, None, fleet.unhealthy_now()),
                )
                .await
            }
        }
    }

    /// Every instance on the version and healthy: `succeeded`; still on the way within the
    /// grace period: check again; past it, more unhealthy than allowed: `failed`.
    async fn settle(
        &self,
        healthy_by: OffsetDateTime,
        fleet: Option<Fleet>,
    ) -> Result<(), StepError> {
        let fleet = match fleet {
            Some(f) => f,
            None => self.fleet().await?,
        };
        let grace_over = self.now() >= healthy_by;
        let verdict = fleet.judge(None, grace_over);
        if verdict.all_healthy() {
            return self.succeed(&fleet, Vec::new()).await;
        }
        if !grace_over {
            self.next(
                ScaleSetPhase::Settle { healthy_by },
                self.app.config.provisioning_poll,
            )
            .await?;
            return self
                .progress(
                    format!(
                        "scale set {}: {} of {} instance(s) on {} and healthy; waiting for {}",
                        self.spec.name,
                        verdict.healthy,
                        fleet.total(),
                        self.image.version(),
                        describe(&verdict.pending)
                    ),
                    self.state(&fleet, None, verdict.unhealthy),
                )
                .await;
        }
        if self
            .spec
            .too_unhealthy(verdict.unhealthy.len(), fleet.total())
        {
            return Err(self.halted(None, &verdict.unhealthy, &fleet));
        }
        self.succeed(&fleet, verdict.unhealthy).await
    }

    /// `succeeded`: the scale set and how many instances run the version (the unhealthy ones
    /// `maxUnhealthyPercent` tolerates named).
    async fn succeed(
        &self,
        fleet: &Fleet,
        tolerated: Vec<InstanceHealth>,
    ) -> Result<(), StepError> {
        let mut detail = format!(
            "scale set {}: {} of {} instance(s) run {} and are healthy",
            self.spec.name,
            fleet.total() - tolerated.len(),
            fleet.total(),
            self.image.version()
        );
        if !tolerated.is_empty() {
            detail.push_str(&format!(
                "; {} within maxUnhealthyPercent {}%: {}",
                if tolerated.len() == 1 {
                    "one unhealthy".to_string()
                } else {
                    format!("{} unhealthy", tolerated.len())
                },
                self.spec.max_unhealthy_percent(),
                describe(&tolerated)
            ));
        }
        let mut event = DeploymentEvent::new(
            &self.msg.request.deployment_id,
            Status::Succeeded,
            self.d.step,
            self.now(),
            detail,
        );
        event.scale_set = Some(self.state(fleet, None, tolerated));
        self.app.publish(&event, 0, None).await
    }

    /// The failure of a health gate: the batch (if any), the instances and their health.
    fn halted(
        &self,
        batch: Option<(u32, &[String])>,
        unhealthy: &[InstanceHealth],
        fleet: &Fleet,
    ) -> StepError {
        let at = match batch {
            Some((n, ids)) => format!("halted at batch {n} (instance(s) {})", ids.join(", ")),
            None if fleet.on_version() == 0 => "halted before the first batch".to_string(),
            None => "halted".to_string(),
        };
        StepError::failed(
            "UnhealthyInstances",
            format!(
                "scale set {} {at}: {}: {} of {} instance(s) unhealthy, more than maxUnhealthyPercent {}% ({} of {} on {})",
                self.spec.name,
                describe(unhealthy),
                unhealthy.len(),
                fleet.total(),
                self.spec.max_unhealthy_percent(),
                fleet.on_version(),
                fleet.total(),
                self.image.version()
            ),
            Some(format!(
                "the upgraded instances run {}, the others the version before; fix the application or the image and publish a newer version (the health probe and grace period are scaleSet.health)",
                self.image.version()
            )),
        )
    }
}

/// Advice for a scale-set operation that failed without a specific fix.
const FAILED_HINT: &str =
    "see the scale set's instance views and the resource group's activity log for the cause";
