//! Matching the platform's people to the tenant's synced accounts ([`lifecycle::matching`]):
//!
//! - `POST /tenants/{tenant_id}/matches` `{"people": [{"id", "name", "emails"}]}` (at most
//!   200 people: 413 naming `people` beyond): for each person the account matched (confirmed,
//!   or exact by UPN, mail or proxy address), or suggestions ranked by name similarity, or none;
//!   and the tenant's accounts matched to nobody.
//! - `PUT /tenants/{tenant_id}/matches/{person_id}` `{"account_id"}`: confirms a match (the
//!   account must be synced and not deleted); used from then on, kept across syncs.
//! - `GET /tenants/{tenant_id}/matches`: the confirmed matches, each `confirmed` or `broken`
//!   (its account is no longer in the tenant).
//!
//! Confirmed matches live in the tenant's own partition (`T#{tenant}` / `MATCH#{person_id}`),
//! behind the tenant check every `/tenants/{tenant_id}` route has, and go with the tenant.

use std::collections::{HashMap, HashSet};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use futures::TryStreamExt as _;
use lifecycle::http::{json_response, parse_json_body, path_param};
use lifecycle::matching::{
    ConfirmedMatch, ConfirmedMatches, ConfirmedView, Directory, MAX_UNMATCHED_LISTED, MatchRequest,
};
use lifecycle::model::{Account, TenantConnection};
use lifecycle::{AccountId, PersonId, Platform, StoreError};
use serde::Deserialize;

use crate::{Answer, answer, answer_field, tenant_state};

/// The body of `PUT /tenants/{tenant_id}/matches/{person_id}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The synced account (object id) the person is.
    pub account_id: AccountId,
}

/// The matching routes over the function's one [`Platform`].
#[derive(Clone)]
pub struct MatchRoutes {
    platform: Platform,
}

impl std::fmt::Debug for MatchRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchRoutes").finish_non_exhaustive()
    }
}

impl MatchRoutes {
    /// The routes over `platform` (a cheap handle: clients are shared).
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// `POST /tenants/{tenant_id}/matches`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant.tenant_id))]
    pub async fn match_people(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let body: MatchRequest = parse_json_body(request)?;
        if let Err(error) = body.validate() {
            let status = if error.is_too_large() { 413 } else { 400 };
            let code = if error.is_too_large() {
                "too_many_people"
            } else {
                "bad_request"
            };
            return Err(answer_field(status, code, &error.field(), error));
        }
        let tenant = tenant_state::live(tenant)?;
        let store = &self.platform.store;
        let accounts: Vec<Account> = store
            .accounts(&tenant.tenant_id)
            .try_collect()
            .await
            .map_err(unavailable)?;
        let directory = Directory::new(accounts);
        let confirmed: HashMap<PersonId, ConfirmedMatch> = store
            .confirmed_matches(&tenant.tenant_id)
            .map_ok(|confirmed| (confirmed.person_id.clone(), confirmed))
            .try_collect()
            .await
            .map_err(unavailable)?;
        let asked: HashSet<&PersonId> = body.people.iter().map(|person| &person.id).collect();
        let also_matched: HashSet<AccountId> = confirmed
            .values()
            .filter(|confirmed| !asked.contains(&confirmed.person_id))
            .map(|confirmed| confirmed.account_id.clone())
            .collect();
        let report = directory.match_people(&body.people, &confirmed, &also_matched);
        tracing::info!(
            people = body.people.len(),
            unmatched_accounts = report.unmatched_accounts_total,
            "people matched"
        );
        Ok(json_response(200, &report))
    }

    /// `PUT /tenants/{tenant_id}/matches/{person_id}`: 200 with the confirmed match; 404 naming
    /// `account_id` when the account is not a synced, live account of this tenant.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant.tenant_id))]
    pub async fn confirm(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let person_id = PersonId::parse(path_param(request, "person_id"))
            .map_err(|error| answer_field(400, "bad_request", "person_id", error))?;
        let body: ConfirmBody = parse_json_body(request)?;
        let tenant = tenant_state::live(tenant)?;
        let store = &self.platform.store;
        let account = store
            .account(&tenant.tenant_id, &body.account_id)
            .await
            .map_err(unavailable)?
            .filter(|account| !account.deleted)
            .ok_or_else(|| {
                answer_field(
                    404,
                    "account_not_found",
                    "account_id",
                    format!(
                        "account {} is not a synced account of tenant {}: pick one from the matches' suggestions or GET /tenants/{}/accounts",
                        body.account_id, tenant.tenant_id, tenant.tenant_id
                    ),
                )
            })?;
        let confirmed = ConfirmedMatch {
            tenant_id: tenant.tenant_id.clone(),
            person_id,
            account_id: account.id.clone(),
            confirmed_at: Utc::now(),
        };
        store
            .put_confirmed_match(&confirmed)
            .await
            .map_err(unavailable)?;
        Ok(json_response(
            200,
            &ConfirmedView::of(confirmed, Some(&account)),
        ))
    }

    /// `GET /tenants/{tenant_id}/matches`: the confirmed matches with their state now.
    pub async fn list(
        &self,
        tenant: &TenantConnection,
    ) -> Result<ApiGatewayV2httpResponse, Answer> {
        let tenant = tenant_state::live(tenant)?;
        let store = &self.platform.store;
        let mut confirmed = std::pin::pin!(store.confirmed_matches(&tenant.tenant_id));
        let mut matches = Vec::new();
        let mut truncated = false;
        while let Some(one) = confirmed.try_next().await.map_err(unavailable)? {
            if matches.len() == MAX_UNMATCHED_LISTED {
                truncated = true;
                break;
            }
            let account = store
                .account(&tenant.tenant_id, &one.account_id)
                .await
                .map_err(unavailable)?;
            matches.push(ConfirmedView::of(one, account.as_ref()));
        }
        Ok(json_response(200, &ConfirmedMatches { matches, truncated }))
    }
}

fn unavailable(error: StoreError) -> Answer {
    tracing::error!(%error, "matches: the store failed");
    answer(
        503,
        "unavailable",
        "the store could not be read or written; try again later",
    )
}
