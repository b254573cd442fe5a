//! Planning a round (full or delta, fresh or resumed) and saving where it stands: the delta
//! link, the continuation link and the unseen sets a full round sweeps at its end.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use crate::state::{Blob, DeltaState};

use super::*;

impl Engine<'_> {
    /// Where the round of `resource` starts: the run's own unfinished round, a fresh full round,
    /// or a delta round from the stored delta link.
    pub(super) async fn plan(
        &self,
        resource: &str,
        force_full: bool,
    ) -> Result<RoundPlan, SyncError> {
        let state = DeltaState::load(self.store(), &self.tenant.tenant_id, resource).await?;
        let full_from_start = RoundPlan {
            from: None,
            full: true,
            done: false,
            fresh: state.is_none(),
        };
        Ok(match state {
            Some(state) if state.run == self.run.id => RoundPlan {
                done: state.complete,
                full: state.full_round,
                from: Some(state.link),
                fresh: false,
            },
            _ if force_full => full_from_start,
            None => full_from_start,
            Some(state) if state.complete => RoundPlan {
                from: Some(state.link),
                full: false,
                done: false,
                fresh: false,
            },
            // An abandoned full round of another run: its sweep cannot be trusted, so start over.
            Some(state) if state.full_round => full_from_start,
            // An abandoned delta round: applying its changes again is harmless, so go on.
            Some(state) => RoundPlan {
                from: Some(state.link),
                full: false,
                done: false,
                fresh: false,
            },
        })
    }

    pub(super) async fn save_round(
        &mut self,
        resource: &str,
        link: &str,
        complete: bool,
        full: bool,
    ) -> Result<(), SyncError> {
        // A link saved under a newer connection of the tenant would resume its first round.
        let _commit = self.ensure_same_connection().await?;
        DeltaState {
            resource: resource.to_owned(),
            link: link.to_owned(),
            complete,
            full_round: full,
            run: self.run.id.clone(),
            updated_at: Utc::now(),
        }
        .save(self.store(), &self.tenant.tenant_id)
        .await?;
        self.save_progress().await
    }

    pub(super) fn note(&mut self, note: String) {
        tracing::warn!(tenant_id = %self.tenant.tenant_id, %note, "sync: partial");
        if self.notes.len() < 20 {
            self.notes.push(note);
        }
    }

    pub(super) async fn save_unseen(
        &self,
        name: &str,
        link: &str,
        unseen: &HashSet<u64>,
    ) -> Result<(), SyncError> {
        let entries: HashMap<u64, u64> = unseen.iter().map(|hash| (*hash, 0)).collect();
        Blob::save(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            &format!("unseen-{name}"),
            Some(link),
            &entries,
        )
        .await?;
        Ok(())
    }

    pub(super) async fn load_unseen(
        &self,
        name: &str,
        link: &str,
    ) -> Result<Option<HashSet<u64>>, SyncError> {
        Ok(Blob::load(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            &format!("unseen-{name}"),
            Some(link),
        )
        .await?
        .map(|entries| entries.into_keys().collect()))
    }
}

/// The next page of a round, read while the current one is written (`None` when not `wanted`: the
/// round is complete or the budget is spent, so no page is read that the run would drop).
pub(super) async fn read_ahead<S>(
    pages: &mut S,
    wanted: bool,
) -> Option<Result<Option<S::Ok>, S::Error>>
where
    S: futures::TryStream + Unpin,
{
    use futures::TryStreamExt as _;
    if wanted {
        Some(pages.try_next().await)
    } else {
        None
    }
}
