//! Template deployments (placeholder while being written).
use http::StatusCode;

use super::{ArmResult, Ctx};
use crate::http::Reply;

pub(crate) fn handle(
    _ctx: &Ctx,
    _sub: &str,
    _rg: &str,
    _types: &[String],
    _names: &[String],
) -> ArmResult {
    Err(Reply::arm_error(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "deployments",
    ))
}
