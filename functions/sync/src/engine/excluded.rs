//! Memberships of accounts the tenant's sync settings leave out. The groups round writes a
//! member's membership without knowing whether the account is one the settings leave out: the
//! users round runs beside it, and a delta round does not even read an account that did not
//! change. Once the phases end, the memberships this invocation added are checked against the
//! stored accounts, and those of accounts left out go again (counted as never added).

use graph::{BatchRequest, User};
use lifecycle::AccountId;
use lifecycle::model::{LastSignIn, Membership};
use lifecycle::store::DirectoryItem;

use crate::convert::{self, Extras};

use super::*;

impl Engine<'_> {
    /// Whether the tenant's sync settings keep every account (the defaults): then no membership
    /// needs the check.
    pub(super) fn keeps_every_account(&self) -> bool {
        self.sync.kinds.accounts && self.sync.accounts == lifecycle::model::AccountFilter::default()
    }

    /// Remembers a membership the groups round writes as new, for
    /// [`Self::drop_excluded_additions`] (only while the settings leave some accounts out, and
    /// keep memberships at all).
    pub(super) fn note_added(&mut self, membership: &Membership) {
        if self.keeps_every_account() || !self.sync.kinds.memberships {
            return;
        }
        self.added_members
            .entry(membership.account_id.clone())
            .or_default()
            .push(membership.group_id.clone());
    }

    /// Removes the memberships this invocation added whose account the tenant's sync settings
    /// leave out, and takes them off the run's `added` count. An account is left out when it is
    /// not stored and either the users round left it out, or Graph's answer for it is one the
    /// settings leave out (or there is no such account). An account not stored yet that the
    /// settings keep (the users round has not reached it) keeps its memberships. One
    /// BatchGetItem per 100 accounts; one Graph read per account neither stored nor seen by the
    /// users round (in a delta round: a member added whose account did not change), 20 to a
    /// `$batch` request.
    pub(super) async fn drop_excluded_additions(&mut self) -> Result<(), SyncError> {
        let added = std::mem::take(&mut self.added_members);
        if added.is_empty() {
            return Ok(());
        }
        let tenant = self.tenant.tenant_id.clone();
        let accounts: Vec<AccountId> = added.keys().cloned().collect();
        let stored = self.store().stored_account_ids(&tenant, &accounts).await?;
        let (mut gone, mut unknown) = (Vec::new(), Vec::new());
        for (account, groups) in added {
            if stored.contains(&account) {
                continue;
            }
            if !self.sync.kinds.accounts || self.seen_left_out.contains(&account) {
                gone.extend(memberships_of(&account, &groups));
            } else {
                unknown.push((account, groups));
            }
        }
        for (account, groups) in self.left_out_in_graph(unknown).await? {
            gone.extend(memberships_of(&account, &groups));
        }
        if gone.is_empty() {
            return Ok(());
        }
        let _commit = self.ensure_same_connection().await?;
        let removed = self.store().delete_directory_items(&tenant, &gone).await? as u64;
        self.report.items_deleted += removed;
        let mut run = self.shared.lock().await;
        for counts in [
            &mut run.counts.memberships,
            &mut self.run.counts.memberships,
            &mut self.counted.memberships,
        ] {
            counts.added = counts.added.saturating_sub(removed);
        }
        Ok(())
    }

    /// Those of `accounts` (neither stored nor read by the users round) that Graph's answers
    /// show the tenant's sync settings leave out, or that Graph no longer has: `$batch` requests
    /// of 20 `GET /users/{id}`. An account whose answer does not convert stays (the users round
    /// skips it with a note).
    async fn left_out_in_graph(
        &mut self,
        accounts: Vec<(AccountId, Vec<lifecycle::GroupId>)>,
    ) -> Result<Vec<(AccountId, Vec<lifecycle::GroupId>)>, SyncError> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let steps = accounts
            .iter()
            .enumerate()
            .map(|(step, (account, _))| {
                BatchRequest::get_user(step.to_string(), account.as_str(), User::SELECT)
            })
            .collect();
        let mut answers = self.graph.look_up(steps).await?;
        let mut left_out = Vec::new();
        for (step, (account, groups)) in accounts.into_iter().enumerate() {
            let keeps = match answers.optional::<User>(&step.to_string())? {
                None => false,
                Some(user) => {
                    let extras = Extras {
                        last_sign_in: LastSignIn::Never,
                        mailbox: None,
                    };
                    convert::account(&user, None, extras)
                        .map_or(true, |read| self.sync.keeps(&read))
                }
            };
            if !keeps {
                left_out.push((account, groups));
            }
        }
        Ok(left_out)
    }
}

/// The memberships of `account` in `groups`, as items to delete.
fn memberships_of<'a>(
    account: &'a AccountId,
    groups: &'a [lifecycle::GroupId],
) -> impl Iterator<Item = DirectoryItem> + 'a {
    groups.iter().map(move |group| {
        DirectoryItem::Membership(Membership {
            group_id: group.clone(),
            account_id: account.clone(),
        })
    })
}
