//! One-call restore of an offboarded account from its snapshot: undelete it when it is in deleted
//! items, then give back its usage location (before any license: Graph assigns none without one)
//! and its manager, the direct groups and direct licenses (with their disabled plans) the
//! offboarding removed, and re-enable sign-in when asked. Group-inherited licenses come back with
//! their group. The mailbox's automatic reply, when the offboarding set its own, is put back as
//! the snapshot recorded it (after the licenses: the mailbox needs its license). Every write is
//! judged by a read-back of the account from Graph; the stored account is written from that
//! read-back. Idempotent: what is already back is skipped, so a caller whose
//! answer was lost simply sends the restore again.
//!
//! Runs inline (the API's route): an undelete, one `$batch` per 20 groups, one assignLicense, one
//! PATCH, the automatic reply's `$batch` (PATCH and read-back) and two reads fit well inside API
//! Gateway's 30 s.

use crate::model::{
    AccountRef, AccountSnapshot, SnapshotAutomaticReply, SnapshotGroup, SnapshotLicense,
    StepOutcome,
};
use crate::{AccountId, JobError, Platform, StoreError, TenantId};
use graph::{AssignedLicense, BatchRequest, GraphError, TenantGraph, UserPatch};
use serde::Serialize;
use thiserror::Error;

use super::account::{self, AccountState, Found};
use super::options::{self, ReplyState, ReplyWrite};
use super::stored::store_observed;

/// Step names of a restore.
pub const UNDELETE: &str = "undelete";
pub const SET_USAGE_LOCATION: &str = "set_usage_location";
pub const SET_MANAGER: &str = "set_manager";
pub const ADD_GROUPS: &str = "add_groups";
pub const ASSIGN_LICENSES: &str = "assign_licenses";
pub const ENABLE_SIGN_IN: &str = "enable_sign_in";
pub const RESTORE_AUTOMATIC_REPLY: &str = "restore_automatic_reply";

/// What the caller asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Re-enable sign-in (`accountEnabled: true`).
    pub enable: bool,
    /// Return the plan; write nothing.
    pub dry_run: bool,
}

/// Why a restore could not run at all (nothing was written).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Neither an active account nor in deleted items.
    #[error("account {0} is neither in the tenant nor in its deleted items")]
    NotFound(AccountId),
    /// Active, and no offboarding snapshot says what to give back.
    #[error(
        "account {0} is not deleted and no offboarding snapshot of the last 30 days names groups or licenses to give back: there is nothing to restore"
    )]
    NothingToRestore(AccountId),
    /// Graph accepted the undelete but the read-back does not show the account active yet.
    #[error(
        "Graph accepted the restore of account {0} but the read-back does not show it active yet; send the restore again"
    )]
    NotConfirmed(AccountId),
    /// Graph could not be reached for a moment (throttled, unavailable) part-way: what was done
    /// is skipped when the restore is sent again.
    #[error("{0}; send the restore again (what is back already is skipped)")]
    Interrupted(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<JobError> for RestoreError {
    fn from(error: JobError) -> Self {
        RestoreError::Interrupted(error.to_string())
    }
}

/// One step of a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RestoreStep {
    pub name: &'static str,
    pub outcome: StepOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_request_id: Option<String>,
    pub detail: String,
}

/// The snapshot a restore worked from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SnapshotUsed {
    pub job_id: String,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub account_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    pub groups: Vec<SnapshotGroup>,
    pub direct_licenses: Vec<SnapshotLicense>,
    /// The mailbox's automatic reply before the offboarding set its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_reply: Option<SnapshotAutomaticReply>,
}

/// The account as the final read-back showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Observed {
    pub account_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    /// Direct group ids.
    pub groups: Vec<String>,
    pub direct_licenses: Vec<String>,
    /// (SKU id, group id) of each group-inherited license.
    pub inherited_licenses: Vec<(String, String)>,
    /// The mailbox's automatic reply, when the restore put one back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_reply: Option<SnapshotAutomaticReply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_request_id: Option<String>,
}

/// What a restore did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RestoreReport {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub user_principal_name: String,
    pub dry_run: bool,
    /// Whether the account was brought back from deleted items.
    pub restored: bool,
    /// The request id of the undelete, when there was one.
    pub graph_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotUsed>,
    pub steps: Vec<RestoreStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// Every step done or skipped (no failure).
    pub complete: bool,
}

/// Restores `account_id` in `tenant_id` (see the module doc).
#[tracing::instrument(skip(platform, graph), fields(tenant_id = %tenant_id, account_id = %account_id))]
pub async fn restore(
    platform: &Platform,
    graph: &TenantGraph,
    tenant_id: &TenantId,
    account_id: &AccountId,
    options: RestoreOptions,
) -> Result<RestoreReport, RestoreError> {
    let snapshot = platform
        .store
        .account_snapshot(tenant_id, account_id)
        .await?
        .filter(|s| !s.is_expired(chrono::Utc::now()));
    let reference = AccountRef::Id(account_id.clone());
    let (found, _) = account::read(graph, &reference).await?;
    let mut steps = Vec::with_capacity(4);
    let mut undelete_id = None;
    let (upn, state) = match found {
        Found::Missing => return Err(RestoreError::NotFound(account_id.clone())),
        Found::Active(_) if snapshot.is_none() => {
            return Err(RestoreError::NothingToRestore(account_id.clone()));
        }
        Found::Active(state) => {
            steps.push(step(
                UNDELETE,
                StepOutcome::Skipped,
                None,
                "the account is not deleted".into(),
            ));
            (state.upn.clone(), Some(state))
        }
        Found::Deleted { upn, .. } if options.dry_run => {
            steps.push(step(
                UNDELETE,
                StepOutcome::Pending,
                None,
                format!(
                    "restore from deleted items: POST /directory/deletedItems/{account_id}/restore"
                ),
            ));
            (upn, None)
        }
        Found::Deleted { .. } => {
            let receipt = graph.restore_deleted_item(account_id.as_str()).await?;
            undelete_id = receipt.request_id.clone();
            let (found, read_ids) = account::read(graph, &reference).await?;
            let Found::Active(state) = found else {
                return Err(RestoreError::NotConfirmed(account_id.clone()));
            };
            steps.push(step(
                UNDELETE,
                StepOutcome::Done,
                receipt.request_id,
                format!(
                    "restored from deleted items; read-back: active as {} (request-id {})",
                    state.upn,
                    read_ids.first().map_or("-", String::as_str)
                ),
            ));
            (state.upn.clone(), Some(state))
        }
    };
    let manager_now = match &state {
        Some(state) => account::manager_id(graph, &state.id).await?,
        None => None,
    };
    let plan = Plan::new(
        snapshot.as_ref(),
        state.as_ref(),
        manager_now.as_deref(),
        options,
    );
    let mut report = RestoreReport {
        tenant_id: tenant_id.clone(),
        account_id: account_id.clone(),
        user_principal_name: upn,
        dry_run: options.dry_run,
        restored: undelete_id.is_some(),
        graph_request_id: undelete_id,
        snapshot: snapshot.as_ref().map(SnapshotUsed::from),
        steps,
        observed: None,
        complete: false,
    };
    match state {
        Some(state) if !options.dry_run => {
            let (judged, seen) =
                write_and_read_back(platform, graph, tenant_id, account_id, &plan, &state).await?;
            report.steps.extend(judged);
            report.observed = Some(seen);
        }
        _ => report.steps.extend(plan.pending()),
    }
    report.complete = report.steps.iter().all(|s| {
        matches!(
            s.outcome,
            StepOutcome::Done | StepOutcome::Skipped | StepOutcome::Pending
        )
    });
    Ok(report)
}

/// Writes what `plan` restores onto the active account `state`, reads the account back, stores
/// what Graph answered, and judges each step by that read-back.
async fn write_and_read_back(
    platform: &Platform,
    graph: &TenantGraph,
    tenant_id: &TenantId,
    account_id: &AccountId,
    plan: &Plan,
    state: &AccountState,
) -> Result<(Vec<RestoreStep>, Observed), RestoreError> {
    let written = plan.write(graph, state).await?;
    let (found, read_ids) = account::read(graph, &AccountRef::Id(account_id.clone())).await?;
    let Found::Active(after) = found else {
        return Err(RestoreError::NotConfirmed(account_id.clone()));
    };
    let manager_after = account::manager_id(graph, &after.id).await?;
    store_observed(platform, tenant_id, state, &after)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "restored account not stored here; the next sync will");
        })
        .ok();
    let read_id = read_ids.into_iter().next();
    let reply_after = match &written.reply {
        Some((_, ReplyState::Read { setting, .. })) => Some(setting.clone()),
        _ => None,
    };
    let judged = plan.judge(
        written,
        &after,
        manager_after.as_deref(),
        read_id.as_deref(),
    );
    let mut seen = observed(&after, manager_after, read_id);
    seen.automatic_reply = reply_after;
    Ok((judged, seen))
}

impl From<&AccountSnapshot> for SnapshotUsed {
    fn from(s: &AccountSnapshot) -> Self {
        Self {
            job_id: s.job_id.to_string(),
            taken_at: s.taken_at,
            account_enabled: s.account_enabled,
            usage_location: s.usage_location.clone(),
            manager_id: s.manager_id.clone(),
            groups: s.groups.clone(),
            direct_licenses: s.direct_licenses.clone(),
            automatic_reply: s.automatic_reply.clone(),
        }
    }
}

fn step(
    name: &'static str,
    outcome: StepOutcome,
    graph_request_id: Option<String>,
    detail: String,
) -> RestoreStep {
    RestoreStep {
        name,
        outcome,
        graph_request_id,
        detail,
    }
}

fn observed(
    state: &AccountState,
    manager_id: Option<String>,
    graph_request_id: Option<String>,
) -> Observed {
    Observed {
        account_enabled: state.enabled,
        usage_location: state.usage_location.clone(),
        manager_id,
        groups: state.groups.iter().map(|g| g.id.clone()).collect(),
        direct_licenses: state.direct_licenses.clone(),
        inherited_licenses: state.inherited_licenses.clone(),
        automatic_reply: None,
        graph_request_id,
    }
}

/// What to give back, decided from the snapshot and the account as it stands (`None` while it is
/// still deleted, in a dry run: then everything in the snapshot is to give back).
struct Plan {
    /// The snapshot's usage location, when the account's differs.
    usage_location: Option<String>,
    /// The snapshot's manager, when the account's differs.
    manager: Option<String>,
    groups: Vec<SnapshotGroup>,
    /// Not removable when the snapshot was taken (dynamic, mail-enabled, on-premises): the
    /// offboarding left them, and the platform cannot add the member back either.
    kept_groups: Vec<SnapshotGroup>,
    licenses: Vec<SnapshotLicense>,
    /// The snapshot's automatic reply, put back as it was (a PATCH of the same value is
    /// harmless, so it is sent on every restore that has one).
    reply: Option<SnapshotAutomaticReply>,
    enable: bool,
    enable_asked: bool,
}

/// What Graph answered to the writes.
struct Written {
    usage_location: Option<Result<Option<String>, String>>,
    manager: Option<Result<Option<String>, String>>,
    groups: Vec<(String, Result<Option<String>, String>)>,
    licenses: Option<Result<Option<String>, String>>,
    /// The PATCH's answer and the read-back after it.
    reply: Option<(ReplyWrite, ReplyState)>,
    enable: Option<Result<Option<String>, String>>,
}

impl Plan {
    fn new(
        snapshot: Option<&AccountSnapshot>,
        state: Option<&AccountState>,
        manager_now: Option<&str>,
        options: RestoreOptions,
    ) -> Plan {
        let usage_location = snapshot
            .and_then(|s| s.usage_location.clone())
            .filter(|wanted| {
                !state.is_some_and(|s| {
                    s.usage_location
                        .as_deref()
                        .is_some_and(|now| now.eq_ignore_ascii_case(wanted))
                })
            });
        let manager = snapshot
            .and_then(|s| s.manager_id.clone())
            .filter(|wanted| !manager_now.is_some_and(|now| now.eq_ignore_ascii_case(wanted)));
        let in_group = |id: &str| state.is_some_and(|s| s.groups.iter().any(|g| g.id == id));
        let has_license = |sku: &str| {
            state.is_some_and(|s| {
                s.direct_licenses
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(sku))
            })
        };
        let (groups, kept_groups) = snapshot
            .map(|s| {
                s.groups
                    .iter()
                    .filter(|g| !in_group(&g.group_id))
                    .cloned()
                    .partition(|g| g.removable)
            })
            .unwrap_or_default();
        let licenses = snapshot
            .map(|s| {
                s.direct_licenses
                    .iter()
                    .filter(|l| !has_license(&l.sku_id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Plan {
            usage_location,
            manager,
            groups,
            kept_groups,
            licenses,
            reply: snapshot.and_then(|s| s.automatic_reply.clone()),
            enable: options.enable && !state.is_some_and(|s| s.enabled),
            enable_asked: options.enable,
        }
    }

    fn groups_detail(&self) -> String {
        let names = self
            .groups
            .iter()
            .map(|g| g.display_name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut detail = format!(
            "add back to {} group(s) ({} $batch request(s)): {names}",
            self.groups.len(),
            self.groups.len().div_ceil(graph::MAX_BATCH_STEPS)
        );
        for group in &self.kept_groups {
            detail.push_str(&format!(
                "; cannot add back to {}: {}",
                group.display_name,
                group
                    .not_removable_reason
                    .as_deref()
                    .unwrap_or("not changeable through Graph")
            ));
        }
        detail
    }

    fn licenses_detail(&self) -> String {
        format!(
            "assign {} direct license(s) with one assignLicense, disabled plans as before: {}",
            self.licenses.len(),
            self.licenses
                .iter()
                .map(|l| l.sku_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn usage_location_pending(&self) -> RestoreStep {
        match &self.usage_location {
            Some(wanted) => step(
                SET_USAGE_LOCATION,
                StepOutcome::Pending,
                None,
                format!(
                    "set usage location {wanted} (before any license) where the account's differs: PATCH usageLocation"
                ),
            ),
            None => step(
                SET_USAGE_LOCATION,
                StepOutcome::Skipped,
                None,
                "usage location as in the snapshot (or none recorded)".into(),
            ),
        }
    }

    fn manager_pending(&self) -> RestoreStep {
        match &self.manager {
            Some(wanted) => step(
                SET_MANAGER,
                StepOutcome::Pending,
                None,
                format!("set manager {wanted} where the account's differs: PUT manager/$ref"),
            ),
            None => step(
                SET_MANAGER,
                StepOutcome::Skipped,
                None,
                "manager as in the snapshot (or none recorded)".into(),
            ),
        }
    }

    /// The plan with no write (a dry run).
    fn pending(&self) -> Vec<RestoreStep> {
        vec![
            self.usage_location_pending(),
            self.manager_pending(),
            self.groups_pending(),
            self.licenses_pending(),
            self.reply_pending(),
            self.enable_pending(),
        ]
    }

    fn reply_pending(&self) -> RestoreStep {
        match &self.reply {
            Some(reply) => step(
                RESTORE_AUTOMATIC_REPLY,
                StepOutcome::Pending,
                None,
                format!(
                    "put back the automatic reply from before the offboarding (after the licenses: the mailbox needs its license): PATCH /users/{{id}}/mailboxSettings {}",
                    reply.summary()
                ),
            ),
            None => step(
                RESTORE_AUTOMATIC_REPLY,
                StepOutcome::Skipped,
                None,
                "the offboarding did not change the automatic reply".into(),
            ),
        }
    }

    fn groups_pending(&self) -> RestoreStep {
        if self.groups.is_empty() && self.kept_groups.is_empty() {
            step(
                ADD_GROUPS,
                StepOutcome::Skipped,
                None,
                "no group to add back".into(),
            )
        } else if self.groups.is_empty() {
            step(ADD_GROUPS, StepOutcome::Skipped, None, self.groups_detail())
        } else {
            step(ADD_GROUPS, StepOutcome::Pending, None, self.groups_detail())
        }
    }

    fn licenses_pending(&self) -> RestoreStep {
        if self.licenses.is_empty() {
            step(
                ASSIGN_LICENSES,
                StepOutcome::Skipped,
                None,
                "no direct license to give back".into(),
            )
        } else {
            step(
                ASSIGN_LICENSES,
                StepOutcome::Pending,
                None,
                self.licenses_detail(),
            )
        }
    }

    fn enable_pending(&self) -> RestoreStep {
        if self.enable {
            step(
                ENABLE_SIGN_IN,
                StepOutcome::Pending,
                None,
                "re-enable sign-in: PATCH accountEnabled=true".into(),
            )
        } else if self.enable_asked {
            step(
                ENABLE_SIGN_IN,
                StepOutcome::Skipped,
                None,
                "sign-in is enabled already".into(),
            )
        } else {
            step(
                ENABLE_SIGN_IN,
                StepOutcome::Skipped,
                None,
                "not requested: sign-in stays blocked (send enable: true to re-enable it)".into(),
            )
        }
    }

    /// Sends the writes: groups (20 per `$batch`), licenses (one assignLicense), the automatic
    /// reply (PATCH and read-back), sign-in (PATCH). A permanent refusal is kept for the step; a
    /// transient failure ends the restore (the caller sends it again; what was done is skipped
    /// then).
    async fn write(
        &self,
        graph: &TenantGraph,
        state: &AccountState,
    ) -> Result<Written, RestoreError> {
        let mut written = Written {
            usage_location: None,
            manager: None,
            groups: Vec::new(),
            licenses: None,
            reply: None,
            enable: None,
        };
        // Usage location first: Graph assigns no license (direct or from a group) without one.
        if let Some(wanted) = &self.usage_location {
            let patch = UserPatch {
                usage_location: Some(wanted.clone()),
                ..UserPatch::default()
            };
            written.usage_location = Some(match graph.update_user(&state.id, &patch).await {
                Ok(receipt) => Ok(receipt.request_id),
                Err(error) if error.is_retryable() => return Err(error.into()),
                Err(error) => Err(error.to_string()),
            });
        }
        if let Some(manager) = &self.manager {
            let request = BatchRequest::set_manager(
                SET_MANAGER,
                &state.id,
                graph.client().directory_object_url(manager),
            );
            let outcome = graph.batch(vec![request]).await?.pop();
            written.manager = Some(match outcome.map(|o| o.result) {
                Some(Ok(response)) => Ok(response.request_id),
                Some(Err(error)) if error.is_retryable() => return Err(error.into()),
                Some(Err(error)) => Err(error.to_string()),
                None => Err("the $batch answer is empty".into()),
            });
        }
        if !self.groups.is_empty() {
            let member = graph.client().directory_object_url(&state.id);
            let requests = self
                .groups
                .iter()
                .enumerate()
                .map(|(n, g)| {
                    BatchRequest::add_group_member(n.to_string(), &g.group_id, member.clone())
                })
                .collect();
            for (group, outcome) in self.groups.iter().zip(graph.batch(requests).await?) {
                let result = match outcome.result {
                    Ok(response) => Ok(response.request_id),
                    Err(error) if error.is_member_already_present() => {
                        Ok(error.request_id().map(str::to_owned))
                    }
                    Err(error) if error.is_retryable() => return Err(error.into()),
                    Err(error) => Err(error.to_string()),
                };
                written.groups.push((group.group_id.clone(), result));
            }
        }
        if !self.licenses.is_empty() {
            let add: Vec<AssignedLicense> = self
                .licenses
                .iter()
                .map(|l| AssignedLicense {
                    sku_id: l.sku_id.clone(),
                    disabled_plans: l.disabled_plans.clone(),
                })
                .collect();
            written.licenses = Some(match graph.assign_license(&state.id, &add, &[]).await {
                Ok(receipt) => Ok(receipt.request_id),
                Err(error) if error.is_retryable() => return Err(error.into()),
                Err(error) => Err(error.to_string()),
            });
        }
        // After the licenses: Exchange serves a mailbox only while the account has its license.
        if let Some(reply) = &self.reply {
            let body = options::restore_body(reply);
            written.reply = Some(options::set_reply(graph, &state.id, body).await?);
        }
        if self.enable {
            let patch = UserPatch {
                account_enabled: Some(true),
                ..UserPatch::default()
            };
            written.enable = Some(match graph.update_user(&state.id, &patch).await {
                Ok(receipt) => Ok(receipt.request_id),
                Err(error) if error.is_retryable() => return Err(error.into()),
                Err(error) => Err(error.to_string()),
            });
        }
        Ok(written)
    }

    /// Each step's outcome: done only when the read-back `after` shows it (one rule per step,
    /// in the order the steps are written).
    fn judge(
        &self,
        written: Written,
        after: &AccountState,
        manager_after: Option<&str>,
        read_id: Option<&str>,
    ) -> Vec<RestoreStep> {
        let read = format!("(read-back request-id {})", read_id.unwrap_or("-"));
        vec![
            self.judge_usage_location(written.usage_location, after, &read),
            self.judge_manager(written.manager, manager_after),
            self.judge_groups(written.groups, after, &read),
            self.judge_licenses(written.licenses, after, &read),
            match (&self.reply, written.reply) {
                (Some(wanted), Some((result, observed))) => judged_reply(wanted, result, observed),
                _ => self.reply_pending(),
            },
            self.judge_enable(written.enable, after, &read),
        ]
    }

    /// The usage location's step: done when the read-back shows the snapshot's country.
    fn judge_usage_location(
        &self,
        written: Option<Result<Option<String>, String>>,
        after: &AccountState,
        read: &str,
    ) -> RestoreStep {
        match (&self.usage_location, written) {
            (Some(wanted), Some(result)) => {
                let now = after.usage_location.as_deref().unwrap_or("(none)");
                let agrees = now.eq_ignore_ascii_case(wanted);
                judged(
                    SET_USAGE_LOCATION,
                    result,
                    agrees,
                    format!("usage location {wanted} set"),
                    format!("read-back usageLocation={now} {read}"),
                )
            }
            _ => self.usage_location_pending(),
        }
    }

    /// The manager's step: done when the read-back names the snapshot's manager.
    fn judge_manager(
        &self,
        written: Option<Result<Option<String>, String>>,
        manager_after: Option<&str>,
    ) -> RestoreStep {
        match (&self.manager, written) {
            (Some(wanted), Some(result)) => {
                let now = manager_after.unwrap_or("(none)");
                judged(
                    SET_MANAGER,
                    result,
                    now.eq_ignore_ascii_case(wanted),
                    format!("manager {wanted} set"),
                    format!("read-back manager={now}"),
                )
            }
            _ => self.manager_pending(),
        }
    }

    /// The groups' step: done when every group Graph took is listed by the read-back's
    /// memberOf; each refused or unlisted group is named.
    fn judge_groups(
        &self,
        written: Vec<(String, Result<Option<String>, String>)>,
        after: &AccountState,
        read: &str,
    ) -> RestoreStep {
        if self.groups.is_empty() {
            return self.groups_pending();
        }
        let mut ids = Vec::new();
        let mut failures = Vec::new();
        for (group, result) in written {
            let name = self
                .groups
                .iter()
                .find(|g| g.group_id == group)
                .map_or(group.as_str(), |g| g.display_name.as_str());
            let listed = after.groups.iter().any(|g| g.id == group);
            match result {
                Err(reason) => failures.push(format!("{name}: {reason}")),
                Ok(id) if listed => ids.extend(id),
                Ok(id) => {
                    ids.extend(id);
                    failures.push(format!("{name}: Graph accepted the request but the read-back does not list the group; send the restore again"));
                }
            }
        }
        let back = self
            .groups
            .iter()
            .filter(|g| after.groups.iter().any(|now| now.id == g.group_id))
            .count();
        let mut detail = format!(
            "{}; read-back memberOf: {back} of {} back, {} direct group(s) in all {read}",
            self.groups_detail().replacen("add back", "added back", 1),
            self.groups.len(),
            after.groups.len()
        );
        let outcome = if failures.is_empty() {
            StepOutcome::Done
        } else {
            detail.push_str(&format!("; failed: {}", failures.join("; ")));
            StepOutcome::Failed
        };
        ids.dedup();
        let id = (!ids.is_empty()).then(|| ids.join(","));
        step(ADD_GROUPS, outcome, id, detail)
    }

    /// The licenses' step: done when the read-back shows every snapshot license assigned
    /// directly; the missing ones are named.
    fn judge_licenses(
        &self,
        written: Option<Result<Option<String>, String>>,
        after: &AccountState,
        read: &str,
    ) -> RestoreStep {
        let Some(result) = written else {
            return self.licenses_pending();
        };
        let missing: Vec<&str> = self
            .licenses
            .iter()
            .filter(|l| {
                !after
                    .direct_licenses
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&l.sku_id))
            })
            .map(|l| l.sku_id.as_str())
            .collect();
        let observed = format!(
            "read-back assignedLicenses: {} direct, {} from groups {read}",
            after.direct_licenses.len(),
            after.inherited_licenses.len()
        );
        let (outcome, id, detail) = match result {
            Err(reason) => (
                StepOutcome::Failed,
                None,
                format!("Graph refused: {reason}; {observed}"),
            ),
            Ok(id) if missing.is_empty() => (
                StepOutcome::Done,
                id,
                format!(
                    "{}; {observed}",
                    self.licenses_detail().replacen("assign", "assigned", 1)
                ),
            ),
            Ok(id) => (
                StepOutcome::Failed,
                id,
                format!(
                    "Graph accepted the request but the read-back does not show {}; {observed}; send the restore again",
                    missing.join(", ")
                ),
            ),
        };
        step(ASSIGN_LICENSES, outcome, id, detail)
    }

    /// Sign-in's step: done when the read-back shows the account enabled.
    fn judge_enable(
        &self,
        written: Option<Result<Option<String>, String>>,
        after: &AccountState,
        read: &str,
    ) -> RestoreStep {
        let Some(result) = written else {
            return self.enable_pending();
        };
        let observed = format!("read-back accountEnabled={} {read}", after.enabled);
        let (outcome, id, detail) = match result {
            Err(reason) => (
                StepOutcome::Failed,
                None,
                format!("Graph refused: {reason}; {observed}"),
            ),
            Ok(id) if after.enabled => (
                StepOutcome::Done,
                id,
                format!("sign-in re-enabled; {observed}"),
            ),
            Ok(id) => (
                StepOutcome::Failed,
                id,
                format!(
                    "Graph accepted the request but the read-back still shows sign-in blocked; {observed}; send the restore again"
                ),
            ),
        };
        step(ENABLE_SIGN_IN, outcome, id, detail)
    }
}

/// A single write's step: done when Graph took it and the read-back agrees.
fn judged(
    name: &'static str,
    result: Result<Option<String>, String>,
    agrees: bool,
    done: String,
    observed: String,
) -> RestoreStep {
    match result {
        Err(reason) => step(
            name,
            StepOutcome::Failed,
            None,
            format!("Graph refused: {reason}; {observed}"),
        ),
        Ok(id) if agrees => step(name, StepOutcome::Done, id, format!("{done}; {observed}")),
        Ok(id) => step(
            name,
            StepOutcome::Failed,
            id,
            format!(
                "Graph accepted the request but the read-back does not show it; {observed}; send the restore again"
            ),
        ),
    }
}

/// The automatic reply's step: done when Graph took the PATCH and the read-back shows the
/// snapshot's status and audience again (Exchange may reformat the messages' HTML, so their text
/// is sent back as recorded and not compared).
fn judged_reply(
    wanted: &SnapshotAutomaticReply,
    result: ReplyWrite,
    observed: ReplyState,
) -> RestoreStep {
    let (agrees, seen) = match &observed {
        ReplyState::Read {
            setting,
            request_id,
        } => (
            setting.status == wanted.status
                && setting.external_audience == wanted.external_audience,
            format!(
                "read-back automaticRepliesSetting {} (request-id {})",
                setting.summary(),
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
    judged(
        RESTORE_AUTOMATIC_REPLY,
        result.map_err(|(reason, _)| reason),
        agrees,
        format!("automatic reply put back: {}", wanted.summary()),
        seen,
    )
}
