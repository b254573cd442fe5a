//! What a sync keeps between invocations, and the small fingerprints it compares with.
//!
//! Per resource (`users`, `groups`) one [`DeltaState`] item under the tenant's
//! `DELTA#{resource}` key: the link to continue from (a mid-round next link, or the delta link of
//! a finished round) and the run that wrote it. It is written after every applied page, so a
//! continuation, or a redelivery after a crash, resumes exactly there and reads no page twice.
//!
//! Sets a full round needs across invocations (the objects not seen yet, for the sweep that
//! removes what vanished; the sign-in and mailbox figures read before the accounts) are saved as
//! [`Blob`] chunks next to it when the run checkpoints.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use lifecycle::{Record, Store, StoreError, SyncRunId, TenantId};
use serde::{Deserialize, Serialize};

/// The stable 64-bit FNV-1a hash of `text`: object ids and membership keys are held as these in
/// a full round's sets (8 bytes instead of a 36-byte string), and compared across invocations,
/// so the hash must not change between builds (`std`'s `DefaultHasher` may).
pub fn hash_str(text: &str) -> u64 {
    hash_bytes(text.as_bytes())
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// A record's fingerprint: the hash of its JSON form, so "changed" means any stored field differs.
pub fn fingerprint<T: Serialize>(record: &T) -> u64 {
    serde_json::to_vec(record)
        .map(|json| hash_bytes(&json))
        .unwrap_or_default()
}

/// Where the delta round of one resource stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaState {
    /// `users` or `groups`.
    pub resource: String,
    /// The Graph link to follow next: a next link mid-round, the delta link once complete.
    pub link: String,
    /// The round is complete: `link` is a delta link for the next run.
    pub complete: bool,
    /// The round reads everything (first sync or resync) and sweeps what it did not see.
    pub full_round: bool,
    /// The run that is (or was) reading this round.
    pub run: SyncRunId,
    pub updated_at: DateTime<Utc>,
}

impl Record for DeltaState {}

impl DeltaState {
    /// The stored state of `resource`, if any.
    pub async fn load(
        store: &Store,
        tenant: &TenantId,
        resource: &str,
    ) -> Result<Option<Self>, StoreError> {
        store.sync_state(tenant, resource).await
    }

    /// Saves it.
    pub async fn save(&self, store: &Store, tenant: &TenantId) -> Result<(), StoreError> {
        store.put_sync_state(tenant, &self.resource, self).await
    }
}

/// One chunk of a set saved at a checkpoint (`DELTA#blob#{name}#{index}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BlobChunk {
    run: SyncRunId,
    /// What the map belongs to (the round's link when it was saved); a load for another tag
    /// finds nothing.
    #[serde(default)]
    tag: Option<String>,
    index: u32,
    total: u32,
    /// Base64 of the little-endian u64 pairs.
    data: String,
}

impl Record for BlobChunk {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        // A run's checkpoint is worthless after a day; DynamoDB removes leftovers.
        Some(Utc::now() + chrono::Duration::days(1))
    }
}

/// DynamoDB items hold at most 400 KB; 300 KB of base64 per chunk leaves room for the rest.
const CHUNK_BYTES: usize = 225 * 1024;

/// A map of u64 to u64 saved for one run (a set is a map to 0).
pub struct Blob;

impl Blob {
    /// The name chunk `index` of the map `name` is saved under.
    fn chunk_name(name: &str, index: u32) -> String {
        format!("blob#{name}#{index}")
    }

    /// Saves `entries` under `name` for `run` (and `tag`), replacing what was there.
    pub async fn save(
        store: &Store,
        tenant: &TenantId,
        run: &SyncRunId,
        name: &str,
        tag: Option<&str>,
        entries: &HashMap<u64, u64>,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::with_capacity(entries.len() * 16);
        for (key, value) in entries {
            bytes.extend_from_slice(&key.to_le_bytes());
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[]]
        } else {
            bytes.chunks(CHUNK_BYTES).collect()
        };
        let total = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        let mut records = Vec::with_capacity(chunks.len());
        for (index, chunk) in chunks.into_iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            records.push((
                Self::chunk_name(name, index),
                BlobChunk {
                    run: run.clone(),
                    tag: tag.map(str::to_owned),
                    index,
                    total,
                    data: STANDARD.encode(chunk),
                },
            ));
        }
        store.put_sync_states(tenant, records).await?;
        Ok(())
    }

    /// The map saved under `name` for `run` and `tag`; `None` when it is missing, incomplete,
    /// another run's or saved for another tag.
    pub async fn load(
        store: &Store,
        tenant: &TenantId,
        run: &SyncRunId,
        name: &str,
        tag: Option<&str>,
    ) -> Result<Option<HashMap<u64, u64>>, StoreError> {
        let mut entries = HashMap::new();
        let mut index = 0;
        loop {
            let Some(chunk) = store
                .sync_state::<BlobChunk>(tenant, &Self::chunk_name(name, index))
                .await?
            else {
                return Ok(None);
            };
            if &chunk.run != run || chunk.index != index || chunk.tag.as_deref() != tag {
                return Ok(None);
            }
            let Ok(bytes) = STANDARD.decode(chunk.data.as_bytes()) else {
                return Ok(None);
            };
            for pair in bytes.chunks_exact(16) {
                let (key, value) = pair.split_at(8);
                let read = |b: &[u8]| b.try_into().map(u64::from_le_bytes).unwrap_or_default();
                entries.insert(read(key), read(value));
            }
            index += 1;
            if index >= chunk.total {
                return Ok(Some(entries));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_text_when_hashed_then_the_hash_is_fnv1a_and_stable() {
        // Pinned: FNV-1a 64 of "" and "a" as published.
        assert_eq!(hash_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash_str("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn given_two_records_differing_in_one_field_when_fingerprinted_then_they_differ() {
        let a = serde_json::json!({"id": "1", "name": "Ada"});
        let b = serde_json::json!({"id": "1", "name": "Ada Lovelace"});
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
