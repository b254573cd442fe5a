//! Where a tenant's sync goes on from: each round's saved state (its delta link) and a run's
//! checkpoint chunks, kept by name under the tenant. The sync names them; the store keys them.

use super::{Record, Store, StoreError, keys};
use crate::ids::TenantId;

impl Store {
    /// The sync state saved under `name` for the tenant (a round's delta link, a checkpoint
    /// chunk), if any.
    pub async fn sync_state<T: Record>(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(&keys::delta_link(tenant, name)).await
    }

    /// Saves `state` under `name` for the tenant, replacing what was there.
    pub async fn put_sync_state<T: Record>(
        &self,
        tenant: &TenantId,
        name: &str,
        state: &T,
    ) -> Result<(), StoreError> {
        self.put(&keys::delta_link(tenant, name), state).await
    }

    /// Saves several states at once (25 per BatchWriteItem), each under its name; answers how
    /// many were written.
    pub async fn put_sync_states<T: Record>(
        &self,
        tenant: &TenantId,
        states: Vec<(String, T)>,
    ) -> Result<usize, StoreError> {
        let records = states
            .into_iter()
            .map(|(name, state)| (keys::delta_link(tenant, &name), state));
        self.batch_put(records).await
    }
}
