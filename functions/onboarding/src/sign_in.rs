//! The `set_sign_in` job: block or allow an account's sign-in without offboarding it (a leave of
//! absence and the return), optionally revoking its sessions. Groups, licenses and the mailbox
//! stay as they are. The account is read back and the synced account updated from Graph's
//! answer.

use chrono::{DateTime, Utc};
use graph::{BatchRequest, TenantGraph, User, UserPatch};
use lifecycle::jobs::JobError;
use lifecycle::model::{Job, JobStatus, SetSignInJob, SignIn, StepOutcome, TenantConnection};
use lifecycle::store::ReadBackStored;
use lifecycle::{JobProgress, Platform};

use crate::account::{UPDATE_SYNCED_ACCOUNT, synced_account};
use crate::rules::{self, Check, PlannedCall};
use crate::steps::{self, Decided, step};

/// Step name of the `accountEnabled` change.
pub const SET_SIGN_IN: &str = "set_sign_in";
/// Step name of the session revocation.
pub const REVOKE_SESSIONS: &str = "revoke_sessions";
/// Step name of the read-back.
pub const READ_BACK: &str = "read_back";

const SIGN_IN_SELECT: &str =
    "id,userPrincipalName,displayName,accountEnabled,usageLocation,signInSessionsValidFromDateTime";

/// What a sign-in job will do, once validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignInDecision {
    pub checks: Vec<Check>,
    pub account_id: String,
    pub account_name: String,
    /// `accountEnabled` to send, when the account's differs.
    pub set_enabled: Option<bool>,
    pub revoke: bool,
}

impl SignInDecision {
    /// The Graph writes, in order.
    pub fn plan(&self) -> Vec<PlannedCall> {
        let mut plan = Vec::new();
        if let Some(enabled) = self.set_enabled {
            plan.push(PlannedCall {
                method: "PATCH",
                path: format!("/users/{}", self.account_id),
                purpose: format!(
                    "{} sign-in (accountEnabled: {enabled})",
                    if enabled { "allow" } else { "block" }
                ),
            });
        }
        if self.revoke {
            plan.push(PlannedCall {
                method: "POST",
                path: format!("/users/{}/revokeSignInSessions", self.account_id),
                purpose: "revoke refresh tokens and session cookies".into(),
            });
        }
        plan
    }
}

/// Validates a sign-in job against the account as read.
pub fn decide(
    job: &SetSignInJob,
    tenant: &TenantConnection,
    account: Option<&User>,
) -> SignInDecision {
    let mut decision = SignInDecision {
        checks: vec![rules::mode_check(tenant)],
        revoke: job.revoke_sessions,
        ..SignInDecision::default()
    };
    let Some(account) = account else {
        decision.checks.push(Check::fail(
            "account",
            format!("account {} does not exist in the tenant", job.account),
        ));
        return decision;
    };
    let name = account
        .user_principal_name
        .clone()
        .unwrap_or_else(|| account.id.clone());
    decision.account_id = account.id.clone();
    decision
        .checks
        .push(Check::pass("account", format!("account {name} exists")));
    decision.account_name = name;
    let wanted = job.sign_in.account_enabled();
    if account.account_enabled != Some(wanted) {
        decision.set_enabled = Some(wanted);
    }
    decision
}

async fn account(graph: &TenantGraph, key: &str) -> Result<Option<User>, JobError> {
    let mut answers = graph
        .look_up(vec![BatchRequest::get_user("account", key, SIGN_IN_SELECT)])
        .await?;
    Ok(answers.optional("account")?)
}

/// Runs a set-sign-in job.
pub async fn run(
    platform: &Platform,
    job: &Job,
    set: &SetSignInJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let graph = platform
        .tenant_graph_until(tenant, progress.deadline())
        .await?;
    let before = account(&graph, &set.account.to_string()).await?;
    let decision = decide(set, tenant, before.as_ref());
    let decided = Decided {
        checks: &decision.checks,
        warnings: &[],
        plan: &decision.plan(),
        summary: steps::validated_summary(decision.checks.len(), &[]),
    };
    if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
        return Ok(status);
    }
    let id = decision.account_id.as_str();
    let started = Utc::now();
    if progress.finished_step(SET_SIGN_IN).is_none() {
        let recorded = match decision.set_enabled {
            None => step(
                SET_SIGN_IN,
                StepOutcome::Skipped,
                None,
                format!("sign-in is {} already", describe(set.sign_in)),
            ),
            Some(enabled) => {
                let patch = UserPatch {
                    account_enabled: Some(enabled),
                    ..UserPatch::default()
                };
                match graph.update_user(id, &patch).await {
                    Ok(receipt) => step(
                        SET_SIGN_IN,
                        StepOutcome::Done,
                        receipt.request_id,
                        format!(
                            "sign-in {} (accountEnabled: {enabled})",
                            describe(set.sign_in)
                        ),
                    ),
                    Err(error) if error.is_retryable() => return Err(error.into()),
                    Err(error) => step(
                        SET_SIGN_IN,
                        StepOutcome::Failed,
                        error.request_id().map(str::to_owned),
                        format!("sign-in not {}: {error}", describe(set.sign_in)),
                    ),
                }
            }
        };
        progress.step(recorded).await?;
    }
    if set.revoke_sessions && progress.finished_step(REVOKE_SESSIONS).is_none() {
        let recorded = match graph.revoke_sign_in_sessions(id).await {
            Ok(receipt) => step(
                REVOKE_SESSIONS,
                StepOutcome::Done,
                receipt.request_id,
                "sessions revoked: refresh tokens and session cookies issued before now are invalid (within minutes)",
            ),
            Err(error) if error.is_retryable() => return Err(error.into()),
            Err(error) => step(
                REVOKE_SESSIONS,
                StepOutcome::Failed,
                error.request_id().map(str::to_owned),
                format!("sessions not revoked: {error}"),
            ),
        };
        progress.step(recorded).await?;
    }
    let after = account(&graph, id).await?;
    read_back(progress, set, after.as_ref(), started).await?;
    if let Some(after) = &after {
        let recorded = match synced_account(platform, tenant, after).await? {
            Some(stored) => {
                let upn = stored.upn.to_string();
                let detail = match platform
                    .store
                    .put_read_back(&tenant.tenant_id, stored)
                    .await?
                {
                    ReadBackStored::Kept(stored) => format!(
                        "synced account updated from Graph's answer: sign-in {}",
                        if stored.enabled { "allowed" } else { "blocked" }
                    ),
                    ReadBackStored::LeftOut { memberships } => {
                        crate::account::left_out(&upn, memberships)
                    }
                };
                step(UPDATE_SYNCED_ACCOUNT, StepOutcome::Done, None, detail)
            }
            None => step(
                UPDATE_SYNCED_ACCOUNT,
                StepOutcome::Skipped,
                None,
                "not synced yet: the next sync records the account",
            ),
        };
        progress.step(recorded).await?;
    }
    Ok(steps::final_status(progress))
}

fn describe(sign_in: SignIn) -> &'static str {
    match sign_in {
        SignIn::Blocked => "blocked",
        SignIn::Allowed => "allowed",
    }
}

/// Judges the job by the account as Graph now answers it: `accountEnabled`, and when sessions
/// were revoked, `signInSessionsValidFromDateTime` not before this delivery started (less a
/// minute for clock skew).
async fn read_back(
    progress: &mut JobProgress,
    set: &SetSignInJob,
    after: Option<&User>,
    started: DateTime<Utc>,
) -> Result<(), JobError> {
    let Some(after) = after else {
        return progress
            .step(step(
                READ_BACK,
                StepOutcome::Failed,
                None,
                "read-back: the account no longer exists",
            ))
            .await;
    };
    let wanted = set.sign_in.account_enabled();
    let mut seen = vec![format!(
        "accountEnabled {}",
        after
            .account_enabled
            .map_or_else(|| "not answered".to_owned(), |e| e.to_string())
    )];
    let mut differs = Vec::new();
    if after.account_enabled != Some(wanted) {
        differs.push(format!("sign-in is not {}", describe(set.sign_in)));
    }
    if set.revoke_sessions {
        let from = after.sign_in_sessions_valid_from_date_time;
        seen.push(format!(
            "sessions valid from {}",
            from.map_or_else(|| "not answered".to_owned(), |at| at.to_rfc3339())
        ));
        let revoked_step = progress
            .finished_step(REVOKE_SESSIONS)
            .and_then(|s| s.at)
            .unwrap_or(started);
        if from.is_none_or(|at| at < revoked_step - chrono::Duration::minutes(1)) {
            differs.push("sessions are not revoked".to_owned());
        }
    }
    let outcome = if differs.is_empty() {
        StepOutcome::Done
    } else {
        StepOutcome::Failed
    };
    let mut detail = format!("read-back: {}", seen.join(", "));
    if !differs.is_empty() {
        detail.push_str(&format!("; not as asked: {}", differs.join(", ")));
    }
    progress.step(step(READ_BACK, outcome, None, detail)).await
}
