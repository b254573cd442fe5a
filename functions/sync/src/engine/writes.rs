//! Writing a page's changes to DynamoDB, and the comparisons that decide what changed.

use lifecycle::model::{Account, AssignedLicense, Group, ObjectCounts};
use lifecycle::store::{DirectoryChanges, DirectoryKind};

use crate::state::hash_str;

use super::*;

impl Engine<'_> {
    /// Writes a page's changes: BatchWriteItem requests of 25, several at a time, each request's
    /// items spread over the shard partitions by their ids; nothing when the tenant's connection
    /// is no longer this run's ([`Engine::ensure_same_connection`]). What the tenant's sync
    /// settings leave out (memberships) is not written.
    pub(super) async fn apply(&mut self, mut writes: Writes) -> Result<(), SyncError> {
        let _commit = self.ensure_same_connection().await?;
        if !self.sync.kinds.memberships {
            writes.memberships.clear();
        }
        let concurrency = self.settings.write_concurrency.max(1);
        let changes = DirectoryChanges {
            accounts: writes.accounts,
            groups: writes.groups,
            memberships: writes.memberships,
            removed: writes.deletes,
        };
        let written = self
            .store()
            .write_directory(&self.tenant.tenant_id, changes, concurrency)
            .await?;
        self.report.items_written += written.written as u64;
        self.report.items_deleted += written.deleted as u64;
        self.report.write_units += written.write_units;
        Ok(())
    }

    /// Deletes every stored object of `kind` (a kind the tenant's sync settings turn off).
    pub(super) async fn purge(&mut self, kind: DirectoryKind) -> Result<(), SyncError> {
        let _commit = self.ensure_same_connection().await?;
        let tenant = self.tenant.tenant_id.clone();
        // Boxed: the sync's future stays small enough for a thread's stack in debug builds.
        let deleted = Box::pin(self.store().delete_directory_kind(&tenant, kind)).await?;
        self.report.items_deleted += deleted as u64;
        Ok(())
    }
}

pub(super) fn marked_deleted(account: &Account) -> Account {
    Account {
        deleted: true,
        ..account.clone()
    }
}

pub(super) fn marked_group_deleted(group: &Group) -> Group {
    Group {
        deleted: true,
        ..group.clone()
    }
}

pub(super) fn license_hashes(licenses: &[AssignedLicense]) -> Vec<(u64, u64)> {
    licenses
        .iter()
        .map(|license| {
            (
                hash_str(license.sku_id.as_str()),
                license
                    .assigned_by_group
                    .as_ref()
                    .map_or(0, |group| hash_str(group.as_str())),
            )
        })
        .collect()
}

/// License counts of one account's change: a SKU gained is added, lost is removed, held with
/// another origin (direct vs a group) is changed.
pub(super) fn count_licenses(counts: &mut ObjectCounts, old: &[(u64, u64)], new: &[(u64, u64)]) {
    for (sku, origin) in new {
        let before: Vec<u64> = old
            .iter()
            .filter(|(s, _)| s == sku)
            .map(|(_, o)| *o)
            .collect();
        if before.is_empty() {
            counts.added += 1;
        } else if !before.contains(origin) {
            counts.changed += 1;
        }
    }
    for (sku, _) in old {
        if !new.iter().any(|(s, _)| s == sku) {
            counts.removed += 1;
        }
    }
}
