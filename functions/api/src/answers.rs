//! The bodies of the API's successful answers, as types: the handlers serialize them and the
//! OpenAPI document ([`crate::openapi`]) publishes their schemas, so the contract a caller reads
//! is the shape the code sends (schemathesis checks every answer against it in
//! `make contract-test`).

use chrono::{DateTime, Utc};
use lifecycle::model::{
    Account, AdminLinks, Group, JobRecord, JobStatus, LastSync, Sku, StepOutcome, SyncRun,
    SyncRunStatus, SyncSettings, TenantConnection, TenantSyncSettings,
};
use lifecycle::{AccountId, JobId, SyncRunId, TenantId, Upn};
use schemars::JsonSchema;
use serde::Serialize;

/// `GET /tenants`: the caller's organization's connections.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantConnection>,
}

/// `POST /tenants/{tenant_id}/sync`: the run queued, or the pending one this request merged into.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncQueued {
    pub sync_run_id: SyncRunId,
    pub status: SyncRunStatus,
    pub full: bool,
    /// The request joined a run already queued or running instead of queuing another.
    pub merged: bool,
    /// Where the run's progress is listed.
    pub sync_runs: String,
}

/// `GET/PUT /tenants/{tenant_id}/sync-settings`: what the tenant's sync keeps and how often.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncSettingsView {
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub settings: SyncSettings,
    /// When the tenant last changed them (`null`: the defaults, never changed).
    pub updated_at: Option<DateTime<Utc>>,
    /// A change of what is kept waits for a full run (it removes what no longer belongs and
    /// reads again what now does).
    pub full_sync_pending: bool,
    /// The full run queued (or merged into) for this change, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_run_id: Option<SyncRunId>,
    /// When the next scheduled sync is due.
    pub next_sync_due: Option<DateTime<Utc>>,
}

impl SyncSettingsView {
    /// The stored settings of `tenant`, and the run queued for their change.
    pub fn of(
        tenant: &TenantConnection,
        stored: TenantSyncSettings,
        sync_run_id: Option<SyncRunId>,
    ) -> Self {
        Self {
            tenant_id: stored.tenant_id,
            settings: stored.settings,
            updated_at: stored.updated_at,
            full_sync_pending: stored.full_sync_pending,
            sync_run_id,
            next_sync_due: tenant.next_sync_due,
        }
    }
}

/// `GET /tenants/{tenant_id}/sync-runs`: the newest runs first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncRunLog {
    pub tenant_id: TenantId,
    pub last_sync: Option<LastSync>,
    pub next_sync_due: Option<DateTime<Utc>>,
    /// A run is queued or running.
    pub syncing: bool,
    pub sync_runs: Vec<SyncRun>,
}

/// An account as synced, with links to it in the Microsoft Entra and Microsoft 365 admin
/// centers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountView {
    #[serde(flatten)]
    pub account: Account,
    pub links: AdminLinks,
}

impl AccountView {
    /// `account` of `tenant`, with its links.
    pub fn of(tenant: &TenantId, account: Account) -> Self {
        Self {
            links: AdminLinks::account(tenant, &account.id),
            account,
        }
    }
}

/// A group as synced, with links to it in the Microsoft Entra and Microsoft 365 admin centers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: Group,
    pub links: AdminLinks,
}

impl GroupView {
    /// `group` of `tenant`, with its links.
    pub fn of(tenant: &TenantId, group: Group) -> Self {
        Self {
            links: AdminLinks::group(tenant, &group.id),
            group,
        }
    }
}

/// One member of a group: the account as synced (its name and address, `null` when the account
/// itself is not stored, e.g. left out by the sync settings since), with its links.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemberView {
    pub id: AccountId,
    pub upn: Option<Upn>,
    pub display_name: Option<String>,
    pub enabled: Option<bool>,
    pub links: AdminLinks,
}

impl MemberView {
    /// Member `id` of a group of `tenant`, with its stored account when there is one.
    pub fn of(tenant: &TenantId, id: AccountId, account: Option<Account>) -> Self {
        Self {
            links: AdminLinks::account(tenant, &id),
            upn: account.as_ref().map(|a| a.upn.clone()),
            display_name: account.as_ref().map(|a| a.display_name.clone()),
            enabled: account.map(|a| a.enabled),
            id,
        }
    }
}

/// `GET /tenants/{tenant_id}/groups/{group_id}/members`: one page of a group's direct members
/// that are accounts, in a stable order (not alphabetical).
#[derive(Debug, Serialize, JsonSchema)]
pub struct GroupMembersPage {
    pub group: GroupView,
    pub members: Vec<MemberView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `GET /tenants/{tenant_id}/accounts`: one page.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `GET /tenants/{tenant_id}/groups`: one page.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GroupPage {
    pub groups: Vec<GroupView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// One SKU's seats, with those paid for and not assigned.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SkuSeats {
    #[serde(flatten)]
    pub sku: Sku,
    pub unused: u32,
}

/// The tenant's seats summed over its SKUs.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct SeatTotals {
    pub enabled: u64,
    pub consumed: u64,
    pub unused: u64,
    pub suspended: u64,
    pub warning: u64,
}

/// `GET /tenants/{tenant_id}/licenses`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Licenses {
    pub tenant_id: TenantId,
    pub last_sync: Option<LastSync>,
    pub skus: Vec<SkuSeats>,
    pub totals: SeatTotals,
}

/// Where a generated password is picked up (once).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PasswordPickup {
    /// The Secrets Manager secret that holds it until it is picked up.
    pub secret_id: String,
    pub pickup_url: String,
    pub note: &'static str,
}

/// A job accepted (202), found again under its id (200), or queued again (retry, 202).
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobAccepted {
    pub job_id: JobId,
    pub status: JobStatus,
    pub dry_run: bool,
    pub status_url: String,
    /// When a scheduled job will run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<PasswordPickup>,
}

/// One step of a job, as the checks, plan and warnings lists show it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StepSummary {
    pub name: String,
    pub outcome: StepOutcome,
    pub detail: Option<String>,
}

/// `GET /tenants/{tenant_id}/jobs/{job_id}` (and a cancel's answer): the record, with the checks,
/// plan and warnings among its steps listed apart for readers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobView {
    #[serde(flatten)]
    pub record: JobRecord,
    /// Steps named `check:…`: what was verified before any write.
    pub checks: Vec<StepSummary>,
    /// Steps named `plan:…`: what a dry run would do.
    pub plan: Vec<StepSummary>,
    /// Steps named `warning:…`.
    pub warnings: Vec<StepSummary>,
}

impl JobView {
    /// The view of `record`.
    pub fn of(record: JobRecord) -> JobView {
        let listed = |prefix: &str| -> Vec<StepSummary> {
            record
                .steps
                .iter()
                .filter(|step| step.name.starts_with(prefix))
                .map(|step| StepSummary {
                    name: step.name.clone(),
                    outcome: step.outcome,
                    detail: step.detail.clone(),
                })
                .collect()
        };
        let (checks, plan, warnings) = (listed("check:"), listed("plan:"), listed("warning:"));
        JobView {
            record,
            checks,
            plan,
            warnings,
        }
    }
}

/// `GET /tenants/{tenant_id}/jobs/{job_id}/password`: the generated password, handed back once.
#[derive(Serialize, JsonSchema)]
pub struct PasswordHandedBack<'a> {
    pub job_id: &'a JobId,
    pub password: &'a str,
}

/// `POST /tenants/{tenant_id}/licenses/refresh`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RefreshQueued {
    pub job_id: JobId,
    pub status: JobStatus,
    pub status_url: String,
    /// Where the report is read once the refresh ran.
    pub report_url: String,
}
