//! The groups round with `members@delta`: groups and memberships, full (compare, write,
//! sweep) or delta.

use std::collections::{HashMap, HashSet};
use std::pin::pin;

use futures::TryStreamExt as _;
use graph::{GraphError, GroupChange, MemberChange, RemovedReason};
use lifecycle::model::{Group, Membership};
use lifecycle::store::{DirectoryItem, DirectoryKind, MemberChanges};
use lifecycle::{AccountId, GroupId};

use crate::convert::{self};
use crate::state::{fingerprint, hash_str};

use super::rounds::read_ahead;
use super::writes::marked_group_deleted;
use super::*;

/// Member changes held back at most, across a delta page's parts (17 bytes each: about 4 MB).
const GATHERED_AT_MOST: usize = 250_000;

impl Engine<'_> {
    /// The groups delta round with memberships.
    pub(super) async fn groups_phase(
        &mut self,
        force_full: bool,
    ) -> Result<Option<String>, SyncError> {
        if !self.sync.kinds.groups {
            // The tenant's sync settings leave groups out: none is kept, nor any membership.
            self.purge(DirectoryKind::Groups).await?;
            self.purge(DirectoryKind::Memberships).await?;
            return Ok(None);
        }
        let mut plan = self.plan("groups", force_full).await?;
        if plan.done {
            return Ok(None);
        }
        loop {
            let mut sets = None;
            if plan.full {
                self.run.full = true;
                sets = Some(match self.resume_group_sets(plan.from.as_deref()).await? {
                    Some(sets) => sets,
                    None if plan.fresh => (StoredSet::default(), StoredSet::default()),
                    None => {
                        plan.from = None;
                        (
                            self.stored_groups().await?,
                            self.stored_memberships().await?,
                        )
                    }
                });
            }
            let round = self.groups_round(&plan, sets).await;
            if matches!(round, Ok(None)) && !self.sync.kinds.memberships {
                // The tenant's sync settings leave memberships out.
                self.purge(DirectoryKind::Memberships).await?;
            }
            match round {
                Err(SyncError::Graph(GraphError::ResyncRequired(detail))) if !plan.full => {
                    tracing::info!(tenant_id = %self.tenant.tenant_id, %detail, "groups delta link refused: full resync");
                    plan = RoundPlan {
                        from: None,
                        full: true,
                        done: false,
                        fresh: false,
                    };
                }
                other => return other,
            }
        }
    }

    pub(super) async fn groups_round(
        &mut self,
        plan: &RoundPlan,
        mut sets: Option<(StoredSet<u64>, StoredSet<()>)>,
    ) -> Result<Option<String>, SyncError> {
        let mut pages = pin!(self.graph.groups_delta_pages(plan.from.as_deref()));
        let mut fetched = pages.try_next().await;
        let mut gathered = if self.keeps_every_account() {
            MemberChanges::default()
        } else {
            MemberChanges::listing_added()
        };
        loop {
            let Some(page) = fetched? else {
                return Err(SyncError::RoundWithoutLink { resource: "groups" });
            };
            let complete = page.next_link.is_none();
            let more_of_page = page.more_of_page;
            let Some(link) = page.resume_link().map(str::to_owned) else {
                return Err(SyncError::RoundWithoutLink { resource: "groups" });
            };
            // The next page is read while this one is written and saved.
            let ahead = !complete && !self.out_of_time();
            let (applied, next) = futures::join!(
                self.apply_group_page(
                    page.changes,
                    sets.as_mut(),
                    &mut gathered,
                    (&link, complete, plan.full, more_of_page)
                ),
                read_ahead(&mut pages, ahead),
            );
            applied?;
            if complete {
                return Ok(None);
            }
            if self.out_of_time() {
                if let Some((groups, memberships)) = &sets {
                    self.save_unseen("groups", &link, &groups.unseen).await?;
                    self.save_unseen("memberships", &link, &memberships.unseen)
                        .await?;
                }
                return Ok(Some(link));
            }
            self.keep_lease().await?;
            fetched = match next {
                Some(next) => next,
                None => pages.try_next().await,
            };
        }
    }

    /// Applies one page (or part of a page) of the groups round: compares, writes, sweeps at
    /// the round's end, and saves the link to go on from (the link, whether the round is
    /// complete, whether full, whether more parts of this page follow).
    ///
    /// Member changes are held back in `gathered` until the page's last part is read (a part
    /// saves the page's own link, so a sync cut short reads the whole page again), or sooner
    /// when [`GATHERED_AT_MOST`] are held or time runs short: a group whose members come whole
    /// in one page then has each of its leaves written about once, not once a part.
    async fn apply_group_page(
        &mut self,
        changes: Vec<GroupChange>,
        mut sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
        gathered: &mut MemberChanges,
        (link, complete, full, more_of_page): (&str, bool, bool, bool),
    ) -> Result<(), SyncError> {
        let mut writes = Writes::default();
        self.group_page(changes, sets.as_deref_mut(), &mut writes)
            .await?;
        // A group removed after an earlier part of its page brought members: those go with it.
        for group in &writes.removed_groups {
            gathered.forget_group(group);
        }
        if self.sync.kinds.memberships {
            for (membership, add) in std::mem::take(&mut writes.member_changes) {
                gathered.push(&membership, add);
            }
        }
        let members = if !more_of_page || gathered.len() >= GATHERED_AT_MOST || self.out_of_time() {
            gathered.take()
        } else {
            MemberChanges::default()
        };
        self.apply_with_members(writes, members).await?;
        if complete && let Some((groups, memberships)) = sets {
            self.sweep_groups(&groups.unseen, &memberships.unseen)
                .await?;
        }
        self.save_round("groups", link, complete, full).await
    }

    pub(super) async fn stored_groups(&self) -> Result<StoredSet<u64>, SyncError> {
        let mut items = HashMap::new();
        let mut groups = pin!(self.store().groups(&self.tenant.tenant_id));
        while let Some(group) = groups.try_next().await? {
            items.insert(hash_str(group.id.as_str()), fingerprint(&group));
        }
        let unseen = items.keys().copied().collect();
        Ok(StoredSet { items, unseen })
    }

    pub(super) async fn stored_memberships(&self) -> Result<StoredSet<()>, SyncError> {
        let mut items = HashMap::new();
        let mut stored = pin!(self.store().memberships(&self.tenant.tenant_id));
        while let Some(membership) = stored.try_next().await? {
            items.insert(membership_hash(&membership), ());
        }
        let unseen = items.keys().copied().collect();
        Ok(StoredSet { items, unseen })
    }

    pub(super) async fn resume_group_sets(
        &self,
        link: Option<&str>,
    ) -> Result<Option<(StoredSet<u64>, StoredSet<()>)>, SyncError> {
        let Some(link) = link else {
            return Ok(None);
        };
        let (Some(unseen_groups), Some(unseen_memberships)) = (
            self.load_unseen("groups", link).await?,
            self.load_unseen("memberships", link).await?,
        ) else {
            return Ok(None);
        };
        let mut groups = self.stored_groups().await?;
        groups.unseen = unseen_groups;
        let mut memberships = self.stored_memberships().await?;
        memberships.unseen = unseen_memberships;
        Ok(Some((groups, memberships)))
    }

    pub(super) async fn group_page(
        &mut self,
        changes: Vec<GroupChange>,
        mut sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        // In a delta round every changed group is compared with its stored record.
        let stored: HashMap<String, Group> = if sets.is_none() {
            let ids: Vec<String> = changes
                .iter()
                .map(|change| match change {
                    GroupChange::Upserted { group, .. } => group.id.clone(),
                    GroupChange::Removed { id, .. } => id.clone(),
                })
                .collect();
            self.stored_groups_by_id(&ids).await?
        } else {
            HashMap::new()
        };
        for change in changes {
            match change {
                GroupChange::Upserted { group, members } => {
                    self.report.objects_read += 1 + members.len() as u64;
                    let old = stored.get(&group.id);
                    let record = match convert::group(&group, old) {
                        Ok(record) => record,
                        Err(error) => {
                            self.note(format!("a group was skipped: {error}"));
                            continue;
                        }
                    };
                    let group_id = record.id.clone();
                    let group_hash = hash_str(group_id.as_str());
                    let write = match sets.as_deref_mut() {
                        Some((groups, _)) => {
                            groups.unseen.remove(&group_hash);
                            let new = fingerprint(&record);
                            let old = groups.items.insert(group_hash, new);
                            // A big group comes on several pages: only its first showing counts.
                            let props_changed = old != Some(new);
                            match old {
                                None => self.run.counts.groups.added += 1,
                                Some(old) if old != new => self.run.counts.groups.changed += 1,
                                Some(_) => {}
                            }
                            props_changed
                        }
                        None => match old {
                            Some(old) if *old == record => false,
                            Some(old) if old.deleted => {
                                self.run.counts.groups.added += 1;
                                true
                            }
                            Some(_) => {
                                self.run.counts.groups.changed += 1;
                                true
                            }
                            None => {
                                self.run.counts.groups.added += 1;
                                true
                            }
                        },
                    };
                    if write {
                        writes.groups.push(record);
                    }
                    for member in members {
                        member_change(&group_id, member, sets.as_deref_mut(), writes);
                    }
                }
                GroupChange::Removed { id, reason } => {
                    let Ok(group_id) = GroupId::parse(&id) else {
                        continue;
                    };
                    writes.removed_groups.push(group_id.clone());
                    writes
                        .member_changes
                        .retain(|(m, _)| m.group_id != group_id);
                    let old = match sets.as_deref_mut() {
                        Some((groups, _)) => {
                            groups.unseen.remove(&hash_str(&id));
                            groups.items.remove(&hash_str(&id)).map(|_| None)
                        }
                        None => stored.get(&id).map(Some),
                    };
                    let Some(old) = old else {
                        continue;
                    };
                    self.run.counts.groups.removed += 1;
                    match (reason, old) {
                        (RemovedReason::Deleted, _) | (_, None) => {
                            writes.deletes.push(DirectoryItem::Group(group_id.clone()));
                        }
                        (_, Some(old)) => writes.groups.push(marked_group_deleted(old)),
                    }
                    self.remove_group_memberships(&group_id, sets.as_deref_mut(), writes)
                        .await?;
                }
            }
        }
        Ok(())
    }

    pub(super) async fn remove_group_memberships(
        &mut self,
        group_id: &GroupId,
        mut sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let mut stored = pin!(self.store().group_members(&self.tenant.tenant_id, group_id));
        while let Some(membership) = stored.try_next().await? {
            if let Some((_, memberships)) = sets.as_deref_mut() {
                let hash = membership_hash(&membership);
                memberships.unseen.remove(&hash);
                memberships.items.remove(&hash);
            }
            writes.member_changes.push((membership, false));
        }
        Ok(())
    }

    /// The stored groups among `ids` (BatchGetItem, 100 keys a request).
    pub(super) async fn stored_groups_by_id(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Group>, SyncError> {
        let ids: Vec<GroupId> = ids
            .iter()
            .filter_map(|id| GroupId::parse(id).ok())
            .collect();
        let found = self
            .store()
            .stored_groups(&self.tenant.tenant_id, &ids)
            .await?;
        Ok(found
            .into_values()
            .map(|group| (group.id.to_string(), group))
            .collect())
    }

    /// Marks unseen groups deleted and removes unseen memberships.
    pub(super) async fn sweep_groups(
        &mut self,
        unseen_groups: &HashSet<u64>,
        unseen_memberships: &HashSet<u64>,
    ) -> Result<(), SyncError> {
        let tenant = self.tenant.tenant_id.clone();
        let mut writes = Writes::default();
        if !unseen_groups.is_empty() {
            let mut groups = pin!(self.store().groups(&tenant));
            while let Some(group) = groups.try_next().await? {
                if !group.deleted && unseen_groups.contains(&hash_str(group.id.as_str())) {
                    self.run.counts.groups.removed += 1;
                    writes.groups.push(marked_group_deleted(&group));
                }
            }
        }
        if !unseen_memberships.is_empty() {
            let mut stored = pin!(self.store().memberships(&tenant));
            while let Some(membership) = stored.try_next().await? {
                if unseen_memberships.contains(&membership_hash(&membership)) {
                    self.run.counts.memberships.removed += 1;
                    writes.deletes.push(DirectoryItem::Membership(membership));
                }
            }
        }
        self.apply(writes).await
    }
}

/// A membership's hash in a full round's sets: of the text `{group id}#{account id}`, the text
/// the run's checkpoints have always hashed, so a set saved before still matches.
fn membership_hash(membership: &Membership) -> u64 {
    hash_str(&format!(
        "{}#{}",
        membership.group_id, membership.account_id
    ))
}

/// Notes one member change of a group: in a full round (with the stored sets) only one that
/// differs from what is stored, in a delta round every one (the store tells which changed it).
fn member_change(
    group_id: &GroupId,
    member: MemberChange,
    sets: Option<&mut (StoredSet<u64>, StoredSet<()>)>,
    writes: &mut Writes,
) {
    let (added, reference) = match member {
        MemberChange::Added(reference) => (true, reference),
        MemberChange::Removed(reference) => (false, reference),
    };
    // Only accounts are memberships here; nested groups, devices and apps are not.
    if reference.odata_type.is_some() && !reference.is_user() {
        return;
    }
    let Ok(account_id) = AccountId::parse(&reference.id) else {
        return;
    };
    let membership = Membership {
        group_id: group_id.clone(),
        account_id,
    };
    if let Some((_, memberships)) = sets {
        let hash = membership_hash(&membership);
        memberships.unseen.remove(&hash);
        if added && memberships.items.insert(hash, ()).is_some() {
            // Stored already: nothing to write.
            return;
        }
        if !added {
            memberships.items.remove(&hash);
        }
    }
    writes.member_changes.push((membership, added));
}
