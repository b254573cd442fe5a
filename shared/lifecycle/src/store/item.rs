//! Records to DynamoDB items and back, through their serde form: a JSON object becomes a map of
//! attributes (string S, number N, bool BOOL, null NULL, array L, object M), plus the key and the
//! TTL attribute. Written by hand (about 60 lines) rather than pulling in another crate.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use super::StoreError;
use super::keys::Key;

/// Partition key attribute.
pub(crate) const PK: &str = "pk";
/// Sort key attribute.
pub(crate) const SK: &str = "sk";
/// TTL attribute (epoch seconds): DynamoDB deletes the item some time after it passes.
pub(crate) const EXPIRES_AT: &str = "expires_at";

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Builds the item of `record` under `key`, with `expires_at` when the record is short-lived.
pub(crate) fn to_item<T: Serialize>(
    key: &Key,
    record: &T,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Item, StoreError> {
    let Value::Object(fields) = serde_json::to_value(record).map_err(StoreError::Encode)? else {
        return Err(StoreError::NotAnObject {
            record: std::any::type_name::<T>(),
        });
    };
    let mut item = Item::with_capacity(fields.len() + 3);
    for (name, value) in fields {
        if [PK, SK, EXPIRES_AT].contains(&name.as_str()) {
            return Err(StoreError::ReservedAttribute {
                record: std::any::type_name::<T>(),
                name,
            });
        }
        item.insert(name, to_attribute(value));
    }
    item.insert(PK.into(), AttributeValue::S(key.pk().to_owned()));
    item.insert(SK.into(), AttributeValue::S(key.sk().to_owned()));
    if let Some(at) = expires_at {
        item.insert(
            EXPIRES_AT.into(),
            AttributeValue::N(at.timestamp().to_string()),
        );
    }
    Ok(item)
}

/// DynamoDB's size of an item: each attribute's name and value (strings by their UTF-8 bytes,
/// numbers about one byte per two digits plus one, lists and maps 3 bytes plus one per element).
pub(crate) fn item_bytes(item: &Item) -> usize {
    fn value_bytes(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(text) => text.len(),
            AttributeValue::N(number) => number.trim_start_matches('-').len().div_ceil(2) + 1,
            AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
            AttributeValue::L(values) => {
                3 + values.iter().map(|v| 1 + value_bytes(v)).sum::<usize>()
            }
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(name, v)| 1 + name.len() + value_bytes(v))
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

/// The write units of putting `record` under `key`: one per KB of its item.
pub(crate) fn write_units<T: Serialize>(key: &Key, record: &T) -> Result<u64, StoreError> {
    let item = to_item(key, record, None)?;
    Ok(item_bytes(&item).div_ceil(1024).max(1) as u64)
}

/// Reads a record back from its item, ignoring the key and TTL attributes.
pub(crate) fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    let pk = take_string(&mut item, PK);
    let sk = take_string(&mut item, SK);
    item.remove(EXPIRES_AT);
    let mut fields = Map::with_capacity(item.len());
    for (name, attribute) in item {
        fields.insert(name, from_attribute(attribute));
    }
    serde_json::from_value(Value::Object(fields)).map_err(|source| StoreError::Decode {
        pk,
        sk,
        record: std::any::type_name::<T>(),
        source,
    })
}

pub(crate) fn key_of(item: &Item) -> Option<Key> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some(Key::from_stored(pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

fn take_string(item: &mut Item, name: &str) -> String {
    match item.remove(name) {
        Some(AttributeValue::S(value)) => value,
        _ => String::new(),
    }
}

/// One attribute of `value`'s serde form, as [`to_item`] writes it (an UpdateItem's value).
pub(crate) fn attribute_of<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_value(value)
        .map(to_attribute)
        .map_err(StoreError::Encode)
}

fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(flag) => AttributeValue::Bool(flag),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text),
        Value::Array(values) => AttributeValue::L(values.into_iter().map(to_attribute).collect()),
        Value::Object(fields) => AttributeValue::M(
            fields
                .into_iter()
                .map(|(name, value)| (name, to_attribute(value)))
                .collect(),
        ),
    }
}

fn number(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        Value::from(n)
    } else if let Ok(n) = text.parse::<u64>() {
        Value::from(n)
    } else {
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(text.to_owned()), Value::Number)
    }
}

fn from_attribute(attribute: AttributeValue) -> Value {
    match attribute {
        AttributeValue::S(text) => Value::String(text),
        AttributeValue::N(text) => number(&text),
        AttributeValue::Bool(flag) => Value::Bool(flag),
        AttributeValue::L(values) => Value::Array(values.into_iter().map(from_attribute).collect()),
        AttributeValue::M(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| (name, from_attribute(value)))
                .collect(),
        ),
        AttributeValue::Ss(texts) => Value::Array(texts.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(texts) => Value::Array(texts.iter().map(|text| number(text)).collect()),
        // NULL, binary and unknown kinds: this crate never writes them.
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::store::keys;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        name: String,
        count: u64,
        ratio: f64,
        negative: i32,
        flag: bool,
        missing: Option<String>,
        tags: Vec<String>,
        nested: HashMap<String, u32>,
    }

    #[test]
    fn given_a_record_when_written_and_read_then_it_round_trips_with_key_and_ttl() {
        let tenant = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        let key = keys::tenant_meta(&tenant);
        let sample = Sample {
            name: "n".into(),
            count: u64::MAX,
            ratio: 0.5,
            negative: -3,
            flag: true,
            missing: None,
            tags: vec!["a".into()],
            nested: [("x".to_owned(), 1)].into(),
        };
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let item = to_item(&key, &sample, Some(at)).unwrap();
        assert_eq!(item[EXPIRES_AT], AttributeValue::N("1700000000".into()));
        assert_eq!(item[PK], AttributeValue::S(key.pk().into()));
        assert_eq!(key_of(&item), Some(key));
        assert_eq!(from_item::<Sample>(item).unwrap(), sample);
    }

    #[test]
    fn given_a_record_with_a_key_field_when_written_then_it_is_refused() {
        #[derive(Serialize)]
        struct Bad {
            pk: String,
        }
        let tenant = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        let err = to_item(&keys::tenant_meta(&tenant), &Bad { pk: "x".into() }, None).unwrap_err();
        assert!(matches!(err, StoreError::ReservedAttribute { ref name, .. } if name == "pk"));
    }
}
