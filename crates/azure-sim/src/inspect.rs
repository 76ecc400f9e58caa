//! Inspection and control endpoints under `/_sim/` (not part of any Azure API).

use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::arm::region;
use crate::http::{Reply, Req};
use crate::scenario::Faults;
use crate::server::{SimError, sim_token};
use crate::sim::Sim;
use crate::state::{ResourceRecord, key};

/// All resources rendered at the current simulated time.
pub(crate) fn resources(sim: &Sim) -> Vec<ResourceRecord> {
    crate::arm::catch_up(sim);
    let st = sim.state();
    let now = st.clock.now();
    st.resources
        .values()
        .map(|r| {
            let body = crate::arm::render_resource(r, now);
            ResourceRecord {
                id: r.id.clone(),
                resource_type: r.resource_type.clone(),
                provisioning_state: body["properties"]["provisioningState"]
                    .as_str()
                    .unwrap_or("Succeeded")
                    .to_owned(),
                put_count: r.put_count,
                body,
            }
        })
        .collect()
}

/// Completes or fails replication of a version in a region.
pub(crate) fn set_replication(
    sim: &Sim,
    version_id: &str,
    region_name: &str,
    fail: bool,
) -> Result<(), SimError> {
    let mut st = sim.state();
    let r = st
        .resources
        .get_mut(&key(version_id))
        .filter(|r| !r.replication.is_empty())
        .ok_or_else(|| SimError::NoSuchResource(version_id.to_owned()))?;
    let reg = r
        .replication
        .iter_mut()
        .find(|x| region::same(&x.name, region_name))
        .ok_or_else(|| SimError::NoSuchRegion {
            version: version_id.to_owned(),
            region: region_name.to_owned(),
        })?;
    if fail {
        reg.failed = true;
    } else {
        reg.failed = false;
        reg.forced_complete = true;
    }
    Ok(())
}

#[derive(Deserialize)]
struct ReplicationCommand {
    version_id: String,
    region: String,
    action: String,
}

#[derive(Deserialize)]
struct AdvanceCommand {
    seconds: f64,
}

#[derive(Deserialize)]
struct FederatedCommand {
    subject: String,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audience: Option<String>,
}

fn bad_request(message: String) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, json!({"error": message}))
}

fn parse<T: for<'de> Deserialize<'de>>(req: &Req) -> Result<T, Reply> {
    serde_json::from_slice(&req.body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

/// Handles `/_sim/...`.
pub(crate) fn handle(sim: &Sim, req: &Req) -> Reply {
    match handle_inner(sim, req) {
        Ok(r) | Err(r) => r,
    }
}

fn handle_inner(sim: &Sim, req: &Req) -> Result<Reply, Reply> {
    let ok = |v: Value| Ok(Reply::json(StatusCode::OK, v));
    if let Some(r) = crate::arm::health::handle_sim(sim, req) {
        return Ok(r);
    }
    match (&req.method, req.path.as_str()) {
        (&Method::GET, "/_sim/requests") => {
            ok(serde_json::to_value(&sim.state().requests).unwrap_or_default())
        }
        (&Method::DELETE, "/_sim/requests") => {
            sim.state().requests.clear();
            ok(json!({}))
        }
        (&Method::GET, "/_sim/resources") => {
            ok(serde_json::to_value(resources(sim)).unwrap_or_default())
        }
        (&Method::POST, "/_sim/replication") => {
            let cmd: ReplicationCommand = parse(req)?;
            let fail = match cmd.action.as_str() {
                "complete" => false,
                "fail" => true,
                other => {
                    return Err(bad_request(format!(
                        "action must be complete or fail, not {other}"
                    )));
                }
            };
            set_replication(sim, &cmd.version_id, &cmd.region, fail)
                .map_err(|e| Reply::json(StatusCode::NOT_FOUND, json!({"error": e.to_string()})))?;
            ok(json!({}))
        }
        (&Method::GET, "/_sim/faults") => {
            ok(serde_json::to_value(&sim.state().faults).unwrap_or_default())
        }
        (&Method::POST, "/_sim/faults") => {
            let f: Faults = parse(req)?;
            sim.state().set_faults(f.clone());
            ok(serde_json::to_value(f).unwrap_or_default())
        }
        (&Method::POST, "/_sim/advance") => {
            let a: AdvanceCommand = parse(req)?;
            sim.state()
                .clock
                .advance(Duration::from_secs_f64(a.seconds.max(0.0)).as_secs_f64());
            ok(json!({"now": sim.state().clock.now()}))
        }
        (&Method::POST, "/_sim/federated-token") => {
            let c: FederatedCommand = parse(req)?;
            let issuer = c
                .issuer
                .unwrap_or_else(|| sim.scenario.workload_issuer.clone());
            let audience = c
                .audience
                .unwrap_or_else(|| "api://AzureADTokenExchange".to_owned());
            ok(json!({"token": sim.mint_federated(&issuer, &c.subject, &audience)}))
        }
        (&Method::POST, "/_sim/token") => {
            let body: Value = parse(req)?;
            Ok(sim_token(sim, &body))
        }
        _ => Err(Reply::json(
            StatusCode::NOT_FOUND,
            json!({"error": format!("unknown inspection endpoint {} {}", req.method, req.path)}),
        )),
    }
}
