//! The simulator's mutable world: scaled clock, fault RNG, resources, operations and the request log.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scenario::Faults;

/// Simulated time: seconds since start, running `scale` times faster than real time.
#[derive(Debug)]
pub(crate) struct SimClock {
    base: Instant,
    offset: f64,
    scale: f64,
}

impl SimClock {
    pub(crate) fn new(scale: f64) -> Self {
        Self {
            base: Instant::now(),
            offset: 0.0,
            scale,
        }
    }

    /// Simulated seconds since start.
    pub(crate) fn now(&self) -> f64 {
        self.offset + self.base.elapsed().as_secs_f64() * self.scale
    }

    pub(crate) fn set_scale(&mut self, scale: f64) {
        self.offset = self.now();
        self.base = Instant::now();
        self.scale = scale;
    }

    pub(crate) fn advance(&mut self, secs: f64) {
        self.offset += secs;
    }

    /// Converts a simulated duration into real seconds (for `Retry-After`).
    pub(crate) fn real_secs(&self, sim_secs: f64) -> f64 {
        sim_secs / self.scale
    }
}

/// SplitMix64: small, seedable, deterministic.
#[derive(Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One recorded HTTP request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// Sequence number: 0-based, increasing over the whole run (clearing the log or dropping old
    /// entries does not restart it).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Whether `x-ms-authorization-auxiliary` was present.
    pub aux_header: bool,
    /// How many tokens it carried.
    pub aux_token_count: usize,
    /// Response status.
    pub status: u16,
    /// `tid` of the bearer token, if one was presented and decodable.
    pub token_tenant: Option<String>,
    /// `appid` of the bearer token.
    pub token_appid: Option<String>,
    /// Tenants of the auxiliary tokens.
    #[serde(default)]
    pub aux_tenants: Vec<String>,
    /// ARM error code of the response, if any.
    pub error_code: Option<String>,
}

/// A resource as listed by `/_sim/resources`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceRecord {
    /// ARM id.
    pub id: String,
    /// ARM type, e.g. `Microsoft.Compute/virtualMachines`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Current `provisioningState`.
    pub provisioning_state: String,
    /// How many PUTs created or updated it.
    pub put_count: u32,
    /// The body as a GET returns it now.
    pub body: Value,
}

/// Replication of one image version to one region.
#[derive(Debug, Clone)]
pub(crate) struct RegionReplication {
    /// Display name.
    pub(crate) name: String,
    pub(crate) start: f64,
    pub(crate) duration: f64,
    pub(crate) failed: bool,
    pub(crate) forced_complete: bool,
    /// Added after publishing (`az sig image-version update --add ...targetRegions`).
    pub(crate) added: bool,
}

/// State of one region's replication at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplicationState {
    Replicating(u8),
    Completed,
    Failed,
}

impl RegionReplication {
    pub(crate) fn state(&self, now: f64) -> ReplicationState {
        if self.failed {
            return ReplicationState::Failed;
        }
        if self.forced_complete || now >= self.start + self.duration {
            return ReplicationState::Completed;
        }
        let p = ((now - self.start) / self.duration * 100.0).clamp(0.0, 99.0);
        ReplicationState::Replicating(p as u8)
    }
}

/// A stored resource.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    /// Canonical id (casing of the first PUT / seed).
    pub(crate) id: String,
    pub(crate) resource_type: String,
    /// Stored body without `provisioningState` (computed on read).
    pub(crate) body: Value,
    pub(crate) put_count: u32,
    /// The last PUT was a create (vs update).
    pub(crate) creating: bool,
    /// Simulated time when the last PUT's operation ends.
    pub(crate) ready_at: f64,
    /// The last PUT ends `Failed`.
    pub(crate) fail: bool,
    /// Image versions only.
    pub(crate) replication: Vec<RegionReplication>,
}

impl Resource {
    pub(crate) fn provisioning_state(&self, now: f64) -> &'static str {
        if !self.replication.is_empty() {
            return version_provisioning_state(&self.replication, now);
        }
        if now < self.ready_at {
            if self.creating {
                "Creating"
            } else {
                "Updating"
            }
        } else if self.fail {
            "Failed"
        } else {
            "Succeeded"
        }
    }
}

/// A version is `Creating` until its first (home) region is replicated; then `Succeeded` while
/// the other initial regions may still be replicating (as Azure reports; see
/// Azure/AgentBaker#8373), `Updating` while a region added later replicates (the version stays
/// `Updating` for the whole region add, Azure/azure-cli#16632), and `Failed` once any region
/// failed. Usability is per region ([`region_usable`]).
pub(crate) fn version_provisioning_state(regions: &[RegionReplication], now: f64) -> &'static str {
    match regions.first().map(|r| r.state(now)) {
        None => "Succeeded",
        Some(ReplicationState::Failed) => "Failed",
        Some(ReplicationState::Replicating(_)) => "Creating",
        Some(ReplicationState::Completed) => {
            let states = regions.iter().map(|r| (r.added, r.state(now)));
            let mut updating = false;
            for (added, state) in states {
                match state {
                    ReplicationState::Failed => return "Failed",
                    ReplicationState::Replicating(_) if added => updating = true,
                    _ => {}
                }
            }
            if updating { "Updating" } else { "Succeeded" }
        }
    }
}

/// Whether a VM can be created from the version in `location`: the home region is done (the
/// version exists) and `location`'s own replication completed, whatever other regions do.
pub(crate) fn region_usable(regions: &[RegionReplication], location: &str, now: f64) -> bool {
    version_provisioning_state(regions, now) != "Creating"
        && regions.iter().any(|r| {
            crate::arm::region::same(&r.name, location)
                && r.state(now) == ReplicationState::Completed
        })
}

/// A long-running operation.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) resource_key: String,
    pub(crate) start_wall: time::OffsetDateTime,
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) fail: Option<(String, String)>,
    /// Ends at `end` whatever the resource says (a DELETE, a POST action); a PUT's operation
    /// follows its resource's `provisioningState`.
    pub(crate) timed: bool,
    /// The status its `Location` (operationResults) answers once done: 204 for a DELETE, 200
    /// for an action, 0 for a PUT (which has no `Location`).
    pub(crate) result_status: u16,
}

/// A VM's power state (`PowerState/…` in its instance view) and a transition in progress.
#[derive(Debug, Clone)]
pub(crate) struct Power {
    /// `running`, `stopped` or `deallocated`.
    pub(crate) state: &'static str,
    /// `starting`, `stopping`, `deallocating` or `restarting` until the simulated time given.
    pub(crate) transition: Option<(&'static str, f64)>,
}

impl Power {
    /// The `PowerState/…` code part at `now`.
    pub(crate) fn at(&self, now: f64) -> &'static str {
        match self.transition {
            Some((t, end)) if now < end => t,
            _ => self.state,
        }
    }
}

/// Request-log capacity (a long local run must not grow without bound).
pub(crate) const MAX_RECORDED: usize = 100_000;

/// All mutable state behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) clock: SimClock,
    pub(crate) faults: Faults,
    pub(crate) rng: SplitMix64,
    pub(crate) resources: BTreeMap<String, Resource>,
    pub(crate) operations: HashMap<String, Operation>,
    pub(crate) requests: Vec<RequestRecord>,
    /// Scale-set instances and rolling upgrades (`arm::vmss`).
    pub(crate) scale_sets: crate::arm::vmss::Fleet,
    /// Application answers set at run time (`/_sim/health`).
    pub(crate) health: crate::arm::health::Overrides,
    /// Deletions in progress: resource key → simulated time it is gone (GET shows `Deleting`).
    pub(crate) deletions: BTreeMap<String, f64>,
    /// Power state of VMs by resource key (absent = running once provisioned).
    pub(crate) vm_power: HashMap<String, Power>,
    /// Key Vault contents by vault name (lower case).
    pub(crate) vaults: BTreeMap<String, crate::keyvault::VaultState>,
    /// Template deployments by id key.
    pub(crate) deployments: BTreeMap<String, crate::arm::deployments::Deployment>,
    next_seq: u64,
}

impl State {
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            clock: SimClock::new(faults.time_scale),
            rng: SplitMix64::new(faults.seed),
            faults,
            resources: BTreeMap::new(),
            operations: HashMap::new(),
            requests: Vec::new(),
            scale_sets: Default::default(),
            health: Default::default(),
            deletions: BTreeMap::new(),
            vm_power: HashMap::new(),
            vaults: BTreeMap::new(),
            deployments: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Appends to the request log, keeping at most [`MAX_RECORDED`] entries (oldest dropped).
    pub(crate) fn record(&mut self, mut r: RequestRecord) {
        r.seq = self.next_seq;
        self.next_seq += 1;
        if self.requests.len() >= MAX_RECORDED {
            self.requests.drain(..MAX_RECORDED / 10);
        }
        self.requests.push(r);
    }

    pub(crate) fn set_faults(&mut self, faults: Faults) {
        if faults.time_scale != self.faults.time_scale {
            self.clock.set_scale(faults.time_scale);
        }
        // Setting faults restarts the seeded sequence, so a test run is reproducible.
        self.rng = SplitMix64::new(faults.seed);
        self.faults = faults;
    }
}

/// The storage key of an ARM id (ids are case-insensitive).
pub(crate) fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let x = a.next_f64();
        assert!((0.0..1.0).contains(&x));
    }

    #[test]
    fn replication_progress_advances_with_simulated_time() {
        let r = RegionReplication {
            name: "West US 2".into(),
            start: 0.0,
            duration: 100.0,
            failed: false,
            forced_complete: false,
            added: false,
        };
        assert_eq!(r.state(0.0), ReplicationState::Replicating(0));
        assert_eq!(r.state(50.0), ReplicationState::Replicating(50));
        assert_eq!(r.state(100.0), ReplicationState::Completed);
        let mut c = SimClock::new(60.0);
        c.advance(10.0);
        assert!(c.now() >= 10.0);
        assert!((c.real_secs(60.0) - 1.0).abs() < 1e-9);
    }
}
