//! Writes: users, licenses, memberships, restore.

use crate::http::{self, Resp};
use crate::routes::Cx;

pub(crate) fn create_user(cx: &Cx<'_>) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn patch_user(cx: &Cx<'_>, _id: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn delete_user(cx: &Cx<'_>, _id: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn revoke_sessions(cx: &Cx<'_>, _id: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn assign_license(cx: &Cx<'_>, _id: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn add_member(cx: &Cx<'_>, _id: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn remove_member(cx: &Cx<'_>, _g: &str, _m: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
pub(crate) fn restore(cx: &Cx<'_>, _id: &str) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
