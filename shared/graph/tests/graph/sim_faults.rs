//! Throttling and transient failures against the simulator: nothing may be lost.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::TryStreamExt as _;

use crate::support::Sim;

#[tokio::test]
async fn given_429_storm_and_5_percent_5xx_when_listing_everything_then_no_item_is_lost() {
    // GIVEN a tenant answering 25 % of requests 429 (Retry-After 0.01 s) and 5 % 502/503/504
    let sim = Sim::start(5_000, 40, true).await;
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    sim.knobs(|k| {
        k.fail_rate_429 = 0.25;
        k.fail_rate_5xx = 0.05;
        k.retry_after_s = 0.01;
    });
    let graph = sim.graph();
    // WHEN users, groups and every group's members are listed
    let users: Vec<_> = graph
        .users()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let groups: Vec<_> = graph
        .groups()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut memberships: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for group in &groups {
        let members: Vec<_> = graph
            .group_members(&group.id)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        memberships.insert(
            group.id.clone(),
            members.into_iter().map(|m| m.id).collect(),
        );
    }
    // THEN every user, group and membership arrived exactly once
    let user_ids: HashSet<_> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(users.len(), truth.users.len());
    assert_eq!(user_ids, truth.users.iter().map(|u| u.id.clone()).collect());
    let want: BTreeMap<String, BTreeSet<String>> = truth
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.member_ids.iter().cloned().collect()))
        .collect();
    assert_eq!(memberships, want);
    // AND the faults really happened and were retried
    let metrics = graph.metrics();
    let stats = sim.handle.stats();
    assert!(stats.throttled > 0 && stats.injected_5xx > 0, "{stats:?}");
    assert_eq!(metrics.throttled, stats.throttled);
    assert_eq!(metrics.retries, stats.throttled + stats.injected_5xx);
}

#[tokio::test]
async fn given_small_resource_unit_budget_when_listing_then_throttled_requests_wait_and_complete() {
    // GIVEN a budget of 20 RU per 200 ms window (a /users page costs 1 RU with $select, members 2)
    let sim = Sim::start(3_000, 30, true).await;
    sim.knobs(|k| {
        k.ru_per_10s = Some(20);
        k.throttle_window_ms = 200;
    });
    let graph = sim.graph();
    // WHEN the groups' members are listed
    let groups: Vec<_> = graph
        .groups()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut total = 0;
    for group in &groups {
        total += graph
            .group_members(&group.id)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .len();
    }
    // THEN every membership arrived although Graph throttled
    let truth = sim
        .handle
        .truth_counts(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total, truth.counts.memberships);
    assert!(graph.metrics().throttled > 0);
}
