//! The offboard job: runs the [`plan`](crate::plan) against Graph, one recorded step at a time.
//!
//! Every step is idempotent: a step an earlier delivery finished is not redone (its record says
//! so), and the plan itself is made from the account as it stands, so a redelivery after a crash
//! finds blocked accounts blocked, left groups gone and removed licenses removed, and skips them.
//! A transient Graph failure hands the message back to SQS; the next delivery resumes.

mod access;

use std::collections::HashMap;

use futures::future::BoxFuture;
use graph::{BatchRequest, GraphError, TenantGraph};
use lifecycle::model::{
    AccountRef, Job, JobKind, JobStatus, JobStep, Observation, StepOutcome, TenantConnection,
};
use lifecycle::{AccountId, JobError, JobHandler, JobProgress, Platform, TenantId};

use crate::account::{self, AccountState, Found, MemberGroup};
use crate::options::{self, Collection, Entry, Listing, ReplyState};
use crate::plan::{self, Action, PlannedStep};
use crate::preflight;
use crate::snapshot;
use crate::stored::{store_observed, update_account};
use crate::verdict;

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
        observed: Vec::new(),
        not_done: Vec::new(),
    }
}

/// A Graph failure of one step: a permanent one is recorded as the step's failure and the job
/// goes on; a transient one (or lost consent) ends this delivery so SQS retries it.
fn step_failure(error: GraphError) -> Result<(String, Option<String>), JobError> {
    let request_id = error.request_id().map(str::to_owned);
    match JobError::from(error) {
        JobError::Permanent { reason, .. } => Ok((reason, request_id)),
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
        let graph = self
            .platform
            .tenant_graph_until(tenant, progress.deadline())
            .await?;
        let (found, read_ids) = account::read(&graph, &spec.account).await?;
        // The same account checks as at submit (the tenant may have changed since), before any
        // write.
        if let Some(doomed) = verdict::account_verdict(spec, &found, &job.tenant_id) {
            return Err(JobError::permanent(doomed.reason));
        }
        let state = match found {
            Found::Active(state) => state,
            Found::Missing => {
                return Err(JobError::permanent(format!(
                    "account {} was not found in tenant {}",
                    spec.account, job.tenant_id
                )));
            }
            Found::Deleted { id, upn, enabled } => {
                return self
                    .already_deleted(job, &id, &upn, enabled, progress)
                    .await;
            }
        };
        tracing::info!(account_id = %state.id, groups = state.groups.len(), direct_licenses = state.direct_licenses.len(), "offboarding account");
        let part_numbers = self.part_numbers(&job.tenant_id).await?;
        let found_options = options::read(&graph, &state.id, spec).await?;
        let planned = plan::plan(spec, &state, &found_options, &part_numbers);
        if job.dry_run {
            return dry_run(
                planned,
                &state,
                read_ids,
                self.preflight(&graph, &state, &part_numbers).await?,
                progress,
            )
            .await;
        }
        if progress.finished_step(plan::SNAPSHOT).is_none() {
            self.take_snapshot(&graph, job, &state, &found_options, progress)
                .await?;
        }
        let mut run = Run {
            platform: &self.platform,
            graph: &graph,
            tenant_id: &job.tenant_id,
            before: &state,
            state: state.clone(),
            progress,
            failed: false,
        };
        // The gate: nothing below runs unless access is cut (and read back as cut).
        run.cut_access(&planned).await?;
        // The pre-flight is recorded in every real run, after the gate so that no read delays
        // cutting access (it reads nothing the gate changes).
        if run.progress.finished_step(plan::PREFLIGHT).is_none() {
            let preflight = self.preflight(&graph, &state, &part_numbers).await?;
            run.progress.step(preflight).await?;
        }
        for planned_step in &planned[2..] {
            if run.progress.finished_step(planned_step.name).is_none() {
                run.carry_out(planned_step).await?;
            }
        }
        Ok(if run.failed {
            JobStatus::CompletedWithErrors
        } else {
            JobStatus::Succeeded
        })
    }

    /// Keeps what this offboarding is about to remove or change (groups, licenses, sign-in, the
    /// mailbox's automatic reply when the job sets one), before its first write, so one restore
    /// call can give it back; recorded as the `snapshot` step, so a redelivery (which reads an
    /// account already changed) never replaces it.
    async fn take_snapshot(
        &self,
        graph: &TenantGraph,
        job: &Job,
        state: &AccountState,
        found_options: &options::Found,
        progress: &mut JobProgress,
    ) -> Result<(), JobError> {
        let mut snapshot = snapshot::of(job, state)?;
        snapshot.manager_id = account::manager_id(graph, &state.id).await?;
        if let Some(ReplyState::Read { setting, .. }) = &found_options.reply {
            snapshot.automatic_reply = Some(setting.clone());
        }
        self.platform.store.put_account_snapshot(&snapshot).await?;
        progress
            .step(step(
                plan::SNAPSHOT,
                StepOutcome::Done,
                None,
                snapshot::summary(&snapshot),
            ))
            .await
    }

    /// The `preflight` step: what a person should know before the account goes.
    async fn preflight(
        &self,
        graph: &TenantGraph,
        state: &AccountState,
        part_numbers: &HashMap<String, String>,
    ) -> Result<JobStep, JobError> {
        let found = preflight::read(graph, &state.id).await?;
        let request_id = (!found.request_ids.is_empty()).then(|| found.request_ids.join(","));
        Ok(step(
            plan::PREFLIGHT,
            StepOutcome::Done,
            request_id,
            preflight::summary(&found, state, part_numbers),
        ))
    }

    /// SKU id -> part number of the tenant's stored SKUs (a few dozen), to name licenses.
    async fn part_numbers(
        &self,
        tenant_id: &TenantId,
    ) -> Result<HashMap<String, String>, JobError> {
        Ok(self
            .platform
            .store
            .skus(tenant_id)
            .await?
            .into_values()
            .map(|sku| (sku.sku_id.to_string(), sku.part_number.to_string()))
            .collect())
    }

    /// The account is in deleted items already under the delete policy: that is the goal (e.g. a
    /// redelivery after the delete went through). Under keep_disabled the verdict has refused it.
    async fn already_deleted(
        &self,
        job: &Job,
        id: &str,
        upn: &str,
        enabled: Option<bool>,
        progress: &mut JobProgress,
    ) -> Result<JobStatus, JobError> {
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
            // What Graph's deleted-items entry says, not what the policy intended.
            update_account(&self.platform, &job.tenant_id, id, |account| {
                account.deleted = true;
                if let Some(enabled) = enabled {
                    account.enabled = enabled;
                }
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
    preflight: JobStep,
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
    progress.step(preflight).await?;
    for planned_step in planned {
        let outcome = match planned_step.action {
            Action::Skip => StepOutcome::Skipped,
            // The plan already knows it cannot run (e.g. a missing permission).
            Action::Refused(..) => StepOutcome::Failed,
            _ => StepOutcome::Pending,
        };
        let mut planned = step(planned_step.name, outcome, None, planned_step.detail);
        planned.not_done = planned_step.not_done;
        progress.step(planned).await?;
    }
    Ok(JobStatus::Succeeded)
}

/// One delivery of an offboard job for one account.
struct Run<'a, 'p> {
    platform: &'a Platform,
    graph: &'a TenantGraph,
    tenant_id: &'a TenantId,
    /// The account as Graph showed it at the start of this delivery.
    before: &'a AccountState,
    /// The account as the latest read-back showed it.
    state: AccountState,
    progress: &'p mut JobProgress,
    /// Some step failed for good; the job ends "completed with errors".
    failed: bool,
}

/// What a read-back saw, with the request id of the read.
struct ReadBack {
    found: Found,
    request_id: Option<String>,
}

impl ReadBack {
    fn request_id(&self) -> &str {
        self.request_id.as_deref().unwrap_or("-")
    }
}

impl Run<'_, '_> {
    /// Carries out one planned step after the gate (removals, the delete, the mailbox options),
    /// or records why it is not done.
    async fn carry_out(&mut self, planned_step: &PlannedStep) -> Result<(), JobError> {
        match &planned_step.action {
            Action::RemoveGroups(groups) => self.remove_groups(planned_step, groups).await?,
            Action::RemoveLicenses(skus) => self.remove_licenses(planned_step, skus).await?,
            Action::Delete => self.delete(planned_step).await?,
            Action::RemoveEntries(collection, entries) => {
                self.remove_entries(planned_step, *collection, entries)
                    .await?
            }
            Action::SetAutomaticReply(reply) => self.set_reply(planned_step, reply).await?,
            Action::Refused(reason, request_id) => {
                self.record_planned(
                    planned_step,
                    StepOutcome::Failed,
                    request_id.clone(),
                    reason.clone(),
                    Vec::new(),
                )
                .await?
            }
            Action::KeepDisabled => {
                self.record_as_planned(planned_step, StepOutcome::Done)
                    .await?
            }
            Action::Skip | Action::BlockSignIn | Action::RevokeSessions => {
                self.record_as_planned(planned_step, StepOutcome::Skipped)
                    .await?
            }
        }
        Ok(())
    }

    /// Records a step of the plan with no write of its own: `outcome` and the plan's detail.
    async fn record_as_planned(
        &mut self,
        planned_step: &PlannedStep,
        outcome: StepOutcome,
    ) -> Result<(), JobError> {
        let detail = planned_step.detail.clone();
        self.record_planned(planned_step, outcome, None, detail, Vec::new())
            .await
    }

    /// Records a step of the plan: its outcome, the request-id of its write, what the read-back
    /// observed, and what the plan knew it cannot do.
    async fn record_planned(
        &mut self,
        planned_step: &PlannedStep,
        outcome: StepOutcome,
        request_id: Option<String>,
        detail: String,
        observed: Vec<Observation>,
    ) -> Result<(), JobError> {
        if outcome == StepOutcome::Failed {
            self.failed = true;
        }
        let mut recorded = step(planned_step.name, outcome, request_id, detail);
        recorded.observed = observed;
        recorded.not_done = planned_step.not_done.clone();
        self.progress.step(recorded).await
    }

    /// Reads the account back from Graph (one `$batch`: the account and its memberships) and
    /// writes the stored account from what Graph answered.
    async fn read_back(&mut self) -> Result<ReadBack, JobError> {
        let reference = AccountRef::Id(AccountId::parse(&self.before.id).map_err(|_| {
            JobError::permanent(format!(
                "Graph answered an account id that is not a GUID: {}",
                self.before.id
            ))
        })?);
        let (found, request_ids) = account::read(self.graph, &reference).await?;
        match &found {
            Found::Active(state) => {
                store_observed(self.platform, self.tenant_id, self.before, state).await?;
                self.state = state.clone();
            }
            Found::Deleted { id, enabled, .. } => {
                let enabled = *enabled;
                update_account(self.platform, self.tenant_id, id, |account| {
                    account.deleted = true;
                    if let Some(enabled) = enabled {
                        account.enabled = enabled;
                    }
                })
                .await?;
            }
            Found::Missing => {}
        }
        Ok(ReadBack {
            found,
            request_id: request_ids.into_iter().next(),
        })
    }

    /// Removes the account from each group (20 per `$batch`), then reads `memberOf` back: a group
    /// counts as left only when the read-back no longer lists it.
    async fn remove_groups(
        &mut self,
        planned_step: &PlannedStep,
        groups: &[MemberGroup],
    ) -> Result<(), JobError> {
        let requests = groups
            .iter()
            .enumerate()
            .map(|(n, group)| {
                BatchRequest::remove_group_member(n.to_string(), &group.id, &self.before.id)
            })
            .collect();
        let outcomes = self.graph.batch(requests).await?;
        let mut failures = Vec::new();
        let mut request_ids: Vec<String> = Vec::new();
        let mut retry = None;
        for (group, outcome) in groups.iter().zip(outcomes) {
            match outcome.result {
                Ok(response) => request_ids.extend(response.request_id),
                Err(error) if error.is_not_found() => {}
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
        let read = self.read_back().await?;
        if let Some(error) = retry {
            // Not recorded: the next delivery re-reads memberOf and removes what is left.
            return Err(error);
        }
        let still: Vec<&MemberGroup> = groups
            .iter()
            .filter(|g| self.state.groups.iter().any(|now| now.id == g.id))
            .collect();
        request_ids.dedup();
        let request_id = (!request_ids.is_empty()).then(|| request_ids.join(","));
        let observed = format!(
            "read-back memberOf: {} direct group(s) left{} (request-id {})",
            self.state.groups.len(),
            if self.state.groups.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    self.state
                        .groups
                        .iter()
                        .map(|g| g.display_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            read.request_id()
        );
        if failures.is_empty() && !still.is_empty() {
            return Err(JobError::transient(format!(
                "Graph accepted the removals but the read-back still lists {}; the next delivery tries again",
                still
                    .iter()
                    .map(|g| g.display_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut detail = planned_step
            .detail
            .replacen("remove from", "removed from", 1);
        let outcome = if failures.is_empty() {
            StepOutcome::Done
        } else {
            detail.push_str(&format!("; failed: {}", failures.join("; ")));
            StepOutcome::Failed
        };
        detail.push_str(&format!("; {observed}"));
        let left: Vec<&str> = self
            .state
            .groups
            .iter()
            .map(|g| g.display_name.as_str())
            .collect();
        let seen = vec![Observation::new(
            "memberOf",
            left,
            read.request_id.as_deref(),
        )];
        self.record_planned(planned_step, outcome, request_id, detail, seen)
            .await
    }

    /// Removes the direct licenses with one assignLicense, then reads the licenses back.
    async fn remove_licenses(
        &mut self,
        planned_step: &PlannedStep,
        skus: &[String],
    ) -> Result<(), JobError> {
        let (request_id, failure) =
            match self.graph.assign_license(&self.before.id, &[], skus).await {
                Ok(receipt) => (receipt.request_id, None),
                Err(error) => {
                    let (reason, request_id) = step_failure(error)?;
                    (request_id, Some(reason))
                }
            };
        let read = self.read_back().await?;
        let left: Vec<&String> = skus
            .iter()
            .filter(|sku| {
                self.state
                    .direct_licenses
                    .iter()
                    .any(|now| now.eq_ignore_ascii_case(sku))
            })
            .collect();
        let observed = format!(
            "read-back assignedLicenses: {} direct, {} from groups (request-id {})",
            self.state.direct_licenses.len(),
            self.state.inherited_licenses.len(),
            read.request_id()
        );
        let read_id = read.request_id.as_deref();
        let inherited: Vec<serde_json::Value> = self
            .state
            .inherited_licenses
            .iter()
            .map(|(sku, group)| serde_json::json!({"skuId": sku, "assignedByGroup": group}))
            .collect();
        let seen = vec![
            Observation::new(
                "assignedLicenses",
                self.state.direct_licenses.clone(),
                read_id,
            ),
            Observation::new("licenseAssignmentStates", inherited, read_id),
        ];
        let (outcome, detail) = match failure {
            Some(reason) => (StepOutcome::Failed, format!("{reason}; {observed}")),
            None if !left.is_empty() => {
                return Err(JobError::transient(format!(
                    "Graph accepted the license removal but the read-back still shows {}; the next delivery tries again",
                    left.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            None => (
                StepOutcome::Done,
                format!(
                    "{}; {observed}",
                    planned_step.detail.replacen("remove", "removed", 1)
                ),
            ),
        };
        self.record_planned(planned_step, outcome, request_id, detail, seen)
            .await
    }

    /// Deletes an option's entries (20 per `$batch`; a missing one counts as gone), then lists
    /// the collection again: done only when the read-back lists none of them.
    async fn remove_entries(
        &mut self,
        planned_step: &PlannedStep,
        collection: Collection,
        entries: &[Entry],
    ) -> Result<(), JobError> {
        let outcomes = self.graph.batch(options::delete_requests(entries)).await?;
        let mut failures = Vec::new();
        let mut request_ids: Vec<String> = Vec::new();
        let mut retry = None;
        for (entry, outcome) in entries.iter().zip(outcomes) {
            match outcome.result {
                Ok(response) => request_ids.extend(response.request_id),
                Err(error) if error.is_not_found() => {}
                Err(error) => match options::refusal(error, collection.permission()) {
                    Ok((reason, request_id)) => {
                        request_ids.extend(request_id);
                        failures.push(format!("{}: {reason}", entry.name));
                    }
                    Err(error) => {
                        retry.get_or_insert(error);
                    }
                },
            }
        }
        let read = options::list(self.graph, &self.before.id, collection).await?;
        if let Some(error) = retry {
            // Not recorded: the next delivery lists the collection again and removes the rest.
            return Err(error);
        }
        let (left, observed, seen) = match &read {
            Listing::Read {
                entries: now,
                request_id,
                ..
            } => {
                let names: Vec<&str> = now.iter().map(|e| e.name.as_str()).collect();
                let seen = Observation::new(collection.property(), names, request_id.as_deref());
                let left: Vec<&Entry> = entries
                    .iter()
                    .filter(|e| now.iter().any(|n| n.id == e.id))
                    .collect();
                let observed = format!(
                    "read-back: {} {} left (request-id {})",
                    now.len(),
                    collection.noun(),
                    request_id.as_deref().unwrap_or("-")
                );
                (left, observed, vec![seen])
            }
            Listing::Refused { reason, request_id } => (
                Vec::new(),
                format!(
                    "read-back refused: {reason} (request-id {})",
                    request_id.as_deref().unwrap_or("-")
                ),
                Vec::new(),
            ),
        };
        if failures.is_empty() && !left.is_empty() {
            return Err(JobError::transient(format!(
                "Graph accepted the removals but the read-back still lists {}; the next delivery tries again",
                left.iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let read_refused = matches!(read, Listing::Refused { .. });
        request_ids.dedup();
        let request_id = (!request_ids.is_empty()).then(|| request_ids.join(","));
        let mut detail = planned_step.detail.replacen("remove ", "removed ", 1);
        let outcome = if failures.is_empty() && !read_refused {
            StepOutcome::Done
        } else {
            if !failures.is_empty() {
                detail.push_str(&format!("; failed: {}", failures.join("; ")));
            }
            StepOutcome::Failed
        };
        detail.push_str(&format!("; {observed}"));
        self.record_planned(planned_step, outcome, request_id, detail, seen)
            .await
    }

    /// Sets the mailbox's automatic reply, then reads it back: done only when the read-back
    /// shows it on (`alwaysEnabled`) for the audience asked.
    async fn set_reply(
        &mut self,
        planned_step: &PlannedStep,
        reply: &lifecycle::model::AutomaticReply,
    ) -> Result<(), JobError> {
        let (written, observed) =
            options::set_reply(self.graph, &self.before.id, options::reply_body(reply)).await?;
        let wanted = options::wanted_audience(reply);
        let read_back: Vec<Observation> = match &observed {
            ReplyState::Read {
                setting,
                request_id,
            } => vec![Observation::new(
                "automaticRepliesSetting",
                serde_json::json!({"status": setting.status, "externalAudience": setting.external_audience}),
                request_id.as_deref(),
            )],
            ReplyState::Refused { .. } => Vec::new(),
        };
        let (agrees, seen) = match &observed {
            ReplyState::Read {
                setting,
                request_id,
            } => (
                setting.status == "alwaysEnabled" && setting.external_audience == wanted,
                format!(
                    "read-back automaticRepliesSetting status={}, externalAudience={} (request-id {})",
                    setting.status,
                    setting.external_audience,
                    request_id.as_deref().unwrap_or("-")
                ),
            ),
            ReplyState::Refused { reason, request_id } => (
                false,
                format!(
                    "read-back refused: {reason} (request-id {})",
                    request_id.as_deref().unwrap_or("-")
                ),
            ),
        };
        match written {
            Err((reason, request_id)) => {
                self.record_planned(
                    planned_step,
                    StepOutcome::Failed,
                    request_id,
                    format!("Graph refused: {reason}; {seen}"),
                    read_back,
                )
                .await
            }
            Ok(_) if !agrees && matches!(observed, ReplyState::Read { .. }) => {
                Err(JobError::transient(format!(
                    "Graph accepted the automatic reply but the read-back does not show it; {seen}; the next delivery tries again"
                )))
            }
            Ok(request_id) => {
                let outcome = if agrees {
                    StepOutcome::Done
                } else {
                    StepOutcome::Failed
                };
                let detail = format!(
                    "{}; {seen}",
                    planned_step.detail.replacen(
                        "set the automatic reply",
                        "automatic reply set",
                        1
                    )
                );
                self.record_planned(planned_step, outcome, request_id, detail, read_back)
                    .await
            }
        }
    }

    /// Soft-deletes the account, then reads its deleted-items entry back: done only when the
    /// account is there.
    async fn delete(&mut self, planned_step: &PlannedStep) -> Result<(), JobError> {
        let (request_id, failure) = match self.graph.delete_user(&self.before.id).await {
            Ok(receipt) => (receipt.request_id, None),
            Err(error) if error.is_not_found() => (error.request_id().map(str::to_owned), None),
            Err(error) => {
                let (reason, request_id) = step_failure(error)?;
                (request_id, Some(reason))
            }
        };
        let (entry, read_id) = account::read_deleted(self.graph, &self.before.id).await?;
        let observed = format!(
            "read-back deleted items: {} (request-id {})",
            entry.as_ref().map_or_else(
                || "not there".to_owned(),
                |e| format!(
                    "present, deleted {}",
                    e.deleted_date_time
                        .map_or_else(|| "(time not given)".to_owned(), |at| at.to_rfc3339())
                )
            ),
            read_id.as_deref().unwrap_or("-")
        );
        let seen = vec![Observation::new(
            "deletedItems",
            serde_json::json!({
                "present": entry.is_some(),
                "deletedDateTime": entry
                    .as_ref()
                    .and_then(|e| e.deleted_date_time)
                    .map(|at| at.to_rfc3339()),
            }),
            read_id.as_deref(),
        )];
        if let Some(entry) = &entry {
            let enabled = entry.account_enabled;
            update_account(self.platform, self.tenant_id, &self.before.id, |account| {
                account.deleted = true;
                if let Some(enabled) = enabled {
                    account.enabled = enabled;
                }
            })
            .await?;
        }
        let (outcome, detail) = match (failure, entry.is_some()) {
            (Some(reason), _) => (StepOutcome::Failed, format!("{reason}; {observed}")),
            (None, true) => (
                StepOutcome::Done,
                format!(
                    "{}; {observed}",
                    planned_step
                        .detail
                        .replacen("soft-delete:", "soft-deleted:", 1)
                ),
            ),
            (None, false) => {
                return Err(JobError::transient(format!(
                    "Graph accepted the delete but the account is not in deleted items yet; {observed}; the next delivery tries again"
                )));
            }
        };
        self.record_planned(planned_step, outcome, request_id, detail, seen)
            .await
    }
}
