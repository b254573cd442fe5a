//! The offboard job: runs the [`plan`](crate::plan) against Graph, one recorded step at a time.
//!
//! Every step is idempotent: a step an earlier delivery finished is not redone (its record says
//! so), and the plan itself is made from the account as it stands, so a redelivery after a crash
//! finds blocked accounts blocked, left groups gone and removed licenses removed, and skips them.
//! A transient Graph failure hands the message back to SQS; the next delivery resumes.

use std::collections::HashMap;

use futures::future::BoxFuture;
use graph::{BatchOutcome, BatchRequest, GraphError, TenantGraph, UserPatch};
use lifecycle::model::{
    Account, Job, JobKind, JobStatus, JobStep, OffboardJob, OffboardPolicy, Sku, StepOutcome,
    TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{AccountId, GroupId, JobError, JobHandler, JobProgress, Platform, TenantId};

use crate::account::{self, AccountState, Found, MemberGroup};
use crate::plan::{self, Action, PlannedStep};

/// The offboard job handler.
#[derive(Clone)]
pub struct Offboarding {
    platform: Platform,
}

impl Offboarding {
    /// A handler over the shared dependencies.
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }
}

impl JobHandler for Offboarding {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        tenant: &'a TenantConnection,
        progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>> {
        Box::pin(self.offboard(job, tenant, progress))
    }
}

/// One step's record.
fn step(name: &str, outcome: StepOutcome, request_id: Option<String>, detail: String) -> JobStep {
    JobStep {
        name: name.to_owned(),
        outcome,
        graph_request_id: request_id,
        detail: Some(detail),
        at: None,
    }
}

/// A Graph failure of one step: a permanent one is recorded as the step's failure and the job
/// goes on; a transient one (or lost consent) ends this delivery so SQS retries it.
fn step_failure(error: GraphError) -> Result<(String, Option<String>), JobError> {
    let request_id = error.request_id().map(str::to_owned);
    match JobError::from(error) {
        JobError::Permanent(reason) => Ok((reason, request_id)),
        other => Err(other),
    }
}

impl Offboarding {
    #[tracing::instrument(skip_all, fields(tenant_id = %job.tenant_id, job_id = %job.job_id))]
    async fn offboard(
        &self,
        job: &Job,
        tenant: &TenantConnection,
        progress: &mut JobProgress,
    ) -> Result<JobStatus, JobError> {
        let JobKind::Offboard(spec) = &job.kind else {
            return Err(JobError::permanent(format!(
                "the offboarding queue takes offboard jobs only; a {} job belongs on its own queue",
                job.job_type()
            )));
        };
        let graph = self.platform.tenant_graph(tenant).await?;
        let (found, read_ids) =
            account::read(&graph, &self.platform.config.graph_base_url, &spec.account).await?;
        let state = match found {
            Found::Active(state) => state,
            Found::Missing => {
                return Err(JobError::permanent(format!(
                    "account {} was not found in tenant {} (neither active nor in deleted items): check the id or user principal name",
                    spec.account, job.tenant_id
                )));
            }
            Found::Deleted { id, upn } => {
                return self.already_deleted(job, spec, &id, &upn, progress).await;
            }
        };
        tracing::info!(account_id = %state.id, groups = state.groups.len(), direct_licenses = state.direct_licenses.len(), "offboarding account");
        let part_numbers = self.part_numbers(&job.tenant_id).await?;
        let planned = plan::plan(spec, &state, &part_numbers);
        if job.dry_run {
            return dry_run(planned, &state, read_ids, progress).await;
        }
        let mut run = Run {
            platform: &self.platform,
            graph: &graph,
            tenant_id: &job.tenant_id,
            state: &state,
            progress,
            failed: false,
        };
        run.block_and_revoke(&planned).await?;
        for planned_step in &planned[2..] {
            if run.progress.finished_step(planned_step.name).is_some() {
                continue;
            }
            match &planned_step.action {
                Action::RemoveGroups(groups) => run.remove_groups(planned_step, groups).await?,
                Action::RemoveLicenses(skus) => run.remove_licenses(planned_step, skus).await?,
                Action::Delete => run.delete(planned_step).await?,
                Action::KeepDisabled => {
                    run.record(
                        planned_step.name,
                        StepOutcome::Done,
                        None,
                        planned_step.detail.clone(),
                    )
                    .await?
                }
                Action::Skip | Action::BlockSignIn | Action::RevokeSessions => {
                    run.record(
                        planned_step.name,
                        StepOutcome::Skipped,
                        None,
                        planned_step.detail.clone(),
                    )
                    .await?
                }
            }
        }
        Ok(if run.failed {
            JobStatus::CompletedWithErrors
        } else {
            JobStatus::Succeeded
        })
    }

    /// SKU id -> part number of the tenant's stored SKUs (a few dozen), to name licenses.
    async fn part_numbers(
        &self,
        tenant_id: &TenantId,
    ) -> Result<HashMap<String, String>, JobError> {
        use futures::TryStreamExt as _;
        Ok(self
            .platform
            .store
            .query::<Sku>(&keys::sku_partition(tenant_id), None)
            .map_ok(|sku| (sku.sku_id.to_string(), sku.part_number.to_string()))
            .try_collect()
            .await?)
    }

    /// The account is in deleted items already: with the delete policy that is the goal (e.g. a
    /// redelivery after the delete went through), otherwise a person must restore it first.
    async fn already_deleted(
        &self,
        job: &Job,
        spec: &OffboardJob,
        id: &str,
        upn: &str,
        progress: &mut JobProgress,
    ) -> Result<JobStatus, JobError> {
        if spec.policy == OffboardPolicy::KeepDisabled {
            return Err(JobError::permanent(format!(
                "account {upn} ({id}) is deleted (in deleted items, restorable for 30 days); restore it with POST /tenants/{}/accounts/{id}/restore, then offboard it again to keep it disabled",
                job.tenant_id
            )));
        }
        let names = [
            plan::BLOCK_SIGN_IN,
            plan::REVOKE_SESSIONS,
            plan::REMOVE_GROUPS,
            plan::REMOVE_LICENSES,
            plan::DELETE_ACCOUNT,
        ];
        for name in names {
            if progress.finished_step(name).is_none() && !job.dry_run {
                progress
                    .step(step(
                        name,
                        StepOutcome::Skipped,
                        None,
                        format!("account {upn} is already deleted (in deleted items)"),
                    ))
                    .await?;
            }
        }
        if !job.dry_run {
            update_account(&self.platform, &job.tenant_id, id, |account| {
                account.enabled = false;
                account.deleted = true;
            })
            .await?;
        }
        Ok(JobStatus::Succeeded)
    }
}

/// Records the plan with no write: every step `pending` (would run) or `skipped` (nothing to do).
async fn dry_run(
    planned: Vec<PlannedStep>,
    state: &AccountState,
    read_ids: Vec<String>,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    progress
        .step(step(
            "find_account",
            StepOutcome::Done,
            read_ids.first().cloned(),
            format!("dry run: {} ({}); no write", state.upn, state.id),
        ))
        .await?;
    for planned_step in planned {
        let outcome = match planned_step.action {
            Action::Skip => StepOutcome::Skipped,
            _ => StepOutcome::Pending,
        };
        progress
            .step(step(planned_step.name, outcome, None, planned_step.detail))
            .await?;
    }
    Ok(JobStatus::Succeeded)
}

/// One delivery of an offboard job for one account.
struct Run<'a, 'p> {
    platform: &'a Platform,
    graph: &'a TenantGraph,
    tenant_id: &'a TenantId,
    state: &'a AccountState,
    progress: &'p mut JobProgress,
    /// Some step failed for good; the job ends "completed with errors".
    failed: bool,
}

impl Run<'_, '_> {
    async fn record(
        &mut self,
        name: &str,
        outcome: StepOutcome,
        request_id: Option<String>,
        detail: String,
    ) -> Result<(), JobError> {
        if outcome == StepOutcome::Failed {
            self.failed = true;
        }
        self.progress
            .step(step(name, outcome, request_id, detail))
            .await
    }

    /// Blocks sign-in and revokes sessions in one `$batch` round trip, before anything else.
    async fn block_and_revoke(&mut self, planned: &[PlannedStep]) -> Result<(), JobError> {
        let id = &self.state.id;
        let mut requests = Vec::with_capacity(2);
        for planned_step in &planned[..2] {
            if self.progress.finished_step(planned_step.name).is_some() {
                continue;
            }
            match planned_step.action {
                Action::BlockSignIn => requests.push(BatchRequest::update_user(
                    planned_step.name,
                    id,
                    &UserPatch::block_sign_in(),
                )),
                Action::RevokeSessions => {
                    requests.push(BatchRequest::revoke_sign_in_sessions(planned_step.name, id))
                }
                _ => {
                    self.record(
                        planned_step.name,
                        StepOutcome::Skipped,
                        None,
                        planned_step.detail.clone(),
                    )
                    .await?
                }
            }
        }
        let mut retry = None;
        if !requests.is_empty() {
            for BatchOutcome { id: name, result } in self.graph.batch(requests).await? {
                let (outcome, request_id, detail) = match result {
                    Ok(response) => (
                        StepOutcome::Done,
                        response.request_id,
                        if name == plan::BLOCK_SIGN_IN {
                            "sign-in blocked (accountEnabled=false)".to_owned()
                        } else {
                            "sign-in sessions revoked (refresh tokens and session cookies invalidated)"
                                .to_owned()
                        },
                    ),
                    Err(error) => match step_failure(error) {
                        Ok((reason, request_id)) => {
                            (StepOutcome::Failed, request_id, self.hint(&name, reason))
                        }
                        Err(error) => {
                            retry.get_or_insert(error);
                            continue;
                        }
                    },
                };
                self.record(&name, outcome, request_id, detail).await?;
            }
        }
        let blocked = !self.state.enabled
            || self
                .progress
                .finished_step(plan::BLOCK_SIGN_IN)
                .is_some_and(|s| s.outcome == StepOutcome::Done);
        if blocked {
            update_account(self.platform, self.tenant_id, id, |account| {
                account.enabled = false;
            })
            .await?;
        }
        retry.map_or(Ok(()), Err)
    }

    fn hint(&self, name: &str, reason: String) -> String {
        if name == plan::BLOCK_SIGN_IN && self.state.on_premises_synced {
            format!(
                "{reason}; the account is synced from on-premises Active Directory: disable it there"
            )
        } else {
            reason
        }
    }

    /// Removes the account from each group (20 per `$batch`); one not a member any more counts as
    /// removed.
    async fn remove_groups(
        &mut self,
        planned_step: &PlannedStep,
        groups: &[MemberGroup],
    ) -> Result<(), JobError> {
        let requests = groups
            .iter()
            .enumerate()
            .map(|(n, group)| {
                BatchRequest::remove_group_member(n.to_string(), &group.id, &self.state.id)
            })
            .collect();
        let outcomes = self.graph.batch(requests).await?;
        let mut removed: Vec<&MemberGroup> = Vec::new();
        let mut failures = Vec::new();
        let mut request_ids: Vec<String> = Vec::new();
        let mut retry = None;
        for (group, outcome) in groups.iter().zip(outcomes) {
            match outcome.result {
                Ok(response) => {
                    request_ids.extend(response.request_id);
                    removed.push(group);
                }
                Err(error) if error.is_not_found() => removed.push(group),
                Err(error) => match step_failure(error) {
                    Ok((reason, request_id)) => {
                        request_ids.extend(request_id);
                        failures.push(format!("{}: {reason}", group.display_name));
                    }
                    Err(error) => {
                        retry.get_or_insert(error);
                    }
                },
            }
        }
        self.forget_memberships(&removed).await?;
        if let Some(error) = retry {
            // Not recorded: the next delivery re-reads memberOf and removes what is left.
            return Err(error);
        }
        request_ids.dedup();
        let mut detail = planned_step
            .detail
            .replacen("remove from", "removed from", 1);
        let outcome = if failures.is_empty() {
            StepOutcome::Done
        } else {
            detail.push_str(&format!("; failed: {}", failures.join("; ")));
            StepOutcome::Failed
        };
        let request_id = (!request_ids.is_empty()).then(|| request_ids.join(","));
        self.record(planned_step.name, outcome, request_id, detail)
            .await
    }

    /// The stored memberships of the groups left, and the licenses they gave.
    async fn forget_memberships(&self, removed: &[&MemberGroup]) -> Result<(), JobError> {
        let Ok(account_id) = AccountId::parse(&self.state.id) else {
            return Ok(());
        };
        let group_ids: Vec<GroupId> = removed
            .iter()
            .filter_map(|group| GroupId::parse(&group.id).ok())
            .collect();
        let memberships: Vec<_> = group_ids
            .iter()
            .map(|group| keys::membership(self.tenant_id, group, &account_id))
            .collect();
        self.platform.store.batch_delete(memberships).await?;
        update_account(self.platform, self.tenant_id, &self.state.id, |account| {
            account.licenses.retain(|license| {
                license
                    .assigned_by_group
                    .as_ref()
                    .is_none_or(|group| !group_ids.contains(group))
            });
        })
        .await
    }

    /// Removes the direct licenses with one assignLicense.
    async fn remove_licenses(
        &mut self,
        planned_step: &PlannedStep,
        skus: &[String],
    ) -> Result<(), JobError> {
        let (outcome, request_id, detail) =
            match self.graph.assign_license(&self.state.id, &[], skus).await {
                Ok(receipt) => {
                    update_account(self.platform, self.tenant_id, &self.state.id, |account| {
                        account.licenses.retain(|license| {
                            license.assigned_by_group.is_some()
                                || !skus
                                    .iter()
                                    .any(|sku| sku.eq_ignore_ascii_case(license.sku_id.as_str()))
                        });
                    })
                    .await?;
                    (
                        StepOutcome::Done,
                        receipt.request_id,
                        planned_step.detail.replacen("remove", "removed", 1),
                    )
                }
                Err(error) => {
                    let (reason, request_id) = step_failure(error)?;
                    (StepOutcome::Failed, request_id, reason)
                }
            };
        self.record(planned_step.name, outcome, request_id, detail)
            .await
    }

    /// Soft-deletes the account; already gone counts as done.
    async fn delete(&mut self, planned_step: &PlannedStep) -> Result<(), JobError> {
        let (outcome, request_id, detail) = match self.graph.delete_user(&self.state.id).await {
            Ok(receipt) => (
                StepOutcome::Done,
                receipt.request_id,
                planned_step
                    .detail
                    .replacen("soft-delete:", "soft-deleted:", 1),
            ),
            Err(error) if error.is_not_found() => (
                StepOutcome::Skipped,
                error.request_id().map(str::to_owned),
                "the account is already deleted".to_owned(),
            ),
            Err(error) => {
                let (reason, request_id) = step_failure(error)?;
                (StepOutcome::Failed, request_id, reason)
            }
        };
        if outcome != StepOutcome::Failed {
            update_account(self.platform, self.tenant_id, &self.state.id, |account| {
                account.enabled = false;
                account.deleted = true;
            })
            .await?;
        }
        self.record(planned_step.name, outcome, request_id, detail)
            .await
    }
}

/// Changes the stored account, when the platform has it (a sync brings it otherwise), so the
/// platform shows the change at once instead of after the next sync.
async fn update_account(
    platform: &Platform,
    tenant_id: &TenantId,
    account_id: &str,
    change: impl FnOnce(&mut Account),
) -> Result<(), JobError> {
    let Ok(account_id) = AccountId::parse(account_id) else {
        return Ok(());
    };
    let key = keys::account(tenant_id, &account_id);
    if let Some(mut account) = platform.store.get::<Account>(&key).await? {
        let before = account.clone();
        change(&mut account);
        if account != before {
            platform.store.put(&key, &account).await?;
        }
    }
    Ok(())
}
