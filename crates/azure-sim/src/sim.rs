//! The shared simulator object: scenario, signing key, base URL and world state.

use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{Value, json};

use crate::jwt::{Claims, Signer, now_unix};
use crate::scenario::{GallerySeed, ImageSeed, Scenario, VersionSeed};
use crate::state::{RegionReplication, Resource, State, key};

/// Access-token lifetime in seconds (Entra's `expires_in` for app tokens).
pub(crate) const TOKEN_LIFETIME: i64 = 3599;

/// Who a token is for.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    /// Tenant (`tid`).
    pub tenant: String,
    /// Client id (`appid`).
    pub appid: String,
    /// Object id (`oid`, `sub`).
    pub oid: String,
}

/// The simulator shared by all request handlers.
pub(crate) struct Sim {
    pub(crate) scenario: Scenario,
    pub(crate) signer: Signer,
    pub(crate) base_url: OnceLock<String>,
    state: Mutex<State>,
    pub(crate) tables: crate::table::Tables,
    /// PUTs of each VM (lower-case name) refused or failed by `lro.vm_failures` so far.
    pub(crate) vm_failures_used: Mutex<std::collections::HashMap<String, u32>>,
}

impl Sim {
    pub(crate) fn new(scenario: Scenario) -> Self {
        let mut state = State::new(scenario.faults.clone());
        seed_resources(&scenario, &mut state);
        Self {
            scenario,
            signer: Signer::random(),
            base_url: OnceLock::new(),
            state: Mutex::new(state),
            tables: Default::default(),
            vm_failures_used: Mutex::new(Default::default()),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every mutation is one step).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// Issues a signed access token.
    pub(crate) fn issue_token(&self, who: &TokenSubject, audience: &str, lifetime: i64) -> String {
        let now = now_unix();
        let claims = Claims {
            aud: audience.to_owned(),
            iss: format!("https://sts.windows.net/{}/", who.tenant),
            tid: who.tenant.clone(),
            appid: who.appid.clone(),
            oid: who.oid.clone(),
            sub: who.oid.clone(),
            iat: now - 5,
            nbf: now - 5,
            exp: now + lifetime,
            extra: Default::default(),
        };
        self.signer.sign(&claims)
    }

    /// Mints a workload-identity token (issuer = scenario `workload_issuer`) for `subject`.
    pub(crate) fn mint_federated(&self, issuer: &str, subject: &str, audience: &str) -> String {
        let now = now_unix();
        let claims = Claims {
            aud: audience.to_owned(),
            iss: issuer.to_owned(),
            tid: String::new(),
            appid: String::new(),
            oid: String::new(),
            sub: subject.to_owned(),
            iat: now,
            nbf: now,
            exp: now + 600,
            extra: Default::default(),
        };
        self.signer.sign(&claims)
    }
}

/// ARM id of a resource group.
pub(crate) fn rg_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

/// ARM id of a gallery.
pub(crate) fn gallery_id(g: &GallerySeed) -> String {
    format!(
        "{}/providers/Microsoft.Compute/galleries/{}",
        rg_id(&g.subscription, &g.resource_group),
        g.name
    )
}

/// The direct-sharing unique name Azure gives a gallery: `{subscriptionId}-{GALLERYNAME}`.
pub(crate) fn gallery_unique_name(g: &GallerySeed) -> String {
    format!("{}-{}", g.subscription, g.name.to_ascii_uppercase())
}

fn insert<'a>(
    state: &'a mut State,
    id: String,
    resource_type: &str,
    body: Value,
) -> &'a mut Resource {
    let k = key(&id);
    state.resources.entry(k).or_insert(Resource {
        id,
        resource_type: resource_type.to_owned(),
        body,
        put_count: 0,
        creating: true,
        ready_at: 0.0,
        fail: false,
        replication: Vec::new(),
    })
}

fn seed_resources(s: &Scenario, state: &mut State) {
    for rg in &s.resource_groups {
        let id = rg_id(&rg.subscription, &rg.name);
        let body = json!({"id": id, "name": rg.name, "type": "Microsoft.Resources/resourceGroups", "location": rg.location, "properties": {}});
        insert(state, id, "Microsoft.Resources/resourceGroups", body);
    }
    for g in &s.galleries {
        let rgid = rg_id(&g.subscription, &g.resource_group);
        if !state.resources.contains_key(&key(&rgid)) {
            let loc = crate::arm::region::normalize(&g.location);
            let body = json!({"id": rgid, "name": g.resource_group, "type": "Microsoft.Resources/resourceGroups", "location": loc, "properties": {}});
            insert(state, rgid, "Microsoft.Resources/resourceGroups", body);
        }
        let gid = gallery_id(g);
        insert(
            state,
            gid.clone(),
            "Microsoft.Compute/galleries",
            gallery_body(g, &gid),
        );
        for img in &g.images {
            let iid = format!("{gid}/images/{}", img.name);
            insert(
                state,
                iid.clone(),
                "Microsoft.Compute/galleries/images",
                image_body(g, img, &iid),
            );
            for v in &img.versions {
                let vid = format!("{iid}/versions/{}", v.name);
                let body = version_body(g, v, &vid);
                let r = insert(
                    state,
                    vid,
                    "Microsoft.Compute/galleries/images/versions",
                    body,
                );
                r.replication = v
                    .regions
                    .iter()
                    .map(|reg| RegionReplication {
                        name: reg.name.clone(),
                        start: 0.0,
                        duration: reg.replication_secs.max(0.0),
                        failed: reg.fail,
                        forced_complete: reg.replication_secs <= 0.0,
                        added: reg.added,
                    })
                    .collect();
            }
        }
    }
}

/// Gallery body (shape: GalleryRP.json `Gallery`).
fn gallery_body(g: &GallerySeed, id: &str) -> Value {
    let mut sharing = json!({"permissions": "Private"});
    let mut groups = Vec::new();
    if !g.sharing.groups_subscriptions.is_empty() {
        groups.push(json!({"type": "Subscriptions", "ids": g.sharing.groups_subscriptions}));
    }
    if !g.sharing.groups_tenants.is_empty() {
        groups.push(json!({"type": "AADTenants", "ids": g.sharing.groups_tenants}));
    }
    if !groups.is_empty() {
        sharing = json!({"permissions": "Groups", "groups": groups});
    }
    if let Some(public) = &g.sharing.community_public_name {
        sharing =
            json!({"permissions": "Community", "communityGalleryInfo": {"publicNames": [public]}});
    }
    json!({
        "id": id,
        "name": g.name,
        "type": "Microsoft.Compute/galleries",
        "location": g.location,
        "properties": {
            "identifier": {"uniqueName": gallery_unique_name(g)},
            "sharingProfile": sharing
        }
    })
}

/// Image definition body, shaped like reference/arm/examples/gallery/GalleryImage_Get.json.
fn image_body(g: &GallerySeed, img: &ImageSeed, id: &str) -> Value {
    let mut props = json!({
        "osType": img.os_type,
        "osState": img.os_state,
        "hyperVGeneration": img.hyper_v_generation,
        "identifier": {
            "publisher": img.publisher,
            "offer": img.offer.clone().unwrap_or_else(|| g.name.clone()),
            "sku": img.sku.clone().unwrap_or_else(|| img.name.clone())
        }
    });
    if !img.features.is_empty() {
        let features: Vec<Value> = img
            .features
            .iter()
            .map(|(n, v)| {
                let mut f = json!({"name": n, "value": v});
                if let Some(start) = img.features_start_at.get(n) {
                    f["startsAtVersion"] = json!(start);
                }
                f
            })
            .collect();
        props["features"] = Value::Array(features);
    }
    if let Some(plan) = &img.purchase_plan {
        props["purchasePlan"] =
            json!({"name": plan.name, "publisher": plan.publisher, "product": plan.product});
    }
    json!({"id": id, "properties": props, "location": g.location, "name": img.name})
}

/// Image version body, shaped like GalleryImageVersion_Get_WithReplicationStatus.json
/// (without `replicationStatus`, added on `$expand=ReplicationStatus`).
fn version_body(g: &GallerySeed, v: &VersionSeed, id: &str) -> Value {
    let regions: Vec<Value> = v
        .regions
        .iter()
        .map(|r| {
            json!({"name": r.name, "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS", "excludeFromLatest": v.exclude_from_latest})
        })
        .collect();
    json!({
        "id": id,
        "properties": {
            "publishingProfile": {
                "targetRegions": regions,
                "replicaCount": 1,
                "publishedDate": "2026-01-01T00:00:00Z",
                "storageAccountType": "Standard_LRS"
            },
            "storageProfile": {
                "source": {"id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/images/{}-source", g.subscription, g.resource_group, v.name)},
                "osDiskImage": {"sizeInGB": 30, "hostCaching": "ReadWrite"},
                "dataDiskImages": []
            },
            "safetyProfile": {
                "allowDeletionOfReplicatedLocations": true,
                "reportedForPolicyViolation": false,
                "policyViolations": [],
                "blockDeletionBeforeEndOfLife": false
            }
        },
        "location": g.location,
        "name": v.name
    })
}
