//! A connected tenant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DomainName, OrgId, SyncRunId, TenantId};
use crate::model::SyncRunStatus;

/// What the platform may do in a tenant: read only (sync, reports) or also write (lifecycle jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    Read,
    ReadWrite,
}

/// How the platform authenticates to the tenant. The customer's client secret itself lives in
/// Secrets Manager (see [`crate::vault`]), never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TenantAuth {
    /// Admin consent to the platform's multi-tenant app.
    Consent,
    /// The customer's own app registration.
    OwnApp { client_id: String },
}

/// Whether the connection works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    /// Consent was revoked, the secret expired, or the tenant is gone: a person must reconnect.
    /// Scheduled syncs skip the tenant meanwhile.
    NeedsReconnection {
        reason: String,
    },
    /// Removal requested; its data is being deleted.
    Removed,
}

/// What a sync reads, per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct SyncOptions {
    /// Skip mailbox usage (the report permission may not be granted).
    pub skip_mailboxes: bool,
    /// Skip last sign-in (needs Entra ID P1).
    pub skip_sign_in: bool,
}

/// The outcome of the tenant's latest sync run, kept on the tenant for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LastSync {
    pub sync_run_id: SyncRunId,
    pub status: SyncRunStatus,
    pub at: DateTime<Utc>,
}

/// Which connection of a tenant a stored record belongs to: minted by
/// [`crate::Platform::connect_tenant`] for every new connection and checked by every update of
/// the connection ([`crate::Platform::save_tenant`]), so a writer that read the tenant before a
/// removal and a reconnection cannot overwrite the new connection with the old one's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ConnectionGeneration(String);

impl ConnectionGeneration {
    /// A fresh, random generation (128 bits: never reused).
    pub fn mint() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant connected to the platform (DynamoDB item `T#{tenant}` / `META`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TenantConnection {
    pub tenant_id: TenantId,
    pub org_id: OrgId,
    pub display_name: String,
    pub verified_domains: Vec<DomainName>,
    pub mode: ConnectionMode,
    pub auth: TenantAuth,
    pub status: ConnectionStatus,
    pub consented_at: DateTime<Utc>,
    #[serde(default)]
    pub last_sync: Option<LastSync>,
    #[serde(default)]
    pub next_sync_due: Option<DateTime<Utc>>,
    /// Minutes between scheduled syncs (60 by default).
    pub sync_interval_minutes: u32,
    #[serde(default)]
    pub options: SyncOptions,
    /// Whether the tenant has Entra ID P1 (last sign-in needs it); `None` until the first sync.
    #[serde(default)]
    pub has_p1: Option<bool>,
    /// The connection this record belongs to: set by [`crate::Platform::connect_tenant`] (what
    /// a caller sets is replaced); `None` only before that, or in a record stored before
    /// generations existed (then an update is accepted only while the stored item has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<ConnectionGeneration>,
}

impl TenantConnection {
    /// Default minutes between scheduled syncs.
    pub const DEFAULT_SYNC_INTERVAL_MINUTES: u32 = 60;

    /// Whether lifecycle jobs (which write in the tenant) are allowed: read/write mode only.
    pub fn allows_writes(&self) -> bool {
        self.mode == ConnectionMode::ReadWrite
    }

    /// Whether `domain` is one of the tenant's verified domains.
    pub fn has_verified_domain(&self, domain: &DomainName) -> bool {
        self.verified_domains.contains(domain)
    }
}

/// The tenant index entry (`TENANTS` / `{tenant}`): what the scheduler's fan-out needs to decide
/// whether a tenant is due, without reading every tenant's META item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantIndexEntry {
    pub tenant_id: TenantId,
    pub org_id: OrgId,
    pub status: ConnectionStatus,
    #[serde(default)]
    pub next_sync_due: Option<DateTime<Utc>>,
    pub sync_interval_minutes: u32,
    /// The connection's generation (see [`TenantConnection::generation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<ConnectionGeneration>,
}

impl From<&TenantConnection> for TenantIndexEntry {
    fn from(tenant: &TenantConnection) -> Self {
        Self {
            tenant_id: tenant.tenant_id.clone(),
            org_id: tenant.org_id.clone(),
            status: tenant.status.clone(),
            next_sync_due: tenant.next_sync_due,
            sync_interval_minutes: tenant.sync_interval_minutes,
            generation: tenant.generation.clone(),
        }
    }
}

/// A pending admin consent (`STATE#{nonce}`), written when the consent flow starts and read once
/// by the OAuth callback. It expires on its own (TTL) if the admin never comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    pub nonce: String,
    pub org_id: OrgId,
    pub mode: ConnectionMode,
    pub created_at: DateTime<Utc>,
    /// After this the callback refuses the state (and DynamoDB removes the item).
    pub valid_until: DateTime<Utc>,
}
