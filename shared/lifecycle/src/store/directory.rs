//! A tenant's directory as the sync mirrors it, in domain words: its groups and memberships read
//! whole, its accounts and groups read by id, whether accounts or memberships are stored, and a
//! page of changes written in one call. The sync engine asks for these and never builds a key;
//! the shard partitions stay in [`keys`](super::keys).

use std::collections::{HashMap, HashSet};

use futures::{Stream, StreamExt as _, TryStreamExt as _};

use super::{Key, Store, StoreError, keys};
use crate::ids::{AccountId, GroupId, TenantId};
use crate::model::{Account, Group, Membership};

/// Items per BatchWriteItem request (the DynamoDB limit).
const BATCH: usize = 25;

/// One thing of a tenant's directory to delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DirectoryItem {
    Account(AccountId),
    Group(GroupId),
    Membership(Membership),
}

/// A kind of directory object the tenant's sync settings can turn off as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKind {
    Groups,
    Memberships,
}

/// One page of changes to a tenant's directory: records to write (replacing what is stored) and
/// items to delete.
#[derive(Debug, Default)]
pub struct DirectoryChanges {
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
    pub memberships: Vec<Membership>,
    pub removed: Vec<DirectoryItem>,
}

/// What [`Store::write_directory`] did: records written and deleted (a membership counts as one,
/// though a group's members share items), and the write units that cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryWritten {
    pub written: usize,
    pub deleted: usize,
    pub write_units: u64,
}

/// The key of an account or a group to delete (memberships are changed in their group's items).
fn key_of(tenant: &TenantId, item: &DirectoryItem) -> Option<Key> {
    match item {
        DirectoryItem::Account(account) => Some(keys::account(tenant, account)),
        DirectoryItem::Group(group) => Some(keys::group(tenant, group)),
        DirectoryItem::Membership(_) => None,
    }
}

/// The memberships among `items`.
fn memberships_of(items: &[DirectoryItem]) -> impl Iterator<Item = &Membership> {
    items.iter().filter_map(|item| match item {
        DirectoryItem::Membership(membership) => Some(membership),
        _ => None,
    })
}

impl Store {
    /// Writes a page of the tenant's directory changes: BatchWriteItem requests of 25, up to
    /// `concurrency` at a time, accounts, groups, memberships and deletions side by side, each
    /// request's items spread over the shard partitions by their ids.
    pub async fn write_directory(
        &self,
        tenant: &TenantId,
        changes: DirectoryChanges,
        concurrency: usize,
    ) -> Result<DirectoryWritten, StoreError> {
        let accounts = changes
            .accounts
            .into_iter()
            .map(|account| (keys::account(tenant, &account.id), account))
            .collect();
        let groups = changes
            .groups
            .into_iter()
            .map(|group| (keys::group(tenant, &group.id), group))
            .collect();
        let removed: Vec<Key> = changes
            .removed
            .iter()
            .filter_map(|item| key_of(tenant, item))
            .collect();
        let member_changes = changes
            .memberships
            .iter()
            .map(|membership| (membership, true))
            .chain(memberships_of(&changes.removed).map(|membership| (membership, false)));
        let (accounts, groups, members, deleted) = futures::try_join!(
            self.put_all(accounts, concurrency),
            self.put_all(groups, concurrency),
            self.change_memberships(tenant, member_changes, concurrency),
            self.delete_all(removed, concurrency),
        )?;
        Ok(DirectoryWritten {
            written: accounts.0 + groups.0 + members.added as usize,
            deleted: deleted + members.removed as usize,
            write_units: accounts.1 + groups.1 + members.write_units + deleted as u64,
        })
    }

    /// Puts `items` in BatchWriteItem requests of 25, `concurrency` at a time; answers how many
    /// were written and the write units they cost (one per KB of each item).
    async fn put_all<T: super::Record>(
        &self,
        items: Vec<(Key, T)>,
        concurrency: usize,
    ) -> Result<(usize, u64), StoreError> {
        let units = items
            .iter()
            .map(|(key, record)| super::item::write_units(key, record))
            .sum::<Result<u64, StoreError>>()?;
        let mut chunks = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(BATCH).collect::<Vec<_>>());
        }
        let written = futures::stream::iter(chunks)
            .map(|chunk| self.batch_put(chunk))
            .buffer_unordered(concurrency)
            .try_fold(0, |total, written| {
                futures::future::ready(Ok(total + written))
            })
            .await?;
        Ok((written, units))
    }

    async fn delete_all(&self, keys: Vec<Key>, concurrency: usize) -> Result<usize, StoreError> {
        let chunks: Vec<Vec<Key>> = keys.chunks(BATCH).map(<[Key]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.batch_delete(chunk))
            .buffer_unordered(concurrency)
            .try_fold(0, |total, deleted| {
                futures::future::ready(Ok(total + deleted))
            })
            .await
    }

    /// Deletes `items` of the tenant's directory (accounts and groups 25 per BatchWriteItem,
    /// memberships from their groups' items); answers how many went.
    pub async fn delete_directory_items(
        &self,
        tenant: &TenantId,
        items: &[DirectoryItem],
    ) -> Result<usize, StoreError> {
        let keys: Vec<Key> = items
            .iter()
            .filter_map(|item| key_of(tenant, item))
            .collect();
        let deleted = self.batch_delete(keys).await?;
        let members = self
            .change_memberships(tenant, memberships_of(items).map(|m| (m, false)), 4)
            .await?;
        Ok(deleted + members.removed as usize)
    }

    /// Deletes every stored object of `kind` of the tenant (a kind its sync settings turn off);
    /// answers how many went.
    pub async fn delete_directory_kind(
        &self,
        tenant: &TenantId,
        kind: DirectoryKind,
    ) -> Result<usize, StoreError> {
        let partitions = match kind {
            DirectoryKind::Groups => keys::group_partitions(tenant),
            DirectoryKind::Memberships => keys::membership_partitions(tenant),
        };
        self.delete_partitions(partitions).await
    }

    /// Every stored group of the tenant, shard by shard, one page in memory at a time.
    pub fn groups(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<Group, StoreError>> + Send + 'static + use<> {
        let store = self.clone();
        futures::stream::iter(keys::group_partitions(tenant))
            .map(move |partition| store.query::<Group>(&partition, None))
            .flatten()
    }

    /// Each of `groups` that is stored, whole (strongly consistent; one BatchGetItem per 100
    /// groups): what a delta round compares a page of changed groups with.
    pub async fn stored_groups(
        &self,
        tenant: &TenantId,
        groups: &[GroupId],
    ) -> Result<HashMap<GroupId, Group>, StoreError> {
        let keys: Vec<Key> = groups.iter().map(|id| keys::group(tenant, id)).collect();
        Ok(self
            .batch_get::<Group>(&keys)
            .await?
            .into_iter()
            .map(|(_, group)| (group.id.clone(), group))
            .collect())
    }

    /// Which of `accounts` are stored (only the keys are read, 100 per BatchGetItem).
    pub async fn stored_account_ids(
        &self,
        tenant: &TenantId,
        accounts: &[AccountId],
    ) -> Result<HashSet<AccountId>, StoreError> {
        let keys: Vec<Key> = accounts
            .iter()
            .map(|id| keys::account(tenant, id))
            .collect();
        let existing: HashSet<Key> = self.batch_existing(&keys).await?.into_iter().collect();
        Ok(accounts
            .iter()
            .filter(|id| existing.contains(&keys::account(tenant, id)))
            .cloned()
            .collect())
    }
}
