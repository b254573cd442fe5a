//! POST /$batch.

use crate::auth::Caller;
use crate::http::{self, RequestIds, Resp};
use crate::state::Sim;

pub(crate) fn batch(_sim: &Sim, _caller: &Caller, ids: &RequestIds, _body: &[u8]) -> Resp {
    http::bad_request(ids, "not yet")
}
