//! The simulator's directory: tenants with their users, groups, memberships and SKUs, kept
//! compact (vectors + id indexes, shared strings) so one tenant can hold 100k users.

pub(crate) mod access;
pub(crate) mod generate;
pub(crate) mod mutate;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use crate::catalog::SkuDef;
use crate::config::Knobs;
use crate::throttle::Windows;

/// Shared string; cheap to clone into many users.
pub(crate) type Str = Arc<str>;

/// One domain of a tenant (`microsoft.graph.domain`).
pub(crate) struct Domain {
    pub name: String,
    pub is_initial: bool,
    pub is_default: bool,
    pub is_verified: bool,
}

/// Sign-in activity timestamps (unix seconds), present only where the tenant has P1.
#[derive(Clone, Copy)]
pub(crate) struct SignIn {
    pub last: i64,
    pub last_non_interactive: i64,
    pub last_successful: i64,
}

/// One license assignment: directly, or inherited from a group (group index).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct LicenseAssignment {
    pub sku: u16,
    pub by_group: Option<u32>,
    /// The SKU's service plans turned off (`disabledPlans`): bit i is plan i of the SKU's
    /// definition.
    pub disabled: u32,
}

pub(crate) struct User {
    pub id: Uuid,
    pub display_name: Str,
    pub given_name: Option<Str>,
    pub surname: Option<Str>,
    pub upn: Str,
    pub mail: Option<Str>,
    pub mail_nickname: Str,
    pub job_title: Option<Str>,
    pub department: Option<Str>,
    pub office_location: Option<Str>,
    /// `employeeId` (at most 16 characters).
    pub employee_id: Option<Str>,
    pub mobile_phone: Option<Str>,
    pub business_phone: Option<Str>,
    pub usage_location: Option<Str>,
    pub country: Option<Str>,
    pub account_enabled: bool,
    pub guest: bool,
    pub on_prem: bool,
    pub created: i64,
    pub sessions_valid_from: i64,
    pub licenses: Vec<LicenseAssignment>,
    pub sign_in: Option<SignIn>,
    /// Soft-deleted at (unix seconds); the user then lives in deletedItems.
    pub deleted_at: Option<i64>,
    /// Change sequence number of the last change; delta tokens compare against it.
    pub changed_seq: u64,
    /// Groups (indexes) the user is a direct member of.
    pub groups: Vec<u32>,
    /// Memberships removed by a soft delete, given back on restore.
    pub groups_before_delete: Vec<u32>,
    /// The user's manager (user index), if any (`/users/{id}/manager`).
    pub manager: Option<u32>,
}

impl User {
    /// `proxyAddresses`: the primary address (`SMTP:` + mail) and, for a member's mailbox at a
    /// custom domain, the secondary address Exchange Online gives every mailbox at the tenant's
    /// initial domain (`smtp:{mailNickname}@{tenant}.onmicrosoft.com`). Guests and accounts
    /// without mail have no mailbox alias.
    pub fn proxy_addresses(&self, t: &Tenant) -> Vec<String> {
        let Some(mail) = &self.mail else {
            return Vec::new();
        };
        let mut addresses = vec![format!("SMTP:{mail}")];
        let initial = t.initial_domain();
        let at_custom_domain = mail
            .rsplit_once('@')
            .is_some_and(|(_, domain)| !domain.eq_ignore_ascii_case(initial));
        if !self.guest && at_custom_domain && !self.mail_nickname.is_empty() {
            addresses.push(format!("smtp:{}@{initial}", self.mail_nickname));
        }
        addresses
    }

    /// The distinct SKUs in `assignedLicenses`, in assignment order.
    pub fn assigned_skus(&self) -> impl Iterator<Item = u16> + '_ {
        self.licenses
            .iter()
            .enumerate()
            .filter(|(i, a)| !self.licenses[..*i].iter().any(|b| b.sku == a.sku))
            .map(|(_, a)| a.sku)
    }

    pub fn has_sku(&self, sku: u16) -> bool {
        self.licenses.iter().any(|a| a.sku == sku)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupKind {
    Security,
    MailEnabledSecurity,
    Distribution,
    Unified,
    DynamicSecurity,
    DynamicUnified,
}

impl GroupKind {
    pub fn is_dynamic(self) -> bool {
        matches!(self, GroupKind::DynamicSecurity | GroupKind::DynamicUnified)
    }
    pub fn is_unified(self) -> bool {
        matches!(self, GroupKind::Unified | GroupKind::DynamicUnified)
    }
    pub fn mail_enabled(self) -> bool {
        !matches!(self, GroupKind::Security | GroupKind::DynamicSecurity)
    }
    pub fn security_enabled(self) -> bool {
        matches!(
            self,
            GroupKind::Security | GroupKind::MailEnabledSecurity | GroupKind::DynamicSecurity
        )
    }
}

pub(crate) struct Group {
    pub id: Uuid,
    pub display_name: Str,
    pub description: Option<Str>,
    pub mail_nickname: Str,
    pub mail: Option<Str>,
    pub kind: GroupKind,
    pub membership_rule: Option<Str>,
    pub visibility: Option<&'static str>,
    pub on_prem: bool,
    pub created: i64,
    /// SKUs (indexes) assigned to the group; its members inherit them.
    pub licenses: Vec<u16>,
    /// Member user indexes, in the order they were added.
    pub members: Vec<u32>,
    /// Owner user indexes (`/groups/{id}/owners`, `/users/{id}/ownedObjects`).
    pub owners: Vec<u32>,
    pub changed_seq: u64,
    /// Deleted through DELETE /groups/{id}: gone from every read, reported by delta.
    pub deleted_at: Option<i64>,
}

/// An activated directory role (`microsoft.graph.directoryRole`) and its members (user indexes):
/// users list it in `memberOf`.
pub(crate) struct DirectoryRole {
    pub id: Uuid,
    pub role_template_id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub members: Vec<u32>,
}

/// A subscribed SKU of a tenant with its units.
pub(crate) struct Sku {
    pub def: &'static SkuDef,
    pub account_id: Uuid,
    pub subscription_id: Uuid,
    pub enabled: i64,
    pub suspended: i64,
    pub warning: i64,
    pub consumed: i64,
    pub capability_status: &'static str,
}

/// One membership change, recorded for group delta (`members@delta`).
#[derive(Clone, Copy)]
pub(crate) struct MemberChange {
    pub seq: u64,
    pub group: u32,
    pub user: u32,
    pub added: bool,
}

/// One tenant's directory.
pub(crate) struct Tenant {
    pub id: Uuid,
    pub display_name: Str,
    pub country: &'static str,
    pub city: &'static str,
    pub domains: Vec<Domain>,
    pub has_p1: bool,
    pub created: i64,
    pub skus: Vec<Sku>,
    pub users: Vec<User>,
    pub user_by_id: HashMap<Uuid, u32>,
    /// Lower-cased UPN -> user index (live users only).
    pub user_by_upn: HashMap<String, u32>,
    pub groups: Vec<Group>,
    pub group_by_id: HashMap<Uuid, u32>,
    /// Activated directory roles.
    pub roles: Vec<DirectoryRole>,
    /// Last change sequence number handed out.
    pub seq: u64,
    pub member_log: Vec<MemberChange>,
    /// Tenants this one administers as a GDAP partner.
    pub customers: Vec<(Uuid, Str)>,
    /// Report settings: hide names in usage reports.
    pub conceal_names: bool,
    /// Authentication methods, app role assignments, delegated grants and automatic replies,
    /// by user index.
    pub access: HashMap<u32, access::UserAccess>,
    /// Counter for objects created by POST /users and mutations (deterministic ids).
    pub rng: fastrand::Rng,
}

impl Tenant {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn default_domain(&self) -> &str {
        self.domains
            .iter()
            .find(|d| d.is_default)
            .map(|d| d.name.as_str())
            .unwrap_or("")
    }

    pub fn initial_domain(&self) -> &str {
        self.domains
            .iter()
            .find(|d| d.is_initial)
            .map(|d| d.name.as_str())
            .unwrap_or("")
    }

    /// Finds a live user by object id or userPrincipalName.
    pub fn find_user(&self, key: &str) -> Option<u32> {
        let idx = match Uuid::parse_str(key) {
            Ok(id) => self.user_by_id.get(&id).copied(),
            Err(_) => self.user_by_upn.get(&key.to_lowercase()).copied(),
        }?;
        let user = self.users.get(idx as usize)?;
        user.deleted_at.is_none().then_some(idx)
    }

    pub fn find_deleted_user(&self, key: &str) -> Option<u32> {
        let id = Uuid::parse_str(key).ok()?;
        let idx = self.user_by_id.get(&id).copied()?;
        self.users[idx as usize].deleted_at.is_some().then_some(idx)
    }

    /// The directory roles (indexes) `user` is a member of.
    pub fn roles_of(&self, user: u32) -> Vec<usize> {
        (0..self.roles.len())
            .filter(|&r| self.roles[r].members.contains(&user))
            .collect()
    }

    /// The live users whose manager is `user`.
    pub fn direct_reports(&self, user: u32) -> Vec<u32> {
        (0..self.users.len() as u32)
            .filter(|&i| {
                let u = &self.users[i as usize];
                u.manager == Some(user) && u.deleted_at.is_none()
            })
            .collect()
    }

    /// The groups (indexes) `user` owns.
    pub fn owned_groups(&self, user: u32) -> Vec<u32> {
        (0..self.groups.len() as u32)
            .filter(|&g| {
                let group = &self.groups[g as usize];
                group.deleted_at.is_none() && group.owners.contains(&user)
            })
            .collect()
    }

    pub fn find_group(&self, key: &str) -> Option<u32> {
        let id = Uuid::parse_str(key).ok()?;
        self.group_by_id.get(&id).copied()
    }

    pub fn sku_by_id(&self, sku_id: &str) -> Option<u16> {
        self.skus
            .iter()
            .position(|s| s.def.sku_id.eq_ignore_ascii_case(sku_id))
            .and_then(|i| u16::try_from(i).ok())
    }

    pub fn is_verified_domain(&self, domain: &str) -> bool {
        self.domains
            .iter()
            .any(|d| d.is_verified && d.name.eq_ignore_ascii_case(domain))
    }

    /// Adds a membership, keeping both indexes and the delta log; false when already a member.
    pub fn add_member(&mut self, group: u32, user: u32) -> bool {
        let g = &self.groups[group as usize];
        if g.members.contains(&user) {
            return false;
        }
        let seq = self.next_seq();
        self.groups[group as usize].members.push(user);
        self.users[user as usize].groups.push(group);
        self.member_log.push(MemberChange {
            seq,
            group,
            user,
            added: true,
        });
        self.inherit_group_licenses(group, user, seq);
        true
    }

    /// Removes a membership; false when not a member.
    pub fn remove_member(&mut self, group: u32, user: u32) -> bool {
        let g = &mut self.groups[group as usize];
        let Some(pos) = g.members.iter().position(|&m| m == user) else {
            return false;
        };
        g.members.remove(pos);
        let seq = self.next_seq();
        let u = &mut self.users[user as usize];
        u.groups.retain(|&x| x != group);
        self.member_log.push(MemberChange {
            seq,
            group,
            user,
            added: false,
        });
        let before = self.users[user as usize].licenses.clone();
        self.users[user as usize]
            .licenses
            .retain(|a| a.by_group != Some(group));
        self.recount_after_license_change(user, &before, seq);
        true
    }

    /// Soft-deletes a user: it moves to deletedItems, leaves its groups (remembered for a
    /// restore) and frees its licenses; its UPN stays taken, as in Entra.
    pub fn soft_delete(&mut self, user: u32, now: i64) {
        let groups = self.users[user as usize].groups.clone();
        for &g in &groups {
            self.remove_member(g, user);
        }
        let seq = self.next_seq();
        let skus: Vec<u16> = self.users[user as usize].assigned_skus().collect();
        for s in skus {
            self.skus[s as usize].consumed -= 1;
        }
        // Leaving the groups above already released group-inherited licenses; they come
        // back with the memberships on restore.
        let u = &mut self.users[user as usize];
        u.groups_before_delete = groups;
        u.deleted_at = Some(now);
        u.changed_seq = seq;
    }

    /// Restores a soft-deleted user with its licenses and memberships.
    pub fn restore(&mut self, user: u32) {
        let seq = self.next_seq();
        let skus: Vec<u16> = self.users[user as usize].assigned_skus().collect();
        for s in skus {
            self.skus[s as usize].consumed += 1;
        }
        let u = &mut self.users[user as usize];
        u.deleted_at = None;
        u.changed_seq = seq;
        let groups = std::mem::take(&mut u.groups_before_delete);
        for g in groups {
            if self.groups[g as usize].deleted_at.is_none() {
                self.add_member(g, user);
            }
        }
    }

    /// Gives a new member the group's licenses (group-based licensing), units permitting.
    fn inherit_group_licenses(&mut self, group: u32, user: u32, seq: u64) {
        let skus = self.groups[group as usize].licenses.clone();
        if skus.is_empty() || self.users[user as usize].usage_location.is_none() {
            return;
        }
        let before = self.users[user as usize].licenses.clone();
        for sku in skus {
            let has = self.users[user as usize].has_sku(sku);
            let s = &self.skus[sku as usize];
            if !has && s.consumed >= s.enabled {
                continue;
            }
            self.users[user as usize].licenses.push(LicenseAssignment {
                sku,
                by_group: Some(group),
                disabled: 0,
            });
        }
        self.recount_after_license_change(user, &before, seq);
    }

    /// Keeps `consumedUnits` equal to the number of users holding each SKU.
    pub fn recount_after_license_change(
        &mut self,
        user: u32,
        before: &[LicenseAssignment],
        seq: u64,
    ) {
        let u = &self.users[user as usize];
        if u.licenses.as_slice() == before {
            return;
        }
        for (i, sku) in self.skus.iter_mut().enumerate() {
            let Ok(i) = u16::try_from(i) else { continue };
            let had = before.iter().any(|a| a.sku == i);
            let has = u.has_sku(i);
            match (had, has) {
                (false, true) => sku.consumed += 1,
                (true, false) => sku.consumed -= 1,
                _ => {}
            }
        }
        self.users[user as usize].changed_seq = seq;
    }
}

/// An application registration the login endpoint knows.
pub(crate) struct App {
    pub client_id: String,
    pub client_secret: String,
    pub display_name: String,
    /// Application permissions the app requests (granted by admin consent).
    pub roles: Vec<String>,
    /// Single-tenant apps live only in their home tenant (already consented there).
    pub home_tenant: Option<usize>,
}

/// Per-tenant state that changes on every request: knobs, throttle windows, fault dice,
/// consents (service principals) and the token floor.
pub(crate) struct Runtime {
    pub knobs: Knobs,
    pub windows: Windows,
    pub faults: fastrand::Rng,
    pub mutations: fastrand::Rng,
    /// client_id -> granted roles; present means the app has a service principal here.
    pub consents: HashMap<String, Vec<String>>,
    /// Tokens with a serial below this are treated as expired.
    pub token_floor: u64,
    /// Bumped to invalidate every delta token issued so far.
    pub delta_epoch: u32,
}

pub(crate) struct TenantSlot {
    pub id_str: String,
    pub display_name: String,
    pub data: RwLock<Tenant>,
    pub rt: Mutex<Runtime>,
}

/// Request counters for GET /_sim/stats.
#[derive(Default)]
pub(crate) struct StatsInner {
    pub requests: u64,
    pub by_route: std::collections::BTreeMap<String, u64>,
    pub throttled: u64,
    pub injected_5xx: u64,
    pub tokens_issued: u64,
    pub patched_user_properties: std::collections::BTreeMap<String, u64>,
    pub modelled_ms: std::collections::BTreeMap<String, u64>,
}

/// The whole simulator state.
pub(crate) struct Sim {
    pub origin: String,
    pub started: i64,
    pub tenants: Vec<TenantSlot>,
    /// Lower-cased tenant id or verified domain -> tenant index.
    pub tenant_keys: HashMap<String, usize>,
    pub apps: Vec<App>,
    pub stats: Mutex<StatsInner>,
    pub token_serial: AtomicU64,
    pub signing_key: u64,
    /// The tenant whose admin the consent page signs in as for /organizations and /common.
    pub signed_in_tenant: Mutex<usize>,
    /// Authorization codes of the sign-in page, waiting to be redeemed once.
    pub codes: crate::oidc::Codes,
}

impl Sim {
    pub fn tenant_index(&self, key: &str) -> Option<usize> {
        self.tenant_keys.get(&key.to_ascii_lowercase()).copied()
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Counts the properties of an accepted PATCH /users/{id} body, by name.
    pub fn count_patched(&self, names: impl Iterator<Item = String>) {
        if let Ok(mut s) = self.stats.lock() {
            for name in names {
                *s.patched_user_properties.entry(name).or_default() += 1;
            }
        }
    }

    /// Adds a request's modelled time to its kind's sum.
    pub fn count_modelled(&self, kind: String, time: std::time::Duration) {
        if let Ok(mut s) = self.stats.lock() {
            *s.modelled_ms.entry(kind).or_default() += time.as_millis() as u64;
        }
    }

    pub fn count(&self, route: &str) {
        if let Ok(mut s) = self.stats.lock() {
            s.requests += 1;
            *s.by_route.entry(route.to_string()).or_default() += 1;
        }
    }
}

/// Deterministic generator split: a fresh stream for a sub-seed (splitmix64).
pub(crate) fn derive_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A v4-shaped GUID drawn from the generator.
pub(crate) fn new_id(rng: &mut fastrand::Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes()).into_uuid()
}
