//! The DynamoDB store: one table (`pk`, `sk` strings; TTL on `expires_at`), typed records.
//!
//! Keys come only from [`keys`]. Records are any serde type implementing [`Record`]; the store
//! maps them to items and back (see `item.rs`), so handlers never see an `AttributeValue`.
//! Queries are `Stream`s that fetch one page at a time; batch writes retry unprocessed items with
//! bounded exponential backoff; the sync lease uses conditional writes.

mod item;
pub mod keys;
mod sign_ins;
mod tenant_items;
mod tenant_removal;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use chrono::{DateTime, Utc};
use futures::Stream;
use graph::RetryPolicy;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::ids::TenantId;
use crate::model::{
    Account, AccountSnapshot, Group, JobRecord, Membership, OAuthState, PasswordHandover, Sku,
    SyncRun, TenantConnection, TenantIndexEntry,
};
use crate::sdk_error::{AwsFailure, BoxError, classify};
use item::{EXPIRES_AT, Item, PK, SK, from_item, key_of, to_item};
pub use keys::{Key, PartitionKey};
pub use sign_ins::SignInCursor;
pub use tenant_items::{Listing, ReadBackStored, ShardCursor, SkusReplaced};
pub use tenant_removal::Deleted;

/// Items per BatchWriteItem request (the DynamoDB limit).
const BATCH_SIZE: usize = 25;
/// Keys per BatchGetItem request (the DynamoDB limit).
const BATCH_GET_SIZE: usize = 100;
/// The retry of a batch request's unprocessed items: 8 attempts per chunk before they are
/// reported as an error, with the project's one backoff ([`RetryPolicy::backoff`]: full jitter,
/// from 0.1 s doubling up to 5 s; at most about 11 s of waits per chunk).
const BATCH_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    deadline: Duration::from_secs(60),
    base_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
};
/// A lease item outlives its expiry by this much before DynamoDB's TTL removes it.
const LEASE_CLEANUP_GRACE: chrono::Duration = chrono::Duration::hours(1);

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
    /// A stored item lacks its string `pk` or `sk` (not written by this store).
    #[error("an item of the table has no string pk and sk")]
    MissingKey,
    /// Items DynamoDB left unprocessed after every retry.
    #[error("{count} items still unprocessed after {attempts} BatchWriteItem attempts")]
    Unprocessed { count: usize, attempts: u32 },
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
impl Record for Membership {}
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

/// A tenant's sync lease, held by one worker until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub tenant_id: TenantId,
    pub holder: String,
    pub until: DateTime<Utc>,
}

/// Outcome of trying to take a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Lease),
    /// Someone else holds it until `until`.
    Held {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// The lease as stored (`T#{tenant}` / `LEASE#sync`).
#[derive(Debug, Serialize, serde::Deserialize)]
struct LeaseItem {
    tenant_id: TenantId,
    holder: String,
    /// Epoch milliseconds; compared in the write condition.
    until_ms: i64,
}

impl Record for LeaseItem {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.until_ms).map(|until| until + LEASE_CLEANUP_GRACE)
    }
}

/// What a BatchGetItem reads of each item.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Projection {
    /// Every attribute.
    Whole,
    /// Only the key.
    Keys,
}

/// The DynamoDB adapter; cheap to clone (the client is a handle).
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// A DynamoDB condition expression with its attribute names and values (`#pk` is filled in by
/// the store whenever the expression names it).
struct Condition {
    expression: String,
    names: Vec<(&'static str, String)>,
    values: Vec<(String, AttributeValue)>,
}

impl Condition {
    fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            names: Vec::new(),
            values: Vec::new(),
        }
    }

    fn name(mut self, placeholder: &'static str, attribute: impl Into<String>) -> Self {
        self.names.push((placeholder, attribute.into()));
        self
    }

    fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.push((placeholder.into(), value));
        self
    }
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

    /// Writes `record` under `key` only if no item has that key yet: how a job id is made an
    /// idempotency key.
    pub async fn put_new<T: Record>(
        &self,
        key: &Key,
        record: &T,
    ) -> Result<PutOutcome, StoreError> {
        let written = self
            .put_when(key, record, Condition::new("attribute_not_exists(#pk)"))
            .await?;
        Ok(PutOutcome::from_written(written))
    }

    /// Writes `record` under `key` only if no item has that key, or the one there has expired
    /// (its TTL `expires_at` is before `now`: DynamoDB deletes expired items only some time
    /// later). How a single claim with a backstop expiry is taken.
    pub async fn put_new_or_expired<T: Record>(
        &self,
        key: &Key,
        record: &T,
        now: DateTime<Utc>,
    ) -> Result<PutOutcome, StoreError> {
        let condition = Condition::new("attribute_not_exists(#pk) OR #expires < :now")
            .name("#expires", EXPIRES_AT)
            .value(":now", AttributeValue::N(now.timestamp().to_string()));
        let written = self.put_when(key, record, condition).await?;
        Ok(PutOutcome::from_written(written))
    }

    /// Deletes the item under `key` only while its string attribute `name` is `value` (a claim
    /// released by its holder only); whether it did.
    pub async fn delete_if(&self, key: &Key, name: &str, value: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .condition_expression("#name = :value")
            .expression_attribute_names("#name", name)
            .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
            .send()
            .await
            .map_err(|err| StoreError::aws("DeleteItem", classify(err)));
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.is_condition_failure() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Writes `record` under `key` unless the stored item's `status` attribute is one of
    /// `ended` (or the item is gone): a write that must not undo an end another writer recorded
    /// in the meantime, nor bring back a deleted record. [`PutOutcome::AlreadyExists`] when
    /// nothing was written.
    pub async fn put_unless_status<T: Record>(
        &self,
        key: &Key,
        record: &T,
        ended: &[&str],
    ) -> Result<PutOutcome, StoreError> {
        let condition = if ended.is_empty() {
            Condition::new("attribute_exists(#pk)")
        } else {
            let placeholders: Vec<String> =
                (0..ended.len()).map(|i| format!(":ended{i}")).collect();
            let mut condition = Condition::new(format!(
                "attribute_exists(#pk) AND NOT (#status IN ({}))",
                placeholders.join(", ")
            ))
            .name("#status", "status");
            for (placeholder, status) in placeholders.into_iter().zip(ended) {
                condition = condition.value(placeholder, AttributeValue::S((*status).to_owned()));
            }
            condition
        };
        let written = self.put_when(key, record, condition).await?;
        Ok(PutOutcome::from_written(written))
    }

    /// Replaces the item under `key` with `record` only while that item exists, its
    /// `status.state` is not `removed` and its `generation` is `generation` (absent for `None`):
    /// how every update of a connection or its index entry is made, so that nothing running
    /// writes a removed tenant back, nor overwrites a newer connection of the same tenant with
    /// what it read of an older one. `false` when there is no such item (nothing was written).
    pub async fn put_if_live<T: Record>(
        &self,
        key: &Key,
        record: &T,
        generation: Option<&str>,
    ) -> Result<bool, StoreError> {
        let live = "attribute_exists(#pk) AND #status.#state <> :removed";
        let condition = match generation {
            Some(generation) => Condition::new(format!("{live} AND #generation = :generation"))
                .value(":generation", AttributeValue::S(generation.to_owned())),
            None => Condition::new(format!("{live} AND attribute_not_exists(#generation)")),
        }
        .name("#status", "status")
        .name("#state", "state")
        .name("#generation", "generation")
        .value(":removed", AttributeValue::S("removed".to_owned()));
        self.put_when(key, record, condition).await
    }

    /// Replaces the item under `key` with `record` only while that item exists; `false` when
    /// there is none (nothing was written).
    pub async fn put_if_exists<T: Record>(
        &self,
        key: &Key,
        record: &T,
    ) -> Result<bool, StoreError> {
        self.put_when(key, record, Condition::new("attribute_exists(#pk)"))
            .await
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

    /// Replaces the item under `key` with `record` only while its top-level attribute `attribute`
    /// holds `value` (one conditional PutItem); `false`, with nothing written, otherwise (or when
    /// there is no item). How a job's state changes hands between a caller and a worker without
    /// either overwriting the other (a cancelled job is never set running, a running one never
    /// cancelled).
    pub async fn put_if<T: Record>(
        &self,
        key: &Key,
        record: &T,
        attribute: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let condition = Condition::new("#a = :v")
            .name("#a", attribute)
            .value(":v", AttributeValue::S(value.to_owned()));
        self.put_when(key, record, condition).await
    }

    /// Like [`Self::put_if`], but writes unless the item's `attribute` holds `value` (and only
    /// over an existing item).
    pub async fn put_unless<T: Record>(
        &self,
        key: &Key,
        record: &T,
        attribute: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let condition = Condition::new("attribute_exists(#pk) AND #a <> :v")
            .name("#a", attribute)
            .value(":v", AttributeValue::S(value.to_owned()));
        self.put_when(key, record, condition).await
    }

    /// Replaces the item under `key` with `record` only while the item's number `attribute` is
    /// `read` (an item without it counts as 0: written before it was kept): an optimistic
    /// revision, so a writer that read an older item never writes over a newer one. `false`
    /// (nothing written) when another writer changed it meanwhile, or it is gone.
    pub async fn put_if_revision<T: Record>(
        &self,
        key: &Key,
        record: &T,
        attribute: &str,
        read: u64,
    ) -> Result<bool, StoreError> {
        let condition = if read == 0 {
            Condition::new("attribute_exists(#pk) AND (attribute_not_exists(#a) OR #a = :v)")
        } else {
            Condition::new("attribute_exists(#pk) AND #a = :v")
        }
        .name("#a", attribute)
        .value(":v", AttributeValue::N(read.to_string()));
        self.put_when(key, record, condition).await
    }

    /// Writes `record` under `key` unless the item there has a number `attribute` of `value` or
    /// more: of several writers, the newest stays. `false` (nothing written) when a newer one is
    /// there.
    pub async fn put_if_newer<T: Record>(
        &self,
        key: &Key,
        record: &T,
        attribute: &str,
        value: i64,
    ) -> Result<bool, StoreError> {
        let condition = Condition::new("attribute_not_exists(#pk) OR #a < :v")
            .name("#a", attribute)
            .value(":v", AttributeValue::N(value.to_string()));
        self.put_when(key, record, condition).await
    }

    /// The one conditional PutItem behind every `put_*` above: writes `record` under `key` when
    /// `condition` holds; `false`, with nothing written, when it does not.
    async fn put_when<T: Record>(
        &self,
        key: &Key,
        record: &T,
        condition: Condition,
    ) -> Result<bool, StoreError> {
        let item = to_item(key, record, record.expires_at())?;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition.expression.as_str());
        if condition.expression.contains("#pk") {
            request = request.expression_attribute_names("#pk", PK);
        }
        for (name, attribute) in condition.names {
            request = request.expression_attribute_names(name, attribute);
        }
        for (placeholder, value) in condition.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request
            .send()
            .await
            .map_err(|err| StoreError::aws("PutItem", classify(err)))
        {
            Ok(_) => Ok(true),
            Err(err) if err.is_condition_failure() => Ok(false),
            Err(err) => Err(err),
        }
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

    /// The records of one partition whose sort key starts with `sk_prefix` (all of them for
    /// `None`), in sort-key order, fetched one page (up to 1 MB) at a time as the stream is read.
    pub fn query<T>(
        &self,
        partition: &PartitionKey,
        sk_prefix: Option<&str>,
    ) -> impl Stream<Item = Result<T, StoreError>> + Send + 'static + use<T>
    where
        T: Record + Send + 'static,
    {
        let range = SortKeys::of_prefix(sk_prefix);
        futures::StreamExt::map(self.query_items(partition, range, false), |item| {
            item.and_then(from_item)
        })
    }

    /// The records of one partition whose sort key comes after `after`, in sort-key order (the
    /// rest of a partition a listing stopped in: DynamoDB reads from there, not from the start).
    pub fn query_after<T>(
        &self,
        partition: &PartitionKey,
        after: &str,
    ) -> impl Stream<Item = Result<T, StoreError>> + Send + 'static + use<T>
    where
        T: Record + Send + 'static,
    {
        let range = SortKeys::After(after.to_owned());
        futures::StreamExt::map(self.query_items(partition, range, false), |item| {
            item.and_then(from_item)
        })
    }

    /// The keys of one partition (only `pk` and `sk` are read), for deleting it.
    pub fn query_keys(
        &self,
        partition: &PartitionKey,
        sk_prefix: Option<&str>,
    ) -> impl Stream<Item = Result<Key, StoreError>> + Send + 'static {
        let range = SortKeys::of_prefix(sk_prefix);
        futures::StreamExt::map(self.query_items(partition, range, true), |item| {
            item.and_then(|item| key_of(&item).ok_or(StoreError::MissingKey))
        })
    }

    fn query_items(
        &self,
        partition: &PartitionKey,
        range: SortKeys,
        keys_only: bool,
    ) -> impl Stream<Item = Result<Item, StoreError>> + Send + 'static + use<> {
        struct Pages {
            client: Client,
            table: String,
            pk: String,
            range: SortKeys,
            keys_only: bool,
            buffer: VecDeque<Item>,
            next: Option<HashMap<String, AttributeValue>>,
            done: bool,
        }
        let pages = Pages {
            client: self.client.clone(),
            table: self.table.clone(),
            pk: partition.as_str().to_owned(),
            range,
            keys_only,
            buffer: VecDeque::new(),
            next: None,
            done: false,
        };
        futures::stream::unfold(pages, |mut pages| async move {
            loop {
                if let Some(item) = pages.buffer.pop_front() {
                    return Some((Ok(item), pages));
                }
                if pages.done {
                    return None;
                }
                let mut request = pages
                    .client
                    .query()
                    .table_name(&pages.table)
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", AttributeValue::S(pages.pk.clone()))
                    .set_exclusive_start_key(pages.next.take());
                request = match &pages.range {
                    SortKeys::All => request.key_condition_expression("#pk = :pk"),
                    SortKeys::Prefix(prefix) => request
                        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                        .expression_attribute_names("#sk", SK)
                        .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone())),
                    SortKeys::After(after) => request
                        .key_condition_expression("#pk = :pk AND #sk > :after")
                        .expression_attribute_names("#sk", SK)
                        .expression_attribute_values(":after", AttributeValue::S(after.clone())),
                };
                if pages.keys_only {
                    request = request
                        .projection_expression("#pk, #sk")
                        .expression_attribute_names("#sk", SK);
                }
                match request.send().await {
                    Ok(output) => {
                        pages.buffer.extend(output.items.unwrap_or_default());
                        pages.next = output.last_evaluated_key.filter(|key| !key.is_empty());
                        pages.done = pages.next.is_none();
                    }
                    Err(err) => {
                        pages.done = true;
                        return Some((Err(StoreError::aws("Query", classify(err))), pages));
                    }
                }
            }
        })
    }

    /// Writes many records, 25 per BatchWriteItem, without collecting the input first. Unprocessed
    /// items are retried with exponential backoff and full jitter, up to 8 attempts per chunk.
    /// Within one chunk a repeated key keeps its last record (DynamoDB refuses duplicates).
    pub async fn batch_put<T, I>(&self, records: I) -> Result<usize, StoreError>
    where
        T: Record,
        I: IntoIterator<Item = (Key, T)>,
    {
        let mut written = 0;
        let mut chunk: Vec<(Key, WriteRequest)> = Vec::with_capacity(BATCH_SIZE);
        for (key, record) in records {
            let item = to_item(&key, &record, record.expires_at())?;
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|err| StoreError::aws("BatchWriteItem", build_failure(err)))?;
            chunk.push((key, WriteRequest::builder().put_request(put).build()));
            if chunk.len() == BATCH_SIZE {
                written += self.write_chunk(std::mem::take(&mut chunk)).await?;
            }
        }
        if !chunk.is_empty() {
            written += self.write_chunk(chunk).await?;
        }
        Ok(written)
    }

    /// Reads the records under `keys` (strongly consistent), 100 keys per BatchGetItem, retrying
    /// unprocessed keys with the backoff of [`Self::batch_put`]. Keys without an item are left
    /// out; the pairs come in no particular order. One request instead of a GetItem per key: how
    /// a sync compares a page of changed objects with what it stored.
    pub async fn batch_get<T: Record>(&self, keys: &[Key]) -> Result<Vec<(Key, T)>, StoreError> {
        let items = self.batch_get_items(keys, Projection::Whole).await?;
        items
            .into_iter()
            .map(|item| {
                let key = key_of(&item).ok_or(StoreError::MissingKey)?;
                Ok((key, from_item(item)?))
            })
            .collect()
    }

    /// Which of `keys` have an item (only the keys are read), 100 per BatchGetItem.
    pub async fn batch_existing(&self, keys: &[Key]) -> Result<Vec<Key>, StoreError> {
        let items = self.batch_get_items(keys, Projection::Keys).await?;
        items
            .iter()
            .map(|item| key_of(item).ok_or(StoreError::MissingKey))
            .collect()
    }

    pub(crate) async fn batch_get_items(
        &self,
        keys: &[Key],
        projection: Projection,
    ) -> Result<Vec<Item>, StoreError> {
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_SIZE) {
            let mut pending: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|key| {
                    HashMap::from([
                        (PK.to_owned(), AttributeValue::S(key.pk().to_owned())),
                        (SK.to_owned(), AttributeValue::S(key.sk().to_owned())),
                    ])
                })
                .collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == BATCH_RETRY.max_attempts {
                    return Err(StoreError::Unprocessed {
                        count: pending.len(),
                        attempts: BATCH_RETRY.max_attempts,
                    });
                }
                if attempt > 0 {
                    tokio::time::sleep(BATCH_RETRY.backoff(attempt)).await;
                }
                attempt += 1;
                let mut request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true);
                match projection {
                    Projection::Whole => {}
                    Projection::Keys => {
                        request = request
                            .projection_expression("#pk, #sk")
                            .expression_attribute_names("#pk", PK)
                            .expression_attribute_names("#sk", SK);
                    }
                }
                let request = request
                    .build()
                    .map_err(|err| StoreError::aws("BatchGetItem", build_failure(err)))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|err| StoreError::aws("BatchGetItem", classify(err)))?;
                found.extend(
                    output
                        .responses
                        .and_then(|mut tables| tables.remove(&self.table))
                        .unwrap_or_default(),
                );
                pending = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                    .map(|left| left.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// Deletes many items, 25 per BatchWriteItem, with the same retry as [`Self::batch_put`].
    pub async fn batch_delete<I>(&self, keys: I) -> Result<usize, StoreError>
    where
        I: IntoIterator<Item = Key>,
    {
        let mut deleted = 0;
        let mut chunk: Vec<(Key, WriteRequest)> = Vec::with_capacity(BATCH_SIZE);
        for key in keys {
            let delete = DeleteRequest::builder()
                .key(PK, AttributeValue::S(key.pk().to_owned()))
                .key(SK, AttributeValue::S(key.sk().to_owned()))
                .build()
                .map_err(|err| StoreError::aws("BatchWriteItem", build_failure(err)))?;
            chunk.push((key, WriteRequest::builder().delete_request(delete).build()));
            if chunk.len() == BATCH_SIZE {
                deleted += self.write_chunk(std::mem::take(&mut chunk)).await?;
            }
        }
        if !chunk.is_empty() {
            deleted += self.write_chunk(chunk).await?;
        }
        Ok(deleted)
    }

    async fn write_chunk(&self, chunk: Vec<(Key, WriteRequest)>) -> Result<usize, StoreError> {
        let mut by_key: HashMap<Key, WriteRequest> = HashMap::with_capacity(chunk.len());
        for (key, request) in chunk {
            by_key.insert(key, request);
        }
        let count = by_key.len();
        let mut pending: Vec<WriteRequest> = by_key.into_values().collect();
        for attempt in 0..BATCH_RETRY.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(BATCH_RETRY.backoff(attempt)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|err| StoreError::aws("BatchWriteItem", classify(err)))?;
            pending = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(count);
            }
            tracing::debug!(
                unprocessed = pending.len(),
                attempt,
                "BatchWriteItem left items unprocessed"
            );
        }
        Err(StoreError::Unprocessed {
            count: pending.len(),
            attempts: BATCH_RETRY.max_attempts,
        })
    }

    /// Deletes everything the tenant owns here but its connection item: every item of
    /// [`keys::all_tenant_partitions`], its parked jobs and its tenant index entry. Returns the
    /// number of items deleted. Safe to repeat. The connection (`META`) is left to its owner: a
    /// removal deletes it last (so an interrupted removal is found again), and while it says
    /// `removed` no new connection can be made over it.
    pub async fn delete_tenant(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        use futures::TryStreamExt;
        let meta = keys::tenant_meta(tenant);
        let mut deleted = 0;
        for partition in keys::all_tenant_partitions(tenant) {
            let mut keys = std::pin::pin!(self.query_keys(&partition, None));
            let mut chunk = Vec::with_capacity(BATCH_SIZE);
            while let Some(key) = keys.try_next().await? {
                if key == meta {
                    continue;
                }
                chunk.push(key);
                if chunk.len() == BATCH_SIZE {
                    deleted += self.batch_delete(std::mem::take(&mut chunk)).await?;
                }
            }
            deleted += self.batch_delete(chunk).await?;
        }
        deleted += self.delete_scheduled_jobs(tenant).await?;
        // Query and BatchWriteItem rather than GetItem and DeleteItem: the workers that sweep a
        // removed tenant hold those two. A tenant id is a GUID, so the prefix is the whole key.
        let index = keys::tenant_index_entry(tenant);
        let found: Vec<Key> = self
            .query_keys(index.partition(), Some(index.sk()))
            .try_filter(|key| futures::future::ready(key == &index))
            .try_collect()
            .await?;
        deleted += self.batch_delete(found).await?;
        Ok(deleted)
    }

    /// Deletes the tenant's parked (scheduled) jobs from the shared `SCHEDULED` partition (a
    /// few items: it is read whole). Returns how many.
    pub async fn delete_scheduled_jobs(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        use futures::TryStreamExt;
        let of_tenant: Vec<Key> = self
            .query_keys(&keys::scheduled_jobs(), None)
            .try_filter(|key| futures::future::ready(keys::is_scheduled_job_of(key, tenant)))
            .try_collect()
            .await?;
        self.batch_delete(of_tenant).await
    }

    /// Takes the tenant's sync lease for `ttl`: succeeds when nobody holds it, when it has
    /// expired, or when `holder` holds it already (then it is extended).
    pub async fn acquire_lease(
        &self,
        tenant: &TenantId,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.acquire_lease_at(tenant, holder, ttl, Utc::now()).await
    }

    /// [`Self::acquire_lease`] at a given time (for callers and tests that hold their own clock).
    pub async fn acquire_lease_at(
        &self,
        tenant: &TenantId,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        self.acquire_lease_taking(tenant, holder, None, ttl, now)
            .await
    }

    /// [`Self::acquire_lease`], also taking the lease over while it is held in the name
    /// `handed_to` (a name its last holder handed it over to, [`Self::hand_over_lease`]): the
    /// lease then becomes `holder`'s.
    pub async fn take_over_lease(
        &self,
        tenant: &TenantId,
        holder: &str,
        handed_to: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.acquire_lease_taking(tenant, holder, Some(handed_to), ttl, Utc::now())
            .await
    }

    async fn acquire_lease_taking(
        &self,
        tenant: &TenantId,
        holder: &str,
        handed_to: Option<&str>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        let key = keys::sync_lease(tenant);
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let lease = LeaseItem {
            tenant_id: tenant.clone(),
            holder: holder.to_owned(),
            until_ms: until.timestamp_millis(),
        };
        let item = to_item(&key, &lease, lease.expires_at())?;
        let mut condition =
            String::from("attribute_not_exists(#pk) OR #until < :now OR #holder = :holder");
        let mut values = std::collections::HashMap::from([
            (
                ":now".to_owned(),
                AttributeValue::N(now.timestamp_millis().to_string()),
            ),
            (":holder".to_owned(), AttributeValue::S(holder.to_owned())),
        ]);
        if let Some(name) = handed_to {
            condition.push_str(" OR #holder = :handed_to");
            values.insert(":handed_to".to_owned(), AttributeValue::S(name.to_owned()));
        }
        // A lease released between our failed write and our read shows as absent: try again,
        // a few times at most.
        for _ in 0..3 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(&condition)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#until", "until_ms")
                .expression_attribute_names("#holder", "holder")
                .set_expression_attribute_values(Some(values.clone()))
                .send()
                .await
                .map_err(|err| StoreError::aws("PutItem", classify(err)));
            match result {
                Ok(_) => {
                    return Ok(LeaseOutcome::Acquired(Lease {
                        tenant_id: tenant.clone(),
                        holder: holder.to_owned(),
                        until: DateTime::from_timestamp_millis(lease.until_ms).unwrap_or(until),
                    }));
                }
                Err(err) if err.is_condition_failure() => {
                    if let Some(current) = self.get::<LeaseItem>(&key).await? {
                        return Ok(LeaseOutcome::Held {
                            holder: current.holder,
                            until: DateTime::from_timestamp_millis(current.until_ms)
                                .unwrap_or(DateTime::<Utc>::MAX_UTC),
                        });
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::LeaseLost {
            tenant_id: tenant.clone(),
            expected: holder.to_owned(),
            holder: None,
        })
    }

    /// Extends a lease we hold to `ttl` from now; [`StoreError::LeaseLost`] when another holder
    /// has taken it meanwhile (the caller must stop writing).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        self.put_held_lease(lease, &lease.holder, ttl).await
    }

    /// Hands a lease we hold over to the name `to`, for `ttl` from now: whoever takes it over in
    /// that name ([`Self::take_over_lease`]) carries on without waiting for it to expire.
    /// [`StoreError::LeaseLost`] when another holder has taken it meanwhile.
    pub async fn hand_over_lease(
        &self,
        lease: &Lease,
        to: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        self.put_held_lease(lease, to, ttl).await
    }

    /// The tenant's lease as stored (perhaps expired), if any.
    pub async fn lease(&self, tenant: &TenantId) -> Result<Option<Lease>, StoreError> {
        Ok(self
            .get::<LeaseItem>(&keys::sync_lease(tenant))
            .await?
            .map(|item| Lease {
                tenant_id: item.tenant_id,
                holder: item.holder,
                until: DateTime::from_timestamp_millis(item.until_ms)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            }))
    }

    /// Writes the lease `lease` holds with `holder` until `ttl` from now, if `lease` still holds it.
    async fn put_held_lease(
        &self,
        lease: &Lease,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let key = keys::sync_lease(&lease.tenant_id);
        let stored = LeaseItem {
            tenant_id: lease.tenant_id.clone(),
            holder: holder.to_owned(),
            until_ms: until.timestamp_millis(),
        };
        let item = to_item(&key, &stored, stored.expires_at())?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", AttributeValue::S(lease.holder.clone()))
            .send()
            .await
            .map_err(|err| StoreError::aws("PutItem", classify(err)));
        match result {
            Ok(_) => Ok(Lease {
                tenant_id: lease.tenant_id.clone(),
                holder: holder.to_owned(),
                until: DateTime::from_timestamp_millis(stored.until_ms).unwrap_or(until),
            }),
            Err(err) if err.is_condition_failure() => {
                let current = self.get::<LeaseItem>(&key).await?;
                Err(StoreError::LeaseLost {
                    tenant_id: lease.tenant_id.clone(),
                    expected: lease.holder.clone(),
                    holder: current.map(|current| current.holder),
                })
            }
            Err(err) => Err(err),
        }
    }

    /// Gives a lease back so the next sync need not wait for it to expire. Releasing a lease that
    /// another holder has taken meanwhile leaves theirs alone and is not an error.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let key = keys::sync_lease(&lease.tenant_id);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", AttributeValue::S(lease.holder.clone()))
            .send()
            .await
            .map_err(|err| StoreError::aws("DeleteItem", classify(err)));
        match result {
            Err(err) if !err.is_condition_failure() => Err(err),
            _ => Ok(()),
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

/// Which sort keys of a partition a query reads.
enum SortKeys {
    All,
    Prefix(String),
    After(String),
}

impl SortKeys {
    fn of_prefix(prefix: Option<&str>) -> SortKeys {
        prefix.map_or(SortKeys::All, |prefix| SortKeys::Prefix(prefix.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_attempts_when_backing_off_then_the_wait_never_exceeds_the_cap() {
        for attempt in 0..40 {
            assert!(BATCH_RETRY.backoff(attempt) <= BATCH_RETRY.max_delay);
        }
    }
}
