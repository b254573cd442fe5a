//! One tenant's license refresh (a `license_refresh` job): per-SKU seats from `subscribedSkus`,
//! last sign-in per account from `signInActivity` (Entra ID P1; otherwise recorded as "not
//! available: needs Entra ID P1", not an error), and the licensed accounts inactive for longer
//! than the job's threshold, flagged in the job record.
//!
//! Each step is recorded; a redelivery skips the steps an earlier delivery finished. Only items
//! that changed are written.

use std::collections::HashMap;
use std::pin::pin;

use chrono::Utc;
use futures::TryStreamExt as _;
use futures::future::BoxFuture;
use graph::{GraphError, SubscribedSku, TenantGraph};
use lifecycle::model::{
    Job, JobKind, JobStatus, JobStep, LastSignIn, Sku, StepOutcome, TenantConnection,
};
use lifecycle::{JobError, JobHandler, JobProgress, Platform, TenantId};

use lifecycle::license_report::{self as report, NEEDS_P1, ReportOptions};

/// Step names, as recorded in the job record.
pub const SKUS: &str = "skus";
pub const LAST_SIGN_IN: &str = "last_sign_in";
pub const INACTIVE_ACCOUNTS: &str = "inactive_accounts";
/// Inactive accounts named in the step detail (the report route lists them all).
const NAMED_IN_DETAIL: usize = 20;
/// Changed accounts written at a time, so memory stays bounded on a 100k-account tenant.
const WRITE_CHUNK: usize = 500;

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
        let graph = self
            .platform
            .tenant_graph_until(tenant, progress.deadline())
            .await?;
        if progress.finished_step(SKUS).is_none() {
            let detail = self.refresh_skus(&graph, &tenant.tenant_id).await?;
            progress.step(step(SKUS, StepOutcome::Done, detail)).await?;
        }
        if progress.finished_step(LAST_SIGN_IN).is_none() {
            let (outcome, detail) = if tenant.options.skip_sign_in {
                (
                    StepOutcome::Skipped,
                    "not requested (tenant option skip_sign_in)".to_owned(),
                )
            } else {
                (
                    StepOutcome::Done,
                    self.refresh_sign_ins(&graph, tenant).await?,
                )
            };
            progress.step(step(LAST_SIGN_IN, outcome, detail)).await?;
        }
        // Re-read: the sign-in step may have learnt whether the tenant has P1.
        let tenant = self
            .platform
            .tenant(&tenant.tenant_id)
            .await?
            .unwrap_or_else(|| tenant.clone());
        let mut options = ReportOptions::at(Utc::now());
        if let Some(days) = spec.inactive_after_days {
            options.inactive_after_days = days;
        }
        options.limit = NAMED_IN_DETAIL;
        let report = report::build(&self.platform.store, &tenant, options).await?;
        let detail = if let Some(reason) = &report.sign_in_activity.reason {
            format!("last sign-in {reason}: inactive accounts cannot be told")
        } else if report.inactive_total == 0 {
            format!(
                "no licensed account without a sign-in for more than {} days",
                options.inactive_after_days
            )
        } else {
            let named: Vec<String> = report
                .inactive_accounts
                .iter()
                .map(|account| match account.last_sign_in {
                    Some(at) => format!("{} (last sign-in {})", account.upn, at.date_naive()),
                    None => format!("{} (never signed in)", account.upn),
                })
                .collect();
            format!(
                "{} licensed account(s) without a sign-in for more than {} days (seats to reclaim): {}{}",
                report.inactive_total,
                options.inactive_after_days,
                named.join(", "),
                if report.inactive_total > named.len() {
                    ", ... (GET /tenants/{tenant_id}/licenses/report lists them all)"
                } else {
                    ""
                }
            )
        };
        progress
            .step(step(INACTIVE_ACCOUNTS, StepOutcome::Done, detail))
            .await?;
        Ok(JobStatus::Succeeded)
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

    /// Reads every account's last sign-in and writes it on the stored accounts that changed;
    /// without P1, marks them "not available: needs Entra ID P1".
    async fn refresh_sign_ins(
        &self,
        graph: &TenantGraph,
        tenant: &TenantConnection,
    ) -> Result<String, JobError> {
        let mut sign_ins: HashMap<String, LastSignIn> = HashMap::new();
        let mut users = pin!(graph.users_with_sign_in_activity());
        let has_p1 = loop {
            match users.try_next().await {
                Ok(Some(user)) => {
                    let last = match user
                        .sign_in_activity
                        .as_ref()
                        .and_then(graph::SignInActivity::last_activity)
                    {
                        Some(at) => LastSignIn::At { at },
                        None => LastSignIn::Never,
                    };
                    sign_ins.insert(user.id.to_ascii_lowercase(), last);
                }
                Ok(None) => break true,
                Err(GraphError::SignInActivityUnavailable(_)) => break false,
                Err(error) => return Err(error.into()),
            }
        };
        self.note_p1(tenant, has_p1).await?;
        let not_available = LastSignIn::NotAvailable {
            reason: NEEDS_P1.to_owned(),
        };
        let mut updated = 0;
        let mut changed = Vec::new();
        let mut accounts = pin!(self.platform.store.accounts(&tenant.tenant_id));
        while let Some(mut account) = accounts.try_next().await? {
            let wanted = if has_p1 {
                match sign_ins.get(account.id.as_str()) {
                    Some(last) => last.clone(),
                    None => continue,
                }
            } else {
                not_available.clone()
            };
            if account.last_sign_in != wanted {
                account.last_sign_in = wanted;
                changed.push(account);
            }
            if changed.len() >= WRITE_CHUNK {
                updated += self
                    .platform
                    .store
                    .put_accounts(&tenant.tenant_id, std::mem::take(&mut changed))
                    .await?;
            }
        }
        updated += self
            .platform
            .store
            .put_accounts(&tenant.tenant_id, changed)
            .await?;
        Ok(if has_p1 {
            format!(
                "last sign-in read for {} account(s); {updated} stored account(s) updated",
                sign_ins.len()
            )
        } else {
            format!(
                "not available: {NEEDS_P1} (the tenant has no Entra ID P1 or P2); {updated} stored account(s) marked"
            )
        })
    }

    /// Remembers on the tenant whether it has P1, when that changed.
    async fn note_p1(&self, tenant: &TenantConnection, has_p1: bool) -> Result<(), JobError> {
        if tenant.has_p1 == Some(has_p1) {
            return Ok(());
        }
        if let Some(mut current) = self.platform.tenant(&tenant.tenant_id).await? {
            current.has_p1 = Some(has_p1);
            self.platform.save_tenant(&current).await?;
        }
        Ok(())
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
