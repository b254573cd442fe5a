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
//!  "policy":"keep_disabled","revoke_sessions":true,"remove_groups":true,"remove_licenses":true,
//!  "start_at":"2025-03-31T17:00:00Z"}
//!
//! {"job_id":"j-5","tenant_id":"…","type":"license_refresh","inactive_after_days":30}
//! ```
//!
//! The mover's `update_account` and `set_sign_in` are in [`super::account_jobs`]; group
//! provisioning (`create_group`, `update_group`, `set_group_members`, `delete_group`) in
//! [`super::group_jobs`].
//!
//! A password never travels in a job: only the id of a short-lived Secrets Manager secret that
//! holds it (see [`crate::vault`]).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{
    AccountId, GroupId, IdError, JobId, SkuId, SkuPartNumber, SyncRunId, TenantId, Upn,
    UsageLocation,
};
use crate::model::account_jobs::{SetSignInJob, UpdateAccountJob};
use crate::model::group_jobs::{
    CreateGroupJob, DeleteGroupJob, SetGroupMembersJob, UpdateGroupJob,
};
use crate::model::limits;

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

/// A lifecycle job as it travels on SQS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// When the job is to start, if it waits for a time (an onboarding's first day, a leave
    /// date): it is parked until then ([`crate::schedule`]).
    pub fn start_at(&self) -> Option<DateTime<Utc>> {
        match &self.kind {
            JobKind::Onboard(job) => job.start_at,
            JobKind::Offboard(job) => job.start_at,
            JobKind::Sync(_)
            | JobKind::UpdateMemberships(_)
            | JobKind::UpdateAccount(_)
            | JobKind::SetSignIn(_)
            | JobKind::LicenseRefresh(_)
            | JobKind::CreateGroup(_)
            | JobKind::UpdateGroup(_)
            | JobKind::SetGroupMembers(_)
            | JobKind::DeleteGroup(_) => None,
        }
    }

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
            JobKind::UpdateAccount(job) => Some(job.account.key()),
            JobKind::SetSignIn(job) => Some(job.account.key()),
            JobKind::Sync(_)
            | JobKind::LicenseRefresh(_)
            | JobKind::CreateGroup(_)
            | JobKind::UpdateGroup(_)
            | JobKind::SetGroupMembers(_)
            | JobKind::DeleteGroup(_) => None,
        }
    }

    /// What the job's FIFO message group orders by: its account, `groups` for every group
    /// provisioning job of the tenant, or `None` for tenant-wide jobs.
    ///
    /// Group jobs share one ordering per tenant because they name the same group in two ways:
    /// a create by its mail nickname (no id exists yet), every later job by object id. Ordered
    /// apart, a `delete_group` of an old "sales" group could run beside a new `create_group`
    /// of "sales", whose redelivery check (find by mail nickname) would take the dying group for
    /// its own. Group provisioning is rare; running a tenant's group jobs one at a time costs
    /// little and leaves no such race.
    pub fn ordering_key(&self) -> Option<String> {
        match &self.kind {
            JobKind::CreateGroup(_)
            | JobKind::UpdateGroup(_)
            | JobKind::SetGroupMembers(_)
            | JobKind::DeleteGroup(_) => Some("groups".to_owned()),
            _ => self.account(),
        }
    }
}

/// What a job does, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    Sync(SyncJob),
    Onboard(OnboardJob),
    UpdateMemberships(UpdateMembershipsJob),
    Offboard(OffboardJob),
    LicenseRefresh(LicenseRefreshJob),
    UpdateAccount(UpdateAccountJob),
    SetSignIn(SetSignInJob),
    CreateGroup(CreateGroupJob),
    UpdateGroup(UpdateGroupJob),
    SetGroupMembers(SetGroupMembersJob),
    DeleteGroup(DeleteGroupJob),
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
            Self::UpdateAccount(_) => "update_account",
            Self::SetSignIn(_) => "set_sign_in",
            Self::CreateGroup(_) => "create_group",
            Self::UpdateGroup(_) => "update_group",
            Self::SetGroupMembers(_) => "set_group_members",
            Self::DeleteGroup(_) => "delete_group",
        }
    }

    /// Whether the job changes the tenant (refused for tenants connected read-only).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Onboard(_)
                | Self::UpdateMemberships(_)
                | Self::Offboard(_)
                | Self::UpdateAccount(_)
                | Self::SetSignIn(_)
                | Self::CreateGroup(_)
                | Self::UpdateGroup(_)
                | Self::SetGroupMembers(_)
                | Self::DeleteGroup(_)
        )
    }
}

/// Where an interrupted sync resumes: the phase and the Graph link (next or delta link) to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncCursor {
    pub phase: String,
    pub link: String,
}

/// Sync one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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

impl JsonSchema for AccountRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountRef".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An account: its object id (a GUID) or its user principal name.",
            "anyOf": [generator.subschema_for::<AccountId>(), generator.subschema_for::<Upn>()]
        })
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

impl JsonSchema for LicenseRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LicenseRef".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A license: its SKU id (a GUID) or its part number such as SPE_E5.",
            "anyOf": [generator.subschema_for::<SkuId>(), generator.subschema_for::<SkuPartNumber>()]
        })
    }
}

/// Where an onboarding's initial password comes from. Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum PasswordSource {
    /// A short-lived Secrets Manager secret holding the password; deleted once the account exists.
    Secret {
        #[schemars(length(min = 1, max = limits::SECRET_ID_MAX))]
        #[serde(deserialize_with = "limits::secret_id")]
        secret_id: String,
    },
    /// Generate one; it is handed back once, by reference, to the caller.
    Generate,
    /// Passwordless joiner: no password is handed out (the account gets a random one nobody
    /// learns); a Temporary Access Pass is created for the account and handed back once,
    /// through the same one-time hand-over as a generated password, and never stored.
    TemporaryAccessPass {
        /// How long the pass is valid once it starts: Graph accepts 10 to 43,200 minutes (30
        /// days); the tenant's policy may narrow that.
        #[schemars(range(min = 10, max = 43200))]
        #[serde(
            default = "limits::default_pass_lifetime",
            deserialize_with = "limits::pass_lifetime"
        )]
        lifetime_minutes: u32,
        /// When the pass becomes usable (default: at once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_at: Option<DateTime<Utc>>,
        /// Usable for one sign-in only (default `true`).
        #[serde(default = "limits::yes")]
        one_time_use: bool,
    },
}

/// Create an account (and its licenses and groups). Texts are checked against Graph's limits and
/// lists capped when parsed (see [`limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardJob {
    #[schemars(length(min = 1, max = limits::GIVEN_NAME_MAX))]
    #[serde(deserialize_with = "limits::given_name")]
    pub given_name: String,
    #[schemars(length(min = 1, max = limits::SURNAME_MAX))]
    #[serde(deserialize_with = "limits::surname")]
    pub surname: String,
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME_MAX))]
    #[serde(deserialize_with = "limits::display_name")]
    pub display_name: String,
    #[schemars(length(min = 1, max = limits::MAIL_NICKNAME_MAX))]
    #[serde(deserialize_with = "limits::mail_nickname")]
    pub mail_nickname: String,
    /// The account's UPN, also its email; its domain must be verified in the tenant.
    pub user_principal_name: Upn,
    pub usage_location: UsageLocation,
    #[schemars(length(max = limits::IMMUTABLE_ID_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::immutable_id"
    )]
    pub immutable_id: Option<String>,
    #[schemars(length(max = limits::JOB_TITLE_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::job_title"
    )]
    pub job_title: Option<String>,
    #[schemars(length(max = limits::DEPARTMENT_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::department"
    )]
    pub department: Option<String>,
    #[schemars(length(max = limits::MAX_GROUPS))]
    #[serde(default, deserialize_with = "limits::groups")]
    pub groups: Vec<GroupId>,
    #[schemars(length(max = limits::MAX_LICENSES))]
    #[serde(default, deserialize_with = "limits::licenses")]
    pub licenses: Vec<LicenseRef>,
    /// Copy the groups and licenses of this (template) account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_from: Option<AccountRef>,
    /// Create the account at this time, not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    pub password: PasswordSource,
}

/// Change an account's groups and licenses (each list capped, see [`limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMembershipsJob {
    pub account: AccountRef,
    #[schemars(length(max = limits::MAX_GROUPS))]
    #[serde(default, deserialize_with = "limits::add_groups")]
    pub add_groups: Vec<GroupId>,
    #[schemars(length(max = limits::MAX_GROUPS))]
    #[serde(default, deserialize_with = "limits::remove_groups")]
    pub remove_groups: Vec<GroupId>,
    #[schemars(length(max = limits::MAX_LICENSES))]
    #[serde(default, deserialize_with = "limits::assign_licenses")]
    pub assign_licenses: Vec<LicenseRef>,
    #[schemars(length(max = limits::MAX_LICENSES))]
    #[serde(default, deserialize_with = "limits::remove_licenses")]
    pub remove_licenses: Vec<LicenseRef>,
    /// The desired set of direct licenses (an empty set removes all); excludes assign/remove.
    #[schemars(length(max = limits::MAX_LICENSES))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::set_licenses"
    )]
    pub set_licenses: Option<Vec<LicenseRef>>,
}

/// What happens to an offboarded account at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    /// The leave date and time (RFC 3339): the job waits until then and can be cancelled before
    /// it (`DELETE /tenants/{tenant_id}/jobs/{job_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    /// Opt-in: remove the account's authentication methods (phone, Microsoft Authenticator,
    /// FIDO2, email, software OATH, Temporary Access Pass; the password stays), so a revoked
    /// session cannot be re-established with a registered device
    /// (UserAuthenticationMethod.ReadWrite.All).
    #[serde(default, skip_serializing_if = "is_false")]
    pub remove_authentication_methods: bool,
    /// Opt-in: remove the account's app role assignments, its access to enterprise applications
    /// (AppRoleAssignment.ReadWrite.All).
    #[serde(default, skip_serializing_if = "is_false")]
    pub remove_app_role_assignments: bool,
    /// Opt-in: remove the delegated permission grants made for the account alone
    /// (oauth2PermissionGrants with its principalId; DelegatedPermissionGrant.ReadWrite.All).
    #[serde(default, skip_serializing_if = "is_false")]
    pub remove_permission_grants: bool,
    /// Opt-in: turn the mailbox's automatic reply on with these messages
    /// (mailboxSettings.automaticRepliesSetting; MailboxSettings.ReadWrite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_reply: Option<AutomaticReply>,
}

impl OffboardJob {
    /// An offboarding of `account` with the defaults: keep disabled; revoke sessions, remove
    /// groups and licenses; no opt-in option, no start time.
    pub fn new(account: AccountRef) -> Self {
        Self {
            account,
            policy: OffboardPolicy::default(),
            revoke_sessions: true,
            remove_groups: true,
            remove_licenses: true,
            start_at: None,
            remove_authentication_methods: false,
            remove_app_role_assignments: false,
            remove_permission_grants: false,
            automatic_reply: None,
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The automatic reply an offboarding sets on the account's mailbox (always on, from the time it
/// runs). Exchange takes the messages as HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomaticReply {
    /// The reply to senders inside the organization (`internalReplyMessage`): 1 to
    /// [`limits::REPLY_MESSAGE_MAX`] characters.
    #[schemars(length(min = 1, max = limits::REPLY_MESSAGE_MAX))]
    #[serde(deserialize_with = "limits::internal_message")]
    pub internal_message: String,
    /// The reply to every sender outside it (`externalReplyMessage`, `externalAudience: all`);
    /// without it, outside senders get no reply (`externalAudience: none`).
    #[schemars(length(min = 1, max = limits::REPLY_MESSAGE_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::external_message"
    )]
    pub external_message: Option<String>,
}

/// Refresh per-SKU totals and last sign-ins, and flag inactive licensed accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseRefreshJob {
    /// A licensed account with no sign-in for this many days is inactive (a seat to reclaim):
    /// 1 to 3650 ([`limits::INACTIVE_AFTER_DAYS`]).
    #[schemars(range(min = 1, max = 3650))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::inactive_after_days"
    )]
    pub inactive_after_days: Option<u32>,
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
}
