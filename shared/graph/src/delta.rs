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
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer as _, MapAccess, SeqAccess, Visitor,
};

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::models::{DirectoryObjectRef, Group, User};
use crate::paging::RawPage;
use crate::stream::{Changes, Sink, stopped};
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

/// One change to a group. A group with many member changes can appear on several pages, or
/// several times in one page's parts ([`crate::GraphConfig::delta_part_size`]), each time with
/// a part of its member changes.
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

/// One page of a delta round, or one part of a page too large to hand on whole
/// ([`crate::GraphConfig::delta_part_size`]). Exactly one of the links is set: `next_link`
/// mid-round (store it to resume this round later; a part before its page's end gives the
/// page's own link, so resuming reads the page again), `delta_link` on the last page (store it
/// for the next round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPage<C> {
    pub changes: Vec<C>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
    /// This is a part of a page and more parts of that page follow (its `next_link` is then the
    /// page's own link): a caller may keep this part's writes back until the page's last part,
    /// as long as it writes them before saving a link past the page.
    pub more_of_page: bool,
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
        self.delta_parts::<UserItems>(start).map_ok(into_delta_page)
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
        self.delta_parts::<GroupItems>(start)
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

fn into_delta_page<C>(page: RawPage<C>) -> DeltaPage<C> {
    let RawPage {
        items: changes,
        next_link,
        delta_link,
        more_of_page,
    } = page;
    DeltaPage {
        changes,
        more_of_page,
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

fn member_change(member: MemberDeltaWire) -> MemberChange {
    let reference = DirectoryObjectRef {
        odata_type: member.odata_type,
        id: member.id,
    };
    if member.removed.is_some() {
        MemberChange::Removed(reference)
    } else {
        MemberChange::Added(reference)
    }
}

/// The elements of a users delta page: one change each.
struct UserItems;

impl Changes for UserItems {
    type Change = UserChange;

    fn item<'de, D: Deserializer<'de>>(
        deserializer: D,
        sink: &mut Sink<'_, UserChange>,
    ) -> Result<(), D::Error> {
        let item = DeltaItem::<User>::deserialize(deserializer)?;
        sink.push(user_change(item), 1).map_err(stopped)
    }
}

/// The elements of a groups delta page: a group's `members@delta` is read one reference at a
/// time and handed on in parts, each with the group as read before its members (Graph sends a
/// group's properties first); the group's last showing carries every property.
struct GroupItems;

impl Changes for GroupItems {
    type Change = GroupChange;

    fn item<'de, D: Deserializer<'de>>(
        deserializer: D,
        sink: &mut Sink<'_, GroupChange>,
    ) -> Result<(), D::Error> {
        deserializer.deserialize_map(GroupItem { sink })
    }
}

struct GroupItem<'s, 'o> {
    sink: &'s mut Sink<'o, GroupChange>,
}

/// A group's member changes not handed on yet, and the group as last handed on with a part.
#[derive(Default)]
struct Members {
    changes: Vec<MemberChange>,
    shown: Option<Group>,
}

fn group_of(
    properties: &serde_json::Map<String, serde_json::Value>,
) -> Result<Group, serde_json::Error> {
    serde_json::from_value(serde_json::Value::Object(properties.clone()))
}

impl<'de> Visitor<'de> for GroupItem<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a group delta item object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // A group's own properties are few; its members may be 100,000s and are not kept.
        let mut properties = serde_json::Map::new();
        let mut removed: Option<RemovedWire> = None;
        let mut members = Members::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "@removed" => removed = map.next_value()?,
                "members@delta" => {
                    // Without its id yet the group's members are kept until its end.
                    let group = group_of(&properties).ok();
                    map.next_value_seed(MembersSeed {
                        sink: &mut *self.sink,
                        group: group.as_ref(),
                        members: &mut members,
                    })?;
                }
                _ => {
                    properties.insert(key.into_owned(), map.next_value()?);
                }
            }
        }
        let group = group_of(&properties).map_err(de::Error::custom)?;
        let change = match removed {
            Some(removed) => GroupChange::Removed {
                id: group.id,
                reason: removed.reason.into(),
            },
            // Every member change went on with a group equal to this one: nothing is left.
            None if members.changes.is_empty() && members.shown.as_ref() == Some(&group) => {
                return Ok(());
            }
            None => GroupChange::Upserted {
                group,
                members: members.changes,
            },
        };
        let weight = match &change {
            GroupChange::Upserted { members, .. } => 1 + members.len(),
            GroupChange::Removed { .. } => 1,
        };
        self.sink.push(change, weight).map_err(stopped)
    }
}

/// `members@delta` (`null` reads as none), handed on whenever a part's worth is read.
struct MembersSeed<'a, 's, 'o> {
    sink: &'s mut Sink<'o, GroupChange>,
    group: Option<&'a Group>,
    members: &'a mut Members,
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of member references")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(member) = seq.next_element::<MemberDeltaWire>()? {
            self.members.changes.push(member_change(member));
            if let Some(group) = self.group
                && self.members.changes.len() >= self.sink.size
            {
                let part = std::mem::take(&mut self.members.changes);
                let weight = 1 + part.len();
                self.sink
                    .push(
                        GroupChange::Upserted {
                            group: group.clone(),
                            members: part,
                        },
                        weight,
                    )
                    .map_err(stopped)?;
                self.members.shown = Some(group.clone());
            }
        }
        Ok(())
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

/// A users delta item: the object itself plus the delta annotation `@removed`.
///
/// The annotations are picked out while the object is deserialised in one pass (no `flatten`,
/// which would buffer every item into a map first; an initial round is the whole tenant).
struct DeltaItem<T> {
    object: T,
    removed: Option<RemovedWire>,
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
        let object = T::deserialize(AnnotationSplitter {
            map,
            removed: &mut removed,
        })?;
        Ok(DeltaItem { object, removed })
    }
}

/// Serves `T` the item's map minus the delta annotation, which it stores aside.
struct AnnotationSplitter<'a, A> {
    map: A,
    removed: &'a mut Option<RemovedWire>,
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
    use crate::stream::{Part, parse};

    /// The parts `body` is handed on in, at `size` per part.
    fn parts<K: Changes>(body: &[u8], size: usize) -> Vec<Part<K::Change>> {
        let mut out: Vec<Part<K::Change>> = Vec::new();
        let mut sink = Sink::new(&mut out, size);
        if let Err(e) = parse::<K, _>(body, &mut sink) {
            panic!("{e}");
        }
        out
    }

    /// A page's changes in order, whatever parts they came in, and its links.
    fn page<K: Changes>(body: &[u8], size: usize) -> DeltaPage<K::Change> {
        let mut changes = Vec::new();
        for part in parts::<K>(body, size) {
            match part {
                Part::Changes(more) => changes.extend(more),
                Part::End {
                    changes: more,
                    next_link,
                    delta_link,
                } => {
                    changes.extend(more);
                    return into_delta_page(RawPage {
                        items: changes,
                        next_link,
                        delta_link,
                        more_of_page: false,
                    });
                }
            }
        }
        panic!("no end part");
    }

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
        let page = page::<GroupItems>(body, 5_000);
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
        // WHEN
        let page = page::<UserItems>(body, 5_000);
        // THEN
        let UserChange::Upserted(user) = &page.changes[0] else {
            panic!("expected an upsert: {:?}", page.changes[0]);
        };
        assert_eq!(user.display_name.as_deref(), Some("Ada"));
        assert_eq!(page.next_link.as_deref(), Some("https://x/next"));
    }

    #[test]
    fn given_a_group_with_more_members_than_a_part_when_its_page_is_parsed_then_its_members_go_on_in_bounded_parts_before_the_page_ends()
     {
        // GIVEN one page holding a group with 12 member references (and a small group after
        // it), read at a part size of 5
        let members: Vec<String> = (0..12)
            .map(|i| format!(r##"{{"@odata.type":"#microsoft.graph.user","id":"u{i}"}}"##))
            .collect();
        let body = format!(
            r#"{{"value":[{{"id":"g1","displayName":"All staff","members@delta":[{}]}},
                {{"id":"g2","displayName":"Board","members@delta":[{}]}}],
                "@odata.deltaLink":"https://x/delta"}}"#,
            members.join(","),
            members[0]
        );
        // WHEN it is parsed
        let parts = parts::<GroupItems>(body.as_bytes(), 5);
        // THEN the big group's members go on in parts before the page's end, none holding more
        // than a part's worth, each with the group, and together every member exactly once
        let mut seen = Vec::new();
        let mut before_end = 0;
        for part in &parts {
            let changes = match part {
                Part::Changes(changes) => {
                    before_end += 1;
                    changes
                }
                Part::End { changes, .. } => changes,
            };
            let weight: usize = changes
                .iter()
                .map(|c| match c {
                    GroupChange::Upserted { members, .. } => 1 + members.len(),
                    GroupChange::Removed { .. } => 1,
                })
                .sum();
            assert!(weight <= 2 * 5, "a part of weight {weight}");
            for change in changes {
                let GroupChange::Upserted { group, members } = change else {
                    panic!("expected upserts: {change:?}");
                };
                assert!(group.display_name.is_some());
                seen.extend(members.iter().map(|m| match m {
                    MemberChange::Added(m) => (group.id.clone(), m.id.clone()),
                    MemberChange::Removed(m) => panic!("removed {m:?}"),
                }));
            }
        }
        assert!(before_end >= 2, "{before_end} parts before the end");
        let mut want: Vec<(String, String)> = (0..12)
            .map(|i| ("g1".to_owned(), format!("u{i}")))
            .collect();
        want.push(("g2".to_owned(), "u0".to_owned()));
        assert_eq!(seen, want);
        assert!(matches!(
            parts.last(),
            Some(Part::End {
                delta_link: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn given_a_group_whose_properties_follow_its_members_when_parsed_then_its_last_showing_has_them()
     {
        // GIVEN a group whose displayName comes after its members, more members than a part
        let body = br##"{"value":[{"id":"g1","members@delta":[
            {"@odata.type":"#microsoft.graph.user","id":"u1"},
            {"@odata.type":"#microsoft.graph.user","id":"u2"},
            {"@odata.type":"#microsoft.graph.user","id":"u3"}],"displayName":"Late"}],
            "@odata.deltaLink":"https://x/delta"}"##;
        // WHEN it is parsed at a part size of 2
        let page = page::<GroupItems>(body, 2);
        // THEN the group shows up again with every property after its members
        let Some(GroupChange::Upserted { group, .. }) = page.changes.last() else {
            panic!("expected an upsert last: {:?}", page.changes);
        };
        assert_eq!(group.display_name.as_deref(), Some("Late"));
    }
}
