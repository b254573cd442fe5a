//! Everything a function needs, built once per cold start and shared by reference: configuration,
//! the store, the queue, the vault and the Graph client, plus the one way to get a Graph handle
//! for a connected tenant.

use aws_config::SdkConfig;
use graph::{AppCredential, GraphClient, GraphConfig, GraphError, TenantGraph, TokenError};
use secrecy::SecretString;
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::events::Events;
use crate::ids::TenantId;
use crate::model::{
    ConnectionGeneration, ConnectionMode, ConnectionStatus, TenantAuth, TenantConnection,
    TenantIndexEntry,
};
use crate::store::{PutOutcome, StoreError, keys};
use crate::vault::VaultError;
use crate::{AwsClients, Config, Queue, Store, Vault};

/// How long a sweep's mark refuses new connections of its tenant at most: longer than any
/// function's Lambda timeout (900 s), so only a sweeper that died leaves one, and only this long.
pub const SWEEP_MARK_TTL: chrono::Duration = chrono::Duration::minutes(16);

/// A sweep under way (`SWEEPS` / `{tenant}#{sweeper}`): see [`Platform::sweep_if_removed`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SweepMark {
    tenant_id: TenantId,
    until: chrono::DateTime<chrono::Utc>,
}

impl crate::store::Record for SweepMark {
    fn expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(self.until)
    }
}

/// Why the shared dependencies could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlatformError {
    #[error("GRAPH_BASE_URL or LOGIN_BASE_URL is unusable: {0}")]
    GraphConfig(#[from] graph::ConfigError),
}

/// Why no Graph handle could be made for a tenant.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The platform app's secret or the tenant's own app credential could not be read.
    #[error("the app credential for tenant {tenant_id} could not be read: {source}")]
    Credential {
        tenant_id: String,
        #[source]
        source: VaultError,
    },
}

impl AccessError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Credential { source, .. } => source.is_retryable(),
        }
    }
}

/// The shared dependencies of every function.
#[derive(Clone)]
pub struct Platform {
    pub config: Config,
    pub store: Store,
    pub queue: Queue,
    pub vault: Vault,
    pub events: Events,
    pub graph: GraphClient,
    pub sdk: SdkConfig,
    platform_secret: std::sync::Arc<OnceCell<SecretString>>,
    read_app_secret: std::sync::Arc<OnceCell<SecretString>>,
    own_app_credentials: std::sync::Arc<std::sync::Mutex<OwnAppCredentials>>,
}

/// How long a warm function keeps a tenant's own app credential before reading it again from
/// Secrets Manager. A reconnection (a new secret) makes a new connection generation, which misses
/// the cache at once; this bounds how long any other change goes unseen.
pub const OWN_APP_CREDENTIAL_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Own app credentials a warm function keeps at most (one per tenant it worked for).
const OWN_APP_CREDENTIALS_KEPT: usize = 1_000;

/// The own app credentials this function read, by tenant: one `GetSecretValue` per tenant and
/// connection generation per [`OWN_APP_CREDENTIAL_TTL`], instead of one per job and sync run.
#[derive(Default)]
struct OwnAppCredentials {
    by_tenant: std::collections::HashMap<TenantId, CachedCredential>,
}

struct CachedCredential {
    generation: Option<ConnectionGeneration>,
    client_id: String,
    client_secret: SecretString,
    read_at: std::time::Instant,
}

impl OwnAppCredentials {
    /// The credential read for `tenant`'s connection `generation`, while fresh.
    fn get(&self, tenant: &TenantConnection) -> Option<AppCredential> {
        let cached = self.by_tenant.get(&tenant.tenant_id)?;
        (cached.generation == tenant.generation
            && cached.read_at.elapsed() < OWN_APP_CREDENTIAL_TTL)
            .then(|| AppCredential::new(cached.client_id.clone(), cached.client_secret.clone()))
    }

    fn keep(&mut self, tenant: &TenantConnection, client_id: &str, client_secret: &SecretString) {
        if self.by_tenant.len() >= OWN_APP_CREDENTIALS_KEPT {
            self.by_tenant.clear();
        }
        self.by_tenant.insert(
            tenant.tenant_id.clone(),
            CachedCredential {
                generation: tenant.generation.clone(),
                client_id: client_id.to_owned(),
                client_secret: client_secret.clone(),
                read_at: std::time::Instant::now(),
            },
        );
    }
}

impl Platform {
    /// Builds the clients (no I/O: the first call of each client connects).
    pub fn new(config: Config, sdk: &SdkConfig) -> Result<Self, PlatformError> {
        let clients = AwsClients::new(sdk);
        let graph = GraphClient::new(GraphConfig::new(
            &config.graph_base_url,
            &config.login_base_url,
        )?)?;
        Ok(Self {
            store: Store::new(clients.dynamodb, config.table_name.clone()),
            queue: Queue::new(clients.sqs),
            vault: Vault::from_config(clients.secrets, &config),
            events: Events::new(clients.events, config.event_bus_name.clone()),
            graph,
            sdk: sdk.clone(),
            config,
            platform_secret: Default::default(),
            read_app_secret: Default::default(),
            own_app_credentials: Default::default(),
        })
    }

    /// The stored connection of `tenant`, if any.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Option<TenantConnection>, StoreError> {
        self.store.connection(tenant).await
    }

    /// Every entry of the tenant index (one small partition, streamed): what the scheduled
    /// fan-outs walk, deciding per entry from its connection status.
    pub fn tenant_index(
        &self,
    ) -> impl futures::Stream<Item = Result<TenantIndexEntry, StoreError>> + Send + 'static {
        self.store.tenant_index()
    }

    /// Updates a live connection: its META item and its entry in the tenant index (the
    /// scheduler reads the index only). Both writes are conditional on the item being there,
    /// not `removed`, and of `tenant`'s generation (the connection it was read from), so a sync,
    /// a license refresh, a sync request or a reconnect that finishes after
    /// `DELETE /tenants/{id}` writes nothing, even when the tenant was connected again
    /// meanwhile: [`StoreError::TenantGone`]. A new connection is made with
    /// [`Self::connect_tenant`].
    pub async fn save_tenant(&self, tenant: &TenantConnection) -> Result<(), StoreError> {
        let gone = || StoreError::TenantGone {
            tenant_id: tenant.tenant_id.clone(),
        };
        let generation = tenant.generation.as_ref().map(ConnectionGeneration::as_str);
        if !self
            .store
            .put_if_live(&keys::tenant_meta(&tenant.tenant_id), tenant, generation)
            .await?
        {
            return Err(gone());
        }
        if !self
            .store
            .put_if_live(
                &keys::tenant_index_entry(&tenant.tenant_id),
                &TenantIndexEntry::from(tenant),
                generation,
            )
            .await?
        {
            return Err(gone());
        }
        Ok(())
    }

    /// Makes a new connection of a fresh generation ([`ConnectionGeneration::mint`]; the one
    /// `tenant` carries is replaced) and answers it as stored: its META item only where there is none (a live connection is
    /// updated with [`Self::save_tenant`]; one still being removed refuses with
    /// [`StoreError::TenantExists`] until its removal ends), then its index entry. Should a
    /// removal delete the connection between the two writes, the index entry it missed is
    /// deleted here ([`StoreError::TenantGone`]).
    ///
    /// A sweep of the tenant's last removal still under way ([`Self::sweep_if_removed`] marks it
    /// first) refuses the connection too: the META item just written is taken back and
    /// [`StoreError::TenantExists`] answered, so that sweep can never delete the new
    /// connection's data. Write, then check, on both sides: whichever of the two writes its
    /// item second sees the other's.
    pub async fn connect_tenant(
        &self,
        tenant: &TenantConnection,
    ) -> Result<TenantConnection, StoreError> {
        let mut tenant = tenant.clone();
        tenant.generation = Some(ConnectionGeneration::mint());
        let tenant_id = &tenant.tenant_id;
        let meta = keys::tenant_meta(tenant_id);
        if self.store.put_new(&meta, &tenant).await? == PutOutcome::AlreadyExists {
            return Err(StoreError::TenantExists {
                tenant_id: tenant_id.clone(),
            });
        }
        if self.sweep_under_way(tenant_id).await? {
            self.store.delete(&meta).await?;
            tracing::warn!(tenant_id = %tenant_id, "a sweep of the tenant's removal is under way: connect again in a moment");
            return Err(StoreError::TenantExists {
                tenant_id: tenant_id.clone(),
            });
        }
        let index = keys::tenant_index_entry(tenant_id);
        self.store
            .put(&index, &TenantIndexEntry::from(&tenant))
            .await?;
        let stored = self.store.get::<TenantConnection>(&meta).await?;
        if stored.is_none_or(|stored| stored.generation != tenant.generation) {
            // Removed meanwhile, perhaps connected again: only our own index entry is deleted.
            let ours = tenant
                .generation
                .as_ref()
                .map_or("", ConnectionGeneration::as_str);
            self.store.delete_if(&index, "generation", ours).await?;
            return Err(StoreError::TenantGone {
                tenant_id: tenant_id.clone(),
            });
        }
        Ok(tenant)
    }

    /// Marks the connection `removed` (and its index entry), whatever its state: from then on
    /// no update of it is accepted. `false` when there is no connection.
    pub async fn mark_removed(&self, tenant: &TenantConnection) -> Result<bool, StoreError> {
        let mut removed = tenant.clone();
        removed.status = ConnectionStatus::Removed;
        if !self
            .store
            .put_if_exists(&keys::tenant_meta(&tenant.tenant_id), &removed)
            .await?
        {
            return Ok(false);
        }
        self.store
            .put_if_exists(
                &keys::tenant_index_entry(&tenant.tenant_id),
                &TenantIndexEntry::from(&removed),
            )
            .await?;
        Ok(true)
    }

    /// Whether `tenant` has a live connection (there, and not `removed`).
    pub async fn is_connected(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        Ok(self
            .tenant(tenant)
            .await?
            .is_some_and(|found| found.status != ConnectionStatus::Removed))
    }

    /// Whoever notices a removal last cleans up: a worker calls this after its last write of a
    /// tenant's items (BatchWriteItem has no conditions, so a removal may have run meanwhile).
    /// When the tenant has no live connection, every item of it but the connection is deleted
    /// ([`Store::delete_tenant`]) and `true` is returned. A removal that ran before the check
    /// is thereby finished for what this worker wrote; one that runs after it deletes the rest.
    ///
    /// The sweep is marked first (`SWEEPS` / `{tenant}#{sweeper}`, [`keys::sweep`]) and the
    /// connection read after: a new connection made meanwhile either is seen here (no sweep) or
    /// sees the mark and is refused ([`Self::connect_tenant`]) until the sweep ends, so a sweep
    /// never deletes the data of a newer connection of the same tenant. A sweeper that dies
    /// leaves a mark that stops counting after [`SWEEP_MARK_TTL`].
    pub async fn sweep_if_removed(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        if self.is_connected(tenant).await? {
            return Ok(false);
        }
        let now = chrono::Utc::now();
        let mark_key = keys::sweep(tenant, &uuid::Uuid::new_v4().simple().to_string());
        let mark = SweepMark {
            tenant_id: tenant.clone(),
            until: now + SWEEP_MARK_TTL,
        };
        self.store.put(&mark_key, &mark).await?;
        let swept = self.sweep_marked(tenant).await;
        // BatchWriteItem, which every sweeper holds already (DeleteItem not all of them).
        if let Err(error) = self.store.batch_delete(vec![mark_key]).await {
            tracing::warn!(tenant_id = %tenant, %error, "could not clear a sweep mark; it stops counting on its own");
        }
        swept
    }

    /// The sweep itself, once marked: nothing when a connection is live after all.
    async fn sweep_marked(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        if self.is_connected(tenant).await? {
            return Ok(false);
        }
        let deleted = self.store.delete_tenant(tenant).await?;
        tracing::warn!(tenant_id = %tenant, deleted, "the tenant was removed while this worker wrote: what it wrote is deleted");
        Ok(true)
    }

    /// Whether a sweep of `tenant` is under way (a live mark of [`Self::sweep_if_removed`]).
    async fn sweep_under_way(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        use futures::TryStreamExt as _;
        let now = chrono::Utc::now();
        let marks: Vec<SweepMark> = self
            .store
            .query(&keys::sweeps(), Some(&keys::sweeps_of(tenant)))
            .try_collect()
            .await?;
        Ok(marks.iter().any(|mark| mark.until > now))
    }

    /// The platform multi-tenant app's credential; its secret is read once per cold start.
    pub async fn platform_credential(&self) -> Result<AppCredential, AccessError> {
        let secret = self
            .platform_secret
            .get_or_try_init(|| {
                self.vault
                    .get_platform_app_secret(&self.config.platform_app_secret_id)
            })
            .await
            .map_err(|source| AccessError::Credential {
                tenant_id: "platform".into(),
                source,
            })?;
        Ok(AppCredential::new(
            self.config.platform_app_client_id.clone(),
            secret.clone(),
        ))
    }

    /// The platform app a tenant in `mode` consents to: the read-only app for read-only
    /// connections when one is configured (least privilege), else the read/write app. Its secret
    /// is read once per cold start.
    pub async fn consent_credential(
        &self,
        mode: ConnectionMode,
    ) -> Result<AppCredential, AccessError> {
        let Some(read_app) = self
            .config
            .platform_read_app
            .as_ref()
            .filter(|_| mode == ConnectionMode::Read)
        else {
            return self.platform_credential().await;
        };
        let secret = self
            .read_app_secret
            .get_or_try_init(|| self.vault.get_secret(&read_app.secret_id))
            .await
            .map_err(|source| AccessError::Credential {
                tenant_id: "platform".into(),
                source,
            })?;
        Ok(AppCredential::new(
            read_app.client_id.clone(),
            secret.clone(),
        ))
    }

    /// A Graph handle for a connected tenant: the platform app after admin consent, or the
    /// tenant's own app registration (its secret from the vault).
    pub async fn tenant_graph(
        &self,
        tenant: &TenantConnection,
    ) -> Result<TenantGraph, AccessError> {
        let credential = match &tenant.auth {
            TenantAuth::Consent => self.consent_credential(tenant.mode).await?,
            TenantAuth::OwnApp { .. } => self.own_app_credential(tenant).await?,
        };
        Ok(self.graph.tenant(tenant.tenant_id.to_string(), credential))
    }

    /// The tenant's own app credential: from this warm function's cache while it is fresh and
    /// of the same connection generation, else read from Secrets Manager (and kept).
    async fn own_app_credential(
        &self,
        tenant: &TenantConnection,
    ) -> Result<AppCredential, AccessError> {
        // A poisoned lock only loses the cache: the credential is read again.
        if let Some(credential) = self
            .own_app_credentials
            .lock()
            .ok()
            .and_then(|cache| cache.get(tenant))
        {
            return Ok(credential);
        }
        let stored = self
            .vault
            .get_app_credential(&tenant.tenant_id)
            .await
            .map_err(|source| AccessError::Credential {
                tenant_id: tenant.tenant_id.to_string(),
                source,
            })?;
        if let Ok(mut cache) = self.own_app_credentials.lock() {
            cache.keep(tenant, &stored.client_id, &stored.client_secret);
        }
        Ok(AppCredential::new(stored.client_id, stored.client_secret))
    }

    /// [`Self::tenant_graph`] for work that must end by `deadline` (a job's
    /// [`JobProgress::deadline`](crate::JobProgress::deadline), the Lambda invocation's): no Graph
    /// retry waits past it, so a long `Retry-After` fails the call as throttled (the job is
    /// delivered again later) instead of Lambda cutting the invocation off mid-sleep.
    pub async fn tenant_graph_until(
        &self,
        tenant: &TenantConnection,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<TenantGraph, AccessError> {
        let graph = self.tenant_graph(tenant).await?;
        Ok(match deadline {
            Some(deadline) => graph.until(deadline),
            None => graph,
        })
    }

    /// When `error` means a person must reconnect the tenant (consent revoked, secret wrong or
    /// expired, tenant gone), marks it `NeedsReconnection` so scheduled work stops hammering it.
    /// Returns whether it did.
    pub async fn note_graph_error(
        &self,
        tenant: &TenantConnection,
        error: &GraphError,
    ) -> Result<bool, StoreError> {
        let GraphError::Token(token_error) = error else {
            return Ok(false);
        };
        if token_error.is_retryable() || !needs_reconnection(token_error) {
            return Ok(false);
        }
        self.mark_needs_reconnection(tenant, token_error.to_string())
            .await?;
        Ok(true)
    }

    /// Marks `tenant` as needing a person to reconnect it; scheduled work skips it until then.
    pub async fn mark_needs_reconnection(
        &self,
        tenant: &TenantConnection,
        reason: String,
    ) -> Result<(), StoreError> {
        tracing::warn!(tenant_id = %tenant.tenant_id, %reason, "tenant needs reconnection");
        let mut marked = tenant.clone();
        marked.status = ConnectionStatus::NeedsReconnection { reason };
        self.save_tenant(&marked).await
    }
}

fn needs_reconnection(error: &TokenError) -> bool {
    matches!(
        error,
        TokenError::InvalidClientSecret { .. }
            | TokenError::AppNotInTenant { .. }
            | TokenError::TenantNotFound { .. }
            | TokenError::Rejected(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;

    fn connection(generation: Option<ConnectionGeneration>) -> TenantConnection {
        TenantConnection {
            tenant_id: TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap(),
            org_id: OrgId::parse("org-cache").unwrap(),
            display_name: "Contoso".into(),
            verified_domains: Vec::new(),
            mode: ConnectionMode::Read,
            auth: TenantAuth::OwnApp {
                client_id: "app".into(),
            },
            status: ConnectionStatus::Connected,
            consented_at: chrono::Utc::now(),
            last_sync: None,
            next_sync_due: None,
            sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
            options: Default::default(),
            has_p1: None,
            generation,
        }
    }

    #[test]
    fn given_a_kept_own_app_credential_when_asked_again_then_it_is_served_until_a_reconnection_or_its_ttl()
     {
        // GIVEN the credential read for a tenant's connection
        let tenant = connection(Some(ConnectionGeneration::mint()));
        let mut cache = OwnAppCredentials::default();
        cache.keep(&tenant, "app", &SecretString::from("s3cret"));

        // WHEN the same connection asks again, THEN it is served without a read
        assert!(cache.get(&tenant).is_some());
        // ... WHEN the tenant was connected again (a new generation, maybe a new secret), THEN
        // it is read again
        let reconnected = connection(Some(ConnectionGeneration::mint()));
        assert!(cache.get(&reconnected).is_none());
        // ... and WHEN the kept one is older than its TTL, THEN it is read again
        if let Some(cached) = cache.by_tenant.get_mut(&tenant.tenant_id) {
            cached.read_at = std::time::Instant::now()
                .checked_sub(OWN_APP_CREDENTIAL_TTL + std::time::Duration::from_secs(1))
                .unwrap();
        }
        assert!(cache.get(&tenant).is_none());
    }
}
