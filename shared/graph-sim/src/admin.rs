//! The simulator's own API under /_sim (knobs, consent, mutations, ground truth, stats) and
//! the typed functions behind it that `SimHandle` exposes too.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{
    AppInfo, ConsentChange, Knobs, Mutation, MutationReport, SimError, Stats, TenantInfo, Truth,
    TruthCounts, TruthGroup, TruthRole, TruthSku, TruthUser,
};
use crate::state::{GroupKind, Sim, TenantSlot};

impl Sim {
    pub(crate) fn slot(&self, tenant_id: &str) -> Result<&TenantSlot, SimError> {
        self.tenant_index(tenant_id)
            .map(|i| &self.tenants[i])
            .ok_or_else(|| SimError::UnknownTenant(tenant_id.to_string()))
    }

    pub(crate) fn tenant_infos(&self) -> Vec<TenantInfo> {
        self.tenants
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let t = slot.data.read().unwrap_or_else(|e| e.into_inner());
                let own = self.apps.iter().find(|a| a.home_tenant == Some(i));
                let mut verified: Vec<String> = t
                    .domains
                    .iter()
                    .filter(|d| d.is_verified)
                    .map(|d| d.name.clone())
                    .collect();
                verified.sort_by_key(|d| !t.domains.iter().any(|x| x.is_default && &x.name == d));
                TenantInfo {
                    tenant_id: slot.id_str.clone(),
                    display_name: slot.display_name.clone(),
                    verified_domains: verified,
                    default_domain: t.default_domain().to_string(),
                    initial_domain: t.initial_domain().to_string(),
                    unverified_domains: t
                        .domains
                        .iter()
                        .filter(|d| !d.is_verified)
                        .map(|d| d.name.clone())
                        .collect(),
                    own_app: own
                        .map(|a| AppInfo {
                            client_id: a.client_id.clone(),
                            client_secret: a.client_secret.clone(),
                        })
                        .unwrap_or(AppInfo {
                            client_id: String::new(),
                            client_secret: String::new(),
                        }),
                    has_p1: t.has_p1,
                    users: t.users.iter().filter(|u| u.deleted_at.is_none()).count(),
                    groups: t.groups.len(),
                    customers: t.customers.iter().map(|(id, _)| id.to_string()).collect(),
                }
            })
            .collect()
    }

    pub(crate) fn knobs(&self, tenant_id: &str) -> Result<Knobs, SimError> {
        let slot = self.slot(tenant_id)?;
        let rt = slot.rt.lock().map_err(|_| SimError::Poisoned)?;
        Ok(rt.knobs.clone())
    }

    /// Replaces the knobs; the two action flags act once and are stored as false.
    pub(crate) fn set_knobs(&self, tenant_id: &str, mut knobs: Knobs) -> Result<Knobs, SimError> {
        let slot = self.slot(tenant_id)?;
        let mut rt = slot.rt.lock().map_err(|_| SimError::Poisoned)?;
        if knobs.expire_delta_tokens {
            rt.delta_epoch += 1;
            knobs.expire_delta_tokens = false;
        }
        if knobs.expire_tokens {
            rt.token_floor = self.token_serial.load(Ordering::Relaxed) + 1;
            knobs.expire_tokens = false;
        }
        knobs.fail_rate_5xx = knobs.fail_rate_5xx.clamp(0.0, 1.0);
        knobs.fail_rate_429 = knobs.fail_rate_429.clamp(0.0, 1.0);
        knobs.retry_after_s = knobs.retry_after_s.max(0.0);
        rt.knobs = knobs.clone();
        Ok(knobs)
    }

    /// Grants (with the given or the app's own roles) or revokes an app's consent in a tenant.
    pub(crate) fn consent(
        &self,
        tenant_id: &str,
        change: &ConsentChange,
    ) -> Result<Vec<String>, SimError> {
        let slot = self.slot(tenant_id)?;
        let client_id = change
            .client_id
            .clone()
            .unwrap_or_else(|| self.apps[0].client_id.clone());
        let app = self
            .app(&client_id)
            .ok_or_else(|| SimError::UnknownApp(client_id.clone()))?;
        let mut rt = slot.rt.lock().map_err(|_| SimError::Poisoned)?;
        let key = app.client_id.to_ascii_lowercase();
        if change.granted {
            let roles = if change.roles.is_empty() {
                app.roles.clone()
            } else {
                change.roles.clone()
            };
            rt.consents.insert(key, roles.clone());
            Ok(roles)
        } else {
            rt.consents.remove(&key);
            Ok(Vec::new())
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        Stats {
            requests: s.requests,
            by_route: s.by_route.clone(),
            throttled: s.throttled,
            injected_5xx: s.injected_5xx,
            tokens_issued: s.tokens_issued,
            patched_user_properties: s.patched_user_properties.clone(),
            modelled_ms: s.modelled_ms.clone(),
        }
    }

    pub(crate) fn mutate(&self, tenant_id: &str, m: &Mutation) -> Result<MutationReport, SimError> {
        let slot = self.slot(tenant_id)?;
        let mut rng = {
            let mut rt = slot.rt.lock().map_err(|_| SimError::Poisoned)?;
            fastrand::Rng::with_seed(rt.mutations.u64(..))
        };
        let mut t = slot.data.write().map_err(|_| SimError::Poisoned)?;
        Ok(crate::state::mutate::apply(
            &mut t,
            m,
            &mut rng,
            self.started,
        ))
    }

    /// Grows the tenant's largest assignable group to `members` members; returns its id.
    pub(crate) fn grow_group(&self, tenant_id: &str, members: usize) -> Result<String, SimError> {
        let slot = self.slot(tenant_id)?;
        let mut t = slot.data.write().map_err(|_| SimError::Poisoned)?;
        let g = crate::state::mutate::grow_group(&mut t, members)
            .ok_or_else(|| SimError::NoAssignableGroup(tenant_id.to_owned()))?;
        Ok(t.groups[g as usize].id.to_string())
    }

    /// Ground truth; `full` = false gives the counts and SKUs only.
    pub(crate) fn truth(&self, tenant_id: &str, full: bool) -> Result<Truth, SimError> {
        let slot = self.slot(tenant_id)?;
        let t = slot.data.read().map_err(|_| SimError::Poisoned)?;
        let live = || t.users.iter().filter(|u| u.deleted_at.is_none());
        let counts = TruthCounts {
            users: live().count(),
            deleted_users: t.users.len() - live().count(),
            groups: t.groups.len(),
            memberships: t.groups.iter().map(|g| g.members.len()).sum(),
            licenses: live().map(|u| u.assigned_skus().count()).sum(),
        };
        let skus = t
            .skus
            .iter()
            .map(|s| TruthSku {
                sku_id: s.def.sku_id.to_string(),
                sku_part_number: s.def.part_number.to_string(),
                enabled: s.enabled,
                suspended: s.suspended,
                warning: s.warning,
                consumed: s.consumed,
            })
            .collect();
        let mut truth = Truth {
            tenant_id: slot.id_str.clone(),
            counts,
            skus,
            ..Truth::default()
        };
        if !full {
            return Ok(truth);
        }
        truth.users = t
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.deleted_at.is_none())
            .map(|(i, u)| (t.access.get(&(i as u32)), u))
            .map(|(access, u)| TruthUser {
                id: u.id.to_string(),
                user_principal_name: u.upn.to_string(),
                display_name: u.display_name.to_string(),
                account_enabled: u.account_enabled,
                user_type: if u.guest { "Guest" } else { "Member" }.to_string(),
                usage_location: u.usage_location.as_deref().map(String::from),
                on_premises_sync_enabled: u.on_prem,
                sku_ids: u
                    .assigned_skus()
                    .map(|s| t.skus[s as usize].def.sku_id.to_string())
                    .collect(),
                last_sign_in: u.sign_in.map(|s| s.last),
                manager_id: u.manager.map(|m| t.users[m as usize].id.to_string()),
                disabled_plans: u
                    .licenses
                    .iter()
                    .filter(|a| a.by_group.is_none() && a.disabled != 0)
                    .map(|a| {
                        let def = t.skus[a.sku as usize].def;
                        let plans = def
                            .plans
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| a.disabled & (1 << i) != 0)
                            .map(|(_, p)| p.id.to_string())
                            .collect();
                        (def.sku_id.to_string(), plans)
                    })
                    .collect(),
                auth_methods: access
                    .map(|a| {
                        a.methods
                            .iter()
                            .map(|m| m.kind.odata_type().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                app_role_assignment_ids: access
                    .map(|a| a.app_roles.iter().map(|r| r.id.clone()).collect())
                    .unwrap_or_default(),
                permission_grant_ids: access
                    .map(|a| a.grants.iter().map(|g| g.id.clone()).collect())
                    .unwrap_or_default(),
                automatic_reply: access
                    .and_then(|a| a.auto_reply.as_ref())
                    .map(|r| (r.status.clone(), r.internal_message.clone())),
                proxy_addresses: u.proxy_addresses(&t),
            })
            .collect();
        truth.deleted_user_ids = t
            .users
            .iter()
            .filter(|u| u.deleted_at.is_some())
            .map(|u| u.id.to_string())
            .collect();
        truth.groups = t
            .groups
            .iter()
            .filter(|g| g.deleted_at.is_none())
            .map(|g| TruthGroup {
                id: g.id.to_string(),
                display_name: g.display_name.to_string(),
                kind: match g.kind {
                    GroupKind::Security => "security",
                    GroupKind::MailEnabledSecurity => "mailEnabledSecurity",
                    GroupKind::Distribution => "distribution",
                    GroupKind::Unified => "unified",
                    GroupKind::DynamicSecurity => "dynamicSecurity",
                    GroupKind::DynamicUnified => "dynamicUnified",
                }
                .to_string(),
                member_ids: g
                    .members
                    .iter()
                    .map(|&m| t.users[m as usize].id.to_string())
                    .collect(),
                owner_ids: g
                    .owners
                    .iter()
                    .map(|&m| t.users[m as usize].id.to_string())
                    .collect(),
            })
            .collect();
        truth.roles = t
            .roles
            .iter()
            .map(|r| TruthRole {
                id: r.id.to_string(),
                role_template_id: r.role_template_id.to_string(),
                display_name: r.display_name.to_string(),
                member_ids: r
                    .members
                    .iter()
                    .map(|&m| t.users[m as usize].id.to_string())
                    .collect(),
            })
            .collect();
        Ok(truth)
    }
}

fn err(e: SimError) -> Response {
    let status = match e {
        SimError::UnknownTenant(_) | SimError::UnknownApp(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({"error": e.to_string()}))).into_response()
}

fn answer<T: serde::Serialize>(r: Result<T, SimError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => err(e),
    }
}

pub(crate) async fn tenants(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.tenant_infos()).into_response()
}

pub(crate) async fn get_knobs(State(sim): State<Arc<Sim>>, Path(tid): Path<String>) -> Response {
    answer(sim.knobs(&tid))
}

/// PUT knobs: the fields given replace the current ones, the rest stay.
pub(crate) async fn put_knobs(
    State(sim): State<Arc<Sim>>,
    Path(tid): Path<String>,
    Json(patch): Json<Value>,
) -> Response {
    let current = match sim.knobs(&tid) {
        Ok(k) => k,
        Err(e) => return err(e),
    };
    let mut merged = serde_json::to_value(current).unwrap_or(Value::Null);
    if let (Value::Object(m), Value::Object(p)) = (&mut merged, patch) {
        for (k, v) in p {
            m.insert(k, v);
        }
    }
    match serde_json::from_value::<Knobs>(merged) {
        Ok(k) => answer(sim.set_knobs(&tid, k)),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("invalid knobs: {e}")})),
        )
            .into_response(),
    }
}

pub(crate) async fn consent(
    State(sim): State<Arc<Sim>>,
    Path(tid): Path<String>,
    Json(change): Json<ConsentChange>,
) -> Response {
    answer(
        sim.consent(&tid, &change)
            .map(|roles| json!({"granted": change.granted, "roles": roles})),
    )
}

pub(crate) async fn mutate(
    State(sim): State<Arc<Sim>>,
    Path(tid): Path<String>,
    Json(m): Json<Mutation>,
) -> Response {
    let sim2 = sim.clone();
    match tokio::task::spawn_blocking(move || sim2.mutate(&tid, &m)).await {
        Ok(r) => answer(r),
        Err(_) => err(SimError::Poisoned),
    }
}

#[derive(Deserialize)]
pub(crate) struct TruthQuery {
    #[serde(default)]
    counts_only: bool,
}

pub(crate) async fn truth(
    State(sim): State<Arc<Sim>>,
    Path(tid): Path<String>,
    Query(q): Query<TruthQuery>,
) -> Response {
    answer(sim.truth(&tid, !q.counts_only))
}

pub(crate) async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.stats()).into_response()
}

#[derive(Deserialize)]
pub(crate) struct SignedIn {
    tenant_id: String,
}

/// PUT /_sim/signed-in-tenant: whose admin the consent page signs in as for /organizations.
pub(crate) async fn signed_in(State(sim): State<Arc<Sim>>, Json(s): Json<SignedIn>) -> Response {
    match sim.tenant_index(&s.tenant_id) {
        Some(i) => {
            if let Ok(mut cur) = sim.signed_in_tenant.lock() {
                *cur = i;
            }
            Json(json!({"tenant_id": sim.tenants[i].id_str})).into_response()
        }
        None => err(SimError::UnknownTenant(s.tenant_id)),
    }
}

/// GET /_sim/downloads/{tid}/mailboxUsageDetail/{period}.csv (the report's download URL).
pub(crate) async fn download(
    State(sim): State<Arc<Sim>>,
    Path((tid, file)): Path<(String, String)>,
) -> Response {
    sim.count("GET /_sim/downloads/mailboxUsageDetail");
    let Ok(slot) = sim.slot(&tid) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let period = file.trim_end_matches(".csv");
    let t = slot.data.read().unwrap_or_else(|e| e.into_inner());
    let csv = crate::routes::directory::mailbox_usage_csv(&t, period, sim.started);
    (
        StatusCode::OK,
        [("content-type", "application/octet-stream")],
        csv,
    )
        .into_response()
}
