//! Testing a connection and recording it: the steps every way of connecting shares (admin consent,
//! the customer's own app, a partner's customer).
//!
//! A test gets a token (which proves the credential and the consent: the `tenant` a browser brings
//! back is not proof), reads the organization, reports every permission the mode needs as granted
//! or missing, and probes last sign-in activity (Entra ID P1). Connecting records the tenant
//! connection and its index entry, then enqueues the first sync at once.

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use graph::{GraphError, TenantGraph, TokenError};
use lifecycle::model::{
    ConnectionMode, ConnectionStatus, LastSync, SyncRunStatus, TenantAuth, TenantConnection,
};
use lifecycle::sync_runs::{self, SyncRequest};
use lifecycle::{DomainName, OrgId, Platform, StoreError, SyncRunId, TenantId, VaultError};
use serde::Serialize;
use thiserror::Error;

pub use lifecycle::model::{ConnectionReport, P1Probe};

use crate::permissions::{self, PermissionCheck};

/// Tests a connection through `graph` (a handle for the tenant and the app to test).
#[tracing::instrument(skip(graph), fields(tenant_id = %tenant_id, client_id = %graph.client_id()))]
pub async fn test_connection(
    graph: &TenantGraph,
    tenant_id: &TenantId,
    mode: ConnectionMode,
) -> Result<ConnectionReport, GraphError> {
    let roles = graph.granted_roles().await?;
    let permissions = permissions::check(mode, &roles);
    let missing_permissions = permissions::missing_required(&permissions);
    let (display_name, verified_domains) =
        if permissions::is_granted(&permissions, "Organization.Read.All") {
            let organization = graph.organization().await?;
            let domains = organization
                .verified_domains
                .iter()
                .filter_map(|domain| domain.name.as_deref())
                .filter_map(|name| match DomainName::parse(name) {
                    Ok(domain) => Some(domain),
                    Err(error) => {
                        tracing::warn!(%error, "ignoring a verified domain that does not parse");
                        None
                    }
                })
                .collect();
            (organization.display_name, domains)
        } else {
            (None, Vec::new())
        };
    let entra_id_p1 = probe_p1(graph, &permissions).await;
    let offboard_options = permissions::offboard_options(mode, &permissions);
    Ok(ConnectionReport {
        offboard_options,
        tenant_id: tenant_id.clone(),
        mode,
        client_id: graph.client_id().to_owned(),
        display_name,
        verified_domains,
        permissions,
        missing_permissions,
        entra_id_p1,
    })
}

/// Reads one page of accounts with `signInActivity`: Graph refuses it (403) without Entra ID P1.
async fn probe_p1(graph: &TenantGraph, permissions: &[PermissionCheck]) -> P1Probe {
    if !permissions::is_granted(permissions, "AuditLog.Read.All")
        || !permissions::is_granted(permissions, "User.Read.All")
    {
        return P1Probe {
            available: None,
            detail: "not checked: AuditLog.Read.All and User.Read.All are needed to read sign-in activity".into(),
        };
    }
    let mut pages = std::pin::pin!(graph.user_sign_in_pages(None));
    match pages.try_next().await {
        Ok(_) => P1Probe {
            available: Some(true),
            detail: "sign-in activity is readable (Microsoft Entra ID P1 or P2)".into(),
        },
        Err(GraphError::SignInActivityUnavailable(_)) => P1Probe {
            available: Some(false),
            detail: "no Microsoft Entra ID P1: last sign-in per account will be recorded as not available".into(),
        },
        Err(error) => P1Probe {
            available: None,
            detail: format!("could not be checked: {error}"),
        },
    }
}

/// Which credential is wrong, when a test fails for a reason a person must fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialProblem {
    /// No such tenant: the tenant id is wrong.
    TenantNotFound,
    /// The app is not in the tenant (wrong client id, or no admin consent / consent revoked).
    AppNotFoundInTenant,
    /// The client secret is wrong or expired.
    WrongSecret,
    /// The identity platform refused for another reason.
    Refused,
}

impl CredentialProblem {
    /// The problem a token error stands for, if it is one a person must fix (not a transient one).
    pub fn of(error: &GraphError) -> Option<Self> {
        match error {
            GraphError::Token(TokenError::TenantNotFound { .. }) => Some(Self::TenantNotFound),
            GraphError::Token(TokenError::AppNotInTenant { .. }) => Some(Self::AppNotFoundInTenant),
            GraphError::Token(TokenError::InvalidClientSecret { .. }) => Some(Self::WrongSecret),
            GraphError::Token(TokenError::Rejected(_)) => Some(Self::Refused),
            _ => None,
        }
    }

    /// The request field that holds the wrong value.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::TenantNotFound => Some("tenant_id"),
            Self::AppNotFoundInTenant => Some("client_id"),
            Self::WrongSecret => Some("client_secret"),
            Self::Refused => None,
        }
    }

    /// The API error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::TenantNotFound => "tenant_not_found",
            Self::AppNotFoundInTenant => "app_not_found_in_tenant",
            Self::WrongSecret => "wrong_client_secret",
            Self::Refused => "token_refused",
        }
    }
}

/// Why a connection could not be recorded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The tenant is connected to another platform organization; it must be removed there first.
    #[error(
        "tenant {tenant_id} is already connected to another organization; remove it there before connecting it here"
    )]
    OtherOrganization { tenant_id: TenantId },
    /// The tenant's removal has not finished (its connection still says `removed`): connecting
    /// over it now would have the removal delete the new connection's data.
    #[error(
        "tenant {tenant_id} is being removed; connect it again once the removal has finished (send DELETE /tenants/{tenant_id} again to finish it)"
    )]
    BeingRemoved { tenant_id: TenantId },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl ConnectError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::OtherOrganization { .. } | Self::BeingRemoved { .. } => false,
            Self::Store(error) => error.is_retryable(),
            Self::Vault(error) => error.is_retryable(),
        }
    }
}

/// What was connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connected {
    pub tenant: TenantConnection,
    /// The first sync's run, when it could be queued.
    pub sync_run_id: Option<SyncRunId>,
    /// False when the sync queue refused the job: the scheduler then picks the tenant up (its
    /// next sync is due at once).
    pub first_sync_queued: bool,
    /// True when the tenant had been removed (or never connected) and starts clean.
    pub fresh: bool,
}

/// The live connection of `tenant_id`, refusing one that belongs to another organization.
pub async fn may_connect(
    platform: &Platform,
    tenant_id: &TenantId,
    org_id: &OrgId,
) -> Result<Option<TenantConnection>, ConnectError> {
    let existing = platform.tenant(tenant_id).await?;
    match existing {
        Some(tenant) if tenant.status == ConnectionStatus::Removed => {
            Err(ConnectError::BeingRemoved {
                tenant_id: tenant_id.clone(),
            })
        }
        Some(tenant) if &tenant.org_id != org_id => Err(ConnectError::OtherOrganization {
            tenant_id: tenant_id.clone(),
        }),
        other => Ok(other),
    }
}

/// Records a tested connection and enqueues its first sync.
///
/// A tenant with no live connection (never connected, or removed) starts clean: whatever a
/// previous connection left (accounts, delta links, sync log) is deleted first and the first sync
/// is a full one. A live connection is updated in place (mode, credential, status), keeping its
/// data and delta links, and its sync is incremental.
#[tracing::instrument(skip(platform, report), fields(tenant_id = %report.tenant_id, org_id = %org_id))]
pub async fn connect(
    platform: &Platform,
    org_id: &OrgId,
    auth: TenantAuth,
    report: &ConnectionReport,
    now: DateTime<Utc>,
) -> Result<Connected, ConnectError> {
    let tenant_id = &report.tenant_id;
    let existing = may_connect(platform, tenant_id, org_id).await?;
    let fresh = existing.is_none();
    if fresh {
        let deleted = platform.store.delete_tenant(tenant_id).await?;
        if deleted > 0 {
            tracing::info!(deleted, "removed what a previous connection left behind");
        }
    }
    let had_own_app = existing
        .as_ref()
        .is_some_and(|tenant| matches!(tenant.auth, TenantAuth::OwnApp { .. }));
    if auth == TenantAuth::Consent && (fresh || had_own_app) {
        platform.vault.delete_app_credential(tenant_id).await?;
    }

    let interval = existing
        .as_ref()
        .map_or(TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES, |tenant| {
            tenant.sync_interval_minutes
        });
    let has_p1 = report.entra_id_p1.available;
    let mut tenant = TenantConnection {
        tenant_id: tenant_id.clone(),
        org_id: org_id.clone(),
        display_name: report
            .display_name
            .clone()
            .or_else(|| existing.as_ref().map(|t| t.display_name.clone()))
            .unwrap_or_else(|| tenant_id.to_string()),
        verified_domains: report.verified_domains.clone(),
        mode: report.mode,
        auth,
        status: ConnectionStatus::Connected,
        consented_at: now,
        last_sync: existing.as_ref().and_then(|t| t.last_sync.clone()),
        next_sync_due: Some(now),
        sync_interval_minutes: interval,
        options: permissions::sync_options(&report.permissions, has_p1),
        has_p1,
        generation: existing.as_ref().and_then(|t| t.generation.clone()),
    };
    // A new connection is created only where there is none; a live one is updated only while
    // it is live: a removal running meanwhile wins either way.
    let saved = if fresh {
        platform.connect_tenant(&tenant).await
    } else {
        platform.save_tenant(&tenant).await.map(|()| tenant.clone())
    };
    match saved {
        Ok(stored) => tenant = stored,
        Err(StoreError::TenantExists { .. } | StoreError::TenantGone { .. }) => {
            return Err(ConnectError::BeingRemoved {
                tenant_id: tenant_id.clone(),
            });
        }
        Err(error) => return Err(error.into()),
    }

    // The first sync runs at once (full for a fresh connection); it also moves the next
    // scheduled sync one interval on. It takes the tenant's pending-run claim like every other
    // sync request (POST /sync, the schedule's fan-out): a run already queued or running is
    // answered instead of a second one, and requests after this one merge into it. Should
    // queueing fail, the tenant stays due now and the hourly schedule picks it up.
    let sync_run_id = match sync_runs::request_or_merge_sync(platform, &tenant, fresh, now).await {
        Ok(SyncRequest::Queued(run)) => {
            tenant.last_sync = Some(LastSync {
                sync_run_id: run.id.clone(),
                status: SyncRunStatus::Queued,
                at: now,
            });
            tenant.next_sync_due = Some(now + chrono::Duration::minutes(i64::from(interval)));
            Some(run.id)
        }
        Ok(SyncRequest::Merged(pending)) => Some(pending.sync_run_id),
        Err(reason) => {
            tracing::error!(%reason, "the first sync could not be queued; the scheduler will run it");
            None
        }
    };
    tracing::info!(fresh, mode = ?tenant.mode, "tenant connected");
    Ok(Connected {
        tenant,
        first_sync_queued: sync_run_id.is_some(),
        sync_run_id,
        fresh,
    })
}
