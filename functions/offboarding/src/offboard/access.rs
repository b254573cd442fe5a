//! The access gate of an offboarding: sign-in blocked and sessions revoked in one `$batch`
//! round trip before anything else, each step done only when the read-back shows it.

use std::collections::HashMap;

use graph::{BatchOutcome, BatchRequest, UserPatch};
use lifecycle::JobError;
use lifecycle::model::{Observation, StepOutcome};

use super::{ReadBack, Run, step_failure};
use crate::account::{AccountState, Found};
use crate::plan::{self, Action, PlannedStep};

/// How far `signInSessionsValidFromDateTime` may lag our clock and still count as "revoked by this
/// job": Graph's clock and the Lambda's may differ by a few seconds.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The access gate's `$batch` answers by step name: taken (with Graph's request-id), refused
/// for good (the reason and request-id), and the first transient failure, if any.
#[derive(Default)]
struct AccessAnswers {
    written: HashMap<String, Option<String>>,
    refused: HashMap<String, (String, Option<String>)>,
    retry: Option<JobError>,
}

impl AccessAnswers {
    fn sort(outcomes: Vec<BatchOutcome>) -> Self {
        let mut answers = Self::default();
        for BatchOutcome { id: name, result } in outcomes {
            match result {
                Ok(response) => {
                    answers.written.insert(name, response.request_id);
                }
                Err(error) => match step_failure(error) {
                    Ok((reason, request_id)) => {
                        answers.refused.insert(name, (reason, request_id));
                    }
                    Err(error) => {
                        answers.retry.get_or_insert(error);
                    }
                },
            }
        }
        answers
    }
}

impl Run<'_, '_> {
    /// The access gate: blocks sign-in and revokes sessions in one `$batch` round trip, before
    /// anything else, then reads the account back. Each is done only when the read-back agrees
    /// (`accountEnabled` false; `signInSessionsValidFromDateTime` moved to now). When Graph
    /// refuses either for good, the job fails here: nothing else is written, and the reason says
    /// the account may still have access.
    pub(super) async fn cut_access(&mut self, planned: &[PlannedStep]) -> Result<(), JobError> {
        let (requests, sent) = self.access_requests(planned).await?;
        if requests.is_empty() {
            return Ok(());
        }
        let sent_at = chrono::Utc::now();
        let mut answers = AccessAnswers::sort(self.graph.batch(requests).await?);
        // Whatever Graph answered, the read-back says where the account stands.
        let read = self.read_back().await?;
        let Found::Active(after) = &read.found else {
            return Err(JobError::permanent(format!(
                "access not cut: account {} left the tenant's active accounts while it was being blocked; check deleted items, nothing else was done",
                self.before.upn
            )));
        };
        let after = after.clone();
        let mut disagreements = Vec::new();
        for planned_step in sent {
            let disagreement = self
                .record_access_step(planned_step, &mut answers, &after, &read, sent_at)
                .await?;
            disagreements.extend(disagreement);
        }
        let failed = self.access_refusals(&disagreements);
        if !failed.is_empty() {
            return Err(JobError::permanent(format!(
                "access not cut, the account {} may still have access: {}; nothing else was done (no group, license or delete step ran)",
                self.before.upn,
                failed.join("; ")
            )));
        }
        if let Some(error) = answers.retry {
            return Err(error);
        }
        if !disagreements.is_empty() {
            return Err(JobError::transient(format!(
                "access not confirmed yet: {}",
                disagreements.join("; ")
            )));
        }
        Ok(())
    }

    /// The access gate's requests (block sign-in, revoke sessions) for its steps not finished
    /// yet, and the steps they are for; a step the plan skips is recorded skipped.
    async fn access_requests<'s>(
        &mut self,
        planned: &'s [PlannedStep],
    ) -> Result<(Vec<BatchRequest>, Vec<&'s PlannedStep>), JobError> {
        let id = self.before.id.clone();
        let mut requests = Vec::with_capacity(2);
        let mut sent: Vec<&PlannedStep> = Vec::with_capacity(2);
        for planned_step in &planned[..2] {
            if self.progress.finished_step(planned_step.name).is_some() {
                continue;
            }
            match planned_step.action {
                Action::BlockSignIn => {
                    requests.push(BatchRequest::update_user(
                        planned_step.name,
                        &id,
                        &UserPatch::block_sign_in(),
                    ));
                    sent.push(planned_step);
                }
                Action::RevokeSessions => {
                    requests.push(BatchRequest::revoke_sign_in_sessions(
                        planned_step.name,
                        &id,
                    ));
                    sent.push(planned_step);
                }
                _ => {
                    self.record_as_planned(planned_step, StepOutcome::Skipped)
                        .await?
                }
            }
        }
        Ok((requests, sent))
    }

    /// Records one access step as the read-back shows it: failed when Graph refused it, done
    /// when Graph took it and the read-back agrees. A step Graph took that the read-back does
    /// not show yet is recorded failed and answered as a disagreement (the next delivery tries
    /// again).
    async fn record_access_step(
        &mut self,
        planned_step: &PlannedStep,
        answers: &mut AccessAnswers,
        after: &AccountState,
        read: &ReadBack,
        sent_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<String>, JobError> {
        let name = planned_step.name;
        let (agrees, observed, seen) = self.access_seen(name, after, read, sent_at);
        let observed = format!("{observed} (request-id {})", read.request_id());
        let seen = vec![seen];
        if let Some((reason, request_id)) = answers.refused.remove(name) {
            let detail = format!("Graph refused: {}; {observed}", self.hint(name, reason));
            self.record_planned(planned_step, StepOutcome::Failed, request_id, detail, seen)
                .await?;
            return Ok(None);
        }
        let Some(request_id) = answers.written.remove(name) else {
            return Ok(None);
        };
        if agrees {
            let done = if name == plan::BLOCK_SIGN_IN {
                "sign-in blocked (accountEnabled=false)"
            } else {
                "sign-in sessions revoked (refresh tokens and session cookies invalidated)"
            };
            self.record_planned(
                planned_step,
                StepOutcome::Done,
                request_id,
                format!("{done}; {observed}"),
                seen,
            )
            .await?;
            return Ok(None);
        }
        let detail = format!(
            "Graph accepted the request but the read-back does not show it yet; {observed}; the next delivery tries again"
        );
        self.record_planned(
            planned_step,
            StepOutcome::Failed,
            request_id,
            detail.clone(),
            seen,
        )
        .await?;
        Ok(Some(format!("{name}: {detail}")))
    }

    /// What the read-back shows of access step `name`: whether it agrees, the text for the
    /// step's detail, and the observation kept with it.
    fn access_seen(
        &self,
        name: &str,
        after: &AccountState,
        read: &ReadBack,
        sent_at: chrono::DateTime<chrono::Utc>,
    ) -> (bool, String, Observation) {
        let read_id = read.request_id.as_deref();
        if name == plan::BLOCK_SIGN_IN {
            return (
                !after.enabled,
                format!("read-back accountEnabled={}", after.enabled),
                Observation::new("accountEnabled", after.enabled, read_id),
            );
        }
        let valid_from = after.sessions_valid_from.map(|at| at.to_rfc3339());
        (
            revoked(self.before, after, sent_at),
            format!(
                "read-back signInSessionsValidFromDateTime={}",
                valid_from.as_deref().unwrap_or("(none)")
            ),
            Observation::new("signInSessionsValidFromDateTime", valid_from, read_id),
        )
    }

    /// The access steps recorded failed for good (Graph refused them), each with its detail;
    /// `disagreements` (taken but not shown yet) are not among them.
    fn access_refusals(&self, disagreements: &[String]) -> Vec<String> {
        self.progress
            .record()
            .steps
            .iter()
            .filter(|s| {
                (s.name == plan::BLOCK_SIGN_IN || s.name == plan::REVOKE_SESSIONS)
                    && s.outcome == StepOutcome::Failed
                    && !disagreements.iter().any(|d| d.starts_with(&s.name))
            })
            .map(|s| format!("{}: {}", s.name, s.detail.clone().unwrap_or_default()))
            .collect()
    }

    fn hint(&self, name: &str, reason: String) -> String {
        if name == plan::BLOCK_SIGN_IN && self.before.on_premises_synced {
            format!(
                "{reason}; the account is synced from on-premises Active Directory: disable it there"
            )
        } else {
            reason
        }
    }
}

/// Whether the read-back shows sessions revoked by this delivery: `signInSessionsValidFromDateTime`
/// moved past where it was, or is no older than when the revoke was sent (less clock skew).
fn revoked(
    before: &AccountState,
    after: &AccountState,
    sent_at: chrono::DateTime<chrono::Utc>,
) -> bool {
    match (before.sessions_valid_from, after.sessions_valid_from) {
        (_, None) => false,
        (Some(was), Some(now)) if now > was => true,
        (_, Some(now)) => now >= sent_at - CLOCK_SKEW,
    }
}
