//! A tenant's items in domain words: its accounts, SKUs, job records, snapshots and password
//! hand-overs, so a handler asks the store for "the tenant's SKUs" and never builds a key. The
//! table's layout (partitions, shards, sort keys) stays in [`keys`](super::keys).

use std::collections::{HashMap, HashSet};

use futures::{Stream, StreamExt as _, TryStreamExt as _};

use super::{PartitionKey, PutOutcome, Record, Store, StoreError, keys};
use crate::ids::{AccountId, GroupId, JobId, SkuId, TenantId};
use crate::matching::ConfirmedMatch;
use crate::model::{
    Account, AccountSnapshot, Group, JobRecord, Membership, PasswordHandover, Sku, SyncRun,
    SyncSettings, TenantConnection, TenantIndexEntry, TenantSyncSettings,
};

/// What [`Store::put_read_back`] did with a job's read-back of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBackStored {
    /// Stored as the tenant's sync settings keep it.
    Kept(Box<Account>),
    /// Left out by the tenant's sync settings: not stored, and any stored copy removed with its
    /// `memberships`.
    LeftOut { memberships: usize },
}

/// Where a listing of a sharded kind (accounts, groups) goes on: the shard it stopped in and
/// the last id read there. Its text form (`{shard}.{id}`) is the API's opaque page cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCursor {
    shard: usize,
    after: String,
}

impl ShardCursor {
    /// A cursor this store gave out, or `None` for any other text.
    pub fn parse(text: &str) -> Option<ShardCursor> {
        let (shard, after) = text.split_once('.')?;
        let shard: usize = shard.parse().ok()?;
        (shard < usize::from(keys::SHARDS) && !after.is_empty()).then(|| ShardCursor {
            shard,
            after: after.to_owned(),
        })
    }
}

impl std::fmt::Display for ShardCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.shard, self.after)
    }
}

/// One page of a listing, and where the next one starts (`None` at the end).
#[derive(Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next: Option<ShardCursor>,
}

/// What [`Store::replace_skus`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkusReplaced {
    /// SKUs written because they were new or differed from the stored item.
    pub written: usize,
    /// Stored SKUs the tenant no longer subscribes to, deleted.
    pub removed: usize,
}

impl Store {
    /// The tenant's connection (a removed one too, until its removal ends).
    pub async fn connection(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<TenantConnection>, StoreError> {
        self.get(&keys::tenant_meta(tenant)).await
    }

    /// The tenant index: one entry per connected tenant, every organization's (one small
    /// partition, read whole).
    pub fn tenant_index(
        &self,
    ) -> impl Stream<Item = Result<TenantIndexEntry, StoreError>> + Send + 'static + use<> {
        self.query::<TenantIndexEntry>(&keys::tenant_index(), None)
    }

    /// The tenant's sync runs, oldest first.
    pub fn sync_runs(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<SyncRun, StoreError>> + Send + 'static + use<> {
        self.query::<SyncRun>(&keys::sync_run_partition(tenant), None)
    }

    /// Up to `limit` of the tenant's accounts that `keep` keeps, shard by shard from `from`.
    pub async fn list_accounts(
        &self,
        tenant: &TenantId,
        from: Option<&ShardCursor>,
        limit: usize,
        keep: impl Fn(&Account) -> bool,
    ) -> Result<Listing<Account>, StoreError> {
        let id = |account: &Account| account.id.as_str().to_owned();
        self.list_sharded(keys::account_partitions(tenant), from, limit, id, keep)
            .await
    }

    /// Up to `limit` of the tenant's groups that `keep` keeps, shard by shard from `from`.
    pub async fn list_groups(
        &self,
        tenant: &TenantId,
        from: Option<&ShardCursor>,
        limit: usize,
        keep: impl Fn(&Group) -> bool,
    ) -> Result<Listing<Group>, StoreError> {
        let id = |group: &Group| group.id.as_str().to_owned();
        self.list_sharded(keys::group_partitions(tenant), from, limit, id, keep)
            .await
    }

    /// Walks `partitions` from the cursor's, reading its shard from after its id (a key
    /// condition: DynamoDB skips what came before), and stops after `limit` kept records.
    async fn list_sharded<T: Record + Send + 'static>(
        &self,
        partitions: Vec<PartitionKey>,
        from: Option<&ShardCursor>,
        limit: usize,
        id_of: impl Fn(&T) -> String,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Listing<T>, StoreError> {
        let first = from.map_or(0, |cursor| cursor.shard);
        let mut items = Vec::with_capacity(limit);
        for (shard, partition) in partitions.iter().enumerate().skip(first) {
            let mut records = match from.filter(|cursor| cursor.shard == shard) {
                Some(cursor) => self.query_after::<T>(partition, &cursor.after).boxed(),
                None => self.query::<T>(partition, None).boxed(),
            };
            while let Some(record) = records.try_next().await? {
                if !keep(&record) {
                    continue;
                }
                let after = id_of(&record);
                items.push(record);
                if items.len() == limit {
                    let next = Some(ShardCursor { shard, after });
                    return Ok(Listing { items, next });
                }
            }
        }
        Ok(Listing { items, next: None })
    }

    /// The tenant's sync settings: as stored, or the defaults when the tenant never chose.
    pub async fn sync_settings(&self, tenant: &TenantId) -> Result<TenantSyncSettings, StoreError> {
        Ok(self
            .get(&keys::sync_settings(tenant))
            .await?
            .unwrap_or_else(|| TenantSyncSettings {
                tenant_id: tenant.clone(),
                settings: SyncSettings::default(),
                updated_at: None,
                full_sync_pending: false,
                revision: None,
            }))
    }

    /// Stores the tenant's sync settings (the connection's checks are the caller's).
    pub async fn put_sync_settings(&self, settings: &TenantSyncSettings) -> Result<(), StoreError> {
        self.put(&keys::sync_settings(&settings.tenant_id), settings)
            .await
    }

    /// Every match the platform confirmed for the tenant, by person id.
    pub fn confirmed_matches(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<ConfirmedMatch, StoreError>> + Send + 'static + use<> {
        self.query::<ConfirmedMatch>(
            &keys::tenant_partition(tenant),
            Some(keys::CONFIRMED_MATCH_PREFIX),
        )
    }

    /// Stores (or replaces) a confirmed match of the tenant.
    pub async fn put_confirmed_match(&self, confirmed: &ConfirmedMatch) -> Result<(), StoreError> {
        self.put(
            &keys::confirmed_match(&confirmed.tenant_id, &confirmed.person_id),
            confirmed,
        )
        .await
    }

    /// Records that the full run `settings` asked for has ended: clears its
    /// `full_sync_pending`, unless the settings changed again since they were read.
    pub async fn clear_full_sync_pending(
        &self,
        settings: &TenantSyncSettings,
    ) -> Result<(), StoreError> {
        let Some(revision) = settings.revision.as_deref() else {
            return Ok(());
        };
        let mut cleared = settings.clone();
        cleared.full_sync_pending = false;
        self.put_if(
            &keys::sync_settings(&settings.tenant_id),
            &cleared,
            "revision",
            revision,
        )
        .await?;
        Ok(())
    }

    /// Deletes every item of the tenant's `partitions` (its groups or memberships when the sync
    /// settings turn their kind off); returns how many were deleted.
    pub async fn delete_partitions(
        &self,
        partitions: Vec<PartitionKey>,
    ) -> Result<usize, StoreError> {
        let mut deleted = 0;
        for partition in partitions {
            let keys: Vec<super::Key> = self.query_keys(&partition, None).try_collect().await?;
            deleted += self.batch_delete(keys).await?;
        }
        Ok(deleted)
    }

    /// Every stored account of the tenant, shard by shard, one page in memory at a time.
    pub fn accounts(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<Account, StoreError>> + Send + 'static + use<> {
        let store = self.clone();
        futures::stream::iter(keys::account_partitions(tenant))
            .map(move |partition| store.query::<Account>(&partition, None))
            .flatten()
    }

    /// Deletes the stored memberships of `accounts`, in every group: an account the tenant's sync
    /// settings leave out takes its memberships with it. Reads every membership once, then
    /// changes the groups that held them; answers how many went.
    pub async fn remove_memberships_of(
        &self,
        tenant: &TenantId,
        accounts: &HashSet<AccountId>,
    ) -> Result<usize, StoreError> {
        if accounts.is_empty() {
            return Ok(0);
        }
        let gone: Vec<Membership> = self
            .memberships(tenant)
            .try_filter(|m| futures::future::ready(accounts.contains(&m.account_id)))
            .try_collect()
            .await?;
        self.remove_memberships(tenant, &gone).await
    }

    /// The tenant's subscribed SKUs as stored, in SKU id order.
    pub fn subscribed_skus(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<Sku, StoreError>> + Send + 'static + use<> {
        self.query::<Sku>(&keys::sku_partition(tenant), None)
    }

    /// One stored account of the tenant.
    pub async fn account(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<Account>, StoreError> {
        self.get(&keys::account(tenant, account)).await
    }

    /// One stored group of the tenant.
    pub async fn group(
        &self,
        tenant: &TenantId,
        group: &GroupId,
    ) -> Result<Option<Group>, StoreError> {
        self.get(&keys::group(tenant, group)).await
    }

    /// Stores an account a job read back from Graph after a write, as the tenant's sync settings
    /// keep it ([`SyncSettings::keeps`], [`SyncSettings::trimmed`], the sync's own filter): an
    /// account they leave out (a guest, a blocked account, the last chosen SKU removed...) is not
    /// stored, and a stored copy goes with its memberships, exactly as the next sync would do.
    /// An account marked deleted is stored as it is, as the sync marks a stored account deleted
    /// whatever the filter says. Needs only GetItem, Query and BatchWriteItem.
    pub async fn put_read_back(
        &self,
        tenant: &TenantId,
        account: Account,
    ) -> Result<ReadBackStored, StoreError> {
        if account.deleted {
            self.put_account(tenant, &account).await?;
            return Ok(ReadBackStored::Kept(Box::new(account)));
        }
        let settings = self.sync_settings(tenant).await?.settings;
        if settings.keeps(&account) {
            let account = settings.trimmed(account);
            self.put_account(tenant, &account).await?;
            return Ok(ReadBackStored::Kept(Box::new(account)));
        }
        let memberships = self
            .remove_memberships_of(tenant, &HashSet::from([account.id.clone()]))
            .await?;
        self.batch_delete(vec![keys::account(tenant, &account.id)])
            .await?;
        Ok(ReadBackStored::LeftOut { memberships })
    }

    /// Writes one account of the tenant (a job's read-back of what Graph now holds).
    pub async fn put_account(
        &self,
        tenant: &TenantId,
        account: &Account,
    ) -> Result<(), StoreError> {
        self.put(&keys::account(tenant, &account.id), account).await
    }

    /// Writes accounts of the tenant (25 to a request); returns how many were written.
    pub async fn put_accounts(
        &self,
        tenant: &TenantId,
        accounts: Vec<Account>,
    ) -> Result<usize, StoreError> {
        let records: Vec<_> = accounts
            .into_iter()
            .map(|account| (keys::account(tenant, &account.id), account))
            .collect();
        self.batch_put(records).await
    }

    /// Writes one group of the tenant (a job's read-back of what Graph now holds).
    pub async fn put_group(&self, tenant: &TenantId, group: &Group) -> Result<(), StoreError> {
        self.put(&keys::group(tenant, &group.id), group).await
    }

    /// Removes a group the tenant no longer has, with its stored memberships; returns how many
    /// memberships went with it.
    pub async fn remove_group(
        &self,
        tenant: &TenantId,
        group: &GroupId,
    ) -> Result<usize, StoreError> {
        let removed = self.delete_group_members(tenant, group).await?;
        self.delete(&keys::group(tenant, group)).await?;
        Ok(removed)
    }

    /// Makes the stored account members of `group` exactly `members` (what Graph answered):
    /// adds the missing memberships and removes the others.
    pub async fn replace_group_members(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        members: &[AccountId],
    ) -> Result<SkusReplaced, StoreError> {
        let stored: HashSet<AccountId> = self
            .group_members(tenant, group)
            .map_ok(|m| m.account_id)
            .try_collect()
            .await?;
        let wanted: HashSet<&AccountId> = members.iter().collect();
        let mut changes: Vec<(AccountId, bool)> = stored
            .iter()
            .filter(|account| !wanted.contains(account))
            .map(|account| (account.clone(), false))
            .collect();
        changes.extend(
            wanted
                .into_iter()
                .filter(|account| !stored.contains(*account))
                .map(|account| (account.clone(), true)),
        );
        let changed = self.change_members(tenant, group, changes).await?;
        Ok(SkusReplaced {
            written: changed.added as usize,
            removed: changed.removed as usize,
        })
    }

    /// The tenant's stored SKUs, by SKU id.
    pub async fn skus(&self, tenant: &TenantId) -> Result<HashMap<SkuId, Sku>, StoreError> {
        self.query::<Sku>(&keys::sku_partition(tenant), None)
            .map_ok(|sku| (sku.sku_id.clone(), sku))
            .try_collect()
            .await
    }

    /// Makes the tenant's stored SKUs what Graph answered (`fresh`): writes the new and changed
    /// ones and deletes the ones no longer subscribed. The sync and the license refresh both
    /// keep SKUs this way, so neither leaves behind what the other removed.
    pub async fn replace_skus(
        &self,
        tenant: &TenantId,
        fresh: &[Sku],
    ) -> Result<SkusReplaced, StoreError> {
        let stored = self.skus(tenant).await?;
        let seen: HashSet<&SkuId> = fresh.iter().map(|sku| &sku.sku_id).collect();
        let changed: Vec<_> = fresh
            .iter()
            .filter(|sku| stored.get(&sku.sku_id) != Some(*sku))
            .map(|sku| (keys::sku(tenant, &sku.sku_id), sku.clone()))
            .collect();
        let gone: Vec<_> = stored
            .keys()
            .filter(|id| !seen.contains(id))
            .map(|id| keys::sku(tenant, id))
            .collect();
        Ok(SkusReplaced {
            written: self.batch_put(changed).await?,
            removed: self.batch_delete(gone).await?,
        })
    }

    /// A job's record.
    pub async fn job_record(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.get(&keys::job(tenant, job)).await
    }

    /// Writes a job's record only if the job has none yet (the job id is the idempotency key).
    pub async fn put_new_job_record(&self, record: &JobRecord) -> Result<PutOutcome, StoreError> {
        self.put_new(&keys::job(&record.tenant_id, &record.job_id), record)
            .await
    }

    /// Writes a job's record over the stored one only while that one is still the revision
    /// `record` was read (or last written) at, and counts `record`'s revision up: every write of
    /// a job's record after the first, so of two writers (two deliveries of one job, a worker
    /// and the API's cancel) the one that read an older record stops instead of writing it back
    /// over a newer one. `false`, nothing written and `record` as it was, when another writer
    /// wrote the record meanwhile (or it is gone). A write that DynamoDB made but whose answer
    /// was lost (and that the SDK then retried into a failed condition) counts as written: the
    /// stored record is then exactly this one.
    pub async fn put_job_record_revised(&self, record: &mut JobRecord) -> Result<bool, StoreError> {
        let key = keys::job(&record.tenant_id, &record.job_id);
        let read = record.revision;
        record.revision = read.saturating_add(1);
        let written = match self.put_if_revision(&key, record, "revision", read).await {
            Ok(true) => Ok(true),
            Ok(false) => self
                .get::<JobRecord>(&key)
                .await
                .map(|stored| stored.as_ref() == Some(&*record)),
            Err(error) => Err(error),
        };
        if !matches!(written, Ok(true)) {
            record.revision = read;
        }
        written
    }

    /// Deletes a job's record.
    pub async fn delete_job_record(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<(), StoreError> {
        self.delete(&keys::job(tenant, job)).await
    }

    /// Writes a job's generated-password hand-over item unless one exists.
    pub async fn put_new_password_handover(
        &self,
        tenant: &TenantId,
        job: &JobId,
        handover: &PasswordHandover,
    ) -> Result<PutOutcome, StoreError> {
        self.put_new(&keys::password_handover(tenant, job), handover)
            .await
    }

    /// Takes (reads and deletes) a job's generated-password hand-over item.
    pub async fn take_password_handover(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<Option<PasswordHandover>, StoreError> {
        self.take(&keys::password_handover(tenant, job)).await
    }

    /// The snapshot an offboarding took of an account before its first write.
    pub async fn account_snapshot(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<AccountSnapshot>, StoreError> {
        self.get(&keys::account_snapshot(tenant, account)).await
    }

    /// Keeps an offboarding's snapshot (one per account: the latest offboarding's).
    pub async fn put_account_snapshot(&self, snapshot: &AccountSnapshot) -> Result<(), StoreError> {
        let key = keys::account_snapshot(&snapshot.tenant_id, &snapshot.account_id);
        self.put(&key, snapshot).await
    }

    /// Deletes a job's generated-password hand-over item (done when the password is taken, or
    /// when it expires untaken).
    pub async fn delete_password_handover(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<(), StoreError> {
        self.delete(&keys::password_handover(tenant, job)).await
    }
}
