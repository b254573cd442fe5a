//! The sync routes: request a sync, read the sync log, and read what the sync stored.
//!
//! - `POST /tenants/{tenant_id}/sync` (optional body `{"full": true}`): queues a sync now and
//!   answers 202 with the sync run's id; while a run of the tenant is queued or running (and is
//!   full when a full sync is asked) the request is merged into it: 202 with that run's id and
//!   `"merged": true`, so many requests at once queue one run.
//! - `GET /tenants/{tenant_id}/sync-runs?limit=20`: the sync log, newest first.
//! - `GET /tenants/{tenant_id}/accounts?limit=100&cursor=…&include_deleted=false`: accounts, a page
//!   at a time; `next_cursor` fetches the next page (absent on the last one).
//! - `GET /tenants/{tenant_id}/accounts/{account_id}`: one account by object id or UPN.
//! - `GET /tenants/{tenant_id}/groups?limit=100&cursor=…&include_deleted=false`: groups, paged.
//! - `GET /tenants/{tenant_id}/groups/{group_id}/members?limit=100&cursor=…`: a group's members
//!   that are accounts, paged.
//! - `GET /tenants/{tenant_id}/licenses`: per-SKU seats (enabled, consumed, unused, suspended,
//!   warning) and their totals.
//!
//! Accounts and groups live in sharded partitions per tenant ([`lifecycle::Store::list_accounts`]);
//! a page walks them in order, and the cursor (`{shard}.{last id}`) says where the next page
//! starts: DynamoDB reads that shard from after the cursor's id (a key condition), so a deep page
//! costs what it returns, not everything before it. Pages never hold more than one page of
//! records.

use std::collections::VecDeque;
use std::pin::pin;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use futures::TryStreamExt as _;
use lifecycle::http::{body_text, json_response, path_param, query_param};
use lifecycle::model::{Sku, SyncRun, SyncRunStatus, TenantConnection};
use lifecycle::store::{MembersCursor, ShardCursor};
use lifecycle::sync_runs::{self, SyncRequest};
use lifecycle::{AccountId, GroupId, Platform, StoreError, SyncRunId, TenantId, Upn};
use serde::Deserialize;

/// Largest page of accounts or groups.
pub(crate) const MAX_LIMIT: usize = 1_000;
const DEFAULT_LIMIT: usize = 100;
/// Longest sync log answered at once.
pub(crate) const MAX_RUNS: usize = 200;

use crate::answers::{
    AccountPage, AccountView, GroupMembersPage, GroupPage, GroupView, Licenses, MemberView,
    SeatTotals, SkuSeats, SyncQueued, SyncRunLog,
};
use crate::{Answer, answer, tenant_state};

/// The optional body of `POST /tenants/{tenant_id}/sync` (an empty body is `{"full": false}`).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncBody {
    /// Read everything again instead of only the changes since the last delta link.
    #[serde(default)]
    full: bool,
}

/// The dependencies of the sync routes, built once per cold start.
#[derive(Clone)]
pub struct SyncRoutes {
    platform: Platform,
}

impl std::fmt::Debug for SyncRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRoutes")
            .field("table", &self.platform.config.table_name)
            .finish_non_exhaustive()
    }
}

impl SyncRoutes {
    /// The routes over the function's one [`Platform`] (a cheap handle: clients are shared).
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// `POST /tenants/{tenant_id}/sync`: 202 with the run id; 409 when the tenant must be
    /// reconnected first.
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
    pub async fn request_sync(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        lifecycle::http::require_json(request)?;
        let text = body_text(request).map_err(|message| answer(400, "bad_request", message))?;
        let body: SyncBody = if text.trim().is_empty() {
            SyncBody::default()
        } else {
            serde_json::from_str(&text).map_err(|error| {
                answer(
                    400,
                    "bad_request",
                    format!("the body must be {{\"full\": true|false}} or empty: {error}"),
                )
            })?
        };
        // Both are read before either decides: a bad flag is refused even when the body says full.
        let full_query = lifecycle::http::bool_query(request, "full")?;
        let full = body.full || full_query;
        let tenant = tenant_state::connected(tenant)?;
        let request = sync_runs::request_or_merge_sync(&self.platform, tenant, full, Utc::now())
            .await
            .map_err(|error| {
                tracing::error!(%error, "sync could not be queued");
                answer(
                    503,
                    "unavailable",
                    "the sync could not be queued; try again later",
                )
            })?;
        let (status, full, merged) = match &request {
            SyncRequest::Queued(run) => (run.status, run.full, false),
            SyncRequest::Merged(pending) => (
                self.pending_status(&tenant.tenant_id, &pending.sync_run_id)
                    .await,
                pending.full,
                true,
            ),
        };
        Ok(json_response(
            202,
            &SyncQueued {
                sync_run_id: request.sync_run_id().clone(),
                status,
                full,
                merged,
                sync_runs: format!("/tenants/{}/sync-runs", tenant.tenant_id),
            },
        ))
    }

    /// The status of a pending run merged into: as its record says, `queued` when it cannot be
    /// read (the run is queued or running either way).
    async fn pending_status(&self, tenant: &TenantId, run: &SyncRunId) -> SyncRunStatus {
        match sync_runs::find_run(&self.platform.store, tenant, run).await {
            Ok(Some((_, record))) => record.status,
            Ok(None) => SyncRunStatus::Queued,
            Err(error) => {
                tracing::warn!(%error, "the pending sync run could not be read");
                SyncRunStatus::Queued
            }
        }
    }

    /// `GET /tenants/{tenant_id}/sync-runs`: the newest runs first, and the tenant's last sync and
    /// next one due.
    pub async fn sync_runs(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let limit = limit(request, 20, MAX_RUNS)?;
        let tenant = tenant_state::live(tenant)?;
        // The log is kept oldest first; only the newest `limit` are held while it streams by.
        let mut newest: VecDeque<SyncRun> = VecDeque::with_capacity(limit + 1);
        let mut log = pin!(self.platform.store.sync_runs(&tenant.tenant_id));
        while let Some(run) = log.try_next().await.map_err(unavailable)? {
            newest.push_back(run);
            if newest.len() > limit {
                newest.pop_front();
            }
        }
        let runs: Vec<SyncRun> = newest.into_iter().rev().collect();
        Ok(json_response(
            200,
            &SyncRunLog {
                syncing: runs
                    .iter()
                    .any(|r| matches!(r.status, SyncRunStatus::Queued | SyncRunStatus::Syncing)),
                tenant_id: tenant.tenant_id.clone(),
                last_sync: tenant.last_sync.clone(),
                next_sync_due: tenant.next_sync_due,
                sync_runs: runs,
            },
        ))
    }

    /// `GET /tenants/{tenant_id}/accounts`.
    pub async fn accounts(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let (from, limit, include_deleted) = listing(request)?;
        let page = self
            .platform
            .store
            .list_accounts(&tenant.tenant_id, from.as_ref(), limit, |a| {
                include_deleted || !a.deleted
            })
            .await
            .map_err(unavailable)?;
        Ok(json_response(
            200,
            &AccountPage {
                accounts: page
                    .items
                    .into_iter()
                    .map(|account| AccountView::of(&tenant.tenant_id, account))
                    .collect(),
                next_cursor: page.next.map(|cursor| cursor.to_string()),
            },
        ))
    }

    /// `GET /tenants/{tenant_id}/groups`.
    pub async fn groups(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let (from, limit, include_deleted) = listing(request)?;
        let page = self
            .platform
            .store
            .list_groups(&tenant.tenant_id, from.as_ref(), limit, |g| {
                include_deleted || !g.deleted
            })
            .await
            .map_err(unavailable)?;
        Ok(json_response(
            200,
            &GroupPage {
                groups: page
                    .items
                    .into_iter()
                    .map(|group| GroupView::of(&tenant.tenant_id, group))
                    .collect(),
                next_cursor: page.next.map(|cursor| cursor.to_string()),
            },
        ))
    }

    /// `GET /tenants/{tenant_id}/groups/{group_id}/members`: the group's stored members that are
    /// accounts, a page at a time in the store's order (the hash of their ids; see
    /// `lifecycle::store::MembersCursor`), each with its stored account.
    pub async fn group_members(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let wanted = path_param(request, "group_id");
        let group_id = GroupId::parse(wanted).map_err(|_| {
            answer(
                400,
                "bad_request",
                format!(
                    "group_id {wanted:?} is not a group's object id (a GUID); GET /tenants/{}/groups lists them",
                    tenant.tenant_id
                ),
            )
        })?;
        let limit = limit(request, DEFAULT_LIMIT, MAX_LIMIT)?;
        let after = query_param(request, "cursor")
            .map(|cursor| MembersCursor::parse(cursor).ok_or_else(cursor_not_ours))
            .transpose()?;
        let store = &self.platform.store;
        let Some(group) = store
            .group(&tenant.tenant_id, &group_id)
            .await
            .map_err(unavailable)?
        else {
            return Err(answer(
                404,
                "group_not_found",
                format!(
                    "no group {group_id} in tenant {}; sync the tenant if it was created since",
                    tenant.tenant_id
                ),
            ));
        };
        let page = store
            .list_group_members(&tenant.tenant_id, &group_id, after.as_ref(), limit)
            .await
            .map_err(unavailable)?;
        let mut accounts = store
            .stored_accounts(&tenant.tenant_id, &page.members)
            .await
            .map_err(unavailable)?;
        Ok(json_response(
            200,
            &GroupMembersPage {
                group: GroupView::of(&tenant.tenant_id, group),
                members: page
                    .members
                    .into_iter()
                    .map(|id| {
                        let account = accounts.remove(&id);
                        MemberView::of(&tenant.tenant_id, id, account)
                    })
                    .collect(),
                next_cursor: page.next.map(|cursor| cursor.to_string()),
            },
        ))
    }

    /// `GET /tenants/{tenant_id}/accounts/{account_id}`: by object id, or by UPN (which reads the
    /// tenant's accounts until it is found).
    pub async fn account(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let wanted = path_param(request, "account_id");
        let not_found = || {
            answer(
                404,
                "account_not_found",
                format!(
                    "no account {wanted:?} in tenant {}; sync the tenant if it was created since",
                    tenant.tenant_id
                ),
            )
        };
        if let Ok(id) = AccountId::parse(wanted) {
            return match self
                .platform
                .store
                .account(&tenant.tenant_id, &id)
                .await
                .map_err(unavailable)?
            {
                Some(account) => Ok(json_response(
                    200,
                    &AccountView::of(&tenant.tenant_id, account),
                )),
                None => Err(not_found()),
            };
        }
        let upn = Upn::parse(wanted).map_err(|error| {
            answer(
                400,
                "bad_request",
                format!("the account must be an object id or a user principal name: {error}"),
            )
        })?;
        let mut accounts = pin!(self.platform.store.accounts(&tenant.tenant_id));
        while let Some(account) = accounts.try_next().await.map_err(unavailable)? {
            if account.upn == upn {
                return Ok(json_response(
                    200,
                    &AccountView::of(&tenant.tenant_id, account),
                ));
            }
        }
        Err(not_found())
    }

    /// `GET /tenants/{tenant_id}/licenses`: the subscribed SKUs with their seats, and totals.
    pub async fn licenses(
        &self,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let skus: Vec<Sku> = self
            .platform
            .store
            .subscribed_skus(&tenant.tenant_id)
            .try_collect()
            .await
            .map_err(unavailable)?;
        let total = |seats: fn(&Sku) -> u32| skus.iter().map(|s| u64::from(seats(s))).sum::<u64>();
        let totals = SeatTotals {
            enabled: total(|s| s.enabled),
            consumed: total(|s| s.consumed),
            unused: total(Sku::unused),
            suspended: total(|s| s.suspended),
            warning: total(|s| s.warning),
        };
        let skus: Vec<SkuSeats> = skus
            .into_iter()
            .map(|sku| SkuSeats {
                unused: sku.unused(),
                sku,
            })
            .collect();
        Ok(json_response(
            200,
            &Licenses {
                tenant_id: tenant.tenant_id.clone(),
                last_sync: tenant.last_sync.clone(),
                skus,
                totals,
            },
        ))
    }
}

/// A listing's query: where it goes on (`cursor`), how many (`limit`), and whether deleted
/// objects are shown (`include_deleted`).
fn listing(
    request: &ApiGatewayV2httpRequest,
) -> Result<(Option<ShardCursor>, usize, bool), Answer> {
    let limit = limit(request, DEFAULT_LIMIT, MAX_LIMIT)?;
    let include_deleted = lifecycle::http::bool_query(request, "include_deleted")?;
    let from = query_param(request, "cursor")
        .map(parse_cursor)
        .transpose()?;
    Ok((from, limit, include_deleted))
}

fn parse_cursor(cursor: &str) -> Result<ShardCursor, Answer> {
    ShardCursor::parse(cursor).ok_or_else(cursor_not_ours)
}

fn cursor_not_ours() -> Answer {
    answer(
        400,
        "bad_request",
        "the cursor is not one this API gave out; start again without it",
    )
}

fn limit(request: &ApiGatewayV2httpRequest, default: usize, max: usize) -> Result<usize, Answer> {
    match query_param(request, "limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(answer(
                400,
                "bad_request",
                format!("limit must be a whole number from 1 to {max}"),
            )),
        },
    }
}

fn unavailable(error: StoreError) -> Answer {
    tracing::error!(%error, "sync route: the store failed");
    answer(
        503,
        "unavailable",
        "the store could not be read; try again later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_cursors_when_parsed_then_only_ones_the_api_makes_are_accepted() {
        // GIVEN a cursor of the form the listing gives out, and three it never gives out
        let made = "3.0b9f1c2e-0000-4000-8000-000000000001";

        // WHEN each is parsed THEN the made one reads back as itself, the others are a 400
        assert_eq!(
            parse_cursor(made).map(|c| c.to_string()).ok().as_deref(),
            Some(made)
        );
        assert!(parse_cursor("16.x").is_err(), "shard out of range");
        assert!(parse_cursor("nope").is_err());
        assert!(parse_cursor("2.").is_err());
    }
}
