//! Offboarding, restore, the license report and tenant removal through the HTTP API and the
//! queues of the whole local stack (moto, the Graph simulator, every landed function), checked
//! against the simulator's truth and the table itself.

use std::collections::BTreeSet;

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use e2e::eventually;
use graph_sim::{SimConfig, Truth, TruthUser};
use lifecycle::model::{Job, JobRecord, JobStatus};
use lifecycle::store::keys;
use lifecycle::{AppCredential, Platform, TenantId};
use serde_json::{Value, json};

struct Running {
    stack: Stack,
    platform: Platform,
    http: reqwest::Client,
    tenant_id: TenantId,
}

/// The whole stack over one simulated tenant (with P1), connected read/write with consent, or
/// with its own app registration.
async fn start(own_app: bool) -> Running {
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let options = StackOptions::new(template, GraphSource::Simulator(SimConfig::single(40, 10)));
    let stack = Stack::start(options).await.expect("the stack starts");
    let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
    let sim = stack.sim().expect("sim");
    let info = sim.tenants().remove(0);
    let tenant_id = TenantId::parse(&info.tenant_id).expect("tenant id");
    let auth = if own_app {
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
            .expect("credential stored");
        json!({"kind": "own_app", "client_id": info.own_app.client_id})
    } else {
        sim.grant_consent(&info.tenant_id).expect("consent");
        json!({"kind": "consent"})
    };
    e2e::store_connection(&platform, &info, "org-e2e", "read_write", auth).await;
    Running {
        http: e2e::api_client(&stack, "org-e2e"),
        stack,
        platform,
        tenant_id,
    }
}

impl Running {
    /// Graph writes the simulator has answered so far (every non-GET route).
    fn graph_writes(&self) -> u64 {
        let stats = self.stack.sim().expect("sim").stats();
        stats
            .by_route
            .iter()
            .filter(|(route, _)| {
                !route.starts_with("GET ") && !route.contains("$batch") && !route.contains("/token")
            })
            .map(|(_, count)| count)
            .sum()
    }

    fn truth(&self) -> Truth {
        self.stack
            .sim()
            .expect("sim")
            .truth(self.tenant_id.as_str())
            .expect("truth")
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stack.api_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Puts a job on its queue, as another platform service would, and waits until it ends.
    async fn run_job(&self, queue: &str, job: Value) -> JobRecord {
        let job: Job = serde_json::from_value(job).expect("a job");
        let url = self.stack.queue_url(queue).expect("queue");
        self.platform.queue.send_job(url, &job).await.expect("sent");
        self.finished(&job).await
    }

    async fn finished(&self, job: &Job) -> JobRecord {
        let key = keys::job(&job.tenant_id, &job.job_id);
        eventually("the job to finish", || async {
            self.platform
                .store
                .get::<JobRecord>(&key)
                .await
                .ok()
                .flatten()
                .filter(|record| record.status.is_finished())
        })
        .await
    }

    /// Every item of the table that mentions the tenant (a full scan: nothing may hide).
    async fn items_of_tenant(&self) -> Vec<String> {
        let output = self
            .platform
            .store
            .client()
            .scan()
            .table_name(self.platform.store.table_name())
            .send()
            .await
            .expect("scan");
        output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| format!("{item:?}"))
            .filter(|item| item.contains(self.tenant_id.as_str()))
            .collect()
    }
}

/// The direct groups of `user_id` in the simulator (names, sorted).
fn groups_of(truth: &Truth, user_id: &str) -> BTreeSet<String> {
    truth
        .groups
        .iter()
        .filter(|g| g.member_ids.iter().any(|m| m == user_id))
        .map(|g| g.id.clone())
        .collect()
}

/// The SKU ids of `user_id` in the simulator (direct and from groups), lower-cased.
fn skus_of(truth: &Truth, user_id: &str) -> BTreeSet<String> {
    truth
        .users
        .iter()
        .find(|u| u.id == user_id)
        .map(|u| u.sku_ids.iter().map(|s| s.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

/// The enabled licensed member in the most groups whose members Graph can change.
fn busiest_member(truth: &Truth) -> TruthUser {
    truth
        .users
        .iter()
        .filter(|u| u.account_enabled && u.user_type == "Member" && !u.on_premises_sync_enabled)
        .filter(|u| u.sku_ids.len() >= 2)
        .max_by_key(|u| {
            truth
                .groups
                .iter()
                .filter(|g| g.member_ids.contains(&u.id))
                .filter(|g| g.kind == "security" || g.kind == "unified")
                .count()
        })
        .cloned()
        .expect("a licensed member")
}

fn licensed_member(truth: &Truth) -> TruthUser {
    truth
        .users
        .iter()
        .find(|u| u.account_enabled && u.user_type == "Member" && u.sku_ids.len() >= 2)
        .cloned()
        .expect("a licensed member")
}

#[tokio::test]
async fn given_an_offboarded_and_deleted_account_when_restored_through_the_api_then_it_is_back_in_the_tenant()
 {
    // GIVEN an account offboarded with the delete policy (a job on the offboarding queue)
    let running = start(false).await;
    let target = licensed_member(&running.truth());
    let tid = running.tenant_id.to_string();
    let record = running
        .run_job(
            "OffboardingQueue",
            json!({"job_id": "offboard-1", "tenant_id": tid, "type": "offboard",
                   "account": target.user_principal_name, "policy": "delete"}),
        )
        .await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(running.truth().deleted_user_ids.contains(&target.id));

    // WHEN it is restored through the API
    let path = format!("/tenants/{tid}/accounts/{}/restore", target.id);
    let (status, body) = running.call(reqwest::Method::POST, &path, None).await;

    // THEN it is back (sign-in still blocked), with the Graph request id in the answer
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restored"], true);
    assert!(body["graph_request_id"].is_string(), "{body}");
    let truth = running.truth();
    assert!(!truth.deleted_user_ids.contains(&target.id));
    let back = truth
        .users
        .iter()
        .find(|u| u.id == target.id)
        .expect("back");
    assert!(!back.account_enabled);

    // WHEN it is restored again, or an unknown account is
    let writes_before = running.graph_writes();
    let (again, body) = running.call(reqwest::Method::POST, &path, None).await;
    let unknown = format!("/tenants/{tid}/accounts/00000000-0000-4000-8000-000000000001/restore");
    let (missing, missing_body) = running.call(reqwest::Method::POST, &unknown, None).await;
    // THEN the first has nothing left to do (no Graph write), the second is not found (30-day
    // window named)
    assert_eq!(again, 200, "{body}");
    assert_eq!(body["restored"], false, "{body}");
    assert_eq!(running.graph_writes(), writes_before, "{body}");
    assert_eq!(missing, 404, "{missing_body}");
    assert!(
        missing_body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("30 days")
    );
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_offboarded_and_deleted_account_when_restored_with_enable_then_exactly_its_snapshot_groups_and_licenses_are_back()
 {
    // GIVEN an account in several groups with direct and group-inherited licenses, offboarded with
    // the delete policy (groups, licenses removed, then deleted)
    let running = start(false).await;
    let before = running.truth();
    let target = busiest_member(&before);
    let groups_before = groups_of(&before, &target.id);
    let skus_before = skus_of(&before, &target.id);
    assert!(groups_before.len() >= 2, "{target:?}");
    let tid = running.tenant_id.to_string();
    let record = running
        .run_job(
            "OffboardingQueue",
            json!({"job_id": "offboard-snap", "tenant_id": tid, "type": "offboard",
                   "account": target.id, "policy": "delete"}),
        )
        .await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let gone = running.truth();
    assert!(gone.deleted_user_ids.contains(&target.id));
    assert!(groups_of(&gone, &target.id).len() < groups_before.len());

    // WHEN a dry run of the restore is asked for
    let path = format!("/tenants/{tid}/accounts/{}/restore", target.id);
    let writes_before = running.graph_writes();
    let (status, plan) = running
        .call(
            reqwest::Method::POST,
            &path,
            Some(json!({"dry_run": true, "enable": true})),
        )
        .await;
    // THEN it answers the plan from the snapshot and the simulator saw no write
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(running.graph_writes(), writes_before);
    assert!(running.truth().deleted_user_ids.contains(&target.id));
    let planned: Vec<&str> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        planned,
        [
            "undelete",
            "set_usage_location",
            "set_manager",
            "add_groups",
            "assign_licenses",
            "restore_automatic_reply",
            "enable_sign_in"
        ],
        "{plan}"
    );
    assert!(
        plan["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["outcome"] != "done"),
        "{plan}"
    );

    // WHEN it is restored for real, with sign-in re-enabled
    let (status, body) = running
        .call(reqwest::Method::POST, &path, Some(json!({"enable": true})))
        .await;

    // THEN the simulator shows it back, enabled, in exactly the groups and with exactly the
    // licenses it had before the offboarding (the snapshot's)
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restored"], true, "{body}");
    assert_eq!(body["complete"], true, "{body}");
    let after = running.truth();
    assert!(!after.deleted_user_ids.contains(&target.id));
    let back = after
        .users
        .iter()
        .find(|u| u.id == target.id)
        .expect("back");
    assert!(back.account_enabled);
    assert_eq!(groups_of(&after, &target.id), groups_before);
    assert_eq!(skus_of(&after, &target.id), skus_before);
    // ... the snapshot the answer names is the offboarding's, with the groups it had
    assert_eq!(body["snapshot"]["job_id"], "offboard-snap");
    let snapshot_groups: BTreeSet<String> = body["snapshot"]["groups"]
        .as_array()
        .expect("snapshot groups")
        .iter()
        .filter_map(|g| g["group_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(snapshot_groups, groups_before);
    // ... and every write step carries its Graph request id and read-back
    for step in body["steps"].as_array().expect("steps") {
        if step["outcome"] == "done" {
            assert!(step["graph_request_id"].is_string(), "{step}");
            assert!(
                step["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("read-back"),
                "{step}"
            );
        }
    }
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_account_offboarded_keep_disabled_when_restored_then_its_groups_and_licenses_are_back_and_it_stays_blocked()
 {
    // GIVEN an account offboarded keeping it disabled (not deleted)
    let running = start(false).await;
    let before = running.truth();
    let target = busiest_member(&before);
    let tid = running.tenant_id.to_string();
    let record = running
        .run_job(
            "OffboardingQueue",
            json!({"job_id": "offboard-keep", "tenant_id": tid, "type": "offboard",
                   "account": target.user_principal_name, "policy": "keep_disabled"}),
        )
        .await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");

    // WHEN it is restored without enable
    let path = format!("/tenants/{tid}/accounts/{}/restore", target.id);
    let (status, body) = running.call(reqwest::Method::POST, &path, None).await;

    // THEN groups and licenses are the ones it had, and sign-in stays blocked
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restored"], false, "{body}");
    let after = running.truth();
    assert_eq!(
        groups_of(&after, &target.id),
        groups_of(&before, &target.id)
    );
    assert_eq!(skus_of(&after, &target.id), skus_of(&before, &target.id));
    let account = after
        .users
        .iter()
        .find(|u| u.id == target.id)
        .expect("there");
    assert!(!account.account_enabled);

    // WHEN the body names a field the route does not know
    let (status, error) = running
        .call(reqwest::Method::POST, &path, Some(json!({"enabled": true})))
        .await;
    // THEN 400 names it
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("enabled"),
        "{error}"
    );
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_offboarding_submitted_through_the_api_when_its_receipt_is_asked_then_it_lists_every_step_with_request_ids_and_read_backs_and_its_digest_matches()
 {
    // GIVEN an offboarding (delete policy) of a licensed member in groups, submitted through the
    // API by a platform service of org-e2e, and finished
    let running = start(false).await;
    let before = running.truth();
    // (a member of at least one group Graph cannot change: dynamic or mail-enabled)
    let fixed = |u: &TruthUser| {
        before
            .groups
            .iter()
            .any(|g| g.member_ids.contains(&u.id) && g.kind != "security" && g.kind != "unified")
    };
    let target = before
        .users
        .iter()
        .filter(|u| u.account_enabled && u.user_type == "Member" && !u.on_premises_sync_enabled)
        .find(|u| u.sku_ids.len() >= 2 && fixed(u))
        .cloned()
        .expect("a licensed member in a group Graph cannot change");
    let truth_groups: Vec<(String, String)> = before
        .groups
        .iter()
        .filter(|g| g.member_ids.contains(&target.id))
        .map(|g| (g.display_name.clone(), g.kind.clone()))
        .collect();
    let tid = running.tenant_id.to_string();
    let (status, body) = running
        .call(
            reqwest::Method::POST,
            &format!("/tenants/{tid}/jobs"),
            Some(json!({"job_id": "offboard-receipt", "type": "offboard",
                        "account": target.user_principal_name, "policy": "delete"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job: Job = serde_json::from_value(json!({"job_id": "offboard-receipt", "tenant_id": tid,
        "type": "offboard", "account": target.user_principal_name, "policy": "delete"}))
    .expect("job");
    let record = running.finished(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");

    // WHEN its receipt is asked for, as JSON
    let path = format!("/tenants/{tid}/jobs/offboard-receipt/receipt");
    let (status, body) = running.call(reqwest::Method::GET, &path, None).await;

    // THEN it names who asked and when, lists every step of the job record with its Graph
    // request-id, and every write step with what its read-back observed (structured: the Graph
    // property, its value and the read's request-id)
    assert_eq!(status, 200, "{body}");
    let receipt = &body["receipt"];
    assert_eq!(receipt["submitted_by"]["org_id"], "org-e2e", "{body}");
    assert_eq!(
        receipt["submitted_by"]["subject"], "platform-service:org-e2e",
        "{body}"
    );
    assert_eq!(receipt["policy"], "delete");
    assert!(receipt["completed_at"].is_string());
    let steps = receipt["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    let recorded: Vec<&str> = record.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, recorded);
    for step in steps {
        let name = step["name"].as_str().unwrap_or_default();
        // (the snapshot and the pre-flight write nothing in the tenant)
        if step["outcome"] == "done" && name != "snapshot" && name != "preflight" {
            assert!(step["graph_request_id"].is_string(), "{step}");
            let observed = step["observed"].as_array().expect("observed");
            assert!(!observed.is_empty(), "{name} has no read-back: {step}");
            assert!(
                observed.iter().all(|o| o["property"].is_string()
                    && o.get("value").is_some()
                    && o["graph_request_id"].is_string()),
                "{step}"
            );
        }
    }
    let read_back = |name: &str, property: &str| {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["observed"].as_array())
            .and_then(|o| o.iter().find(|o| o["property"] == property))
            .map(|o| o["value"].clone())
    };
    assert_eq!(
        read_back("block_sign_in", "accountEnabled"),
        Some(json!(false)),
        "{body}"
    );
    assert_eq!(
        read_back("remove_licenses", "assignedLicenses"),
        Some(json!([]))
    );
    assert_eq!(
        read_back("delete_account", "deletedItems").map(|v| v["present"].clone()),
        Some(json!(true)),
        "{body}"
    );
    assert!(
        receipt["before"]
            .as_str()
            .unwrap_or_default()
            .contains("accountEnabled=true"),
        "{body}"
    );
    // ... and the groups Graph cannot change are on it with the reason
    let not_done = receipt["not_done"].to_string();
    for (name, kind) in &truth_groups {
        if kind != "security" && kind != "unified" {
            assert!(
                not_done.contains(&format!("cannot remove from {name}")),
                "{kind} {name}: {not_done}"
            );
        }
    }
    // ... and the digest of the receipt is the one kept with the job record when it ended
    let digest = &body["digest"];
    assert_eq!(digest["matches"], true, "{digest}");
    assert_eq!(digest["value"], digest["recorded"]);
    let kept = running
        .finished(&job)
        .await
        .receipt_digest
        .expect("a digest kept with the record");
    assert_eq!(digest["value"], kept.as_str());
    let canonical = lifecycle::receipt::canonical_json(&body["receipt"]);
    assert_eq!(
        lifecycle::receipt::sha256_hex(&canonical),
        kept,
        "a copy of the JSON checks out"
    );

    // WHEN it is asked for as HTML
    let response = running
        .http
        .get(format!("{}{path}", running.stack.api_url()))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("the API answers");
    // THEN it is a hardened, printable page with the steps' request-ids
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .contains("default-src 'none'")
    );
    assert!(headers.contains_key("referrer-policy"));
    let page = response.text().await.expect("page");
    assert!(page.contains("Receipt of job offboard-receipt"));
    for step in &record.steps {
        if let Some(id) = &step.graph_request_id {
            assert!(page.contains(id.as_str()), "{id}");
        }
    }
    assert!(!page.contains("<script"));

    // WHEN another organization asks for it
    let other = e2e::api_client(&running.stack, "org-other");
    let response = other
        .get(format!("{}{path}", running.stack.api_url()))
        .send()
        .await
        .expect("the API answers");
    // THEN it is a 404, as for a tenant that does not exist
    assert_eq!(response.status().as_u16(), 404);
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_refresh_requested_through_the_api_when_it_ran_then_the_report_numbers_are_the_simulators()
 {
    // GIVEN a connected tenant
    let running = start(false).await;
    let tid = running.tenant_id.to_string();

    // WHEN a license refresh is requested and has run
    let (status, body) = running
        .call(
            reqwest::Method::POST,
            &format!("/tenants/{tid}/licenses/refresh"),
            Some(json!({"inactive_after_days": 30})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job: Job = serde_json::from_value(json!({
        "job_id": body["job_id"], "tenant_id": tid, "type": "license_refresh"}))
    .expect("job");
    let record = running.finished(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");

    // THEN the report's seats per SKU and in total are the simulator's
    let (status, report) = running
        .call(
            reqwest::Method::GET,
            &format!("/tenants/{tid}/licenses/report"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let truth = running.truth();
    let skus = report["skus"].as_array().expect("skus");
    assert_eq!(skus.len(), truth.skus.len());
    for sku in &truth.skus {
        let line = skus
            .iter()
            .find(|line| line["sku_id"] == sku.sku_id.to_lowercase())
            .unwrap_or_else(|| panic!("{} in {report}", sku.sku_part_number));
        assert_eq!(line["enabled"], sku.enabled);
        assert_eq!(line["consumed"], sku.consumed);
        assert_eq!(line["suspended"], sku.suspended);
        assert_eq!(line["warning"], sku.warning);
        assert_eq!(line["unused"], (sku.enabled - sku.consumed).max(0));
    }
    let unused: i64 = truth
        .skus
        .iter()
        .map(|s| (s.enabled - s.consumed).max(0))
        .sum();
    assert_eq!(report["totals"]["unused"], unused);
    assert_eq!(report["sign_in_activity"]["available"], true);
    assert_eq!(report["inactive_after_days"], 90);

    // ... and bad parameters are refused with the reason
    let (status, body) = running
        .call(
            reqwest::Method::GET,
            &format!("/tenants/{tid}/licenses/report?inactive_after_days=0"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_own_app_tenant_with_data_when_removed_then_nothing_of_it_is_left_and_a_second_removal_is_404()
 {
    // GIVEN a tenant connected with its own app registration, with SKUs, accounts, jobs here
    let running = start(true).await;
    let tid = running.tenant_id.to_string();
    let target = licensed_member(&running.truth());
    let refresh = running
        .run_job(
            "LicenseRefreshQueue",
            json!({"job_id": "refresh-1", "tenant_id": tid, "type": "license_refresh"}),
        )
        .await;
    assert_eq!(refresh.status, JobStatus::Succeeded, "{refresh:#?}");
    let offboard = running
        .run_job(
            "OffboardingQueue",
            json!({"job_id": "offboard-2", "tenant_id": tid, "type": "offboard",
                   "account": target.id, "policy": "keep_disabled"}),
        )
        .await;
    assert_eq!(offboard.status, JobStatus::Succeeded, "{offboard:#?}");
    let account: lifecycle::model::Account = serde_json::from_value(json!({
        "id": target.id, "upn": target.user_principal_name, "display_name": target.display_name,
        "enabled": false, "user_type": "Member", "last_sign_in": {"state": "never"}}))
    .expect("account");
    let account_key = keys::account(&running.tenant_id, &account.id);
    running
        .platform
        .store
        .put(&account_key, &account)
        .await
        .expect("stored");
    assert!(running.items_of_tenant().await.len() >= 5);

    // WHEN the tenant is removed
    let (status, body) = running
        .call(reqwest::Method::DELETE, &format!("/tenants/{tid}"), None)
        .await;

    // THEN the answer counts what went, the table holds nothing of it, the secret is gone
    assert_eq!(status, 200, "{body}");
    let deleted = &body["deleted"];
    assert!(deleted["skus"].as_u64().unwrap_or_default() >= 1, "{body}");
    assert_eq!(deleted["jobs"], 2, "{body}");
    assert_eq!(
        deleted["snapshots"], 1,
        "the offboarding's snapshot: {body}"
    );
    assert_eq!(deleted["accounts"], 1, "{body}");
    assert_eq!(deleted["index_entry"], 1, "{body}");
    assert!(
        deleted["connection"].as_u64().unwrap_or_default() >= 1,
        "{body}"
    );
    assert_eq!(body["access"]["revoked"], true, "{body}");
    assert_eq!(body["secrets_deleted"].as_array().map(Vec::len), Some(1));
    assert_eq!(running.items_of_tenant().await, Vec::<String>::new());
    let secret = running
        .platform
        .vault
        .get_app_credential(&running.tenant_id)
        .await;
    assert!(
        matches!(secret, Err(lifecycle::VaultError::NotFound { .. })),
        "{secret:?}"
    );

    // WHEN it is removed again
    let (again, body) = running
        .call(reqwest::Method::DELETE, &format!("/tenants/{tid}"), None)
        .await;
    // THEN there is nothing left to remove
    assert_eq!(again, 404, "{body}");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_consent_tenant_when_removed_then_the_answer_names_the_admins_manual_step() {
    // GIVEN a tenant connected by admin consent
    let running = start(false).await;
    let tid = running.tenant_id.to_string();

    // WHEN it is removed
    let (status, body) = running
        .call(reqwest::Method::DELETE, &format!("/tenants/{tid}"), None)
        .await;

    // THEN our access cannot be revoked app-only: the answer says what the admin does
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access"]["revoked"], false);
    let step = body["access"]["manual_step"].as_str().unwrap_or_default();
    assert!(step.contains("Enterprise applications"), "{step}");
    assert!(
        step.contains(&running.stack.config().platform_app_client_id),
        "{step}"
    );
    assert_eq!(running.items_of_tenant().await, Vec::<String>::new());
    // ... and a restore for a removed tenant is refused
    let (status, _) = running
        .call(
            reqwest::Method::POST,
            &format!("/tenants/{tid}/accounts/00000000-0000-4000-8000-000000000001/restore"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    running.stack.shutdown().await;
}
