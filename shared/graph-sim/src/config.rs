//! Public configuration and report types of the simulator (the typed mirror of the admin API).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What to generate and where to listen.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Every generated id, name and count follows from this seed.
    pub seed: u64,
    pub tenants: Vec<TenantSpec>,
    /// 0 picks a random free port.
    pub port: u16,
}

/// The shape of one generated tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantSpec {
    pub users: usize,
    pub groups: usize,
    /// Entra ID P1 (sign-in activity is only readable with it).
    pub has_p1: bool,
    /// Defaults to one of Microsoft's fictitious company names.
    pub display_name: Option<String>,
    /// Indexes of the tenants this one administers as a GDAP partner.
    pub partner_of: Vec<usize>,
}

impl TenantSpec {
    /// A tenant with P1 and no partner relationships.
    pub fn new(users: usize, groups: usize) -> Self {
        TenantSpec {
            users,
            groups,
            has_p1: true,
            display_name: None,
            partner_of: Vec::new(),
        }
    }
}

impl SimConfig {
    /// One partner tenant and two customer tenants (one with P1, one without), ~40-60 users each.
    pub fn demo() -> Self {
        SimConfig {
            seed: 42,
            port: 0,
            tenants: vec![
                TenantSpec {
                    users: 40,
                    groups: 6,
                    has_p1: true,
                    display_name: None,
                    partner_of: vec![1, 2],
                },
                TenantSpec {
                    users: 60,
                    groups: 10,
                    has_p1: true,
                    display_name: None,
                    partner_of: Vec::new(),
                },
                TenantSpec {
                    users: 45,
                    groups: 8,
                    has_p1: false,
                    display_name: None,
                    partner_of: Vec::new(),
                },
            ],
        }
    }

    /// One tenant with P1 of the given size (100_000 / 2_000 is the benchmark tenant).
    pub fn single(users: usize, groups: usize) -> Self {
        SimConfig {
            seed: 42,
            port: 0,
            tenants: vec![TenantSpec::new(users, groups)],
        }
    }
}

/// Client credentials of an app registration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for AppInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppInfo")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// What a test needs to know about a generated tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    pub tenant_id: String,
    pub display_name: String,
    /// Verified domains; the first is the default (custom) domain.
    pub verified_domains: Vec<String>,
    pub default_domain: String,
    pub initial_domain: String,
    pub unverified_domains: Vec<String>,
    /// The customer's own single-tenant app registration, consented with read/write roles.
    pub own_app: AppInfo,
    pub has_p1: bool,
    pub users: usize,
    pub groups: usize,
    /// Tenant ids this tenant lists as GDAP customers.
    pub customers: Vec<String>,
}

/// Per-tenant fault and limit settings (PUT /_sim/tenants/{tid}/knobs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Added before every Graph request of the tenant is answered.
    pub latency_ms: u64,
    /// Graph's response time, modelled per request (`None`: answers as fast as it can). The
    /// modelled time includes the simulator's own; `latency_ms` comes on top.
    pub latency: Option<crate::latency::LatencyModel>,
    /// Resource units per window per app; `None` = Graph's figure for the tenant's size
    /// (3,500 below 50 users, 5,000 up to 500, 8,000 above).
    pub ru_per_10s: Option<u64>,
    /// Writes per write window (150 s) per app; Graph's figure is 3,000.
    pub writes_per_150s: u64,
    /// Share (0..1) of Graph requests answered 503/502/504.
    pub fail_rate_5xx: f64,
    /// Share (0..1) of Graph requests answered 429 regardless of the budget (a "429 storm").
    pub fail_rate_429: f64,
    /// `Retry-After` sent with injected 429 and 503 answers, in seconds (fractions allowed).
    pub retry_after_s: f64,
    /// Length of the RU window in ms (10,000 as Graph); the write window is 15 times it.
    /// Shorten it so throttling tests wait less.
    pub throttle_window_ms: u64,
    /// `expires_in` of tokens issued from now on.
    pub token_lifetime_s: u64,
    /// The consent page's Accept ends in `error=access_denied` for this tenant.
    pub deny_consent: bool,
    /// The consent page for this tenant presses Accept by itself (one inline script), so a
    /// headless browser that cannot click (`chromium --headless --screenshot`/`--dump-dom`) walks
    /// the whole consent flow through the real page and form; the sign-in page (`/authorize`)
    /// submits itself with the checked account (the Global Administrator unless `login_hint`
    /// names another). For the browser test and demos.
    pub auto_accept_consent: bool,
    /// Action, not a setting: true invalidates every delta token issued so far (410 on use).
    pub expire_delta_tokens: bool,
    /// Action: true expires every access token issued so far for this tenant.
    pub expire_tokens: bool,
    /// At most this many objects per collection or delta page, whatever `$top` or
    /// `Prefer: odata.maxpagesize` asked (`None`: as asked). Graph treats both as upper bounds
    /// and may return smaller pages; tests use it to page a small tenant as a large one pages.
    pub max_page_size: Option<usize>,
    /// At most this many member references (`members@delta`) per groups-delta page; a group
    /// with more continues on the next page (`None`: 2,000). Graph documents no fixed split:
    /// a large group's members may all come in one page, which `Some(usize::MAX)` answers.
    pub delta_member_refs: Option<usize>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency_ms: 0,
            latency: None,
            ru_per_10s: None,
            writes_per_150s: 3000,
            fail_rate_5xx: 0.0,
            fail_rate_429: 0.0,
            retry_after_s: 1.0,
            throttle_window_ms: 10_000,
            token_lifetime_s: 3599,
            deny_consent: false,
            auto_accept_consent: false,
            expire_delta_tokens: false,
            expire_tokens: false,
            max_page_size: None,
            delta_member_refs: None,
        }
    }
}

/// A batch of deterministic directory changes (POST /_sim/tenants/{tid}/mutate).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mutation {
    pub add_users: usize,
    pub update_users: usize,
    pub delete_users: usize,
    pub add_memberships: usize,
    pub remove_memberships: usize,
}

/// One membership by object ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MembershipRef {
    pub group_id: String,
    pub user_id: String,
}

/// What a mutation changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationReport {
    pub added_users: Vec<String>,
    pub updated_users: Vec<String>,
    pub deleted_users: Vec<String>,
    pub added_memberships: Vec<MembershipRef>,
    pub removed_memberships: Vec<MembershipRef>,
}

/// Consent for an app in a tenant (POST /_sim/tenants/{tid}/consent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    pub granted: bool,
    /// Roles to grant; empty = the roles the app requests.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The app; default the platform (read/write) app.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// Ground truth of one tenant (GET /_sim/tenants/{tid}/truth).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub tenant_id: String,
    pub counts: TruthCounts,
    pub users: Vec<TruthUser>,
    pub deleted_user_ids: Vec<String>,
    pub groups: Vec<TruthGroup>,
    pub skus: Vec<TruthSku>,
    /// Activated directory roles and their members.
    #[serde(default)]
    pub roles: Vec<TruthRole>,
}

/// One activated directory role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRole {
    pub id: String,
    pub role_template_id: String,
    pub display_name: String,
    pub member_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthCounts {
    pub users: usize,
    pub deleted_users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub licenses: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub account_enabled: bool,
    pub user_type: String,
    pub usage_location: Option<String>,
    pub on_premises_sync_enabled: bool,
    /// skuIds in `assignedLicenses`.
    pub sku_ids: Vec<String>,
    /// Unix seconds of the last sign-in, where recorded.
    pub last_sign_in: Option<i64>,
    /// The manager's id, if any.
    #[serde(default)]
    pub manager_id: Option<String>,
    /// `@odata.type` of each registered authentication method besides the password.
    #[serde(default)]
    pub auth_methods: Vec<String>,
    /// Ids of the app role assignments.
    #[serde(default)]
    pub app_role_assignment_ids: Vec<String>,
    /// Ids of the delegated permission grants with the user as principal.
    #[serde(default)]
    pub permission_grant_ids: Vec<String>,
    /// The service plans turned off in each direct license (SKU id -> plan ids), where any.
    #[serde(default)]
    pub disabled_plans: std::collections::BTreeMap<String, Vec<String>>,
    /// The mailbox's automatic reply (status, internal message), once changed.
    #[serde(default)]
    pub automatic_reply: Option<(String, String)>,
    /// `proxyAddresses`: `SMTP:` primary first, then `smtp:` aliases.
    #[serde(default)]
    pub proxy_addresses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthGroup {
    pub id: String,
    pub display_name: String,
    /// security, mailEnabledSecurity, distribution, unified, dynamicSecurity, dynamicUnified
    pub kind: String,
    pub member_ids: Vec<String>,
    #[serde(default)]
    pub owner_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthSku {
    pub sku_id: String,
    pub sku_part_number: String,
    pub enabled: i64,
    pub suspended: i64,
    pub warning: i64,
    pub consumed: i64,
}

/// Counters since start (GET /_sim/stats).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Graph requests, including each request inside a `$batch`.
    pub requests: u64,
    /// "GET /v1.0/users", "POST /v1.0/groups/{id}/members/$ref", "POST /{tenant}/oauth2/v2.0/token"...
    pub by_route: BTreeMap<String, u64>,
    /// 429 answers (budget exhausted or injected).
    pub throttled: u64,
    /// Injected 502/503/504 answers.
    pub injected_5xx: u64,
    pub tokens_issued: u64,
    /// Properties sent in accepted PATCH /users/{id} bodies, by name (how a test sees that only
    /// what changed was sent).
    #[serde(default)]
    pub patched_user_properties: BTreeMap<String, u64>,
    /// Under a latency model: the modelled milliseconds, summed by kind of request ("GET
    /// /users/delta", "POST /$batch", "GET /groups/{id}/…", "POST token"), so a benchmark can
    /// tell the chains that must run one after another from those that need not.
    #[serde(default)]
    pub modelled_ms: BTreeMap<String, u64>,
}

/// Errors of the typed admin API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("tenant {0} is not simulated")]
    UnknownTenant(String),
    #[error("app {0} is not registered")]
    UnknownApp(String),
    #[error("the simulator state lock is poisoned")]
    Poisoned,
    #[error("tenant {0} has no group whose members can be added directly")]
    NoAssignableGroup(String),
}
