//! The receipt of a job: who asked, when, each step with its Graph request-id and what its
//! read-back observed, and what could not be done and why — built from the job record alone, so
//! the same record always gives the same receipt. Its SHA-256 digest (of the canonical JSON:
//! object keys sorted, no whitespace, UTF-8) is kept with the job record when the job ends, so a
//! copy handed to an auditor can be checked against it later.
//!
//! The receipt reads the steps' structured read-backs ([`JobStep::observed`]) and what they could
//! not do ([`JobStep::not_done`]). A record that ended before those fields existed keeps the
//! receipt it was issued with (v1, read from the steps' detail text), so its kept digest still
//! matches: [`Receipt::issued`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::model::{JobKind, JobRecord, JobStatus, JobStep, Observation, StepOutcome, Submitter};

/// What the receipt is, in its own first field.
pub const RECEIPT_KIND: &str = "m365-lifecycle job receipt v2";
/// The kind of a receipt issued before read-backs were structured (their text in `observed`).
pub const RECEIPT_KIND_V1: &str = "m365-lifecycle job receipt v1";

/// A job's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Receipt {
    /// [`RECEIPT_KIND`] (or [`RECEIPT_KIND_V1`] for a record ended before v2).
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReceiptStep {
    pub name: String,
    pub outcome: StepOutcome,
    pub at: Option<DateTime<Utc>>,
    pub graph_request_id: Option<String>,
    pub detail: Option<String>,
    /// What the read-back after the step observed in Graph (each with the read's request-id).
    pub observed: Vec<Observed>,
}

/// One read-back value on the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Observed {
    /// The property read, Graph's value and the read's request-id (v2).
    Read(Observation),
    /// A read-back clause of the step's detail text (v1 receipts only).
    Text(String),
}

/// Something the job did not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NotDone {
    pub step: String,
    pub reason: String,
}

/// Step details are `; `-separated clauses; these open a clause that says what a step could not
/// do (a group Graph cannot change, a license that only leaves with its group). v1 only.
const CANNOT: [&str; 2] = ["cannot ", "license "];

impl Receipt {
    /// The receipt of `record`, from its steps' structured read-backs.
    pub fn of(record: &JobRecord) -> Receipt {
        let steps = record
            .steps
            .iter()
            .map(|step| {
                receipt_step(
                    step,
                    step.observed.iter().cloned().map(Observed::Read).collect(),
                )
            })
            .collect();
        let mut not_done = Vec::new();
        for step in &record.steps {
            if step.outcome == StepOutcome::Failed {
                not_done.push(failed(step));
            }
            not_done.extend(step.not_done.iter().map(|reason| NotDone {
                step: step.name.clone(),
                reason: reason.clone(),
            }));
        }
        Self::from_parts(record, RECEIPT_KIND, steps, not_done)
    }

    /// The receipt `record` was issued with: [`of`](Self::of), except for a record that ended
    /// before read-backs were structured and whose kept digest is that of its v1 receipt (read
    /// from the detail text), which keeps that receipt so a copy handed out then still checks.
    pub fn issued(record: &JobRecord) -> Receipt {
        let current = Self::of(record);
        let Some(kept) = record.receipt_digest.as_deref() else {
            return current;
        };
        if current.digest() == kept {
            return current;
        }
        let v1 = Self::v1(record);
        if v1.digest() == kept { v1 } else { current }
    }

    /// The v1 receipt of `record`: read-backs and what was not done read from the steps' detail
    /// text.
    pub fn v1(record: &JobRecord) -> Receipt {
        let steps = record
            .steps
            .iter()
            .map(|step| {
                let observed = clauses(step.detail.as_deref())
                    .filter(|c| c.starts_with("read-back") || c.contains(" read-back "))
                    .map(|c| Observed::Text(c.to_owned()))
                    .collect();
                receipt_step(step, observed)
            })
            .collect();
        let mut not_done = Vec::new();
        for step in &record.steps {
            if step.outcome == StepOutcome::Failed {
                not_done.push(failed(step));
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
        Self::from_parts(record, RECEIPT_KIND_V1, steps, not_done)
    }

    fn from_parts(
        record: &JobRecord,
        kind: &'static str,
        steps: Vec<ReceiptStep>,
        mut not_done: Vec<NotDone>,
    ) -> Receipt {
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
        if let Some(error) = &record.error
            && record.status == JobStatus::Failed
        {
            not_done.push(NotDone {
                step: "job".to_owned(),
                reason: error.clone(),
            });
        }
        Receipt {
            receipt: kind,
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

fn receipt_step(step: &JobStep, observed: Vec<Observed>) -> ReceiptStep {
    ReceiptStep {
        name: step.name.clone(),
        outcome: step.outcome,
        at: step.at,
        graph_request_id: step.graph_request_id.clone(),
        detail: step.detail.clone(),
        observed,
    }
}

/// A failed step on the "not done" list, its detail as the reason.
fn failed(step: &JobStep) -> NotDone {
    NotDone {
        step: step.name.clone(),
        reason: step.detail.clone().unwrap_or_else(|| "failed".to_owned()),
    }
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
    use crate::model::Job;

    const DETAIL: &str = "removed from 1 group(s): Sales; cannot remove from Dyn: dynamic membership; read-back memberOf: 1 direct group(s) left: Dyn (request-id r-2)";

    fn record() -> JobRecord {
        let job: Job = serde_json::from_value(serde_json::json!({
            "job_id": "j-1", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "type": "offboard", "account": "adele@contoso.com", "policy": "delete"
        }))
        .unwrap();
        let mut record = JobRecord::queued(&job, Utc::now());
        let mut step = JobStep::new("remove_groups", StepOutcome::Done, DETAIL);
        step.graph_request_id = Some("r-1".into());
        step.observed = vec![Observation::new(
            "memberOf",
            serde_json::json!(["Dyn"]),
            Some("r-2"),
        )];
        step.not_done = vec!["cannot remove from Dyn: dynamic membership".into()];
        record.steps.push(step);
        record.status = JobStatus::Succeeded;
        record
    }

    /// A record as a worker wrote it before read-backs were structured: the detail text only,
    /// with its v1 receipt's digest kept.
    fn v1_record() -> JobRecord {
        let mut record = record();
        record.steps[0].observed.clear();
        record.steps[0].not_done.clear();
        record.receipt_digest = Some(Receipt::v1(&record).digest());
        record
    }

    #[test]
    fn given_a_record_when_its_receipt_is_made_then_its_structured_read_backs_and_what_was_not_done_are_listed()
     {
        let receipt = Receipt::of(&record());
        assert_eq!(receipt.receipt, RECEIPT_KIND);
        assert_eq!(receipt.policy.as_deref(), Some("delete"));
        assert_eq!(
            receipt.steps[0].observed,
            vec![Observed::Read(Observation::new(
                "memberOf",
                serde_json::json!(["Dyn"]),
                Some("r-2")
            ))]
        );
        let json = serde_json::to_value(&receipt).unwrap();
        assert_eq!(
            json["steps"][0]["observed"][0],
            serde_json::json!({"property": "memberOf", "value": ["Dyn"], "graph_request_id": "r-2"})
        );
        assert_eq!(receipt.not_done.len(), 1);
        assert_eq!(
            receipt.not_done[0].reason,
            "cannot remove from Dyn: dynamic membership"
        );
    }

    #[test]
    fn given_a_record_ended_before_read_backs_were_structured_when_read_then_it_keeps_its_v1_receipt_and_digest()
     {
        // GIVEN a stored record of the old shape (no `observed`, no `not_done`) and its v1 digest
        let stored = serde_json::to_value(v1_record()).unwrap();
        assert!(stored["steps"][0].get("observed").is_none());
        let record: JobRecord = serde_json::from_value(stored).unwrap();

        // WHEN its receipt is issued
        let receipt = Receipt::issued(&record);

        // THEN it is the v1 receipt, read from the detail text, and its digest matches the kept one
        assert_eq!(receipt.receipt, RECEIPT_KIND_V1);
        assert_eq!(
            receipt.steps[0].observed,
            vec![Observed::Text(
                "read-back memberOf: 1 direct group(s) left: Dyn (request-id r-2)".into()
            )]
        );
        assert_eq!(receipt.not_done.len(), 1);
        assert_eq!(Some(receipt.digest()), record.receipt_digest);
        // AND a v2 record keeps its v2 receipt
        let mut current = self::record();
        current.receipt_digest = Some(Receipt::of(&current).digest());
        assert_eq!(Receipt::issued(&current).receipt, RECEIPT_KIND);
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
        let mut read_otherwise = record.clone();
        read_otherwise.steps[0].observed[0].value = serde_json::json!([]);
        assert_ne!(Receipt::of(&read_otherwise).digest(), digest);
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
