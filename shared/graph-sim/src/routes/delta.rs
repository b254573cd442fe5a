//! GET /users/delta and /groups/delta.

use crate::http::{self, Resp};
use crate::routes::Cx;

pub(crate) fn users(cx: &Cx<'_>) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}

pub(crate) fn groups(cx: &Cx<'_>) -> Result<Resp, Resp> {
    Err(http::bad_request(cx.ids, "not yet"))
}
