//! The m365-lifecycle domain: typed identifiers and records, configuration, tracing set-up, and the
//! adapters over DynamoDB (store), SQS (queue) and Secrets Manager (vault); and the rules more than
//! one function needs ([`offboarding`]: an account as offboarding reads it, a leave's checks and
//! the one-call restore, shared by the offboarding function and the API).

pub mod aws;
pub mod config;
mod countries;
pub mod events;
pub mod function;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod license_report;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod offboarding;
pub mod password;
pub mod platform;
pub mod queue;
pub mod receipt;
pub mod schedule;
mod sdk_error;
pub mod store;
pub mod sync_runs;
pub mod telemetry;
pub mod vault;

pub use aws::{AwsClients, load_sdk_config};
pub use config::{Config, ConfigError, PlatformReadApp};
pub use function::{Function, HandlerError, Invocation, Trigger};
pub use ids::{
    AccountId, DomainName, GroupId, IdError, JobId, OrgId, PersonId, SkuId, SkuPartNumber,
    SyncRunId, TenantId, Upn, UsageLocation,
};
pub use jobs::{
    JOB_START_RESERVE, JobError, JobHandler, JobProgress, MAX_DELIVERIES, RETRY_NOTE, run_sqs_jobs,
    run_sqs_jobs_within,
};
pub use platform::{AccessError, Platform, PlatformError};
pub use queue::{Queue, QueueError, ReceivedMessage};
pub use store::{Key, Lease, LeaseOutcome, PartitionKey, PutOutcome, Record, Store, StoreError};
pub use vault::{AppCredential, SecretWrite, Vault, VaultError};
