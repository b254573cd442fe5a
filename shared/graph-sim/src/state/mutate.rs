//! Deterministic mutations for tests (POST /_sim/tenants/{tid}/mutate).

use crate::config::{Mutation, MutationReport};
use crate::state::Tenant;

pub(crate) fn apply(
    _t: &mut Tenant,
    _m: &Mutation,
    _rng: &mut fastrand::Rng,
    _started: i64,
) -> MutationReport {
    MutationReport::default()
}
