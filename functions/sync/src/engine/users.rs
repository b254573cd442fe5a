//! The users round: accounts with their licenses, full (compare, write, sweep) or delta.

use std::collections::{HashMap, HashSet};
use std::pin::pin;

use futures::TryStreamExt as _;
use graph::{GraphError, RemovedReason, UserChange};
use lifecycle::AccountId;
use lifecycle::model::Account;
use lifecycle::store::DirectoryItem;

use crate::convert::{self, Extras};
use crate::state::{fingerprint, hash_str};

use super::rounds::read_ahead;
use super::writes::{count_licenses, license_hashes, marked_deleted};
use super::*;

/// An account's fingerprint for the full round's compare: every stored field but the last
/// sign-in, which the license refresh writes and the sync never changes (unless the tenant's sync
/// settings leave last sign-in out: then "not synced" is what belongs, and is compared).
fn account_fingerprint(account: &Account, sign_in_kept: bool) -> u64 {
    if !sign_in_kept {
        return fingerprint(account);
    }
    fingerprint(&Account {
        last_sign_in: lifecycle::model::LastSignIn::Never,
        ..account.clone()
    })
}

impl Engine<'_> {
    /// The users delta round. Returns the link to resume from when the budget ran out.
    pub(super) async fn users_phase(
        &mut self,
        force_full: bool,
    ) -> Result<Option<String>, SyncError> {
        let mut plan = self.plan("users", force_full).await?;
        if plan.done {
            return Ok(None);
        }
        loop {
            let mut sets = None;
            if plan.full {
                self.run.full = true;
                self.ensure_extras().await?;
                sets = Some(match self.resume_account_set(plan.from.as_deref()).await? {
                    Some(sets) => sets,
                    None if plan.fresh => StoredSet::default(),
                    None => {
                        plan.from = None;
                        self.stored_accounts().await?
                    }
                });
            }
            match self.users_round(&plan, sets).await {
                Err(SyncError::Graph(GraphError::ResyncRequired(detail))) if !plan.full => {
                    tracing::info!(tenant_id = %self.tenant.tenant_id, %detail, "users delta link refused: full resync");
                    // The stored link stays until the first page of the new round replaces it,
                    // so a crash in between still finds a round that needs its sweep.
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

    pub(super) async fn users_round(
        &mut self,
        plan: &RoundPlan,
        mut sets: Option<StoredSet<StoredAccount>>,
    ) -> Result<Option<String>, SyncError> {
        let mut pages = pin!(self.graph.users_delta_pages(plan.from.as_deref()));
        let mut fetched = pages.try_next().await;
        loop {
            let Some(page) = fetched? else {
                return Err(SyncError::RoundWithoutLink { resource: "users" });
            };
            self.report.objects_read += page.changes.len() as u64;
            let complete = page.next_link.is_none();
            let Some(link) = page.resume_link().map(str::to_owned) else {
                return Err(SyncError::RoundWithoutLink { resource: "users" });
            };
            // The next page is read while this one is written and saved.
            let ahead = !complete && !self.out_of_time();
            let (applied, next) = futures::join!(
                self.user_page(page.changes, sets.as_mut(), (&link, complete, plan.full)),
                read_ahead(&mut pages, ahead),
            );
            applied?;
            if complete {
                return Ok(None);
            }
            if self.out_of_time() {
                if let Some(sets) = &sets {
                    self.save_unseen("users", &link, &sets.unseen).await?;
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

    /// Applies one page of the users round: compares, writes, sweeps at the round's end, and
    /// saves the link to go on from (`at`: the link, whether the round is complete, whether full).
    async fn user_page(
        &mut self,
        changes: Vec<UserChange>,
        mut sets: Option<&mut StoredSet<StoredAccount>>,
        (link, complete, full): (&str, bool, bool),
    ) -> Result<(), SyncError> {
        let mut writes = Writes::default();
        match sets.as_deref_mut() {
            Some(sets) => self.full_user_page(changes, sets, &mut writes).await?,
            None => self.delta_user_page(changes, &mut writes).await?,
        }
        self.apply(writes).await?;
        if complete && let Some(sets) = sets {
            self.sweep_accounts(&sets.unseen).await?;
        }
        self.save_round("users", link, complete, full).await
    }

    /// Every stored account (id hash -> fingerprint), for a full round.
    pub(super) async fn stored_accounts(&self) -> Result<StoredSet<StoredAccount>, SyncError> {
        let mut items = HashMap::new();
        let mut accounts = pin!(self.store().accounts(&self.tenant.tenant_id));
        while let Some(account) = accounts.try_next().await? {
            items.insert(
                hash_str(account.id.as_str()),
                StoredAccount {
                    fingerprint: account_fingerprint(&account, self.sync.kinds.last_sign_in),
                    licenses: license_hashes(&account.licenses),
                },
            );
        }
        let unseen = items.keys().copied().collect();
        Ok(StoredSet { items, unseen })
    }

    /// In a continuation of a full round: the stored accounts again, and the unseen set as the
    /// checkpoint saved it. `None` when there is no usable checkpoint (start the round over).
    pub(super) async fn resume_account_set(
        &self,
        link: Option<&str>,
    ) -> Result<Option<StoredSet<StoredAccount>>, SyncError> {
        let Some(link) = link else {
            return Ok(None);
        };
        let Some(unseen) = self.load_unseen("users", link).await? else {
            return Ok(None);
        };
        let mut sets = self.stored_accounts().await?;
        sets.unseen = unseen;
        Ok(Some(sets))
    }

    pub(super) async fn full_user_page(
        &mut self,
        changes: Vec<UserChange>,
        sets: &mut StoredSet<StoredAccount>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let mut removals = Vec::new();
        // Stored accounts this page changes: they keep their stored last sign-in, read just
        // before the write so a value the license refresh wrote meanwhile is kept too.
        let mut rewritten = Vec::new();
        for change in changes {
            let user = match change {
                UserChange::Upserted(user) => user,
                removed @ UserChange::Removed { .. } => {
                    removals.push(removed);
                    continue;
                }
            };
            let id_hash = hash_str(&user.id);
            sets.unseen.remove(&id_hash);
            let extras = self.extras_for(user.user_principal_name.as_deref());
            let account = match convert::account(&user, None, extras) {
                Ok(account) => account,
                Err(error) => {
                    self.note(format!("an account was skipped: {error}"));
                    continue;
                }
            };
            let id = account.id.clone();
            let Some(account) = self.kept(account) else {
                // Left out by the tenant's sync settings: a stored copy no longer belongs, nor
                // do its memberships, nor any stored without it (a full round is where they go).
                if let Some(old) = sets.items.remove(&id_hash) {
                    self.run.counts.accounts.removed += 1;
                    self.run.counts.licenses.removed += old.licenses.len() as u64;
                    writes.deletes.push(DirectoryItem::Account(id.clone()));
                }
                self.seen_left_out.insert(id.clone());
                self.left_out.insert(id);
                continue;
            };
            let new = StoredAccount {
                fingerprint: account_fingerprint(&account, self.sync.kinds.last_sign_in),
                licenses: license_hashes(&account.licenses),
            };
            match sets.items.get(&id_hash) {
                None => {
                    self.run.counts.accounts.added += 1;
                    self.run.counts.licenses.added += account.licenses.len() as u64;
                }
                Some(old) if old.fingerprint != new.fingerprint => {
                    self.run.counts.accounts.changed += 1;
                    count_licenses(&mut self.run.counts.licenses, &old.licenses, &new.licenses);
                    rewritten.push(account.id.to_string());
                }
                Some(_) => continue,
            }
            sets.items.insert(id_hash, new);
            writes.accounts.push(account);
        }
        if !rewritten.is_empty() && self.sync.kinds.last_sign_in {
            let stored = self.stored_accounts_by_id(&rewritten).await?;
            for account in &mut writes.accounts {
                if let Some(stored) = stored.get(account.id.as_str()) {
                    account.last_sign_in = stored.last_sign_in.clone();
                }
            }
        }
        if !removals.is_empty() {
            self.delta_user_page(removals, writes).await?;
        }
        Ok(())
    }

    pub(super) async fn delta_user_page(
        &mut self,
        changes: Vec<UserChange>,
        writes: &mut Writes,
    ) -> Result<(), SyncError> {
        let ids: Vec<String> = changes
            .iter()
            .map(|change| match change {
                UserChange::Upserted(user) => user.id.clone(),
                UserChange::Removed { id, .. } => id.clone(),
            })
            .collect();
        let stored = self.stored_accounts_by_id(&ids).await?;
        for change in changes {
            match change {
                UserChange::Upserted(user) => {
                    let old = stored.get(&user.id);
                    let extras = Extras {
                        last_sign_in: self.new_account_sign_in(),
                        mailbox: old.and_then(|old| old.mailbox.clone()),
                    };
                    let account = match convert::account(&user, old, extras) {
                        Ok(account) => account,
                        Err(error) => {
                            self.note(format!("an account was skipped: {error}"));
                            continue;
                        }
                    };
                    let id = account.id.clone();
                    let Some(account) = self.kept(account) else {
                        // Left out by the tenant's sync settings: a stored copy no longer
                        // belongs, nor do its memberships.
                        self.seen_left_out.insert(id);
                        if let Some(old) = old {
                            self.left_out.insert(old.id.clone());
                            if !old.deleted {
                                self.run.counts.accounts.removed += 1;
                                self.run.counts.licenses.removed += old.licenses.len() as u64;
                            }
                            writes.deletes.push(DirectoryItem::Account(old.id.clone()));
                        }
                        continue;
                    };
                    let account = self.keep_sign_in(account, old);
                    match old {
                        Some(old) if *old == account => continue,
                        Some(old) => {
                            if old.deleted {
                                self.run.counts.accounts.added += 1;
                            } else {
                                self.run.counts.accounts.changed += 1;
                            }
                            count_licenses(
                                &mut self.run.counts.licenses,
                                &license_hashes(&old.licenses),
                                &license_hashes(&account.licenses),
                            );
                        }
                        None => {
                            self.run.counts.accounts.added += 1;
                            self.run.counts.licenses.added += account.licenses.len() as u64;
                        }
                    }
                    writes.accounts.push(account);
                }
                UserChange::Removed { id, reason } => {
                    let Some(old) = stored.get(&id) else {
                        continue;
                    };
                    if !old.deleted {
                        self.run.counts.accounts.removed += 1;
                        self.run.counts.licenses.removed += old.licenses.len() as u64;
                    }
                    if reason == RemovedReason::Deleted {
                        writes.deletes.push(DirectoryItem::Account(old.id.clone()));
                    } else if !old.deleted {
                        writes.accounts.push(marked_deleted(old));
                    }
                }
            }
        }
        Ok(())
    }

    /// The stored accounts among `ids` (BatchGetItem, 100 keys a request).
    pub(super) async fn stored_accounts_by_id(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Account>, SyncError> {
        let ids: Vec<AccountId> = ids
            .iter()
            .filter_map(|id| AccountId::parse(id).ok())
            .collect();
        let found = self
            .store()
            .stored_accounts(&self.tenant.tenant_id, &ids)
            .await?;
        Ok(found
            .into_values()
            .map(|account| (account.id.to_string(), account))
            .collect())
    }

    /// Marks every stored account the full round did not see as deleted.
    pub(super) async fn sweep_accounts(&mut self, unseen: &HashSet<u64>) -> Result<(), SyncError> {
        if unseen.is_empty() {
            return Ok(());
        }
        let mut marked = Vec::new();
        let mut accounts = pin!(self.store().accounts(&self.tenant.tenant_id));
        while let Some(account) = accounts.try_next().await? {
            if account.deleted || !unseen.contains(&hash_str(account.id.as_str())) {
                continue;
            }
            self.run.counts.accounts.removed += 1;
            self.run.counts.licenses.removed += account.licenses.len() as u64;
            marked.push(marked_deleted(&account));
        }
        self.apply(Writes {
            accounts: marked,
            ..Writes::default()
        })
        .await
    }
}
