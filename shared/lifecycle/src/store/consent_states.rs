//! The single-use state of a consent or sign-in round trip, kept under its nonce from the
//! redirect until the callback takes it (at most once).

use super::{PutOutcome, Store, StoreError, keys};
use crate::model::OAuthState;

impl Store {
    /// Records a round trip's state under its `nonce`, unless one is there already.
    pub async fn put_new_oauth_state(
        &self,
        nonce: &str,
        state: &OAuthState,
    ) -> Result<PutOutcome, StoreError> {
        self.put_new(&keys::oauth_state(nonce), state).await
    }

    /// Takes (reads and deletes) the state recorded under `nonce`: of two callbacks with one
    /// nonce, exactly one gets it.
    pub async fn take_oauth_state(&self, nonce: &str) -> Result<Option<OAuthState>, StoreError> {
        self.take(&keys::oauth_state(nonce)).await
    }
}
