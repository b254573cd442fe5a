//! Membership changes gathered before they are written, and their writing group by group in
//! the order of the members' hashes.
//!
//! Why: a sync's delta page can bring one group's 200,000 members in 40 parts. Written part by
//! part, each part falls all over the group's trie and rewrites most of its leaves (about one
//! write unit per member, as if unpacked). Gathered (17 bytes a change) and written in hash
//! order, a run of changes fills one stretch of the trie, so each leaf is written about once,
//! and a slice reads only the nodes of its stretch.

use std::collections::BTreeMap;

use futures::{StreamExt as _, TryStreamExt as _};

use super::{Change, MembershipsApplied, SLICE, hash_bits, hash_text};
use crate::ids::{AccountId, GroupId, TenantId};
use crate::model::Membership;
use crate::store::{Store, StoreError};

/// Membership changes to write together ([`Store::apply_member_changes`]): adds (`true`) and
/// removals, 17 bytes each in memory. Within a group the last change of an account wins.
#[derive(Debug, Default)]
pub struct MemberChanges {
    groups: BTreeMap<GroupId, Vec<([u8; 16], bool)>>,
    len: usize,
    list_added: bool,
}

impl MemberChanges {
    /// Changes whose writing also lists the memberships it added
    /// ([`MembershipsApplied::added_memberships`]).
    pub fn listing_added() -> Self {
        Self {
            list_added: true,
            ..Self::default()
        }
    }

    pub fn push(&mut self, membership: &Membership, add: bool) {
        self.push_ids(&membership.group_id, &membership.account_id, add);
    }

    fn push_ids(&mut self, group: &GroupId, account: &AccountId, add: bool) {
        let change = (account.to_bytes(), add);
        match self.groups.get_mut(group) {
            Some(changes) => changes.push(change),
            None => {
                self.groups.insert(group.clone(), vec![change]);
            }
        }
        self.len += 1;
    }

    /// Drops the changes held of `group` (a group removed since they came).
    pub fn forget_group(&mut self, group: &GroupId) {
        if let Some(dropped) = self.groups.remove(group) {
            self.len -= dropped.len();
        }
    }

    /// The changes held, leaving none (and the same choice of listing).
    pub fn take(&mut self) -> Self {
        let empty = Self {
            list_added: self.list_added,
            ..Self::default()
        };
        std::mem::replace(self, empty)
    }

    /// Changes held (an account changed twice counts twice).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<'m> Extend<(&'m Membership, bool)> for MemberChanges {
    fn extend<I: IntoIterator<Item = (&'m Membership, bool)>>(&mut self, changes: I) {
        for (membership, add) in changes {
            self.push(membership, add);
        }
    }
}

/// One group's changes in the order of their hashes, the last change of each account only.
fn in_hash_order(changes: Vec<([u8; 16], bool)>) -> Vec<(u64, [u8; 16], bool)> {
    let mut ordered: Vec<(u64, [u8; 16], bool)> = changes
        .into_iter()
        .map(|(id, add)| (hash_bits(AccountId::from_bytes(id).as_str()), id, add))
        .collect();
    // Stable: an account's changes keep the order they came in.
    ordered.sort_by_key(|(hash, id, _)| (*hash, *id));
    ordered.dedup_by(|later, kept| {
        let same = later.1 == kept.1;
        if same {
            kept.2 = later.2;
        }
        same
    });
    ordered
}

impl Store {
    /// Writes `changes`, `concurrency` groups at a time; answers which changed the store: an
    /// added membership not stored before, a removed one stored before. Each group's changes
    /// are placed in slices of neighbouring hashes, one slice after another (a leaf is written
    /// about once however the changes came); each touched leaf is written over the version read,
    /// so another writer's change to the same group is never lost. What a sync writes of a
    /// page's memberships (it compares and writes in one pass).
    pub async fn apply_member_changes(
        &self,
        tenant: &TenantId,
        changes: MemberChanges,
        concurrency: usize,
    ) -> Result<MembershipsApplied, StoreError> {
        let list = changes.list_added;
        let writing = changes
            .groups
            .into_iter()
            .map(|(group, changes)| async move {
                let mut done = MembershipsApplied::default();
                let ordered = in_hash_order(changes);
                for slice in ordered.chunks(SLICE) {
                    let slice = slice
                        .iter()
                        .map(|(hash, id, add)| {
                            let id = AccountId::from_bytes(*id);
                            Change {
                                path: hash_text(*hash),
                                account: id.to_string(),
                                id,
                                add: *add,
                            }
                        })
                        .collect();
                    done += self.change_slice(tenant, &group, slice, list).await?;
                }
                Ok::<_, StoreError>(done)
            });
        futures::stream::iter(writing)
            .buffer_unordered(concurrency.max(1))
            .try_fold(MembershipsApplied::default(), |mut total, done| {
                total += done;
                futures::future::ready(Ok(total))
            })
            .await
    }

    /// Adds and removes memberships of one group (`true`: add); see
    /// [`Self::apply_member_changes`].
    pub(crate) async fn change_members(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        changes: Vec<(AccountId, bool)>,
    ) -> Result<MembershipsApplied, StoreError> {
        let mut gathered = MemberChanges::default();
        for (account, add) in &changes {
            gathered.push_ids(group, account, *add);
        }
        self.apply_member_changes(tenant, gathered, 1).await
    }

    /// Adds (`true`) and removes memberships of any groups, `concurrency` groups at a time.
    pub(crate) async fn change_memberships<'m>(
        &self,
        tenant: &TenantId,
        changes: impl IntoIterator<Item = (&'m Membership, bool)>,
        concurrency: usize,
    ) -> Result<MembershipsApplied, StoreError> {
        let mut gathered = MemberChanges::default();
        gathered.extend(changes);
        self.apply_member_changes(tenant, gathered, concurrency)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u32) -> AccountId {
        AccountId::parse(&format!("0b9f1c2e-0000-4000-8000-{n:012}")).unwrap()
    }

    #[test]
    fn given_changes_of_two_groups_when_one_is_forgotten_then_only_the_others_stay_held() {
        // GIVEN changes of two groups held
        let groups = [
            GroupId::parse("0b9f1c2e-0000-4000-8000-00000000000a").unwrap(),
            GroupId::parse("0b9f1c2e-0000-4000-8000-00000000000b").unwrap(),
        ];
        let mut changes = MemberChanges::listing_added();
        for (n, group) in (0..5).flat_map(|n| groups.iter().map(move |g| (n, g))) {
            let membership = Membership {
                group_id: group.clone(),
                account_id: account(n),
            };
            changes.push(&membership, true);
        }
        assert_eq!(changes.len(), 10);
        // WHEN the first group is forgotten (removed since its members came)
        changes.forget_group(&groups[0]);
        // THEN only the second group's changes are held, and taking them keeps the listing
        assert_eq!(changes.len(), 5);
        let taken = changes.take();
        assert!(changes.is_empty() && changes.list_added);
        assert_eq!(taken.groups.keys().collect::<Vec<_>>(), vec![&groups[1]]);
    }

    #[test]
    fn given_changes_of_one_account_when_ordered_then_its_last_change_wins_and_hashes_ascend() {
        // GIVEN an account added, removed and added again among others
        let mut changes: Vec<([u8; 16], bool)> =
            (0..50).map(|n| (account(n).to_bytes(), true)).collect();
        changes.push((account(7).to_bytes(), false));
        changes.push((account(9).to_bytes(), false));
        changes.push((account(9).to_bytes(), true));
        // WHEN they are put in hash order
        let ordered = in_hash_order(changes);
        // THEN each account comes once, with its last change, in ascending hashes
        assert_eq!(ordered.len(), 50);
        assert!(ordered.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        let change_of = |n: u32| {
            ordered
                .iter()
                .find(|(_, id, _)| *id == account(n).to_bytes())
                .map(|(_, _, add)| *add)
        };
        assert_eq!(change_of(7), Some(false));
        assert_eq!(change_of(9), Some(true));
        assert_eq!(change_of(8), Some(true));
    }
}
