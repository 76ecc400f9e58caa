//! The deployed app's allow-lists (`IMAGEFERRY_ALLOWED_GALLERIES`, `IMAGEFERRY_ALLOWED_TARGETS`),
//! read with the handler's own parser.

use super::CheckArgs;
use super::report::Report;
use imageferry_contract::{DeploymentRequest, ImageId};

/// The gallery and target lines.
pub(super) fn allow_lists(
    r: &mut Report,
    args: &CheckArgs,
    req: &DeploymentRequest,
    image: &ImageId,
) {
    let (Some(g), Some(t)) = (&args.allowed_galleries, &args.allowed_targets) else {
        r.bad(
            "allow-lists",
            "not checked: the deployed app's IMAGEFERRY_ALLOWED_GALLERIES / IMAGEFERRY_ALLOWED_TARGETS are not known here",
            "pass --allowed-galleries and --allowed-targets (the Function App's settings: az functionapp config appsettings list)",
        );
        return;
    };
    let vars = |k: &str| match k {
        "IMAGEFERRY_ALLOWED_GALLERIES" => Some(g.clone()),
        "IMAGEFERRY_ALLOWED_TARGETS" => Some(t.clone()),
        "AZURE_TENANT_ID" => {
            Some(std::env::var("AZURE_TENANT_ID").unwrap_or_else(|_| "doctor".into()))
        }
        _ => None,
    };
    let config = match imageferry_handlers::Config::from_vars(vars) {
        Ok(c) => c,
        Err(e) => {
            r.bad("allow-lists", e.to_string(), "fix the setting's syntax");
            return;
        }
    };
    if config.gallery_allowed(image) {
        r.ok("gallery allowed", image.gallery_id());
    } else {
        r.bad(
            "gallery allowed",
            format!(
                "{} is not in IMAGEFERRY_ALLOWED_GALLERIES",
                image.gallery_id()
            ),
            format!("add {} to IMAGEFERRY_ALLOWED_GALLERIES", image.gallery_id()),
        );
    }
    let tg = &req.target;
    if config.target_allowed(&tg.tenant_id, &tg.subscription_id, &tg.resource_group) {
        r.ok(
            "target allowed",
            format!(
                "{}/{}/{}",
                tg.tenant_id, tg.subscription_id, tg.resource_group
            ),
        );
    } else {
        r.bad(
            "target allowed",
            format!(
                "{}/{}/{} is not in IMAGEFERRY_ALLOWED_TARGETS",
                tg.tenant_id, tg.subscription_id, tg.resource_group
            ),
            format!(
                "add {}/{} (or …/{}) to IMAGEFERRY_ALLOWED_TARGETS",
                tg.tenant_id, tg.subscription_id, tg.resource_group
            ),
        );
    }
}
