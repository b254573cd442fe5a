//! The collection envelope (`value` + `@odata.nextLink`/`@odata.deltaLink`), parsed in one pass
//! into a list sized up front, and a map key type that borrows from the body.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The shape of every collection response.
pub(crate) struct PageWire<T> {
    pub(crate) value: Vec<T>,
    pub(crate) next_link: Option<String>,
    pub(crate) delta_link: Option<String>,
}

/// The smallest item Graph sends (a member reference) is about 80 bytes; the body size over
/// this bounds the item count, so the list is allocated once instead of doubling ~10 times.
const MIN_ITEM_BYTES: usize = 64;
/// No page is larger than Graph's `$top` maximum of 999.
const MAX_ITEMS: usize = 1000;

impl<T> PageWire<T> {
    /// Parses a collection body.
    pub(crate) fn parse<'de>(text: &'de str) -> Result<Self, serde_json::Error>
    where
        T: Deserialize<'de>,
    {
        let capacity = (text.len() / MIN_ITEM_BYTES).min(MAX_ITEMS);
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let page = PageSeed {
            capacity,
            item: PhantomData,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(page)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for PageWire<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PageSeed {
            capacity: 0,
            item: PhantomData,
        }
        .deserialize(deserializer)
    }
}

struct PageSeed<T> {
    capacity: usize,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for PageSeed<T> {
    type Value = PageWire<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for PageSeed<T> {
    type Value = PageWire<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a collection object with \"value\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut page = PageWire {
            value: Vec::new(),
            next_link: None,
            delta_link: None,
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "value" => {
                    page.value = map.next_value_seed(ItemsSeed {
                        capacity: self.capacity,
                        item: PhantomData,
                    })?;
                }
                "@odata.nextLink" => page.next_link = map.next_value()?,
                "@odata.deltaLink" => page.delta_link = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// `value`: a list (or `null`, read as empty) allocated at `capacity` up front.
struct ItemsSeed<T> {
    capacity: usize,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ItemsSeed<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ItemsSeed<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of items")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::with_capacity(self.capacity);
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(items)
    }
}

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_collection_bodies_when_parsed_then_links_and_items_are_read_and_null_value_is_empty() {
        let page = PageWire::<serde_json::Value>::parse(
            r#"{"@odata.context":"x","@odata.nextLink":"https://n","value":[{"id":"a"},{"id":"b"}],"extra":[1,{"a":null}]}"#,
        );
        let page = page.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.value.len(), 2);
        assert_eq!(page.next_link.as_deref(), Some("https://n"));
        let empty = PageWire::<serde_json::Value>::parse(
            r#"{"value":null,"@odata.deltaLink":"https://d"}"#,
        );
        let empty = empty.unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.value.is_empty());
        assert_eq!(empty.delta_link.as_deref(), Some("https://d"));
        assert!(PageWire::<serde_json::Value>::parse(r#"{"value":5}"#).is_err());
        assert!(PageWire::<serde_json::Value>::parse(r#"[]"#).is_err());
        assert!(PageWire::<serde_json::Value>::parse(r#"{"value":[]} trailing"#).is_err());
    }
}
