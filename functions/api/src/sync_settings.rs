//! What a tenant chooses to sync:
//!
//! - `GET /tenants/{tenant_id}/sync-settings`: the tenant's settings (the defaults, which keep
//!   everything every 60 minutes, until it chooses).
//! - `PUT /tenants/{tenant_id}/sync-settings`: replaces them (what the body leaves out takes its
//!   default). The interval applies at once (the next scheduled sync is one interval after the
//!   last); a change of what is kept (kinds, which accounts) makes the next run full, which
//!   removes from the store what no longer belongs and reads again what now does. That run is
//!   queued at once (merged into a pending one) when the tenant is connected.
//!
//! The settings are stored per tenant (`T#{tenant}` / `SYNC_SETTINGS`), behind the tenant check
//! every `/tenants/{tenant_id}` route has.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use lifecycle::http::{json_response, parse_json_body, path_param};
use lifecycle::model::{ConnectionStatus, SyncSettings, TenantConnection, TenantSyncSettings};
use lifecycle::sync_runs;
use lifecycle::{Platform, StoreError};

use crate::answers::SyncSettingsView;
use crate::{Answer, answer, answer_field, tenant_state};

/// The sync-settings routes over the function's one [`Platform`].
#[derive(Clone)]
pub struct SettingsRoutes {
    platform: Platform,
}

impl std::fmt::Debug for SettingsRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsRoutes").finish_non_exhaustive()
    }
}

impl SettingsRoutes {
    /// The routes over `platform` (a cheap handle: clients are shared).
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// `GET /tenants/{tenant_id}/sync-settings`.
    pub async fn get(&self, tenant: &TenantConnection) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let stored = self
            .platform
            .store
            .sync_settings(&tenant.tenant_id)
            .await
            .map_err(unavailable)?;
        Ok(json_response(
            200,
            &SyncSettingsView::of(tenant, stored, None),
        ))
    }

    /// `PUT /tenants/{tenant_id}/sync-settings`: 200 with the settings as stored; 400 naming the
    /// field a rule refuses.
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
    pub async fn put(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let settings: SyncSettings = parse_json_body(request)?;
        settings
            .validate()
            .map_err(|error| answer_field(400, "bad_request", error.field(), error))?;
        let tenant = tenant_state::live(tenant)?;
        let store = &self.platform.store;
        let old = store
            .sync_settings(&tenant.tenant_id)
            .await
            .map_err(unavailable)?;
        let now = Utc::now();
        let changes = old.settings.changes_what_is_kept(&settings);
        let stored = TenantSyncSettings {
            tenant_id: tenant.tenant_id.clone(),
            full_sync_pending: old.full_sync_pending || changes,
            settings,
            updated_at: Some(now),
            revision: Some(uuid::Uuid::new_v4().simple().to_string()),
        };
        store
            .put_sync_settings(&stored)
            .await
            .map_err(unavailable)?;
        let tenant = self.reschedule(tenant, &stored).await?;
        let queued = if stored.full_sync_pending && tenant.status == ConnectionStatus::Connected {
            match sync_runs::request_or_merge_sync(&self.platform, &tenant, true, now).await {
                Ok(request) => Some(request.sync_run_id().clone()),
                Err(error) => {
                    // The change still applies: the next scheduled run starts full.
                    tracing::warn!(%error, "the full sync for the new settings could not be queued");
                    None
                }
            }
        } else {
            None
        };
        tracing::info!(
            widened = old.settings.widened_by(&stored.settings),
            changes,
            interval = stored.settings.interval_minutes,
            "sync settings changed"
        );
        Ok(json_response(
            200,
            &SyncSettingsView::of(&tenant, stored, queued),
        ))
    }

    /// Keeps the tenant's schedule to the new interval: the next scheduled sync is one interval
    /// after the last (or from now, when there was none).
    async fn reschedule(
        &self,
        tenant: &TenantConnection,
        stored: &TenantSyncSettings,
    ) -> Result<TenantConnection, Answer> {
        let minutes = stored.settings.interval_minutes;
        // Re-read: a sync may have updated the connection since the route read it.
        let mut fresh = self
            .platform
            .tenant(&tenant.tenant_id)
            .await
            .map_err(unavailable)?
            .unwrap_or_else(|| tenant.clone());
        if fresh.sync_interval_minutes == minutes {
            return Ok(fresh);
        }
        let from = fresh
            .last_sync
            .as_ref()
            .map_or_else(Utc::now, |last| last.at);
        fresh.sync_interval_minutes = minutes;
        fresh.next_sync_due = Some(from + chrono::Duration::minutes(i64::from(minutes)));
        match self.platform.save_tenant(&fresh).await {
            Ok(()) => Ok(fresh),
            Err(StoreError::TenantGone { .. }) => Err(answer(
                404,
                "tenant_not_found",
                format!("tenant {} is not connected", tenant.tenant_id),
            )),
            Err(error) => Err(unavailable(error)),
        }
    }
}

fn unavailable(error: StoreError) -> Answer {
    tracing::error!(%error, "sync settings: the store failed");
    answer(
        503,
        "unavailable",
        "the store could not be read or written; try again later",
    )
}
