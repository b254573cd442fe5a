//! A group's members a page at a time, in the order of their hashes: a page reads only the leaves
//! from the last one shown on, so a deep page costs what it returns.
//!
//! The cursor is the hash and id of the last member shown. A page starts at the leaf covering
//! that hash (one `Query` backwards, `Limit 1`) and reads on while each leaf's hashes follow
//! the last one's without a hole. A hole, or a split node still holding members, means a split
//! was cut short (a writer stopped between its writes); that page is then read from the group's
//! whole membership instead, which counts what the split node kept (rare, and still exact).

use std::fmt;
use std::pin::pin;

use futures::TryStreamExt as _;

use super::read::node_of;
use super::{HASH_BITS, Node, Trie, hash_path};
use crate::ids::{AccountId, GroupId, TenantId};
use crate::store::query::SortKeys;
use crate::store::{Store, StoreError, keys};

/// Where the next page of a group's members starts: after this member (its hash, then its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembersCursor {
    hash: String,
    account: AccountId,
}

impl MembersCursor {
    fn of(account: &AccountId) -> Self {
        Self {
            hash: hash_path(account.as_str()),
            account: account.clone(),
        }
    }

    /// A cursor this store gave out (`{16 hex digits}.{account id}`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (hex, account) = text.split_once('.')?;
        if hex.len() != HASH_BITS / 4 {
            return None;
        }
        let bits = u64::from_str_radix(hex, 16).ok()?;
        let account = AccountId::parse(account).ok()?;
        let cursor = Self {
            hash: format!("{bits:064b}"),
            account,
        };
        (cursor == Self::of(&cursor.account)).then_some(cursor)
    }

    fn after(&self, hash: &str, account: &AccountId) -> bool {
        (hash, account.as_str()) > (self.hash.as_str(), self.account.as_str())
    }
}

impl fmt::Display for MembersCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = u64::from_str_radix(&self.hash, 2).unwrap_or_default();
        write!(f, "{bits:016x}.{}", self.account)
    }
}

/// One page of a group's members, and where the next one starts (`None` at the end).
#[derive(Debug)]
pub struct MembersPage {
    pub members: Vec<AccountId>,
    pub next: Option<MembersCursor>,
}

/// The first hash after every hash under `path` (`None`: `path` ends the space), as a path.
fn following(path: &str) -> Option<String> {
    let trimmed = path.trim_end_matches('1');
    let stem = trimmed.strip_suffix('0')?;
    Some(format!("{stem}1"))
}

/// `path` padded with zeros: the first hash under it.
fn first_hash(path: &str) -> String {
    format!("{path:0<HASH_BITS$}")
}

impl Store {
    /// Up to `limit` stored members of `group`, in hash order, after `after`.
    pub async fn list_group_members(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        after: Option<&MembersCursor>,
        limit: usize,
    ) -> Result<MembersPage, StoreError> {
        let trie = Trie::new(self, tenant, group);
        let start = match after {
            None => String::new(),
            Some(cursor) => match trie.locate(&cursor.hash).await? {
                Some(node) if node.fanout.is_none() && node.covers(&cursor.hash) => node.path,
                Some(_) => return self.members_page_whole(tenant, group, after, limit).await,
                None => {
                    return Ok(MembersPage {
                        members: Vec::new(),
                        next: None,
                    });
                }
            },
        };
        let from = trie.key(&start).sk().to_owned();
        let to = format!("{}2", keys::group_members_prefix(group));
        let mut items = pin!(self.query_items(
            &keys::group_members_partition(tenant, group),
            SortKeys::Between(from, to),
            false,
        ));
        // The first hash the next leaf must start at (`Some("")` before the first).
        let mut expected = Some(first_hash(&start));
        let mut page: Vec<(String, AccountId)> = Vec::new();
        while let Some(item) = items.try_next().await? {
            let (_, node) = node_of(item)?;
            if node.fanout.is_some() {
                if node.members.is_empty() {
                    continue;
                }
                return self.members_page_whole(tenant, group, after, limit).await;
            }
            if expected.as_deref() != Some(first_hash(&node.path).as_str()) {
                return self.members_page_whole(tenant, group, after, limit).await;
            }
            expected = following(&node.path).map(|path| first_hash(&path));
            let mut members = leaf_members(&node)?;
            members.retain(|(hash, account)| after.is_none_or(|c| c.after(hash, account)));
            page.extend(members);
            if page.len() >= limit {
                break;
            }
        }
        if page.len() < limit && expected.is_some() {
            // The leaves ended before the last hash: a split cut short at the end.
            return self.members_page_whole(tenant, group, after, limit).await;
        }
        Ok(cut(page, limit, expected.is_some()))
    }

    /// The page read from the group's whole membership (after a split cut short).
    async fn members_page_whole(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        after: Option<&MembersCursor>,
        limit: usize,
    ) -> Result<MembersPage, StoreError> {
        let mut page: Vec<(String, AccountId)> = self
            .group_members(tenant, group)
            .map_ok(|m| (hash_path(m.account_id.as_str()), m.account_id))
            .try_filter(|(hash, account)| {
                futures::future::ready(after.is_none_or(|c| c.after(hash, account)))
            })
            .try_collect()
            .await?;
        page.sort();
        let more = page.len() > limit;
        Ok(cut(page, limit, more))
    }
}

/// A leaf's members with their hashes, in hash order.
fn leaf_members(node: &Node) -> Result<Vec<(String, AccountId)>, StoreError> {
    let mut members = node
        .members
        .iter()
        .map(|id| {
            AccountId::parse(id)
                .map(|account| (hash_path(id), account))
                .map_err(|_| StoreError::MalformedKey {
                    pk: String::new(),
                    sk: node.path.clone(),
                    expected: "a membership node whose members are account ids",
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    members.sort();
    Ok(members)
}

/// The first `limit` of `page` (sorted), with a cursor after the last when more may follow.
fn cut(mut page: Vec<(String, AccountId)>, limit: usize, more: bool) -> MembersPage {
    page.sort();
    let more = more || page.len() > limit;
    page.truncate(limit);
    let next = page
        .last()
        .filter(|_| more)
        .map(|(_, account)| MembersCursor::of(account));
    MembersPage {
        members: page.into_iter().map(|(_, account)| account).collect(),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_paths_when_followed_then_the_next_range_starts_right_after() {
        assert_eq!(following("0"), Some("1".into()));
        assert_eq!(following("011"), Some("1".into()));
        assert_eq!(following("0101"), Some("011".into()));
        assert_eq!(following("1"), None);
        assert_eq!(following(""), None);
        assert_eq!(first_hash("1").len(), HASH_BITS);
    }

    #[test]
    fn given_a_cursor_when_written_and_parsed_then_it_round_trips_and_a_forged_one_is_refused() {
        let account = AccountId::parse("0b9f1c2e-0000-4000-8000-000000000001").unwrap();
        let cursor = MembersCursor::of(&account);
        assert_eq!(
            MembersCursor::parse(&cursor.to_string()),
            Some(cursor.clone())
        );
        let forged = format!("0000000000000000.{account}");
        assert_eq!(MembersCursor::parse(&forged), None);
        assert_eq!(MembersCursor::parse("nonsense"), None);
    }
}
