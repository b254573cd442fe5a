//! Paging of users, groups and members as Graph documents it.

mod common;

use common::Env;
use graph_sim::SimConfig;
use std::collections::HashSet;

#[tokio::test]
async fn given_a_tenant_when_users_are_listed_with_top_999_then_every_user_comes_once_in_ceil_n_over_999_pages()
 {
    // GIVEN a tenant of 2,500 users
    let env = Env::start(SimConfig::single(2_500, 20)).await;
    let token = env.token(0).await;
    // WHEN every page of /users?$top=999 is followed
    let (users, requests) = env
        .get_all(&token, "/users?$top=999&$select=id,userPrincipalName")
        .await;
    // THEN 2,500 distinct users come in exactly 3 requests
    let ids: HashSet<&str> = users
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2_500);
    assert_eq!(requests, 3);
    assert!(
        users
            .iter()
            .all(|u| u.as_object().expect("object").len() == 2)
    );
}

#[tokio::test]
async fn given_default_paging_when_users_are_listed_then_pages_hold_100() {
    // GIVEN a tenant of 250 users
    let env = Env::start(SimConfig::single(250, 5)).await;
    let token = env.token(0).await;
    // WHEN /users is listed without $top
    let (status, first) = env.get_json(&token, "/users").await;
    // THEN the first page holds 100 users and an absolute nextLink on the simulator
    assert_eq!(status, 200);
    assert_eq!(first["value"].as_array().expect("value").len(), 100);
    let next = first["@odata.nextLink"].as_str().expect("nextLink");
    assert!(next.starts_with(&env.sim.graph_base_url()), "{next}");
    let (all, requests) = env.get_all(&token, "/users").await;
    assert_eq!((all.len(), requests), (250, 3));
}

#[tokio::test]
async fn given_groups_when_members_are_listed_then_they_match_the_ground_truth() {
    // GIVEN a tenant with groups
    let env = Env::start(SimConfig::single(3_000, 30)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let truth = env.sim.truth(&tid).expect("truth");
    // WHEN every group's members are listed with $top=999
    let (groups, _) = env
        .get_all(&token, "/groups?$top=999&$select=id,displayName")
        .await;
    assert_eq!(groups.len(), 30);
    for g in &truth.groups {
        let (members, requests) = env
            .get_all(
                &token,
                &format!("/groups/{}/members?$top=999&$select=id", g.id),
            )
            .await;
        // THEN each group lists exactly its members, in ceil(n/999) requests (at least 1)
        let got: Vec<&str> = members
            .iter()
            .map(|m| m["id"].as_str().expect("id"))
            .collect();
        let want: Vec<&str> = g.member_ids.iter().map(String::as_str).collect();
        assert_eq!(got, want, "group {}", g.display_name);
        assert_eq!(requests, want.len().div_ceil(999).max(1));
        assert!(
            members
                .iter()
                .all(|m| m["@odata.type"] == "#microsoft.graph.user")
        );
    }
}

#[tokio::test]
async fn given_top_above_999_when_users_are_listed_then_400() {
    // GIVEN a tenant
    let env = Env::start(SimConfig::single(10, 2)).await;
    let token = env.token(0).await;
    // WHEN $top=1000 is asked
    let (status, body) = env.get_json(&token, "/users?$top=1000").await;
    // THEN Graph's 400 comes back
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
}

#[tokio::test]
async fn given_the_benchmark_tenant_when_users_are_paged_then_100k_users_come_in_101_requests_and_groups_average_about_200_members()
 {
    // GIVEN the 100,000-user, 2,000-group tenant
    let env = Env::start(SimConfig::single(100_000, 2_000)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    // WHEN every user is paged with $top=999
    let (users, requests) = env.get_all(&token, "/users?$top=999&$select=id").await;
    // THEN all 100,000 come in ceil(100000/999) = 101 requests
    assert_eq!((users.len(), requests), (100_000, 101));
    // AND the tenant holds ~400k memberships (about 200 per group)
    let counts = env.sim.truth_counts(&tid).expect("truth").counts;
    assert_eq!((counts.users, counts.groups), (100_000, 2_000));
    assert!(
        (300_000..=500_000).contains(&counts.memberships),
        "{}",
        counts.memberships
    );
}

#[tokio::test]
async fn given_a_tenant_capped_at_small_pages_when_listed_or_read_by_delta_then_pages_are_smaller_than_asked_and_nothing_is_lost()
 {
    // GIVEN a tenant of 250 users whose Graph answers at most 40 objects a page (Graph treats
    // `$top` and `Prefer: odata.maxpagesize` as upper bounds)
    let env = Env::start(SimConfig::single(250, 5)).await;
    let tid = env.tenant(0).tenant_id;
    env.sim
        .update_knobs(&tid, |k| k.max_page_size = Some(40))
        .expect("knobs");
    let token = env.token(0).await;

    // WHEN /users?$top=999 is followed to its end
    let (users, requests) = env.get_all(&token, "/users?$top=999&$select=id").await;
    // THEN every user comes once, in pages of 40
    let ids: HashSet<&str> = users
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!((ids.len(), requests), (250, 7));

    // WHEN a users delta round preferring 999 a page is followed to its deltaLink
    let mut link = format!("{}/users/delta?$select=id", env.sim.graph_base_url());
    let (mut seen, mut pages) = (HashSet::new(), 0);
    loop {
        let page: serde_json::Value = env
            .http
            .get(&link)
            .bearer_auth(&token)
            .header("prefer", "odata.maxpagesize=999")
            .send()
            .await
            .expect("delta page")
            .json()
            .await
            .expect("JSON");
        pages += 1;
        let value = page["value"].as_array().expect("value");
        assert!(value.len() <= 40, "page of {}", value.len());
        seen.extend(
            value
                .iter()
                .map(|u| u["id"].as_str().expect("id").to_owned()),
        );
        match page["@odata.nextLink"].as_str() {
            Some(next) => link = next.to_owned(),
            None => break,
        }
    }
    // THEN the round returns every user in pages of at most 40
    assert_eq!(seen.len(), 250);
    assert!(pages >= 7, "{pages} pages");
}
