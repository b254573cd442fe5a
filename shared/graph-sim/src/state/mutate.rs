//! Deterministic mutations for tests (POST /_sim/tenants/{tid}/mutate): the same seed and the
//! same sequence of calls give the same changes.

use std::collections::HashMap;

use crate::catalog;
use crate::config::{MembershipRef, Mutation, MutationReport};
use crate::state::generate::{draw_user, insert_user};
use crate::state::{LicenseAssignment, Tenant};

/// Tries this many random picks before giving up on finding a candidate.
const TRIES: usize = 64;

/// A live user among the first `among` (index 0, the administrator, is never picked).
fn live_user(t: &Tenant, rng: &mut fastrand::Rng, among: usize) -> Option<u32> {
    let among = among.min(t.users.len());
    if among < 2 {
        return None;
    }
    (0..TRIES)
        .map(|_| rng.u32(1..among as u32))
        .find(|&i| t.users[i as usize].deleted_at.is_none())
}

/// Groups whose membership can be changed directly (not dynamic, not mail-enabled security or
/// distribution lists, not synced from on-premises).
pub(crate) fn assignable(t: &Tenant, g: u32) -> bool {
    use crate::state::GroupKind::*;
    let grp = &t.groups[g as usize];
    matches!(grp.kind, Security | Unified) && !grp.on_prem && grp.deleted_at.is_none()
}

pub(crate) fn apply(
    t: &mut Tenant,
    m: &Mutation,
    rng: &mut fastrand::Rng,
    started: i64,
) -> MutationReport {
    let mut r = MutationReport::default();
    // Updates and deletions pick users that existed before this mutation, so the report's
    // added, updated and deleted users are apart (an account added and deleted in one go would
    // reach a delta reader as neither).
    let existing = t.users.len();
    let now = chrono::Utc::now().timestamp().max(started);
    let mut nicknames: HashMap<String, u32> = HashMap::new();
    for u in &t.users {
        if let Some((nick, _)) = u.upn.split_once('@') {
            let base: String = nick
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string();
            *nicknames.entry(base).or_insert(0) += 1;
        }
    }
    for _ in 0..m.add_users {
        let mut u = draw_user(t, rng, now, &mut nicknames);
        u.created = now;
        u.sessions_valid_from = now;
        u.sign_in = None;
        while t.users_upn_taken(&u.upn) {
            let (nick, domain) = u.upn.split_once('@').unwrap_or((&u.upn, ""));
            let upn: std::sync::Arc<str> = format!("{nick}{}@{domain}", rng.u32(2..100_000)).into();
            if !u.guest {
                u.mail = Some(upn.clone());
            }
            u.upn = upn;
        }
        let seq = t.next_seq();
        u.changed_seq = seq;
        if u.usage_location.is_some() && !u.guest && t.skus[0].consumed < t.skus[0].enabled {
            u.licenses.push(LicenseAssignment {
                sku: 0,
                by_group: None,
                disabled: 0,
            });
            t.skus[0].consumed += 1;
        }
        r.added_users.push(u.id.to_string());
        insert_user(t, u);
    }
    for _ in 0..m.update_users {
        let Some(i) = live_user(t, rng, existing) else {
            break;
        };
        let seq = t.next_seq();
        let dept = catalog::DEPARTMENTS[rng.usize(..catalog::DEPARTMENTS.len())];
        let title = catalog::JOB_TITLES[rng.usize(..catalog::JOB_TITLES.len())];
        let u = &mut t.users[i as usize];
        u.department = Some(dept.into());
        u.job_title = Some(title.into());
        u.changed_seq = seq;
        r.updated_users.push(u.id.to_string());
    }
    for _ in 0..m.delete_users {
        let Some(i) = live_user(t, rng, existing) else {
            break;
        };
        t.soft_delete(i, now);
        r.deleted_users.push(t.users[i as usize].id.to_string());
    }
    for _ in 0..m.add_memberships {
        let pick = (0..TRIES).find_map(|_| {
            let g = rng.u32(0..t.groups.len().max(1) as u32);
            let u = live_user(t, rng, t.users.len())?;
            (assignable(t, g) && !t.groups[g as usize].members.contains(&u)).then_some((g, u))
        });
        let Some((g, u)) = pick else { break };
        t.add_member(g, u);
        r.added_memberships.push(MembershipRef {
            group_id: t.groups[g as usize].id.to_string(),
            user_id: t.users[u as usize].id.to_string(),
        });
    }
    for _ in 0..m.remove_memberships {
        let pick = (0..TRIES).find_map(|_| {
            let g = rng.u32(0..t.groups.len().max(1) as u32);
            let members = &t.groups.get(g as usize)?.members;
            (assignable(t, g) && !members.is_empty())
                .then(|| (g, members[rng.usize(..members.len())]))
        });
        let Some((g, u)) = pick else { break };
        t.remove_member(g, u);
        r.removed_memberships.push(MembershipRef {
            group_id: t.groups[g as usize].id.to_string(),
            user_id: t.users[u as usize].id.to_string(),
        });
    }
    r
}

impl Tenant {
    pub(crate) fn users_upn_taken(&self, upn: &str) -> bool {
        self.user_by_upn.contains_key(&upn.to_lowercase())
    }
}

/// Makes the largest directly assignable, unlicensed group have `members` members (or every
/// live user, if fewer), adding live users in directory order; returns its index. For a tenant
/// whose largest group is very large (a bench of bounded memory against huge delta pages).
pub(crate) fn grow_group(t: &mut Tenant, members: usize) -> Option<u32> {
    let g = (0..t.groups.len() as u32)
        .filter(|&g| assignable(t, g) && t.groups[g as usize].licenses.is_empty())
        .max_by_key(|&g| t.groups[g as usize].members.len())?;
    let mut present: std::collections::HashSet<u32> =
        t.groups[g as usize].members.iter().copied().collect();
    for u in 0..t.users.len() as u32 {
        if present.len() >= members {
            break;
        }
        if t.users[u as usize].deleted_at.is_some() || !present.insert(u) {
            continue;
        }
        // `Tenant::add_member` without its linear membership check (a set is kept here).
        let seq = t.next_seq();
        t.groups[g as usize].members.push(u);
        t.users[u as usize].groups.push(g);
        t.member_log.push(crate::state::MemberChange {
            seq,
            group: g,
            user: u,
            added: true,
        });
    }
    Some(g)
}
