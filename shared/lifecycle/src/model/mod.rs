//! The records the platform keeps about each tenant, as stored in DynamoDB and returned by the
//! API. They hold only what the platform needs: no passwords, no tokens, no client secrets.
//!
//! Every record is plain serde; the store adds its keys (and a TTL where the record is
//! short-lived, see [`crate::store::Record`]).

mod account_jobs;
mod admin_links;
mod connect;
mod connection_report;
mod directory;
mod group_jobs;
mod job;
mod job_parser;
mod job_record;
mod job_schema;
pub mod limits;
mod snapshot;
mod sync_run;
pub mod sync_settings;
mod tenant;

pub use account_jobs::{SetSignInJob, SignIn, UpdateAccountJob};
pub use admin_links::AdminLinks;
pub use connect::{ConnectCustomer, ModeParam, OwnAppRequest};
pub use connection_report::{
    ConnectionReport, ConnectionTested, ConsentRequired, Customer, CustomerConnection, Grant,
    OptionCheck, P1Probe, PartnerCustomers, PermissionCheck, TenantConnected, TestProblem,
};
pub use directory::{
    Account, AssignedLicense, Group, GroupKind, LastSignIn, MailboxUsage, Membership, Profile, Sku,
};
pub use group_jobs::{
    CreateGroupJob, DeleteGroupJob, GroupType, SetGroupMembersJob, UpdateGroupJob,
};
pub use job::{
    AccountRef, AutomaticReply, Job, JobKind, LicenseRef, LicenseRefreshJob, OffboardJob,
    OffboardPolicy, OnboardJob, PASSWORD_HANDOVER_TTL, PasswordHandover, PasswordSource,
    SyncCursor, SyncJob, UpdateMembershipsJob,
};
pub use job_parser::JobParseError;
pub use job_record::{
    JOB_RECORD_RETENTION, JobRecord, JobStatus, JobStep, Observation, StepOutcome, Submitter,
};
pub use job_schema::{job_message_schema, job_request_schema};
pub use snapshot::{
    AccountSnapshot, InheritedLicense, SNAPSHOT_RETENTION, SnapshotAutomaticReply, SnapshotGroup,
    SnapshotLicense, ZonedDateTime,
};
pub use sync_run::{GraphCounters, ObjectCounts, SyncCounts, SyncRun, SyncRunStatus};
pub use sync_settings::{
    AccountFilter, SettingsError, SyncKinds, SyncSettings, TenantSyncSettings,
};
pub use tenant::{
    ConnectionGeneration, ConnectionMode, ConnectionStatus, LastSync, OAuthState, SyncOptions,
    TenantAuth, TenantConnection, TenantIndexEntry,
};
