//! Delta queries on users and groups: what changed since a stored delta link.
//!
//! A round starts from nothing (every object, as "upserted") or from a stored delta link,
//! follows `@odata.nextLink` and ends with a page carrying `@odata.deltaLink`, which the caller
//! stores for the next round. Both links are opaque strings. An expired or reset link gives 410
//! and [`GraphError::ResyncRequired`]: discard it and start from nothing.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use futures::{Stream, TryStreamExt as _, stream};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer as _, MapAccess, Visitor};

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::models::{DirectoryObjectRef, Group, User};
use crate::paging::{PageWire, RawPage, unchanged};
use crate::wire::Key;

/// Why an object is reported as removed (`@removed.reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedReason {
    /// Soft-deleted (restorable for 30 days) or otherwise out of scope; may come back.
    Changed,
    /// Permanently deleted.
    Deleted,
    /// A reason Graph did not document when this was written.
    Other(String),
}

impl From<String> for RemovedReason {
    fn from(reason: String) -> Self {
        match reason.as_str() {
            "changed" => RemovedReason::Changed,
            "deleted" => RemovedReason::Deleted,
            _ => RemovedReason::Other(reason),
        }
    }
}

/// One change to an account.
// Nearly every change is an upsert, so boxing the user would add an allocation per item for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// New or changed: the selected properties (on a change, at least the changed ones).
    Upserted(User),
    /// Gone from the directory (or from scope).
    Removed { id: String, reason: RemovedReason },
}

/// One change to a group's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Added(DirectoryObjectRef),
    Removed(DirectoryObjectRef),
}

/// One change to a group. A group with many member changes can appear on several pages, each
/// time with a part of its member changes.
// Nearly every change is an upsert, so boxing the group would add an allocation per item for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// New or changed group, with the member changes reported with it (`members@delta`).
    Upserted {
        group: Group,
        members: Vec<MemberChange>,
    },
    /// The group was deleted.
    Removed { id: String, reason: RemovedReason },
}

/// One page of a delta round. Exactly one of the links is set: `next_link` mid-round (store it
/// to resume this round later), `delta_link` on the last page (store it for the next round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPage<C> {
    pub changes: Vec<C>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

impl<C> DeltaPage<C> {
    /// The link to store after applying this page: where to continue from.
    pub fn resume_link(&self) -> Option<&str> {
        self.next_link.as_deref().or(self.delta_link.as_deref())
    }
}

/// A delta round flattened: the changes one by one, page boundaries, and finally the new delta link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaEvent<C> {
    Change(C),
    /// Every change before this is on a page whose continuation is `next_link`; a caller may
    /// checkpoint here.
    PageEnd {
        next_link: String,
    },
    /// The round is complete; store `delta_link` for the next one. Always the last event.
    Complete {
        delta_link: String,
    },
}

impl TenantGraph {
    /// Pages of user changes since `from` (a stored delta link or mid-round next link), or of
    /// every user when `from` is `None`.
    pub fn users_delta_pages(
        &self,
        from: Option<&str>,
    ) -> impl Stream<Item = Result<DeltaPage<UserChange>, GraphError>> + Send + 'static + use<>
    {
        // `licenseAssignmentStates` tells direct from group-inherited licenses. Graph does not
        // track changes to it alone, but a user whose licenses change (assignedLicenses) comes
        // with its current states.
        let start = self.start_url(
            &format!(
                "/users/delta?$select={},licenseAssignmentStates",
                User::SELECT
            ),
            from,
        );
        self.page_stream::<DeltaItem<User>, UserChange>(start, unchanged, |wire| {
            convert(wire, user_change)
        })
        .map_ok(into_delta_page)
    }

    /// [`TenantGraph::users_delta_pages`] as events.
    pub fn users_delta(
        &self,
        from: Option<&str>,
    ) -> impl Stream<Item = Result<DeltaEvent<UserChange>, GraphError>> + Send + 'static + use<>
    {
        events(self.users_delta_pages(from))
    }

    /// Pages of group changes, with member changes (`members@delta`), since `from`.
    pub fn groups_delta_pages(
        &self,
        from: Option<&str>,
    ) -> impl Stream<Item = Result<DeltaPage<GroupChange>, GraphError>> + Send + 'static + use<>
    {
        let start = self.start_url(
            &format!("/groups/delta?$select={},members", Group::SELECT),
            from,
        );
        self.page_stream::<DeltaItem<Group>, GroupChange>(start, unchanged, |wire| {
            convert(wire, group_change)
        })
        .map_ok(into_delta_page)
    }

    /// [`TenantGraph::groups_delta_pages`] as events.
    pub fn groups_delta(
        &self,
        from: Option<&str>,
    ) -> impl Stream<Item = Result<DeltaEvent<GroupChange>, GraphError>> + Send + 'static + use<>
    {
        events(self.groups_delta_pages(from))
    }
}

fn convert<T, C>(
    wire: PageWire<DeltaItem<T>>,
    change: fn(DeltaItem<T>) -> C,
) -> Result<RawPage<C>, GraphError> {
    if wire.next_link.is_none() && wire.delta_link.is_none() {
        return Err(GraphError::unexpected(
            200,
            None,
            "a delta page has neither @odata.nextLink nor @odata.deltaLink",
        ));
    }
    Ok(RawPage {
        items: wire.value.into_iter().map(change).collect(),
        next_link: wire.next_link,
        delta_link: wire.delta_link,
    })
}

fn into_delta_page<C>(page: RawPage<C>) -> DeltaPage<C> {
    let RawPage {
        items: changes,
        next_link,
        delta_link,
    } = page;
    DeltaPage {
        changes,
        // A page with both links is treated as mid-round: the next link is followed.
        delta_link: if next_link.is_some() {
            None
        } else {
            delta_link
        },
        next_link,
    }
}

fn user_change(item: DeltaItem<User>) -> UserChange {
    match item.removed {
        Some(removed) => UserChange::Removed {
            id: item.object.id,
            reason: removed.reason.into(),
        },
        None => UserChange::Upserted(item.object),
    }
}

fn group_change(item: DeltaItem<Group>) -> GroupChange {
    match item.removed {
        Some(removed) => GroupChange::Removed {
            id: item.object.id,
            reason: removed.reason.into(),
        },
        None => GroupChange::Upserted {
            group: item.object,
            members: item
                .members
                .into_iter()
                .map(|m| {
                    let member = DirectoryObjectRef {
                        odata_type: m.odata_type,
                        id: m.id,
                    };
                    if m.removed.is_some() {
                        MemberChange::Removed(member)
                    } else {
                        MemberChange::Added(member)
                    }
                })
                .collect(),
        },
    }
}

fn events<C: Send + 'static>(
    pages: impl Stream<Item = Result<DeltaPage<C>, GraphError>> + Send + 'static,
) -> impl Stream<Item = Result<DeltaEvent<C>, GraphError>> + Send + 'static {
    pages
        .map_ok(|page| {
            let boundary = match (page.next_link, page.delta_link) {
                (Some(next_link), _) => Ok(DeltaEvent::PageEnd { next_link }),
                (None, Some(delta_link)) => Ok(DeltaEvent::Complete { delta_link }),
                (None, None) => Err(GraphError::unexpected(
                    200,
                    None,
                    "a delta page without a link",
                )),
            };
            stream::iter(
                page.changes
                    .into_iter()
                    .map(|change| Ok(DeltaEvent::Change(change)))
                    .chain(std::iter::once(boundary)),
            )
        })
        .try_flatten()
}

#[derive(Deserialize)]
struct RemovedWire {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct MemberDeltaWire {
    #[serde(
        rename = "@odata.type",
        default,
        deserialize_with = "crate::models::odata_type"
    )]
    odata_type: Option<Cow<'static, str>>,
    id: String,
    #[serde(rename = "@removed", default)]
    removed: Option<RemovedWire>,
}

/// A delta item: the object itself plus the delta annotations `@removed` and `members@delta`.
///
/// The annotations are picked out while the object is deserialised in one pass (no `flatten`,
/// which would buffer every item into a map first; an initial round is the whole tenant).
struct DeltaItem<T> {
    object: T,
    removed: Option<RemovedWire>,
    members: Vec<MemberDeltaWire>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DeltaItem<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ItemVisitor(PhantomData))
    }
}

struct ItemVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ItemVisitor<T> {
    type Value = DeltaItem<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta item object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut removed = None;
        let mut members = None;
        let object = T::deserialize(AnnotationSplitter {
            map,
            removed: &mut removed,
            members: &mut members,
        })?;
        Ok(DeltaItem {
            object,
            removed,
            members: members.flatten().unwrap_or_default(),
        })
    }
}

/// Serves `T` the item's map minus the delta annotations, which it stores aside.
struct AnnotationSplitter<'a, A> {
    map: A,
    removed: &'a mut Option<RemovedWire>,
    members: &'a mut Option<Option<Vec<MemberDeltaWire>>>,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for AnnotationSplitter<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for AnnotationSplitter<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(Key(key)) = self.map.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            match key.as_ref() {
                "@removed" => *self.removed = self.map.next_value()?,
                "members@delta" => *self.members = Some(self.map.next_value()?),
                _ => {
                    return match key {
                        Cow::Borrowed(k) => seed
                            .deserialize(de::value::BorrowedStrDeserializer::new(k))
                            .map(Some),
                        Cow::Owned(k) => seed.deserialize(k.into_deserializer()).map(Some),
                    };
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.map.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_group_delta_page_when_parsed_then_annotations_become_changes() {
        // GIVEN a page with a changed group (members added and removed) and a deleted group
        let body = br##"{"value":[
            {"id":"g1","displayName":"Sales","groupTypes":[],"members@delta":[
                {"@odata.type":"#microsoft.graph.user","id":"u1"},
                {"@odata.type":"#microsoft.graph.user","id":"u2","@removed":{"reason":"deleted"}}]},
            {"id":"g2","@removed":{"reason":"changed"}}],
            "@odata.deltaLink":"https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=x"}"##;
        // WHEN it is parsed and converted
        let wire: PageWire<DeltaItem<Group>> = match serde_json::from_slice(body) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let page = match convert(wire, group_change) {
            Ok(p) => into_delta_page(p),
            Err(e) => panic!("{e}"),
        };
        // THEN the group upsert carries both member changes, and the removal its reason
        let GroupChange::Upserted { group, members } = &page.changes[0] else {
            panic!("expected an upsert: {:?}", page.changes[0]);
        };
        assert_eq!(group.display_name.as_deref(), Some("Sales"));
        assert!(matches!(&members[0], MemberChange::Added(m) if m.id == "u1" && m.is_user()));
        assert!(matches!(&members[1], MemberChange::Removed(m) if m.id == "u2"));
        assert_eq!(
            page.changes[1],
            GroupChange::Removed {
                id: "g2".into(),
                reason: RemovedReason::Changed
            }
        );
        assert!(page.next_link.is_none());
        assert!(page.delta_link.is_some());
    }

    #[test]
    fn given_escaped_key_when_parsed_then_field_is_still_read() {
        // GIVEN a key with an escape (so it cannot be borrowed)
        let body = br#"{"value":[{"id":"u1","display\u004eame":"Ada"}],"@odata.nextLink":"https://x/next"}"#;
        // WHEN / THEN
        let wire: PageWire<DeltaItem<User>> = match serde_json::from_slice(body) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(wire.value[0].object.display_name.as_deref(), Some("Ada"));
    }
}
