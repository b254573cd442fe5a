//! Recording steps in the job record, and the group changes both job types make through
//! `$batch` (20 per request), each change its own step with its Graph request-id.

use graph::{BatchRequest, GraphError, TenantGraph};
use lifecycle::JobProgress;
use lifecycle::jobs::JobError;
use lifecycle::model::{JobStep, StepOutcome};

use crate::rules::{Check, GroupChoice, PlannedCall};

/// The step that marks a job's validation as passed (a resumed job does not validate again).
pub const VALIDATE: &str = "validate";

/// A step with its outcome, request-id and detail.
pub fn step(
    name: impl Into<String>,
    outcome: StepOutcome,
    request_id: Option<String>,
    detail: impl Into<String>,
) -> JobStep {
    JobStep {
        name: name.into(),
        outcome,
        graph_request_id: request_id,
        detail: Some(detail.into()),
        at: None,
        observed: Vec::new(),
        not_done: Vec::new(),
    }
}

/// Records every validation result (`check:{n}:{rule}`, done or failed).
pub async fn record_checks(progress: &mut JobProgress, checks: &[Check]) -> Result<(), JobError> {
    for (index, check) in checks.iter().enumerate() {
        let outcome = if check.passed {
            StepOutcome::Done
        } else {
            StepOutcome::Failed
        };
        progress
            .step(step(
                format!("check:{}:{}", index + 1, check.rule),
                outcome,
                None,
                check.message.clone(),
            ))
            .await?;
    }
    Ok(())
}

/// Records a dry run's plan (`plan:{n}`, pending: the Graph calls a real run makes, in order).
pub async fn record_plan(progress: &mut JobProgress, plan: &[PlannedCall]) -> Result<(), JobError> {
    for (index, call) in plan.iter().enumerate() {
        progress
            .step(step(
                format!("plan:{}", index + 1),
                StepOutcome::Pending,
                None,
                call.to_string(),
            ))
            .await?;
    }
    Ok(())
}

/// Records warnings (`warning:{n}`): nothing was done about them, a person should know.
pub async fn record_warnings(
    progress: &mut JobProgress,
    warnings: &[String],
) -> Result<(), JobError> {
    for (index, warning) in warnings.iter().enumerate() {
        progress
            .step(step(
                format!("warning:{}", index + 1),
                StepOutcome::Skipped,
                None,
                warning.clone(),
            ))
            .await?;
    }
    Ok(())
}

/// What a handler decided before any write: the validation results, the warnings, the Graph
/// calls a real run makes (its plan) and the summary recorded on the [`VALIDATE`] step.
pub struct Decided<'a> {
    pub checks: &'a [Check],
    pub warnings: &'a [String],
    pub plan: &'a [PlannedCall],
    pub summary: String,
}

/// The one "record the checks, end a dry run with the plan, fail on failures" block every
/// handler runs before writing. A dry run records checks, warnings and plan and ends (its status
/// is returned); a real run records checks and warnings once (not again on a resumed delivery,
/// which [`VALIDATE`] marks), fails permanently on a failed check, and answers `None`: go on.
pub async fn settle_decision(
    progress: &mut JobProgress,
    dry_run: bool,
    decided: Decided<'_>,
) -> Result<Option<lifecycle::model::JobStatus>, JobError> {
    let resumed = progress.finished_step(VALIDATE).is_some();
    if dry_run {
        record_checks(progress, decided.checks).await?;
        record_warnings(progress, decided.warnings).await?;
        record_plan(progress, decided.plan).await?;
        return match crate::rules::failures(decided.checks) {
            Some(reason) => Err(JobError::permanent(reason)),
            None => Ok(Some(lifecycle::model::JobStatus::Succeeded)),
        };
    }
    if !resumed {
        record_checks(progress, decided.checks).await?;
    }
    if let Some(reason) = crate::rules::failures(decided.checks) {
        return Err(JobError::permanent(reason));
    }
    if !resumed {
        record_warnings(progress, decided.warnings).await?;
        progress
            .step(step(VALIDATE, StepOutcome::Done, None, decided.summary))
            .await?;
    }
    Ok(None)
}

/// The [`VALIDATE`] step's summary: how many checks passed, and what needed nothing.
pub fn validated_summary(checks: usize, unchanged: &[String]) -> String {
    let mut summary = format!("{checks} checks passed");
    if !unchanged.is_empty() {
        summary.push_str(&format!("; nothing to do for: {}", unchanged.join(", ")));
    }
    summary
}

/// A group change of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    Add,
    Remove,
}

impl GroupChange {
    fn step_name(self, group: &GroupChoice) -> String {
        match self {
            Self::Add => format!("add_group:{}", group.id),
            Self::Remove => format!("remove_group:{}", group.id),
        }
    }
}

/// Makes the group changes not finished by an earlier delivery, in `$batch` requests of 20, and
/// records each as a step. Already a member (add) or not a member (remove) is the wanted state:
/// skipped. A transient failure (after the client's retries) is returned once every other result
/// is recorded, so a redelivery redoes only what is left.
pub async fn change_groups(
    graph: &TenantGraph,
    progress: &mut JobProgress,
    account_id: &str,
    changes: &[(GroupChange, GroupChoice)],
) -> Result<(), JobError> {
    let pending: Vec<&(GroupChange, GroupChoice)> = changes
        .iter()
        .filter(|(change, group)| progress.finished_step(&change.step_name(group)).is_none())
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let member_url = graph.client().directory_object_url(account_id);
    let requests = pending
        .iter()
        .enumerate()
        .map(|(index, (change, group))| match change {
            GroupChange::Add => {
                BatchRequest::add_group_member(index.to_string(), &group.id, member_url.clone())
            }
            GroupChange::Remove => {
                BatchRequest::remove_group_member(index.to_string(), &group.id, account_id)
            }
        })
        .collect();
    let outcomes = graph.batch(requests).await?;
    let mut transient: Option<GraphError> = None;
    for ((change, group), outcome) in pending.into_iter().zip(outcomes) {
        let name = change.step_name(group);
        let recorded = match (outcome.result, change) {
            (Ok(response), GroupChange::Add) => step(
                name,
                StepOutcome::Done,
                response.request_id,
                format!("added to {group}"),
            ),
            (Ok(response), GroupChange::Remove) => step(
                name,
                StepOutcome::Done,
                response.request_id,
                format!("removed from {group}"),
            ),
            (Err(error), GroupChange::Add) if error.is_member_already_present() => step(
                name,
                StepOutcome::Skipped,
                error.request_id().map(str::to_owned),
                format!("already a member of {group}"),
            ),
            (Err(error), GroupChange::Remove) if error.is_not_found() => step(
                name,
                StepOutcome::Skipped,
                error.request_id().map(str::to_owned),
                format!("not a member of {group}"),
            ),
            (Err(error), _) if error.is_retryable() => {
                transient = Some(error);
                continue;
            }
            (Err(error), change) => step(
                name,
                StepOutcome::Failed,
                error.request_id().map(str::to_owned),
                match change {
                    GroupChange::Add => format!("not added to {group}: {error}"),
                    GroupChange::Remove => format!("not removed from {group}: {error}"),
                },
            ),
        };
        progress.step(recorded).await?;
    }
    match transient {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// `CompletedWithErrors` when a step failed for good, else `Succeeded`.
pub fn final_status(progress: &JobProgress) -> lifecycle::model::JobStatus {
    if progress
        .record()
        .steps
        .iter()
        .any(|step| step.outcome == StepOutcome::Failed && !step.name.starts_with("check:"))
    {
        lifecycle::model::JobStatus::CompletedWithErrors
    } else {
        lifecycle::model::JobStatus::Succeeded
    }
}
