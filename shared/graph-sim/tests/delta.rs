//! Delta queries: a first round of everything, then exactly the changes; 410 when expired.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Env;
use graph_sim::{Mutation, SimConfig};
use serde_json::Value;

/// Follows a delta round to its deltaLink; returns the items and the deltaLink.
async fn round(env: &Env, token: &str, start: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut link = start.to_string();
    loop {
        let (status, body) = env.get_json(token, &link).await;
        assert_eq!(status, 200, "{link}: {body}");
        items.extend(body["value"].as_array().expect("value").iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            link = next.to_string();
        } else {
            let delta = body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink on the last page");
            return (items, delta.to_string());
        }
    }
}

fn ids(items: &[Value], removed: bool) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_some() == removed)
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn given_a_user_delta_link_when_users_are_added_updated_and_deleted_then_the_next_round_returns_exactly_those()
 {
    // GIVEN a first delta round over 1,200 users
    let env = Env::start(SimConfig::single(1_200, 10)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let (first, link) = round(
        &env,
        &token,
        "/users/delta?$select=id,displayName,accountEnabled",
    )
    .await;
    assert_eq!(ids(&first, false).len(), 1_200);
    // WHEN users are added, updated and deleted
    let m = env
        .sim
        .mutate(
            &tid,
            &Mutation {
                add_users: 3,
                update_users: 4,
                delete_users: 2,
                ..Mutation::default()
            },
        )
        .expect("mutate");
    let (changes, link2) = round(&env, &token, &link).await;
    // THEN the round holds the added and updated users and the deleted ones as @removed
    let want_changed: BTreeSet<String> = m
        .added_users
        .iter()
        .chain(&m.updated_users)
        .filter(|id| !m.deleted_users.contains(id))
        .cloned()
        .collect();
    assert_eq!(ids(&changes, false), want_changed);
    assert_eq!(
        ids(&changes, true),
        m.deleted_users.iter().cloned().collect()
    );
    assert!(
        changes
            .iter()
            .filter(|c| c.get("@removed").is_some())
            .all(|c| c["@removed"]["reason"] == "changed")
    );
    // AND a round with no changes in between is empty
    let (none, _) = round(&env, &token, &link2).await;
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn given_a_group_delta_link_when_memberships_change_then_members_delta_holds_exactly_those() {
    // GIVEN a first group delta round with members
    let env = Env::start(SimConfig::single(600, 12)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let (first, link) = round(&env, &token, "/groups/delta?$select=displayName,members").await;
    // Groups may repeat across pages when their members are split; merge them.
    let mut merged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &first {
        let entry = merged
            .entry(g["id"].as_str().expect("id").to_string())
            .or_default();
        for m in g["members@delta"].as_array().expect("members@delta") {
            entry.insert(m["id"].as_str().expect("member id").to_string());
        }
    }
    let truth = env.sim.truth(&tid).expect("truth");
    for g in &truth.groups {
        assert_eq!(
            merged[&g.id],
            g.member_ids.iter().cloned().collect::<BTreeSet<_>>()
        );
    }
    // WHEN memberships are added and removed
    let m = env
        .sim
        .mutate(
            &tid,
            &Mutation {
                add_memberships: 5,
                remove_memberships: 3,
                ..Mutation::default()
            },
        )
        .expect("mutate");
    let (changes, _) = round(&env, &token, &link).await;
    // THEN members@delta lists the added members and the removed ones with @removed
    let mut added = BTreeSet::new();
    let mut removed = BTreeSet::new();
    for g in &changes {
        let gid = g["id"].as_str().expect("id");
        for mm in g["members@delta"].as_array().expect("members@delta") {
            let pair = (gid.to_string(), mm["id"].as_str().expect("id").to_string());
            if mm.get("@removed").is_some() {
                removed.insert(pair);
            } else {
                added.insert(pair);
            }
        }
    }
    let want_added: BTreeSet<_> = m
        .added_memberships
        .iter()
        .map(|r| (r.group_id.clone(), r.user_id.clone()))
        .collect();
    let want_removed: BTreeSet<_> = m
        .removed_memberships
        .iter()
        .map(|r| (r.group_id.clone(), r.user_id.clone()))
        .collect();
    assert_eq!(added, &want_added - &want_removed);
    assert_eq!(removed, &want_removed - &want_added);
}

#[tokio::test]
async fn given_a_delta_link_when_delta_tokens_are_expired_then_410_sync_state_not_found() {
    // GIVEN a delta link
    let env = Env::start(SimConfig::single(50, 3)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let (_, link) = round(&env, &token, "/users/delta?$select=id").await;
    // WHEN the tenant's delta tokens are expired
    env.sim
        .update_knobs(&tid, |k| k.expire_delta_tokens = true)
        .expect("knobs");
    let (status, body) = env.get_json(&token, &link).await;
    // THEN the link answers 410 syncStateNotFound, and a fresh round works again
    assert_eq!(status, 410);
    assert_eq!(body["error"]["code"], "syncStateNotFound");
    let (again, _) = round(&env, &token, "/users/delta?$select=id").await;
    assert_eq!(again.len(), 50);
}

#[tokio::test]
async fn given_an_unknown_delta_token_when_used_then_410() {
    // GIVEN a tenant
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    // WHEN a made-up token is used
    let (status, body) = env
        .get_json(&token, "/users/delta?$deltatoken=bm90LWEtdG9rZW4")
        .await;
    // THEN 410 syncStateNotFound
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "syncStateNotFound");
}
