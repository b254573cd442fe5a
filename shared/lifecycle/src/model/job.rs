//! Lifecycle jobs: the message on SQS and the record of its progress in DynamoDB.
//!
//! # Job JSON (the SQS message body, also accepted from other services directly)
//!
//! Every job has the envelope fields `job_id` (1-80 of `A-Za-z0-9_-`, the idempotency key and FIFO
//! deduplication id), `tenant_id` (GUID), optional `dry_run` (default `false`: validate and return
//! the plan, write nothing) and `type`; the other fields depend on the type:
//!
//! ```json
//! {"job_id":"j-1","tenant_id":"72f988bf-86f1-41af-91ab-2d7cd011db47","type":"sync",
//!  "sync_run_id":"r-1","full":false,"resume":{"phase":"users","link":"https://graph…"}}
//!
//! {"job_id":"j-2","tenant_id":"…","type":"onboard",
//!  "given_name":"Adele","surname":"Vance","display_name":"Adele Vance","mail_nickname":"adele",
//!  "user_principal_name":"adele@contoso.com","usage_location":"US",
//!  "immutable_id":null,"job_title":"Engineer","department":"R&D",
//!  "groups":["<group id>"],"licenses":["SPE_E5","<sku id>"],"copy_from":"<account id or UPN>",
//!  "start_at":"2025-01-06T08:00:00Z",
//!  "password":{"source":"secret","secret_id":"m365-lifecycle/onboarding/j-2/password"}}
//!    (or "password":{"source":"generate"})
//!
//! {"job_id":"j-3","tenant_id":"…","type":"update_memberships","account":"adele@contoso.com",
//!  "add_groups":[],"remove_groups":[],"assign_licenses":[],"remove_licenses":[],
//!  "set_licenses":null}
//!
//! {"job_id":"j-4","tenant_id":"…","type":"offboard","account":"<account id or UPN>",
//!  "policy":"keep_disabled","revoke_sessions":true,"remove_groups":true,"remove_licenses":true}
//!
//! {"job_id":"j-5","tenant_id":"…","type":"license_refresh","inactive_after_days":30}
//! ```
//!
//! A password never travels in a job: only the id of a short-lived Secrets Manager secret that
//! holds it (see [`crate::vault`]).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{
    AccountId, GroupId, IdError, JobId, SkuId, SkuPartNumber, SyncRunId, TenantId, Upn,
    UsageLocation,
};

/// How long a generated password waits to be handed back before its hand-over expires.
pub const PASSWORD_HANDOVER_TTL: Duration = Duration::hours(24);

/// A generated password waiting to be handed back to the caller (`T#{tenant}#HANDOVER` /
/// `{job id}`): taken once with a conditional delete, so of two concurrent callers exactly one
/// gets the password; refused after `valid_until` (and then removed by DynamoDB's TTL). The
/// password itself is only in its secret, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHandover {
    pub tenant_id: TenantId,
    pub job_id: JobId,
    pub valid_until: DateTime<Utc>,
}

/// How long a finished job's record is kept (TTL) so the API can still show its audit trail.
pub const JOB_RECORD_RETENTION: Duration = Duration::days(30);

/// A lifecycle job as it travels on SQS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    /// Validate and plan only; no write in the tenant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(flatten)]
    pub kind: JobKind,
}

impl Job {
    /// A job of `kind` for `tenant_id` under a fresh id, to run for real (not a dry run).
    pub fn new(tenant_id: TenantId, kind: JobKind) -> Job {
        Job {
            job_id: JobId::new(),
            tenant_id,
            dry_run: false,
            kind,
        }
    }

    /// The job's `type` as it appears in the JSON and in the SQS `job_type` attribute.
    pub fn job_type(&self) -> &'static str {
        self.kind.job_type()
    }

    /// The account a job is about, if any: FIFO jobs for one account are ordered through it.
    pub fn account(&self) -> Option<String> {
        match &self.kind {
            JobKind::Onboard(job) => Some(job.user_principal_name.normalized().to_owned()),
            JobKind::UpdateMemberships(job) => Some(job.account.key()),
            JobKind::Offboard(job) => Some(job.account.key()),
            JobKind::Sync(_) | JobKind::LicenseRefresh(_) => None,
        }
    }
}

/// What a job does, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    Sync(SyncJob),
    Onboard(OnboardJob),
    UpdateMemberships(UpdateMembershipsJob),
    Offboard(OffboardJob),
    LicenseRefresh(LicenseRefreshJob),
}

impl JobKind {
    /// The `type` tag.
    pub fn job_type(&self) -> &'static str {
        match self {
            Self::Sync(_) => "sync",
            Self::Onboard(_) => "onboard",
            Self::UpdateMemberships(_) => "update_memberships",
            Self::Offboard(_) => "offboard",
            Self::LicenseRefresh(_) => "license_refresh",
        }
    }

    /// Whether the job changes the tenant (refused for tenants connected read-only).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Onboard(_) | Self::UpdateMemberships(_) | Self::Offboard(_)
        )
    }
}

/// Where an interrupted sync resumes: the phase and the Graph link (next or delta link) to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    pub phase: String,
    pub link: String,
}

/// Sync one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub sync_run_id: SyncRunId,
    /// Read everything instead of applying delta changes.
    #[serde(default)]
    pub full: bool,
    /// Set on a continuation: where the previous invocation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<SyncCursor>,
}

/// An account named by object id or by user principal name. In JSON, a string: a GUID is an id,
/// anything else must be a UPN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountRef {
    Id(AccountId),
    Upn(Upn),
}

impl AccountRef {
    /// Parses a GUID as an id, anything else as a UPN (whose error is returned).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        match AccountId::parse(input) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => Upn::parse(input).map(Self::Upn),
        }
    }

    /// The normalised form, used as the FIFO message group's account part.
    pub fn key(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::Upn(upn) => upn.normalized().to_owned(),
        }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Upn(upn) => upn.fmt(f),
        }
    }
}

impl Serialize for AccountRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AccountRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A license named by SKU id or part number. In JSON, a string: a GUID is a SKU id, anything else
/// a part number such as `SPE_E5`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LicenseRef {
    Sku(SkuId),
    PartNumber(SkuPartNumber),
}

impl LicenseRef {
    /// Parses a GUID as a SKU id, anything else as a part number (whose error is returned).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        match SkuId::parse(input) {
            Ok(id) => Ok(Self::Sku(id)),
            Err(_) => SkuPartNumber::parse(input).map(Self::PartNumber),
        }
    }
}

impl fmt::Display for LicenseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sku(id) => id.fmt(f),
            Self::PartNumber(part) => part.fmt(f),
        }
    }
}

impl Serialize for LicenseRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LicenseRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Where an onboarding's initial password comes from. Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum PasswordSource {
    /// A short-lived Secrets Manager secret holding the password; deleted once the account exists.
    Secret { secret_id: String },
    /// Generate one; it is handed back once, by reference, to the caller.
    Generate,
}

/// Create an account (and its licenses and groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardJob {
    pub given_name: String,
    pub surname: String,
    pub display_name: String,
    pub mail_nickname: String,
    /// The account's UPN, also its email; its domain must be verified in the tenant.
    pub user_principal_name: Upn,
    pub usage_location: UsageLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default)]
    pub groups: Vec<GroupId>,
    #[serde(default)]
    pub licenses: Vec<LicenseRef>,
    /// Copy the groups and licenses of this (template) account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_from: Option<AccountRef>,
    /// Create the account at this time, not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    pub password: PasswordSource,
}

/// Change an account's groups and licenses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateMembershipsJob {
    pub account: AccountRef,
    #[serde(default)]
    pub add_groups: Vec<GroupId>,
    #[serde(default)]
    pub remove_groups: Vec<GroupId>,
    #[serde(default)]
    pub assign_licenses: Vec<LicenseRef>,
    #[serde(default)]
    pub remove_licenses: Vec<LicenseRef>,
    /// The desired set of direct licenses (an empty set removes all); excludes assign/remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_licenses: Option<Vec<LicenseRef>>,
}

/// What happens to an offboarded account at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OffboardPolicy {
    /// Delete (soft delete: restorable in Entra for 30 days).
    Delete,
    /// Keep it, disabled.
    #[default]
    KeepDisabled,
}

fn yes() -> bool {
    true
}

/// Block an account, revoke its sessions, remove its groups and licenses, then delete or keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardJob {
    pub account: AccountRef,
    #[serde(default)]
    pub policy: OffboardPolicy,
    #[serde(default = "yes")]
    pub revoke_sessions: bool,
    #[serde(default = "yes")]
    pub remove_groups: bool,
    #[serde(default = "yes")]
    pub remove_licenses: bool,
}

/// Refresh per-SKU totals and last sign-ins, and flag inactive licensed accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LicenseRefreshJob {
    /// A licensed account with no sign-in for this many days is inactive (a seat to reclaim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_after_days: Option<u32>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    /// Some steps failed for good; the record lists what did and did not happen.
    CompletedWithErrors,
    Failed,
}

impl JobStatus {
    /// Whether the job has ended (its record then expires after [`JOB_RECORD_RETENTION`]).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::CompletedWithErrors | Self::Failed
        )
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Pending,
    Done,
    /// Nothing to do (already in the wanted state).
    Skipped,
    Failed,
}

/// One step of a job, with the Graph request id of its write (the audit trail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStep {
    /// e.g. `create_account`, `assign_licenses`, `add_groups`.
    pub name: String,
    pub outcome: StepOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_request_id: Option<String>,
    /// What happened, for a person (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// A job's record (`T#{tenant}#JOBS` / `{job id}`), written once when the job is accepted (the
/// conditional write that makes the job id an idempotency key) and updated as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    /// The job's `type`.
    pub job_type: String,
    pub status: JobStatus,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub steps: Vec<JobStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The job as accepted (a password only as its secret's name), so that a job completed with
    /// errors can be retried by its id, and a delivery whose body differs from it is known to be
    /// another job under a reused id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// A keyed digest (HMAC-SHA256, hex) of the body the API accepted, password value included:
    /// a resend of the same job id with another body answers 409 instead of the old job. Keyed,
    /// so the digest reveals nothing of the password to a reader of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_digest: Option<String>,
}

impl JobRecord {
    /// A fresh record for an accepted job.
    pub fn queued(job: &Job, now: DateTime<Utc>) -> Self {
        Self {
            job_id: job.job_id.clone(),
            tenant_id: job.tenant_id.clone(),
            job_type: job.job_type().to_owned(),
            status: JobStatus::Queued,
            dry_run: job.dry_run,
            steps: Vec::new(),
            error: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
            job: Some(job.clone()),
            body_digest: None,
        }
    }

    /// When the record may be removed: [`JOB_RECORD_RETENTION`] after completion; never while the
    /// job is unfinished.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        if self.status.is_finished() {
            Some(self.completed_at.unwrap_or(self.updated_at) + JOB_RECORD_RETENTION)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn given_a_sync_job_when_serialised_then_type_and_fields_are_flat() {
        let job = Job {
            job_id: JobId::parse("j-1").unwrap(),
            tenant_id: TenantId::parse(TENANT).unwrap(),
            dry_run: false,
            kind: JobKind::Sync(SyncJob {
                sync_run_id: SyncRunId::parse("r-1").unwrap(),
                full: true,
                resume: None,
            }),
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"job_id":"j-1","tenant_id":TENANT,"type":"sync","sync_run_id":"r-1","full":true})
        );
        assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
    }

    #[test]
    fn given_an_onboard_job_json_when_parsed_then_refs_and_password_reference_are_typed() {
        let json = serde_json::json!({
            "job_id":"j-2","tenant_id":TENANT,"type":"onboard","dry_run":true,
            "given_name":"Adele","surname":"Vance","display_name":"Adele Vance","mail_nickname":"adele",
            "user_principal_name":"Adele@Contoso.com","usage_location":"us",
            "groups":["0b9f1c2e-0000-4000-8000-000000000001"],
            "licenses":["SPE_E5","c7df2760-2c81-4ef7-b578-5b5392b571df"],
            "copy_from":"template@contoso.com",
            "password":{"source":"secret","secret_id":"m365-lifecycle/onboarding/j-2/password"}
        });
        let job: Job = serde_json::from_value(json).unwrap();
        assert!(job.dry_run);
        assert_eq!(job.job_type(), "onboard");
        assert_eq!(job.account().as_deref(), Some("adele@contoso.com"));
        let JobKind::Onboard(onboard) = job.kind else {
            panic!("onboard expected")
        };
        assert_eq!(onboard.usage_location.as_str(), "US");
        assert!(matches!(onboard.licenses[0], LicenseRef::PartNumber(_)));
        assert!(matches!(onboard.licenses[1], LicenseRef::Sku(_)));
        assert!(matches!(onboard.copy_from, Some(AccountRef::Upn(_))));
        assert_eq!(
            onboard.password,
            PasswordSource::Secret {
                secret_id: "m365-lifecycle/onboarding/j-2/password".into()
            }
        );
    }

    #[test]
    fn given_an_offboard_job_with_defaults_when_parsed_then_everything_is_removed_and_kept_disabled()
     {
        let json = serde_json::json!({"job_id":"j-4","tenant_id":TENANT,"type":"offboard",
            "account":"0B9F1C2E-0000-4000-8000-000000000001"});
        let job: Job = serde_json::from_value(json).unwrap();
        assert_eq!(
            job.account().as_deref(),
            Some("0b9f1c2e-0000-4000-8000-000000000001")
        );
        let JobKind::Offboard(offboard) = job.kind else {
            panic!("offboard expected")
        };
        assert_eq!(offboard.policy, OffboardPolicy::KeepDisabled);
        assert!(offboard.revoke_sessions && offboard.remove_groups && offboard.remove_licenses);
    }

    #[test]
    fn given_bad_job_json_when_parsed_then_the_error_names_the_field_problem() {
        let unknown = serde_json::json!({"job_id":"j","tenant_id":TENANT,"type":"reboot"});
        let err = serde_json::from_value::<Job>(unknown)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `reboot`"), "{err}");
        let bad_account = serde_json::json!({"job_id":"j","tenant_id":TENANT,"type":"offboard",
            "account":"not an account"});
        let err = serde_json::from_value::<Job>(bad_account)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid user principal name"), "{err}");
    }

    #[test]
    fn given_a_finished_job_record_when_asked_then_it_expires_after_retention_and_a_running_one_never()
     {
        let job: Job = serde_json::from_value(serde_json::json!({
            "job_id":"j-5","tenant_id":TENANT,"type":"license_refresh"}))
        .unwrap();
        let now = Utc::now();
        let mut record = JobRecord::queued(&job, now);
        assert_eq!(record.expires_at(), None);
        record.status = JobStatus::Succeeded;
        record.completed_at = Some(now);
        assert_eq!(record.expires_at(), Some(now + JOB_RECORD_RETENTION));
    }
}
