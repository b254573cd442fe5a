//! Offboarding against the real parts: the table, queues and secrets of infra/template.yaml in
//! moto (through the devstack) and the Graph simulator over HTTP. Ground truth comes from the
//! simulator's admin routes, never from our own records alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use graph_sim::{ConsentChange, SimConfig, Truth, TruthUser};
use lifecycle::events::SOURCE;
use lifecycle::model::{
    Account, AccountRef, AccountSnapshot, AssignedLicense, AutomaticReply, ConnectionMode,
    ConnectionStatus, Job, JobKind, JobRecord, JobStatus, LastSignIn, OffboardJob, OffboardPolicy,
    StepOutcome, TenantAuth, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{AccountId, JobId, OrgId, Platform, SkuId, TenantId, Upn};
use local_aws::subscriber::Subscriber;
use offboarding::App;
use serde_json::json;

// The tests of the options and of the restore, on the same helpers (`use super::*`).
mod options;
mod restore;

/// Kinds of simulated groups whose members Graph can remove (unless synced from on-premises).
const REMOVABLE_KINDS: [&str; 2] = ["security", "unified"];

struct Env {
    stack: Stack,
    platform: Platform,
    app: App,
    tenant: TenantConnection,
}

impl Env {
    async fn start(mode: ConnectionMode) -> Env {
        Env::start_with_roles(mode, Vec::new()).await
    }

    /// A stack whose tenant granted the platform app only `roles` (empty: the roles it asks for).
    async fn start_with_roles(mode: ConnectionMode, roles: Vec<String>) -> Env {
        let template = Template::load(&template_path()).expect("infra/template.yaml loads");
        let mut options =
            StackOptions::new(template, GraphSource::Simulator(SimConfig::single(60, 14)));
        // The handler is called directly; no poller competes for the queue.
        options.registry = Registry::empty();
        let stack = Stack::start(options).await.expect("the local stack starts");
        let sim = stack.sim().expect("the simulator runs");
        let info = sim.tenants().remove(0);
        sim.consent(
            &info.tenant_id,
            &ConsentChange {
                granted: true,
                roles,
                client_id: None,
            },
        )
        .expect("consent granted");
        let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
        let tenant = TenantConnection {
            tenant_id: TenantId::parse(&info.tenant_id).expect("tenant id"),
            org_id: OrgId::parse("org-offboarding").expect("org id"),
            display_name: info.display_name.clone(),
            verified_domains: Vec::new(),
            mode,
            auth: TenantAuth::Consent,
            status: ConnectionStatus::Connected,
            consented_at: chrono::Utc::now(),
            last_sync: None,
            next_sync_due: None,
            sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
            options: Default::default(),
            has_p1: Some(info.has_p1),
            generation: None,
        };
        platform
            .connect_tenant(&tenant)
            .await
            .expect("tenant saved");
        // The function's own credentials: only its template policy, as its role in AWS.
        let function_aws = stack
            .function_sdk_config("OffboardingFunction")
            .expect("the template has the function");
        let app = App::new(stack.config().clone(), function_aws).expect("app");
        Env {
            stack,
            platform,
            app,
            tenant,
        }
    }

    fn tid(&self) -> &str {
        self.tenant.tenant_id.as_str()
    }

    fn truth(&self) -> Truth {
        self.stack
            .sim()
            .expect("sim")
            .truth(self.tid())
            .expect("truth")
    }

    fn writes(&self, route: &str) -> u64 {
        let stats = self.stack.sim().expect("sim").stats();
        stats.by_route.get(route).copied().unwrap_or(0)
    }

    /// The enabled member account with direct licenses and the most groups Graph can change:
    /// the most to undo.
    fn busiest_account(&self) -> TruthUser {
        let truth = self.truth();
        truth
            .users
            .iter()
            .filter(|u| u.account_enabled && u.user_type == "Member" && !u.on_premises_sync_enabled)
            // Two SKUs: at least one is direct (group-based licensing gives one SKU only).
            .filter(|u| u.sku_ids.len() >= 2)
            .max_by_key(|u| removable_groups(&truth, &u.id).len())
            .cloned()
            .expect("a licensed member account")
    }

    /// Stores the account as a sync would, so the test can see the platform's copy change.
    async fn store_account(&self, user: &TruthUser) {
        let account = Account {
            id: AccountId::parse(&user.id).expect("account id"),
            upn: Upn::parse(&user.user_principal_name).expect("upn"),
            display_name: user.display_name.clone(),
            enabled: user.account_enabled,
            usage_location: None,
            user_type: user.user_type.clone(),
            on_premises_synced: false,
            licenses: user
                .sku_ids
                .iter()
                .map(|sku| AssignedLicense {
                    sku_id: SkuId::parse(sku).expect("sku id"),
                    assigned_by_group: None,
                })
                .collect(),
            last_sign_in: LastSignIn::Never,
            mailbox: None,
            deleted: false,
            profile: Default::default(),
        };
        self.platform
            .store
            .put(
                &keys::account(&self.tenant.tenant_id, &account.id),
                &account,
            )
            .await
            .expect("account stored");
    }

    async fn stored_account(&self, id: &str) -> Account {
        self.platform
            .store
            .get(&keys::account(
                &self.tenant.tenant_id,
                &AccountId::parse(id).expect("id"),
            ))
            .await
            .expect("read account")
            .expect("the account is stored")
    }

    fn job(&self, account: &str, policy: OffboardPolicy) -> Job {
        Job {
            job_id: JobId::new(),
            tenant_id: self.tenant.tenant_id.clone(),
            dry_run: false,
            kind: JobKind::Offboard(OffboardJob {
                policy,
                ..OffboardJob::new(AccountRef::parse(account).expect("account ref"))
            }),
        }
    }

    async fn deliver(&self, job: &Job) -> SqsBatchResponse {
        self.app.handle(event(job)).await
    }

    async fn record(&self, job: &Job) -> JobRecord {
        self.platform
            .store
            .get(&keys::job(&job.tenant_id, &job.job_id))
            .await
            .expect("read job record")
            .expect("a job record")
    }
}

fn event(job: &Job) -> SqsEvent {
    let body = serde_json::to_string(job).expect("job json");
    serde_json::from_value(json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": body, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:offboarding.fifo"
    }]}))
    .expect("sqs event")
}

fn groups_of(truth: &Truth, user_id: &str) -> Vec<(String, String)> {
    truth
        .groups
        .iter()
        .filter(|g| g.member_ids.iter().any(|m| m == user_id))
        .map(|g| (g.display_name.clone(), g.kind.clone()))
        .collect()
}

fn removable_groups(truth: &Truth, user_id: &str) -> Vec<String> {
    groups_of(truth, user_id)
        .into_iter()
        .filter(|(_, kind)| REMOVABLE_KINDS.contains(&kind.as_str()))
        .map(|(name, _)| name)
        .collect()
}

fn step<'r>(record: &'r JobRecord, name: &str) -> &'r lifecycle::model::JobStep {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("step {name} in {record:#?}"))
}

fn user<'t>(truth: &'t Truth, id: &str) -> Option<&'t TruthUser> {
    truth.users.iter().find(|u| u.id == id)
}

#[tokio::test]
async fn given_a_licensed_account_in_groups_when_offboarded_keep_disabled_then_it_is_blocked_revoked_and_stripped()
 {
    // GIVEN a connected read/write tenant and a licensed account in several groups, stored here
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let target = env.busiest_account();
    let before = env.truth();
    let removable_before = removable_groups(&before, &target.id);
    assert!(removable_before.len() >= 2, "{target:?}");
    env.store_account(&target).await;

    // WHEN an offboard job (keep disabled) is delivered, naming the account by UPN
    let job = env.job(&target.user_principal_name, OffboardPolicy::KeepDisabled);
    let response = env.deliver(&job).await;

    // THEN the message is done with, the job succeeded, each write step has a Graph request id
    assert!(response.batch_item_failures.is_empty());
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    for name in [
        "block_sign_in",
        "revoke_sessions",
        "remove_groups",
        "remove_licenses",
    ] {
        let s = step(&record, name);
        assert_eq!(s.outcome, StepOutcome::Done, "{s:?}");
        assert!(s.graph_request_id.is_some(), "{s:?}");
    }
    assert_eq!(step(&record, "keep_disabled").outcome, StepOutcome::Done);
    // ... the snapshot came first, block and revoke were the first writes, then the pre-flight
    let first_four: Vec<_> = record
        .steps
        .iter()
        .take(4)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        first_four,
        ["snapshot", "block_sign_in", "revoke_sessions", "preflight"]
    );
    // ... and the snapshot holds what Graph showed before the first write: enabled, the groups
    // and the licenses
    let snapshot: AccountSnapshot = env
        .platform
        .store
        .get(&keys::account_snapshot(
            &env.tenant.tenant_id,
            &AccountId::parse(&target.id).expect("id"),
        ))
        .await
        .expect("read snapshot")
        .expect("a snapshot of the account");
    assert!(snapshot.account_enabled);
    assert_eq!(snapshot.job_id, job.job_id);
    assert_eq!(snapshot.manager_id, target.manager_id);
    let snapshot_groups: BTreeSet<String> = snapshot
        .groups
        .iter()
        .map(|g| g.display_name.clone())
        .collect();
    let groups_before: BTreeSet<String> = groups_of(&before, &target.id)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(snapshot_groups, groups_before);
    let snapshot_skus: BTreeSet<String> = snapshot
        .direct_licenses
        .iter()
        .map(|l| l.sku_id.to_ascii_lowercase())
        .chain(
            snapshot
                .inherited_licenses
                .iter()
                .map(|l| l.sku_id.to_ascii_lowercase()),
        )
        .collect();
    let skus_before: BTreeSet<String> = target
        .sku_ids
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    assert_eq!(snapshot_skus, skus_before);
    assert!(snapshot.expires_at() > chrono::Utc::now() + chrono::Duration::days(29));

    // ... and the simulator says: kept, disabled, sessions revoked, no license, and only in groups
    // Graph cannot change (named in the step detail)
    let after = env.truth();
    let account = user(&after, &target.id).expect("the account still exists");
    assert!(!account.account_enabled);
    assert!(account.sku_ids.is_empty(), "{account:?}");
    assert_eq!(env.writes("POST /v1.0/users/{id}/revokeSignInSessions"), 1);
    let groups_detail = step(&record, "remove_groups")
        .detail
        .clone()
        .unwrap_or_default();
    for (name, kind) in groups_of(&after, &target.id) {
        assert!(
            !REMOVABLE_KINDS.contains(&kind.as_str())
                || groups_detail.contains(&format!(
                    "cannot remove from {name}: synced from on-premises"
                )),
            "still in {name} ({kind}): {groups_detail}"
        );
        assert!(
            groups_detail.contains(&format!("cannot remove from {name}")),
            "{groups_detail}"
        );
    }
    // ... and the platform's copy shows it at once
    let stored = env.stored_account(&target.id).await;
    assert!(!stored.enabled);
    assert!(stored.licenses.is_empty(), "{stored:?}");
    assert!(!stored.deleted);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_the_delete_policy_when_offboarded_then_the_account_is_soft_deleted_and_restorable() {
    // GIVEN an account stored here
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let target = env.busiest_account();
    env.store_account(&target).await;

    // WHEN it is offboarded with the delete policy, by id
    let job = env.job(&target.id, OffboardPolicy::Delete);
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN it is in the simulator's deleted items, the job recorded the delete with its request id
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let delete = step(&record, "delete_account");
    assert_eq!(delete.outcome, StepOutcome::Done);
    assert!(delete.graph_request_id.is_some());
    assert!(
        delete
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("restorable for 30 days")
    );
    let truth = env.truth();
    assert!(truth.deleted_user_ids.contains(&target.id));
    assert!(user(&truth, &target.id).is_none_or(|u| !u.account_enabled));
    let stored = env.stored_account(&target.id).await;
    assert!(stored.deleted && !stored.enabled, "{stored:?}");

    // WHEN the same job is delivered again (SQS at-least-once)
    let deletes_before = env.writes("DELETE /v1.0/users/{id}");
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());
    // THEN nothing is written twice
    assert_eq!(env.writes("DELETE /v1.0/users/{id}"), deletes_before);

    // WHEN a new offboard job (delete) names the deleted account
    let again = env.job(&target.id, OffboardPolicy::Delete);
    assert!(env.deliver(&again).await.batch_item_failures.is_empty());
    // THEN it succeeds with every step skipped as already deleted, and no further delete
    let record = env.record(&again).await;
    assert_eq!(record.status, JobStatus::Succeeded);
    assert!(
        record
            .steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Skipped),
        "{record:#?}"
    );
    assert_eq!(env.writes("DELETE /v1.0/users/{id}"), deletes_before);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_delivery_that_dies_after_block_and_revoke_when_redelivered_then_it_resumes_without_repeating_writes()
 {
    // GIVEN a slow tenant (every Graph answer takes 400 ms) and an account to offboard
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let sim = env.stack.sim().expect("sim");
    sim.update_knobs(env.tid(), |k| k.latency_ms = 400)
        .expect("knobs");
    let target = env.busiest_account();
    let job = env.job(&target.user_principal_name, OffboardPolicy::Delete);

    // WHEN the first delivery is cut off (the Lambda dies) right after block and revoke are recorded
    let first = env.deliver(&job);
    let cut_after_revoke = async {
        loop {
            let record = env
                .platform
                .store
                .get::<JobRecord>(&keys::job(&job.tenant_id, &job.job_id))
                .await
                .expect("read record");
            if record.is_some_and(|r| r.steps.iter().any(|s| s.name == "revoke_sessions")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        _ = first => panic!("the first delivery should have been cut off"),
        () = cut_after_revoke => {}
    }
    let interrupted = env.record(&job).await;
    assert_eq!(interrupted.status, JobStatus::Running);
    let revoke_id = step(&interrupted, "revoke_sessions")
        .graph_request_id
        .clone();
    assert!(
        !user(&env.truth(), &target.id)
            .expect("exists")
            .account_enabled
    );
    sim.update_knobs(env.tid(), |k| k.latency_ms = 0)
        .expect("knobs");

    // WHEN SQS delivers the job again
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN it finishes, block and revoke were each sent once, their records unchanged
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(env.writes("PATCH /v1.0/users/{id}"), 1);
    assert_eq!(env.writes("POST /v1.0/users/{id}/revokeSignInSessions"), 1);
    assert_eq!(step(&record, "revoke_sessions").graph_request_id, revoke_id);
    assert!(env.truth().deleted_user_ids.contains(&target.id));
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_read_only_tenant_when_an_offboard_job_arrives_then_it_is_refused_without_a_write()
{
    // GIVEN a tenant connected read-only
    let env = Env::start(ConnectionMode::Read).await;
    let target = env.busiest_account();

    // WHEN an offboard job for one of its accounts arrives
    let job = env.job(&target.id, OffboardPolicy::Delete);
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN the job failed, saying how to fix it, and the account is untouched
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("read-only"),
        "{record:?}"
    );
    let truth = env.truth();
    let account = user(&truth, &target.id).expect("still there");
    assert!(account.account_enabled);
    assert_eq!(account.sku_ids, target.sku_ids);
    assert_eq!(env.writes("PATCH /v1.0/users/{id}"), 0);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_dry_run_when_delivered_then_the_plan_is_recorded_and_nothing_is_written() {
    // GIVEN an account in groups with licenses
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let target = env.busiest_account();
    let before = env.truth();

    // WHEN a dry-run offboard job is delivered
    let mut job = env.job(&target.id, OffboardPolicy::Delete);
    job.dry_run = true;
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN the record holds the plan, in order, with pending writes
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded);
    let names: Vec<_> = record.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "find_account",
            "preflight",
            "block_sign_in",
            "revoke_sessions",
            "remove_groups",
            "remove_licenses",
            "delete_account"
        ]
    );
    assert_eq!(step(&record, "block_sign_in").outcome, StepOutcome::Pending);
    assert_eq!(
        step(&record, "delete_account").outcome,
        StepOutcome::Pending
    );
    // ... and the simulator saw no write at all
    let after = env.truth();
    assert_eq!(user(&after, &target.id), user(&before, &target.id));
    assert_eq!(
        groups_of(&after, &target.id)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        groups_of(&before, &target.id)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    for route in [
        "PATCH /v1.0/users/{id}",
        "POST /v1.0/users/{id}/revokeSignInSessions",
        "DELETE /v1.0/groups/{id}/members/{id}/$ref",
        "POST /v1.0/users/{id}/assignLicense",
        "DELETE /v1.0/users/{id}",
    ] {
        assert_eq!(env.writes(route), 0, "{route}");
    }
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_unknown_account_when_offboarded_then_the_job_fails_naming_it() {
    let env = Env::start(ConnectionMode::ReadWrite).await;
    // GIVEN a UPN nobody has
    let job = env.job("nobody@example.invalid", OffboardPolicy::KeepDisabled);
    // WHEN the job runs
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());
    // THEN it failed for good with the account named
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("nobody@example.invalid was not found"),
        "{record:?}"
    );
    env.stack.shutdown().await;
}

/// Every Graph write route an offboarding may use after its access gate.
const LATER_WRITES: [&str; 3] = [
    "DELETE /v1.0/groups/{id}/members/{id}/$ref",
    "POST /v1.0/users/{id}/assignLicense",
    "DELETE /v1.0/users/{id}",
];

/// Subscribes a queue to the bundle's completion events (a rule on the stack's bus).
async fn subscribe(env: &Env) -> Subscriber {
    let bus = &env.stack.config().event_bus_name;
    let config = env.stack.sdk_config();
    Subscriber::start(config, "offboarding-subscriber", Some(bus), SOURCE).await
}

#[tokio::test]
async fn given_graph_refuses_the_block_when_offboarded_then_the_job_fails_at_once_and_nothing_else_is_written()
 {
    // GIVEN a tenant whose admin consented to every write permission but the one that blocks
    // sign-in (no User.ReadWrite.All, no User.EnableDisableAccount.All): Graph answers the
    // block with 403, while groups, licenses and delete would still be allowed
    let roles: Vec<String> = [
        "User.Read.All",
        "Group.Read.All",
        "GroupMember.Read.All",
        "Organization.Read.All",
        "Domain.Read.All",
        "User.DeleteRestore.All",
        "User.RevokeSessions.All",
        "LicenseAssignment.ReadWrite.All",
        "GroupMember.ReadWrite.All",
    ]
    .map(str::to_owned)
    .to_vec();
    let env = Env::start_with_roles(ConnectionMode::ReadWrite, roles).await;
    let subscriber = subscribe(&env).await;
    let target = env.busiest_account();
    let before = env.truth();
    env.store_account(&target).await;

    // WHEN it is offboarded with the delete policy
    let job = env.job(&target.id, OffboardPolicy::Delete);
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN the job failed, saying access was not cut and the account may still have access
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Failed, "{record:#?}");
    let error = record.error.clone().unwrap_or_default();
    assert!(error.contains("may still have access"), "{error}");
    assert!(error.contains("block_sign_in"), "{error}");
    assert_eq!(step(&record, "block_sign_in").outcome, StepOutcome::Failed);
    // ... no step after the gate was run
    for name in ["remove_groups", "remove_licenses", "delete_account"] {
        assert!(
            record.steps.iter().all(|s| s.name != name),
            "{name} ran: {record:#?}"
        );
    }
    // ... the simulator saw no write after the gate: no group removal, license or delete
    for route in LATER_WRITES {
        assert_eq!(env.writes(route), 0, "{route}");
    }
    let after = env.truth();
    let account = user(&after, &target.id).expect("the account is not deleted");
    assert!(account.account_enabled);
    assert_eq!(account.sku_ids, target.sku_ids);
    assert_eq!(
        groups_of(&after, &target.id)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        groups_of(&before, &target.id)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    // ... the stored account says what Graph says: enabled, not deleted
    let stored = env.stored_account(&target.id).await;
    assert!(stored.enabled, "{stored:?}");
    assert!(!stored.deleted, "{stored:?}");
    // ... and the completion event tells subscribers the account may still have access
    let event = subscriber
        .events(Duration::from_secs(2))
        .await
        .into_iter()
        .find(|e| e["detail"]["job_id"] == job.job_id.to_string())
        .expect("the completion event of the job");
    assert_eq!(event["detail"]["status"], "failed");
    assert_eq!(event["detail"]["account_may_still_have_access"], true);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_each_outcome_when_offboarded_then_the_stored_account_matches_graph() {
    // GIVEN an account stored here, and a tenant that grants every write
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let target = env.busiest_account();
    env.store_account(&target).await;

    // WHEN it is offboarded keeping it disabled
    let job = env.job(&target.id, OffboardPolicy::KeepDisabled);
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN the stored account's sign-in and licenses are Graph's, license origin included
    let truth = env.truth();
    let account = user(&truth, &target.id).expect("kept");
    let stored = env.stored_account(&target.id).await;
    assert_eq!(stored.enabled, account.account_enabled);
    let stored_skus: BTreeSet<String> = stored
        .licenses
        .iter()
        .map(|l| l.sku_id.as_str().to_ascii_lowercase())
        .collect();
    let graph_skus: BTreeSet<String> = account
        .sku_ids
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    assert_eq!(stored_skus, graph_skus);
    assert!(!stored.deleted);
    // ... and every write step names what its read-back observed
    let record = env.record(&job).await;
    for name in [
        "block_sign_in",
        "revoke_sessions",
        "remove_groups",
        "remove_licenses",
    ] {
        let detail = step(&record, name).detail.clone().unwrap_or_default();
        assert!(detail.contains("read-back"), "{name}: {detail}");
    }
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_admin_with_reports_and_groups_when_a_dry_run_is_delivered_then_the_preflight_names_what_to_do_first()
 {
    // GIVEN the Global Administrator at the top of the org chart: direct reports, owned groups
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let truth = env.truth();
    let admin_role = truth
        .roles
        .iter()
        .find(|r| r.display_name == "Global Administrator")
        .expect("the Global Administrator role");
    let target = user(&truth, &admin_role.member_ids[0])
        .expect("the admin")
        .clone();
    let reports: Vec<&TruthUser> = truth
        .users
        .iter()
        .filter(|u| u.manager_id.as_deref() == Some(target.id.as_str()))
        .collect();
    assert!(!reports.is_empty(), "the top of the chart has reports");
    let sole: Vec<&str> = truth
        .groups
        .iter()
        .filter(|g| g.owner_ids == [target.id.clone()])
        .map(|g| g.display_name.as_str())
        .collect();
    let held: Vec<&str> = truth
        .roles
        .iter()
        .filter(|r| r.member_ids.contains(&target.id))
        .map(|r| r.display_name.as_str())
        .collect();

    // WHEN a dry-run offboarding of it is delivered
    let mut job = env.job(&target.id, OffboardPolicy::Delete);
    job.dry_run = true;
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN the pre-flight step names every direct report, every group it alone owns, every
    // admin role it holds, with what to do, and carries the reads' request-ids
    let record = env.record(&job).await;
    let preflight = step(&record, "preflight");
    assert_eq!(preflight.outcome, StepOutcome::Done);
    assert!(preflight.graph_request_id.is_some());
    let detail = preflight.detail.clone().unwrap_or_default();
    assert!(detail.contains("manager none"), "{detail}");
    assert!(
        detail.contains(&format!("{} direct report(s)", reports.len())),
        "{detail}"
    );
    for report in &reports {
        assert!(detail.contains(&report.user_principal_name), "{detail}");
    }
    for group in &sole {
        assert!(detail.contains(group), "{group}: {detail}");
    }
    if !sole.is_empty() {
        assert!(detail.contains("add another owner first"), "{detail}");
    }
    for role in &held {
        assert!(detail.contains(role), "{role}: {detail}");
    }
    assert!(detail.contains("cloud-only account"), "{detail}");
    // ... and nothing was written
    for route in LATER_WRITES {
        assert_eq!(env.writes(route), 0, "{route}");
    }
    assert_eq!(env.writes("PATCH /v1.0/users/{id}"), 0);
    env.stack.shutdown().await;
}
