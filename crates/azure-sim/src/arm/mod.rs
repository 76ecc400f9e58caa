//! Azure Resource Manager stand-in: authentication, RBAC, resource PUT/GET, LROs, the
//! cross-tenant gallery-image rules, scale sets and Application Health.

pub(crate) mod auth;
mod errors;
mod gallery;
pub mod health;
mod lro;
mod marketplace;
mod network;
pub(crate) mod path;
pub mod region;
mod resource_group;
mod resources;
pub mod schema;
mod vm;
pub mod vmss;

/// Renders a stored resource as a GET would (with `replicationStatus` for image versions).
pub(crate) fn render_resource(r: &crate::state::Resource, now: f64) -> serde_json::Value {
    resources::render(r, now, true)
}

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

/// Handles a request under `/subscriptions/`.
pub(crate) fn handle(sim: &Sim, req: &Req) -> Reply {
    vmss::advance(sim);
    match handle_inner(sim, req) {
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
    let ctx = Ctx {
        sim,
        req,
        caller,
        aux,
        api_version: api_version.to_owned(),
    };
    let sub = match &path {
        ArmPath::ResourceGroup { sub, .. }
        | ArmPath::Resource { sub, .. }
        | ArmPath::ScaleSet { sub, .. }
        | ArmPath::Operation { sub, .. }
        | ArmPath::LocationGallery { sub, .. }
        | ArmPath::MarketplaceAgreement { sub, .. } => sub.clone(),
    };
    auth::check_tenant(sim, &ctx.caller, &sub)?;
    match path {
        ArmPath::ResourceGroup { sub, rg } => resource_group::handle(&ctx, &sub, &rg),
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
        ArmPath::Operation { id, .. } => lro::status(&ctx, &id),
        ArmPath::LocationGallery {
            sub,
            location,
            community,
            gallery,
            image,
            version,
        } => gallery::location_view(
            &ctx,
            &sub,
            &location,
            community,
            &gallery,
            &image,
            version.as_deref(),
        ),
        ArmPath::MarketplaceAgreement {
            sub,
            publisher,
            offer,
            plan,
        } => marketplace::agreement(&ctx, &sub, &publisher, &offer, &plan),
    }
}
