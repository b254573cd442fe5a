//! The DynamoDB store: one table (`pk`, `sk` strings; TTL on `expires_at`), typed records.
//!
//! Keys come only from [`keys`]. Records are any serde type implementing [`Record`]; the store
//! maps them to items and back (see `item.rs`), so handlers never see an `AttributeValue`.
//! One file per concern:
//! - here: the error, the [`Record`] trait, and the plain single-item put, get, delete and take;
//! - `writes.rs`: the conditional writes each owner's rule needs (new only, only while live,
//!   only over the revision read, ...);
//! - `query.rs`: a partition's records or keys as a `Stream` that fetches one page at a time;
//! - `batch.rs`: BatchWriteItem and BatchGetItem, retrying unprocessed items with bounded
//!   exponential backoff;
//! - `lease.rs`: the sync lease, taken and kept with conditional writes;
//! - `tenant_items.rs`, `sign_ins.rs`, `directory.rs` (what the sync mirrors), `sync_rounds.rs`
//!   (where a sync goes on from), `consent_states.rs`: a tenant's items in domain words;
//! - `tenant_removal.rs`: deleting what a tenant owns here.

mod batch;
mod consent_states;
mod directory;
mod item;
pub mod keys;
mod lease;
mod memberships;
mod query;
mod sign_ins;
mod sync_rounds;
mod tenant_items;
mod tenant_removal;
mod writes;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::ids::TenantId;
use crate::model::{
    Account, AccountSnapshot, Group, JobRecord, OAuthState, PasswordHandover, Sku, SyncRun,
    TenantConnection, TenantIndexEntry,
};
use crate::sdk_error::{AwsFailure, BoxError, classify};
pub use directory::{DirectoryChanges, DirectoryItem, DirectoryKind, DirectoryWritten};
use item::{EXPIRES_AT, PK, SK, from_item, to_item};
pub use keys::{Key, PartitionKey};
pub use lease::{Lease, LeaseOutcome};
pub use memberships::{MemberChanges, MembersCursor, MembersPage, MembershipsApplied};
pub use sign_ins::SignInCursor;
pub use tenant_items::{Listing, ReadBackStored, ShardCursor, SkusReplaced};
pub use tenant_removal::Deleted;

/// What went wrong in the store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// DynamoDB refused or could not be reached.
    #[error("DynamoDB {operation} failed ({}): {message}", code.as_deref().unwrap_or("no error code"))]
    Aws {
        operation: &'static str,
        code: Option<String>,
        message: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    /// A record could not be turned into JSON.
    #[error("record does not serialise: {0}")]
    Encode(#[source] serde_json::Error),
    /// A record serialises to something other than a JSON object.
    #[error("{record} does not serialise to an object, so it cannot be an item")]
    NotAnObject { record: &'static str },
    /// A record has a field named like a key or TTL attribute.
    #[error("{record} has a field {name:?}, which is reserved for the table's keys and TTL")]
    ReservedAttribute { record: &'static str, name: String },
    /// A stored item does not read as the expected record.
    #[error("item {pk}/{sk} does not read as {record}: {source}")]
    Decode {
        pk: String,
        sk: String,
        record: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored item's key does not have the shape its kind's keys have (not written by this
    /// store).
    #[error("item {pk}/{sk} has not the key of {expected}")]
    MalformedKey {
        pk: String,
        sk: String,
        expected: &'static str,
    },
    /// A stored item lacks its string `pk` or `sk` (not written by this store).
    #[error("an item of the table has no string pk and sk")]
    MissingKey,
    /// Items DynamoDB left unprocessed after every retry.
    #[error("{count} items still unprocessed after {attempts} BatchWriteItem attempts")]
    Unprocessed { count: usize, attempts: u32 },
    /// Other writers kept changing the same items: the change was placed again this many times
    /// without landing (retryable: a later attempt meets fewer of them).
    #[error("{what} kept changing under {attempts} attempts to write them")]
    Contended { what: String, attempts: u32 },
    /// A write of a tenant's connection found no live connection (removed, being removed, or
    /// never connected): nothing was written, so a removed tenant stays removed.
    #[error(
        "tenant {tenant_id} is not connected here (removed, or never connected): nothing of it was written"
    )]
    TenantGone { tenant_id: TenantId },
    /// A new connection found one there already (live, or still being removed).
    #[error(
        "tenant {tenant_id} has a connection here already (or its removal is still running): nothing was written"
    )]
    TenantExists { tenant_id: TenantId },
    /// The lease is no longer ours: another holder took it after it expired.
    #[error("the sync lease of tenant {tenant_id} is held by {holder:?}, not by {expected:?}")]
    LeaseLost {
        tenant_id: TenantId,
        expected: String,
        holder: Option<String>,
    },
}

impl StoreError {
    fn aws(operation: &'static str, failure: AwsFailure) -> Self {
        Self::Aws {
            operation,
            code: failure.code,
            message: failure.message,
            retryable: failure.retryable,
            source: failure.source,
        }
    }

    /// Whether trying again later may succeed (throttling, a server error, a timeout, items left
    /// unprocessed); a retry cannot fix a malformed record or a lost lease.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws { retryable, .. } => *retryable,
            Self::Unprocessed { .. } => true,
            Self::Contended { .. } => true,
            _ => false,
        }
    }

    fn is_condition_failure(&self) -> bool {
        matches!(self, Self::Aws { code: Some(code), .. } if code == "ConditionalCheckFailedException")
    }
}

/// A record the store keeps. Short-lived records say when they expire; the store writes that as
/// the TTL attribute `expires_at` (epoch seconds) and DynamoDB deletes the item some time after
/// (typically within a few days; readers of such records check expiry themselves).
pub trait Record: Serialize + DeserializeOwned {
    /// When the item may be deleted; `None` keeps it.
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        None
    }
}

impl Record for TenantConnection {}
impl Record for TenantIndexEntry {}
impl Record for Account {}
impl Record for Group {}
impl Record for Sku {}
impl Record for crate::model::TenantSyncSettings {}
impl Record for crate::matching::ConfirmedMatch {}
impl Record for SyncRun {}

impl Record for JobRecord {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        JobRecord::expires_at(self)
    }
}

impl Record for AccountSnapshot {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(AccountSnapshot::expires_at(self))
    }
}

impl Record for PasswordHandover {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.valid_until)
    }
}

impl Record for OAuthState {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.valid_until)
    }
}

/// Outcome of a write that must not overwrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The item was written.
    Created,
    /// An item with this key exists already; nothing was written (the idempotent "seen it").
    AlreadyExists,
}

impl PutOutcome {
    /// [`Self::Created`] when a conditional put wrote, else [`Self::AlreadyExists`].
    fn from_written(written: bool) -> Self {
        if written {
            Self::Created
        } else {
            Self::AlreadyExists
        }
    }
}

/// The DynamoDB adapter; cheap to clone (the client is a handle).
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    /// A store over `table` (the `TABLE_NAME` of the configuration).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The underlying client, for the rare operation this adapter does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }
    /// Writes `record` under `key`, replacing any item there.
    pub async fn put<T: Record>(&self, key: &Key, record: &T) -> Result<(), StoreError> {
        let item = to_item(key, record, record.expires_at())?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| StoreError::aws("PutItem", classify(err)))?;
        Ok(())
    }

    /// Reads the record under `key` (strongly consistent), `None` when there is none.
    pub async fn get<T: Record>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| StoreError::aws("GetItem", classify(err)))?;
        output.item.map(from_item).transpose()
    }

    /// Deletes the item under `key` (nothing happens if there is none).
    pub async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .send()
            .await
            .map_err(|err| StoreError::aws("DeleteItem", classify(err)))?;
        Ok(())
    }

    /// Deletes the item under `key` and returns its record, or `None` when there was none: one
    /// conditional DeleteItem, so of two concurrent callers exactly one gets the record. How a
    /// single-use item (an OAuth state) is consumed.
    pub async fn take<T: Record>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| StoreError::aws("DeleteItem", classify(err)));
        match result {
            Ok(output) => output.attributes.map(from_item).transpose(),
            Err(err) if err.is_condition_failure() => Ok(None),
            Err(err) => Err(err),
        }
    }
}

fn build_failure(err: aws_sdk_dynamodb::error::BuildError) -> AwsFailure {
    AwsFailure {
        code: None,
        message: err.to_string(),
        retryable: false,
        source: Box::new(err),
    }
}

/// The TTL attribute's name, for tests and the template (`expires_at`, epoch seconds).
pub const TTL_ATTRIBUTE: &str = EXPIRES_AT;
