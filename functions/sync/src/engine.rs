//! One tenant's sync: the phases, the delta rounds, the compare-then-write, the sweep.
//!
//! Three phases run at the same time, each one chain of requests under the tenant's Graph
//! budget (the client's limiter is shared): `tenant` (organization, verified domains, subscribed
//! SKUs), `users` (the users delta round: accounts with their licenses), `groups` (the groups delta
//! round with `members@delta`: groups and memberships). None needs another's result: a membership
//! is keyed by the group's and the account's ids, both on the group's page. Within a round, a
//! page's writes and checkpoint run while the next page is read (one page ahead at most, so memory
//! stays bounded by two pages). A round is *full* on the first sync, when the run
//! asks for it, or after Graph refuses a delta link (410): it reads every object, compares each
//! with what is stored (by fingerprint), writes only what differs, and at its end sweeps what it
//! did not see (accounts and groups are marked deleted, memberships removed). A *delta* round
//! applies just the changes Graph reports, removals included.
//!
//! After every applied page the link to continue from is saved (see [`crate::state`]), so the
//! run can stop when its time budget is spent and a continuation, or a redelivery after a crash,
//! resumes at the next page. Mailbox usage is read in full rounds only (delta queries do not
//! report it); a delta round keeps what the stored account has. Last sign-in is not the sync's
//! read: the license refresh reads `signInActivity` (120 users a page, the slowest chain of a
//! tenant's reads) and updates that attribute alone; the sync keeps it whenever it rewrites an
//! account, and a new account shows "not read yet" until the refresh reads it.

mod excluded;
mod extras;
mod groups;
mod rounds;
mod tenant;
mod users;
mod writes;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use graph::{GraphError, TenantGraph};
use lifecycle::model::{
    Account, Group, MailboxUsage, Membership, SyncCounts, SyncCursor, SyncRun, SyncSettings,
    TenantConnection,
};
use lifecycle::store::DirectoryItem;
use lifecycle::{Key, Lease, Platform, Store, StoreError};
use thiserror::Error;

/// How one invocation of the sync works.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time one invocation may spend before it checkpoints and queues its continuation. Lambda
    /// does not put its deadline in the event, so the budget is explicit: set it a few minutes
    /// under the function's timeout (the last page and the checkpoint must still fit).
    pub budget: Duration,
    /// How long the tenant's sync lease lasts without renewal; renewed as pages are applied.
    pub lease_ttl: Duration,
    /// Concurrent BatchWriteItem requests per page.
    pub write_concurrency: usize,
    /// How long a sync that found another run holding the lease waits before it tries again.
    pub wait_delay: Duration,
    /// How long a job that failed for a transient reason stays invisible before SQS delivers it
    /// again (the queue's own visibility timeout, 6 x the function's, would be 90 minutes).
    pub retry_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            // 13 minutes of a 15-minute Lambda timeout.
            budget: Duration::from_secs(780),
            lease_ttl: Duration::from_secs(900),
            write_concurrency: 8,
            wait_delay: Duration::from_secs(60),
            retry_delay: Duration::from_secs(60),
        }
    }
}

/// Why a sync stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Graph ended a delta round without a delta link.
    #[error("Microsoft Graph ended the {resource} delta round without a delta link")]
    RoundWithoutLink { resource: &'static str },
}

impl SyncError {
    /// Whether a later delivery may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Graph(error) => error.is_retryable(),
            Self::Store(error) => error.is_retryable(),
            Self::RoundWithoutLink { .. } => true,
        }
    }

    /// How long Graph asked the sync to wait before asking again (its `Retry-After` on a 429 or
    /// 503 the invocation could not wait out), if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Graph(error) => error.retry_after(),
            Self::Store(_) | Self::RoundWithoutLink { .. } => None,
        }
    }
}

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Tenant,
    Users,
    Groups,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Tenant, Phase::Users, Phase::Groups];

    /// The name in a continuation's cursor.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Users => "users",
            Self::Groups => "groups",
        }
    }

    /// The phase named in a cursor.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|phase| phase.name() == name)
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every phase is done.
    Finished,
    /// The budget is spent; a continuation resumes at the cursor.
    Paused(SyncCursor),
}

/// Figures of one invocation, for logs and the bench.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Wall time per phase (a phase also counts its sweep and its reads of sign-ins/mailboxes).
    pub phases: Vec<(&'static str, Duration)>,
    /// Items put to DynamoDB.
    pub items_written: u64,
    /// Items deleted from DynamoDB.
    pub items_deleted: u64,
    /// DynamoDB write units of the directory's writes (one per KB of each item written; a
    /// group's members share items, so a membership costs a share of one).
    pub write_units: u64,
    /// Of `write_units`, those of the groups' member items.
    pub membership_write_units: u64,
    /// Objects read from Graph (accounts, groups, member references).
    pub objects_read: u64,
}

/// Mailbox usage read for a full round: UPN hash -> usage. `None` in the engine: not read.
type Mailboxes = HashMap<u64, MailboxUsage>;

/// What a full round knows of the stored objects: id hash -> fingerprint (and license origins).
struct StoredSet<V> {
    items: HashMap<u64, V>,
    /// Stored ids not seen in the round yet: what the sweep removes at the end.
    unseen: HashSet<u64>,
}

impl<V> Default for StoredSet<V> {
    fn default() -> Self {
        Self {
            items: HashMap::new(),
            unseen: HashSet::new(),
        }
    }
}

#[derive(Clone)]
struct StoredAccount {
    fingerprint: u64,
    /// (SKU hash, origin hash) per license.
    licenses: Vec<(u64, u64)>,
}

/// The page's writes, applied together once the page is read.
#[derive(Default)]
struct Writes {
    accounts: Vec<Account>,
    groups: Vec<Group>,
    deletes: Vec<DirectoryItem>,
    /// Member changes (added or not), written only where they change the store, and counted
    /// then.
    member_changes: Vec<(Membership, bool)>,
    /// Groups the page removes.
    removed_groups: Vec<lifecycle::GroupId>,
}

/// Where a delta round starts.
#[derive(Debug, Clone)]
struct RoundPlan {
    from: Option<String>,
    full: bool,
    done: bool,
    /// No round of this resource was ever saved, so the store holds none of its objects (a fresh
    /// connection starts empty): a full round need not read what is stored.
    fresh: bool,
}

/// One invocation of one tenant's sync.
pub struct Engine<'a> {
    platform: &'a Platform,
    graph: TenantGraph,
    tenant: TenantConnection,
    run: SyncRun,
    run_key: Key,
    settings: &'a Settings,
    started: Instant,
    lease: Lease,
    graph_base: lifecycle::model::GraphCounters,
    mailboxes: Option<Mailboxes>,
    /// What the tenant chose to sync (kinds, which accounts).
    sync: SyncSettings,
    /// Problems that leave the run Partial, for a person.
    notes: Vec<String>,
    report: Report,
    /// The run as every phase of this invocation has counted it: each phase adds what it counted
    /// since its last save and saves the whole under this lock, so a saved run holds every
    /// phase's counts and saves never overtake one another.
    shared: Arc<tokio::sync::Mutex<SyncRun>>,
    /// This phase's counts when it last added them to `shared`.
    counted: SyncCounts,
    /// Stored accounts this invocation removed because the tenant's sync settings leave them out:
    /// their memberships go once the groups round has run too ([`Self::execute`]).
    left_out: HashSet<lifecycle::AccountId>,
    /// Accounts the users round found the tenant's sync settings leave out in this invocation,
    /// stored or not ([`Self::drop_excluded_additions`] needs no Graph read for them).
    seen_left_out: HashSet<lifecycle::AccountId>,
    /// Memberships the groups round added in this invocation, by account, while the tenant's
    /// sync settings leave some accounts out: the groups round cannot tell whether a member is
    /// one of them, so they are checked once the phases end ([`Self::drop_excluded_additions`]).
    added_members: HashMap<lifecycle::AccountId, Vec<lifecycle::GroupId>>,
    /// Held from a phase's check of the connection to the end of the writes it allows
    /// ([`Self::ensure_same_connection`]), so no phase writes between another's check and the
    /// removal that check would have seen.
    commits: Arc<tokio::sync::Mutex<()>>,
}

/// A phase's permission to write: the connection was this run's when it was given, and no other
/// phase writes while it is held.
type Commit = tokio::sync::OwnedMutexGuard<()>;

impl<'a> Engine<'a> {
    /// An engine for `run` of `tenant`, holding `lease`.
    pub fn new(
        platform: &'a Platform,
        graph: TenantGraph,
        tenant: TenantConnection,
        (run, run_key): (SyncRun, Key),
        lease: Lease,
        settings: &'a Settings,
    ) -> Self {
        Self {
            platform,
            graph,
            tenant,
            graph_base: run.graph,
            shared: Arc::new(tokio::sync::Mutex::new(run.clone())),
            counted: run.counts,
            left_out: HashSet::new(),
            seen_left_out: HashSet::new(),
            added_members: HashMap::new(),
            commits: Arc::new(tokio::sync::Mutex::new(())),
            run,
            run_key,
            settings,
            started: Instant::now(),
            lease,
            mailboxes: None,
            sync: SyncSettings::default(),
            notes: Vec::new(),
            report: Report::default(),
        }
    }

    /// The same engine keeping what the tenant's sync settings choose (the defaults keep
    /// everything). Mailbox usage, when the settings turn it off, is not read from Graph. (Last
    /// sign-in is the license refresh's read; the kind governs that read.)
    pub fn with_sync_settings(mut self, sync: SyncSettings) -> Self {
        self.tenant.options.skip_mailboxes |= !sync.kinds.mailboxes;
        self.sync = sync;
        self
    }

    /// `account` as the tenant's sync settings keep it, or `None` when they leave it out.
    fn kept(&self, account: Account) -> Option<Account> {
        self.sync
            .keeps(&account)
            .then(|| self.sync.trimmed(account))
    }

    /// The run as it stands (counts, Graph figures).
    pub fn run(&self) -> &SyncRun {
        &self.run
    }

    /// The tenant as this run has read it (name, domains, P1).
    pub fn tenant(&self) -> &TenantConnection {
        &self.tenant
    }

    /// The lease as last renewed.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// What the run could not read, for a person (empty: nothing).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// This invocation's figures.
    pub fn report(&self) -> &Report {
        &self.report
    }

    fn store(&self) -> &Store {
        &self.platform.store
    }

    fn out_of_time(&self) -> bool {
        self.started.elapsed() >= self.settings.budget
    }

    /// Runs the phases from `resume` (or the start) at the same time, a full sync when `full`.
    ///
    /// A continuation's cursor names the first phase not finished (`users` while the users round
    /// is unfinished, else `groups`); each round resumes from its own saved link, so a cursor of
    /// the phases' earlier one-after-another order resumes the same way.
    pub async fn execute(
        &mut self,
        resume: Option<&SyncCursor>,
        full: bool,
    ) -> Result<Outcome, SyncError> {
        let first = resume
            .and_then(|cursor| Phase::parse(&cursor.phase))
            .unwrap_or(Phase::Tenant);
        let (mut tenant, mut users, mut groups) = (self.phase(), self.phase(), self.phase());
        // Boxed: the sync's future stays small enough for a thread's stack in debug builds.
        let joined = futures::try_join!(
            Box::pin(async {
                let started = Instant::now();
                if first <= Phase::Tenant {
                    tenant.tenant_phase().await?;
                }
                Ok::<_, SyncError>(started.elapsed())
            }),
            Box::pin(async {
                let started = Instant::now();
                let paused = if first <= Phase::Users {
                    users.users_phase(full).await?
                } else {
                    None
                };
                Ok::<_, SyncError>((paused, started.elapsed()))
            }),
            Box::pin(async {
                let started = Instant::now();
                let paused = groups.groups_phase(full).await?;
                Ok::<_, SyncError>((paused, started.elapsed()))
            }),
        );
        let (tenant_took, (users_paused, users_took), (groups_paused, groups_took)) = match joined {
            Ok(joined) => joined,
            Err(error) => {
                // What stands is what the phases saved (with their links).
                self.run = self.shared.lock().await.clone();
                return Err(error);
            }
        };
        if first <= Phase::Tenant {
            self.tenant.display_name = tenant.tenant.display_name.clone();
            self.tenant.verified_domains = tenant.tenant.verified_domains.clone();
        }
        for (phase, took, part) in [
            (Phase::Tenant, tenant_took, &mut tenant),
            (Phase::Users, users_took, &mut users),
            (Phase::Groups, groups_took, &mut groups),
        ] {
            if phase >= first {
                self.report.phases.push((phase.name(), took));
            }
            self.absorb(part).await;
        }
        // First the memberships this invocation added (no longer counted added), then whatever
        // else the accounts left out still have (counted removed).
        self.drop_excluded_additions().await?;
        self.remove_left_out_memberships().await?;
        self.save_progress().await?;
        let paused = match (users_paused, groups_paused) {
            (Some(link), _) => Some((Phase::Users, link)),
            (None, Some(link)) => Some((Phase::Groups, link)),
            (None, None) => None,
        };
        Ok(match paused {
            Some((phase, link)) => Outcome::Paused(SyncCursor {
                phase: phase.name().to_owned(),
                link,
            }),
            None => Outcome::Finished,
        })
    }

    /// An engine for one phase of this invocation: the same run, tenant and lease, its own
    /// figures and notes, its counts added to the run's at each save ([`Self::save_progress`]).
    fn phase(&self) -> Engine<'a> {
        Engine {
            platform: self.platform,
            graph: self.graph.clone(),
            tenant: self.tenant.clone(),
            run: self.run.clone(),
            run_key: self.run_key.clone(),
            settings: self.settings,
            started: self.started,
            lease: self.lease.clone(),
            graph_base: self.graph_base,
            mailboxes: None,
            sync: self.sync.clone(),
            notes: Vec::new(),
            report: Report::default(),
            shared: Arc::clone(&self.shared),
            counted: self.run.counts,
            left_out: HashSet::new(),
            seen_left_out: HashSet::new(),
            added_members: HashMap::new(),
            commits: Arc::clone(&self.commits),
        }
    }

    /// Takes a finished phase's counts, figures, notes and newest lease into this engine.
    async fn absorb(&mut self, part: &mut Engine<'a>) {
        {
            let mut run = self.shared.lock().await;
            part.add_counts(&mut run);
            self.run = run.clone();
        }
        self.counted = self.run.counts;
        self.report.items_written += part.report.items_written;
        self.report.items_deleted += part.report.items_deleted;
        self.report.write_units += part.report.write_units;
        self.report.membership_write_units += part.report.membership_write_units;
        self.report.objects_read += part.report.objects_read;
        for note in part.notes.drain(..) {
            if self.notes.len() < 20 {
                self.notes.push(note);
            }
        }
        if part.lease.until > self.lease.until {
            self.lease = part.lease.clone();
        }
        self.left_out.extend(part.left_out.drain());
        self.seen_left_out.extend(part.seen_left_out.drain());
        for (account, groups) in part.added_members.drain() {
            self.added_members
                .entry(account)
                .or_default()
                .extend(groups);
        }
    }

    /// Deletes the memberships of the accounts this invocation left out (after the phases, so a
    /// membership the groups round wrote meanwhile goes too).
    async fn remove_left_out_memberships(&mut self) -> Result<(), SyncError> {
        if self.left_out.is_empty() {
            return Ok(());
        }
        let _commit = self.ensure_same_connection().await?;
        let removed = self
            .store()
            .remove_memberships_of(&self.tenant.tenant_id, &self.left_out)
            .await?;
        self.run.counts.memberships.removed += removed as u64;
        self.report.items_deleted += removed as u64;
        self.left_out.clear();
        Ok(())
    }

    /// Adds what this phase counted since its last save to `run`.
    fn add_counts(&mut self, run: &mut SyncRun) {
        let (now, before) = (self.run.counts, self.counted);
        for (total, now, before) in [
            (&mut run.counts.accounts, now.accounts, before.accounts),
            (&mut run.counts.groups, now.groups, before.groups),
            (
                &mut run.counts.memberships,
                now.memberships,
                before.memberships,
            ),
            (&mut run.counts.licenses, now.licenses, before.licenses),
        ] {
            total.added += now.added.saturating_sub(before.added);
            total.changed += now.changed.saturating_sub(before.changed);
            total.removed += now.removed.saturating_sub(before.removed);
        }
        self.counted = now;
        run.full |= self.run.full;
    }

    /// Saves the run's counts (every phase's, [`Self::add_counts`]) and Graph figures so far.
    async fn save_progress(&mut self) -> Result<(), SyncError> {
        let shared = Arc::clone(&self.shared);
        let mut run = shared.lock().await;
        self.add_counts(&mut run);
        let metrics = self.graph.metrics();
        run.graph.requests = self.graph_base.requests + metrics.requests;
        run.graph.retries = self.graph_base.retries + metrics.retries;
        run.graph.throttled = self.graph_base.throttled + metrics.throttled;
        self.platform.store.put(&self.run_key, &*run).await?;
        self.run.graph = run.graph;
        Ok(())
    }

    /// Before a page's writes are committed: stops the run ([`StoreError::TenantGone`]) unless
    /// the tenant's stored connection is still the one this run syncs: there, not `removed`,
    /// and of the same generation. A removal followed by a new connection mints a new
    /// generation, so a late run of the old connection writes nothing under the new one (one
    /// consistent read per page; the worker sweeps what a run wrote before a bare removal). The
    /// phases run at the same time, so the check hands back a [`Commit`]: the caller holds it
    /// through its writes, and no other phase writes in between.
    async fn ensure_same_connection(&self) -> Result<Commit, SyncError> {
        let commit = Arc::clone(&self.commits).lock_owned().await;
        let current = self.platform.tenant(&self.tenant.tenant_id).await?;
        let same = current.is_some_and(|current| {
            current.status != lifecycle::model::ConnectionStatus::Removed
                && current.generation == self.tenant.generation
        });
        if same {
            Ok(commit)
        } else {
            Err(SyncError::Store(StoreError::TenantGone {
                tenant_id: self.tenant.tenant_id.clone(),
            }))
        }
    }

    /// Between pages: renews the lease when half of it has passed (the connection itself is
    /// checked at each page's commit, [`Self::ensure_same_connection`]).
    async fn keep_lease(&mut self) -> Result<(), SyncError> {
        let left = self.lease.until - Utc::now();
        let half = chrono::Duration::from_std(self.settings.lease_ttl / 2).unwrap_or_default();
        if left < half {
            self.lease = self
                .store()
                .renew_lease(&self.lease, self.settings.lease_ttl)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::writes::count_licenses;
    use super::*;
    use lifecycle::model::ObjectCounts;

    #[test]
    fn given_an_account_whose_licenses_change_when_counted_then_gain_loss_and_origin_are_told_apart()
     {
        let mut counts = ObjectCounts::default();
        // Held SKU 1 directly and SKU 2; now SKU 1 through a group and SKU 3.
        count_licenses(&mut counts, &[(1, 0), (2, 0)], &[(1, 9), (3, 0)]);
        assert_eq!(
            counts,
            ObjectCounts {
                added: 1,
                changed: 1,
                removed: 1
            }
        );
    }

    #[test]
    fn given_phase_names_when_parsed_then_they_round_trip() {
        for phase in Phase::ALL {
            assert_eq!(Phase::parse(phase.name()), Some(phase));
        }
        assert_eq!(Phase::parse("mailboxes"), None);
    }
}
