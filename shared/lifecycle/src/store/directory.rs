//! A tenant's directory as the sync mirrors it, in domain words: its groups and memberships read
//! whole, its accounts and groups read by id, whether accounts or memberships are stored, and a
//! page of changes written in one call. The sync engine asks for these and never builds a key;
//! the shard partitions stay in [`keys`](super::keys).

use std::collections::{HashMap, HashSet};

use futures::{Stream, StreamExt as _, TryStreamExt as _};

use super::{Key, PartitionKey, Store, StoreError, keys};
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

/// What [`Store::write_directory`] did: items written and items deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryWritten {
    pub written: usize,
    pub deleted: usize,
}

fn key_of(tenant: &TenantId, item: &DirectoryItem) -> Key {
    match item {
        DirectoryItem::Account(account) => keys::account(tenant, account),
        DirectoryItem::Group(group) => keys::group(tenant, group),
        DirectoryItem::Membership(membership) => {
            keys::membership(tenant, &membership.group_id, &membership.account_id)
        }
    }
}

fn membership_key(tenant: &TenantId, membership: &Membership) -> Key {
    keys::membership(tenant, &membership.group_id, &membership.account_id)
}

/// The membership a membership key names (`{group}#{account}` in the group's shard).
fn membership_of(key: &Key) -> Result<Membership, StoreError> {
    let parsed = key.sk().split_once('#').and_then(|(group, account)| {
        Some(Membership {
            group_id: GroupId::parse(group).ok()?,
            account_id: AccountId::parse(account).ok()?,
        })
    });
    parsed.ok_or_else(|| StoreError::MalformedKey {
        pk: key.pk().to_owned(),
        sk: key.sk().to_owned(),
        expected: "a membership ({group id}#{account id})",
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
        let memberships = changes
            .memberships
            .into_iter()
            .map(|membership| (membership_key(tenant, &membership), membership))
            .collect();
        let removed = changes
            .removed
            .iter()
            .map(|item| key_of(tenant, item))
            .collect();
        let (accounts, groups, memberships, deleted) = futures::try_join!(
            self.put_all(accounts, concurrency),
            self.put_all(groups, concurrency),
            self.put_all(memberships, concurrency),
            self.delete_all(removed, concurrency),
        )?;
        Ok(DirectoryWritten {
            written: accounts + groups + memberships,
            deleted,
        })
    }

    async fn put_all<T: super::Record>(
        &self,
        items: Vec<(Key, T)>,
        concurrency: usize,
    ) -> Result<usize, StoreError> {
        let mut chunks = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(BATCH).collect::<Vec<_>>());
        }
        futures::stream::iter(chunks)
            .map(|chunk| self.batch_put(chunk))
            .buffer_unordered(concurrency)
            .try_fold(0, |total, written| {
                futures::future::ready(Ok(total + written))
            })
            .await
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

    /// Deletes `items` of the tenant's directory (25 per BatchWriteItem, one request at a time);
    /// answers how many went.
    pub async fn delete_directory_items(
        &self,
        tenant: &TenantId,
        items: &[DirectoryItem],
    ) -> Result<usize, StoreError> {
        let keys: Vec<Key> = items.iter().map(|item| key_of(tenant, item)).collect();
        self.batch_delete(keys).await
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

    /// Every stored membership of the tenant, read from the keys alone, shard by shard.
    pub fn membership_keys(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<Membership, StoreError>> + Send + 'static + use<> {
        let store = self.clone();
        futures::stream::iter(keys::membership_partitions(tenant))
            .map(move |partition| store.membership_keys_in(&partition, None))
            .flatten()
    }

    /// The stored memberships of `group`, read from the keys alone.
    pub fn group_membership_keys(
        &self,
        tenant: &TenantId,
        group: &GroupId,
    ) -> impl Stream<Item = Result<Membership, StoreError>> + Send + 'static + use<> {
        let partition = keys::group_members_partition(tenant, group);
        let prefix = keys::group_members_prefix(group);
        self.membership_keys_in(&partition, Some(&prefix))
    }

    fn membership_keys_in(
        &self,
        partition: &PartitionKey,
        prefix: Option<&str>,
    ) -> impl Stream<Item = Result<Membership, StoreError>> + Send + 'static + use<> {
        self.query_keys(partition, prefix)
            .map(|key| key.and_then(|key| membership_of(&key)))
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

    /// Which of `memberships` are stored (only the keys are read, 100 per BatchGetItem).
    pub async fn stored_memberships(
        &self,
        tenant: &TenantId,
        memberships: &[Membership],
    ) -> Result<HashSet<Membership>, StoreError> {
        let keys: Vec<Key> = memberships
            .iter()
            .map(|membership| membership_key(tenant, membership))
            .collect();
        let existing: HashSet<Key> = self.batch_existing(&keys).await?.into_iter().collect();
        Ok(memberships
            .iter()
            .filter(|membership| existing.contains(&membership_key(tenant, membership)))
            .cloned()
            .collect())
    }
}
