//! A tenant's memberships, packed: a group's members live in items of at most 1 KB (one write
//! unit), not one item per (group, account).
//!
//! Each group's members form a binary trie over the bits of the SHA-256 of their account ids.
//! An item is a node of that trie, keyed `{group}#{path}` (`path`: the bits, `0`/`1`) in the
//! group's membership shard:
//! - a **leaf** holds the account ids whose hash starts with its path (`m`, a string set) and a
//!   version (`v`) every write of it checks and raises;
//! - a **split** node (`k` = how many more bits its children take) is a leaf that grew past a
//!   write unit: its 2^k children hold its members. It keeps the members it had when it split
//!   only until every child exists, so a split cut short (a crash) is finished by the next writer
//!   from what it holds, and a reader counts them for the children still missing.
//!
//! Nodes are never deleted while their group is stored, so at any time the leaves cover every
//! hash once, and the leaf of an account is the greatest key at or before `{group}#{its 64 bits}`
//! (one `Query` with `Limit 1`, backwards). A write is a conditional `PutItem` of one leaf over the
//! version read: two writers of one group (the sync, a job's read-back) never lose each other's
//! change, they read again and retry. A group's first members are written parent first, each
//! node only if new.
//!
//! Why: a first sync of 100,000 accounts in 2,000 groups wrote 386,743 membership items (one
//! write unit each); packed, about one item per 12 members. A change still writes one unit (the
//! leaf), as before. See README, "Store writes per membership layout".

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::pin::pin;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use sha2::{Digest, Sha256};

use super::item::{Item, PK, SK};
use super::query::SortKeys;
use super::writes::Condition;
use super::{Key, PartitionKey, Store, StoreError, keys};
use crate::ids::{AccountId, GroupId, TenantId};
use crate::model::Membership;
use crate::sdk_error::classify;

mod gather;
mod page;
mod read;

pub use gather::MemberChanges;
pub use page::{MembersCursor, MembersPage};

use read::{Members, assemble, node_of};

/// DynamoDB's write unit: an item of up to 1 KB costs one.
const UNIT_BYTES: usize = 1024;
/// Changes of one group located leaf by leaf; with more, the group's nodes are read at once.
const LOCATE_AT_MOST: usize = 16;
/// Nodes read per change at most to place many changes of a group at once; a stretch of the
/// group holding more is located change by change instead.
const NODES_PER_CHANGE: usize = 8;
/// Rounds of one group's changes (each follows a concurrent writer's change) before giving up.
const ROUNDS: usize = 32;
/// The widest split: 2^8 children.
const MAX_FANOUT: usize = 8;
/// Bits of an account's hash: a path is at most this long.
const HASH_BITS: usize = 64;
/// Changes of one group placed together (neighbours in hash order): a leaf marked split holds at
/// most its members and these (about 150 KB, within DynamoDB's 400 KB item).
const SLICE: usize = 4_000;
/// Items of one TransactWriteItems (DynamoDB's limit).
const TRANSACTION_ITEMS: usize = 100;
/// Leaves written at once for one group.
const LEAF_WRITES: usize = 8;
const MEMBERS: &str = "m";
const VERSION: &str = "v";
const FANOUT: &str = "k";

/// The first [`HASH_BITS`] bits of the SHA-256 of `account`, as `0`/`1` text: where its leaf is.
fn hash_path(account: &str) -> String {
    hash_text(hash_bits(account))
}

/// The first [`HASH_BITS`] bits of the SHA-256 of `account`.
fn hash_bits(account: &str) -> u64 {
    let digest = Sha256::digest(account.as_bytes());
    let mut first = [0; HASH_BITS / 8];
    first.copy_from_slice(&digest[..HASH_BITS / 8]);
    u64::from_be_bytes(first)
}

/// `bits` as the `0`/`1` text of a path.
fn hash_text(bits: u64) -> String {
    format!("{bits:064b}")
}

/// One node of a group's trie.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    path: String,
    members: BTreeSet<String>,
    version: u64,
    /// `Some(k)`: split, its children's paths are `k` bits longer.
    fanout: Option<usize>,
}

impl Node {
    fn leaf(path: String, members: BTreeSet<String>) -> Self {
        Self {
            path,
            members,
            version: 1,
            fanout: None,
        }
    }

    fn covers(&self, path: &str) -> bool {
        path.starts_with(&self.path)
    }

    /// The child of this split node that `path` falls in.
    fn child_of<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.get(..self.path.len() + self.fanout?)
    }
}

/// How a change's account finds its leaf (a node read for it, or one of the nodes read).
enum Found<'n> {
    /// The leaf whose path starts its hash.
    Leaf(Cow<'n, Node>),
    /// A split node whose child for it does not exist yet (a split cut short).
    Unfinished(Cow<'n, Node>),
    /// No node covers it: a split cut short, further up (found by reading the group).
    Gap,
    /// The group has no node at all.
    Empty,
}

/// One membership to add or remove.
#[derive(Debug, Clone)]
struct Change {
    path: String,
    account: String,
    id: AccountId,
    add: bool,
}

/// What [`Store::apply_member_changes`] changed: how many memberships it added (not stored
/// before) and removed (stored before), and the write units that cost (each item written costs
/// one per KB of the larger of before and after; twice in a transaction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipsApplied {
    pub added: u64,
    pub removed: u64,
    pub write_units: u64,
    /// The memberships added, when asked for ([`MemberChanges::listing_added`]); else empty.
    pub added_memberships: Vec<Membership>,
}

impl std::ops::AddAssign for MembershipsApplied {
    fn add_assign(&mut self, other: Self) {
        self.added += other.added;
        self.removed += other.removed;
        self.write_units += other.write_units;
        self.added_memberships.extend(other.added_memberships);
    }
}

type MembersChanged = MembershipsApplied;

/// DynamoDB's size of a number: about one byte per two significant digits, plus one.
fn number_bytes(n: u64) -> usize {
    n.to_string().len().div_ceil(2) + 1
}

/// Write units of an item of `bytes`.
fn units(bytes: usize) -> u64 {
    bytes.div_ceil(UNIT_BYTES).max(1) as u64
}

/// The nodes of one group, where they are stored.
struct Trie<'a> {
    store: &'a Store,
    tenant: &'a TenantId,
    group: &'a GroupId,
    partition: PartitionKey,
}

impl<'a> Trie<'a> {
    fn new(store: &'a Store, tenant: &'a TenantId, group: &'a GroupId) -> Self {
        Self {
            store,
            tenant,
            group,
            partition: keys::group_members_partition(tenant, group),
        }
    }

    fn key(&self, path: &str) -> Key {
        keys::membership_node(self.tenant, self.group, path)
    }

    /// DynamoDB's size of `node`'s item (attribute names and values).
    fn bytes(&self, node: &Node) -> usize {
        let key = self.key(&node.path);
        let mut size = PK.len() + key.pk().len() + SK.len() + key.sk().len();
        if !node.members.is_empty() {
            size += MEMBERS.len() + node.members.iter().map(String::len).sum::<usize>();
        }
        size += VERSION.len() + number_bytes(node.version);
        if let Some(k) = node.fanout {
            size += FANOUT.len() + number_bytes(k as u64);
        }
        size
    }

    fn fits(&self, node: &Node) -> bool {
        self.bytes(node) <= UNIT_BYTES
    }

    /// The nodes that hold `members` under `path`, parent first: one leaf when they fit in a
    /// write unit, else a split node (holding none) and its 2^k children, each planned alike,
    /// so that a child holds about three quarters of a write unit (room to grow before it
    /// splits; the few that hash fuller split again).
    fn plan(&self, path: String, members: BTreeSet<String>, out: &mut Vec<Node>) {
        let leaf = Node::leaf(path, members);
        if self.fits(&leaf) || leaf.path.len() >= HASH_BITS {
            out.push(leaf);
            return;
        }
        let Node { path, members, .. } = leaf;
        let empty = self.bytes(&Node::leaf(path.clone(), BTreeSet::new()));
        let id_bytes = members.iter().map(String::len).max().unwrap_or(36).max(1);
        let per_child = ((UNIT_BYTES.saturating_sub(empty)) / id_bytes * 3 / 4).max(1);
        let wanted = members.len().div_ceil(per_child).max(2);
        let fanout = (wanted.next_power_of_two().trailing_zeros() as usize)
            .clamp(1, MAX_FANOUT)
            .min(HASH_BITS - path.len());
        out.push(Node {
            path: path.clone(),
            members: BTreeSet::new(),
            version: 1,
            fanout: Some(fanout),
        });
        let mut children: BTreeMap<String, BTreeSet<String>> = (0..1usize << fanout)
            .map(|n| (format!("{path}{n:0fanout$b}"), BTreeSet::new()))
            .collect();
        for member in members {
            let child = hash_path(&member)[..path.len() + fanout].to_owned();
            children.entry(child).or_default().insert(member);
        }
        for (child, members) in children {
            self.plan(child, members, out);
        }
    }

    fn item(&self, node: &Node) -> Item {
        let key = self.key(&node.path);
        let mut item = Item::from([
            (PK.to_owned(), AttributeValue::S(key.pk().to_owned())),
            (SK.to_owned(), AttributeValue::S(key.sk().to_owned())),
            (
                VERSION.to_owned(),
                AttributeValue::N(node.version.to_string()),
            ),
        ]);
        if !node.members.is_empty() {
            item.insert(
                MEMBERS.to_owned(),
                AttributeValue::Ss(node.members.iter().cloned().collect()),
            );
        }
        if let Some(k) = node.fanout {
            item.insert(FANOUT.to_owned(), AttributeValue::N(k.to_string()));
        }
        item
    }

    /// Writes `node` if `expect` holds; `false`, with nothing written, when it does not.
    async fn put(&self, node: &Node, expect: Expect) -> Result<bool, StoreError> {
        self.store
            .put_item_when(self.item(node), expect.condition())
            .await
    }

    /// Writes `nodes` (at most [`TRANSACTION_ITEMS`]) at once or not at all: the first if
    /// `first` holds, each other only if new. `false`, with nothing written, when a condition
    /// fails or another transaction holds one of them. One node is a plain conditional put.
    async fn transact(&self, nodes: &[Node], first: Expect) -> Result<bool, StoreError> {
        if let [node] = nodes {
            return self.put(node, first).await;
        }
        let mut items = Vec::with_capacity(nodes.len());
        for (at, node) in nodes.iter().enumerate() {
            let (expression, names, values) = if at == 0 { first } else { Expect::New }
                .condition()
                .into_parts();
            let put = Put::builder()
                .table_name(&self.store.table)
                .set_item(Some(self.item(node)))
                .condition_expression(expression)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(values)
                .build()
                .map_err(|err| StoreError::aws("TransactWriteItems", super::build_failure(err)))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self
            .store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => {
                let refused = err
                    .as_service_error()
                    .and_then(|err| match err {
                        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                            Some(cancelled.cancellation_reasons().iter().any(|reason| {
                                matches!(
                                    reason.code(),
                                    Some("ConditionalCheckFailed" | "TransactionConflict")
                                )
                            }))
                        }
                        _ => None,
                    })
                    .unwrap_or(false);
                if refused {
                    Ok(false)
                } else {
                    Err(StoreError::aws("TransactWriteItems", classify(err)))
                }
            }
        }
    }

    /// Writes planned new nodes, parent first, in transactions of [`TRANSACTION_ITEMS`]; a
    /// transaction refused because a node exists already (a concurrent writer's) is written node
    /// by node instead, each only if new, and what exists is left with what was planned under
    /// it. Answers the write units spent.
    async fn create(&self, planned: &[Node]) -> Result<u64, StoreError> {
        let mut spent = 0;
        let mut skipped: Vec<String> = Vec::new();
        for chunk in planned.chunks(TRANSACTION_ITEMS) {
            let chunk: Vec<Node> = chunk
                .iter()
                .filter(|node| !skipped.iter().any(|path| node.path.starts_with(path)))
                .cloned()
                .collect();
            if chunk.is_empty() {
                continue;
            }
            let factor = if chunk.len() > 1 { 2 } else { 1 };
            spent += factor * chunk.iter().map(|n| units(self.bytes(n))).sum::<u64>();
            if self.transact(&chunk, Expect::New).await? {
                continue;
            }
            for node in &chunk {
                if skipped.iter().any(|path| node.path.starts_with(path)) {
                    continue;
                }
                spent += units(self.bytes(node));
                if !self.put(node, Expect::New).await? {
                    skipped.push(node.path.clone());
                }
            }
        }
        Ok(spent)
    }

    /// A strongly consistent `Query` of the group's nodes at or before `path`, greatest first.
    fn backwards_from(&self, path: &str) -> QueryFluentBuilder {
        self.store
            .client
            .query()
            .table_name(&self.store.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(self.partition.to_string()))
            .expression_attribute_values(":lo", AttributeValue::S(self.key("").sk().to_owned()))
            .expression_attribute_values(":hi", AttributeValue::S(self.key(path).sk().to_owned()))
            .scan_index_forward(false)
            .consistent_read(true)
    }

    /// The node with the greatest path at or before `path` (strongly consistent).
    async fn locate(&self, path: &str) -> Result<Option<Node>, StoreError> {
        let output = self
            .backwards_from(path)
            .limit(1)
            .send()
            .await
            .map_err(|err| StoreError::aws("Query", classify(err)))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(node_of)
            .transpose()
            .map(|node| node.map(|(_, node)| node))
    }

    /// Every node of the group, in path order; a leaf none of `touched` falls in is read without
    /// its members (they are not needed to place changes).
    async fn nodes(&self, touched: &[String]) -> Result<Vec<Node>, StoreError> {
        let prefix = keys::group_members_prefix(self.group);
        let mut items = pin!(self.store.query_items(
            &self.partition,
            SortKeys::Prefix(prefix),
            false
        ));
        let mut nodes = Vec::new();
        while let Some(item) = items.try_next().await? {
            let (_, node) = node_of(item)?;
            nodes.push(members_if_touched(node, touched));
        }
        Ok(nodes)
    }

    /// The nodes from the one at or before the first of `touched` (sorted) to the last of them,
    /// in path order: every node a change among `touched` can fall in, unless a split cut short
    /// left a gap (then [`Self::nodes`]). One `Query`, backwards from the last, that stops at the
    /// first node at or before the first. `None` when that stretch holds more than `at_most`
    /// nodes: changes that sparse in a large group are located one by one, which reads less.
    async fn nodes_around(
        &self,
        touched: &[String],
        at_most: usize,
    ) -> Result<Option<Vec<Node>>, StoreError> {
        let (Some(first), Some(last)) = (touched.first(), touched.last()) else {
            return Ok(Some(Vec::new()));
        };
        let mut nodes = Vec::new();
        let mut next = None;
        loop {
            let output = self
                .backwards_from(last)
                .limit(i32::try_from(at_most + 1 - nodes.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(next)
                .send()
                .await
                .map_err(|err| StoreError::aws("Query", classify(err)))?;
            for item in output.items.unwrap_or_default() {
                let (_, node) = node_of(item)?;
                let node = members_if_touched(node, touched);
                let reached = node.path.as_str() <= first.as_str();
                nodes.push(node);
                if reached {
                    nodes.reverse();
                    return Ok(Some(nodes));
                }
            }
            if nodes.len() > at_most {
                return Ok(None);
            }
            next = output.last_evaluated_key.filter(|key| !key.is_empty());
            if next.is_none() {
                // No node at or before the first: the group has none there (read it whole).
                nodes.reverse();
                return Ok(Some(nodes));
            }
        }
    }

    /// Finishes a split cut short: writes each missing child of `split` from the members it
    /// kept, then empties it. Answers the units spent.
    async fn finish_split(&self, split: &Node, fresh: bool) -> Result<u64, StoreError> {
        let Some(fanout) = split.fanout else {
            return Ok(0);
        };
        let depth = split.path.len() + fanout;
        let existing: HashSet<String> = if fresh {
            HashSet::new()
        } else {
            let prefix = self.key(&split.path).sk().to_owned();
            self.store
                .query_keys(&self.partition, Some(&prefix))
                .try_filter_map(|key| {
                    let path = key.sk().get(prefix.len() - split.path.len()..);
                    futures::future::ready(Ok(path
                        .filter(|path| path.len() == depth)
                        .map(str::to_owned)))
                })
                .try_collect()
                .await?
        };
        let mut shares: BTreeMap<String, BTreeSet<String>> = (0..1usize << fanout)
            .map(|n| (format!("{}{n:0fanout$b}", split.path), BTreeSet::new()))
            .filter(|(child, _)| !existing.contains(child))
            .collect();
        for member in &split.members {
            if let Some(share) = shares.get_mut(&hash_path(member)[..depth]) {
                share.insert(member.clone());
            }
        }
        let mut planned = Vec::new();
        for (child, members) in shares {
            self.plan(child, members, &mut planned);
        }
        let mut spent = self.create(&planned).await?;
        if !split.members.is_empty() {
            let emptied = Node {
                members: BTreeSet::new(),
                version: split.version + 1,
                ..split.clone()
            };
            spent += units(self.bytes(split));
            self.put(&emptied, Expect::Version(split.version)).await?;
        }
        Ok(spent)
    }

    /// Applies `changes` to one leaf read at `leaf.version`: one conditional write, or, when
    /// the leaf outgrows a write unit, its split. `None` when a concurrent writer changed the
    /// leaf first (read it again).
    async fn write_leaf(
        &self,
        leaf: Node,
        changes: &[Change],
        list: bool,
    ) -> Result<Option<MembersChanged>, StoreError> {
        let mut members = leaf.members.clone();
        let mut done = MembersChanged::default();
        for change in changes {
            if change.add && members.insert(change.account.clone()) {
                done.added += 1;
                if list {
                    done.added_memberships.push(Membership {
                        group_id: self.group.clone(),
                        account_id: change.id.clone(),
                    });
                }
            } else if !change.add && members.remove(&change.account) {
                done.removed += 1;
            }
        }
        if members == leaf.members {
            return Ok(Some(done));
        }
        let mut next = Node {
            members,
            version: leaf.version + 1,
            ..leaf.clone()
        };
        if self.fits(&next) || next.path.len() >= HASH_BITS {
            done.write_units = units(self.bytes(&leaf).max(self.bytes(&next)));
            return Ok(self
                .put(&next, Expect::Leaf(leaf.version))
                .await?
                .then_some(done));
        }
        // Outgrown: the leaf becomes a split node over children that hold its members.
        let mut planned = Vec::new();
        self.plan(next.path.clone(), next.members.clone(), &mut planned);
        planned[0].version = next.version;
        if planned.len() <= TRANSACTION_ITEMS {
            // At once: the split node and its children in one transaction (twice the units).
            done.write_units = 2 * units(self.bytes(&leaf).max(self.bytes(&planned[0])))
                + 2 * planned[1..]
                    .iter()
                    .map(|n| units(self.bytes(n)))
                    .sum::<u64>();
            return Ok(self
                .transact(&planned, Expect::Leaf(leaf.version))
                .await?
                .then_some(done));
        }
        // Too many for one transaction: mark the leaf split, keeping its members, then write
        // the children, then empty it; a writer that finds it half done finishes it.
        next.fanout = planned[0].fanout;
        done.write_units = units(self.bytes(&leaf).max(self.bytes(&next)));
        if !self.put(&next, Expect::Leaf(leaf.version)).await? {
            return Ok(None);
        }
        done.write_units += self.finish_split(&next, true).await?;
        Ok(Some(done))
    }
}

/// What a conditional node write expects of the item there.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// No item.
    New,
    /// A leaf (not split) at this version.
    Leaf(u64),
    /// Any node at this version.
    Version(u64),
}

impl Expect {
    fn condition(self) -> Condition {
        let version = |v: u64| AttributeValue::N(v.to_string());
        match self {
            Expect::New => Condition::new("attribute_not_exists(#pk)"),
            Expect::Leaf(v) => Condition::new("#v = :v AND attribute_not_exists(#k)")
                .name("#v", VERSION)
                .name("#k", FANOUT)
                .value(":v", version(v)),
            Expect::Version(v) => Condition::new("#v = :v")
                .name("#v", VERSION)
                .value(":v", version(v)),
        }
    }
}

/// `node` without its members when it is a leaf none of `touched` (sorted) falls in: placing
/// changes needs only the members of the leaves they fall in.
fn members_if_touched(mut node: Node, touched: &[String]) -> Node {
    let at = touched.partition_point(|path| path.as_str() < node.path.as_str());
    let in_it = touched.get(at).is_some_and(|path| node.covers(path));
    if !in_it && node.fanout.is_none() {
        node.members.clear();
    }
    node
}

/// How a change's hash `path` finds its leaf among a group's `nodes` (in path order).
fn find<'n>(nodes: &'n [Node], path: &str) -> Found<'n> {
    if nodes.is_empty() {
        return Found::Empty;
    }
    let at = nodes.partition_point(|node| node.path.as_str() <= path);
    let Some(node) = at.checked_sub(1).map(|at| &nodes[at]) else {
        return Found::Gap;
    };
    classify_found(Some(Cow::Borrowed(node)), path)
}

fn classify_found<'n>(node: Option<Cow<'n, Node>>, path: &str) -> Found<'n> {
    match node {
        None => Found::Empty,
        Some(node) if !node.covers(path) => Found::Gap,
        Some(node) if node.fanout.is_some() => Found::Unfinished(node),
        Some(node) => Found::Leaf(node),
    }
}

/// The deepest split node among `nodes` whose path starts `path` (the split cut short above a
/// gap).
fn split_above<'n>(nodes: &'n [Node], path: &str) -> Option<&'n Node> {
    nodes
        .iter()
        .filter(|node| node.fanout.is_some() && node.covers(path))
        .max_by_key(|node| node.path.len())
}

impl Store {
    /// Places and writes at most [`SLICE`] changes of one group, each of another account, in
    /// hash order, as one writer among others: each touched leaf is written over the version
    /// read, a leaf that outgrows a write unit splits, and a change that lost a race with
    /// another writer is placed again. A few changes are located leaf by leaf; more, by reading
    /// the nodes from the first change's leaf to the last change's (the whole group only when a
    /// split cut short leaves a gap there).
    async fn change_slice(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        mut pending: Vec<Change>,
        list: bool,
    ) -> Result<MembersChanged, StoreError> {
        let trie = Trie::new(self, tenant, group);
        let mut done = MembersChanged::default();
        let mut read_whole = false;
        for _ in 0..ROUNDS {
            if pending.is_empty() {
                return Ok(done);
            }
            pending.sort_by(|a, b| a.path.cmp(&b.path));
            let touched = || pending.iter().map(|c| c.path.clone()).collect::<Vec<_>>();
            let nodes = if read_whole {
                Some(trie.nodes(&touched()).await?)
            } else if pending.len() > LOCATE_AT_MOST {
                let at_most = NODES_PER_CHANGE * pending.len();
                trie.nodes_around(&touched(), at_most).await?
            } else {
                None
            };
            let found: Vec<Found<'_>> = match &nodes {
                Some(nodes) => pending.iter().map(|c| find(nodes, &c.path)).collect(),
                None => {
                    let locating: Vec<_> = pending.iter().map(|c| trie.locate(&c.path)).collect();
                    let located = futures::stream::iter(locating)
                        .buffered(LEAF_WRITES)
                        .try_collect::<Vec<_>>()
                        .await?;
                    located
                        .into_iter()
                        .zip(&pending)
                        .map(|(node, change)| classify_found(node.map(Cow::Owned), &change.path))
                        .collect()
                }
            };
            let mut by_leaf: BTreeMap<String, (Node, Vec<Change>)> = BTreeMap::new();
            let mut unfinished: BTreeMap<String, Node> = BTreeMap::new();
            let mut empty = Vec::new();
            let mut waiting = Vec::new();
            for (found, change) in found.into_iter().zip(pending) {
                match found {
                    Found::Leaf(leaf) => match by_leaf.get_mut(&leaf.path) {
                        Some((_, changes)) => changes.push(change),
                        None => {
                            let leaf = leaf.into_owned();
                            by_leaf.insert(leaf.path.clone(), (leaf, vec![change]));
                        }
                    },
                    Found::Unfinished(split) => {
                        unfinished.insert(split.path.clone(), split.into_owned());
                        waiting.push(change);
                    }
                    Found::Gap => {
                        match nodes.as_deref().and_then(|n| split_above(n, &change.path)) {
                            Some(split) => {
                                unfinished.insert(split.path.clone(), split.clone());
                            }
                            None => read_whole = true,
                        }
                        waiting.push(change);
                    }
                    Found::Empty => empty.push(change),
                }
            }
            drop(nodes);
            if !empty.is_empty() {
                // The group has no node: its first members make its trie, root first.
                let members: BTreeSet<String> = empty
                    .iter()
                    .filter(|c| c.add)
                    .map(|c| c.account.clone())
                    .collect();
                let mut planned = Vec::new();
                trie.plan(String::new(), members.clone(), &mut planned);
                let first = &planned[..planned.len().min(TRANSACTION_ITEMS)];
                if members.is_empty() {
                    // Nothing to remove from a group with no member stored.
                } else if trie.transact(first, Expect::New).await? {
                    let factor = if first.len() > 1 { 2 } else { 1 };
                    done.write_units +=
                        factor * first.iter().map(|n| units(trie.bytes(n))).sum::<u64>();
                    done.write_units += trie.create(&planned[first.len()..]).await?;
                    for change in empty.iter().filter(|c| c.add) {
                        done.added += 1;
                        if list {
                            done.added_memberships.push(Membership {
                                group_id: group.clone(),
                                account_id: change.id.clone(),
                            });
                        }
                    }
                } else {
                    waiting.extend(empty);
                }
            }
            for split in unfinished.values() {
                done.write_units += trie.finish_split(split, false).await?;
            }
            let trie = &trie;
            let writing: Vec<_> = by_leaf
                .into_values()
                .map(|(leaf, changes)| async move {
                    let outcome = trie.write_leaf(leaf, &changes, list).await?;
                    Ok::<_, StoreError>((outcome, changes))
                })
                .collect();
            let written: Vec<(Option<MembersChanged>, Vec<Change>)> =
                futures::stream::iter(writing)
                    .buffer_unordered(LEAF_WRITES)
                    .try_collect()
                    .await?;
            for (outcome, changes) in written {
                match outcome {
                    Some(changed) => done += changed,
                    None => waiting.extend(changes),
                }
            }
            pending = waiting;
        }
        Err(StoreError::Contended {
            what: format!("the members of group {group}"),
            attempts: ROUNDS as u32,
        })
    }

    /// The stored members of `group`, as memberships, reading the group's items in key order.
    pub fn group_members(
        &self,
        tenant: &TenantId,
        group: &GroupId,
    ) -> impl Stream<Item = Result<Membership, StoreError>> + Send + 'static + use<> {
        let partition = keys::group_members_partition(tenant, group);
        let prefix = keys::group_members_prefix(group);
        assemble(self.query_items(&partition, SortKeys::Prefix(prefix), false))
    }

    /// Every stored membership of the tenant, shard by shard, one page in memory at a time.
    pub fn memberships(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<Membership, StoreError>> + Send + 'static + use<> {
        let store = self.clone();
        futures::stream::iter(keys::membership_partitions(tenant))
            .map(move |partition| assemble(store.query_items(&partition, SortKeys::All, false)))
            .flatten()
    }

    /// Which of `memberships` are stored: each located in its leaf (one Query), or, for a group
    /// asked about more than a few, by reading the group's members.
    pub async fn stored_memberships(
        &self,
        tenant: &TenantId,
        memberships: &[Membership],
    ) -> Result<HashSet<Membership>, StoreError> {
        let mut by_group: BTreeMap<&GroupId, HashSet<&AccountId>> = BTreeMap::new();
        for m in memberships {
            by_group
                .entry(&m.group_id)
                .or_default()
                .insert(&m.account_id);
        }
        let asking: Vec<_> = by_group
            .into_iter()
            .map(|(group, accounts)| self.stored_in_group(tenant, group, accounts))
            .collect();
        let found: Vec<Vec<Membership>> = futures::stream::iter(asking)
            .buffer_unordered(LEAF_WRITES)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn stored_in_group(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        accounts: HashSet<&AccountId>,
    ) -> Result<Vec<Membership>, StoreError> {
        let as_membership = |account: &AccountId| Membership {
            group_id: group.clone(),
            account_id: account.clone(),
        };
        if accounts.len() <= LOCATE_AT_MOST {
            let trie = Trie::new(self, tenant, group);
            let mut stored = Vec::new();
            let mut settled = true;
            for account in &accounts {
                let path = hash_path(account.as_str());
                match classify_found(trie.locate(&path).await?.map(Cow::Owned), &path) {
                    Found::Leaf(leaf) => {
                        if leaf.members.contains(account.as_str()) {
                            stored.push(as_membership(account));
                        }
                    }
                    Found::Empty => {}
                    Found::Unfinished(_) | Found::Gap => settled = false,
                }
            }
            if settled {
                return Ok(stored);
            }
        }
        self.group_members(tenant, group)
            .try_filter(|m| futures::future::ready(accounts.contains(&m.account_id)))
            .try_collect()
            .await
    }

    /// Adds `memberships` (what Graph answered), group by group; answers how many were new.
    pub async fn add_memberships(
        &self,
        tenant: &TenantId,
        memberships: &[Membership],
    ) -> Result<usize, StoreError> {
        let changed = self
            .change_memberships(tenant, memberships.iter().map(|m| (m, true)), 4)
            .await?;
        Ok(changed.added as usize)
    }

    /// Removes `memberships`, group by group; answers how many were stored.
    pub async fn remove_memberships(
        &self,
        tenant: &TenantId,
        memberships: &[Membership],
    ) -> Result<usize, StoreError> {
        let changed = self
            .change_memberships(tenant, memberships.iter().map(|m| (m, false)), 4)
            .await?;
        Ok(changed.removed as usize)
    }

    /// Deletes every item of `group`'s members; answers how many members they held (the group
    /// is read once: its nodes' keys, and their members counted as a reader counts them).
    pub(crate) async fn delete_group_members(
        &self,
        tenant: &TenantId,
        group: &GroupId,
    ) -> Result<usize, StoreError> {
        let partition = keys::group_members_partition(tenant, group);
        let prefix = keys::group_members_prefix(group);
        let mut items = pin!(self.query_items(&partition, SortKeys::Prefix(prefix), false));
        let (mut reader, mut out) = (Members::default(), Vec::new());
        let (mut members, mut nodes) = (0, Vec::new());
        while let Some(item) = items.try_next().await? {
            let (_, node) = node_of(item)?;
            nodes.push(keys::membership_node(tenant, group, &node.path));
            reader.feed(node, &mut out);
            members += out.len();
            out.clear();
        }
        reader.finish(&mut out);
        members += out.len();
        self.batch_delete(nodes).await?;
        Ok(members)
    }
}

#[cfg(test)]
mod tests;
