//! Compute Gallery: image definitions, versions with per-region replication over (scaled) time,
//! and the location-scoped shared/community gallery views consumers use.
//!
//! Shapes: reference/arm/examples/gallery/*.json; `replicationStatus` per
//! GalleryImageVersion_Get_WithReplicationStatus.json (`aggregatedState`, `summary[]` with display
//! region names and `progress`); shared/community versions per GalleryRP.json
//! `SharedGalleryImageVersion` / `CommunityGalleryImageVersion` (no example exists).

use http::StatusCode;
use serde_json::{Value, json};

use super::resources::{Kind, Prepared, render};
use super::{ArmResult, Ctx};
use crate::http::Reply;
use crate::scenario::GallerySeed;
use crate::sim::{gallery_id, gallery_unique_name};
use crate::state::{RegionReplication, ReplicationState, State, key, region_usable};

/// `properties.replicationStatus` at simulated time `now`.
pub(crate) fn replication_status(regions: &[RegionReplication], now: f64) -> Value {
    let states: Vec<ReplicationState> = regions.iter().map(|r| r.state(now)).collect();
    let aggregated = if states.contains(&ReplicationState::Failed) {
        "Failed"
    } else if states.iter().all(|s| *s == ReplicationState::Completed) {
        "Completed"
    } else {
        "InProgress"
    };
    let summary: Vec<Value> = regions
        .iter()
        .zip(&states)
        .map(|(r, s)| {
            let (state, progress, details) = match s {
                ReplicationState::Completed => ("Completed", 100, String::new()),
                ReplicationState::Failed => (
                    "Failed",
                    0,
                    format!("Replication failed in this region due to an injected azure-sim fault ({}).", r.name),
                ),
                ReplicationState::Replicating(p) => ("Replicating", i64::from(*p), String::new()),
            };
            json!({"region": r.name, "state": state, "details": details, "progress": progress})
        })
        .collect();
    json!({"aggregatedState": aggregated, "summary": summary})
}

/// Simulated time at which the home (first) region completes.
pub(crate) fn home_region_end(regions: &[RegionReplication]) -> f64 {
    regions
        .first()
        .map(|r| {
            if r.forced_complete {
                r.start
            } else {
                r.start + r.duration
            }
        })
        .unwrap_or(0.0)
}

/// Keeps the replication progress of regions that were already targeted.
pub(crate) fn merge_replication(new: &mut [RegionReplication], old: &[RegionReplication]) {
    for n in new.iter_mut() {
        if let Some(o) = old.iter().find(|o| super::region::same(&o.name, &n.name)) {
            *n = o.clone();
        }
    }
}

/// Gallery / image definition PUT: keeps the request, sets id and name.
pub(crate) fn prepare_definition(kind: Kind, id: &str, name: &str, mut body: Value) -> Value {
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    if kind == Kind::Gallery {
        body["type"] = Value::String(kind.type_name().to_owned());
    }
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    body
}

/// Image version PUT: fills the server fields of GalleryImageVersion_Create.json and starts
/// replication to every target region.
pub(crate) fn prepare_version(
    ctx: &Ctx,
    id: &str,
    name: &str,
    now: f64,
    mut body: Value,
) -> Prepared {
    let location = body["location"].as_str().unwrap_or_default().to_owned();
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    let props = &mut body["properties"];
    if !props["publishingProfile"].is_object() {
        props["publishingProfile"] = json!({});
    }
    let pp = &mut props["publishingProfile"];
    if !pp["targetRegions"].is_array() {
        pp["targetRegions"] = json!([{"name": location}]);
    }
    let default_sat = pp["storageAccountType"]
        .as_str()
        .unwrap_or("Standard_LRS")
        .to_owned();
    let mut names = Vec::new();
    for r in pp["targetRegions"].as_array_mut().into_iter().flatten() {
        names.push(r["name"].as_str().unwrap_or_default().to_owned());
        if r.get("regionalReplicaCount").is_none() {
            r["regionalReplicaCount"] = json!(1);
        }
        if r.get("storageAccountType").is_none() {
            r["storageAccountType"] = Value::String(default_sat.clone());
        }
        if r.get("excludeFromLatest").is_none() {
            r["excludeFromLatest"] = json!(false);
        }
    }
    if pp.get("replicaCount").is_none() {
        pp["replicaCount"] = json!(1);
    }
    if pp.get("storageAccountType").is_none() {
        pp["storageAccountType"] = Value::String(default_sat);
    }
    let published = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    pp["publishedDate"] = Value::String(published);
    if !props["storageProfile"].is_object() {
        props["storageProfile"] = json!({});
    }
    let sp = &mut props["storageProfile"];
    if sp.get("osDiskImage").is_none() {
        sp["osDiskImage"] = json!({"sizeInGB": 30, "hostCaching": "ReadWrite"});
    }
    if sp.get("dataDiskImages").is_none() {
        sp["dataDiskImages"] = json!([]);
    }
    if !props["safetyProfile"].is_object() {
        props["safetyProfile"] = json!({});
    }
    let safety = &mut props["safetyProfile"];
    for (f, v) in [
        ("allowDeletionOfReplicatedLocations", json!(true)),
        ("reportedForPolicyViolation", json!(false)),
        ("policyViolations", json!([])),
        ("blockDeletionBeforeEndOfLife", json!(false)),
    ] {
        if safety.get(f).is_none() {
            safety[f] = v;
        }
    }
    let secs = ctx.sim.scenario.lro.replication_secs;
    let replication = names
        .into_iter()
        .map(|n| RegionReplication {
            name: n,
            start: now,
            duration: secs,
            failed: false,
            forced_complete: secs <= 0.0,
            added: false,
        })
        .collect();
    Prepared {
        body,
        duration: secs,
        fail: None,
        replication,
    }
}

/// The scenario gallery whose direct-sharing unique name is `unique`.
pub(crate) fn by_unique_name<'a>(ctx: &'a Ctx, unique: &str) -> Option<&'a GallerySeed> {
    ctx.sim
        .scenario
        .galleries
        .iter()
        .find(|g| gallery_unique_name(g).eq_ignore_ascii_case(unique))
}

/// The scenario gallery published to the community as `public_name`.
pub(crate) fn by_public_name<'a>(ctx: &'a Ctx, public_name: &str) -> Option<&'a GallerySeed> {
    ctx.sim.scenario.galleries.iter().find(|g| {
        g.sharing
            .community_public_name
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(public_name))
    })
}

/// Whether `g` is direct-shared with `tenant` or `subscription`.
pub(crate) fn shared_with(g: &GallerySeed, tenant: &str, subscription: &str) -> bool {
    g.sharing
        .groups_tenants
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
        || g.sharing
            .groups_subscriptions
            .iter()
            .any(|s| s.eq_ignore_ascii_case(subscription))
}

/// Semantic-version ordering key of `1.2.3`.
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// `excludeFromLatest` at the publishing-profile level, or on every target region.
fn excluded_from_latest(version: &Value) -> bool {
    let pp = &version["properties"]["publishingProfile"];
    if pp["excludeFromLatest"] == json!(true) {
        return true;
    }
    pp["targetRegions"].as_array().is_some_and(|rs| {
        !rs.is_empty() && rs.iter().all(|r| r["excludeFromLatest"] == json!(true))
    })
}

/// The latest version of an image definition (highest version not excluded from latest).
pub(crate) fn latest_version(st: &State, image_id: &str) -> Option<String> {
    let prefix = format!("{}/versions/", key(image_id));
    st.resources
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
        .filter(|(_, r)| !excluded_from_latest(&r.body))
        .max_by_key(|(k, _)| version_key(&k[prefix.len()..]))
        .map(|(_, r)| r.id.clone())
}

/// `GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/{shared|community}Galleries[/{g}[/images[/{i}[/versions[/{v}]]]]]`:
/// the consumer views (GalleryRP.json `SharedGallery`, `SharedGalleryImage`,
/// `SharedGalleryImageVersion`, `CommunityGallery…`) and their lists (`{value, nextLink}`).
/// Shared galleries list with `sharedTo=tenant` (galleries shared with the caller's tenant)
/// or without it (shared with the subscription); community galleries have no list of
/// galleries (GalleryRP.json defines none).
#[allow(clippy::too_many_arguments)]
pub(crate) fn location_view(
    ctx: &Ctx,
    sub: &str,
    location: &str,
    community: bool,
    gallery: Option<&str>,
    image: Option<&str>,
    version: Option<&str>,
    list: bool,
) -> ArmResult {
    let kind = if community {
        "CommunityGalleries"
    } else {
        "SharedGalleries"
    };
    let not_found = || {
        let mut shown = format!("{kind}/{}", gallery.unwrap_or_default());
        if let Some(i) = image {
            shown.push_str(&format!("/Images/{i}"));
        }
        if let Some(v) = version {
            shown.push_str(&format!("/Versions/{v}"));
        }
        Reply::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{shown}' was not found in location '{location}'."),
        )
    };
    if ctx.req.method != http::Method::GET {
        return Err(Reply::arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "HttpMethodNotSupported",
            format!(
                "The requested resource does not support http method '{}'.",
                ctx.req.method
            ),
        ));
    }
    let Some(gallery) = gallery else {
        if community {
            return Err(Reply::arm_error(
                StatusCode::NOT_FOUND,
                "InvalidResourceType",
                format!(
                    "The resource type 'locations/communityGalleries' could not be found in the namespace 'Microsoft.Compute' for api version '{}'.",
                    ctx.api_version
                ),
            ));
        }
        let by_tenant = ctx
            .req
            .query("sharedTo")
            .is_some_and(|v| v.eq_ignore_ascii_case("tenant"));
        let items: Vec<Value> = ctx
            .sim
            .scenario
            .galleries
            .iter()
            .filter(|g| {
                if by_tenant {
                    shared_with(g, &ctx.caller.tenant, "")
                } else {
                    g.sharing
                        .groups_subscriptions
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(sub))
                }
            })
            .map(|g| shared_gallery_body(g, location))
            .collect();
        return Ok(super::listing::page(ctx, items));
    };
    let g = if community {
        by_public_name(ctx, gallery)
    } else {
        by_unique_name(ctx, gallery).filter(|g| shared_with(g, &ctx.caller.tenant, sub))
    }
    .ok_or_else(not_found)?;
    let st = ctx.sim.state();
    let now = st.clock.now();
    let Some(image) = image else {
        if list {
            let prefix = format!("{}/images/", key(&gallery_id(g)));
            let items: Vec<Value> = st
                .resources
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                .map(|(_, img)| image_view(kind, gallery, img, location))
                .collect();
            drop(st);
            return Ok(super::listing::page(ctx, items));
        }
        let body = if community {
            community_gallery_body(g, gallery, location)
        } else {
            shared_gallery_body(g, location)
        };
        return Ok(Reply::json(StatusCode::OK, body));
    };
    let image_id = format!("{}/images/{image}", gallery_id(g));
    let img = st.resources.get(&key(&image_id)).ok_or_else(not_found)?;
    let unique_base = format!(
        "/{kind}/{gallery}/Images/{}",
        img.body["name"].as_str().unwrap_or(image)
    );
    let Some(version) = version else {
        if list {
            let prefix = format!("{}/versions/", key(&image_id));
            let items: Vec<Value> = st
                .resources
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                .filter(|(_, v)| region_usable(&v.replication, location, now))
                .map(|(_, v)| version_view(community, &unique_base, v, location, now))
                .collect();
            drop(st);
            return Ok(super::listing::page(ctx, items));
        }
        return Ok(Reply::json(
            StatusCode::OK,
            image_view(kind, gallery, img, location),
        ));
    };
    let vid = format!("{image_id}/versions/{version}");
    let v = st.resources.get(&key(&vid)).ok_or_else(not_found)?;
    if !region_usable(&v.replication, location, now) {
        return Err(not_found());
    }
    Ok(Reply::json(
        StatusCode::OK,
        version_view(community, &unique_base, v, location, now),
    ))
}

/// `SharedGallery`: `{name, location, identifier{uniqueId}, properties{artifactTags}}`.
fn shared_gallery_body(g: &GallerySeed, location: &str) -> Value {
    let unique = gallery_unique_name(g);
    json!({
        "name": unique,
        "location": location,
        "identifier": {"uniqueId": format!("/SharedGalleries/{unique}")},
        "properties": {"artifactTags": {}}
    })
}

/// `CommunityGallery`: `{name, location, type, identifier{uniqueId}, properties{disclaimer,
/// artifactTags, communityMetadata}}`.
fn community_gallery_body(g: &GallerySeed, public: &str, location: &str) -> Value {
    json!({
        "name": public,
        "location": location,
        "type": "Microsoft.Compute/locations/communityGalleries",
        "identifier": {"uniqueId": format!("/CommunityGalleries/{public}")},
        "properties": {
            "disclaimer": "",
            "artifactTags": {},
            "communityMetadata": {
                "publisherUri": "",
                "publisherContact": "",
                "eula": "",
                "publicNames": g.sharing.community_public_name.iter().collect::<Vec<_>>(),
                "privacyStatementUri": ""
            }
        }
    })
}

fn image_view(kind: &str, gallery: &str, img: &crate::state::Resource, location: &str) -> Value {
    let name = img.body["name"].as_str().unwrap_or_default();
    let p = &img.body["properties"];
    let mut props = json!({
        "osType": p["osType"], "osState": p["osState"], "hyperVGeneration": p["hyperVGeneration"],
        "identifier": p["identifier"]
    });
    for field in ["features", "purchasePlan"] {
        if let Some(f) = p.get(field) {
            props[field] = f.clone();
        }
    }
    let mut body = json!({"name": name, "location": location, "identifier": {"uniqueId": format!("/{kind}/{gallery}/Images/{name}")}, "properties": props});
    if kind == "CommunityGalleries" {
        body["type"] = json!("Microsoft.Compute/locations/communityGalleries/images");
    }
    body
}

fn version_view(
    community: bool,
    unique_base: &str,
    v: &crate::state::Resource,
    location: &str,
    now: f64,
) -> Value {
    let version = v.body["name"].as_str().unwrap_or_default();
    let rendered = render(v, now, false);
    let pp = &rendered["properties"]["publishingProfile"];
    let os = &rendered["properties"]["storageProfile"]["osDiskImage"];
    let mut props = json!({
        "publishedDate": pp["publishedDate"],
        "excludeFromLatest": pp.get("excludeFromLatest").cloned().unwrap_or(json!(false)),
        "storageProfile": {
            "osDiskImage": {"diskSizeGB": os["sizeInGB"], "hostCaching": os["hostCaching"]},
            "dataDiskImages": []
        }
    });
    let mut body = json!({
        "name": version,
        "location": location,
        "identifier": {"uniqueId": format!("{unique_base}/Versions/{version}")},
        "properties": {}
    });
    if community {
        props["disclaimer"] = json!("");
        body["type"] = json!("Microsoft.Compute/locations/communityGalleries/images/versions");
    }
    body["properties"] = props;
    body
}
