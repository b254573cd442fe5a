//! Delta queries against the simulator: initial round, exact changes, checkpoints, 410.

use std::collections::BTreeSet;

use futures::TryStreamExt as _;
use graph::{DeltaEvent, GraphError, GroupChange, MemberChange, TenantGraph, UserChange};
use graph_sim::Mutation;

use crate::support::Sim;

/// Runs a users delta round from `from`; returns the upserted ids, the removed ids and the new link.
async fn user_round(
    graph: &TenantGraph,
    from: Option<&str>,
) -> (BTreeSet<String>, BTreeSet<String>, String) {
    let mut upserted = BTreeSet::new();
    let mut removed = BTreeSet::new();
    let mut delta_link = None;
    let mut events = std::pin::pin!(graph.users_delta(from));
    while let Some(event) = events.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
        assert!(delta_link.is_none(), "Complete is the last event");
        match event {
            DeltaEvent::Change(UserChange::Upserted(user)) => {
                assert!(upserted.insert(user.id), "no user twice in one round");
            }
            DeltaEvent::Change(UserChange::Removed { id, .. }) => {
                removed.insert(id);
            }
            DeltaEvent::PageEnd { next_link } => assert!(!next_link.is_empty()),
            DeltaEvent::Complete { delta_link: link } => delta_link = Some(link),
        }
    }
    (
        upserted,
        removed,
        delta_link.unwrap_or_else(|| panic!("a round ends with a delta link")),
    )
}

#[tokio::test]
async fn given_delta_link_when_users_change_then_the_next_round_returns_exactly_the_changes() {
    // GIVEN a tenant fully read by an initial delta round
    let sim = Sim::start(2_500, 5, true).await;
    let graph = sim.graph();
    let (initial, removed, link) = user_round(&graph, None).await;
    assert_eq!(initial.len(), 2_500);
    assert!(removed.is_empty());
    // WHEN users are added, updated and deleted
    let report = sim
        .handle
        .mutate(
            sim.tenant_id(),
            &Mutation {
                add_users: 7,
                update_users: 5,
                delete_users: 3,
                ..Mutation::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (upserted, removed, next_link) = user_round(&graph, Some(&link)).await;
    // THEN the round returns exactly the added and updated users as upserts and the deleted as removed
    let want_upserted: BTreeSet<_> = report
        .added_users
        .iter()
        .chain(&report.updated_users)
        .cloned()
        .collect();
    assert_eq!(upserted, want_upserted);
    assert_eq!(removed, report.deleted_users.iter().cloned().collect());
    // AND a round without changes is empty
    let (none, gone, _) = user_round(&graph, Some(&next_link)).await;
    assert!(none.is_empty() && gone.is_empty(), "{none:?} {gone:?}");
}

#[tokio::test]
async fn given_a_checkpoint_mid_round_when_resumed_then_the_round_completes_without_loss() {
    // GIVEN an initial round interrupted after its first page
    let sim = Sim::start(3_000, 2, true).await;
    let graph = sim.graph();
    let mut pages = std::pin::pin!(graph.users_delta_pages(None));
    let first = pages
        .try_next()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a page"));
    let checkpoint = first
        .next_link
        .clone()
        .unwrap_or_else(|| panic!("more than one page"));
    assert_eq!(first.resume_link(), Some(checkpoint.as_str()));
    // WHEN a later run resumes from the stored next link
    let (rest, _, _) = user_round(&graph, Some(&checkpoint)).await;
    // THEN the first page and the rest together are every user, once
    let mut all: BTreeSet<String> = first
        .changes
        .into_iter()
        .map(|c| match c {
            UserChange::Upserted(u) => u.id,
            UserChange::Removed { id, .. } => id,
        })
        .collect();
    let first_len = all.len();
    all.extend(rest.iter().cloned());
    assert_eq!(all.len(), first_len + rest.len());
    assert_eq!(all.len(), 3_000);
}

#[tokio::test]
async fn given_memberships_change_when_groups_delta_runs_then_member_changes_are_exact() {
    // GIVEN a tenant whose groups were read by an initial groups delta round
    let sim = Sim::start(600, 20, true).await;
    let graph = sim.graph();
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut link = None;
    let mut initial_members = BTreeSet::new();
    let mut pages = std::pin::pin!(graph.groups_delta_pages(None));
    while let Some(page) = pages.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
        for change in page.changes {
            if let GroupChange::Upserted { group, members } = change {
                for m in members {
                    if let MemberChange::Added(m) = m {
                        initial_members.insert((group.id.clone(), m.id));
                    }
                }
            }
        }
        link = page.delta_link;
    }
    let want: BTreeSet<_> = truth
        .groups
        .iter()
        .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
        .collect();
    assert_eq!(initial_members, want);
    let link = link.unwrap_or_else(|| panic!("delta link"));
    // WHEN memberships are added and removed
    let report = sim
        .handle
        .mutate(
            sim.tenant_id(),
            &Mutation {
                add_memberships: 6,
                remove_memberships: 4,
                ..Mutation::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut added = BTreeSet::new();
    let mut removed = BTreeSet::new();
    let mut events = std::pin::pin!(graph.groups_delta(Some(&link)));
    while let Some(event) = events.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
        if let DeltaEvent::Change(GroupChange::Upserted { group, members }) = event {
            for m in members {
                match m {
                    MemberChange::Added(m) => added.insert((group.id.clone(), m.id)),
                    MemberChange::Removed(m) => removed.insert((group.id.clone(), m.id)),
                };
            }
        }
    }
    // THEN exactly those member changes are reported
    let want_added: BTreeSet<_> = report
        .added_memberships
        .iter()
        .map(|m| (m.group_id.clone(), m.user_id.clone()))
        .collect();
    let want_removed: BTreeSet<_> = report
        .removed_memberships
        .iter()
        .map(|m| (m.group_id.clone(), m.user_id.clone()))
        .collect();
    assert_eq!(added, want_added);
    assert_eq!(removed, want_removed);
}

#[tokio::test]
async fn given_expired_delta_link_when_used_then_resync_required() {
    // GIVEN a stored delta link the server has since invalidated
    let sim = Sim::start(100, 2, true).await;
    let graph = sim.graph();
    let (_, _, link) = user_round(&graph, None).await;
    sim.knobs(|k| k.expire_delta_tokens = true);
    // WHEN the next round starts from it
    let result: Result<Vec<_>, _> = graph.users_delta_pages(Some(&link)).try_collect().await;
    // THEN the caller is told to resync, and it is not retried
    match result {
        Err(error @ GraphError::ResyncRequired(_)) => {
            assert_eq!(error.status(), Some(410));
            assert!(
                matches!(error.code(), Some("syncStateNotFound" | "resyncRequired")),
                "{error}"
            );
            assert!(!error.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(graph.metrics().retries, 0);
}

#[tokio::test]
async fn given_a_group_whose_members_all_come_in_one_delta_page_when_read_then_they_are_handed_on_in_bounded_parts_before_the_page_ends()
 {
    // GIVEN a tenant whose largest group has 120 members, a Graph that sends every group's
    // members@delta whole in one page, and a client that hands delta changes on 25 at a time
    let sim = Sim::start(150, 4, true).await;
    let group_id = sim
        .handle
        .grow_group(sim.tenant_id(), 120)
        .unwrap_or_else(|e| panic!("{e}"));
    sim.knobs(|k| k.delta_member_refs = Some(usize::MAX));
    let config =
        graph::GraphConfig::new(&sim.handle.graph_base_url(), &sim.handle.login_base_url())
            .unwrap_or_else(|e| panic!("{e}"))
            .with_retry(crate::support::fast_retry())
            .with_delta_part_size(25);
    let graph = graph::GraphClient::new(config)
        .unwrap_or_else(|e| panic!("{e}"))
        .tenant(
            sim.tenant_id().to_owned(),
            crate::support::credential(&sim.tenant.own_app),
        );
    // WHEN the groups delta round is read
    let mut pages = std::pin::pin!(graph.groups_delta_pages(None));
    let mut parts = Vec::new();
    while let Some(page) = pages.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
        parts.push(page);
    }
    // THEN Graph served one page, and the client handed it on in several parts before its end:
    // none holds much more than 25 changes, each before the end says to resume at that same
    // page, and together they hold every membership of the tenant once
    assert_eq!(sim.served("GET /v1.0/groups/delta"), 1);
    let (end, before_end) = parts.split_last().unwrap_or_else(|| panic!("no page"));
    assert!(
        before_end.len() >= 4,
        "{} parts before the end",
        before_end.len()
    );
    assert!(end.delta_link.is_some());
    let page_link = before_end[0].next_link.clone();
    for part in before_end {
        assert!(part.delta_link.is_none());
        assert_eq!(part.next_link, page_link);
    }
    let mut read = Vec::new();
    for part in &parts {
        let weight: usize = part
            .changes
            .iter()
            .map(|c| match c {
                GroupChange::Upserted { members, .. } => 1 + members.len(),
                GroupChange::Removed { .. } => 1,
            })
            .sum();
        assert!(weight <= 50, "a part of weight {weight}");
        for change in &part.changes {
            if let GroupChange::Upserted { group, members } = change {
                for m in members {
                    if let MemberChange::Added(m) = m {
                        read.push((group.id.clone(), m.id.clone()));
                    }
                }
            }
        }
    }
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut want: Vec<(String, String)> = truth
        .groups
        .iter()
        .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
        .collect();
    want.sort();
    read.sort();
    assert_eq!(read, want);
    let largest = truth.groups.iter().find(|g| g.id == group_id);
    assert_eq!(largest.map(|g| g.member_ids.len()), Some(120));
}
