//! Queries of one partition as `Stream`s that fetch one page (up to 1 MB) at a time as they are
//! read, so no caller holds a whole partition unless it collects it.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::Stream;

use super::item::{Item, PK, SK, from_item, key_of};
use super::{Key, PartitionKey, Record, Store, StoreError};
use crate::sdk_error::classify;

impl Store {
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
    ) -> impl Stream<Item = Result<Key, StoreError>> + Send + 'static + use<> {
        let range = SortKeys::of_prefix(sk_prefix);
        futures::StreamExt::map(self.query_items(partition, range, true), |item| {
            item.and_then(|item| key_of(&item).ok_or(StoreError::MissingKey))
        })
    }

    pub(super) fn query_items(
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
                    SortKeys::Between(from, to) => request
                        .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                        .expression_attribute_names("#sk", SK)
                        .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                        .expression_attribute_values(":to", AttributeValue::S(to.clone())),
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
}

/// Which sort keys of a partition a query reads.
pub(super) enum SortKeys {
    All,
    Prefix(String),
    After(String),
    /// From the first to the second sort key, both included.
    Between(String, String),
}

impl SortKeys {
    fn of_prefix(prefix: Option<&str>) -> SortKeys {
        prefix.map_or(SortKeys::All, |prefix| SortKeys::Prefix(prefix.to_owned()))
    }
}
