//! Deterministic generation of tenants from a seed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{self, SkuDef};
use crate::config::TenantSpec;
use crate::state::{
    App, DirectoryRole, Domain, Group, GroupKind, LicenseAssignment, SignIn, Sku, Str, Tenant,
    User, derive_seed, new_id,
};

const DAY: i64 = 86_400;

/// Application permissions of the read-only platform app.
pub(crate) const READ_ROLES: &[&str] = &[
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Organization.Read.All",
    "Domain.Read.All",
    "Reports.Read.All",
    "AuditLog.Read.All",
    "DelegatedAdminRelationship.Read.All",
];

/// Extra application permissions of the read/write platform app.
pub(crate) const WRITE_ROLES: &[&str] = &[
    "User.ReadWrite.All",
    "User.EnableDisableAccount.All",
    "User.DeleteRestore.All",
    "User.RevokeSessions.All",
    "LicenseAssignment.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "MailboxSettings.ReadWrite",
];

fn strs(pool: &[&str]) -> Vec<Str> {
    pool.iter().map(|s| Arc::from(*s)).collect()
}

fn pick<'a, T>(rng: &mut fastrand::Rng, pool: &'a [T]) -> &'a T {
    &pool[rng.usize(..pool.len())]
}

/// Letters and digits only, lower case: for mail nicknames and domain stems.
pub(crate) fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .flat_map(|c| c.to_lowercase())
        .collect()
}

fn secret(rng: &mut fastrand::Rng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut s: String = (0..3).map(|_| *pick(rng, CHARS) as char).collect();
    s.push_str("8Q~");
    s.extend((0..34).map(|_| *pick(rng, CHARS) as char));
    s
}

/// The platform apps (read/write first, then read-only) and each tenant's own app.
pub(crate) fn apps(seed: u64, tenants: usize) -> Vec<App> {
    let mut rng = fastrand::Rng::with_seed(derive_seed(seed, 0xA99));
    let read: Vec<String> = READ_ROLES.iter().map(|r| r.to_string()).collect();
    let all: Vec<String> = READ_ROLES
        .iter()
        .chain(WRITE_ROLES)
        .map(|r| r.to_string())
        .collect();
    let mut apps = vec![
        App {
            client_id: new_id(&mut rng).to_string(),
            client_secret: secret(&mut rng),
            display_name: "M365 Lifecycle".into(),
            roles: all.clone(),
            home_tenant: None,
        },
        App {
            client_id: new_id(&mut rng).to_string(),
            client_secret: secret(&mut rng),
            display_name: "M365 Lifecycle (read-only)".into(),
            roles: read,
            home_tenant: None,
        },
    ];
    for t in 0..tenants {
        apps.push(App {
            client_id: new_id(&mut rng).to_string(),
            client_secret: secret(&mut rng),
            display_name: "Lifecycle connector".into(),
            roles: all.clone(),
            home_tenant: Some(t),
        });
    }
    apps
}

struct Pools {
    first: Vec<Str>,
    last: Vec<Str>,
    departments: Vec<Str>,
    titles: Vec<Str>,
    offices: Vec<Str>,
    countries: Vec<Str>,
}

/// Generates tenant `index` of the configuration.
pub(crate) fn tenant(seed: u64, index: usize, spec: &TenantSpec, started: i64) -> Tenant {
    let mut rng = fastrand::Rng::with_seed(derive_seed(seed, index as u64 + 1));
    let (company, stem, country) = catalog::COMPANIES[index % catalog::COMPANIES.len()];
    let round = index / catalog::COMPANIES.len();
    let display_name = spec.display_name.clone().unwrap_or_else(|| {
        if round == 0 {
            company.to_string()
        } else {
            format!("{company} {}", round + 1)
        }
    });
    let stem = match (&spec.display_name, round) {
        (Some(name), _) => format!("{}{index}", slug(name)),
        (None, 0) => stem.to_string(),
        (None, r) => format!("{stem}{}", r + 1),
    };
    let domains = vec![
        Domain {
            name: format!("{stem}.com"),
            is_initial: false,
            is_default: true,
            is_verified: true,
        },
        Domain {
            name: format!("{stem}.onmicrosoft.com"),
            is_initial: true,
            is_default: false,
            is_verified: true,
        },
        Domain {
            name: format!("{stem}.net"),
            is_initial: false,
            is_default: false,
            is_verified: false,
        },
    ];
    let id = new_id(&mut rng);
    let pools = Pools {
        first: strs(catalog::FIRST_NAMES),
        last: strs(catalog::LAST_NAMES),
        departments: strs(catalog::DEPARTMENTS),
        titles: strs(catalog::JOB_TITLES),
        offices: strs(catalog::OFFICES),
        countries: strs(catalog::OTHER_COUNTRIES),
    };
    let mut t = Tenant {
        id,
        display_name: Arc::from(display_name.as_str()),
        country,
        city: catalog::OFFICES[index % catalog::OFFICES.len()],
        domains,
        has_p1: spec.has_p1,
        created: started - (800 + rng.i64(0..2000)) * DAY,
        skus: skus(spec.has_p1, &mut rng),
        users: Vec::with_capacity(spec.users),
        user_by_id: HashMap::with_capacity(spec.users),
        user_by_upn: HashMap::with_capacity(spec.users),
        groups: Vec::with_capacity(spec.groups),
        group_by_id: HashMap::with_capacity(spec.groups),
        roles: Vec::new(),
        seq: 0,
        member_log: Vec::new(),
        customers: Vec::new(),
        conceal_names: false,
        access: HashMap::new(),
        rng: fastrand::Rng::with_seed(derive_seed(seed, 0x5EED_0000 + index as u64)),
    };
    users(&mut t, spec.users, started, &pools, &mut rng);
    groups(&mut t, spec.groups, &pools, &mut rng);
    licenses(&mut t, &mut rng);
    // A stream of its own, so the users, groups and licenses above stay as they were.
    let mut relations_rng = fastrand::Rng::with_seed(derive_seed(seed, 0x4E1A_0000 + index as u64));
    relations(&mut t, &mut relations_rng);
    crate::state::access::generate(&mut t, seed, index, started);
    t
}

/// Directory roles (role template ids as Entra ID publishes them) activated in every tenant.
const ROLES: [(&str, &str, &str); 3] = [
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    ),
    (
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
        "Can manage all aspects of the Exchange product.",
    ),
];

/// Managers (an org chart: every member but the first reports to an earlier member, so there is
/// no cycle), group owners (one or two per group, a member where it has any), and directory role
/// members (the first member is a Global Administrator; a few others hold admin roles).
fn relations(t: &mut Tenant, rng: &mut fastrand::Rng) {
    let members: Vec<u32> = (0..t.users.len() as u32)
        .filter(|&i| !t.users[i as usize].guest)
        .collect();
    let managers = (members.len() / 6).max(1);
    for (n, &user) in members.iter().enumerate().skip(1) {
        let manager = members[rng.usize(0..n.min(managers))];
        t.users[user as usize].manager = Some(manager);
    }
    for g in &mut t.groups {
        let first = if g.members.is_empty() {
            members.get(rng.usize(0..members.len().max(1))).copied()
        } else {
            Some(g.members[rng.usize(0..g.members.len())])
        };
        g.owners.extend(first);
        if rng.bool()
            && let Some(&second) = members.get(rng.usize(0..members.len().max(1)))
            && !g.owners.contains(&second)
        {
            g.owners.push(second);
        }
    }
    for (r, (template, name, description)) in ROLES.iter().enumerate() {
        let mut role = DirectoryRole {
            id: new_id(rng),
            role_template_id: template,
            display_name: name,
            description,
            members: Vec::new(),
        };
        if r == 0 {
            role.members.extend(members.first());
        }
        for _ in 0..2 {
            if let Some(&m) = members.get(rng.usize(0..members.len().max(1)))
                && !role.members.contains(&m)
            {
                role.members.push(m);
            }
        }
        t.roles.push(role);
    }
}

fn skus(has_p1: bool, rng: &mut fastrand::Rng) -> Vec<Sku> {
    let defs: &[&'static SkuDef] = if has_p1 {
        &[
            &catalog::SPE_E3,
            &catalog::SPE_E5,
            &catalog::EMS,
            &catalog::POWER_BI_PRO,
            &catalog::FLOW_FREE,
            &catalog::VISIOCLIENT,
        ]
    } else {
        &[
            &catalog::ENTERPRISEPACK,
            &catalog::O365_BUSINESS_PREMIUM,
            &catalog::EXCHANGESTANDARD,
            &catalog::POWER_BI_PRO,
            &catalog::FLOW_FREE,
        ]
    };
    let account_id = new_id(rng);
    defs.iter()
        .map(|def| Sku {
            def,
            account_id,
            subscription_id: new_id(rng),
            enabled: 0,
            suspended: 0,
            warning: 0,
            consumed: 0,
            capability_status: "Enabled",
        })
        .collect()
}

/// A new user drawn from the pools (shared by generation and mutations).
pub(crate) fn draw_user(
    t: &mut Tenant,
    rng: &mut fastrand::Rng,
    started: i64,
    nicknames: &mut HashMap<String, u32>,
) -> User {
    let pools = Pools {
        first: strs(catalog::FIRST_NAMES),
        last: strs(catalog::LAST_NAMES),
        departments: strs(catalog::DEPARTMENTS),
        titles: strs(catalog::JOB_TITLES),
        offices: strs(catalog::OFFICES),
        countries: strs(catalog::OTHER_COUNTRIES),
    };
    one_user(t, rng, started, &pools, nicknames, false)
}

fn one_user(
    t: &mut Tenant,
    rng: &mut fastrand::Rng,
    started: i64,
    pools: &Pools,
    nicknames: &mut HashMap<String, u32>,
    admin: bool,
) -> User {
    let guest = !admin && rng.f64() < 0.05;
    let first = pick(rng, &pools.first).clone();
    let last = pick(rng, &pools.last).clone();
    let base = slug(&format!("{first}.{last}"));
    let n = nicknames.entry(base.clone()).or_insert(0);
    *n += 1;
    let nickname = if *n == 1 { base } else { format!("{base}{n}") };
    let (upn, mail, mail_nickname) = if admin {
        let upn = format!("admin@{}", t.initial_domain());
        (upn.clone(), Some(upn), "admin".to_string())
    } else if guest {
        let ext = pick(rng, catalog::EXTERNAL_DOMAINS);
        let mail = format!("{nickname}@{ext}");
        let nick = format!("{nickname}_{ext}#EXT#");
        (
            format!("{nick}@{}", t.initial_domain()),
            Some(mail),
            nick.replace('#', ""),
        )
    } else {
        let upn = format!("{nickname}@{}", t.default_domain());
        (upn.clone(), Some(upn), nickname)
    };
    let usage_location = if guest {
        (rng.f64() < 0.2).then(|| pick(rng, &pools.countries).clone())
    } else if admin || rng.f64() < 0.92 {
        Some(if rng.f64() < 0.85 {
            Arc::from(t.country)
        } else {
            pick(rng, &pools.countries).clone()
        })
    } else {
        None
    };
    let created = started - rng.i64(30..1500) * DAY - rng.i64(0..DAY);
    let sign_in = (admin || rng.f64() < 0.9).then(|| {
        let last = started - rng.i64(0..150) * DAY - rng.i64(0..DAY);
        SignIn {
            last,
            last_non_interactive: last + rng.i64(0..DAY),
            last_successful: last - rng.i64(0..3) * DAY,
        }
    });
    let member = !guest;
    let office = member.then(|| pick(rng, &pools.offices).clone());
    User {
        id: new_id(rng),
        display_name: if admin {
            Arc::from("MOD Administrator")
        } else {
            Arc::from(format!("{first} {last}").as_str())
        },
        given_name: Some(first),
        surname: Some(last),
        upn: Arc::from(upn.as_str()),
        mail: mail.map(|m| Arc::from(m.as_str())),
        mail_nickname: Arc::from(mail_nickname.as_str()),
        job_title: member.then(|| pick(rng, &pools.titles).clone()),
        department: member.then(|| pick(rng, &pools.departments).clone()),
        country: usage_location.clone(),
        office_location: office,
        employee_id: None,
        mobile_phone: (member && rng.f64() < 0.3)
            .then(|| Arc::from(format!("+1 425 555 {:04}", rng.u32(0..10_000)).as_str())),
        business_phone: (member && rng.f64() < 0.6)
            .then(|| Arc::from(format!("+1 206 555 {:04}", rng.u32(0..10_000)).as_str())),
        usage_location,
        account_enabled: admin || rng.f64() < 0.96,
        guest,
        on_prem: member && !admin && rng.f64() < 0.25,
        created,
        sessions_valid_from: created,
        licenses: Vec::new(),
        sign_in,
        deleted_at: None,
        changed_seq: 0,
        groups: Vec::new(),
        groups_before_delete: Vec::new(),
        manager: None,
    }
}

/// Appends a user to the tenant's indexes; returns its index.
pub(crate) fn insert_user(t: &mut Tenant, u: User) -> u32 {
    let idx = t.users.len() as u32;
    t.user_by_id.insert(u.id, idx);
    t.user_by_upn.insert(u.upn.to_lowercase(), idx);
    t.users.push(u);
    idx
}

fn users(t: &mut Tenant, n: usize, started: i64, pools: &Pools, rng: &mut fastrand::Rng) {
    let mut nicknames = HashMap::with_capacity(n);
    for i in 0..n {
        let u = one_user(t, rng, started, pools, &mut nicknames, i == 0);
        insert_user(t, u);
    }
}

/// Member count drawn so that groups average ~200 members in a large tenant: most are small,
/// a few have thousands (those need several pages of /members).
fn group_size(rng: &mut fastrand::Rng, users: usize) -> usize {
    if users < 500 {
        return rng.usize(2..=(users / 2).max(2)).min(users);
    }
    let r = rng.f64();
    let n = if r < 0.92 {
        rng.usize(10..=220)
    } else if r < 0.98 {
        rng.usize(250..=999)
    } else {
        rng.usize(1000..=3000)
    };
    n.min(users)
}

fn groups(t: &mut Tenant, n: usize, pools: &Pools, rng: &mut fastrand::Rng) {
    let users = t.users.len();
    let mut scratch: Vec<u32> = (0..users as u32).collect();
    let default_domain = t.default_domain().to_string();
    let main_sku_name = if t.has_p1 {
        "Microsoft 365 E3"
    } else {
        "Office 365 E3"
    };
    for j in 0..n {
        let kind = match j {
            0 => GroupKind::Security,
            1 => GroupKind::Unified,
            2 => GroupKind::DynamicSecurity,
            3 => GroupKind::Distribution,
            _ => {
                let r = rng.f64();
                if r < 0.52 {
                    GroupKind::Security
                } else if r < 0.87 {
                    GroupKind::Unified
                } else if r < 0.92 {
                    GroupKind::MailEnabledSecurity
                } else if r < 0.97 {
                    GroupKind::Distribution
                } else if r < 0.99 {
                    GroupKind::DynamicSecurity
                } else {
                    GroupKind::DynamicUnified
                }
            }
        };
        let dept = pick(rng, &pools.departments).clone();
        let office = pick(rng, &pools.offices).clone();
        let topic = pick(rng, catalog::GROUP_TOPICS);
        let (display_name, rule) = match kind {
            _ if j == 0 => (format!("License - {main_sku_name}"), None),
            GroupKind::DynamicSecurity | GroupKind::DynamicUnified => {
                if users < 2000 {
                    (
                        format!("All {dept}"),
                        Some(format!("user.department -eq \"{dept}\"")),
                    )
                } else {
                    (
                        format!("All {dept} {office}"),
                        Some(format!(
                            "(user.department -eq \"{dept}\") and (user.city -eq \"{office}\")"
                        )),
                    )
                }
            }
            GroupKind::Security => (format!("SG-{dept}-{office}"), None),
            GroupKind::MailEnabledSecurity => (format!("{dept} Security Alerts"), None),
            GroupKind::Distribution => (format!("{dept} {office} Announcements"), None),
            GroupKind::Unified => (topic.to_string(), None),
        };
        let display_name = if j >= 20 {
            format!("{display_name} {j}")
        } else {
            display_name
        };
        let mail_nickname = format!("{}{j}", slug(&display_name.replace(' ', "")));
        let created = t.created + rng.i64(1..700) * DAY;
        let mut g = Group {
            id: new_id(rng),
            description: Some(Arc::from(
                format!("{display_name} ({})", t.display_name).as_str(),
            )),
            mail: kind
                .mail_enabled()
                .then(|| Arc::from(format!("{mail_nickname}@{default_domain}").as_str())),
            display_name: Arc::from(display_name.as_str()),
            mail_nickname: Arc::from(mail_nickname.as_str()),
            kind,
            membership_rule: rule.as_deref().map(Arc::from),
            visibility: kind
                .is_unified()
                .then(|| if rng.bool() { "Private" } else { "Public" }),
            on_prem: kind == GroupKind::Security && j > 0 && rng.f64() < 0.1,
            created,
            licenses: if j == 0 { vec![0] } else { Vec::new() },
            members: Vec::new(),
            owners: Vec::new(),
            changed_seq: 0,
            deleted_at: None,
        };
        if kind.is_dynamic() {
            let city = (users >= 2000).then_some(office);
            for (i, u) in t.users.iter().enumerate() {
                if !u.guest
                    && u.department.as_deref() == Some(&*dept)
                    && city
                        .as_ref()
                        .is_none_or(|c| u.office_location.as_deref() == Some(&**c))
                {
                    g.members.push(i as u32);
                }
            }
        } else {
            let k = group_size(rng, users);
            // Partial Fisher-Yates over a reused permutation: k distinct users in O(k).
            for i in 0..k {
                let r = rng.usize(i..users);
                scratch.swap(i, r);
                g.members.push(scratch[i]);
            }
        }
        let gi = t.groups.len() as u32;
        for &m in &g.members {
            t.users[m as usize].groups.push(gi);
        }
        t.group_by_id.insert(g.id, gi);
        t.groups.push(g);
    }
}

fn licenses(t: &mut Tenant, rng: &mut fastrand::Rng) {
    // Index of each SKU in `skus()` order: main, second, extra, the full one, the free one.
    let (main, second, extra, full, free) = (0, 1, 2, 3, 4);
    let n = t.users.len();
    for i in 0..n {
        let u = &mut t.users[i];
        if u.guest || u.usage_location.is_none() {
            continue;
        }
        let mut add = |sku: u16| {
            u.licenses.push(LicenseAssignment {
                sku,
                by_group: None,
                disabled: 0,
            });
        };
        let r = rng.f64();
        if i == 0 || r < 0.62 {
            add(main);
        } else if r < 0.70 {
            add(second);
        }
        if rng.f64() < 0.10 {
            add(extra);
        }
        if rng.f64() < 0.15 {
            add(full);
        }
        if rng.f64() < 0.10 {
            add(free);
        }
    }
    if let Some(g) = t.groups.first() {
        let members = g.members.clone();
        for m in members {
            let u = &mut t.users[m as usize];
            if u.usage_location.is_some() {
                u.licenses.push(LicenseAssignment {
                    sku: main,
                    by_group: Some(0),
                    disabled: 0,
                });
            }
        }
    }
    // Every third account with the main SKU directly has one service plan turned off (the last
    // one that is not Exchange), as admins do for, say, Viva or Teams; by index, so the random
    // streams stay as they were.
    if let Some(plan) = t
        .skus
        .get(main as usize)
        .and_then(|s| s.def.plans.iter().rposition(|p| !p.exchange))
    {
        for u in t.users.iter_mut().skip(1).step_by(3) {
            for a in u.licenses.iter_mut() {
                if a.sku == main && a.by_group.is_none() {
                    a.disabled = 1 << plan;
                }
            }
        }
    }
    let mut consumed = vec![0i64; t.skus.len()];
    for u in &t.users {
        for s in u.assigned_skus() {
            consumed[s as usize] += 1;
        }
    }
    for (i, sku) in t.skus.iter_mut().enumerate() {
        let c = consumed[i];
        sku.consumed = c;
        sku.enabled = match sku.def.part_number {
            "POWER_BI_PRO" => c,
            "FLOW_FREE" => 10_000,
            "VISIOCLIENT" => 0,
            _ => c + (c / 12).max(2) + rng.i64(0..3),
        };
        if sku.def.part_number == "VISIOCLIENT" {
            sku.suspended = 5;
            sku.capability_status = "Suspended";
        }
    }
}
