//! The receipt of a job: who asked, when, each step with its Graph request-id and what its
//! read-back observed, and what could not be done and why — built from the job record alone, so
//! the same record always gives the same receipt. Its SHA-256 digest (of the canonical JSON:
//! object keys sorted, no whitespace, UTF-8) is kept with the job record when the job ends, so a
//! copy handed to an auditor can be checked against it later.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::model::{JobKind, JobRecord, JobStatus, StepOutcome, Submitter};

/// What the receipt is, in its own first field.
pub const RECEIPT_KIND: &str = "m365-lifecycle job receipt v1";

/// A job's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Receipt {
    pub receipt: &'static str,
    pub tenant_id: String,
    pub job_id: String,
    pub job_type: String,
    /// The account the job is about (as the job named it), if any.
    pub account: Option<String>,
    /// An offboarding's policy (`delete`, `keep_disabled`).
    pub policy: Option<String>,
    pub dry_run: bool,
    /// Who asked, from the verified token of the API call; `None` for a job put on the queue by
    /// another service directly.
    pub submitted_by: Option<Submitter>,
    pub accepted_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub status: JobStatus,
    pub error: Option<String>,
    /// The account before the first write (the offboarding's snapshot step), if taken.
    pub before: Option<String>,
    pub steps: Vec<ReceiptStep>,
    /// What could not be done, and why.
    pub not_done: Vec<NotDone>,
}

/// One step on the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReceiptStep {
    pub name: String,
    pub outcome: StepOutcome,
    pub at: Option<DateTime<Utc>>,
    pub graph_request_id: Option<String>,
    pub detail: Option<String>,
    /// What the read-back after the step observed (with the read's request-id).
    pub observed: Vec<String>,
}

/// Something the job did not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotDone {
    pub step: String,
    pub reason: String,
}

/// Step details are `; `-separated clauses; these open a clause that says what a step could not
/// do (a group Graph cannot change, a license that only leaves with its group).
const CANNOT: [&str; 2] = ["cannot ", "license "];

impl Receipt {
    /// The receipt of `record`.
    pub fn of(record: &JobRecord) -> Receipt {
        let (account, policy) = match record.job.as_ref().map(|job| &job.kind) {
            Some(JobKind::Offboard(offboard)) => (
                Some(offboard.account.to_string()),
                serde_json::to_value(offboard.policy)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
            ),
            Some(JobKind::UpdateMemberships(update)) => (Some(update.account.to_string()), None),
            Some(JobKind::UpdateAccount(update)) => (Some(update.account.to_string()), None),
            Some(JobKind::SetSignIn(set)) => (Some(set.account.to_string()), None),
            Some(JobKind::Onboard(onboard)) => {
                (Some(onboard.user_principal_name.to_string()), None)
            }
            _ => (None, None),
        };
        let steps: Vec<ReceiptStep> = record
            .steps
            .iter()
            .map(|step| ReceiptStep {
                name: step.name.clone(),
                outcome: step.outcome,
                at: step.at,
                graph_request_id: step.graph_request_id.clone(),
                detail: step.detail.clone(),
                observed: clauses(step.detail.as_deref())
                    .filter(|c| c.starts_with("read-back") || c.contains(" read-back "))
                    .map(str::to_owned)
                    .collect(),
            })
            .collect();
        let mut not_done = Vec::new();
        for step in &record.steps {
            if step.outcome == StepOutcome::Failed {
                not_done.push(NotDone {
                    step: step.name.clone(),
                    reason: step.detail.clone().unwrap_or_else(|| "failed".to_owned()),
                });
                continue;
            }
            for clause in clauses(step.detail.as_deref()) {
                let cannot = clause.contains("cannot ")
                    && CANNOT.iter().any(|start| clause.starts_with(start));
                if cannot {
                    not_done.push(NotDone {
                        step: step.name.clone(),
                        reason: clause.to_owned(),
                    });
                }
            }
        }
        if let Some(error) = &record.error
            && record.status == JobStatus::Failed
        {
            not_done.push(NotDone {
                step: "job".to_owned(),
                reason: error.clone(),
            });
        }
        Receipt {
            receipt: RECEIPT_KIND,
            tenant_id: record.tenant_id.to_string(),
            job_id: record.job_id.to_string(),
            job_type: record.job_type.clone(),
            account,
            policy,
            dry_run: record.dry_run,
            submitted_by: record.submitted_by.clone(),
            accepted_at: record.created_at,
            completed_at: record.completed_at,
            status: record.status,
            error: record.error.clone(),
            before: record
                .steps
                .iter()
                .find(|s| s.name == "snapshot")
                .and_then(|s| s.detail.clone()),
            steps,
            not_done,
        }
    }

    /// The canonical JSON of the receipt ([`canonical_json`]).
    pub fn canonical_json(&self) -> String {
        canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// SHA-256 of [`canonical_json`](Self::canonical_json), lower-case hex.
    pub fn digest(&self) -> String {
        sha256_hex(&self.canonical_json())
    }
}

/// `value` as canonical JSON: object keys in byte order, no whitespace, UTF-8 (serde_json's
/// string escaping and number format). A reader re-encodes a copy of a receipt with this to check
/// its digest.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    canonical(value, &mut out);
    out
}

/// SHA-256 of `text`'s UTF-8 bytes, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in hash {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn clauses(detail: Option<&str>) -> impl Iterator<Item = &str> {
    detail.unwrap_or_default().split("; ").map(str::trim)
}

/// Writes `value` with object keys in byte order and no whitespace (serde_json's escaping of
/// strings and its number format).
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Job, JobStep};

    fn record() -> JobRecord {
        let job: Job = serde_json::from_value(serde_json::json!({
            "job_id": "j-1", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "type": "offboard", "account": "adele@contoso.com", "policy": "delete"
        }))
        .unwrap();
        let mut record = JobRecord::queued(&job, Utc::now());
        record.steps.push(JobStep {
            name: "remove_groups".into(),
            outcome: StepOutcome::Done,
            graph_request_id: Some("r-1".into()),
            detail: Some("removed from 1 group(s): Sales; cannot remove from Dyn: dynamic membership; read-back memberOf: 1 direct group(s) left: Dyn (request-id r-2)".into()),
            at: None,
        });
        record.status = JobStatus::Succeeded;
        record
    }

    #[test]
    fn given_a_record_when_its_receipt_is_made_then_read_backs_and_what_was_not_done_are_listed() {
        let receipt = Receipt::of(&record());
        assert_eq!(receipt.policy.as_deref(), Some("delete"));
        assert_eq!(receipt.steps[0].observed.len(), 1);
        assert!(receipt.steps[0].observed[0].starts_with("read-back memberOf"));
        assert_eq!(receipt.not_done.len(), 1);
        assert_eq!(
            receipt.not_done[0].reason,
            "cannot remove from Dyn: dynamic membership"
        );
    }

    #[test]
    fn given_the_same_record_when_digested_twice_then_the_digest_is_the_same_and_a_change_shows() {
        let record = record();
        let digest = Receipt::of(&record).digest();
        assert_eq!(digest.len(), 64);
        assert_eq!(Receipt::of(&record).digest(), digest);
        let mut changed = record.clone();
        changed.steps[0].graph_request_id = Some("r-9".into());
        assert_ne!(Receipt::of(&changed).digest(), digest);
    }

    #[test]
    fn given_nested_objects_when_made_canonical_then_keys_are_sorted_without_whitespace() {
        let mut out = String::new();
        canonical(
            &serde_json::json!({"b": [1, {"d": "x", "c": null}], "a": true}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":true,"b":[1,{"c":null,"d":"x"}]}"#);
    }
}
