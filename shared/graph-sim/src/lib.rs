//! A Microsoft Graph v1.0 + Microsoft identity platform simulator for tests, demo and benchmarks.
//!
//! One listener on 127.0.0.1 serves the login endpoints (`/{tenant}/oauth2/v2.0/token`,
//! `/{tenant}/v2.0/adminconsent`, and OpenID Connect sign-in: `/{tenant}/oauth2/v2.0/authorize`,
//! the discovery document and the signing keys, see [`oidc`]), Graph under `/v1.0` and the simulator's own admin API under
//! `/_sim`. Tenants are generated deterministically from a seed; JSON follows Microsoft's
//! documented shapes (property names as in the v1.0 CSDL). It shares no types with the client
//! crate, so a client bug cannot hide behind the same mistake here.

mod admin;
mod auth;
mod catalog;
mod config;
mod consent;
mod http;
mod json;
mod latency;
mod odata;
mod oidc;
mod props;
mod routes;
mod state;
mod throttle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::routing::{any, get, post, put};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    AppInfo, ConsentChange, Knobs, MembershipRef, Mutation, MutationReport, SimConfig, SimError,
    Stats, TenantInfo, TenantSpec, Truth, TruthCounts, TruthGroup, TruthRole, TruthSku, TruthUser,
};
pub use latency::LatencyModel;

use state::{Runtime, Sim, StatsInner, TenantSlot, derive_seed};

/// A running simulator; it serves until dropped or shut down.
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Generates the tenants and starts serving on 127.0.0.1 (`config.port`, 0 = random).
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let origin = format!("http://127.0.0.1:{}", addr.port());
    let sim = tokio::task::spawn_blocking(move || build(&config, origin))
        .await
        .map_err(std::io::Error::other)?;
    let sim = Arc::new(sim);
    let app = router(sim.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(SimHandle {
        sim,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

fn build(config: &SimConfig, origin: String) -> Sim {
    let started = chrono::Utc::now().timestamp();
    let mut tenants: Vec<state::Tenant> = config
        .tenants
        .iter()
        .enumerate()
        .map(|(i, spec)| state::generate::tenant(config.seed, i, spec, started))
        .collect();
    let names: Vec<_> = tenants
        .iter()
        .map(|t| (t.id, t.display_name.clone()))
        .collect();
    for (i, spec) in config.tenants.iter().enumerate() {
        for &c in &spec.partner_of {
            if let Some(n) = names.get(c)
                && c != i
            {
                tenants[i].customers.push(n.clone());
            }
        }
    }
    let apps = state::generate::apps(config.seed, tenants.len());
    let mut tenant_keys = HashMap::new();
    let slots = tenants
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            tenant_keys.insert(t.id.to_string(), i);
            for d in t.domains.iter().filter(|d| d.is_verified) {
                tenant_keys.insert(d.name.to_ascii_lowercase(), i);
            }
            let mut consents = HashMap::new();
            for a in apps.iter().filter(|a| a.home_tenant == Some(i)) {
                consents.insert(a.client_id.to_ascii_lowercase(), a.roles.clone());
            }
            TenantSlot {
                id_str: t.id.to_string(),
                display_name: t.display_name.to_string(),
                rt: Mutex::new(Runtime {
                    knobs: Knobs::default(),
                    windows: Default::default(),
                    faults: fastrand::Rng::with_seed(derive_seed(config.seed, 0xFA17 + i as u64)),
                    mutations: fastrand::Rng::with_seed(derive_seed(
                        config.seed,
                        0x3C7A + i as u64,
                    )),
                    consents,
                    token_floor: 0,
                    delta_epoch: 0,
                }),
                data: RwLock::new(t),
            }
        })
        .collect();
    Sim {
        origin,
        started,
        tenants: slots,
        tenant_keys,
        apps,
        stats: Mutex::new(StatsInner::default()),
        token_serial: AtomicU64::new(0),
        signing_key: derive_seed(config.seed, 0x51C) ^ fastrand::u64(..),
        signed_in_tenant: Mutex::new(0),
        codes: Mutex::new(HashMap::new()),
    }
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route(
            "/{tenant}/v2.0/adminconsent",
            get(consent::page).post(consent::page),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(oidc::discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(oidc::keys))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(oidc::authorize).post(oidc::authorize),
        )
        .route("/v1.0/{*rest}", any(routes::graph))
        .route("/_sim/tenants", get(admin::tenants))
        .route(
            "/_sim/tenants/{tid}/knobs",
            get(admin::get_knobs).put(admin::put_knobs),
        )
        .route("/_sim/tenants/{tid}/consent", post(admin::consent))
        .route("/_sim/tenants/{tid}/mutate", post(admin::mutate))
        .route("/_sim/tenants/{tid}/truth", get(admin::truth))
        .route("/_sim/stats", get(admin::stats))
        .route("/_sim/signed-in-tenant", put(admin::signed_in))
        .route(
            "/_sim/downloads/{tid}/mailboxUsageDetail/{file}",
            get(admin::download),
        )
        .with_state(sim)
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (token: `{login}/{tenant}/oauth2/v2.0/token`).
    pub fn login_base_url(&self) -> String {
        self.sim.origin.clone()
    }

    /// `http://127.0.0.1:PORT/v1.0`.
    pub fn graph_base_url(&self) -> String {
        format!("{}/v1.0", self.sim.origin)
    }

    /// `http://127.0.0.1:PORT/_sim`.
    pub fn admin_url(&self) -> String {
        format!("{}/_sim", self.sim.origin)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The multi-tenant platform app with read/write permissions.
    pub fn platform_app(&self) -> AppInfo {
        self.app_info(0)
    }

    /// The multi-tenant platform app with read-only permissions (for read-only connections).
    pub fn platform_read_app(&self) -> AppInfo {
        self.app_info(1)
    }

    fn app_info(&self, i: usize) -> AppInfo {
        let a = &self.sim.apps[i];
        AppInfo {
            client_id: a.client_id.clone(),
            client_secret: a.client_secret.clone(),
        }
    }

    pub fn tenants(&self) -> Vec<TenantInfo> {
        self.sim.tenant_infos()
    }

    /// Current knobs of a tenant.
    pub fn knobs(&self, tenant_id: &str) -> Result<Knobs, SimError> {
        self.sim.knobs(tenant_id)
    }

    /// Replaces a tenant's knobs (same as PUT /_sim/tenants/{tid}/knobs with every field).
    pub fn set_knobs(&self, tenant_id: &str, knobs: Knobs) -> Result<Knobs, SimError> {
        self.sim.set_knobs(tenant_id, knobs)
    }

    /// Changes some knobs of a tenant and keeps the rest.
    pub fn update_knobs(
        &self,
        tenant_id: &str,
        change: impl FnOnce(&mut Knobs),
    ) -> Result<Knobs, SimError> {
        let mut k = self.sim.knobs(tenant_id)?;
        change(&mut k);
        self.sim.set_knobs(tenant_id, k)
    }

    /// Grants the platform (read/write) app's consent in a tenant, as the consent page would.
    pub fn grant_consent(&self, tenant_id: &str) -> Result<Vec<String>, SimError> {
        self.consent(
            tenant_id,
            &ConsentChange {
                granted: true,
                roles: Vec::new(),
                client_id: None,
            },
        )
    }

    /// Grants or revokes an app's consent in a tenant (POST /_sim/tenants/{tid}/consent).
    pub fn consent(
        &self,
        tenant_id: &str,
        change: &ConsentChange,
    ) -> Result<Vec<String>, SimError> {
        self.sim.consent(tenant_id, change)
    }

    /// Applies deterministic directory changes.
    pub fn mutate(&self, tenant_id: &str, m: &Mutation) -> Result<MutationReport, SimError> {
        self.sim.mutate(tenant_id, m)
    }

    /// Makes the tenant's largest directly assignable, unlicensed group have `members` members
    /// (or every live user, if fewer); returns the group's id. With
    /// [`Knobs::delta_member_refs`] it makes one huge groups-delta page.
    pub fn grow_group(&self, tenant_id: &str, members: usize) -> Result<String, SimError> {
        self.sim.grow_group(tenant_id, members)
    }

    /// Full ground truth of a tenant.
    pub fn truth(&self, tenant_id: &str) -> Result<Truth, SimError> {
        self.sim.truth(tenant_id, true)
    }

    /// Counts and SKUs only (cheap for a 100k-user tenant).
    pub fn truth_counts(&self, tenant_id: &str) -> Result<Truth, SimError> {
        self.sim.truth(tenant_id, false)
    }

    /// Makes the consent page for /organizations and /common sign in to this tenant.
    pub fn set_signed_in_tenant(&self, tenant_id: &str) -> Result<(), SimError> {
        let i = self
            .sim
            .tenant_index(tenant_id)
            .ok_or_else(|| SimError::UnknownTenant(tenant_id.to_string()))?;
        *self
            .sim
            .signed_in_tenant
            .lock()
            .map_err(|_| SimError::Poisoned)? = i;
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        self.sim.stats()
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
