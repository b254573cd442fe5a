//! Manager, direct reports, owned groups, group owners and directory roles, as Graph serves them
//! (user-list-manager, user-list-directreports, user-list-ownedobjects, group-list-owners,
//! user-list-memberof), checked against the simulator's truth.

mod common;

use std::collections::BTreeSet;

use common::Env;
use graph_sim::SimConfig;
use serde_json::Value;

fn ids(body: &Value) -> BTreeSet<String> {
    body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn given_an_org_chart_when_manager_reports_owners_and_roles_are_read_then_they_match_the_truth()
 {
    // GIVEN a simulated tenant and its truth
    let env = Env::start(SimConfig::single(40, 10)).await;
    let token = env.token(0).await;
    let truth = env.sim.truth(&env.tenant(0).tenant_id).expect("truth");
    let managed = truth
        .users
        .iter()
        .find(|u| u.manager_id.is_some())
        .expect("a user with a manager");
    let manager_id = managed.manager_id.clone().unwrap_or_default();

    // WHEN the manager and the manager's direct reports are read
    let (status, manager) = env
        .get_json(
            &token,
            &format!("/users/{}/manager?$select=id,displayName", managed.id),
        )
        .await;
    // THEN the manager is the truth's, typed as a user, and the reports are exactly the users
    // whose manager it is
    assert_eq!(status, 200, "{manager}");
    assert_eq!(manager["id"], manager_id.as_str());
    assert_eq!(manager["@odata.type"], "#microsoft.graph.user");
    let (status, reports) = env
        .get_json(
            &token,
            &format!("/users/{manager_id}/directReports?$select=id"),
        )
        .await;
    assert_eq!(status, 200, "{reports}");
    let expected: BTreeSet<String> = truth
        .users
        .iter()
        .filter(|u| u.manager_id.as_deref() == Some(manager_id.as_str()))
        .map(|u| u.id.clone())
        .collect();
    assert_eq!(ids(&reports), expected);

    // WHEN a user without a manager is asked for one
    let top = truth
        .users
        .iter()
        .find(|u| u.manager_id.is_none())
        .expect("the top of the chart");
    let (status, missing) = env
        .get_json(&token, &format!("/users/{}/manager", top.id))
        .await;
    // THEN 404 Request_ResourceNotFound, as Graph answers
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "Request_ResourceNotFound");

    // WHEN a group's owners and an owner's owned objects are read
    let group = truth
        .groups
        .iter()
        .find(|g| !g.owner_ids.is_empty())
        .expect("an owned group");
    let (status, owners) = env
        .get_json(&token, &format!("/groups/{}/owners?$select=id", group.id))
        .await;
    assert_eq!(status, 200, "{owners}");
    assert_eq!(ids(&owners), group.owner_ids.iter().cloned().collect());
    let owner = &group.owner_ids[0];
    let (status, owned) = env
        .get_json(
            &token,
            &format!("/users/{owner}/ownedObjects?$select=id,displayName"),
        )
        .await;
    assert_eq!(status, 200, "{owned}");
    let expected: BTreeSet<String> = truth
        .groups
        .iter()
        .filter(|g| g.owner_ids.contains(owner))
        .map(|g| g.id.clone())
        .collect();
    assert_eq!(ids(&owned), expected);

    // WHEN a role holder's directory roles are read, typed and untyped
    let role = &truth.roles[0];
    assert_eq!(role.display_name, "Global Administrator");
    let holder = &role.member_ids[0];
    let (status, roles) = env
        .get_json(
            &token,
            &format!("/users/{holder}/memberOf/microsoft.graph.directoryRole?$select=id,displayName,roleTemplateId"),
        )
        .await;
    assert_eq!(status, 200, "{roles}");
    let held: BTreeSet<String> = truth
        .roles
        .iter()
        .filter(|r| r.member_ids.contains(holder))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(ids(&roles), held);
    assert!(
        roles
            .to_string()
            .contains("62e90394-69f5-4237-9190-012177145e10")
    );
    let (_, member_of) = env
        .get_json(
            &token,
            &format!("/users/{holder}/memberOf?$select=id,displayName"),
        )
        .await;
    // THEN memberOf lists the roles too, typed as directoryRole
    assert!(
        member_of
            .to_string()
            .contains("#microsoft.graph.directoryRole"),
        "{member_of}"
    );

    // WHEN a property a role does not have is selected
    let (status, bad) = env
        .get_json(
            &token,
            &format!("/users/{holder}/memberOf/microsoft.graph.directoryRole?$select=mail"),
        )
        .await;
    // THEN 400 names it
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("'mail'"), "{bad}");
}
