//! The update-memberships job: add and remove groups, assign and remove licenses (or set the
//! desired set). Validated from one `$batch` of reads; licenses change in one assignLicense, groups
//! in one `$batch` per 20 changes. The job re-reads and re-decides on every delivery, so a change
//! an earlier delivery made is simply no longer needed.

use graph::AssignedLicense;
use lifecycle::jobs::JobError;
use lifecycle::model::TenantConnection;
use lifecycle::model::{Job, JobStatus, StepOutcome, UpdateMembershipsJob};
use lifecycle::{JobProgress, Platform};

use crate::reads;
use crate::rules::{self, GroupChoice, MembershipDecision};
use crate::steps::{self, Decided, GroupChange, step};

/// Step name of the license change.
pub const CHANGE_LICENSES: &str = "change_licenses";

/// Runs an update-memberships job.
pub async fn run(
    platform: &Platform,
    job: &Job,
    update: &UpdateMembershipsJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let graph = platform
        .tenant_graph_until(tenant, progress.deadline())
        .await?;
    let groups: Vec<_> = update
        .add_groups
        .iter()
        .chain(&update.remove_groups)
        .cloned()
        .collect();
    let with_skus = !update.assign_licenses.is_empty()
        || !update.remove_licenses.is_empty()
        || update.set_licenses.is_some();
    let facts = reads::membership_facts(&graph, &update.account, &groups, with_skus).await?;
    let names = reads::group_names(&graph, &rules::inheriting_groups(update, &facts)).await?;
    let decision = rules::decide_memberships(update, tenant, &facts, &names);
    let decided = Decided {
        checks: &decision.checks,
        warnings: &decision.warnings,
        plan: &decision.plan(),
        summary: steps::validated_summary(decision.checks.len(), &decision.unchanged),
    };
    if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
        return Ok(status);
    }
    apply(&graph, progress, &decision).await
}

async fn apply(
    graph: &graph::TenantGraph,
    progress: &mut JobProgress,
    decision: &MembershipDecision,
) -> Result<JobStatus, JobError> {
    let account = decision.account_id.as_str();
    let licenses_changed =
        !decision.add_licenses.is_empty() || !decision.remove_licenses.is_empty();
    if licenses_changed && progress.finished_step(CHANGE_LICENSES).is_none() {
        let add: Vec<AssignedLicense> = decision
            .add_licenses
            .iter()
            .map(|sku| AssignedLicense::sku(sku.sku_id.clone()))
            .collect();
        let remove: Vec<String> = decision
            .remove_licenses
            .iter()
            .map(|sku| sku.sku_id.clone())
            .collect();
        let what = decision
            .plan()
            .first()
            .map(|call| call.purpose.clone())
            .unwrap_or_default();
        match graph.assign_license(account, &add, &remove).await {
            Ok(receipt) => {
                progress
                    .step(step(
                        CHANGE_LICENSES,
                        StepOutcome::Done,
                        receipt.request_id,
                        what,
                    ))
                    .await?
            }
            Err(error) if error.is_retryable() => return Err(error.into()),
            Err(error) => {
                progress
                    .step(step(
                        CHANGE_LICENSES,
                        StepOutcome::Failed,
                        error.request_id().map(str::to_owned),
                        format!("not done ({what}): {error}"),
                    ))
                    .await?
            }
        }
    }
    let changes: Vec<(GroupChange, GroupChoice)> = decision
        .add_groups
        .iter()
        .map(|group| (GroupChange::Add, group.clone()))
        .chain(
            decision
                .remove_groups
                .iter()
                .map(|group| (GroupChange::Remove, group.clone())),
        )
        .collect();
    steps::change_groups(graph, progress, account, &changes).await?;
    Ok(steps::final_status(progress))
}
