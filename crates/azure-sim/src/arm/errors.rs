//! ARM error replies shared by the resource handlers (texts as ARM returns them).

use http::StatusCode;

use super::Ctx;
use crate::http::Reply;

/// 400 `LocationRequired`.
pub(crate) fn location_required() -> Reply {
    Reply::arm_error(
        StatusCode::BAD_REQUEST,
        "LocationRequired",
        "The location property is required for this definition.",
    )
}

/// 404 `ResourceGroupNotFound`.
pub(crate) fn rg_not_found(rg: &str) -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

/// 404 `ResourceNotFound` for `{namespace}/{type}/{name}` in `rg`.
pub(crate) fn resource_not_found(display: &str, rg: &str) -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{display}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

/// 405 `HttpMethodNotSupported`.
pub(crate) fn method_not_allowed(ctx: &Ctx) -> Reply {
    Reply::arm_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "HttpMethodNotSupported",
        format!(
            "The requested resource does not support http method '{}'.",
            ctx.req.method
        ),
    )
}
