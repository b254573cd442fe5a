//! One tenant's license refresh (a `license_refresh` job): per-SKU seats from `subscribedSkus`,
//! last sign-in per account from `signInActivity` (Entra ID P1; otherwise recorded as "not
//! available: needs Entra ID P1", not an error), and the licensed accounts inactive for longer
//! than the job's threshold, flagged in the job record.
//!
//! Each step is recorded; a redelivery skips the steps an earlier delivery finished. Only items
//! that changed are written. The inactive licensed accounts are counted as the sign-in pages are
//! read (each page's stored accounts are read to compare anyway), and the count is saved with the
//! page cursor, so the last step needs no read of every stored account; the report's read of the
//! store ([`lifecycle::license_report::build`]) is left for tenants whose sign-ins are not read.

use std::collections::HashMap;
use std::pin::pin;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use futures::future::BoxFuture;
use futures::{StreamExt as _, TryStreamExt as _};
use graph::{GraphError, SubscribedSku, TenantGraph};
use lifecycle::model::{
    Job, JobKind, JobStatus, JobStep, LastSignIn, Sku, StepOutcome, TenantConnection,
};
use lifecycle::store::SignInCursor;
use lifecycle::{AccountId, JobError, JobHandler, JobProgress, Platform, TenantId};

use lifecycle::license_report::{self as report, InactiveTally, NEEDS_P1, ReportOptions};

/// Step names, as recorded in the job record.
pub const SKUS: &str = "skus";
pub const LAST_SIGN_IN: &str = "last_sign_in";
pub const INACTIVE_ACCOUNTS: &str = "inactive_accounts";
/// Inactive accounts named in the step detail (the report route lists them all).
const NAMED_IN_DETAIL: usize = 20;
/// Changed accounts written at a time, so memory stays bounded on a 100k-account tenant.
const WRITE_CHUNK: usize = 500;
/// Last sign-ins written at once (each an UpdateItem of one attribute).
const WRITES_AT_ONCE: usize = 8;
/// What an invocation keeps back after its last page: saving the job's step, sending the
/// continuation and the runner's own writes take well under a second; Graph's retries end
/// this long before the deadline. The next page is read only while this and twice the slowest
/// page of the invocation (its read and writes) are left.
const PAGE_RESERVE: Duration = Duration::from_secs(3);
/// How many times a sign-in page's read of stored accounts (per account) the report's read of
/// whole accounts is allowed to take, in [`Clock::report_time`].
const REPORT_MARGIN: u32 = 3;

/// The license-refresh job handler.
#[derive(Clone)]
pub struct LicenseRefresh {
    platform: Platform,
}

impl LicenseRefresh {
    /// A handler over the shared dependencies.
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }
}

impl JobHandler for LicenseRefresh {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        tenant: &'a TenantConnection,
        progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>> {
        Box::pin(self.refresh(job, tenant, progress))
    }
}

fn step(name: &str, outcome: StepOutcome, detail: String) -> JobStep {
    JobStep {
        name: name.to_owned(),
        outcome,
        graph_request_id: None,
        detail: Some(detail),
        at: None,
        observed: Vec::new(),
        not_done: Vec::new(),
    }
}

impl LicenseRefresh {
    #[tracing::instrument(skip_all, fields(tenant_id = %job.tenant_id, job_id = %job.job_id))]
    async fn refresh(
        &self,
        job: &Job,
        tenant: &TenantConnection,
        progress: &mut JobProgress,
    ) -> Result<JobStatus, JobError> {
        let JobKind::LicenseRefresh(spec) = &job.kind else {
            return Err(JobError::permanent(format!(
                "the license-refresh queue takes license_refresh jobs only; a {} job belongs on its own queue",
                job.job_type()
            )));
        };
        let days = spec
            .inactive_after_days
            .unwrap_or(report::DEFAULT_INACTIVE_AFTER_DAYS);
        let mut clock = Clock::new(progress.deadline());
        // Graph's retries end before the invocation's last seconds, which saving and handing
        // the job on take.
        let graph = self
            .platform
            .tenant_graph_until(tenant, clock.graph_deadline())
            .await?;
        if progress.finished_step(SKUS).is_none() {
            let detail = self.refresh_skus(&graph, &tenant.tenant_id).await?;
            progress.step(step(SKUS, StepOutcome::Done, detail)).await?;
        }
        if progress.finished_step(LAST_SIGN_IN).is_none() {
            match self
                .sign_in_step(&graph, tenant, job, days, &mut clock)
                .await?
            {
                SignInStep::Ended(outcome, detail) => {
                    progress.step(step(LAST_SIGN_IN, outcome, detail)).await?;
                }
                SignInStep::Stopped(detail) => {
                    progress
                        .step(step(LAST_SIGN_IN, StepOutcome::Pending, detail))
                        .await?;
                    return Err(Self::hand_on(
                        "the sign-in read continues in the next invocation",
                    ));
                }
                SignInStep::Taken => {
                    tracing::warn!(
                        "another delivery of this job reads its sign-ins; this one stops"
                    );
                    return Ok(JobStatus::Running);
                }
            }
        }
        let detail = self.inactive_step(tenant, job, days, &clock).await?;
        progress
            .step(step(INACTIVE_ACCOUNTS, StepOutcome::Done, detail))
            .await?;
        Ok(JobStatus::Succeeded)
    }

    /// The inactive-accounts step's detail: from the count the sign-in read kept page by page
    /// (no read of the store: at 100,000 accounts a read of every stored account did not fit an
    /// invocation against the local emulator); without one (the sign-ins were not read for this
    /// tenant, or their cursor was saved before counts were kept), from the report's read of every
    /// stored account, in an invocation with the time for it.
    async fn inactive_step(
        &self,
        tenant: &TenantConnection,
        job: &Job,
        days: u32,
        clock: &Clock,
    ) -> Result<String, JobError> {
        let cursor = self
            .platform
            .store
            .sign_in_cursor(&tenant.tenant_id, &job.job_id)
            .await?;
        if let Some(SignInCursor {
            next_link: None,
            inactive: Some(tally),
            ..
        }) = cursor
        {
            let named = tally
                .oldest
                .iter()
                .map(|name| (name.upn.as_str(), name.last_sign_in));
            return Ok(inactive_detail(tally.total, days, named));
        }
        // Re-read: the sign-in step may have learnt whether the tenant has P1.
        let tenant = self
            .platform
            .tenant(&tenant.tenant_id)
            .await?
            .unwrap_or_else(|| tenant.clone());
        if tenant.has_p1 == Some(false) {
            return Ok(format!(
                "last sign-in not available: {NEEDS_P1}: inactive accounts cannot be told"
            ));
        }
        if !clock.has(clock.report_time()) {
            return Err(Self::hand_on(
                "the inactive-accounts report runs in the next invocation",
            ));
        }
        let mut options = ReportOptions::at(Utc::now());
        options.inactive_after_days = days;
        options.limit = NAMED_IN_DETAIL;
        let report = report::build(&self.platform.store, &tenant, options).await?;
        if let Some(reason) = &report.sign_in_activity.reason {
            return Ok(format!(
                "last sign-in {reason}: inactive accounts cannot be told"
            ));
        }
        let named = report
            .inactive_accounts
            .iter()
            .map(|account| (account.upn.as_str(), account.last_sign_in));
        Ok(inactive_detail(report.inactive_total as u64, days, named))
    }

    /// Hands the job on to a later invocation through the runner ([`JobError::later`]): on the
    /// license-refresh queue, a standard queue, the runner sends the job again as a fresh message
    /// (its receive count starts at 0, so a continuation never counts toward `maxReceiveCount`)
    /// and keeps the record `running` (not finished: no completion event). The next delivery
    /// skips the finished steps and continues where the saved cursor stands.
    fn hand_on(reason: &str) -> JobError {
        tracing::info!("license refresh continues in a later invocation");
        JobError::later(reason, Duration::ZERO)
    }

    /// Writes the tenant's SKUs (only those that changed) and removes the ones it no longer has.
    async fn refresh_skus(
        &self,
        graph: &TenantGraph,
        tenant_id: &TenantId,
    ) -> Result<String, JobError> {
        let store = &self.platform.store;
        let fresh: Vec<Sku> = graph
            .subscribed_skus()
            .try_collect::<Vec<_>>()
            .await?
            .iter()
            .filter_map(sku)
            .collect();
        let replaced = store.replace_skus(tenant_id, &fresh).await?;
        let (changed_count, gone_count) = (replaced.written, replaced.removed);
        let enabled: u64 = fresh.iter().map(|s| u64::from(s.enabled)).sum();
        let consumed: u64 = fresh.iter().map(|s| u64::from(s.consumed)).sum();
        let unused: u64 = fresh.iter().map(|s| u64::from(s.unused())).sum();
        let suspended: u64 = fresh.iter().map(|s| u64::from(s.suspended)).sum();
        Ok(format!(
            "{} SKU(s): {enabled} seats enabled, {consumed} consumed, {unused} unused, {suspended} suspended; {changed_count} changed, {gone_count} removed",
            fresh.len()
        ))
    }

    /// The last-sign-in step: skipped where the tenant asked not to keep last sign-in, else the
    /// read of every account's last sign-in, continued from where an earlier invocation of the
    /// job stopped.
    async fn sign_in_step(
        &self,
        graph: &TenantGraph,
        tenant: &TenantConnection,
        job: &Job,
        days: u32,
        clock: &mut Clock,
    ) -> Result<SignInStep, JobError> {
        if tenant.options.skip_sign_in {
            return Ok(SignInStep::Ended(
                StepOutcome::Skipped,
                "not requested (tenant option skip_sign_in)".to_owned(),
            ));
        }
        let settings = self.platform.store.sync_settings(&tenant.tenant_id).await?;
        if !settings.settings.kinds.accounts || !settings.settings.kinds.last_sign_in {
            return Ok(SignInStep::Ended(
                StepOutcome::Skipped,
                "not kept: the tenant's sync settings leave last sign-in out (kinds.last_sign_in)"
                    .to_owned(),
            ));
        }
        self.read_sign_ins(graph, tenant, job, days, clock).await
    }

    /// Reads the pages of `signInActivity` from the job's saved cursor (or the start) and, page
    /// by page, writes the last sign-in of the stored accounts whose last sign-in changed, counts
    /// the inactive licensed ones (threshold `days`), then saves the cursor with the count. Stops before the invocation's deadline leaves too little time for
    /// another page; without P1, marks the stored accounts "not available: needs Entra ID P1".
    async fn read_sign_ins(
        &self,
        graph: &TenantGraph,
        tenant: &TenantConnection,
        job: &Job,
        days: u32,
        clock: &mut Clock,
    ) -> Result<SignInStep, JobError> {
        let store = &self.platform.store;
        let mut cursor = store
            .sign_in_cursor(&tenant.tenant_id, &job.job_id)
            .await?
            .unwrap_or_default();
        let resumed = cursor.pages > 0;
        if resumed && cursor.next_link.is_none() {
            // Every page was read; only the step's record was lost.
            return Ok(SignInStep::Ended(StepOutcome::Done, read_detail(&cursor)));
        }
        if !resumed {
            cursor.inactive = Some(InactiveTally::new(report::inactive_cutoff(
                Utc::now(),
                days,
            )));
        }
        cursor.invocations += 1;
        let mut pages = pin!(graph.user_sign_in_pages(cursor.next_link.as_deref()));
        let mut slowest = Duration::ZERO;
        let mut read_here = 0_u64;
        loop {
            if read_here > 0 && !clock.has(PAGE_RESERVE + slowest * 2) {
                return Ok(SignInStep::Stopped(format!(
                    "{}; continues in the next invocation (this one ends in {} s)",
                    read_detail(&cursor),
                    clock.remaining().as_secs()
                )));
            }
            let started = Instant::now();
            let page = match pages.try_next().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(GraphError::SignInActivityUnavailable(detail)) if !resumed => {
                    tracing::info!(%detail, "last sign-in not available: no Entra ID P1");
                    self.note_p1(tenant, false).await?;
                    let marked = self.mark_not_available(&tenant.tenant_id).await?;
                    return Ok(SignInStep::Ended(
                        StepOutcome::Done,
                        format!(
                            "not available: {NEEDS_P1} (the tenant has no Entra ID P1 or P2); {marked} stored account(s) marked"
                        ),
                    ));
                }
                Err(error) => return Err(error.into()),
            };
            cursor.read += page.items.len() as u64;
            cursor.updated += self
                .write_page(
                    &tenant.tenant_id,
                    page.items,
                    cursor.inactive.as_mut(),
                    clock,
                )
                .await?;
            cursor.pages += 1;
            cursor.next_link = page.next_link;
            cursor.updated_at = Some(Utc::now());
            if !store
                .save_sign_in_cursor(&tenant.tenant_id, &job.job_id, &cursor)
                .await?
            {
                return Ok(SignInStep::Taken);
            }
            read_here += 1;
            slowest = slowest.max(started.elapsed());
            if cursor.next_link.is_none() {
                break;
            }
        }
        clock.accounts = cursor.read;
        self.note_p1(tenant, true).await?;
        Ok(SignInStep::Ended(StepOutcome::Done, read_detail(&cursor)))
    }

    /// Writes the last sign-in of each stored account of `users` whose last sign-in changed
    /// (the attribute alone) and counts the stored ones that are inactive in `tally`; returns how
    /// many were written.
    async fn write_page(
        &self,
        tenant: &TenantId,
        users: Vec<graph::User>,
        mut tally: Option<&mut InactiveTally>,
        clock: &mut Clock,
    ) -> Result<u64, JobError> {
        let read: HashMap<AccountId, LastSignIn> = users
            .into_iter()
            .filter_map(|user| {
                let last = match user
                    .sign_in_activity
                    .as_ref()
                    .and_then(graph::SignInActivity::last_activity)
                {
                    Some(at) => LastSignIn::At { at },
                    None => LastSignIn::Never,
                };
                AccountId::parse(&user.id)
                    .map_err(|error| tracing::warn!(user_id = %user.id, %error, "a user with an unusable id is left out"))
                    .ok()
                    .map(|id| (id, last))
            })
            .collect();
        let ids: Vec<AccountId> = read.keys().cloned().collect();
        let started = Instant::now();
        let stored = self.platform.store.stored_accounts(tenant, &ids).await?;
        clock.note_read(started.elapsed(), ids.len());
        let mut changed = Vec::new();
        for (id, last) in read {
            // An account Graph lists but the store does not (the sync settings leave it out, or
            // a sync has not seen it yet) is neither written nor counted.
            let Some(account) = stored.get(&id) else {
                continue;
            };
            if let Some(tally) = tally.as_deref_mut() {
                tally.note(account, &last, NAMED_IN_DETAIL);
            }
            if account.last_sign_in != last {
                changed.push((id, last));
            }
        }
        self.set_last_sign_ins(tenant, changed).await
    }

    /// Marks every stored account of the tenant whose last sign-in says otherwise "not available:
    /// needs Entra ID P1"; returns how many were written.
    async fn mark_not_available(&self, tenant: &TenantId) -> Result<u64, JobError> {
        let not_available = LastSignIn::NotAvailable {
            reason: NEEDS_P1.to_owned(),
        };
        let mut marked = 0;
        let mut changed = Vec::new();
        let mut accounts = pin!(self.platform.store.accounts(tenant));
        while let Some(account) = accounts.try_next().await? {
            if account.last_sign_in != not_available {
                changed.push((account.id, not_available.clone()));
            }
            if changed.len() >= WRITE_CHUNK {
                marked += self
                    .set_last_sign_ins(tenant, std::mem::take(&mut changed))
                    .await?;
            }
        }
        marked += self.set_last_sign_ins(tenant, changed).await?;
        Ok(marked)
    }

    /// Sets each account's last sign-in (the attribute alone, a few at a time); returns how many
    /// stored accounts were written (one removed meanwhile is not).
    async fn set_last_sign_ins(
        &self,
        tenant: &TenantId,
        changed: Vec<(AccountId, LastSignIn)>,
    ) -> Result<u64, JobError> {
        let store = &self.platform.store;
        let written: Vec<bool> = futures::stream::iter(changed)
            .map(|(id, last)| async move { store.set_last_sign_in(tenant, &id, &last).await })
            .buffer_unordered(WRITES_AT_ONCE)
            .try_collect()
            .await?;
        Ok(written.into_iter().filter(|w| *w).count() as u64)
    }

    /// Remembers on the tenant whether it has P1, when that changed.
    async fn note_p1(&self, tenant: &TenantConnection, has_p1: bool) -> Result<(), JobError> {
        if tenant.has_p1 == Some(has_p1) {
            return Ok(());
        }
        if let Some(mut current) = self.platform.tenant(&tenant.tenant_id).await? {
            if current.has_p1 == Some(has_p1) {
                return Ok(());
            }
            current.has_p1 = Some(has_p1);
            self.platform.save_tenant(&current).await?;
        }
        Ok(())
    }
}

/// How the last-sign-in step of one invocation ended.
enum SignInStep {
    /// The step is over (done or skipped), with its detail.
    Ended(StepOutcome, String),
    /// Stopped before the deadline with pages left; the cursor is saved.
    Stopped(String),
    /// Another delivery of the same job saved the page this one read: that one goes on.
    Taken,
}

/// The inactive-accounts step's detail: how many, the threshold, and the longest inactive by
/// name (never signed in first).
fn inactive_detail<'a>(
    total: u64,
    days: u32,
    named: impl Iterator<Item = (&'a str, Option<chrono::DateTime<Utc>>)>,
) -> String {
    if total == 0 {
        return format!("no licensed account without a sign-in for more than {days} days");
    }
    let named: Vec<String> = named
        .map(|(upn, last)| match last {
            Some(at) => format!("{upn} (last sign-in {})", at.date_naive()),
            None => format!("{upn} (never signed in)"),
        })
        .collect();
    format!(
        "{total} licensed account(s) without a sign-in for more than {days} days (seats to reclaim): {}{}",
        named.join(", "),
        if total > named.len() as u64 {
            ", ... (GET /tenants/{tenant_id}/licenses/report lists them all)"
        } else {
            ""
        }
    )
}

fn read_detail(cursor: &SignInCursor) -> String {
    format!(
        "last sign-in read for {} account(s) in {} page(s) over {} invocation(s); {} stored account(s) updated",
        cursor.read, cursor.pages, cursor.invocations, cursor.updated
    )
}

/// The time left in the invocation running the job (no deadline: all the time there is), and
/// what this invocation measured of the store's pace.
struct Clock {
    deadline: Option<SystemTime>,
    /// The slowest read of stored accounts per account, in this invocation.
    read_per_account: Option<Duration>,
    /// Accounts the sign-in read returned (for the report's time).
    accounts: u64,
}

impl Clock {
    fn new(deadline: Option<SystemTime>) -> Self {
        Self {
            deadline,
            read_per_account: None,
            accounts: 0,
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.map_or(Duration::MAX, |deadline| {
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
        })
    }

    /// Whether more than `needed` is left.
    fn has(&self, needed: Duration) -> bool {
        self.remaining() > needed
    }

    /// Where Graph's retries must end: [`PAGE_RESERVE`] before the invocation's deadline.
    fn graph_deadline(&self) -> Option<SystemTime> {
        self.deadline
            .map(|deadline| deadline.checked_sub(PAGE_RESERVE).unwrap_or(deadline))
    }

    /// Notes a read of `accounts` stored accounts that took `took`.
    fn note_read(&mut self, took: Duration, accounts: usize) {
        let Ok(accounts) = u32::try_from(accounts) else {
            return;
        };
        if accounts == 0 {
            return;
        }
        let pace = took / accounts;
        self.read_per_account = Some(self.read_per_account.map_or(pace, |known| known.max(pace)));
    }

    /// The time the inactive-accounts report needs, which reads every stored account: from this
    /// invocation's slowest read of stored accounts, with a margin of [`REPORT_MARGIN`] (the
    /// report reads whole accounts, the sign-in pages one attribute). Without a measure (the
    /// sign-ins were read by an earlier invocation, or not at all) the invocation is a fresh one
    /// and the report runs.
    fn report_time(&self) -> Duration {
        let accounts = u32::try_from(self.accounts).unwrap_or(u32::MAX);
        let reads = self.read_per_account.map_or(Duration::ZERO, |pace| {
            pace.saturating_mul(accounts).saturating_mul(REPORT_MARGIN)
        });
        PAGE_RESERVE.saturating_add(reads)
    }
}

/// A subscribed SKU as stored ([`Sku::from_graph`], the conversion the sync shares); one with an
/// unusable id is logged and left out.
fn sku(subscribed: &SubscribedSku) -> Option<Sku> {
    Sku::from_graph(subscribed)
        .map_err(
            |error| tracing::warn!(sku_id = %subscribed.sku_id, %error, "subscribed SKU left out"),
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_sku_without_a_guid_when_converted_then_it_is_left_out() {
        let subscribed = SubscribedSku {
            sku_id: "not-a-guid".into(),
            ..SubscribedSku::default()
        };
        assert_eq!(sku(&subscribed), None);
    }
}
