//! Removing a tenant's data: every item it owns here, counted by kind for the removal's answer.

use std::collections::HashMap;

use futures::TryStreamExt as _;

use super::{Key, PartitionKey, Store, StoreError, keys};
use crate::ids::TenantId;
use crate::model::{TenantConnection, TenantIndexEntry};

/// Items per BatchWriteItem (DynamoDB's limit).
const CHUNK: usize = 25;

/// What was deleted here, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Deleted {
    pub accounts: usize,
    pub groups: usize,
    pub memberships: usize,
    pub skus: usize,
    pub sync_runs: usize,
    pub jobs: usize,
    /// Offboarding snapshots (what a restore would give back).
    pub snapshots: usize,
    /// Jobs parked until their start time.
    pub parked_jobs: usize,
    /// The connection, sync lease and delta links.
    pub connection: usize,
    pub index_entry: usize,
    /// Items found by the final sweep (written while the removal ran).
    pub other: usize,
    pub total: usize,
}

/// The kind of each partition, for the counts.
fn kinds(tenant: &TenantId) -> HashMap<PartitionKey, &'static str> {
    let mut kinds = HashMap::new();
    for (kind, partitions) in [
        ("accounts", keys::account_partitions(tenant)),
        ("groups", keys::group_partitions(tenant)),
        ("memberships", keys::membership_partitions(tenant)),
        ("skus", vec![keys::sku_partition(tenant)]),
        ("sync_runs", vec![keys::sync_run_partition(tenant)]),
        (
            "jobs",
            vec![
                keys::job_partition(tenant),
                keys::password_handover_partition(tenant),
            ],
        ),
        ("snapshots", vec![keys::snapshot_partition(tenant)]),
        ("connection", vec![keys::tenant_partition(tenant)]),
    ] {
        for partition in partitions {
            kinds.insert(partition, kind);
        }
    }
    kinds
}

impl Store {
    /// Deletes every item of the tenant: each partition's items, the index entry, a sweep for
    /// anything written meanwhile, and the connection item last of all (so a removal that stops
    /// half-way is found and finished by the next DELETE, and no new connection is made before the
    /// sweep ends).
    pub async fn delete_removed_tenant(&self, tenant: &TenantId) -> Result<Deleted, StoreError> {
        let store = self;
        let kinds = kinds(tenant);
        let meta = keys::tenant_meta(tenant);
        let mut deleted = Deleted {
            parked_jobs: store.delete_scheduled_jobs(tenant).await?,
            ..Deleted::default()
        };
        for partition in keys::all_tenant_partitions(tenant) {
            let mut count = 0;
            let mut stream = std::pin::pin!(store.query_keys(&partition, None));
            let mut chunk = Vec::with_capacity(CHUNK);
            while let Some(key) = stream.try_next().await? {
                if key == meta {
                    continue;
                }
                chunk.push(key);
                if chunk.len() == CHUNK {
                    count += store.batch_delete(std::mem::take(&mut chunk)).await?;
                }
            }
            count += store.batch_delete(chunk).await?;
            match kinds.get(&partition).copied().unwrap_or("other") {
                "accounts" => deleted.accounts += count,
                "groups" => deleted.groups += count,
                "memberships" => deleted.memberships += count,
                "skus" => deleted.skus += count,
                "sync_runs" => deleted.sync_runs += count,
                "jobs" => deleted.jobs += count,
                "snapshots" => deleted.snapshots += count,
                "connection" => deleted.connection += count,
                _ => deleted.other += count,
            }
        }
        if store
            .take::<TenantIndexEntry>(&keys::tenant_index_entry(tenant))
            .await?
            .is_some()
        {
            deleted.index_entry = 1;
        }
        // The sweep for anything written meanwhile comes before the connection goes: while the
        // connection (marked `removed`) is there, no new connection of the tenant can be made, so
        // this sweep never deletes a newer connection's data.
        deleted.other += store.delete_tenant(tenant).await?;
        if store.take::<TenantConnection>(&meta).await?.is_some() {
            deleted.connection += 1;
        }
        deleted.total = deleted.accounts
            + deleted.groups
            + deleted.memberships
            + deleted.skus
            + deleted.sync_runs
            + deleted.jobs
            + deleted.snapshots
            + deleted.parked_jobs
            + deleted.connection
            + deleted.index_entry
            + deleted.other;
        Ok(deleted)
    }

    /// Deletes everything the tenant owns here but its connection item: every item of
    /// [`keys::all_tenant_partitions`], its parked jobs and its tenant index entry. Returns the
    /// number of items deleted. Safe to repeat. The connection (`META`) is left to its owner: a
    /// removal deletes it last (so an interrupted removal is found again), and while it says
    /// `removed` no new connection can be made over it.
    pub async fn delete_tenant(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let meta = keys::tenant_meta(tenant);
        let mut deleted = 0;
        for partition in keys::all_tenant_partitions(tenant) {
            let mut keys = std::pin::pin!(self.query_keys(&partition, None));
            let mut chunk = Vec::with_capacity(CHUNK);
            while let Some(key) = keys.try_next().await? {
                if key == meta {
                    continue;
                }
                chunk.push(key);
                if chunk.len() == CHUNK {
                    deleted += self.batch_delete(std::mem::take(&mut chunk)).await?;
                }
            }
            deleted += self.batch_delete(chunk).await?;
        }
        deleted += self.delete_scheduled_jobs(tenant).await?;
        // Query and BatchWriteItem rather than GetItem and DeleteItem: the workers that sweep a
        // removed tenant hold those two. A tenant id is a GUID, so the prefix is the whole key.
        let index = keys::tenant_index_entry(tenant);
        let found: Vec<Key> = self
            .query_keys(index.partition(), Some(index.sk()))
            .try_filter(|key| futures::future::ready(key == &index))
            .try_collect()
            .await?;
        deleted += self.batch_delete(found).await?;
        Ok(deleted)
    }

    /// Deletes the tenant's parked (scheduled) jobs from the shared `SCHEDULED` partition (a
    /// few items: it is read whole). Returns how many.
    pub async fn delete_scheduled_jobs(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let of_tenant: Vec<Key> = self
            .query_keys(&keys::scheduled_jobs(), None)
            .try_filter(|key| futures::future::ready(keys::is_scheduled_job_of(key, tenant)))
            .try_collect()
            .await?;
        self.batch_delete(of_tenant).await
    }
}
