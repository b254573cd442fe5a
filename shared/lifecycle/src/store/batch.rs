//! Batch reads and writes: BatchWriteItem (25 items) and BatchGetItem (100 keys), each retrying
//! the items DynamoDB left unprocessed with the project's one backoff.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use graph::RetryPolicy;

use super::item::{Item, PK, SK, from_item, key_of, to_item};
use super::{Key, Record, Store, StoreError, build_failure};
use crate::sdk_error::classify;

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

/// What a BatchGetItem reads of each item.
#[derive(Debug, Clone, Copy)]
enum Projection {
    /// Every attribute.
    Whole,
    /// Only the key.
    Keys,
}

impl Store {
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

    async fn batch_get_items(
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
