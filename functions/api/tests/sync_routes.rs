//! The sync routes on real parts: moto (DynamoDB, SQS, Secrets Manager) through the real AWS SDK
//! clients, the sync function against the Graph simulator feeding the store the routes read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

mod documented;

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use chrono::Utc;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use lifecycle::model::{ConnectionMode, ConnectionStatus, TenantAuth, TenantConnection};
use lifecycle::{AppCredential, OrgId, Platform, TenantId};
use serde_json::{Value, json};

/// The local stack (infra/template.yaml's table, queues and secrets in moto, the Graph
/// simulator), and the API and sync functions each running with its own template policy.
struct Local {
    stack: Stack,
    api: api::App,
    sync: sync::App,
    platform: Platform,
    queue_url: String,
    tenant: String,
}

async fn start(users: usize, groups: usize) -> Local {
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let mut options = StackOptions::new(
        template,
        GraphSource::Simulator(graph_sim::SimConfig::single(users, groups)),
    );
    // The handlers are called directly; no poller or schedule competes with the test.
    options.registry = Registry::empty();
    options.poll_queues = false;
    let stack = Stack::start(options).await.expect("the local stack starts");
    let config = stack.config().clone();
    let queue_url = config.sync_queue_url.clone();
    let platform = Platform::new(config.clone(), stack.sdk_config()).expect("platform");
    let function_aws = |logical_id: &str| {
        stack
            .function_sdk_config(logical_id)
            .expect("the template has the function")
    };
    let api = api::App::new(config.clone(), function_aws("ApiFunction")).expect("api");
    let sync = sync::App::new(config, function_aws("SyncFunction")).expect("sync");
    let sim = stack.sim().expect("the simulator runs");
    let info = sim.tenants().remove(0);
    let tenant_id = TenantId::parse(&info.tenant_id).expect("tenant");
    platform
        .vault
        .put_app_credential(
            &tenant_id,
            &AppCredential {
                client_id: info.own_app.client_id.clone(),
                client_secret: info.own_app.client_secret.clone().into(),
            },
        )
        .await
        .expect("credential");
    platform
        .connect_tenant(&TenantConnection {
            tenant_id,
            org_id: OrgId::parse("acme").expect("org"),
            display_name: "pending".into(),
            verified_domains: Vec::new(),
            mode: ConnectionMode::Read,
            auth: TenantAuth::OwnApp {
                client_id: info.own_app.client_id.clone(),
            },
            status: ConnectionStatus::Connected,
            consented_at: Utc::now(),
            last_sync: None,
            next_sync_due: None,
            sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
            options: Default::default(),
            has_p1: None,
            generation: None,
        })
        .await
        .expect("tenant");
    let tenant = info.tenant_id;
    Local {
        stack,
        api,
        sync,
        platform,
        queue_url,
        tenant,
    }
}

impl Local {
    async fn call(
        &self,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (i64, Value) {
        self.call_as("acme", route, params, query, body).await
    }

    /// [`Self::call`] by a caller of organization `org`.
    async fn call_as(
        &self,
        org: &str,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (i64, Value) {
        let mut request = ApiGatewayV2httpRequest::default();
        request.route_key = Some(route.to_owned());
        request.path_parameters = params
            .iter()
            .chain(std::iter::once(&("tenant_id", self.tenant.as_str())))
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let query: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request.query_string_parameters = query.into();
        if body.is_some() {
            request.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        request.body = body.map(|b| b.to_string());
        // The claims API Gateway's JWT authorizer hands over for a caller of organization acme.
        request.request_context.authorizer =
            serde_json::from_value(serde_json::json!({"jwt": {"claims": {"org_id": org}}}))
                .expect("authorizer context");
        // Boxed, as the Lambda runtime boxes each invocation: a debug build's handler futures
        // are too large for a test thread's stack when nested in the test's own future.
        let response: ApiGatewayV2httpResponse = Box::pin(self.api.handle(request)).await;
        let body = match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).expect("JSON body"),
            other => panic!("unexpected body {other:?}"),
        };
        documented::check(route, response.status_code, &body);
        (response.status_code, body)
    }

    /// Delivers the sync queue's messages to the sync function until it is empty.
    async fn run_sync_queue(&self) {
        let mut idle = 0;
        // One empty receive (1 s long poll) ends it: a run's continuation is sent before its
        // handler returns, so it is already waiting.
        while idle < 1 {
            let messages = self
                .platform
                .queue
                .receive(&self.queue_url, 1, 1, 60)
                .await
                .expect("receive");
            if messages.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            let event = json!({"Records": messages.iter().map(|m| json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": m.attributes, "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync", "awsRegion": "us-east-1"
            })).collect::<Vec<_>>()});
            // A task of its own: polled from the runtime, not under the test's future, so the
            // sync's deep debug-build frames have the thread's whole stack.
            let sync = self.sync.clone();
            let response = tokio::spawn(async move { sync.handle(event).await })
                .await
                .expect("the sync task ends")
                .expect("sync answers");
            assert_eq!(response["batchItemFailures"], json!([]));
            for m in &messages {
                self.platform
                    .queue
                    .delete(&self.queue_url, &m.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
    }
}

#[tokio::test]
async fn given_a_connected_tenant_when_a_sync_is_requested_then_its_log_and_stored_objects_are_readable_page_by_page()
 {
    // GIVEN a connected tenant of 260 accounts
    let local = start(260, 12).await;

    // WHEN a sync is requested through the API and the sync function runs it
    let (status, queued) = local
        .call(
            "POST /tenants/{tenant_id}/sync",
            &[],
            &[],
            Some(json!({"full": true})),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let run_id = queued["sync_run_id"].as_str().expect("run id").to_owned();
    let (_, log) = local
        .call("GET /tenants/{tenant_id}/sync-runs", &[], &[], None)
        .await;
    assert_eq!(log["sync_runs"][0]["status"], "queued", "{log}");
    local.run_sync_queue().await;

    // THEN the sync log shows the run OK with its counts, newest first
    let (status, log) = local
        .call("GET /tenants/{tenant_id}/sync-runs", &[], &[], None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(log["sync_runs"][0]["id"], run_id.as_str());
    assert_eq!(log["sync_runs"][0]["status"], "ok", "{log}");
    assert_eq!(log["sync_runs"][0]["counts"]["accounts"]["added"], 260);
    assert_eq!(log["last_sync"]["status"], "ok");
    assert!(log["next_sync_due"].is_string());

    // AND the accounts come page by page, each exactly once
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "50")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let (status, page) = local
            .call("GET /tenants/{tenant_id}/accounts", &[], &query, None)
            .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for account in page["accounts"].as_array().expect("accounts") {
            let id = account["id"].as_str().expect("id").to_owned();
            // each carries its links to the admin centers, in its own tenant's directory
            assert_eq!(
                account["links"]["entra_admin_center"],
                format!(
                    "https://entra.microsoft.com/{}/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{id}",
                    local.tenant
                ),
                "{account}"
            );
            assert_eq!(
                account["links"]["microsoft_365_admin_center"],
                format!("https://admin.microsoft.com/AdminPortal/Home#/users/:/UserDetails/{id}")
            );
            assert!(seen.insert(id), "account listed twice");
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let truth = local
        .stack
        .sim()
        .expect("the simulator runs")
        .truth(&local.tenant)
        .expect("truth");
    let truth_ids: BTreeSet<String> = truth.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(seen, truth_ids);
    assert!(pages >= 6);

    // AND one account reads by id and by UPN
    let user = &truth.users[3];
    let (status, by_id) = local
        .call(
            "GET /tenants/{tenant_id}/accounts/{account_id}",
            &[("account_id", &user.id)],
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(by_id["upn"], user.user_principal_name.as_str());
    assert!(
        by_id["links"]["microsoft_365_admin_center"]
            .as_str()
            .is_some_and(|link| link.ends_with(&format!("/UserDetails/{}", user.id))),
        "{by_id}"
    );
    let (status, by_upn) = local
        .call(
            "GET /tenants/{tenant_id}/accounts/{account_id}",
            &[("account_id", &user.user_principal_name)],
            &[],
            None,
        )
        .await;
    assert_eq!((status, &by_upn["id"]), (200, &json!(user.id)));

    // AND the groups and the per-SKU seats match the tenant
    let (_, groups) = local
        .call(
            "GET /tenants/{tenant_id}/groups",
            &[],
            &[("limit", "1000")],
            None,
        )
        .await;
    assert_eq!(
        groups["groups"].as_array().expect("groups").len(),
        truth.groups.len()
    );
    for group in groups["groups"].as_array().expect("groups") {
        let id = group["id"].as_str().expect("id");
        assert_eq!(
            group["links"]["entra_admin_center"],
            format!(
                "https://entra.microsoft.com/{}/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/{id}",
                local.tenant
            )
        );
        assert_eq!(
            group["links"]["microsoft_365_admin_center"],
            format!("https://admin.microsoft.com/AdminPortal/Home#/groups/:/GroupDetails/{id}")
        );
    }
    // AND each group's members read page by page, 7 a page, are the tenant's, once each, with
    // their accounts
    for group in &truth.groups {
        let mut seen = BTreeSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "7")];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.as_str()));
            }
            let (status, page) = local
                .call(
                    "GET /tenants/{tenant_id}/groups/{group_id}/members",
                    &[("group_id", &group.id)],
                    &query,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["group"]["id"], json!(group.id));
            let members = page["members"].as_array().expect("members");
            assert!(members.len() <= 7);
            for member in members {
                let id = member["id"].as_str().expect("id").to_owned();
                let user = truth.users.iter().find(|u| u.id == id).expect("a user");
                assert_eq!(member["upn"], json!(user.user_principal_name), "{member}");
                assert!(seen.insert(id), "member listed twice");
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let wanted: BTreeSet<String> = group
            .member_ids
            .iter()
            .filter(|id| truth.users.iter().any(|u| &&u.id == id))
            .cloned()
            .collect();
        assert_eq!(seen, wanted, "members of {}", group.id);
    }
    let (status, licenses) = local
        .call("GET /tenants/{tenant_id}/licenses", &[], &[], None)
        .await;
    assert_eq!(status, 200);
    let consumed: i64 = truth.skus.iter().map(|s| s.consumed).sum();
    assert_eq!(licenses["totals"]["consumed"], consumed, "{licenses}");
    assert_eq!(
        licenses["skus"].as_array().expect("skus").len(),
        truth.skus.len()
    );
}

#[tokio::test]
async fn given_bad_input_when_the_sync_routes_are_called_then_they_answer_with_what_is_wrong() {
    // GIVEN the API over an empty store
    let local = start(5, 1).await;

    // WHEN bad requests arrive THEN each gets a 4xx saying why, and nothing is queued
    let (status, body) = local
        .call(
            "POST /tenants/{tenant_id}/sync",
            &[],
            &[],
            Some(json!({"fulll": true})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = local
        .call(
            "GET /tenants/{tenant_id}/accounts",
            &[],
            &[("cursor", "99.x")],
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = local
        .call(
            "GET /tenants/{tenant_id}/accounts",
            &[],
            &[("limit", "0")],
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // a flag that is neither true nor false is refused, naming it, not read as false
    for (route, flag) in [
        ("GET /tenants/{tenant_id}/accounts", "include_deleted"),
        ("GET /tenants/{tenant_id}/groups", "include_deleted"),
        ("POST /tenants/{tenant_id}/sync", "full"),
    ] {
        let (status, body) = local.call(route, &[], &[(flag, "null")], None).await;
        assert_eq!(status, 400, "{route}?{flag}=null: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(flag) && m.contains("true or false")),
            "{body}"
        );
    }
    // also when the body already asks for a full run (the flag was not read then)
    let (status, body) = local
        .call(
            "POST /tenants/{tenant_id}/sync",
            &[],
            &[("full", "(╯°□°）╯")],
            Some(json!({"full": true})),
        )
        .await;
    assert_eq!(status, 400, "?full=garbage with a full body: {body}");
    let (status, body) = local
        .call(
            "GET /tenants/{tenant_id}/accounts/{account_id}",
            &[("account_id", "nobody@contoso.com")],
            &[],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("account_not_found"))
    );
    // a group's members: an id that is not a GUID, a cursor not given out, a group not stored
    // (another tenant's, or none at all) and another organization's caller
    let members = "GET /tenants/{tenant_id}/groups/{group_id}/members";
    let group = "00000000-0000-4000-9000-000000000001";
    for (params, query, status, code) in [
        (
            ("group_id", "../accounts"),
            ("limit", "5"),
            400,
            "bad_request",
        ),
        (
            ("group_id", group),
            ("cursor", "0000000000000000.x"),
            400,
            "bad_request",
        ),
        (("group_id", group), ("limit", "1001"), 400, "bad_request"),
        (("group_id", group), ("limit", "5"), 404, "group_not_found"),
    ] {
        let (got, body) = local.call(members, &[params], &[query], None).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{params:?} {query:?}: {body}"
        );
    }
    let (status, body) = local
        .call_as("other-org", members, &[("group_id", group)], &[], None)
        .await;
    assert_eq!(status, 404, "{body}");
    let messages = local
        .platform
        .queue
        .receive(&local.queue_url, 10, 0, 1)
        .await
        .expect("receive");
    assert!(messages.is_empty());
}

/// Every stored account of the local tenant, soft-deleted ones included: `(id, upn)`.
async fn stored_accounts(local: &Local) -> BTreeSet<String> {
    use futures::TryStreamExt as _;
    let tenant = TenantId::parse(&local.tenant).expect("tenant");
    let accounts: Vec<lifecycle::model::Account> = local
        .platform
        .store
        .accounts(&tenant)
        .try_collect()
        .await
        .expect("the store answers");
    accounts.into_iter().map(|a| a.id.to_string()).collect()
}

/// The stored memberships of the test's tenant as (group, account) pairs.
async fn stored_memberships(local: &Local) -> BTreeSet<(String, String)> {
    use futures::TryStreamExt as _;
    let tenant = TenantId::parse(&local.tenant).expect("tenant");
    let memberships: Vec<lifecycle::model::Membership> = local
        .platform
        .store
        .memberships(&tenant)
        .try_collect()
        .await
        .expect("the store answers");
    memberships
        .into_iter()
        .map(|m| (m.group_id.to_string(), m.account_id.to_string()))
        .collect()
}

#[tokio::test]
async fn given_synced_accounts_when_the_sync_settings_narrow_and_widen_then_excluded_accounts_leave_the_store_and_come_back()
 {
    // Boxed: the scenario's future is too large for the test thread's stack in debug builds.
    Box::pin(narrow_and_widen()).await;
}

async fn narrow_and_widen() {
    // GIVEN a tenant of 30 accounts and 2 groups, synced with the default settings
    let local = start(30, 2).await;
    let (status, defaults) = local
        .call("GET /tenants/{tenant_id}/sync-settings", &[], &[], None)
        .await;
    assert_eq!(status, 200, "{defaults}");
    assert_eq!(defaults["interval_minutes"], 60, "{defaults}");
    assert_eq!(defaults["kinds"]["groups"], true, "{defaults}");
    assert_eq!(defaults["updated_at"], Value::Null, "{defaults}");
    local
        .call("POST /tenants/{tenant_id}/sync", &[], &[], None)
        .await;
    local.run_sync_queue().await;
    let truth = local
        .stack
        .sim()
        .expect("the simulator runs")
        .truth(&local.tenant)
        .expect("truth");
    let everyone: BTreeSet<String> = truth.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(stored_accounts(&local).await, everyone);
    // ... of whom the guests, the disabled and the unlicensed are the ones the new settings leave out
    let kept: BTreeSet<String> = truth
        .users
        .iter()
        .filter(|u| u.user_type != "Guest" && u.account_enabled && !u.sku_ids.is_empty())
        .map(|u| u.id.clone())
        .collect();
    assert!(
        kept.len() < everyone.len() && !kept.is_empty(),
        "the tenant has accounts on both sides"
    );

    // WHEN a rule is broken, the settings are refused naming the field and nothing changes
    for (body, field) in [
        (json!({"interval_minutes": 14}), "interval_minutes"),
        (json!({"interval_minutes": 1441}), "interval_minutes"),
        (
            json!({"kinds": {"groups": false, "memberships": true}}),
            "kinds.memberships",
        ),
    ] {
        let (status, refused) = local
            .call(
                "PUT /tenants/{tenant_id}/sync-settings",
                &[],
                &[],
                Some(body),
            )
            .await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let (status, refused) = local
        .call(
            "PUT /tenants/{tenant_id}/sync-settings",
            &[],
            &[],
            Some(json!({"accounts": {"exclude_everyone": true}})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("exclude_everyone")),
        "{refused}"
    );

    // WHEN the settings narrow the accounts (no guests, no disabled, no unlicensed), groups kept
    let members_of = |accounts: &BTreeSet<String>| -> BTreeSet<(String, String)> {
        truth
            .groups
            .iter()
            .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
            .filter(|(_, member)| accounts.contains(member))
            .collect()
    };
    assert_eq!(stored_memberships(&local).await, members_of(&everyone));
    assert!(
        members_of(&kept).len() < members_of(&everyone).len(),
        "excluded accounts are members of groups"
    );
    let (status, narrowed) = local
        .call(
            "PUT /tenants/{tenant_id}/sync-settings",
            &[],
            &[],
            Some(json!({
                "accounts": {"exclude_guests": true, "exclude_disabled": true, "exclude_unlicensed": true}
            })),
        )
        .await;
    assert_eq!(status, 200, "{narrowed}");
    local.run_sync_queue().await;

    // THEN the excluded accounts are gone from the store, and so are their memberships: each group
    // holds only kept accounts, which keep theirs
    assert_eq!(stored_accounts(&local).await, kept);
    assert_eq!(stored_memberships(&local).await, members_of(&kept));

    // WHEN the settings narrow further: no groups either, every 15 minutes
    let (status, narrowed) = local
        .call(
            "PUT /tenants/{tenant_id}/sync-settings",
            &[],
            &[],
            Some(json!({
                "kinds": {"groups": false, "memberships": false},
                "accounts": {"exclude_guests": true, "exclude_disabled": true, "exclude_unlicensed": true},
                "interval_minutes": 15
            })),
        )
        .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["full_sync_pending"], true, "{narrowed}");
    assert!(narrowed["sync_run_id"].is_string(), "{narrowed}");
    // ... the next scheduled sync is due 15 minutes after the last one
    let (_, log) = local
        .call("GET /tenants/{tenant_id}/sync-runs", &[], &[], None)
        .await;
    let last: chrono::DateTime<Utc> = log["last_sync"]["at"].as_str().unwrap().parse().unwrap();
    let due: chrono::DateTime<Utc> = log["next_sync_due"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - last, chrono::Duration::minutes(15), "{log}");
    local.run_sync_queue().await;

    // THEN the excluded accounts are gone from the store (not marked deleted: gone), the groups too
    assert_eq!(stored_accounts(&local).await, kept);
    let (_, groups) = local
        .call("GET /tenants/{tenant_id}/groups", &[], &[], None)
        .await;
    assert_eq!(groups["groups"], json!([]), "{groups}");
    let (_, settings) = local
        .call("GET /tenants/{tenant_id}/sync-settings", &[], &[], None)
        .await;
    assert_eq!(settings["full_sync_pending"], false, "{settings}");
    assert_eq!(settings["accounts"]["exclude_guests"], true, "{settings}");

    // WHEN the settings widen back to the defaults
    let (status, widened) = local
        .call(
            "PUT /tenants/{tenant_id}/sync-settings",
            &[],
            &[],
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{widened}");
    local.run_sync_queue().await;

    // THEN every account and group is back
    assert_eq!(stored_accounts(&local).await, everyone);
    let (_, groups) = local
        .call("GET /tenants/{tenant_id}/groups", &[], &[], None)
        .await;
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(truth.groups.len()),
        "{groups}"
    );
}

#[tokio::test]
async fn given_sync_settings_that_leave_guests_out_when_guests_join_groups_then_no_sync_stores_their_memberships()
 {
    // Boxed: the scenario's future is too large for the test thread's stack in debug builds.
    Box::pin(guests_join_groups()).await;
}

async fn guests_join_groups() {
    // GIVEN a tenant of 30 accounts and 3 groups whose sync settings leave guests out
    let local = start(30, 3).await;
    let (status, settings) = local
        .call(
            "PUT /tenants/{tenant_id}/sync-settings",
            &[],
            &[],
            Some(json!({"accounts": {"exclude_guests": true}})),
        )
        .await;
    assert_eq!(status, 200, "{settings}");
    let sim = local.stack.sim().expect("the simulator runs");
    let truth = sim.truth(&local.tenant).expect("truth");
    let guests: BTreeSet<String> = truth
        .users
        .iter()
        .filter(|u| u.user_type == "Guest")
        .map(|u| u.id.clone())
        .collect();
    let kept_members = |truth: &graph_sim::Truth| -> BTreeSet<(String, String)> {
        truth
            .groups
            .iter()
            .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
            .filter(|(_, member)| !guests.contains(member))
            .collect()
    };
    assert!(
        truth
            .groups
            .iter()
            .any(|g| g.member_ids.iter().any(|m| guests.contains(m))),
        "guests are members of groups"
    );

    // WHEN the first (full) sync runs
    local
        .call("POST /tenants/{tenant_id}/sync", &[], &[], None)
        .await;
    local.run_sync_queue().await;

    // THEN every membership but the guests' is stored, and counted added (none of the guests')
    assert_eq!(stored_memberships(&local).await, kept_members(&truth));
    let (_, log) = local
        .call("GET /tenants/{tenant_id}/sync-runs", &[], &[], None)
        .await;
    let memberships = &log["sync_runs"][0]["counts"]["memberships"];
    assert_eq!(
        memberships,
        &json!({"added": kept_members(&truth).len(), "changed": 0, "removed": 0}),
        "{log}"
    );

    // WHEN members join groups in the tenant, guests among them, and a delta sync runs
    let report = sim
        .mutate(
            &local.tenant,
            &graph_sim::Mutation {
                add_memberships: 12,
                ..Default::default()
            },
        )
        .expect("mutation");
    let (joined_guests, joined_members): (Vec<_>, Vec<_>) = report
        .added_memberships
        .iter()
        .partition(|m| guests.contains(&m.user_id));
    assert!(
        !joined_guests.is_empty() && !joined_members.is_empty(),
        "{report:?}"
    );
    local
        .call("POST /tenants/{tenant_id}/sync", &[], &[], None)
        .await;
    local.run_sync_queue().await;

    // THEN the run was a delta one that added just the members' memberships, and the store
    // holds no membership of a guest
    let (_, log) = local
        .call("GET /tenants/{tenant_id}/sync-runs", &[], &[], None)
        .await;
    let run = &log["sync_runs"][0];
    assert_eq!(run["full"], false, "{run}");
    assert_eq!(
        run["counts"]["memberships"]["added"],
        joined_members.len(),
        "{run}"
    );
    let truth = sim.truth(&local.tenant).expect("truth");
    assert_eq!(stored_memberships(&local).await, kept_members(&truth));
}

#[tokio::test]
async fn given_fifty_people_when_matched_then_exact_near_and_unknown_people_get_their_matches_and_a_confirmed_one_survives_a_resync()
 {
    // Boxed: the scenario's future is too large for the test thread's stack in debug builds.
    Box::pin(fifty_people()).await;
}

/// A name one letter off: the last letter of the last word dropped.
fn misspelt(name: &str) -> String {
    let mut name = name.to_owned();
    name.pop();
    name
}

async fn fifty_people() {
    // GIVEN a synced tenant of 40 accounts
    let local = start(40, 2).await;
    local
        .call("POST /tenants/{tenant_id}/sync", &[], &[], None)
        .await;
    local.run_sync_queue().await;
    let sim = local.stack.sim().expect("the simulator runs");
    let truth = sim.truth(&local.tenant).expect("truth");
    // ... whose stored accounts keep their job title, department, office and mail addresses
    let (_, stored) = local
        .call(
            "GET /tenants/{tenant_id}/accounts/{account_id}",
            &[("account_id", &truth.users[1].id)],
            &[],
            None,
        )
        .await;
    assert!(stored["mail"].is_string(), "{stored}");
    assert!(
        stored["proxy_addresses"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("SMTP:")),
        "{stored}"
    );
    assert!(
        stored.get("job_title").is_some() && stored.get("office_location").is_some(),
        "{stored}"
    );
    // ... and fifty people of the platform: 20 by an address in other case (the first five by
    // the mailbox's alias only, as Graph lists it in proxyAddresses: smtp:…@….onmicrosoft.com),
    // 15 by a name one letter off (no address), 15 nobody knows
    let alias = |user: &graph_sim::TruthUser| {
        user.proxy_addresses
            .iter()
            .find_map(|address| address.strip_prefix("smtp:"))
            .map(str::to_owned)
    };
    let by_alias: Vec<&graph_sim::TruthUser> = truth
        .users
        .iter()
        .take(20)
        .filter(|user| alias(user).is_some())
        .take(5)
        .collect();
    assert_eq!(
        by_alias.len(),
        5,
        "five of the first twenty have a mailbox alias"
    );
    let mut people = Vec::new();
    for (n, user) in truth.users.iter().take(20).enumerate() {
        let address = match by_alias.iter().any(|u| u.id == user.id) {
            true => alias(user).expect("an alias"),
            false => user.user_principal_name.clone(),
        };
        people.push(
            json!({"id": format!("exact-{n}"), "name": user.display_name,
                           "emails": ["someone@example.com", address.to_uppercase()]}),
        );
    }
    for (n, user) in truth.users.iter().skip(20).take(15).enumerate() {
        people.push(
            json!({"id": format!("near-{n}"), "name": misspelt(&user.display_name), "emails": []}),
        );
    }
    for n in 0..15 {
        people.push(
            json!({"id": format!("none-{n}"), "name": format!("Xq{n} Zzyzx-Vhorl"),
                           "emails": [format!("xq{n}@nowhere.example")]}),
        );
    }

    // WHEN they are matched
    let (status, report) = local
        .call(
            "POST /tenants/{tenant_id}/matches",
            &[],
            &[],
            Some(json!({"people": people})),
        )
        .await;

    // THEN the exact ones name their account, the near ones suggest it with a score, the rest none
    assert_eq!(status, 200, "{report}");
    let matches = report["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 50);
    for (n, user) in truth.users.iter().take(20).enumerate() {
        let m = &matches[n];
        assert_eq!(m["status"], "exact", "{m}");
        let by = match by_alias.iter().any(|u| u.id == user.id) {
            true => "proxy_address",
            false => "upn",
        };
        assert_eq!(m["matched_by"], by, "{m}");
        assert_eq!(m["account"]["id"], user.id.as_str(), "{m}");
    }
    for (n, user) in truth.users.iter().skip(20).take(15).enumerate() {
        let m = &matches[20 + n];
        assert_eq!(m["status"], "suggested", "{m}");
        let suggested = m["suggestions"].as_array().expect("suggestions");
        assert!(
            suggested
                .iter()
                .any(|s| s["account"]["id"] == user.id.as_str()
                    && s["score"].as_f64().is_some_and(|score| score >= 0.85)),
            "{} not suggested for {}: {m}",
            user.display_name,
            misspelt(&user.display_name)
        );
    }
    for m in &matches[35..] {
        assert_eq!(m["status"], "none", "{m}");
        assert_eq!(m["suggestions"], json!([]), "{m}");
    }
    // ... and the accounts nobody matched are the other twenty
    assert_eq!(report["unmatched_accounts_total"], truth.users.len() - 20);

    // WHEN an attacker's organization reads, confirms or matches against the tenant
    let near = &truth.users[20];
    for (route, params, body) in [
        ("GET /tenants/{tenant_id}/matches", vec![], None),
        (
            "PUT /tenants/{tenant_id}/matches/{person_id}",
            vec![("person_id", "near-0")],
            Some(json!({"account_id": near.id})),
        ),
        (
            "POST /tenants/{tenant_id}/matches",
            vec![],
            Some(
                json!({"people": [{"id": "x", "name": near.display_name, "emails": [near.user_principal_name]}]}),
            ),
        ),
    ] {
        let (status, refused) = local.call_as("mallory", route, &params, &[], body).await;
        // THEN the tenant is not found for it, and nothing is confirmed
        assert_eq!(status, 404, "{route}: {refused}");
    }
    let (_, confirmed) = local
        .call("GET /tenants/{tenant_id}/matches", &[], &[], None)
        .await;
    assert_eq!(confirmed["matches"], json!([]), "{confirmed}");

    // WHEN the platform confirms a near match, and one to an account that is then deleted
    let (status, confirmed) = local
        .call(
            "PUT /tenants/{tenant_id}/matches/{person_id}",
            &[("person_id", "near-0")],
            &[],
            Some(json!({"account_id": near.id})),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    let (status, missing) = local
        .call(
            "PUT /tenants/{tenant_id}/matches/{person_id}",
            &[("person_id", "near-1")],
            &[],
            Some(json!({"account_id": "00000000-0000-0000-0000-000000000001"})),
        )
        .await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["field"], "account_id", "{missing}");
    let deleted = sim
        .mutate(
            &local.tenant,
            &graph_sim::Mutation {
                delete_users: 1,
                ..graph_sim::Mutation::default()
            },
        )
        .expect("a user deleted")
        .deleted_users
        .remove(0);
    let (status, _) = local
        .call(
            "PUT /tenants/{tenant_id}/matches/{person_id}",
            &[("person_id", "gone-1")],
            &[],
            Some(json!({"account_id": deleted})),
        )
        .await;
    assert_eq!(status, 200);
    // ... and a full resync runs
    local
        .call(
            "POST /tenants/{tenant_id}/sync",
            &[],
            &[],
            Some(json!({"full": true})),
        )
        .await;
    local.run_sync_queue().await;

    // THEN the confirmed match survives it, and the deleted account's shows broken
    let (_, report) = local
        .call(
            "POST /tenants/{tenant_id}/matches",
            &[],
            &[],
            Some(json!({"people": [
                {"id": "near-0", "name": misspelt(&near.display_name)},
                {"id": "gone-1", "name": "Whoever Was"}
            ]})),
        )
        .await;
    assert_eq!(report["matches"][0]["status"], "confirmed", "{report}");
    assert_eq!(report["matches"][0]["matched_by"], "confirmed", "{report}");
    assert_eq!(report["matches"][0]["account"]["id"], near.id.as_str());
    assert_eq!(report["matches"][1]["status"], "broken", "{report}");
    assert_eq!(
        report["matches"][1]["confirmed_account_id"],
        deleted.as_str()
    );
    let (_, listed) = local
        .call("GET /tenants/{tenant_id}/matches", &[], &[], None)
        .await;
    let states: Vec<(&str, &str)> = listed["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| {
            (
                m["person_id"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, vec![("gone-1", "broken"), ("near-0", "confirmed")]);
}
