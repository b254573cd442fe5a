//! The conditional single-item writes: each is one PutItem (or DeleteItem) whose condition
//! carries an owner's rule (new only, not over an ended record, only while the tenant is live,
//! only over the revision read), so two writers never silently overwrite each other.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::item::{EXPIRES_AT, Item, PK, SK, to_item};
use super::{Key, PutOutcome, Record, Store, StoreError};
use crate::sdk_error::classify;

/// A DynamoDB condition expression with its attribute names and values (`#pk` is filled in by
/// the store whenever the expression names it).
pub(super) struct Condition {
    expression: String,
    names: Vec<(&'static str, String)>,
    values: Vec<(String, AttributeValue)>,
}

impl Condition {
    pub(super) fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            names: Vec::new(),
            values: Vec::new(),
        }
    }

    pub(super) fn name(mut self, placeholder: &'static str, attribute: impl Into<String>) -> Self {
        self.names.push((placeholder, attribute.into()));
        self
    }

    pub(super) fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.push((placeholder.into(), value));
        self
    }

    /// The expression, its attribute names (with `#pk` when it names it) and its values, as a
    /// request (a `PutItem`, or a `Put` of a transaction) takes them.
    pub(super) fn into_parts(
        self,
    ) -> (
        String,
        HashMap<String, String>,
        Option<HashMap<String, AttributeValue>>,
    ) {
        let mut names: HashMap<String, String> = self
            .names
            .into_iter()
            .map(|(placeholder, attribute)| (placeholder.to_owned(), attribute))
            .collect();
        if self.expression.contains("#pk") {
            names.insert("#pk".to_owned(), PK.to_owned());
        }
        let values: HashMap<String, AttributeValue> = self.values.into_iter().collect();
        (
            self.expression,
            names,
            (!values.is_empty()).then_some(values),
        )
    }
}

impl Store {
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
        self.put_item_when(item, condition).await
    }

    /// Writes `item` when `condition` holds; `false`, with nothing written, when it does not.
    pub(super) async fn put_item_when(
        &self,
        item: Item,
        condition: Condition,
    ) -> Result<bool, StoreError> {
        let (expression, names, values) = condition.into_parts();
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|err| StoreError::aws("PutItem", classify(err)))
        {
            Ok(_) => Ok(true),
            Err(err) if err.is_condition_failure() => Ok(false),
            Err(err) => Err(err),
        }
    }
}
