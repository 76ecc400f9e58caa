//! Upgrading instances: `manualupgrade` (the named instances, in parallel), the rolling upgrade
//! (started by `osRollingUpgrade`, or by a model change in Rolling mode), `rollingUpgrades/latest`,
//! `rollingUpgrades/cancel`, and the event loop that moves instances and upgrades along the
//! simulated clock.
//!
//! The rolling upgrade follows Microsoft's documentation (virtual-machine-scale-sets-configure-rolling-upgrades.md,
//! virtual-machine-scale-sets-automatic-upgrade.md, the RollingUpgradePolicy swagger): before each
//! batch, more than `maxUnhealthyInstancePercent` of all instances unhealthy stops it; a batch is
//! `maxBatchInstancePercent` of the instances (at least one); each upgraded instance gets
//! `health_wait_secs` (documented: 5 minutes) to report healthy; more than
//! `maxUnhealthyUpgradedInstancePercent` of the instances unhealthy after being upgraded stops it;
//! `pauseTimeBetweenBatches` (ISO 8601) separates batches. Unknown health counts as unhealthy,
//! Initializing is waited for. The stop codes are the documented ones
//! (`MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade`,
//! `MaxUnhealthyInstancePercentExceededInRollingUpgrade`,
//! `MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade`); their messages are modelled on
//! the fragment azure-powershell's scale-set tests match ("failed due to exceeding the
//! MaxUnhealthyInstancePercent value"). `osRollingUpgrade`'s operation lasts as long as the
//! upgrade and fails when it faults (azure-powershell's `Start-AzVmssRollingOSUpgrade` job ends
//! Failed with that message); a cancel with nothing running is 409 "There is no ongoing Rolling
//! Upgrade to cancel." (the text azure-powershell and terraform-provider-azurerm match).

use http::StatusCode;
use serde_json::{Value, json};

use super::super::health::{self, HealthCode};
use super::super::resources::{Kind, parse_body};
use super::super::{ArmResult, Ctx, lro, schema};
use super::{ScaleSet, instances, model, orphaned};
use crate::http::Reply;
use crate::sim::Sim;
use crate::state::{State, key};

/// `RollingUpgradeStatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    RollingForward,
    Cancelled,
    Completed,
    Faulted,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::RollingForward => "RollingForward",
            Code::Cancelled => "Cancelled",
            Code::Completed => "Completed",
            Code::Faulted => "Faulted",
        }
    }
}

/// Where a running upgrade is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    /// The next batch starts at.
    Before(f64),
    /// The batch's instances are upgraded at.
    Upgrading(f64),
    /// The batch was upgraded at `from`; its instances must be healthy by `deadline`.
    Settling { from: f64, deadline: f64 },
    /// Ended at.
    Done(f64),
}

/// The policy an upgrade runs with (RollingUpgradePolicy with its documented defaults).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    batch_percent: u64,
    max_unhealthy_percent: u64,
    max_unhealthy_upgraded_percent: u64,
    pause_secs: f64,
    /// As the model gives it, with the defaults filled in (shown by `rollingUpgrades/latest`).
    shown: Value,
}

impl Policy {
    fn of(body: &Value) -> Self {
        let p = &body["properties"]["upgradePolicy"]["rollingUpgradePolicy"];
        let pct = |f: &str| p[f].as_u64().unwrap_or(20);
        let pause = p["pauseTimeBetweenBatches"].as_str().unwrap_or("PT0S");
        let mut shown = json!({
            "maxBatchInstancePercent": pct("maxBatchInstancePercent"),
            "maxUnhealthyInstancePercent": pct("maxUnhealthyInstancePercent"),
            "maxUnhealthyUpgradedInstancePercent": pct("maxUnhealthyUpgradedInstancePercent"),
            "pauseTimeBetweenBatches": pause,
        });
        for flag in [
            "enableCrossZoneUpgrade",
            "prioritizeUnhealthyInstances",
            "rollbackFailedInstancesOnPolicyBreach",
            "maxSurge",
        ] {
            shown[flag] = json!(p[flag].as_bool().unwrap_or(false));
        }
        Self {
            batch_percent: pct("maxBatchInstancePercent"),
            max_unhealthy_percent: pct("maxUnhealthyInstancePercent"),
            max_unhealthy_upgraded_percent: pct("maxUnhealthyUpgradedInstancePercent"),
            pause_secs: iso_duration_secs(pause).unwrap_or(0.0),
            shown,
        }
    }
}

/// Seconds of an ISO 8601 duration such as `PT0S`, `PT2S`, `PT1M30S`, `PT1H`, `P0D`.
pub(crate) fn iso_duration_secs(d: &str) -> Option<f64> {
    let d = d.trim().to_ascii_uppercase();
    let rest = d.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut total = 0.0;
    let mut parse = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let (_, mult) = units.iter().find(|(u, _)| *u == c)?;
                total += num.parse::<f64>().ok()? * mult;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    parse(days, &[('D', 86400.0)])?;
    parse(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    Some(total)
}

/// Why an upgrade stopped.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    code: &'static str,
    message: String,
    /// (instance id, its health or failure).
    instances: Vec<(u64, String)>,
}

/// A rolling upgrade.
#[derive(Debug, Clone)]
pub(crate) struct Upgrade {
    policy: Policy,
    start: f64,
    pub(crate) code: Code,
    last_action: &'static str,
    last_action_at: f64,
    pending: Vec<u64>,
    batch: Vec<u64>,
    successful: Vec<u64>,
    failed: Vec<(u64, String)>,
    phase: Phase,
    error: Option<Stop>,
    batches: u32,
    /// `osRollingUpgrade` operations that end with it.
    ops: Vec<String>,
}

impl Upgrade {
    fn new(body: &Value, pending: Vec<u64>, now: f64) -> Self {
        Self {
            policy: Policy::of(body),
            start: now,
            code: Code::RollingForward,
            last_action: "Start",
            last_action_at: now,
            pending,
            batch: Vec::new(),
            successful: Vec::new(),
            failed: Vec::new(),
            phase: Phase::Before(now),
            error: None,
            batches: 0,
            ops: Vec::new(),
        }
    }

    fn running(&self) -> bool {
        self.code == Code::RollingForward
    }
}

/// A model change in Rolling mode: a rolling upgrade of the out-of-date instances (a running one
/// takes them over: its pending list is renewed).
pub(super) fn model_changed(set: &mut ScaleSet, body: &Value, out_of_date: Vec<u64>, now: f64) {
    match set.rolling.as_mut().filter(|u| u.running()) {
        Some(u) => {
            u.pending = out_of_date
                .into_iter()
                .filter(|n| !u.batch.contains(n))
                .collect();
        }
        None => set.rolling = Some(Upgrade::new(body, out_of_date, now)),
    }
}

/// Whether an upgrade should touch instance `i`: it runs another model, or another image
/// version than the model resolves to now (`version`; `None` when it resolves to none).
fn out_of_date(i: &super::Instance, profile: &Value, version: &Option<String>) -> bool {
    !instances::runs_model(i, profile) || (version.is_some() && i.version_id != *version)
}

/// Stops a running upgrade (a cancel, a DELETE); its `osRollingUpgrade` operations end `Failed`
/// with code `Canceled`. `false` if none was running.
pub(super) fn abandon(st: &mut State, set: &mut ScaleSet, now: f64) -> bool {
    let Some(u) = set.rolling.as_mut().filter(|u| u.running()) else {
        return false;
    };
    u.code = Code::Cancelled;
    u.last_action = "Cancel";
    u.last_action_at = now;
    u.phase = Phase::Done(now);
    for op in u.ops.drain(..) {
        if let Some(o) = st.operations.get_mut(&op) {
            o.end = now;
            o.fail = Some((
                "Canceled".to_owned(),
                "The rolling upgrade was cancelled.".to_owned(),
            ));
        }
    }
    true
}

fn stop_message(code: &str, percent: u64, unhealthy: &[(u64, String)], total: usize) -> String {
    let names = unhealthy
        .iter()
        .map(|(n, h)| format!("{n} ({h})"))
        .collect::<Vec<_>>()
        .join(", ");
    let (limit, when) = match code {
        "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade" => {
            ("MaxUnhealthyInstancePercent", "before the upgrade started")
        }
        "MaxUnhealthyInstancePercentExceededInRollingUpgrade" => {
            ("MaxUnhealthyInstancePercent", "during the upgrade")
        }
        _ => (
            "MaxUnhealthyUpgradedInstancePercent",
            "after being upgraded",
        ),
    };
    format!(
        "The rolling upgrade failed due to exceeding the {limit} value ({percent}%): {} of {total} instances are unhealthy {when}: {names}.",
        unhealthy.len()
    )
}

/// An `osRollingUpgrade` operation that ends: its id, when, and its error.
type Ended = (String, f64, Option<(String, String)>);

/// Advances scale set `k` to `now`, event by event.
pub(super) fn run(sim: &Sim, st: &mut State, k: &str, now: f64) {
    if orphaned(st, k) {
        st.scale_sets.0.remove(k);
        return;
    }
    let Some(mut set) = st.scale_sets.0.get(k).cloned() else {
        return;
    };
    let Some(model_body) = st.resources.get(k).map(|r| r.body.clone()) else {
        return;
    };
    let settings = sim.scenario.scale_sets.clone();
    let mut finished_ops: Vec<Ended> = Vec::new();
    loop {
        let t_inst = set
            .instances
            .values()
            .filter_map(|i| i.busy.as_ref().map(|b| b.until))
            .fold(f64::INFINITY, f64::min);
        let t_roll =
            set.rolling
                .as_ref()
                .filter(|u| u.running())
                .map_or(f64::INFINITY, |u| match u.phase {
                    Phase::Before(t) | Phase::Upgrading(t) => t,
                    Phase::Settling { from, deadline } => u
                        .batch
                        .iter()
                        .filter_map(|n| set.instances.get(n).map(|i| (n, i)))
                        .map(|(n, i)| {
                            instances::healthy_from(sim, st, &set, *n, i)
                                .unwrap_or(deadline)
                                .max(from)
                        })
                        .fold(from, f64::max)
                        .min(deadline),
                    Phase::Done(_) => f64::INFINITY,
                });
        let t = t_inst.min(t_roll);
        if t > now || !t.is_finite() {
            break;
        }
        if t_inst <= t_roll {
            for i in set.instances.values_mut() {
                if let Some(b) = i.busy.take_if(|b| b.until <= t) {
                    i.profile = b.profile;
                    // An image that resolves to no version now leaves the instance's version.
                    i.version_id = b.version_id.or(i.version_id.take());
                    i.started = b.until;
                    i.failed = b.fail;
                }
            }
            continue;
        }
        step(
            sim,
            st,
            &mut set,
            &model_body,
            &settings,
            t,
            &mut finished_ops,
        );
    }
    for (op, end, fail) in finished_ops {
        if let Some(o) = st.operations.get_mut(&op) {
            o.end = end;
            o.fail = fail;
        }
    }
    st.scale_sets.0.insert(k.to_owned(), set);
}

/// One rolling-upgrade event at simulated time `t`.
fn step(
    sim: &Sim,
    st: &State,
    set: &mut ScaleSet,
    model_body: &Value,
    settings: &super::ScaleSetSettings,
    t: f64,
    finished: &mut Vec<Ended>,
) {
    let Some(mut u) = set.rolling.clone() else {
        return;
    };
    let total = set.instances.len();
    let profile = &model_body["properties"]["virtualMachineProfile"];
    let over = |count: usize, percent: u64| count as u64 * 100 > percent * total as u64;
    let mut end_with: Option<Code> = None;
    match u.phase {
        Phase::Before(_) => {
            let unhealthy: Vec<(u64, String)> = set
                .instances
                .iter()
                .filter_map(|(n, i)| {
                    if let Some((code, _)) = &i.failed {
                        return Some((*n, code.clone()));
                    }
                    instances::health_at(sim, st, set, *n, i, t)
                        .filter(|h| h.counts_unhealthy())
                        .map(|h| (*n, h.code().to_owned()))
                })
                .collect();
            let version = instances::model_version(st, profile, &set.location);
            u.pending.retain(|n| {
                set.instances
                    .get(n)
                    .is_some_and(|i| out_of_date(i, profile, &version))
            });
            if over(unhealthy.len(), u.policy.max_unhealthy_percent) {
                let code = if u.batches == 0 {
                    "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade"
                } else {
                    "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
                };
                u.error = Some(Stop {
                    code,
                    message: stop_message(code, u.policy.max_unhealthy_percent, &unhealthy, total),
                    instances: unhealthy,
                });
                end_with = Some(Code::Faulted);
            } else if u.pending.is_empty() {
                end_with = Some(Code::Completed);
            } else {
                let size = ((total as u64 * u.policy.batch_percent) / 100).max(1) as usize;
                let take = size.min(u.pending.len());
                u.batch = u.pending.drain(..take).collect();
                let until = t + settings.instance_secs;
                let fail = model::extension_failure(profile);
                for n in &u.batch {
                    if let Some(i) = set.instances.get_mut(n) {
                        instances::start_upgrade(i, until, profile, version.clone(), fail.clone());
                    }
                }
                u.phase = Phase::Upgrading(until);
            }
        }
        Phase::Upgrading(from) => {
            u.phase = Phase::Settling {
                from,
                deadline: from + settings.health_wait_secs,
            };
        }
        Phase::Settling { .. } => {
            for n in std::mem::take(&mut u.batch) {
                let Some(i) = set.instances.get(&n) else {
                    continue;
                };
                let verdict = match &i.failed {
                    Some((code, _)) => Some(code.clone()),
                    None => instances::health_at(sim, st, set, n, i, t)
                        .filter(|h| *h != HealthCode::Healthy)
                        .map(|h| h.code().to_owned()),
                };
                match verdict {
                    Some(h) => u.failed.push((n, h)),
                    None => u.successful.push(n),
                }
            }
            u.batches += 1;
            if over(u.failed.len(), u.policy.max_unhealthy_upgraded_percent) {
                let code = "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade";
                u.error = Some(Stop {
                    code,
                    message: stop_message(
                        code,
                        u.policy.max_unhealthy_upgraded_percent,
                        &u.failed,
                        total,
                    ),
                    instances: u.failed.clone(),
                });
                end_with = Some(Code::Faulted);
            } else if u.pending.is_empty() {
                end_with = Some(Code::Completed);
            } else {
                u.phase = Phase::Before(t + u.policy.pause_secs);
            }
        }
        Phase::Done(_) => {}
    }
    if let Some(code) = end_with {
        u.code = code;
        u.phase = Phase::Done(t);
        let fail = u
            .error
            .as_ref()
            .map(|e| (e.code.to_owned(), e.message.clone()));
        finished.extend(u.ops.drain(..).map(|op| (op, t, fail.clone())));
    }
    set.rolling = Some(u);
}

/// `POST .../manualupgrade` `{"instanceIds": [...]}` (`"*"` = all): the named instances that do
/// not run the latest model are upgraded in parallel; the operation ends when they are done. A
/// repeated call for instances already on the model changes nothing.
pub(super) fn manual_upgrade(ctx: &Ctx, id: &str) -> ArmResult {
    let body = parse_body(ctx)?;
    schema::validate_instance_ids(&body)?;
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    let k = key(id);
    let (Some(mut set), Some(model_body)) = (
        st.scale_sets.0.get(&k).cloned(),
        st.resources.get(&k).map(|r| r.body.clone()),
    ) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The scale set '{id}' was not found."),
        ));
    };
    let mut targets = Vec::new();
    for v in body["instanceIds"].as_array().into_iter().flatten() {
        let s = v.as_str().unwrap_or_default();
        if s == "*" {
            targets.extend(set.instances.keys().copied());
            continue;
        }
        match s
            .parse::<u64>()
            .ok()
            .filter(|n| set.instances.contains_key(n))
        {
            Some(n) => targets.push(n),
            None => {
                return Err(Reply::arm_error_target(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    format!(
                        "The provided instanceId {s} is not an active Virtual Machine Scale Set VM instanceId."
                    ),
                    Some("instanceIds"),
                ));
            }
        }
    }
    let profile = model_body["properties"]["virtualMachineProfile"].clone();
    let version = instances::model_version(&st, &profile, &set.location);
    let fail = model::extension_failure(&profile);
    let until = now + ctx.sim.scenario.scale_sets.instance_secs;
    let mut end = now;
    for n in targets {
        let Some(i) = set.instances.get_mut(&n) else {
            continue;
        };
        let heading_there = i.busy.as_ref().is_some_and(|b| b.profile == profile);
        if heading_there || (i.busy.is_none() && instances::runs_model(i, &profile)) {
            continue;
        }
        instances::start_upgrade(i, until, &profile, version.clone(), fail.clone());
        end = until;
    }
    let location = set.location.clone();
    st.scale_sets.0.insert(k, set);
    let fail = fail.filter(|_| end > now);
    let (reply, _) = lro::accepted(
        ctx,
        &mut st,
        Kind::ScaleSet.namespace(),
        id,
        &location,
        now,
        end,
        fail,
        200,
    );
    Ok(reply)
}

/// `POST .../osRollingUpgrade`: a rolling upgrade of the instances whose image version is not the
/// one the model resolves to now (for an image definition id: its latest version replicated to the
/// region). The operation ends with the upgrade; called while one runs, it follows that one.
pub(super) fn start_os_upgrade(ctx: &Ctx, id: &str) -> ArmResult {
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    let k = key(id);
    let (Some(mut set), Some(model_body)) = (
        st.scale_sets.0.get(&k).cloned(),
        st.resources.get(&k).map(|r| r.body.clone()),
    ) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The scale set '{id}' was not found."),
        ));
    };
    let profile = &model_body["properties"]["virtualMachineProfile"];
    let target = instances::model_version(&st, profile, &set.location);
    let location = set.location.clone();
    let (reply, op) = lro::accepted(
        ctx,
        &mut st,
        Kind::ScaleSet.namespace(),
        id,
        &location,
        now,
        f64::INFINITY,
        None,
        200,
    );
    match set.rolling.as_mut().filter(|u| u.running()) {
        Some(u) => u.ops.push(op),
        None => {
            let pending = set
                .instances
                .iter()
                .filter(|(_, i)| out_of_date(i, profile, &target))
                .map(|(n, _)| *n)
                .collect();
            let mut u = Upgrade::new(&model_body, pending, now);
            u.ops.push(op);
            set.rolling = Some(u);
        }
    }
    st.scale_sets.0.insert(k, set);
    Ok(reply)
}

/// `GET .../rollingUpgrades/latest` (RollingUpgradeStatusInfo).
pub(super) fn latest(ctx: &Ctx, id: &str) -> ArmResult {
    let st = ctx.sim.state();
    let Some(set) = st.scale_sets.0.get(&key(id)) else {
        return Err(not_found());
    };
    let Some(u) = &set.rolling else {
        return Err(not_found());
    };
    let in_progress = u
        .batch
        .iter()
        .filter(|n| set.instances.get(n).is_some_and(|i| i.busy.is_some()))
        .count();
    let mut props = json!({
        "policy": u.policy.shown,
        "runningStatus": {
            "code": u.code.as_str(),
            "startTime": health::wall_time(&st, u.start),
            "lastAction": u.last_action,
            "lastActionTime": health::wall_time(&st, u.last_action_at),
        },
        "progress": {
            "successfulInstanceCount": u.successful.len(),
            "failedInstanceCount": u.failed.len(),
            "inProgressInstanceCount": in_progress,
            "pendingInstanceCount": u.pending.len(),
        }
    });
    if let Some(e) = &u.error {
        props["error"] = json!({
            "code": e.code,
            "message": e.message,
            "details": e.instances.iter().map(|(n, h)| json!({
                "code": h, "target": n.to_string(),
                "message": format!("Instance {n} reports {h}.")
            })).collect::<Vec<_>>()
        });
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({
            "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades",
            "location": set.location,
            "properties": props
        }),
    ))
}

fn not_found() -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The entity was not found in this Azure location.",
    )
}

/// `POST .../rollingUpgrades/cancel`: a running upgrade stops (its batch finishes, the rest stays
/// on the old model); its `osRollingUpgrade` operations end `Failed` with code `Canceled`.
pub(super) fn cancel(ctx: &Ctx, id: &str) -> ArmResult {
    let mut st = ctx.sim.state();
    let now = st.clock.now();
    let k = key(id);
    let Some(mut set) = st.scale_sets.0.get(&k).cloned() else {
        return Err(not_found());
    };
    if !abandon(&mut st, &mut set, now) {
        return Err(Reply::arm_error(
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            "There is no ongoing Rolling Upgrade to cancel.",
        ));
    }
    let location = set.location.clone();
    st.scale_sets.0.insert(k, set);
    let (reply, _) = lro::accepted(
        ctx,
        &mut st,
        Kind::ScaleSet.namespace(),
        id,
        &location,
        now,
        now,
        None,
        200,
    );
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration_secs("PT0S"), Some(0.0));
        assert_eq!(iso_duration_secs("PT2S"), Some(2.0));
        assert_eq!(iso_duration_secs("PT1M30S"), Some(90.0));
        assert_eq!(iso_duration_secs("PT1H"), Some(3600.0));
        assert_eq!(iso_duration_secs("P1DT1S"), Some(86401.0));
        assert_eq!(iso_duration_secs("aaaa"), None);
        assert_eq!(iso_duration_secs("PT5X"), None);
    }
}
