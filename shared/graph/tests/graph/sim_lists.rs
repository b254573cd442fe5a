//! Lists against the simulator: completeness, request counts, typed fields.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::{StreamExt as _, TryStreamExt as _};
use graph::{GraphError, GroupKind, MailboxUsagePeriod};

use crate::support::{Sim, credential};

#[tokio::test]
async fn given_100k_users_when_listed_then_each_arrives_once_with_ceil_n_over_999_requests() {
    // GIVEN a tenant of 100,000 users
    let sim = Sim::start(100_000, 5, true).await;
    let graph = sim.graph();
    let expected = sim
        .handle
        .truth_counts(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"))
        .counts
        .users;
    assert_eq!(expected, 100_000);
    // WHEN every user is listed, page by page
    let mut pages = std::pin::pin!(graph.user_pages(None));
    let mut ids = HashSet::with_capacity(expected);
    let mut page_count = 0;
    while let Some(page) = pages.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
        page_count += 1;
        assert!(page.items.len() <= 999);
        for user in page.items {
            assert!(
                user.user_principal_name.is_some(),
                "selected fields are filled: {user:?}"
            );
            assert!(ids.insert(user.id), "no user twice");
        }
    }
    // THEN all 100,000 arrived in exactly ceil(100000/999) = 101 user requests
    assert_eq!(ids.len(), expected);
    assert_eq!(page_count, 101);
    assert_eq!(sim.served("GET /v1.0/users"), 101);
    assert_eq!(graph.metrics().requests, 101);
    assert_eq!(graph.metrics().retries, 0);
}

#[tokio::test]
async fn given_tenant_when_groups_and_members_listed_then_they_match_the_truth() {
    // GIVEN a tenant with groups of every kind
    let sim = Sim::start(400, 30, true).await;
    let graph = sim.graph();
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    // WHEN groups and their members are listed
    let groups: Vec<_> = graph
        .groups()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for group in &groups {
        let members: Vec<_> = graph
            .group_members(&group.id)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        listed.insert(
            group.id.clone(),
            members.into_iter().map(|m| m.id).collect(),
        );
    }
    // THEN groups, memberships and kinds are exactly the truth
    let expected: BTreeMap<String, BTreeSet<String>> = truth
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.member_ids.iter().cloned().collect()))
        .collect();
    assert_eq!(listed, expected);
    for group in &groups {
        let kind = truth
            .groups
            .iter()
            .find(|t| t.id == group.id)
            .map(|t| t.kind.as_str());
        let derived = match (group.kind(), group.is_dynamic()) {
            (GroupKind::Security, false) => "security",
            (GroupKind::MailEnabledSecurity, false) => "mailEnabledSecurity",
            (GroupKind::Distribution, false) => "distribution",
            (GroupKind::Microsoft365, false) => "unified",
            (GroupKind::Security, true) => "dynamicSecurity",
            (GroupKind::Microsoft365, true) => "dynamicUnified",
            other => panic!("unexpected kind {other:?} for {group:?}"),
        };
        assert_eq!(Some(derived), kind, "{group:?}");
        assert_eq!(group.is_dynamic(), group.membership_rule.is_some());
    }
}

#[tokio::test]
async fn given_tenant_when_skus_domains_organization_and_counts_read_then_they_match_the_truth() {
    // GIVEN a tenant
    let sim = Sim::start(120, 5, true).await;
    let graph = sim.graph();
    let truth = sim
        .handle
        .truth_counts(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    // WHEN SKUs, domains and the organization are read
    let skus: Vec<_> = graph
        .subscribed_skus()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let domains: Vec<_> = graph
        .domains()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let organization = graph.organization().await.unwrap_or_else(|e| panic!("{e}"));
    let user_count = graph.user_count().await.unwrap_or_else(|e| panic!("{e}"));
    let group_count = graph.group_count().await.unwrap_or_else(|e| panic!("{e}"));
    // THEN units, part numbers, domain verification and the tenant id match
    let got: BTreeSet<_> = skus
        .iter()
        .map(|s| {
            let prepaid = s.prepaid_units.clone().unwrap_or_default();
            (
                s.sku_id.clone(),
                s.sku_part_number.clone().unwrap_or_default(),
                prepaid.enabled,
                s.consumed_units,
            )
        })
        .collect();
    let want: BTreeSet<_> = truth
        .skus
        .iter()
        .map(|s| {
            (
                s.sku_id.clone(),
                s.sku_part_number.clone(),
                Some(s.enabled),
                Some(s.consumed),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        skus.iter().any(|s| s.available_units() == 0),
        "one SKU is full"
    );
    let verified: BTreeSet<_> = domains
        .iter()
        .filter(|d| d.is_verified == Some(true))
        .map(|d| d.id.clone())
        .collect();
    let unverified: BTreeSet<_> = domains
        .iter()
        .filter(|d| d.is_verified != Some(true))
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(
        verified,
        sim.tenant.verified_domains.iter().cloned().collect()
    );
    assert_eq!(
        unverified,
        sim.tenant.unverified_domains.iter().cloned().collect()
    );
    assert_eq!(organization.id, sim.tenant.tenant_id);
    assert_eq!((user_count, group_count), (120, 5));
    let org_domains: BTreeSet<_> = organization
        .verified_domains
        .iter()
        .filter_map(|d| d.name.clone())
        .collect();
    assert_eq!(org_domains, verified);
}

#[tokio::test]
async fn given_p1_tenant_when_sign_in_activity_listed_then_120_per_page_and_dates_match_the_truth()
{
    // GIVEN a tenant with Entra ID P1
    let sim = Sim::start(1_200, 3, true).await;
    let graph = sim.graph();
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    // WHEN users with sign-in activity are listed
    let users: Vec<_> = graph
        .users_with_sign_in_activity()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN every user arrives in ceil(1200/120) = 10 requests (Graph's page limit with
    // signInActivity [learn: graph/api/user-list]), with the recorded last sign-in
    assert_eq!(users.len(), 1_200);
    assert_eq!(graph.metrics().requests, 10);
    for user in &users {
        let want = truth
            .users
            .iter()
            .find(|t| t.id == user.id)
            .and_then(|t| t.last_sign_in);
        let got = user
            .sign_in_activity
            .as_ref()
            .and_then(|s| s.last_sign_in_date_time)
            .map(|t| t.timestamp());
        assert_eq!(got, want, "{user:?}");
    }
}

#[tokio::test]
async fn given_tenant_without_p1_when_sign_in_activity_listed_then_sign_in_activity_unavailable() {
    // GIVEN a tenant without Entra ID P1
    let sim = Sim::start(50, 2, false).await;
    // WHEN users with sign-in activity are listed
    let result: Result<Vec<_>, _> = sim
        .graph()
        .users_with_sign_in_activity()
        .try_collect()
        .await;
    // THEN the typed error names the missing licence
    match result {
        Err(GraphError::SignInActivityUnavailable(detail)) => {
            assert_eq!(
                detail.code,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
            );
            assert_eq!(detail.status, 403);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn given_partner_tenant_when_customers_listed_then_the_gdap_customers_arrive() {
    // GIVEN the demo set: tenant 0 is the GDAP partner of tenants 1 and 2
    let sim = Sim::start_with(graph_sim::SimConfig::demo()).await;
    // WHEN the partner lists its customers
    let customers: Vec<_> = sim
        .graph()
        .delegated_admin_customers()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN they are exactly the two customer tenants
    let got: BTreeSet<_> = customers.iter().map(|c| c.tenant_id.clone()).collect();
    let want: BTreeSet<_> = sim.tenant.customers.iter().cloned().collect();
    assert_eq!(want.len(), 2);
    assert_eq!(got, want);
    assert!(customers.iter().all(|c| c.display_name.is_some()));
}

#[tokio::test]
async fn given_tenant_when_license_states_and_details_read_then_skus_match_the_truth() {
    // GIVEN a tenant where some users hold licenses
    let sim = Sim::start(200, 5, true).await;
    let graph = sim.graph();
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    // WHEN users are listed with their assignment states
    let users: Vec<_> = graph
        .users_with_license_states()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN each user's assigned SKUs match the truth
    for user in &users {
        let want: BTreeSet<_> = truth
            .users
            .iter()
            .find(|t| t.id == user.id)
            .map(|t| t.sku_ids.iter().cloned().collect())
            .unwrap_or_default();
        let got: BTreeSet<_> = user
            .assigned_licenses
            .iter()
            .map(|l| l.sku_id.clone())
            .collect();
        assert_eq!(got, want, "{user:?}");
    }
    // AND one licensed user's license details list the same SKUs
    let licensed = truth
        .users
        .iter()
        .find(|t| !t.sku_ids.is_empty())
        .unwrap_or_else(|| panic!("a licensed user"));
    let details: Vec<_> = graph
        .user_license_details(&licensed.id)
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let got: BTreeSet<_> = details.iter().filter_map(|d| d.sku_id.clone()).collect();
    assert_eq!(got, licensed.sku_ids.iter().cloned().collect());
}

#[tokio::test]
async fn given_tenant_when_mailbox_usage_read_then_one_row_per_mailbox_follows_the_redirect() {
    // GIVEN a tenant
    let sim = Sim::start(80, 2, true).await;
    // WHEN the D30 mailbox usage report is read (302 to a CSV download)
    let report = sim
        .graph()
        .mailbox_usage(MailboxUsagePeriod::D30)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<_> = report
        .rows()
        .unwrap_or_else(|e| panic!("{e}"))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN there are rows with typed values, for the 30-day period
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.report_period == Some(30)));
    assert!(rows.iter().all(|r| !r.user_principal_name.is_empty()));
    assert!(rows.iter().any(|r| r.storage_used_bytes.is_some()));
}

#[tokio::test]
async fn given_read_only_platform_app_when_listing_then_granted_roles_are_reported() {
    // GIVEN the platform's read-only app consented in the tenant
    let sim = Sim::start(30, 2, true).await;
    let app = sim.handle.platform_read_app();
    sim.handle
        .consent(
            sim.tenant_id(),
            &graph_sim::ConsentChange {
                granted: true,
                roles: Vec::new(),
                client_id: Some(app.client_id.clone()),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let graph = sim.client.tenant(sim.tenant_id(), credential(&app));
    // WHEN its roles are read and users listed
    let roles = graph
        .granted_roles()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let users = graph.users().count().await;
    // THEN the roles are read-only ones and reading works
    assert!(roles.iter().any(|r| r == "User.Read.All"), "{roles:?}");
    assert!(
        !roles.iter().any(|r| r.ends_with("ReadWrite.All")),
        "{roles:?}"
    );
    assert_eq!(users, 30);
}
