//! `Microsoft.MarketplaceOrdering` terms agreements (`MarketplaceAgreements_Get`): whether the
//! subscription accepted a plan's terms (`marketplace_terms` in the scenario). Shape:
//! reference/arm/examples/marketplaceordering/GetMarketplaceTerms.json. Reading needs a role
//! with read at the subscription (the action is
//! `Microsoft.MarketplaceOrdering/offertypes/publishers/offers/plans/agreements/read`).

use http::StatusCode;
use serde_json::json;

use super::errors::method_not_allowed;
use super::{ArmResult, Ctx, auth};
use crate::http::Reply;
use crate::scenario::PurchasePlanSeed;

const READ: &str =
    "Microsoft.MarketplaceOrdering/offertypes/publishers/offers/plans/agreements/read";

/// `GET .../offerTypes/virtualmachine/publishers/{p}/offers/{o}/plans/{plan}/agreements/current`.
pub(crate) fn agreement(
    ctx: &Ctx,
    sub: &str,
    publisher: &str,
    offer: &str,
    plan: &str,
) -> ArmResult {
    if ctx.req.method != http::Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let scope = format!("/subscriptions/{sub}");
    if !auth::authorized(ctx.sim, &ctx.caller, READ, &scope) {
        return Err(auth::authorization_failed(&ctx.caller, READ, &scope));
    }
    let seed = PurchasePlanSeed {
        name: plan.to_owned(),
        publisher: publisher.to_owned(),
        product: offer.to_owned(),
    };
    let accepted = ctx
        .sim
        .scenario
        .marketplace_terms
        .iter()
        .any(|t| t.covers(sub, &seed));
    Ok(Reply::json(
        StatusCode::OK,
        json!({
            "id": format!("/subscriptions/{sub}/providers/Microsoft.MarketplaceOrdering/offerTypes/VirtualMachine/publishers/{publisher}/offers/{offer}/plans/{plan}/agreements/current"),
            "name": plan,
            "type": "Microsoft.MarketplaceOrdering/offertypes",
            "properties": {
                "publisher": publisher,
                "product": offer,
                "plan": plan,
                "licenseTextLink": "",
                "privacyPolicyLink": "",
                "marketplaceTermsLink": "",
                "retrieveDatetime": "",
                "signature": "",
                "accepted": accepted
            }
        }),
    ))
}
