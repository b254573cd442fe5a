//! One tenant's sync: the phases, the delta rounds, the compare-then-write, the sweep.
//!
//! Phases run in order: `tenant` (organization, verified domains, subscribed SKUs), `users` (the
//! users delta round: accounts with their licenses), `groups` (the groups delta round with
//! `members@delta`: groups and memberships). A round is *full* on the first sync, when the run
//! asks for it, or after Graph refuses a delta link (410): it reads every object, compares each
//! with what is stored (by fingerprint), writes only what differs, and at its end sweeps what it
//! did not see (accounts and groups are marked deleted, memberships removed). A *delta* round
//! applies just the changes Graph reports, removals included.
//!
//! After every applied page the link to continue from is saved (see [`crate::state`]), so the
//! run can stop when its time budget is spent and a continuation, or a redelivery after a crash,
//! resumes at the next page. Last sign-in and mailbox usage are read in full rounds only (delta
//! queries do not report them); a delta round keeps what the stored account has.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{StreamExt as _, TryStreamExt as _};
use graph::{GraphError, GroupChange, MemberChange, RemovedReason, TenantGraph, UserChange};
use lifecycle::model::{
    Account, AssignedLicense, Group, LastSignIn, MailboxUsage, Membership, ObjectCounts, Sku,
    SyncCursor, SyncRun, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{AccountId, DomainName, GroupId, Key, Lease, Platform, Store, StoreError};
use serde::Serialize;
use thiserror::Error;

use crate::convert::{self, Extras};
use crate::state::{Blob, DeltaState, fingerprint, hash_str};

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
    /// Objects read from Graph (accounts, groups, member references).
    pub objects_read: u64,
}

/// Last sign-ins read for a full round.
enum SignIns {
    /// The tenant's options skip them.
    Skipped,
    /// The tenant has no Entra ID P1.
    Unavailable,
    /// Account id hash -> epoch milliseconds of the last sign-in, [`NEVER`] if none.
    Read(HashMap<u64, i64>),
}

const NEVER: i64 = i64::MIN;
/// In a saved sign-in blob, this key marks "unavailable: no P1".
const UNAVAILABLE_MARK: u64 = u64::MAX;

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
    accounts: Vec<(Key, Account)>,
    groups: Vec<(Key, Group)>,
    memberships: Vec<(Key, Membership)>,
    deletes: Vec<Key>,
    /// Member changes of a delta round, written only where they change the store.
    member_changes: Vec<(Key, Membership, bool)>,
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
    sign_ins: Option<SignIns>,
    mailboxes: Option<Mailboxes>,
    /// Problems that leave the run Partial, for a person.
    notes: Vec<String>,
    report: Report,
}

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
            run,
            run_key,
            settings,
            started: Instant::now(),
            lease,
            sign_ins: None,
            mailboxes: None,
            notes: Vec::new(),
            report: Report::default(),
        }
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

    /// Runs the phases from `resume` (or the start), a full sync when `full`.
    pub async fn execute(
        &mut self,
        resume: Option<&SyncCursor>,
        full: bool,
    ) -> Result<Outcome, SyncError> {
        let first = resume
            .and_then(|cursor| Phase::parse(&cursor.phase))
            .unwrap_or(Phase::Tenant);
        for phase in Phase::ALL.into_iter().filter(|phase| *phase >= first) {
            let started = Instant::now();
            let paused = match phase {
                Phase::Tenant => {
                    let users = self.plan("users", full).await?;
                    self.tenant_phase(users.full).await?;
                    None
                }
                Phase::Users => self.users_phase(full).await?,
                Phase::Groups => self.groups_phase(full).await?,
            };
            self.report.phases.push((phase.name(), started.elapsed()));
            if let Some(link) = paused {
                return Ok(Outcome::Paused(SyncCursor {
                    phase: phase.name().to_owned(),
                    link,
                }));
            }
            if let Some(next) = Phase::ALL.into_iter().find(|p| *p > phase)
                && self.out_of_time()
            {
                self.save_progress().await?;
                return Ok(Outcome::Paused(SyncCursor {
                    phase: next.name().to_owned(),
                    link: String::new(),
                }));
            }
        }
        self.save_progress().await?;
        Ok(Outcome::Finished)
    }

    /// Saves the run's counts and Graph figures so far.
    async fn save_progress(&mut self) -> Result<(), SyncError> {
        let metrics = self.graph.metrics();
        self.run.graph.requests = self.graph_base.requests + metrics.requests;
        self.run.graph.retries = self.graph_base.retries + metrics.retries;
        self.run.graph.throttled = self.graph_base.throttled + metrics.throttled;
        self.platform.store.put(&self.run_key, &self.run).await?;
        Ok(())
    }

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

    // ------------------------------------------------------------------ tenant

    /// Organization (name, verified domains) and subscribed SKUs (written when changed, removed
    /// when no longer subscribed).
    async fn tenant_phase(&mut self, sweep_skus: bool) -> Result<(), SyncError> {
        let organization = self.graph.organization().await?;
        if let Some(name) = organization.display_name.filter(|n| !n.trim().is_empty()) {
            self.tenant.display_name = name;
        }
        let domains: Vec<DomainName> = organization
            .verified_domains
            .iter()
            .filter_map(|d| d.name.as_deref())
            .filter_map(|name| DomainName::parse(name).ok())
            .collect();
        if !domains.is_empty() {
            self.tenant.verified_domains = domains;
        }
        let tenant_id = self.tenant.tenant_id.clone();
        let mut subscribed = Vec::new();
        let mut skus = pin!(self.graph.subscribed_skus());
        while let Some(sku) = skus.try_next().await? {
            match convert::sku(&sku) {
                Ok(sku) => subscribed.push(sku),
                Err(error) => self.note(format!("a subscribed SKU was skipped: {error}")),
            }
        }
        // A full sync also finds SKUs no longer subscribed (reading the SKU partition); a delta
        // sync compares each listed SKU with its own item.
        let stored: HashMap<String, Sku> = if sweep_skus {
            self.store()
                .query::<Sku>(&keys::sku_partition(&tenant_id), None)
                .map_ok(|sku| (sku.sku_id.to_string(), sku))
                .try_collect()
                .await?
        } else {
            let mut found = HashMap::new();
            for sku in &subscribed {
                if let Some(stored) = self
                    .store()
                    .get::<Sku>(&keys::sku(&tenant_id, &sku.sku_id))
                    .await?
                {
                    found.insert(sku.sku_id.to_string(), stored);
                }
            }
            found
        };
        let seen: HashSet<String> = subscribed
            .iter()
            .map(|sku| sku.sku_id.to_string())
            .collect();
        let changed: Vec<(Key, Sku)> = subscribed
            .into_iter()
            .filter(|sku| stored.get(sku.sku_id.as_str()) != Some(sku))
            .map(|sku| (keys::sku(&tenant_id, &sku.sku_id), sku))
            .collect();
        let gone: Vec<Key> = stored
            .values()
            .filter(|sku| !seen.contains(sku.sku_id.as_str()))
            .map(|sku| keys::sku(&tenant_id, &sku.sku_id))
            .collect();
        self.report.items_written += self.store().batch_put(changed).await? as u64;
        self.report.items_deleted += self.store().batch_delete(gone).await? as u64;
        Ok(())
    }

    // ------------------------------------------------------------------ planning

    /// Where the round of `resource` starts: the run's own unfinished round, a fresh full round,
    /// or a delta round from the stored delta link.
    async fn plan(&self, resource: &str, force_full: bool) -> Result<RoundPlan, SyncError> {
        let state = DeltaState::load(self.store(), &self.tenant.tenant_id, resource).await?;
        let full_from_start = RoundPlan {
            from: None,
            full: true,
            done: false,
            fresh: state.is_none(),
        };
        Ok(match state {
            Some(state) if state.run == self.run.id => RoundPlan {
                done: state.complete,
                full: state.full_round,
                from: Some(state.link),
                fresh: false,
            },
            _ if force_full => full_from_start,
            None => full_from_start,
            Some(state) if state.complete => RoundPlan {
                from: Some(state.link),
                full: false,
                done: false,
                fresh: false,
            },
            // An abandoned full round of another run: its sweep cannot be trusted, so start over.
            Some(state) if state.full_round => full_from_start,
            // An abandoned delta round: applying its changes again is harmless, so go on.
            Some(state) => RoundPlan {
                from: Some(state.link),
                full: false,
                done: false,
                fresh: false,
            },
        })
    }

    async fn save_round(
        &mut self,
        resource: &str,
        link: &str,
        complete: bool,
        full: bool,
    ) -> Result<(), SyncError> {
        DeltaState {
            resource: resource.to_owned(),
            link: link.to_owned(),
            complete,
            full_round: full,
            run: self.run.id.clone(),
            updated_at: Utc::now(),
        }
        .save(self.store(), &self.tenant.tenant_id)
        .await?;
        self.save_progress().await
    }

    fn note(&mut self, note: String) {
        tracing::warn!(tenant_id = %self.tenant.tenant_id, %note, "sync: partial");
        if self.notes.len() < 20 {
            self.notes.push(note);
        }
    }

    // ------------------------------------------------------------------ sign-ins, mailboxes

    /// Reads (or, in a continuation, reloads) what a full users round puts on every account.
    async fn ensure_extras(&mut self, link: Option<&str>) -> Result<(), SyncError> {
        if self.sign_ins.is_none() {
            let saved = match link {
                Some(_) => self.load_sign_ins().await?,
                None => None,
            };
            self.sign_ins = Some(match saved {
                Some(sign_ins) => sign_ins,
                None => self.read_sign_ins().await?,
            });
        }
        if self.mailboxes.is_none() {
            self.mailboxes = Some(self.read_mailboxes().await?);
        }
        Ok(())
    }

    async fn read_sign_ins(&mut self) -> Result<SignIns, SyncError> {
        if self.tenant.options.skip_sign_in {
            return Ok(SignIns::Skipped);
        }
        let mut read = HashMap::new();
        let mut pages = pin!(self.graph.user_sign_in_pages(None));
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    for user in page.items {
                        let at = user
                            .sign_in_activity
                            .as_ref()
                            .and_then(graph::SignInActivity::last_activity)
                            .map_or(NEVER, |at| at.timestamp_millis());
                        read.insert(hash_str(&user.id), at);
                    }
                }
                Ok(None) => break,
                Err(GraphError::SignInActivityUnavailable(detail)) => {
                    tracing::info!(tenant_id = %self.tenant.tenant_id, %detail, "last sign-in not available: no Entra ID P1");
                    self.tenant.has_p1 = Some(false);
                    return Ok(SignIns::Unavailable);
                }
                Err(error) => return Err(error.into()),
            }
        }
        self.tenant.has_p1 = Some(true);
        Ok(SignIns::Read(read))
    }

    async fn load_sign_ins(&self) -> Result<Option<SignIns>, SyncError> {
        if self.tenant.options.skip_sign_in {
            return Ok(Some(SignIns::Skipped));
        }
        let saved = Blob::load(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            "sign-ins",
            None,
        )
        .await?;
        Ok(saved.map(|entries| {
            if entries.contains_key(&UNAVAILABLE_MARK) {
                SignIns::Unavailable
            } else {
                SignIns::Read(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k, i64::from_le_bytes(v.to_le_bytes())))
                        .collect(),
                )
            }
        }))
    }

    async fn save_sign_ins(&self) -> Result<(), SyncError> {
        let entries: HashMap<u64, u64> = match &self.sign_ins {
            Some(SignIns::Read(read)) => read
                .iter()
                .map(|(k, v)| (*k, u64::from_le_bytes(v.to_le_bytes())))
                .collect(),
            Some(SignIns::Unavailable) => [(UNAVAILABLE_MARK, 0)].into(),
            Some(SignIns::Skipped) | None => return Ok(()),
        };
        Blob::save(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            "sign-ins",
            None,
            &entries,
        )
        .await?;
        Ok(())
    }

    /// Mailbox usage (D7 report) by UPN, when not skipped and the app has Reports.Read.All.
    async fn read_mailboxes(&mut self) -> Result<Mailboxes, SyncError> {
        if self.tenant.options.skip_mailboxes {
            return Ok(Mailboxes::new());
        }
        let roles = self.graph.granted_roles().await?;
        if !roles.iter().any(|role| role == "Reports.Read.All") {
            tracing::info!(tenant_id = %self.tenant.tenant_id, "mailbox usage not read: Reports.Read.All is not granted");
            return Ok(Mailboxes::new());
        }
        let report = match self
            .graph
            .mailbox_usage(graph::MailboxUsagePeriod::D7)
            .await
        {
            Ok(report) => report,
            Err(error) if !error.is_retryable() && !matches!(error, GraphError::Token(_)) => {
                self.note(format!("mailbox usage could not be read: {error}"));
                return Ok(Mailboxes::new());
            }
            Err(error) => return Err(error.into()),
        };
        let mut usage = Mailboxes::new();
        let rows = match report.rows() {
            Ok(rows) => rows,
            Err(error) => {
                self.note(format!("the mailbox usage report is unreadable: {error}"));
                return Ok(usage);
            }
        };
        for row in rows {
            match row {
                Ok(row) if !row.is_deleted => {
                    usage.insert(
                        hash_str(&row.user_principal_name.to_lowercase()),
                        convert::mailbox(&row),
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    self.note(format!("a mailbox usage row is unreadable: {error}"));
                    break;
                }
            }
        }
        Ok(usage)
    }

    /// The sign-in and mailbox of an account in a full round.
    fn extras_for(&self, id_hash: u64, upn: Option<&str>) -> Extras {
        let last_sign_in = match &self.sign_ins {
            Some(SignIns::Skipped) => convert::not_available(convert::SIGN_IN_SKIPPED),
            Some(SignIns::Unavailable) => convert::not_available(convert::NEEDS_P1),
            Some(SignIns::Read(read)) => match read.get(&id_hash) {
                Some(&NEVER) => LastSignIn::Never,
                Some(&millis) => chrono::DateTime::from_timestamp_millis(millis)
                    .map_or(LastSignIn::Never, |at| LastSignIn::At { at }),
                None => convert::not_available(convert::SIGN_IN_NOT_READ),
            },
            None => convert::not_available(convert::SIGN_IN_NOT_READ),
        };
        let mailbox = upn.and_then(|upn| {
            self.mailboxes
                .as_ref()
                .and_then(|m| m.get(&hash_str(&upn.to_lowercase())).cloned())
        });
        Extras {
            last_sign_in,
            mailbox,
        }
    }

    /// The sign-in of an account first seen in a delta round (its sign-in is read by the next full
    /// sync).
    fn new_account_extras(&self) -> Extras {
        let reason = if self.tenant.options.skip_sign_in {
            convert::SIGN_IN_SKIPPED
        } else if self.tenant.has_p1 == Some(false) {
            convert::NEEDS_P1
        } else {
            convert::SIGN_IN_NOT_READ
        };
        Extras {
            last_sign_in: convert::not_available(reason),
            mailbox: None,
        }
    }

    // ------------------------------------------------------------------ users

    /// The users delta round. Returns the link to resume from when the budget ran out.
    async fn users_phase(&mut self, force_full: bool) -> Result<Option<String>, SyncError> {
        let mut plan = self.plan("users", force_full).await?;
        if plan.done {
            return Ok(None);
        }
        loop {
            let mut sets = None;
            if plan.full {
                self.run.full = true;
                self.ensure_extras(plan.from.as_deref()).await?;
                sets = Some(match self.resume_account_set(plan.from.as_deref()).await? {
                    Some(sets) => sets,
                    None if plan.fresh => StoredSet::default(),
                    None => {
                        plan.from = None;
                        self.stored_accounts().await?
                    }
                });
            }
            match self.users_round(&plan, sets).await {
                Err(SyncError::Graph(GraphError::ResyncRequired(detail))) if !plan.full => {
                    tracing::info!(tenant_id = %self.tenant.tenant_id, %detail, "users delta link refused: full resync");
                    // The stored link stays until the first page of the new round replaces it,
                    // so a crash in between still finds a round that needs its sweep.
                    plan = RoundPlan {
                        from: None,
                        full: true,
                        done: false,
                        fresh: false,
                    };
                }
                other => return other,
            }
        }
    }

    async fn users_round(
        &mut self,
        plan: &RoundPlan,
        mut sets: Option<StoredSet<StoredAccount>>,
    ) -> Result<Option<String>, SyncError> {
        let mut pages = pin!(self.graph.users_delta_pages(plan.from.as_deref()));
        loop {
            let Some(page) = pages.try_next().await? else {
                return Err(SyncError::RoundWithoutLink { resource: "users" });
            };
            self.report.objects_read += page.changes.len() as u64;
            let complete = page.next_link.is_none();
            let Some(link) = page.resume_link().map(str::to_owned) else {
                return Err(SyncError::RoundWithoutLink { resource: "users" });
            };
            let mut writes = Writes::default();
            match sets.as_mut() {
                Some(sets) => self.full_user_page(page.changes, sets, &mut writes).await?,
                None => self.delta_user_page(page.changes, &mut writes).await?,
            }
            self.apply(writes).await?;
            if complete && let Some(sets) = &sets {
                self.sweep_accounts(&sets.unseen).await?;
            }
            self.save_round("users", &link, complete, plan.full).await?;
            if complete {
                return Ok(None);
            }
            if self.out_of_time() {
                if let Some(sets) = &sets {
                    self.save_unseen("users", &link, &sets.unseen).await?;
                    self.save_sign_ins().await?;
                }
                return Ok(Some(link));
            }
            self.keep_lease().await?;
        }
    }

    /// Every stored account (id hash -> fingerprint), for a full round.
    async fn stored_accounts(&self) -> Result<StoredSet<StoredAccount>, SyncError> {
        let mut items = HashMap::new();
        for partition in keys::account_partitions(&self.tenant.tenant_id) {
            let mut accounts = pin!(self.store().query::<Account>(&partition, None));
            while let Some(account) = accounts.try_next().await? {
                items.insert(
                    hash_str(account.id.as_str()),
                    StoredAccount {
                        fingerprint: fingerprint(&account),
                        licenses: license_hashes(&account.licenses),
                    },
                );
            }
        }
        let unseen = items.keys().copied().collect();
        Ok(StoredSet { items, unseen })
    }

    /// In a continuation of a full round: the stored accounts again, and the unseen set as the
    /// checkpoint saved it. `None` when there is no usable checkpoint (start the round over).
    async fn resume_account_set(
        &self,
        link: Option<&str>,
    ) -> Result<Option<StoredSet<StoredAccount>>, SyncError> {
        let Some(link) = link else {
            return Ok(None);
        };
        let Some(unseen) = self.load_unseen("users", link).await? else {
            return Ok(None);
        };
        let mut sets = self.stored_accounts().await?;
        sets.unseen = unseen;
        Ok(Some(sets))
    }

    async fn full_user_page(
        &mut self,
        changes: Vec<UserChange>,
        sets: &mut StoredSet<StoredAccount>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let mut removals = Vec::new();
        for change in changes {
            let user = match change {
                UserChange::Upserted(user) => user,
                removed @ UserChange::Removed { .. } => {
                    removals.push(removed);
                    continue;
                }
            };
            let id_hash = hash_str(&user.id);
            sets.unseen.remove(&id_hash);
            let extras = self.extras_for(id_hash, user.user_principal_name.as_deref());
            let account = match convert::account(&user, None, extras) {
                Ok(account) => account,
                Err(error) => {
                    self.note(format!("an account was skipped: {error}"));
                    continue;
                }
            };
            let new = StoredAccount {
                fingerprint: fingerprint(&account),
                licenses: license_hashes(&account.licenses),
            };
            match sets.items.get(&id_hash) {
                None => {
                    self.run.counts.accounts.added += 1;
                    self.run.counts.licenses.added += account.licenses.len() as u64;
                }
                Some(old) if old.fingerprint != new.fingerprint => {
                    self.run.counts.accounts.changed += 1;
                    count_licenses(&mut self.run.counts.licenses, &old.licenses, &new.licenses);
                }
                Some(_) => continue,
            }
            sets.items.insert(id_hash, new);
            writes
                .accounts
                .push((keys::account(&self.tenant.tenant_id, &account.id), account));
        }
        if !removals.is_empty() {
            self.delta_user_page(removals, writes).await?;
        }
        Ok(())
    }

    async fn delta_user_page(
        &mut self,
        changes: Vec<UserChange>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let ids: Vec<String> = changes
            .iter()
            .map(|change| match change {
                UserChange::Upserted(user) => user.id.clone(),
                UserChange::Removed { id, .. } => id.clone(),
            })
            .collect();
        let stored = self.stored_accounts_by_id(&ids).await?;
        for change in changes {
            match change {
                UserChange::Upserted(user) => {
                    let old = stored.get(&user.id);
                    let extras = match old {
                        Some(old) => Extras {
                            last_sign_in: old.last_sign_in.clone(),
                            mailbox: old.mailbox.clone(),
                        },
                        None => self.new_account_extras(),
                    };
                    let account = match convert::account(&user, old, extras) {
                        Ok(account) => account,
                        Err(error) => {
                            self.note(format!("an account was skipped: {error}"));
                            continue;
                        }
                    };
                    match old {
                        Some(old) if *old == account => continue,
                        Some(old) => {
                            if old.deleted {
                                self.run.counts.accounts.added += 1;
                            } else {
                                self.run.counts.accounts.changed += 1;
                            }
                            count_licenses(
                                &mut self.run.counts.licenses,
                                &license_hashes(&old.licenses),
                                &license_hashes(&account.licenses),
                            );
                        }
                        None => {
                            self.run.counts.accounts.added += 1;
                            self.run.counts.licenses.added += account.licenses.len() as u64;
                        }
                    }
                    writes
                        .accounts
                        .push((keys::account(&self.tenant.tenant_id, &account.id), account));
                }
                UserChange::Removed { id, reason } => {
                    let Some(old) = stored.get(&id) else {
                        continue;
                    };
                    let key = keys::account(&self.tenant.tenant_id, &old.id);
                    if !old.deleted {
                        self.run.counts.accounts.removed += 1;
                        self.run.counts.licenses.removed += old.licenses.len() as u64;
                    }
                    if reason == RemovedReason::Deleted {
                        writes.deletes.push(key);
                    } else if !old.deleted {
                        writes.accounts.push((key, marked_deleted(old)));
                    }
                }
            }
        }
        Ok(())
    }

    /// The stored accounts among `ids` (BatchGetItem, 100 keys a request).
    async fn stored_accounts_by_id(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Account>, SyncError> {
        let tenant = &self.tenant.tenant_id;
        let keys: Vec<Key> = ids
            .iter()
            .filter_map(|id| AccountId::parse(id).ok())
            .map(|account| keys::account(tenant, &account))
            .collect();
        let found = self.store().batch_get::<Account>(&keys).await?;
        Ok(found
            .into_iter()
            .map(|(_, account)| (account.id.to_string(), account))
            .collect())
    }

    /// Marks every stored account the full round did not see as deleted.
    async fn sweep_accounts(&mut self, unseen: &HashSet<u64>) -> Result<(), SyncError> {
        if unseen.is_empty() {
            return Ok(());
        }
        let mut marked = Vec::new();
        for partition in keys::account_partitions(&self.tenant.tenant_id) {
            let mut accounts = pin!(self.store().query::<Account>(&partition, None));
            while let Some(account) = accounts.try_next().await? {
                if account.deleted || !unseen.contains(&hash_str(account.id.as_str())) {
                    continue;
                }
                self.run.counts.accounts.removed += 1;
                self.run.counts.licenses.removed += account.licenses.len() as u64;
                marked.push((
                    keys::account(&self.tenant.tenant_id, &account.id),
                    marked_deleted(&account),
                ));
            }
        }
        self.apply(Writes {
            accounts: marked,
            ..Writes::default()
        })
        .await
    }

    // ------------------------------------------------------------------ groups

    /// The groups delta round with memberships.
    async fn groups_phase(&mut self, force_full: bool) -> Result<Option<String>, SyncError> {
        let mut plan = self.plan("groups", force_full).await?;
        if plan.done {
            return Ok(None);
        }
        loop {
            let mut sets = None;
            if plan.full {
                self.run.full = true;
                sets = Some(match self.resume_group_sets(plan.from.as_deref()).await? {
                    Some(sets) => sets,
                    None if plan.fresh => (StoredSet::default(), StoredSet::default()),
                    None => {
                        plan.from = None;
                        (
                            self.stored_groups().await?,
                            self.stored_memberships().await?,
                        )
                    }
                });
            }
            match self.groups_round(&plan, sets).await {
                Err(SyncError::Graph(GraphError::ResyncRequired(detail))) if !plan.full => {
                    tracing::info!(tenant_id = %self.tenant.tenant_id, %detail, "groups delta link refused: full resync");
                    plan = RoundPlan {
                        from: None,
                        full: true,
                        done: false,
                        fresh: false,
                    };
                }
                other => return other,
            }
        }
    }

    async fn groups_round(
        &mut self,
        plan: &RoundPlan,
        mut sets: Option<(StoredSet<u64>, StoredSet<()>)>,
    ) -> Result<Option<String>, SyncError> {
        let mut pages = pin!(self.graph.groups_delta_pages(plan.from.as_deref()));
        loop {
            let Some(page) = pages.try_next().await? else {
                return Err(SyncError::RoundWithoutLink { resource: "groups" });
            };
            let complete = page.next_link.is_none();
            let Some(link) = page.resume_link().map(str::to_owned) else {
                return Err(SyncError::RoundWithoutLink { resource: "groups" });
            };
            let mut writes = Writes::default();
            self.group_page(page.changes, sets.as_mut(), &mut writes)
                .await?;
            self.apply(writes).await?;
            if complete && let Some((groups, memberships)) = &sets {
                self.sweep_groups(&groups.unseen, &memberships.unseen)
                    .await?;
            }
            self.save_round("groups", &link, complete, plan.full)
                .await?;
            if complete {
                return Ok(None);
            }
            if self.out_of_time() {
                if let Some((groups, memberships)) = &sets {
                    self.save_unseen("groups", &link, &groups.unseen).await?;
                    self.save_unseen("memberships", &link, &memberships.unseen)
                        .await?;
                }
                return Ok(Some(link));
            }
            self.keep_lease().await?;
        }
    }

    async fn stored_groups(&self) -> Result<StoredSet<u64>, SyncError> {
        let mut items = HashMap::new();
        for partition in keys::group_partitions(&self.tenant.tenant_id) {
            let mut groups = pin!(self.store().query::<Group>(&partition, None));
            while let Some(group) = groups.try_next().await? {
                items.insert(hash_str(group.id.as_str()), fingerprint(&group));
            }
        }
        let unseen = items.keys().copied().collect();
        Ok(StoredSet { items, unseen })
    }

    async fn stored_memberships(&self) -> Result<StoredSet<()>, SyncError> {
        let mut items = HashMap::new();
        for partition in keys::membership_partitions(&self.tenant.tenant_id) {
            let mut stored = pin!(self.store().query_keys(&partition, None));
            while let Some(key) = stored.try_next().await? {
                items.insert(hash_str(key.sk()), ());
            }
        }
        let unseen = items.keys().copied().collect();
        Ok(StoredSet { items, unseen })
    }

    async fn resume_group_sets(
        &self,
        link: Option<&str>,
    ) -> Result<Option<(StoredSet<u64>, StoredSet<()>)>, SyncError> {
        let Some(link) = link else {
            return Ok(None);
        };
        let (Some(unseen_groups), Some(unseen_memberships)) = (
            self.load_unseen("groups", link).await?,
            self.load_unseen("memberships", link).await?,
        ) else {
            return Ok(None);
        };
        let mut groups = self.stored_groups().await?;
        groups.unseen = unseen_groups;
        let mut memberships = self.stored_memberships().await?;
        memberships.unseen = unseen_memberships;
        Ok(Some((groups, memberships)))
    }

    async fn group_page(
        &mut self,
        changes: Vec<GroupChange>,
        mut sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let tenant = self.tenant.tenant_id.clone();
        // In a delta round every changed group is compared with its stored record.
        let stored: HashMap<String, Group> = if sets.is_none() {
            let ids: Vec<String> = changes
                .iter()
                .map(|change| match change {
                    GroupChange::Upserted { group, .. } => group.id.clone(),
                    GroupChange::Removed { id, .. } => id.clone(),
                })
                .collect();
            self.stored_groups_by_id(&ids).await?
        } else {
            HashMap::new()
        };
        for change in changes {
            match change {
                GroupChange::Upserted { group, members } => {
                    self.report.objects_read += 1 + members.len() as u64;
                    let old = stored.get(&group.id);
                    let record = match convert::group(&group, old) {
                        Ok(record) => record,
                        Err(error) => {
                            self.note(format!("a group was skipped: {error}"));
                            continue;
                        }
                    };
                    let group_id = record.id.clone();
                    let group_hash = hash_str(group_id.as_str());
                    let write = match sets.as_deref_mut() {
                        Some((groups, _)) => {
                            groups.unseen.remove(&group_hash);
                            let new = fingerprint(&record);
                            let old = groups.items.insert(group_hash, new);
                            // A big group comes on several pages: only its first showing counts.
                            let props_changed = old != Some(new);
                            match old {
                                None => self.run.counts.groups.added += 1,
                                Some(old) if old != new => self.run.counts.groups.changed += 1,
                                Some(_) => {}
                            }
                            props_changed
                        }
                        None => match old {
                            Some(old) if *old == record => false,
                            Some(old) if old.deleted => {
                                self.run.counts.groups.added += 1;
                                true
                            }
                            Some(_) => {
                                self.run.counts.groups.changed += 1;
                                true
                            }
                            None => {
                                self.run.counts.groups.added += 1;
                                true
                            }
                        },
                    };
                    if write {
                        writes
                            .groups
                            .push((keys::group(&tenant, &group_id), record));
                    }
                    for member in members {
                        self.member_change(&group_id, member, sets.as_deref_mut(), writes);
                    }
                }
                GroupChange::Removed { id, reason } => {
                    let Ok(group_id) = GroupId::parse(&id) else {
                        continue;
                    };
                    let old = match sets.as_deref_mut() {
                        Some((groups, _)) => {
                            groups.unseen.remove(&hash_str(&id));
                            groups.items.remove(&hash_str(&id)).map(|_| None)
                        }
                        None => stored.get(&id).map(Some),
                    };
                    let Some(old) = old else {
                        continue;
                    };
                    self.run.counts.groups.removed += 1;
                    let key = keys::group(&tenant, &group_id);
                    match (reason, old) {
                        (RemovedReason::Deleted, _) | (_, None) => writes.deletes.push(key),
                        (_, Some(old)) => writes.groups.push((key, marked_group_deleted(old))),
                    }
                    self.remove_group_memberships(&group_id, sets.as_deref_mut(), writes)
                        .await?;
                }
            }
        }
        self.resolve_member_changes(writes).await
    }

    /// Keeps the member changes of a delta page that change the store: an added membership not
    /// stored yet, a removed one still stored (a replayed page, or a member added and removed
    /// again since the last round, changes nothing).
    async fn resolve_member_changes(&mut self, writes: &mut Writes) -> Result<(), SyncError> {
        let changes = std::mem::take(&mut writes.member_changes);
        if changes.is_empty() {
            return Ok(());
        }
        let keys: Vec<Key> = changes.iter().map(|(key, _, _)| key.clone()).collect();
        let existing: HashSet<Key> = self
            .store()
            .batch_existing(&keys)
            .await?
            .into_iter()
            .collect();
        let checked = changes.into_iter().map(|(key, membership, added)| {
            let stored = existing.contains(&key);
            (key, membership, added, stored)
        });
        // Within a page the last change of a key wins, compared with the key's state before the
        // page (Graph may list a member twice).
        let mut last: HashMap<Key, (Membership, bool, bool)> = HashMap::new();
        for (key, membership, added, stored) in checked {
            let before = last.get(&key).map_or(stored, |(_, _, before)| *before);
            last.insert(key, (membership, added, before));
        }
        for (key, (membership, added, stored)) in last {
            match (added, stored) {
                (true, false) => {
                    self.run.counts.memberships.added += 1;
                    writes.memberships.push((key, membership));
                }
                (false, true) => {
                    self.run.counts.memberships.removed += 1;
                    writes.deletes.push(key);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn member_change(
        &mut self,
        group_id: &GroupId,
        member: MemberChange,
        sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
        writes: &mut Writes,
    ) {
        let (added, reference) = match member {
            MemberChange::Added(reference) => (true, reference),
            MemberChange::Removed(reference) => (false, reference),
        };
        // Only accounts are memberships here; nested groups, devices and apps are not.
        if reference.odata_type.is_some() && !reference.is_user() {
            return;
        }
        let Ok(account_id) = AccountId::parse(&reference.id) else {
            return;
        };
        let key = keys::membership(&self.tenant.tenant_id, group_id, &account_id);
        let hash = hash_str(key.sk());
        match (added, sets) {
            (true, Some((_, memberships))) => {
                memberships.unseen.remove(&hash);
                if memberships.items.insert(hash, ()).is_some() {
                    return;
                }
                self.run.counts.memberships.added += 1;
            }
            (added, None) => {
                writes.member_changes.push((
                    key,
                    Membership {
                        group_id: group_id.clone(),
                        account_id,
                    },
                    added,
                ));
                return;
            }
            (false, Some((_, memberships))) => {
                memberships.unseen.remove(&hash);
                if memberships.items.remove(&hash).is_some() {
                    self.run.counts.memberships.removed += 1;
                }
                writes.deletes.push(key);
                return;
            }
        }
        writes.memberships.push((
            key,
            Membership {
                group_id: group_id.clone(),
                account_id,
            },
        ));
    }

    async fn remove_group_memberships(
        &mut self,
        group_id: &GroupId,
        mut sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let partition = keys::group_members_partition(&self.tenant.tenant_id, group_id);
        let prefix = keys::group_members_prefix(group_id);
        let mut stored = pin!(self.store().query_keys(&partition, Some(&prefix)));
        while let Some(key) = stored.try_next().await? {
            if let Some((_, memberships)) = sets.as_deref_mut() {
                let hash = hash_str(key.sk());
                memberships.unseen.remove(&hash);
                memberships.items.remove(&hash);
            }
            self.run.counts.memberships.removed += 1;
            writes.deletes.push(key);
        }
        Ok(())
    }

    /// The stored groups among `ids` (BatchGetItem, 100 keys a request).
    async fn stored_groups_by_id(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Group>, SyncError> {
        let tenant = &self.tenant.tenant_id;
        let keys: Vec<Key> = ids
            .iter()
            .filter_map(|id| GroupId::parse(id).ok())
            .map(|group| keys::group(tenant, &group))
            .collect();
        let found = self.store().batch_get::<Group>(&keys).await?;
        Ok(found
            .into_iter()
            .map(|(_, group)| (group.id.to_string(), group))
            .collect())
    }

    /// Marks unseen groups deleted and removes unseen memberships.
    async fn sweep_groups(
        &mut self,
        unseen_groups: &HashSet<u64>,
        unseen_memberships: &HashSet<u64>,
    ) -> Result<(), SyncError> {
        let tenant = self.tenant.tenant_id.clone();
        let mut writes = Writes::default();
        if !unseen_groups.is_empty() {
            for partition in keys::group_partitions(&tenant) {
                let mut groups = pin!(self.store().query::<Group>(&partition, None));
                while let Some(group) = groups.try_next().await? {
                    if !group.deleted && unseen_groups.contains(&hash_str(group.id.as_str())) {
                        self.run.counts.groups.removed += 1;
                        writes.groups.push((
                            keys::group(&tenant, &group.id),
                            marked_group_deleted(&group),
                        ));
                    }
                }
            }
        }
        if !unseen_memberships.is_empty() {
            for partition in keys::membership_partitions(&tenant) {
                let mut stored = pin!(self.store().query_keys(&partition, None));
                while let Some(key) = stored.try_next().await? {
                    if unseen_memberships.contains(&hash_str(key.sk())) {
                        self.run.counts.memberships.removed += 1;
                        writes.deletes.push(key);
                    }
                }
            }
        }
        self.apply(writes).await
    }

    // ------------------------------------------------------------------ checkpoint sets

    async fn save_unseen(
        &self,
        name: &str,
        link: &str,
        unseen: &HashSet<u64>,
    ) -> Result<(), SyncError> {
        let entries: HashMap<u64, u64> = unseen.iter().map(|hash| (*hash, 0)).collect();
        Blob::save(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            &format!("unseen-{name}"),
            Some(link),
            &entries,
        )
        .await?;
        Ok(())
    }

    async fn load_unseen(&self, name: &str, link: &str) -> Result<Option<HashSet<u64>>, SyncError> {
        Ok(Blob::load(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            &format!("unseen-{name}"),
            Some(link),
        )
        .await?
        .map(|entries| entries.into_keys().collect()))
    }

    // ------------------------------------------------------------------ writes

    /// Writes a page's changes: BatchWriteItem requests of 25, several at a time, each request's
    /// items spread over the shard partitions by their ids.
    async fn apply(&mut self, writes: Writes) -> Result<(), SyncError> {
        let concurrency = self.settings.write_concurrency.max(1);
        let store = self.store().clone();
        let (accounts, groups, memberships, deletes) = futures::try_join!(
            put_all(&store, writes.accounts, concurrency),
            put_all(&store, writes.groups, concurrency),
            put_all(&store, writes.memberships, concurrency),
            delete_all(&store, writes.deletes, concurrency),
        )?;
        self.report.items_written += (accounts + groups + memberships) as u64;
        self.report.items_deleted += deletes as u64;
        Ok(())
    }
}

/// One BatchWriteItem request's worth of items.
const BATCH: usize = 25;

async fn put_all<T: lifecycle::Record + Serialize>(
    store: &Store,
    items: Vec<(Key, T)>,
    concurrency: usize,
) -> Result<usize, StoreError> {
    let mut chunks = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(BATCH).collect::<Vec<_>>());
    }
    futures::stream::iter(chunks)
        .map(|chunk| store.batch_put(chunk))
        .buffer_unordered(concurrency)
        .try_fold(0, |total, written| {
            futures::future::ready(Ok(total + written))
        })
        .await
}

async fn delete_all(
    store: &Store,
    keys: Vec<Key>,
    concurrency: usize,
) -> Result<usize, StoreError> {
    let chunks: Vec<Vec<Key>> = keys.chunks(BATCH).map(<[Key]>::to_vec).collect();
    futures::stream::iter(chunks)
        .map(|chunk| store.batch_delete(chunk))
        .buffer_unordered(concurrency)
        .try_fold(0, |total, deleted| {
            futures::future::ready(Ok(total + deleted))
        })
        .await
}

fn marked_deleted(account: &Account) -> Account {
    Account {
        deleted: true,
        ..account.clone()
    }
}

fn marked_group_deleted(group: &Group) -> Group {
    Group {
        deleted: true,
        ..group.clone()
    }
}

fn license_hashes(licenses: &[AssignedLicense]) -> Vec<(u64, u64)> {
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
fn count_licenses(counts: &mut ObjectCounts, old: &[(u64, u64)], new: &[(u64, u64)]) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
