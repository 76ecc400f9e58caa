//! Azure Resource Manager stand-in: authentication, RBAC, resource PUT/GET, LROs, the
//! cross-tenant gallery-image rules, scale sets and Application Health.

mod api_versions;
pub(crate) mod auth;
mod deletion;
pub(crate) mod deployments;
mod disks;
mod errors;
mod gallery;
pub mod health;
pub(crate) mod instance_view;
mod listing;
mod lro;
mod marketplace;
mod network;
pub(crate) mod path;
pub mod region;
mod resource_group;
mod resources;
pub mod schema;
mod subscriptions;
mod template;
mod vm;
pub mod vmss;

/// Renders a stored resource as a GET would (with `replicationStatus` for image versions).
pub(crate) fn render_resource(r: &crate::state::Resource, now: f64) -> serde_json::Value {
    resources::render(r, now, true)
}

pub(crate) use api_versions::check_key_vault as check_key_vault_api_version;

use http::StatusCode;

use crate::http::{Reply, Req};
use crate::sim::Sim;
use auth::Caller;
use path::ArmPath;

/// A handler result: the error side is a finished error reply.
pub(crate) type ArmResult<T = Reply> = Result<T, Reply>;

/// Per-request context after authentication.
pub(crate) struct Ctx<'a> {
    pub(crate) sim: &'a Sim,
    pub(crate) req: &'a Req,
    pub(crate) caller: Caller,
    pub(crate) aux: Vec<Caller>,
    pub(crate) api_version: String,
}

/// Brings the simulation to the current simulated time: finishes the deletions that are due
/// (which may remove scale sets), then moves the scale sets on. Run before every ARM request
/// and inspection.
pub(crate) fn catch_up(sim: &Sim) {
    {
        let mut st = sim.state();
        let now = st.clock.now();
        resources::reap(&mut st, now);
    }
    vmss::advance(sim);
}

/// Handles a request under `/subscriptions/`.
pub(crate) fn handle(sim: &Sim, req: &Req) -> Reply {
    catch_up(sim);
    match handle_inner(sim, req) {
        Ok(r) | Err(r) => r,
    }
}

/// `GET /tenants` (Tenants - List): the caller's tenant.
pub(crate) fn tenants(sim: &Sim, req: &Req) -> Reply {
    match subscriptions::tenants(sim, req) {
        Ok(r) | Err(r) => r,
    }
}

fn handle_inner(sim: &Sim, req: &Req) -> ArmResult {
    let Some(path) = ArmPath::parse(&req.path) else {
        return Err(Reply::arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource path '{}' is not served by azure-sim.",
                req.path
            ),
        ));
    };
    let caller = auth::primary(sim, req)?;
    let aux = auth::auxiliary(sim, req)?;
    let Some(api_version) = req.query("api-version").filter(|v| !v.is_empty()) else {
        return Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    {
        let st = sim.state();
        let (namespace, resource_type) = versioned_type(&path);
        let location = request_location(&st, req, &path);
        api_versions::check_arm(&namespace, &resource_type, &location, api_version)?;
    }
    let ctx = Ctx {
        sim,
        req,
        caller,
        aux,
        api_version: api_version.to_owned(),
    };
    if let Some(sub) = path.subscription() {
        auth::check_tenant(sim, &ctx.caller, sub)?;
    }
    match path {
        ArmPath::Subscriptions => subscriptions::list(&ctx),
        ArmPath::Subscription { sub } => subscriptions::get(&ctx, &sub),
        ArmPath::ResourceGroups { sub } => resource_group::list(&ctx, &sub),
        ArmPath::ResourceGroup { sub, rg } => resource_group::handle(&ctx, &sub, &rg),
        ArmPath::GroupResources { sub, rg } => listing::group_resources(&ctx, &sub, &rg),
        ArmPath::Resource {
            sub,
            rg,
            namespace,
            types,
            names,
        } => resources::resource(&ctx, &sub, &rg, &namespace, &types, &names),
        ArmPath::ScaleSet {
            sub,
            rg,
            name,
            rest,
        } => vmss::handle(&ctx, &sub, &rg, &name, &rest),
        ArmPath::Operation { id, result, .. } => {
            if result {
                lro::result(&ctx, &id)
            } else {
                lro::status(&ctx, &id)
            }
        }
        ArmPath::SubscriptionOperationResult { id, .. } => lro::result(&ctx, &id),
        ArmPath::LocationGallery {
            sub,
            location,
            community,
            gallery,
            image,
            version,
            list,
        } => gallery::location_view(
            &ctx,
            &sub,
            &location,
            community,
            gallery.as_deref(),
            image.as_deref(),
            version.as_deref(),
            list,
        ),
        ArmPath::MarketplaceAgreement {
            sub,
            publisher,
            offer,
            plan,
        } => marketplace::agreement(&ctx, &sub, &publisher, &offer, &plan),
    }
}

/// The (namespace, resource type) whose `api-version`s apply to `path`.
fn versioned_type(path: &ArmPath) -> (String, String) {
    let res = |t: &str| ("Microsoft.Resources".to_owned(), t.to_owned());
    match path {
        ArmPath::Subscriptions | ArmPath::Subscription { .. } => res("subscriptions"),
        ArmPath::ResourceGroups { .. } | ArmPath::ResourceGroup { .. } => res("resourceGroups"),
        ArmPath::GroupResources { .. } => res("resources"),
        ArmPath::SubscriptionOperationResult { .. } => res("operationresults"),
        ArmPath::Resource {
            namespace, types, ..
        } => (namespace.clone(), types.join("/")),
        // `rest` alternates child types and names (`virtualMachines/0/instanceView`); the type
        // is the scale set's followed by the child types (`virtualMachineScaleSets/virtualMachines`).
        ArmPath::ScaleSet { rest, .. } => (
            "Microsoft.Compute".to_owned(),
            std::iter::once("virtualMachineScaleSets")
                .chain(rest.iter().step_by(2).map(String::as_str))
                .collect::<Vec<_>>()
                .join("/"),
        ),
        ArmPath::Operation { namespace, .. } => {
            (namespace.clone(), "locations/operations".to_owned())
        }
        ArmPath::LocationGallery { community, .. } => (
            "Microsoft.Compute".to_owned(),
            if *community {
                "locations/communityGalleries"
            } else {
                "locations/sharedGalleries"
            }
            .to_owned(),
        ),
        ArmPath::MarketplaceAgreement { .. } => (
            "Microsoft.MarketplaceOrdering".to_owned(),
            "offertypes/publishers/offers/plans/agreements".to_owned(),
        ),
    }
}

/// The location ARM names in `NoRegisteredProviderFound`: the body's, the resource's, its
/// group's, or the path's.
fn request_location(st: &crate::state::State, req: &Req, path: &ArmPath) -> String {
    if let Ok(body) = req.json()
        && let Some(l) = body["location"].as_str()
    {
        return l.to_owned();
    }
    let stored = |id: &str| {
        st.resources
            .get(&crate::state::key(id))
            .and_then(|r| r.body["location"].as_str().map(str::to_owned))
    };
    match path {
        ArmPath::Resource { sub, rg, .. } | ArmPath::ScaleSet { sub, rg, .. } => stored(&req.path)
            .or_else(|| stored(&crate::sim::rg_id(sub, rg)))
            .unwrap_or_default(),
        ArmPath::ResourceGroup { sub, rg } | ArmPath::GroupResources { sub, rg } => {
            stored(&crate::sim::rg_id(sub, rg)).unwrap_or_default()
        }
        ArmPath::Operation { location, .. } | ArmPath::LocationGallery { location, .. } => {
            location.clone()
        }
        _ => String::new(),
    }
}
