//! Writing a page's changes to DynamoDB, and the comparisons that decide what changed.

use lifecycle::model::{Account, AssignedLicense, Group, ObjectCounts};
use lifecycle::store::{DirectoryChanges, DirectoryKind, MemberChanges, MembershipsApplied};

use crate::state::hash_str;

use super::*;

impl Engine<'_> {
    /// Writes a page's changes: BatchWriteItem requests of 25, several at a time, each request's
    /// items spread over the shard partitions by their ids; nothing when the tenant's connection
    /// is no longer this run's ([`Engine::ensure_same_connection`]).
    pub(super) async fn apply(&mut self, writes: Writes) -> Result<(), SyncError> {
        self.apply_with_members(writes, MemberChanges::default())
            .await
    }

    /// [`Self::apply`], and at the same time `members` (each placed in its group's leaf, the
    /// last change of an account in a group winning), counted where they changed the store: an
    /// added membership not stored before, a removed one stored (a replayed page, or a member
    /// added and removed again since the last round, changes nothing).
    pub(super) async fn apply_with_members(
        &mut self,
        writes: Writes,
        members: MemberChanges,
    ) -> Result<(), SyncError> {
        let _commit = self.ensure_same_connection().await?;
        let concurrency = self.settings.write_concurrency.max(1);
        let changes = DirectoryChanges {
            accounts: writes.accounts,
            groups: writes.groups,
            memberships: Vec::new(),
            removed: writes.deletes,
        };
        let (store, tenant) = (self.store(), &self.tenant.tenant_id);
        let (written, applied) =
            futures::try_join!(store.write_directory(tenant, changes, concurrency), async {
                if members.is_empty() {
                    Ok(MembershipsApplied::default())
                } else {
                    store
                        .apply_member_changes(tenant, members, concurrency)
                        .await
                }
            },)?;
        self.report.items_written += written.written as u64 + applied.added;
        self.report.items_deleted += written.deleted as u64 + applied.removed;
        self.report.write_units += written.write_units + applied.write_units;
        self.report.membership_write_units += applied.write_units;
        self.run.counts.memberships.added += applied.added;
        self.run.counts.memberships.removed += applied.removed;
        for membership in &applied.added_memberships {
            self.note_added(membership);
        }
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
