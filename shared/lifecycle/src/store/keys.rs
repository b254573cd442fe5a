//! Every DynamoDB key of the table, and nowhere else.
//!
//! One table, string keys `pk` and `sk`:
//!
//! | item                | pk                              | sk                               |
//! |---------------------|---------------------------------|----------------------------------|
//! | tenant connection   | `T#{tenant}`                    | `META`                           |
//! | sync lease          | `T#{tenant}`                    | `LEASE#sync`                     |
//! | pending sync run    | `T#{tenant}`                    | `SYNC#pending`                   |
//! | delta link / cursor | `T#{tenant}`                    | `DELTA#{resource}`               |
//! | tenant index entry  | `TENANTS`                       | `{tenant}`                       |
//! | account             | `T#{tenant}#ACCT#{shard:02}`    | `{account id}`                   |
//! | group               | `T#{tenant}#GRP#{shard:02}`     | `{group id}`                     |
//! | members of a group  | `T#{tenant}#MEMB#{shard:02}`    | `{group id}#{0/1 path}`          |
//! | subscribed SKU      | `T#{tenant}#SKUS`               | `{sku id}`                       |
//! | sync run            | `T#{tenant}#RUNS`               | `{started_at rfc3339 ms}#{run}`  |
//! | job record          | `T#{tenant}#JOBS`               | `{job id}`                       |
//! | password hand-over  | `T#{tenant}#HANDOVER`           | `{job id}`                       |
//! | account snapshot    | `T#{tenant}#SNAP`               | `{account id}`                   |
//! | OAuth state         | `STATE#{nonce}`                 | `STATE`                          |
//! | scheduled job       | `SCHEDULED`                     | `{not before rfc3339 ms}#{tenant}#{job}` |
//!
//! Accounts, groups and memberships spread over [`SHARDS`] partitions per tenant, chosen by a
//! stable hash of the object id (a group's members by the group, so they share a partition; they
//! are packed into items of at most 1 KB, see `memberships.rs`), so a 100k-account sync is not capped by one partition's write rate (1,000 WCU/s).
//! [`all_tenant_partitions`] lists every partition a tenant owns, so removal deletes everything.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::ids::{AccountId, GroupId, JobId, PersonId, SkuId, SyncRunId, TenantId};

/// Partitions per tenant for accounts, groups and memberships.
pub const SHARDS: u8 = 16;

/// A partition key (`pk`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey(String);

impl PartitionKey {
    /// The `pk` value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The full key of one item (`pk` and `sk`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pk: PartitionKey,
    sk: String,
}

impl Key {
    fn new(pk: PartitionKey, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    /// Rebuilds a key read back from the table (the adapter's query of keys).
    pub(crate) fn from_stored(pk: String, sk: String) -> Self {
        Self {
            pk: PartitionKey(pk),
            sk,
        }
    }

    /// The partition key.
    pub fn partition(&self) -> &PartitionKey {
        &self.pk
    }

    /// The `pk` value.
    pub fn pk(&self) -> &str {
        self.pk.as_str()
    }

    /// The `sk` value.
    pub fn sk(&self) -> &str {
        &self.sk
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

/// The shard (0..16) of an object id: the first byte of its SHA-256, so it is the same in every
/// process and every release (unlike std's randomly seeded hasher).
pub fn shard_of(object_id: &str) -> u8 {
    let digest = Sha256::digest(object_id.as_bytes());
    digest[0] % SHARDS
}

fn tenant_root(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

fn sharded(tenant: &TenantId, kind: &str, shard: u8) -> PartitionKey {
    PartitionKey(format!("T#{tenant}#{kind}#{shard:02}"))
}

fn all_shards(tenant: &TenantId, kind: &str) -> Vec<PartitionKey> {
    (0..SHARDS)
        .map(|shard| sharded(tenant, kind, shard))
        .collect()
}

/// The tenant's own partition: connection, lease, delta links.
pub fn tenant_partition(tenant: &TenantId) -> PartitionKey {
    PartitionKey(tenant_root(tenant))
}

/// The tenant connection.
pub fn tenant_meta(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "META")
}

/// The newest job of one account (`account`: [`Job::account`](crate::model::Job::account)) that
/// ran to its end: an older job of that account arriving later is superseded
/// ([`crate::jobs`]).
pub fn latest_account_job(tenant: &TenantId, account: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("LATEST#{account}"))
}

/// The tenant's sync lease (one sync at a time).
pub fn sync_lease(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "LEASE#sync")
}

/// The tenant's pending sync run: the one run queued or running that sync requests merge into.
pub fn pending_sync(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "SYNC#pending")
}

/// Where the sign-in read of one license-refresh job stands (the next page's link), so a later
/// invocation of the job continues there.
pub fn sign_in_cursor(tenant: &TenantId, job: &JobId) -> Key {
    Key::new(tenant_partition(tenant), format!("SIGNINS#{job}"))
}

/// A saved delta link or cursor of one resource (`users`, `groups`, ...).
pub fn delta_link(tenant: &TenantId, resource: &str) -> Key {
    Key::new(tenant_partition(tenant), format!("DELTA#{resource}"))
}

/// A match the platform confirmed between one of its people and an account of the tenant.
pub fn confirmed_match(tenant: &TenantId, person: &PersonId) -> Key {
    Key::new(
        tenant_partition(tenant),
        format!("{CONFIRMED_MATCH_PREFIX}{person}"),
    )
}

/// The sort-key prefix of every confirmed match of a tenant (in [`tenant_partition`]).
pub const CONFIRMED_MATCH_PREFIX: &str = "MATCH#";

/// The tenant's sync settings ([`crate::model::TenantSyncSettings`]).
pub fn sync_settings(tenant: &TenantId) -> Key {
    Key::new(tenant_partition(tenant), "SYNC_SETTINGS")
}

/// The sort-key prefix of every delta link of a tenant (in [`tenant_partition`]).
pub const DELTA_LINK_PREFIX: &str = "DELTA#";

/// The partition of the tenant index (small: one item per tenant, read by the scheduler).
pub fn tenant_index() -> PartitionKey {
    PartitionKey("TENANTS".to_owned())
}

/// A tenant's entry in the tenant index.
pub fn tenant_index_entry(tenant: &TenantId) -> Key {
    Key::new(tenant_index(), tenant.as_str())
}

/// An account.
pub fn account(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(
        sharded(tenant, "ACCT", shard_of(account.as_str())),
        account.as_str(),
    )
}

/// Every partition holding the tenant's accounts.
pub fn account_partitions(tenant: &TenantId) -> Vec<PartitionKey> {
    all_shards(tenant, "ACCT")
}

/// A group.
pub fn group(tenant: &TenantId, group: &GroupId) -> Key {
    Key::new(
        sharded(tenant, "GRP", shard_of(group.as_str())),
        group.as_str(),
    )
}

/// Every partition holding the tenant's groups.
pub fn group_partitions(tenant: &TenantId) -> Vec<PartitionKey> {
    all_shards(tenant, "GRP")
}

/// A node of `group`'s membership trie (`path`: bits of its members' hashes, `0`/`1`; the root
/// is `""`), in the group's shard; see `memberships.rs`.
pub fn membership_node(tenant: &TenantId, group: &GroupId, path: &str) -> Key {
    Key::new(
        group_members_partition(tenant, group),
        format!("{group}#{path}"),
    )
}

/// The partition holding `group`'s memberships; query it with [`group_members_prefix`].
pub fn group_members_partition(tenant: &TenantId, group: &GroupId) -> PartitionKey {
    sharded(tenant, "MEMB", shard_of(group.as_str()))
}

/// The sort-key prefix of `group`'s memberships.
pub fn group_members_prefix(group: &GroupId) -> String {
    format!("{group}#")
}

/// Every partition holding the tenant's memberships.
pub fn membership_partitions(tenant: &TenantId) -> Vec<PartitionKey> {
    all_shards(tenant, "MEMB")
}

/// The partition of the tenant's subscribed SKUs (a few dozen at most).
pub fn sku_partition(tenant: &TenantId) -> PartitionKey {
    PartitionKey(format!("T#{tenant}#SKUS"))
}

/// A subscribed SKU.
pub fn sku(tenant: &TenantId, sku: &SkuId) -> Key {
    Key::new(sku_partition(tenant), sku.as_str())
}

/// The partition of the tenant's sync log; sort keys order runs by start time.
pub fn sync_run_partition(tenant: &TenantId) -> PartitionKey {
    PartitionKey(format!("T#{tenant}#RUNS"))
}

/// A sync run, sorted by its start (RFC 3339 UTC with milliseconds, so text order is time order).
pub fn sync_run(tenant: &TenantId, started_at: DateTime<Utc>, run: &SyncRunId) -> Key {
    Key::new(
        sync_run_partition(tenant),
        format!(
            "{}#{run}",
            started_at.to_rfc3339_opts(SecondsFormat::Millis, true)
        ),
    )
}

/// The partition of the tenant's job records.
pub fn job_partition(tenant: &TenantId) -> PartitionKey {
    PartitionKey(format!("T#{tenant}#JOBS"))
}

/// A job record.
pub fn job(tenant: &TenantId, job: &JobId) -> Key {
    Key::new(job_partition(tenant), job.as_str())
}

/// The partition of the tenant's generated passwords waiting to be handed back.
pub fn password_handover_partition(tenant: &TenantId) -> PartitionKey {
    PartitionKey(format!("T#{tenant}#HANDOVER"))
}

/// The hand-over of job (`tenant`, `job`)'s generated password (taken once).
pub fn password_handover(tenant: &TenantId, job: &JobId) -> Key {
    Key::new(password_handover_partition(tenant), job.as_str())
}

/// The partition of the tenant's account snapshots (what an offboarding removed, kept for the
/// 30-day restore window).
pub fn snapshot_partition(tenant: &TenantId) -> PartitionKey {
    PartitionKey(format!("T#{tenant}#SNAP"))
}

/// The snapshot of `account` taken by its latest offboarding.
pub fn account_snapshot(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(snapshot_partition(tenant), account.as_str())
}

/// A pending OAuth consent, by the nonce carried in the signed `state` parameter.
pub fn oauth_state(nonce: &str) -> Key {
    Key::new(PartitionKey(format!("STATE#{nonce}")), "STATE")
}

/// The partition of jobs waiting for their start time, in start-time order (a schedule sends the
/// due ones; few items, so one partition).
pub fn scheduled_jobs() -> PartitionKey {
    PartitionKey("SCHEDULED".to_owned())
}

/// A job waiting until `not_before`.
pub fn scheduled_job(not_before: DateTime<Utc>, tenant: &TenantId, job: &JobId) -> Key {
    Key::new(
        scheduled_jobs(),
        format!(
            "{}#{tenant}#{job}",
            not_before.to_rfc3339_opts(SecondsFormat::Millis, true)
        ),
    )
}

/// Whether `key` is a parked job of `tenant` (sort key `{not before}#{tenant}#{job}`; the time
/// holds no `#`).
pub fn is_scheduled_job_of(key: &Key, tenant: &TenantId) -> bool {
    key.partition() == &scheduled_jobs() && key.sk().split('#').nth(1) == Some(tenant.as_str())
}

/// The partition of sweeps under way (`SWEEPS` / `{tenant}#{sweeper}`): a worker that sweeps a
/// removed tenant marks it here first, and a new connection of that tenant is refused while a
/// mark is live (see `Platform::sweep_if_removed`). Not a tenant partition: a sweep does not
/// delete the marks of others.
pub fn sweeps() -> PartitionKey {
    PartitionKey("SWEEPS".to_owned())
}

/// The mark of one sweep of `tenant` by `sweeper` (a random id per sweep).
pub fn sweep(tenant: &TenantId, sweeper: &str) -> Key {
    Key::new(sweeps(), format!("{tenant}#{sweeper}"))
}

/// The sort-key prefix of every sweep mark of `tenant`.
pub fn sweeps_of(tenant: &TenantId) -> String {
    format!("{tenant}#")
}

/// Every partition that holds the tenant's items; deleting them all (plus
/// [`tenant_index_entry`], which lives in the shared index partition) removes the tenant.
pub fn all_tenant_partitions(tenant: &TenantId) -> Vec<PartitionKey> {
    let mut partitions = vec![
        tenant_partition(tenant),
        sku_partition(tenant),
        sync_run_partition(tenant),
        job_partition(tenant),
        password_handover_partition(tenant),
        snapshot_partition(tenant),
    ];
    partitions.extend(account_partitions(tenant));
    partitions.extend(group_partitions(tenant));
    partitions.extend(membership_partitions(tenant));
    partitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn tenant() -> TenantId {
        TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap()
    }

    #[test]
    fn given_an_object_id_when_sharded_then_the_shard_is_stable_and_in_range() {
        // Pinned: a change here would strand every stored item in the wrong partition.
        // SHA-256("abc") starts with 0xba = 186, and 186 % 16 = 10.
        assert_eq!(shard_of("abc"), 10);
        let id = "0b9f1c2e-0000-4000-8000-000000000001";
        assert_eq!(shard_of(id), shard_of(id));
        assert!(shard_of(id) < SHARDS);
    }

    #[test]
    fn given_many_accounts_when_sharded_then_every_shard_gets_some() {
        let tenant = tenant();
        let used: HashSet<String> = (0..1_000)
            .map(|n| {
                let id = AccountId::parse(&format!("00000000-0000-4000-8000-{n:012}")).unwrap();
                account(&tenant, &id).pk().to_owned()
            })
            .collect();
        assert_eq!(used.len(), usize::from(SHARDS));
    }

    #[test]
    fn given_every_tenant_key_kind_when_listed_then_all_tenant_partitions_covers_it() {
        let tenant = tenant();
        let partitions: HashSet<PartitionKey> =
            all_tenant_partitions(&tenant).into_iter().collect();
        let account_id = AccountId::parse("0b9f1c2e-0000-4000-8000-000000000001").unwrap();
        let group_id = GroupId::parse("0b9f1c2e-0000-4000-8000-000000000002").unwrap();
        let sku_id = SkuId::parse("c7df2760-2c81-4ef7-b578-5b5392b571df").unwrap();
        let keys = [
            tenant_meta(&tenant),
            sync_lease(&tenant),
            delta_link(&tenant, "users"),
            account(&tenant, &account_id),
            group(&tenant, &group_id),
            membership_node(&tenant, &group_id, "01"),
            sku(&tenant, &sku_id),
            sync_run(&tenant, Utc::now(), &SyncRunId::new()),
            job(&tenant, &JobId::new()),
            password_handover(&tenant, &JobId::new()),
            account_snapshot(&tenant, &account_id),
        ];
        for key in &keys {
            assert!(partitions.contains(key.partition()), "{key} not covered");
        }
        assert_eq!(partitions.len(), 6 + 3 * usize::from(SHARDS));
        assert!(!partitions.contains(tenant_index_entry(&tenant).partition()));
    }

    #[test]
    fn given_parked_jobs_of_two_tenants_when_told_apart_then_only_the_tenants_own_match() {
        let tenant = tenant();
        let other = TenantId::parse("0b9f1c2e-0000-4000-8000-0000000000ff").unwrap();
        let job = JobId::parse("j-1").unwrap();
        let at = Utc::now();
        assert!(is_scheduled_job_of(
            &scheduled_job(at, &tenant, &job),
            &tenant
        ));
        assert!(!is_scheduled_job_of(
            &scheduled_job(at, &other, &job),
            &tenant
        ));
        assert!(!is_scheduled_job_of(&tenant_meta(&tenant), &tenant));
    }

    #[test]
    fn given_two_sync_runs_when_keyed_then_text_order_is_start_order() {
        let tenant = tenant();
        let early = DateTime::parse_from_rfc3339("2025-01-01T09:59:59.5Z")
            .unwrap()
            .to_utc();
        let late = DateTime::parse_from_rfc3339("2025-01-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let run = SyncRunId::parse("r").unwrap();
        let (a, b) = (
            sync_run(&tenant, early, &run),
            sync_run(&tenant, late, &run),
        );
        assert_eq!(a.sk(), "2025-01-01T09:59:59.500Z#r");
        assert!(a.sk() < b.sk());
    }

    #[test]
    fn given_a_group_when_its_members_are_keyed_then_they_share_the_groups_partition_and_prefix() {
        let tenant = tenant();
        let group_id = GroupId::parse("0b9f1c2e-0000-4000-8000-000000000002").unwrap();
        let key = membership_node(&tenant, &group_id, "0110");
        assert_eq!(
            key.partition(),
            &group_members_partition(&tenant, &group_id)
        );
        assert!(key.sk().starts_with(&group_members_prefix(&group_id)));
    }
}
