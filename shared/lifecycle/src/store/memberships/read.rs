//! Reading a group's trie back: items to nodes, nodes (in key order) to members.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{Stream, StreamExt as _};

use super::{FANOUT, HASH_BITS, MAX_FANOUT, MEMBERS, Node, VERSION, hash_path};
use crate::ids::{AccountId, GroupId};
use crate::model::Membership;
use crate::store::StoreError;
use crate::store::item::{Item, PK, SK};

/// The group and node of a stored membership item.
pub(super) fn node_of(mut item: Item) -> Result<(GroupId, Node), StoreError> {
    let malformed = |item: &Item| {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(text)) => text.clone(),
            _ => String::new(),
        };
        StoreError::MalformedKey {
            pk: text(PK),
            sk: text(SK),
            expected: "a membership node ({group id}#{0/1 path})",
        }
    };
    let Some(AttributeValue::S(sk)) = item.get(SK) else {
        return Err(StoreError::MissingKey);
    };
    let parsed = sk.split_once('#').and_then(|(group, path)| {
        let group = GroupId::parse(group).ok()?;
        (path.len() <= HASH_BITS && path.bytes().all(|b| b == b'0' || b == b'1'))
            .then(|| (group, path.to_owned()))
    });
    let number = |value: Option<&AttributeValue>| match value {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let version = number(item.get(VERSION));
    let fanout = number(item.get(FANOUT)).map(|k| k as usize);
    let (Some((group, path)), Some(version)) = (parsed, version) else {
        return Err(malformed(&item));
    };
    // A split's children are 1 to MAX_FANOUT bits longer, within the hash's bits.
    if fanout.is_some_and(|k| k == 0 || k > MAX_FANOUT || path.len() + k > HASH_BITS) {
        return Err(malformed(&item));
    }
    let members = match item.remove(MEMBERS) {
        Some(AttributeValue::Ss(members)) => members.into_iter().collect(),
        None => BTreeSet::new(),
        Some(_) => return Err(malformed(&item)),
    };
    Ok((
        group,
        Node {
            path,
            members,
            version,
            fanout,
        },
    ))
}

/// Turns a group's nodes, read in path order, into its members: a leaf's members, and those a
/// split node kept for children that do not exist.
#[derive(Default)]
pub(super) struct Members {
    open: Vec<(Node, HashSet<String>)>,
}

impl Members {
    pub(super) fn feed(&mut self, node: Node, out: &mut Vec<String>) {
        while let Some((top, _)) = self.open.last() {
            if node.path.starts_with(&top.path) && node.path.len() > top.path.len() {
                break;
            }
            self.close(out);
        }
        if let Some((top, present)) = self.open.last_mut()
            && let Some(child) = top.child_of(&node.path)
        {
            present.insert(child.to_owned());
        }
        if node.fanout.is_some() {
            self.open.push((node, HashSet::new()));
        } else {
            out.extend(node.members);
        }
    }

    fn close(&mut self, out: &mut Vec<String>) {
        let Some((node, present)) = self.open.pop() else {
            return;
        };
        for member in &node.members {
            let path = hash_path(member);
            if node
                .child_of(&path)
                .is_none_or(|child| !present.contains(child))
            {
                out.push(member.clone());
            }
        }
    }

    pub(super) fn finish(&mut self, out: &mut Vec<String>) {
        while !self.open.is_empty() {
            self.close(out);
        }
    }
}

fn membership(group: &GroupId, account: &str) -> Result<Membership, StoreError> {
    let account_id = AccountId::parse(account).map_err(|_| StoreError::MalformedKey {
        pk: String::new(),
        sk: format!("{group}#…"),
        expected: "a membership node whose members are account ids",
    })?;
    Ok(Membership {
        group_id: group.clone(),
        account_id,
    })
}

/// The memberships of the membership items of one partition (or of one group's prefix), read in
/// key order.
pub(super) fn assemble(
    items: impl Stream<Item = Result<Item, StoreError>> + Send + 'static,
) -> impl Stream<Item = Result<Membership, StoreError>> + Send + 'static {
    struct State {
        group: Option<GroupId>,
        members: Members,
        ready: std::vec::IntoIter<Membership>,
    }
    let state = State {
        group: None,
        members: Members::default(),
        ready: Vec::new().into_iter(),
    };
    let items = Box::pin(items.map(Some).chain(futures::stream::once(async { None })));
    futures::stream::unfold((items, state), |(mut items, mut state)| async move {
        loop {
            if let Some(ready) = state.ready.next() {
                return Some((Ok(ready), (items, state)));
            }
            let next = items.next().await?;
            let mut out = Vec::new();
            let (group, node) = match next {
                Some(Ok(item)) => match node_of(item) {
                    Ok(parsed) => (Some(parsed.0), Some(parsed.1)),
                    Err(err) => return Some((Err(err), (items, state))),
                },
                Some(Err(err)) => return Some((Err(err), (items, state))),
                None => (None, None),
            };
            let finished = state.group.clone();
            if group != state.group {
                state.members.finish(&mut out);
                state.group = group;
            }
            let done: Result<Vec<Membership>, StoreError> = out
                .iter()
                .filter_map(|account| finished.as_ref().map(|g| membership(g, account)))
                .collect();
            let mut ready = match done {
                Ok(ready) => ready,
                Err(err) => return Some((Err(err), (items, state))),
            };
            if let (Some(node), Some(group)) = (node, state.group.clone()) {
                let mut out = Vec::new();
                state.members.feed(node, &mut out);
                for account in out {
                    match membership(&group, &account) {
                        Ok(m) => ready.push(m),
                        Err(err) => return Some((Err(err), (items, state))),
                    }
                }
            }
            state.ready = ready.into_iter();
        }
    })
}
